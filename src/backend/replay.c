/* replay.c - the replay backend: traces in memory served as if generated. */
#include "deepconf/dc_backend_replay.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"

/* One instance's traces; all borrowed. */
typedef struct replay_entry {
    const char *instance_id;
    const dc_trace *traces;
    const dc_stop_reason *stop;
    size_t n;
} replay_entry;

typedef struct replay {
    replay_entry *entries;
    size_t n_entries;
    volatile int cancel;
} replay;

static const dc_backend_vtable replay_vt;

/* ---- the vtable ---- */

static void replay_describe(const void *impl, dc_model_info *out)
{
    (void)impl;
    memset(out, 0, sizeof *out);
    snprintf(out->backend, sizeof out->backend, "replay");
    snprintf(out->name, sizeof out->name, "saved traces");
    out->eos = -1;
}

static dc_status replay_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
                                 const dc_observer *obs, dc_gen_result *out, dc_error *err)
{
    (void)prompt;
    replay *r = impl;
    r->cancel = 0;
    const char *want = p->instance_id ? p->instance_id : "";
    const replay_entry *e = NULL;
    for (size_t i = 0; i < r->n_entries && !e; i++)
        if (!strcmp(want, r->entries[i].instance_id))
            e = &r->entries[i];
    if (!e)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "replay: no saved traces for instance '%s'",
                            want);
    if (p->first_trace + p->n_traces > e->n)
        return dc_error_set(err, DC_STATUS_NOT_FOUND,
                            "replay: instance '%s' has %zu saved traces; traces %llu..%llu were "
                            "asked for (is the budget larger than the saved run's?)",
                            want, e->n, (unsigned long long)p->first_trace,
                            (unsigned long long)(p->first_trace + p->n_traces - 1));
    out->traces = dc_calloc(p->n_traces, sizeof *out->traces);
    if (!out->traces)
        return dc_error_set(err, DC_STATUS_NOMEM, "replay: out of memory");
    out->n_traces = p->n_traces;
    double t0 = dc_now_seconds();
    int cancelled = 0;
    for (size_t k = 0; k < p->n_traces; k++) {
        uint64_t index = p->first_trace + k;
        const dc_trace *s = &e->traces[index];
        dc_stop_reason saved = e->stop ? e->stop[index] : DC_STOP_EOS;
        dc_gen_trace *g = &out->traces[k];
        g->index = index;
        g->seed = dc_trace_seed(p->seed, want, index);
        size_t limit = s->n_tokens < p->max_tokens ? s->n_tokens : p->max_tokens;
        dc_stop_reason stop = limit < s->n_tokens ? DC_STOP_LENGTH : saved;
        size_t keep = limit;
        size_t evaluated = limit;
        if (cancelled || r->cancel) {
            stop = DC_STOP_CANCELLED;
            keep = evaluated = 0;
        }
        for (size_t pos = 0; pos < keep && obs->on_token; pos++) {
            const dc_token *t = &s->tokens[pos];
            dc_token_event ev = {.trace = k,
                                 .index = index,
                                 .pos = pos,
                                 .id = t->id,
                                 .text = t->text ? t->text : "",
                                 .logprob = t->logprob,
                                 .n_top = t->n_top,
                                 .top_lp = t->top_lp,
                                 .top_id = t->top_id,
                                 .sampled_rank = t->sampled_rank,
                                 .is_eog = saved == DC_STOP_EOS && pos + 1 == s->n_tokens};
            dc_observe o = obs->on_token(obs->user, &ev);
            if (o == DC_OBSERVE_CONTINUE && !r->cancel)
                continue;
            evaluated = pos + 1;
            keep = pos;
            stop = o == DC_OBSERVE_STOP ? DC_STOP_CONFIDENCE : DC_STOP_CANCELLED;
            if (stop == DC_STOP_CANCELLED)
                cancelled = 1;
            break;
        }
        int drop_eos = stop == DC_STOP_EOS;
        if (dc_trace_copy_prefix(s, keep, keep - (drop_eos && keep ? 1 : 0), &g->trace) !=
            DC_STATUS_OK)
            return dc_error_set(err, DC_STATUS_NOMEM, "replay: out of memory");
        char id[256];
        snprintf(id, sizeof id, "%s#%llu", want, (unsigned long long)index);
        g->trace.id = dc_strdup(id);
        g->trace.finish_reason = dc_strdup(dc_stop_reason_name(stop));
        if (!g->trace.id || !g->trace.finish_reason)
            return dc_error_set(err, DC_STATUS_NOMEM, "replay: out of memory");
        g->stop = stop;
        g->n_generated = keep;
        g->n_evaluated = evaluated;
        out->gen_tokens += evaluated;
        if (obs->on_trace_end && obs->on_trace_end(obs->user, g) == DC_OBSERVE_CANCEL)
            cancelled = 1;
    }
    out->gen_seconds = dc_now_seconds() - t0;
    return DC_STATUS_OK;
}

static void replay_cancel(void *impl)
{
    ((replay *)impl)->cancel = 1;
}

static void replay_free(void *impl)
{
    replay *r = impl;
    dc_free(r->entries);
    dc_free(r);
}

static const dc_backend_vtable replay_vt = {"replay",        replay_describe, NULL,        NULL,
                                            replay_generate, replay_cancel,   replay_free, NULL};

dc_status dc_backend_replay_open(dc_backend **out, dc_error *err)
{
    replay *r = dc_calloc(1, sizeof *r);
    if (!r)
        return dc_error_set(err, DC_STATUS_NOMEM, "replay: out of memory");
    dc_status st = dc_backend_wrap(&replay_vt, r, out);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "replay: out of memory");
    return DC_STATUS_OK;
}

/* ---- file mode ---- */

dc_status dc_backend_replay_add(dc_backend *b, const char *instance_id, const dc_trace *traces,
                                const dc_stop_reason *stop, size_t n)
{
    if (!b || !instance_id || strcmp(dc_backend_name(b), "replay") != 0)
        return DC_STATUS_INVALID_ARG;
    replay *r = dc_backend_impl(b);
    replay_entry *e = dc_reallocarray(r->entries, r->n_entries + 1, sizeof *e);
    if (!e)
        return DC_STATUS_NOMEM;
    r->entries = e;
    r->entries[r->n_entries++] = (replay_entry){instance_id, traces, stop, n};
    return DC_STATUS_OK;
}
