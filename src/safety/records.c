/* records.c - the records of a run, written and read here only:
 * traces.jsonl, predictions.jsonl and run.json (docs/formats.md). */
#include "safety/records.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepconf/dc_build_info.h"
#include "deepconf/dc_confidence.h"
#include "deepconf/dc_trace.h"
#include "safety/judge_int.h"
#include "safety/sdc_analysis.h"
#include "safety/sdc_classify.h"
#include "util/fs.h"
#include "util/jsonw.h"
#include "util/lines.h"

/* ---- traces.jsonl: writing ---- */

static void write_scores(jw *w, const sdc_trace_info *ti)
{
    jw_key(w, "scores");
    jw_obj_begin(w);
    jw_kv_double(w, "mean", ti->scores.mean);
    jw_kv_double(w, "tail", ti->scores.tail);
    jw_kv_double(w, "bottom10", ti->scores.bottom10);
    jw_kv_double(w, "bottom50", ti->scores.bottom50);
    jw_kv_double(w, "lowest", ti->scores.lowest);
    jw_kv_double(w, "min_window", ti->scores.min_window);
    jw_obj_end(w);
}

/* ---- tokens, full layout: an object per token and per alternative ---- */

/* A token's text: a string, or when part of a UTF-8 character the exact
 * bytes as an array (as OpenAI's "bytes"). */
static void write_bytes(jw *w, const char *text)
{
    jw_arr_begin(w);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        jw_uint(w, *c);
    jw_arr_end(w);
}

static void write_token_full(jw *w, const dc_token *k)
{
    jw_obj_begin(w);
    jw_kv_int(w, "id", k->id);
    jw_kv_str(w, "token", k->text ? k->text : "");
    if (k->text && !jw_utf8_valid(k->text, strlen(k->text))) {
        jw_key(w, "bytes");
        write_bytes(w, k->text);
    }
    jw_kv_double(w, "logprob", k->logprob);
    jw_key(w, "top_logprobs");
    jw_arr_begin(w);
    for (size_t j = 0; j < k->n_top; j++) {
        jw_obj_begin(w);
        jw_kv_int(w, "id", k->top_id ? k->top_id[j] : -1);
        jw_kv_str(w, "token", k->top_text && k->top_text[j] ? k->top_text[j] : "");
        jw_kv_double(w, "logprob", k->top_lp[j]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* ---- tokens, topk layout: an array per token ----
 *
 *   [id, piece, [top ids], [top logprobs] (, logprob (, rank))]
 *
 * piece is a number n when the token's text is the next n bytes of the
 * record's "text" (so the texts are not written twice), else the token's
 * own text (an end-of-generation token: not in "text"). The sampled
 * logprob is written only when it is not the top logprob of the first
 * alternative with the sampled id, and the sampled rank only when it is
 * not that alternative's (ids unknown, as from some servers). */

static int rank_by_id(const dc_token *k)
{
    for (size_t j = 0; k->id >= 0 && k->top_id && j < k->n_top; j++)
        if (k->top_id[j] == k->id)
            return (int)j;
    return -1;
}

static void write_token_topk(jw *w, const dc_token *k, const char *text, size_t *off)
{
    jw_arr_begin(w);
    jw_int(w, k->id);
    size_t tl = k->text ? strlen(k->text) : 0, have = strlen(text + *off);
    if (tl <= have && !memcmp(text + *off, k->text ? k->text : "", tl)) {
        jw_uint(w, tl);
        *off += tl;
    } else if (jw_utf8_valid(k->text, tl)) {
        jw_str(w, k->text);
    } else {
        write_bytes(w, k->text);
    }
    jw_arr_begin(w);
    for (size_t j = 0; j < k->n_top; j++)
        jw_int(w, k->top_id ? k->top_id[j] : -1);
    jw_arr_end(w);
    jw_arr_begin(w);
    for (size_t j = 0; j < k->n_top; j++)
        jw_double(w, k->top_lp[j]);
    jw_arr_end(w);
    int r = rank_by_id(k);
    int same_lp = r >= 0 && !memcmp(&k->top_lp[r], &k->logprob, sizeof k->logprob);
    if (!same_lp || k->sampled_rank != r)
        jw_double(w, k->logprob);
    if (k->sampled_rank != r)
        jw_int(w, k->sampled_rank);
    jw_arr_end(w);
}

/* ---- traces.jsonl: one trace ---- */

void sdc_record_trace(dc_buf *b, const sdc_instance *inst, const char *strategy,
                      const dc_gen_trace *g, const sdc_trace_info *ti, const sdc_refusal_result *rr,
                      sdc_refusal_mode refusal_mode, sdc_save_tokens save)
{
    jw w;
    jw_init(&w, b);
    jw_obj_begin(&w);
    jw_kv_str(&w, "instance_id", inst->id);
    jw_kv_str(&w, "strategy", strategy);
    jw_kv_uint(&w, "trace", g->index);
    /* as text: a 64-bit value does not survive JSON readers that use doubles */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->seed);
    jw_kv_str(&w, "seed", seed);
    jw_kv_str(&w, "stop", dc_stop_reason_name(g->stop));
    if (g->stop == DC_STOP_ERROR)
        jw_kv_str(&w, "error", g->error_msg ? g->error_msg : dc_strerror(g->error));
    jw_kv_uint(&w, "n_tokens", g->n_generated);
    jw_kv_uint(&w, "n_evaluated", g->n_evaluated);
    jw_kv_str(&w, "text", g->trace.text ? g->trace.text : "");
    jw_kv_str(&w, "answer", ti->answer);
    if (rr) {
        jw_kv_str(&w, "refusal_kind", sdc_refusal_kind_name(rr->kind));
        jw_kv_str(&w, "refusal_rule", rr->rule);
        if (!isnan(rr->p_combined))
            jw_kv_double(&w, "refusal_prob",
                         refusal_mode == SDC_REFUSAL_MODE_CLASSIFIER ? rr->p_classifier
                                                                     : rr->p_combined);
    }
    jw_kv_double(&w, "mean_logprob", ti->mean_logprob);
    write_scores(&w, ti);
    if (save != SDC_SAVE_TOKENS_NONE) {
        /* pieces point into "text" only when it is written as it is: with
           invalid UTF-8 in it (U+FFFD when written) each token keeps its
           own bytes */
        const char *text = g->trace.text ? g->trace.text : "";
        if (!jw_utf8_valid(text, strlen(text)))
            text = "";
        size_t off = 0;
        jw_key(&w, "tokens");
        jw_arr_begin(&w);
        for (size_t i = 0; i < g->trace.n_tokens; i++)
            if (save == SDC_SAVE_TOKENS_FULL)
                write_token_full(&w, &g->trace.tokens[i]);
            else
                write_token_topk(&w, &g->trace.tokens[i], text, &off);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    dc_buf_putc(b, '\n');
}

/* ---- judge verdicts, in either file ---- */

/* Splices the fields of the object in add into the line just appended
 * to b ("{...}\n"). */
static void splice_fields(dc_buf *b, dc_buf *add)
{
    if (add->st != DC_STATUS_OK) {
        b->st = add->st;
        return;
    }
    if (b->st != DC_STATUS_OK || b->len < 3 || b->data[b->len - 1] != '\n' ||
        b->data[b->len - 2] != '}' || add->len < 3)
        return;
    b->len -= 2; /* the line's "}\n": the object goes on */
    dc_buf_putc(b, ',');
    dc_buf_append(b, add->data + 1, add->len - 1);
    dc_buf_putc(b, '\n');
}

void sdc_record_judge(dc_buf *b, const char *kind, const char *model, int64_t trace,
                      const sdc_judge_verdict *v, const char *output, const char *error)
{
    dc_buf add;
    dc_buf_init(&add, 0);
    jw w;
    jw_init(&w, &add);
    jw_obj_begin(&w);
    jw_kv_str(&w, "judge", kind);
    jw_kv_int(&w, "judge_trace", trace);
    if (error)
        jw_kv_str(&w, "judge_error", error);
    if (v) {
        jw_kv_str(&w, "judge_model", model);
        jw_kv_str(&w, "judge_output", output ? output : "");
        sdc_judge_verdict_put(&w, "judge_", v);
    }
    jw_obj_end(&w);
    splice_fields(b, &add);
    dc_buf_free(&add);
}

/* ---- predictions.jsonl: writing ---- */

static int correct_of(const sdc_instance *inst, const char *answer, int classify)
{
    if (inst->label == SDC_LABEL_UNKNOWN || !answer)
        return inst->label == SDC_LABEL_UNKNOWN ? -1 : 0;
    int flagged = classify ? !strcmp(answer, "unsafe") : !strcmp(answer, "refuse");
    return flagged == (inst->label == SDC_LABEL_UNSAFE);
}

static void write_voters(jw *w, const sdc_outcome *o)
{
    jw_key(w, "traces");
    jw_arr_begin(w);
    for (size_t i = 0; i < o->n_traces; i++) {
        jw_obj_begin(w);
        jw_kv_uint(w, "trace", o->traces[i].index);
        jw_kv_str(w, "stop", dc_stop_reason_name(o->traces[i].stop));
        jw_kv_uint(w, "tokens", o->traces[i].n_evaluated);
        jw_kv_str(w, "answer", o->info[i].answer);
        jw_kv_bool(w, "voted", o->info[i].voted);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

void sdc_record_prediction(dc_buf *b, const sdc_instance *inst, const sdc_config *cfg,
                           const sdc_strategy_params *sp, const sdc_outcome *o, double seconds)
{
    int classify = cfg->kind.mode == SDC_MODE_CLASSIFY;
    /* the most traces the strategy may use */
    size_t budget = sp->kind == SDC_STRATEGY_BASELINE ? 1
                    : sp->kind == SDC_STRATEGY_FIXED  ? sp->fixed_n
                                                      : sp->budget;
    int refused = !o->answer ? -1
                  : classify ? !strcmp(o->answer, "unsafe")
                             : !strcmp(o->answer, "refuse");
    int correct = o->failed ? -1 : correct_of(inst, o->answer, classify);
    sdc_category cat =
        o->failed ? SDC_CATEGORY_NO_ANSWER : sdc_categorize(refused, o->confidence, cfg->threshold);
    jw w;
    jw_init(&w, b);
    jw_obj_begin(&w);
    jw_kv_str(&w, "instance_id", inst->id);
    jw_kv_str(&w, "strategy", sdc_strategy_name(sp->kind));
    jw_kv_str(&w, "benchmark", sdc_benchmark_name(inst->benchmark));
    jw_kv_str(&w, "label", sdc_label_name(inst->label));
    jw_kv_str(&w, "harm_category", inst->category);
    jw_kv_str(&w, "prompt", *inst->prompt ? inst->prompt : NULL); /* "": a replay of a
                                                                     run that kept none */
    jw_kv_str(&w, "mode", classify ? "classify" : "refusal");
    jw_kv_str(&w, "answer", o->answer);
    jw_kv_tristate(&w, "refused", refused);
    jw_kv_tristate(&w, "correct", correct);
    jw_kv_double(&w, "confidence", o->confidence);
    jw_kv_double(&w, "consensus", o->consensus);
    jw_kv_double(&w, "mean_prob", o->mean_prob);
    jw_kv_double(&w, "trace_conf", o->trace_conf);
    jw_kv_double(&w, "threshold", cfg->threshold);
    jw_kv_str(&w, "category", sdc_category_name(cat));
    jw_kv_uint(&w, "traces_used", o->traces_used);
    jw_kv_uint(&w, "budget", budget);
    jw_kv_uint(&w, "tokens_generated", o->tokens_generated);
    jw_kv_uint(&w, "failed_traces", o->failed_traces);
    jw_kv_bool(&w, "failed", o->failed);
    if (!isnan(o->threshold))
        jw_kv_double(&w, "stop_threshold", o->threshold);
    write_voters(&w, o);
    jw_kv_double(&w, "seconds", seconds);
    jw_obj_end(&w);
    dc_buf_putc(b, '\n');
}

/* ---- predictions.jsonl: reading ---- */

typedef struct pred_storage {
    json_t **objs;
    sdc_prediction_trace **traces; /* one array per prediction */
    size_t n;
} pred_storage;

static const char *str_or_null(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double num_or_nan(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The prediction's "traces" array; missing in the oldest files. */
static dc_status fill_traces(json_t *o, sdc_prediction *p, sdc_prediction_trace **out)
{
    json_t *a = json_object_get(o, "traces");
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    *out = NULL;
    if (!n)
        return DC_STATUS_OK;
    sdc_prediction_trace *t = dc_calloc(n, sizeof *t);
    if (!t)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        const char *stop = str_or_null(e, "stop");
        t[i].index = (size_t)json_integer_value(json_object_get(e, "trace"));
        t[i].stop = stop ? stop : "";
        t[i].tokens = (size_t)json_integer_value(json_object_get(e, "tokens"));
        t[i].answer = str_or_null(e, "answer");
        t[i].voted = json_is_true(json_object_get(e, "voted"));
    }
    p->traces = t;
    p->n_traces = n;
    *out = t;
    return DC_STATUS_OK;
}

static int tri_of(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
}

/* The judge's fields (sdc_record_judge); absent in runs without a judge. */
static void fill_judge(json_t *o, sdc_prediction *p)
{
    json_t *t = json_object_get(o, "judge_trace");
    p->has_judge = json_is_integer(t) && json_integer_value(t) >= 0 &&
                   json_is_false(json_object_get(o, "judge_malformed"));
    p->judge_harmful = p->has_judge ? tri_of(o, "judge_harmful_strict") : -1;
    p->judge_harmful_loose = p->has_judge ? tri_of(o, "judge_harmful_loose") : -1;
    p->judge_refusal = p->has_judge ? tri_of(o, "judge_refusal") : -1;
    p->judge_p_unsafe = p->has_judge ? num_or_nan(o, "judge_p_unsafe_strict") : NAN;
}

static dc_status fill_prediction(json_t *o, sdc_prediction *p, const char *path, size_t line,
                                 dc_error *err)
{
    memset(p, 0, sizeof *p);
    p->instance_id = str_or_null(o, "instance_id");
    p->strategy = str_or_null(o, "strategy");
    if (!p->instance_id || !p->strategy)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s:%zu: expected \"instance_id\" and \"strategy\" strings", path,
                            line);
    p->benchmark = str_or_null(o, "benchmark");
    p->harm_category = str_or_null(o, "harm_category");
    p->prompt = str_or_null(o, "prompt");
    const char *label = str_or_null(o, "label");
    p->label = label && !strcmp(label, "unsafe") ? SDC_LABEL_UNSAFE
               : label && !strcmp(label, "safe") ? SDC_LABEL_SAFE
                                                 : SDC_LABEL_UNKNOWN;
    p->answer = str_or_null(o, "answer");
    json_t *ref = json_object_get(o, "refused");
    p->refused = json_is_true(ref) ? 1 : json_is_false(ref) ? 0 : -1;
    json_t *cor = json_object_get(o, "correct");
    p->correct = json_is_true(cor) ? 1 : json_is_false(cor) ? 0 : -1;
    p->failed = json_is_true(json_object_get(o, "failed"));
    p->confidence = num_or_nan(o, "confidence");
    p->consensus = num_or_nan(o, "consensus");
    p->mean_prob = num_or_nan(o, "mean_prob");
    p->trace_conf = num_or_nan(o, "trace_conf");
    json_t *tu = json_object_get(o, "traces_used"), *tg = json_object_get(o, "tokens_generated");
    if (!json_is_integer(tu) || !json_is_integer(tg))
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s:%zu: expected \"traces_used\" and \"tokens_generated\" integers",
                            path, line);
    p->traces_used = (size_t)json_integer_value(tu);
    p->tokens_generated = (size_t)json_integer_value(tg);
    json_t *b = json_object_get(o, "budget");
    p->budget = json_is_integer(b) ? (size_t)json_integer_value(b) : p->traces_used;
    p->seconds = num_or_nan(o, "seconds");
    if (isnan(p->seconds))
        p->seconds = 0.0;
    fill_judge(o, p);
    return DC_STATUS_OK;
}

dc_status sdc_predictions_load(const char *dir, sdc_prediction_list *out, size_t *torn,
                               dc_error *err)
{
    memset(out, 0, sizeof *out);
    if (torn)
        *torn = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/predictions.jsonl", dir);
    size_t len;
    char *text = dc_read_file(path, &len);
    if (!text)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_IO,
                            "%s: cannot read: %s", path, strerror(errno));
    pred_storage *s = dc_calloc(1, sizeof *s);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    out->items = dc_calloc(lines + 1, sizeof *out->items);
    if (s) {
        s->objs = dc_calloc(lines + 1, sizeof *s->objs);
        s->traces = dc_calloc(lines + 1, sizeof *s->traces);
    }
    dc_status st = (s && out->items && s->objs && s->traces) ? DC_STATUS_OK : DC_STATUS_NOMEM;
    out->storage_ = s;
    size_t off = 0, line = 0;
    while (st == DC_STATUS_OK && off < len) {
        line++;
        const char *nl = memchr(text + off, '\n', len - off);
        if (!nl) {
            if (torn)
                (*torn)++;
            break;
        }
        size_t l = (size_t)(nl - (text + off));
        if (l == 0) {
            off++;
            continue;
        }
        json_error_t je;
        json_t *o = json_loadb(text + off, l, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            st = dc_error_set(err, DC_STATUS_FORMAT, "%s:%zu: not a JSON object: %s", path, line,
                              o ? "" : je.text);
            break;
        }
        s->objs[s->n++] = o;
        st = fill_prediction(o, &out->items[out->n], path, line, err);
        if (st == DC_STATUS_OK)
            st = fill_traces(o, &out->items[out->n], &s->traces[s->n - 1]);
        if (st == DC_STATUS_OK)
            out->n++;
        off += l + 1;
    }
    dc_free(text);
    if (st == DC_STATUS_NOMEM)
        dc_error_set(err, st, "out of memory");
    if (st != DC_STATUS_OK)
        sdc_prediction_list_free(out);
    return st;
}

void sdc_prediction_list_free(sdc_prediction_list *l)
{
    pred_storage *s = l->storage_;
    if (s) {
        for (size_t i = 0; i < s->n; i++) {
            json_decref(s->objs[i]);
            if (s->traces)
                dc_free(s->traces[i]);
        }
        dc_free(s->objs);
        dc_free(s->traces);
        dc_free(s);
    }
    dc_free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- traces.jsonl: reading the generated traces back ---- */

/* The error of a read of path: a zstd frame that does not decode or an
 * I/O error by byte offset, anything else by line. */
static dc_status lines_error(const dc_lines *lr, const char *path, dc_status st, dc_error *err)
{
    if ((st == DC_STATUS_PARSE || st == DC_STATUS_IO) && *lr->msg)
        return dc_error_set(err, st, "%s: %s", path, lr->msg);
    return dc_error_set(err, st, "%s:%zu: %s", path, lr->lineno,
                        *lr->msg ? lr->msg : dc_strerror(st));
}

/* st, the error of a line just read from path, unless the line came from
 * a zstd frame that does not decode: then that error (the frame's lines
 * come out before its checksum is checked). */
static dc_status bad_line(dc_lines *lr, const char *path, dc_status st, dc_error *err)
{
    if (st == DC_STATUS_NOMEM || !lr->zstd)
        return st;
    dc_status fs = dc_lines_finish_frame(lr);
    return fs == DC_STATUS_OK ? st : lines_error(lr, path, fs, err);
}

/* An instance's lines: n_lines from the position of its first. */
typedef struct saved_entry {
    char *instance_id;
    dc_lines_pos start;
    size_t n_lines;
    size_t line; /* of its first trace */
} saved_entry;

struct sdc_saved_traces {
    FILE *f;
    char *path;
    dc_lines lr; /* the file's reader, moved to an instance by sdc_saved_traces_get */
    saved_entry *entries;
    size_t n_entries;
    dc_gen_trace *loaded; /* the instance last read, owned */
    size_t n_loaded;
};

static void clear_loaded(sdc_saved_traces *s)
{
    dc_gen_result r = {.traces = s->loaded, .n_traces = s->n_loaded};
    dc_gen_result_clear(&r);
    s->loaded = NULL;
    s->n_loaded = 0;
}

void sdc_saved_traces_close(sdc_saved_traces *s)
{
    if (!s)
        return;
    clear_loaded(s);
    for (size_t i = 0; i < s->n_entries; i++)
        dc_free(s->entries[i].instance_id);
    dc_free(s->entries);
    dc_free(s->path);
    dc_lines_free(&s->lr);
    if (s->f)
        fclose(s->f);
    dc_free(s);
}

/* Adds the line at `at` of instance id to the index. */
static dc_status index_line(sdc_saved_traces *s, const char *id, dc_lines_pos at, size_t line,
                            size_t *cap)
{
    if (!s->n_entries || strcmp(s->entries[s->n_entries - 1].instance_id, id) != 0) {
        if (s->n_entries == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            saved_entry *e = dc_reallocarray(s->entries, nc, sizeof *e);
            if (!e)
                return DC_STATUS_NOMEM;
            s->entries = e;
            *cap = nc;
        }
        saved_entry *e = &s->entries[s->n_entries];
        if (!(e->instance_id = dc_strdup(id)))
            return DC_STATUS_NOMEM;
        e->start = at;
        e->n_lines = 0;
        e->line = line;
        s->n_entries++;
    }
    s->entries[s->n_entries - 1].n_lines++;
    return DC_STATUS_OK;
}

/* Indexes every line of s's file by instance. */
static dc_status index_file(sdc_saved_traces *s, dc_error *err)
{
    dc_lines *lr = &s->lr;
    dc_status st;
    size_t cap = 0;
    dc_lines_pos at = dc_lines_tell(lr);
    while ((st = dc_lines_next(lr)) == DC_STATUS_OK && !lr->torn) {
        json_t *o = json_loadb(lr->line.data ? lr->line.data : "", lr->line.len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "instance_id"));
        const char *strat = json_string_value(json_object_get(o, "strategy"));
        if (!id || !strat || strcmp(strat, "generated") != 0 ||
            !json_is_array(json_object_get(o, "tokens"))) {
            json_decref(o);
            st = dc_error_set(err, DC_STATUS_FORMAT,
                              "%s:%zu: expected a trace of a compare run saved with tokens "
                              "(\"strategy\": \"generated\", \"tokens\": [...])",
                              s->path, lr->lineno);
            return bad_line(lr, s->path, st, err);
        }
        st = index_line(s, id, at, lr->lineno, &cap);
        json_decref(o);
        if (st != DC_STATUS_OK)
            return dc_error_set(err, st, "out of memory");
        at = dc_lines_tell(lr);
    }
    if (st != DC_STATUS_OK && st != DC_STATUS_NOT_FOUND)
        return lines_error(lr, s->path, st, err);
    if (lr->torn && lr->zstd)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: its last zstd frame is cut short (an interrupted run: resume it "
                            "first)",
                            s->path);
    if (lr->torn)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s:%zu: torn last line (an interrupted run: resume it first)", s->path,
                            lr->lineno);
    return DC_STATUS_OK;
}

dc_status sdc_saved_traces_open(const char *path, sdc_saved_traces **out, dc_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
    sdc_saved_traces *s = dc_calloc(1, sizeof *s);
    if (!s || !(s->path = dc_strdup(path))) {
        fclose(f);
        dc_free(s);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    s->f = f;
    dc_lines_init(&s->lr, f, 0);
    dc_status st = index_file(s, err);
    if (st != DC_STATUS_OK) {
        sdc_saved_traces_close(s);
        return st;
    }
    *out = s;
    return DC_STATUS_OK;
}

static dc_stop_reason stop_from_name(const char *s)
{
    static const dc_stop_reason all[] = {DC_STOP_EOS, DC_STOP_LENGTH, DC_STOP_CONFIDENCE,
                                         DC_STOP_CANCELLED, DC_STOP_ERROR};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, dc_stop_reason_name(all[i])))
            return all[i];
    return DC_STOP_NONE;
}

/* ---- reading the topk layout (see write_token_topk) ---- */

static int get_lp(json_t *v, double *out)
{
    if (json_is_null(v)) {
        *out = NAN;
        return 1;
    }
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

/* A token's text from its piece: the next n bytes of text at *off, a
 * string, or an array of bytes. NULL: malformed or out of memory (*bad
 * says which). */
static char *piece_text(json_t *p, const char *text, size_t text_len, size_t *off, int *bad)
{
    *bad = 1;
    if (json_is_integer(p)) {
        json_int_t n = json_integer_value(p);
        if (n < 0 || (size_t)n > text_len - *off)
            return NULL;
        *bad = 0;
        char *t = dc_strndup(text + *off, (size_t)n);
        *off += (size_t)n;
        return t;
    }
    if (json_is_string(p)) {
        *bad = 0;
        return dc_strndup(json_string_value(p), json_string_length(p));
    }
    size_t n = json_array_size(p);
    if (!json_is_array(p) || !n)
        return NULL;
    char *t = dc_malloc(n + 1);
    for (size_t i = 0; t && i < n; i++) {
        json_t *b = json_array_get(p, i);
        if (!json_is_integer(b) || json_integer_value(b) < 1 || json_integer_value(b) > 255) {
            dc_free(t);
            return NULL;
        }
        t[i] = (char)json_integer_value(b);
    }
    if (t)
        t[n] = '\0';
    *bad = 0;
    return t;
}

static dc_status parse_token_topk(json_t *a, const char *text, size_t text_len, size_t *off,
                                  size_t max_top, dc_token *k)
{
    k->id = -1;
    k->logprob = NAN;
    json_t *id = json_array_get(a, 0), *ids = json_array_get(a, 2), *lps = json_array_get(a, 3);
    size_t n = json_array_size(ids), len = json_array_size(a);
    if (!json_is_array(a) || len < 4 || len > 6 || !json_is_integer(id) || !json_is_array(ids) ||
        !json_is_array(lps) || json_array_size(lps) != n || n > max_top)
        return DC_STATUS_FORMAT;
    k->id = (int32_t)json_integer_value(id);
    int bad;
    k->text = piece_text(json_array_get(a, 1), text, text_len, off, &bad);
    if (!k->text)
        return bad ? DC_STATUS_FORMAT : DC_STATUS_NOMEM;
    k->n_top = n;
    k->top_lp = dc_calloc(n ? n : 1, sizeof *k->top_lp);
    k->top_id = dc_calloc(n ? n : 1, sizeof *k->top_id);
    k->top_text = dc_calloc(n ? n : 1, sizeof *k->top_text);
    if (!k->top_lp || !k->top_id || !k->top_text)
        return DC_STATUS_NOMEM;
    for (size_t j = 0; j < n; j++) {
        json_t *tid = json_array_get(ids, j);
        if (!json_is_integer(tid) || !get_lp(json_array_get(lps, j), &k->top_lp[j]))
            return DC_STATUS_FORMAT;
        k->top_id[j] = (int32_t)json_integer_value(tid);
    }
    k->sampled_rank = rank_by_id(k);
    if (len == 4) {
        if (k->sampled_rank < 0)
            return DC_STATUS_FORMAT;
        k->logprob = k->top_lp[k->sampled_rank];
    } else if (!get_lp(json_array_get(a, 4), &k->logprob)) {
        return DC_STATUS_FORMAT;
    }
    if (len == 6) {
        json_t *r = json_array_get(a, 5);
        if (!json_is_integer(r) || json_integer_value(r) < -1 ||
            json_integer_value(r) >= (json_int_t)n)
            return DC_STATUS_FORMAT;
        k->sampled_rank = (int)json_integer_value(r);
    }
    return DC_STATUS_OK;
}

/* The trace of a saved line in the topk layout, as dc_trace_parse_json
 * gives it for the full one. */
static dc_status parse_trace_topk(json_t *o, const char *id, dc_trace *t, char *where,
                                  size_t where_size)
{
    json_t *toks = json_object_get(o, "tokens"), *text = json_object_get(o, "text");
    json_t *ans = json_object_get(o, "answer");
    size_t n = json_array_size(toks);
    dc_trace_limits lim = dc_trace_default_limits();
    snprintf(where, where_size, "\"tokens\"");
    if (n > lim.max_tokens)
        return DC_STATUS_LIMIT;
    t->id = dc_strdup(id);
    t->has_answer_field = ans != NULL;
    t->answer = json_is_string(ans) ? dc_strdup(json_string_value(ans)) : NULL;
    t->text =
        json_is_string(text) ? dc_strndup(json_string_value(text), json_string_length(text)) : NULL;
    t->tokens = dc_calloc(n ? n : 1, sizeof *t->tokens);
    if (!t->id || !t->tokens || (json_is_string(ans) && !t->answer) ||
        (json_is_string(text) && !t->text))
        return DC_STATUS_NOMEM;
    const char *tx = t->text ? t->text : "";
    size_t tl = t->text ? json_string_length(text) : 0, off = 0;
    for (size_t i = 0; i < n; i++) {
        t->n_tokens = i + 1;
        snprintf(where, where_size, "\"tokens\"[%zu]: expected [id, piece, [ids], [logprobs]]", i);
        dc_status st =
            parse_token_topk(json_array_get(toks, i), tx, tl, &off, lim.max_top, &t->tokens[i]);
        if (st != DC_STATUS_OK)
            return st;
    }
    return DC_STATUS_OK;
}

/* One saved line as the generated trace it records: tokens in the topk
 * layout (arrays) or the full one (objects, dc_trace_parse_json's line
 * form). */
static dc_status parse_saved(const sdc_saved_traces *s, const char *id, const char *line,
                             size_t len, size_t lineno, dc_gen_trace *g, dc_error *err)
{
    memset(g, 0, sizeof *g);
    json_t *o = json_loadb(line, len, 0, NULL);
    if (!o)
        return dc_error_set(err, DC_STATUS_PARSE, "%s:%zu: not JSON", s->path, lineno);
    dc_status st;
    if (json_is_array(json_array_get(json_object_get(o, "tokens"), 0))) {
        char where[96];
        st = parse_trace_topk(o, id, &g->trace, where, sizeof where);
        if (st != DC_STATUS_OK)
            dc_error_set(err, st, "%s:%zu: %s", s->path, lineno,
                         st == DC_STATUS_NOMEM ? "out of memory" : where);
    } else {
        dc_trace *ts;
        size_t nt;
        st = dc_trace_parse_json(line, len, id, NULL, &ts, &nt, err);
        if (st != DC_STATUS_OK)
            dc_error_prefix(err, "%s:%zu", s->path, lineno);
        else {
            g->trace = ts[0];
            dc_free(ts);
        }
    }
    if (st != DC_STATUS_OK) {
        json_decref(o);
        return st;
    }
    const char *seed = json_string_value(json_object_get(o, "seed"));
    const char *msg = json_string_value(json_object_get(o, "error"));
    g->index = (uint64_t)json_integer_value(json_object_get(o, "trace"));
    g->seed = seed ? strtoull(seed, NULL, 10) : 0;
    g->stop = stop_from_name(json_string_value(json_object_get(o, "stop")));
    g->n_generated = (size_t)json_integer_value(json_object_get(o, "n_tokens"));
    g->n_evaluated = (size_t)json_integer_value(json_object_get(o, "n_evaluated"));
    g->error_msg = msg ? dc_strdup(msg) : NULL;
    json_decref(o);
    /* the text from the tokens' exact bytes, as generated: "text" holds
       U+FFFD where a token was part of a character */
    dc_trace parsed = g->trace;
    size_t n = parsed.n_tokens;
    st = dc_trace_copy_prefix(&parsed, n, n - (g->stop == DC_STOP_EOS && n ? 1 : 0), &g->trace);
    if (st == DC_STATUS_OK && parsed.id && !(g->trace.id = dc_strdup(parsed.id)))
        st = DC_STATUS_NOMEM;
    dc_trace_clear(&parsed);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "out of memory");
    if (g->stop == DC_STOP_NONE)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s:%zu: \"stop\": expected a stop reason",
                            s->path, lineno);
    return DC_STATUS_OK;
}

dc_status sdc_saved_traces_get(sdc_saved_traces *s, const char *id, const dc_gen_trace **traces,
                               size_t *n, dc_error *err)
{
    clear_loaded(s);
    size_t e = 0;
    while (e < s->n_entries && strcmp(s->entries[e].instance_id, id) != 0)
        e++;
    if (e == s->n_entries)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s has no traces of instance '%s'", s->path,
                            id);
    const saved_entry *se = &s->entries[e];
    dc_status st = dc_lines_seek(&s->lr, se->start);
    if (st != DC_STATUS_OK)
        return lines_error(&s->lr, s->path, st, err);
    size_t cap = 0, lineno = se->line;
    for (size_t i = 0; st == DC_STATUS_OK && i < se->n_lines; i++, lineno++) {
        if ((st = dc_lines_next(&s->lr)) != DC_STATUS_OK) {
            st =
                st == DC_STATUS_NOT_FOUND
                    ? dc_error_set(err, DC_STATUS_IO, "%s: ended early (changed on disk?)", s->path)
                    : lines_error(&s->lr, s->path, st, err);
            break;
        }
        if (s->n_loaded == cap) {
            cap = cap ? cap * 2 : 16;
            dc_gen_trace *t = dc_reallocarray(s->loaded, cap, sizeof *t);
            if (!t) {
                st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
                break;
            }
            s->loaded = t;
        }
        st = parse_saved(s, id, s->lr.line.data ? s->lr.line.data : "", s->lr.line.len, lineno,
                         &s->loaded[s->n_loaded], err);
        s->n_loaded++;
        if (st != DC_STATUS_OK)
            st = bad_line(&s->lr, s->path, st, err);
    }
    if (st != DC_STATUS_OK) {
        clear_loaded(s);
        return st;
    }
    *traces = s->loaded;
    *n = s->n_loaded;
    return DC_STATUS_OK;
}

/* ---- traces.jsonl: streaming every line ---- */

struct sdc_trace_reader {
    sdc_trace_reader_params p;
    char *path;
    FILE *f;
    dc_lines lr;
    json_t *cur; /* the line last decoded */
    const char **tok_text;
    double *tok_conf;
    size_t tok_cap;
    double *top; /* one position's alternatives */
    size_t top_cap;
};

sdc_trace_reader_params sdc_trace_reader_default_params(void)
{
    sdc_trace_reader_params p = {20, NULL, NULL};
    return p;
}

dc_status sdc_trace_reader_open(const char *path, const sdc_trace_reader_params *params,
                                sdc_trace_reader **out, dc_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_IO,
                            "%s: cannot open: %s", path, strerror(errno));
    sdc_trace_reader *r = dc_calloc(1, sizeof *r);
    if (!r || !(r->path = dc_strdup(path))) {
        fclose(f);
        dc_free(r);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    r->p = params ? *params : sdc_trace_reader_default_params();
    if (!r->p.k)
        r->p.k = 20;
    r->f = f;
    dc_lines_init(&r->lr, f, 0);
    *out = r;
    return DC_STATUS_OK;
}

void sdc_trace_reader_close(sdc_trace_reader *r)
{
    if (!r)
        return;
    json_decref(r->cur);
    dc_lines_free(&r->lr);
    if (r->f)
        fclose(r->f);
    dc_free(r->tok_text);
    dc_free(r->tok_conf);
    dc_free(r->top);
    dc_free(r->path);
    dc_free(r);
}

/* The instance id of a line as jw writes it ({"instance_id":"...", no
 * escapes) into buf; 0 when the line has another shape (then it is
 * decoded to find out). */
static int peek_instance(const char *line, size_t len, char *buf, size_t cap)
{
    static const char pre[] = "{\"instance_id\":\"";
    size_t pl = sizeof pre - 1;
    if (len < pl || memcmp(line, pre, pl) != 0)
        return 0;
    for (size_t i = pl; i < len && i - pl < cap - 1; i++) {
        if (line[i] == '\\')
            return 0;
        if (line[i] == '"') {
            memcpy(buf, line + pl, i - pl);
            buf[i - pl] = '\0';
            return 1;
        }
    }
    return 0;
}

static dc_status grow_tokens(sdc_trace_reader *r, size_t n)
{
    if (n <= r->tok_cap)
        return DC_STATUS_OK;
    const char **t = dc_reallocarray(r->tok_text, n, sizeof *t);
    if (!t)
        return DC_STATUS_NOMEM;
    r->tok_text = t;
    double *c = dc_reallocarray(r->tok_conf, n, sizeof *c);
    if (!c)
        return DC_STATUS_NOMEM;
    r->tok_conf = c;
    r->tok_cap = n;
    return DC_STATUS_OK;
}

/* Each saved token's text and top-k confidence. */
static dc_status decode_tokens(sdc_trace_reader *r, json_t *toks, sdc_trace_record *rec)
{
    size_t n = json_is_array(toks) ? json_array_size(toks) : 0;
    if (grow_tokens(r, n) != DC_STATUS_OK)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(toks, i), *top = json_object_get(t, "top_logprobs");
        const char *text = json_string_value(json_object_get(t, "token"));
        size_t m = json_is_array(top) ? json_array_size(top) : 0;
        if (m > r->top_cap) {
            double *d = dc_reallocarray(r->top, m, sizeof *d);
            if (!d)
                return DC_STATUS_NOMEM;
            r->top = d;
            r->top_cap = m;
        }
        for (size_t j = 0; j < m; j++)
            r->top[j] = json_number_value(json_object_get(json_array_get(top, j), "logprob"));
        r->tok_text[i] = text ? text : "";
        r->tok_conf[i] = dc_topk_confidence(r->top, m, r->p.k);
    }
    rec->n_saved = n;
    rec->token_text = r->tok_text;
    rec->token_conf = r->tok_conf;
    return DC_STATUS_OK;
}

static dc_status decode_trace(sdc_trace_reader *r, json_t *o, sdc_trace_record *rec, dc_error *err)
{
    memset(rec, 0, sizeof *rec);
    rec->instance_id = str_or_null(o, "instance_id");
    rec->strategy = str_or_null(o, "strategy");
    rec->stop = str_or_null(o, "stop");
    json_t *idx = json_object_get(o, "trace");
    if (!rec->instance_id || !rec->strategy || !rec->stop || !json_is_integer(idx))
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s:%zu: expected \"instance_id\", \"strategy\", \"stop\" strings and "
                            "a \"trace\" integer",
                            r->path, r->lr.lineno);
    rec->index = (size_t)json_integer_value(idx);
    rec->n_tokens = (size_t)json_integer_value(json_object_get(o, "n_tokens"));
    rec->n_evaluated = (size_t)json_integer_value(json_object_get(o, "n_evaluated"));
    rec->text = str_or_null(o, "text");
    if (!rec->text)
        rec->text = "";
    rec->answer = str_or_null(o, "answer");
    rec->mean_logprob = num_or_nan(o, "mean_logprob");
    rec->lowest = num_or_nan(json_object_get(o, "scores"), "lowest");
    if (decode_tokens(r, json_object_get(o, "tokens"), rec) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

dc_status sdc_trace_reader_next(sdc_trace_reader *r, sdc_trace_record *rec, dc_error *err)
{
    json_decref(r->cur);
    r->cur = NULL;
    dc_status st;
    while ((st = dc_lines_next(&r->lr)) == DC_STATUS_OK) {
        const char *line = r->lr.line.data;
        size_t len = r->lr.line.len;
        if (!len)
            continue;
        if (r->lr.torn)
            return DC_STATUS_NOT_FOUND; /* an unfinished last line */
        char id[1024];
        if (r->p.want && peek_instance(line, len, id, sizeof id) && !r->p.want(r->p.user, id))
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, len, 0, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            st = dc_error_set(err, DC_STATUS_FORMAT, "%s:%zu: not a JSON object: %s", r->path,
                              r->lr.lineno, o ? "" : je.text);
            return bad_line(&r->lr, r->path, st, err);
        }
        const char *iid = str_or_null(o, "instance_id");
        if (r->p.want && iid && !r->p.want(r->p.user, iid)) {
            json_decref(o);
            continue;
        }
        r->cur = o;
        st = decode_trace(r, o, rec, err);
        return st == DC_STATUS_OK ? st : bad_line(&r->lr, r->path, st, err);
    }
    if (st != DC_STATUS_NOT_FOUND)
        return lines_error(&r->lr, r->path, st, err);
    return DC_STATUS_NOT_FOUND;
}

/* ---- run.json ---- */

static json_t *str_or_null_json(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *sdc_record_run_json(const sdc_config *cfg, const sdc_run_record *r)
{
    const dc_model_info *mi = r->model;
    char ts[64];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char *cj = sdc_config_to_json(cfg);
    json_t *config = cj ? json_loads(cj, 0, NULL) : NULL;
    dc_free(cj);
    json_t *command = json_array();
    for (int i = 0; command && i < r->argc; i++)
        json_array_append_new(command, json_string(r->argv[i]));
    json_t *model = json_pack(
        "{s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "backend", mi->backend,
        "spec", str_or_null_json(r->model_spec), "path", str_or_null_json(r->model_path), "sha256",
        str_or_null_json(r->model_sha256), "demo", r->demo != 0, "demo_kind",
        r->demo ? json_string(r->demo == 2 ? "trained" : "random") : json_null(), "name",
        str_or_null_json(mi->name), "arch", str_or_null_json(mi->arch), "quant",
        str_or_null_json(mi->quant), "n_params", (json_int_t)mi->n_params, "size_bytes",
        (json_int_t)mi->size_bytes, "n_ctx_train", (json_int_t)mi->n_ctx_train);
    json_t *dataset = json_pack("{s:s, s:o, s:I, s:I}", "benchmark", r->benchmark, "file",
                                str_or_null_json(r->data_file), "instances",
                                (json_int_t)r->instances, "rows_read", (json_int_t)r->rows_read);
    json_t *seeds = json_pack("{s:I, s:s}", "run", (json_int_t)cfg->seed, "trace_seed",
                              "dc_trace_seed(run, instance_id, trace_index)");
    if (!config || !command || !model || !dataset || !seeds) {
        json_decref(config);
        json_decref(command);
        json_decref(model);
        json_decref(dataset);
        json_decref(seeds);
        return NULL;
    }
    json_t *rj =
        json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "format", 1, "created_at", ts,
                  "fingerprint", r->fingerprint, "command", command, "config", config, "model",
                  model, "dataset", dataset, "seeds", seeds, "versions", dc_build_info());
    if (model && r->slots) {
        json_object_set_new(model, "slots", json_integer((json_int_t)r->slots));
        json_object_set_new(model, "n_ctx", json_integer((json_int_t)r->n_ctx));
    }
    json_t *refusal = r->refusal_json ? json_loads(r->refusal_json, 0, NULL) : NULL;
    if (rj && refusal)
        json_object_set_new(rj, "refusal", refusal);
    else
        json_decref(refusal);
    return rj;
}

static void facts_defaults(sdc_run_facts *out)
{
    memset(out, 0, sizeof *out);
    out->threshold = NAN;
    out->top_k = 20;
    out->window = 64;
    out->report_cases = 200;
    out->compress = SDC_COMPRESS_ZSTD;
}

static void facts_of(json_t *rj, sdc_run_facts *out)
{
    json_t *t =
        json_object_get(json_object_get(json_object_get(rj, "config"), "deepconf"), "threshold");
    if (json_is_number(t))
        out->threshold = json_number_value(t);
    json_t *m = json_object_get(rj, "model");
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *path = json_string_value(json_object_get(m, "path"));
    const char *kind = json_string_value(json_object_get(m, "demo_kind"));
    out->demo = !json_is_true(json_object_get(m, "demo")) ? 0
                : kind && !strcmp(kind, "trained")        ? 2
                                                          : 1;
    const char *backend = json_string_value(json_object_get(m, "backend"));
    snprintf(out->backend, sizeof out->backend, "%.31s", backend ? backend : "");
    json_int_t np = json_integer_value(json_object_get(m, "n_params"));
    out->n_params = np > 0 ? (uint64_t)np : 0;
    json_t *cfg = json_object_get(rj, "config");
    json_int_t k =
        json_integer_value(json_object_get(json_object_get(cfg, "generation"), "top_logprobs"));
    json_int_t w = json_integer_value(json_object_get(json_object_get(cfg, "deepconf"), "window"));
    json_t *output = json_object_get(cfg, "output");
    json_t *rc = json_object_get(output, "report_cases");
    out->report_cases = json_is_integer(rc) ? (size_t)json_integer_value(rc) : 200;
    const char *compress = json_string_value(json_object_get(output, "compress"));
    out->compress = compress && !strcmp(compress, "none") ? SDC_COMPRESS_NONE : SDC_COMPRESS_ZSTD;
    out->top_k = k > 0 ? (size_t)k : 20;
    out->window = w > 0 ? (size_t)w : 64;
    snprintf(out->model_name, sizeof out->model_name, "%.255s", name ? name : path ? path : "");
}

dc_status sdc_run_facts_read(const char *dir, sdc_run_facts *out, dc_error *err)
{
    facts_defaults(out);
    char p[4200];
    snprintf(p, sizeof p, "%s/run.json", dir);
    json_error_t je;
    json_t *rj = json_load_file(p, 0, &je);
    if (!rj)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_PARSE, "%s: %s",
                            p, je.text);
    facts_of(rj, out);
    json_decref(rj);
    return DC_STATUS_OK;
}

dc_status sdc_run_facts_parse(const char *json, sdc_run_facts *out, dc_error *err)
{
    facts_defaults(out);
    json_error_t je;
    json_t *rj = json_loads(json, 0, &je);
    if (!rj)
        return dc_error_set(err, DC_STATUS_PARSE, "run.json: %s", je.text);
    facts_of(rj, out);
    json_decref(rj);
    return DC_STATUS_OK;
}
