/* run_judge.c - the runner's judge hook: verdicts into the run's records. */
#include <string.h>

#include "safety/records.h"
#include "safety/run_judge.h"
#include "safety/text.h"

/* The response a judge sees: the trace's text after its reasoning; NULL
 * when there is none (an error, an unterminated <think>, blank). Caller
 * frees with dc_free. */
static char *response_of(const dc_gen_trace *g, int *nomem)
{
    *nomem = 0;
    if (g->stop == DC_STOP_ERROR || !g->trace.text)
        return NULL;
    size_t start, len;
    sdc_text_strip_think(g->trace.text, strlen(g->trace.text), &start, &len);
    if (strspn(g->trace.text + start, " \t\r\n") >= len)
        return NULL;
    char *s = dc_malloc(len + 1);
    if (!s) {
        *nomem = 1;
        return NULL;
    }
    memcpy(s, g->trace.text + start, len);
    s[len] = '\0';
    return s;
}

static dc_status judge_into(const sdc_run_judge *j, dc_buf *b, const sdc_instance *inst,
                            const dc_gen_trace *g, dc_error *err)
{
    int nomem;
    char *resp = g ? response_of(g, &nomem) : NULL;
    if (g && nomem)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    const char *kind = sdc_judge_kind_name(j->kind);
    const char *model = sdc_judge_session_model(j->session);
    if (!resp) {
        sdc_record_judge(b, kind, model, -1, NULL, NULL, NULL);
        return DC_STATUS_OK;
    }
    sdc_judge_verdict v;
    char *said = NULL;
    dc_status st = sdc_judge_session_ask(j->session, inst->prompt, resp, &v, &said, NULL, err);
    if (st == DC_STATUS_OK) {
        sdc_record_judge(b, kind, model, (int64_t)g->index, &v, said, NULL);
    } else if (st == DC_STATUS_LIMIT) {
        /* longer than the judge's context: recorded as not judged, the run goes on */
        sdc_record_judge(b, kind, model, -1, NULL, NULL, err->msg);
        st = DC_STATUS_OK;
    } else
        dc_error_prefix(err, "judging instance %s trace %llu", inst->id,
                        (unsigned long long)g->index);
    dc_free(said);
    dc_free(resp);
    return st;
}

dc_status sdc_run_judge_trace(const sdc_run_judge *j, dc_buf *b, const sdc_instance *inst,
                              const dc_gen_trace *g, dc_error *err)
{
    if (!j->session || j->answer_only)
        return DC_STATUS_OK;
    return judge_into(j, b, inst, g, err);
}

dc_status sdc_run_judge_prediction(const sdc_run_judge *j, dc_buf *b, const sdc_instance *inst,
                                   const sdc_outcome *o, dc_error *err)
{
    if (!j->session)
        return DC_STATUS_OK;
    const dc_gen_trace *g = NULL;
    for (size_t i = 0; o->answer && i < o->n_traces && !g; i++)
        if (o->info[i].voted && o->info[i].answer && !strcmp(o->info[i].answer, o->answer))
            g = &o->traces[i];
    return judge_into(j, b, inst, g, err);
}
