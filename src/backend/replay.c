/* replay.c - the replay backend: saved traces served as if generated. */
#include "deepconf/dc_backend_replay.h"

#include <jansson.h>

#include <math.h>
#include <string.h>
#include <stdio.h>

#include "util/lines.h"
#include "util/clock.h"

/* An instance's lines in a traces.jsonl: [start, end) byte offsets. */
typedef struct file_entry {
    char *instance_id;
    long start, end;
} file_entry;

typedef struct replay {
    const char *instance_id; /* borrowed */
    const dc_trace *traces;
    const dc_stop_reason *stop;
    size_t n;
    volatile int cancel;
    /* file mode */
    FILE *f;
    char *path;
    file_entry *entries;
    size_t n_entries;
    dc_trace *loaded; /* owned traces of the instance last read */
    dc_stop_reason *loaded_stop;
    size_t n_loaded;
} replay;

static const dc_backend_vtable replay_vt;

/* ---- copying a prefix of a trace ---- */

static dc_status copy_token(const dc_token *s, dc_token *d)
{
    memset(d, 0, sizeof *d);
    d->id = s->id;
    d->logprob = s->logprob;
    d->sampled_rank = s->sampled_rank;
    d->n_top = s->n_top;
    if (s->text && !(d->text = dc_strdup(s->text)))
        return DC_STATUS_NOMEM;
    size_t n = s->n_top ? s->n_top : 1;
    d->top_lp = dc_calloc(n, sizeof *d->top_lp);
    d->top_id = dc_calloc(n, sizeof *d->top_id);
    d->top_text = dc_calloc(n, sizeof *d->top_text);
    if (!d->top_lp || !d->top_id || !d->top_text)
        return DC_STATUS_NOMEM;
    for (size_t j = 0; j < s->n_top; j++) {
        d->top_lp[j] = s->top_lp[j];
        d->top_id[j] = s->top_id ? s->top_id[j] : -1;
        if (s->top_text && s->top_text[j] && !(d->top_text[j] = dc_strdup(s->top_text[j])))
            return DC_STATUS_NOMEM;
    }
    return DC_STATUS_OK;
}

static dc_status copy_prefix(const dc_trace *s, size_t keep, int drop_last_eos, dc_trace *d)
{
    memset(d, 0, sizeof *d);
    d->tokens = dc_calloc(keep ? keep : 1, sizeof *d->tokens);
    if (!d->tokens)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < keep; i++) {
        d->n_tokens = i + 1;
        if (copy_token(&s->tokens[i], &d->tokens[i]) != DC_STATUS_OK)
            return DC_STATUS_NOMEM;
    }
    size_t text_len = 0, upto = keep - (drop_last_eos && keep ? 1 : 0);
    for (size_t i = 0; i < upto; i++)
        text_len += s->tokens[i].text ? strlen(s->tokens[i].text) : 0;
    d->text = dc_malloc(text_len + 1);
    if (!d->text)
        return DC_STATUS_NOMEM;
    size_t off = 0;
    for (size_t i = 0; i < upto; i++)
        if (s->tokens[i].text) {
            size_t l = strlen(s->tokens[i].text);
            memcpy(d->text + off, s->tokens[i].text, l);
            off += l;
        }
    d->text[off] = '\0';
    return DC_STATUS_OK;
}

/* ---- the vtable ---- */

static void replay_describe(const void *impl, dc_model_info *out)
{
    (void)impl;
    memset(out, 0, sizeof *out);
    snprintf(out->backend, sizeof out->backend, "replay");
    snprintf(out->name, sizeof out->name, "saved traces");
    out->eos = -1;
}

static dc_status load_instance(replay *r, const char *want, dc_error *err);

static dc_status replay_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
                                 const dc_observer *obs, dc_gen_result *out, dc_error *err)
{
    (void)prompt;
    replay *r = impl;
    r->cancel = 0;
    const char *want = p->instance_id ? p->instance_id : "";
    if (r->f && (!r->instance_id || strcmp(want, r->instance_id) != 0)) {
        dc_status st = load_instance(r, want, err);
        if (st != DC_STATUS_OK)
            return st;
    }
    if (!r->instance_id || strcmp(want, r->instance_id) != 0)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "replay: no saved traces for instance '%s'",
                            want);
    if (p->first_trace + p->n_traces > r->n)
        return dc_error_set(err, DC_STATUS_NOT_FOUND,
                            "replay: instance '%s' has %zu saved traces; traces %llu..%llu were "
                            "asked for (is the budget larger than the saved run's?)",
                            want, r->n, (unsigned long long)p->first_trace,
                            (unsigned long long)(p->first_trace + p->n_traces - 1));
    out->traces = dc_calloc(p->n_traces, sizeof *out->traces);
    if (!out->traces)
        return dc_error_set(err, DC_STATUS_NOMEM, "replay: out of memory");
    out->n_traces = p->n_traces;
    double t0 = sdc_now_seconds();
    int cancelled = 0;
    for (size_t k = 0; k < p->n_traces; k++) {
        uint64_t index = p->first_trace + k;
        const dc_trace *s = &r->traces[index];
        dc_stop_reason saved = r->stop ? r->stop[index] : DC_STOP_EOS;
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
        if (copy_prefix(s, keep, drop_eos, &g->trace) != DC_STATUS_OK)
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
    out->gen_seconds = sdc_now_seconds() - t0;
    return DC_STATUS_OK;
}

static void replay_cancel(void *impl)
{
    ((replay *)impl)->cancel = 1;
}

static void clear_loaded(replay *r)
{
    dc_traces_free(r->loaded, r->n_loaded);
    dc_free(r->loaded_stop);
    r->loaded = NULL;
    r->loaded_stop = NULL;
    r->n_loaded = 0;
    r->instance_id = NULL;
    r->traces = NULL;
    r->stop = NULL;
    r->n = 0;
}

static void replay_free(void *impl)
{
    replay *r = impl;
    clear_loaded(r);
    if (r->f)
        fclose(r->f);
    for (size_t i = 0; i < r->n_entries; i++)
        dc_free(r->entries[i].instance_id);
    dc_free(r->entries);
    dc_free(r->path);
    dc_free(r);
}

static const dc_backend_vtable replay_vt = {"replay",        replay_describe, NULL,       NULL,
                                            replay_generate, replay_cancel,   replay_free};

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

static dc_stop_reason stop_from_name(const char *s)
{
    static const dc_stop_reason all[] = {DC_STOP_EOS, DC_STOP_LENGTH, DC_STOP_CONFIDENCE,
                                         DC_STOP_CANCELLED, DC_STOP_ERROR};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, dc_stop_reason_name(all[i])))
            return all[i];
    return DC_STOP_NONE;
}

static dc_status load_instance(replay *r, const char *want, dc_error *err)
{
    clear_loaded(r);
    size_t e = 0;
    while (e < r->n_entries && strcmp(r->entries[e].instance_id, want) != 0)
        e++;
    if (e == r->n_entries)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "replay: %s has no traces of instance '%s'",
                            r->path, want);
    const file_entry *fe = &r->entries[e];
    if (fseek(r->f, fe->start, SEEK_SET) != 0)
        return dc_error_set(err, DC_STATUS_IO, "replay: %s: seek failed", r->path);
    sdc_lines lr;
    sdc_lines_init(&lr, r->f, 0);
    dc_status st = DC_STATUS_OK;
    size_t cap = 0;
    long pos = fe->start;
    while (st == DC_STATUS_OK && pos < fe->end) {
        if ((st = sdc_lines_next(&lr)) != DC_STATUS_OK) {
            st = dc_error_set(err, DC_STATUS_IO, "replay: %s: read failed", r->path);
            break;
        }
        pos += (long)lr.line.len + 1;
        dc_trace *ts;
        size_t nt;
        st = dc_trace_parse_json(lr.line.data, lr.line.len, want, NULL, &ts, &nt, err);
        if (st != DC_STATUS_OK)
            break;
        json_t *o = json_loadb(lr.line.data, lr.line.len, 0, NULL);
        dc_stop_reason stop = stop_from_name(json_string_value(json_object_get(o, "stop")));
        json_decref(o);
        if (r->n_loaded == cap) {
            cap = cap ? cap * 2 : 16;
            dc_trace *t = dc_reallocarray(r->loaded, cap, sizeof *t);
            dc_stop_reason *sr = t ? dc_reallocarray(r->loaded_stop, cap, sizeof *sr) : NULL;
            if (t)
                r->loaded = t;
            if (sr)
                r->loaded_stop = sr;
            if (!t || !sr) {
                dc_traces_free(ts, nt);
                st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
                break;
            }
        }
        r->loaded[r->n_loaded] = ts[0];
        r->loaded_stop[r->n_loaded] = stop;
        r->n_loaded++;
        dc_free(ts);
    }
    sdc_lines_free(&lr);
    if (st != DC_STATUS_OK) {
        clear_loaded(r);
        return st;
    }
    r->instance_id = fe->instance_id;
    r->traces = r->loaded;
    r->stop = r->loaded_stop;
    r->n = r->n_loaded;
    return DC_STATUS_OK;
}

dc_status dc_backend_replay_open_file(const char *path, dc_backend **out, dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s: cannot open", path);
    replay *r = dc_calloc(1, sizeof *r);
    if (!r || !(r->path = dc_strdup(path))) {
        fclose(f);
        dc_free(r);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    r->f = f;
    /* index: the byte range of each instance's lines, and a check that
       every line is a generated trace with tokens */
    sdc_lines lr;
    sdc_lines_init(&lr, f, 0);
    dc_status st = DC_STATUS_OK;
    long pos = 0;
    size_t cap = 0;
    while ((st = sdc_lines_next(&lr)) == DC_STATUS_OK) {
        long start = pos;
        pos += (long)lr.line.len + 1;
        json_t *o = json_loadb(lr.line.data, lr.line.len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "instance_id"));
        const char *strat = json_string_value(json_object_get(o, "strategy"));
        int ok = id && strat && !strcmp(strat, "generated") &&
                 json_is_array(json_object_get(o, "tokens"));
        if (!ok) {
            st = dc_error_set(err, DC_STATUS_FORMAT,
                              "%s:%zu: expected a trace of a compare run saved with tokens "
                              "(\"strategy\": \"generated\", \"tokens\": [...])",
                              path, lr.lineno);
            json_decref(o);
            break;
        }
        if (!r->n_entries || strcmp(r->entries[r->n_entries - 1].instance_id, id) != 0) {
            if (r->n_entries == cap) {
                cap = cap ? cap * 2 : 64;
                file_entry *e = dc_reallocarray(r->entries, cap, sizeof *e);
                if (!e) {
                    json_decref(o);
                    st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
                    break;
                }
                r->entries = e;
            }
            r->entries[r->n_entries].instance_id = dc_strdup(id);
            r->entries[r->n_entries].start = start;
            r->n_entries++;
        }
        r->entries[r->n_entries - 1].end = pos;
        json_decref(o);
    }
    if (st == DC_STATUS_NOT_FOUND)
        st = DC_STATUS_OK;
    else if (st == DC_STATUS_LIMIT || st == DC_STATUS_IO)
        st = dc_error_set(err, st, "%s:%zu: %s", path, lr.lineno, dc_strerror(st));
    if (st == DC_STATUS_OK && lr.torn)
        st = dc_error_set(err, DC_STATUS_FORMAT,
                          "%s:%zu: torn last line (an interrupted run: "
                          "resume it first)",
                          path, lr.lineno);
    sdc_lines_free(&lr);
    if (st != DC_STATUS_OK) {
        replay_free(r);
        return st;
    }
    st = dc_backend_wrap(&replay_vt, r, out);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "replay: out of memory");
    return DC_STATUS_OK;
}

dc_status dc_backend_replay_set(dc_backend *b, const char *instance_id, const dc_trace *traces,
                                const dc_stop_reason *stop, size_t n)
{
    if (!b || strcmp(dc_backend_name(b), "replay") != 0)
        return DC_STATUS_INVALID_ARG;
    replay *r = dc_backend_impl(b);
    r->instance_id = instance_id;
    r->traces = traces;
    r->stop = stop;
    r->n = n;
    return DC_STATUS_OK;
}
