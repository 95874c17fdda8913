/* cmd_score.c - `safety-deepconf score`: DeepConf scores of saved traces. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "deepconf/deepconf.h"
#include "deepconf/dc_trace.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_strategy.h"
#include "util/jsonw.h"
#include "util/lines.h"

#define CMD "score"

static const char *const usage_text =
    "usage: safety-deepconf score [OPTIONS] TRACES.jsonl|-\n"
    "\n"
    "Scores traces produced anywhere (this program, vLLM, SGLang, llama-server,\n"
    "an OpenAI-style API) with DeepConf and prints one JSON object on stdout:\n"
    "token and group confidences, trace scores, majority and confidence-weighted\n"
    "votes, top-10 %% / top-90 %% filtered votes, and with --online a replay of\n"
    "DeepConf's online early stopping.\n"
    "\n"
    "Input, one JSON object per line (blank lines are skipped):\n"
    "  {\"id\": \"t1\", \"answer\": \"refuse\"|null, \"text\": \"...\",\n"
    "   \"tokens\": [{\"token\": \"I\", \"logprob\": -0.01,\n"
    "               \"top_logprobs\": [{\"token\": \"I\", \"logprob\": -0.01}, ...]}, ...]}\n"
    "or an OpenAI chat-completion / completion response object, one trace per\n"
    "choice (chat-style logprobs.content[] or legacy tokens/token_logprobs/\n"
    "top_logprobs). A sampled token that appears among top_logprobs (same id, or\n"
    "same token text) is not counted twice.\n"
    "\n"
    "Options:\n"
    "  --profile paper|reference  arithmetic (default paper). reference reproduces the\n"
    "                        official DeepConf code bit for bit: the sampled token\n"
    "                        joins the top-k, confidences rounded to 0.001, numpy\n"
    "                        pairwise means. See docs/deepconf.md.\n"
    "  --window W            group (sliding window) size, tokens (default 64)\n"
    "  --tail T              tokens of the tail score (default: the window size)\n"
    "  --top-k K             alternatives per position (default: the most the input\n"
    "                        carries). paper needs K at every position and names the\n"
    "                        first line and position that has fewer; reference uses\n"
    "                        up to K of what each position has.\n"
    "  --answer MODE         where a trace's answer comes from (default field):\n"
    "                          field   the line's \"answer\" (none for responses)\n"
    "                          boxed   the last \\boxed{...} of the text, as the\n"
    "                                  official DeepConf code extracts it\n"
    "                          refusal the refusal detector on the text: refuse\n"
    "                                  (full or partial refusal) or comply\n"
    "                          none    no answers (votes are null)\n"
    "                        Missing or empty answers never vote.\n"
    "  --online              replay DeepConf online: the first N traces (file order)\n"
    "                        are warmup; the threshold is the (100-ETA)th percentile\n"
    "                        of their lowest group confidences; each later trace is\n"
    "                        cut at the first position t where the mean of the last\n"
    "                        W top-k confidences (positions t-W+1..t) is below it.\n"
    "                        stopped_at = t: tokens 0..t-1 kept, token t not;\n"
    "                        tokens_used = t+1 (the positions evaluated, as the\n"
    "                        official code counts the EOS it forces at t). A stopped\n"
    "                        trace does not vote; a finished one votes unless its\n"
    "                        lowest group confidence is below the threshold,\n"
    "                        weighted by that confidence.\n"
    "  --warmup N            warmup traces (default 16, as the official code)\n"
    "  --keep-percent ETA    percent of traces kept: 10 = DeepConf-low,\n"
    "                        90 = DeepConf-high (default 90)\n"
    "  --consensus TAU       stop once the winning answer holds a share >= TAU of\n"
    "                        the vote weight, checked after each post-warmup trace\n"
    "                        (default: off, as the official code)\n"
    "  --budget B            at most B traces, warmup included (default: all)\n"
    "  --no-arrays           leave the per-token \"confs\" and \"groups\" out\n"
    "  --max-line-bytes N    longest accepted input line (default 268435456)\n"
    "  -h, --help            this text\n"
    "\n"
    "Output (numbers are shortest round-trip doubles; null where undefined):\n"
    "  {\"profile\", \"window\", \"tail\", \"top_k\", \"n_traces\",\n"
    "   \"traces\": [{\"id\", \"answer\", \"n_tokens\", \"confs\", \"groups\", \"mean\",\n"
    "               \"tail\", \"bottom10\", \"bottom50\", \"lowest\", \"min_window\"}],\n"
    "   \"votes\": {\"majority\": {\"answer\", \"votes\"},\n"
    "             \"weighted\": {SCORE: {\"answer\", \"share\", \"votes\"}},\n"
    "             \"top10\": {SCORE: {\"answer\", \"kept\", \"threshold\", \"share\"}},\n"
    "             \"top90\": {SCORE: {...}}},\n"
    "   \"online\": {\"threshold\", \"answer\", \"share\", \"tokens_used\", \"traces_used\",\n"
    "              \"traces\": [{\"id\", \"warmup\", \"stopped_at\", \"tokens_used\",\n"
    "                          \"voted\"}]}}\n"
    "  SCORE is mean, tail, bottom10, bottom50, lowest or min_window. \"votes\" counts\n"
    "  the traces that voted; \"share\" is the winner's share of the vote weight (beta).\n"
    "  lowest is the minimum of \"groups\" (reference: the official min_conf,\n"
    "  rounded), the score the online replay flags and weights by; min_window is\n"
    "  the minimum window mean (reference: the official min_window, unrounded,\n"
    "  the weight of its min_window_weighted vote; paper: equal to lowest).\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (the message names file, line and field),\n"
    "2 bad options.\n";

enum answer_mode { ANSWER_FIELD, ANSWER_BOXED, ANSWER_REFUSAL, ANSWER_NONE };

typedef struct score_opts {
    dc_profile profile;
    size_t window, tail, top_k;
    int tail_set, top_k_set;
    enum answer_mode answer;
    int online;
    size_t warmup;
    double keep_percent;
    double consensus;
    size_t budget;
    int budget_set;
    int arrays;
    size_t max_line;
} score_opts;

typedef struct strace {
    dc_trace t;
    size_t line;
    char *answer; /* owned */
    double *confs;
    size_t n_confs;
    double *groups;
    size_t n_groups;
    dc_trace_scores sc;
} strace;

typedef struct tracelist {
    strace *v;
    size_t n, cap;
} tracelist;

static void tracelist_free(tracelist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dc_trace_clear(&l->v[i].t);
        dc_free(l->v[i].answer);
        dc_free(l->v[i].confs);
        dc_free(l->v[i].groups);
    }
    dc_free(l->v);
}

/* ---- reading ---- */

static int read_traces(const char *path, const score_opts *o, tracelist *out)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    if (!f) {
        cli_err(CMD, "%s: %s", path, strerror(errno));
        return 0;
    }
    dc_lines r;
    dc_lines_init(&r, f, o->max_line);
    int ok = 1;
    dc_status st;
    while ((st = dc_lines_next(&r)) != DC_STATUS_NOT_FOUND) {
        if (st == DC_STATUS_LIMIT) {
            cli_err(CMD, "%s:%zu: line longer than %zu bytes (--max-line-bytes)", name, r.lineno,
                    o->max_line);
            ok = 0;
            break;
        }
        if (st != DC_STATUS_OK) {
            cli_err(CMD, "%s: %s", name, r.msg);
            ok = 0;
            break;
        }
        const char *s = r.line.data;
        size_t len = r.line.len;
        size_t i = 0;
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == len)
            continue;
        char defid[64];
        snprintf(defid, sizeof defid, "line%zu", r.lineno);
        dc_trace *ts;
        size_t nt;
        dc_error err = {0};
        st = dc_trace_parse_json(s, len, defid, NULL, &ts, &nt, &err);
        if (st != DC_STATUS_OK) {
            cli_err(CMD, "%s:%zu: %s", name, r.lineno, err.msg);
            ok = 0;
            break;
        }
        if (out->n + nt > out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            while (cap < out->n + nt)
                cap *= 2;
            strace *v = dc_reallocarray(out->v, cap, sizeof *v);
            if (!v) {
                dc_traces_free(ts, nt);
                cli_err(CMD, "out of memory");
                ok = 0;
                break;
            }
            out->v = v;
            out->cap = cap;
        }
        for (size_t j = 0; j < nt; j++) {
            memset(&out->v[out->n], 0, sizeof out->v[out->n]);
            out->v[out->n].t = ts[j];
            out->v[out->n].line = r.lineno;
            out->n++;
        }
        dc_free(ts); /* the traces were moved */
    }
    dc_lines_free(&r);
    if (f != stdin)
        fclose(f);
    return ok;
}

/* ---- scoring ---- */

static sdc_refusal *g_detector;

static int pick_answer(strace *s, const score_opts *o)
{
    const char *src = NULL;
    char *boxed = NULL;
    switch (o->answer) {
    case ANSWER_REFUSAL:
        if (s->t.text) {
            sdc_refusal_result rr;
            if (sdc_refusal_classify(g_detector, s->t.text, strlen(s->t.text), &rr) != DC_STATUS_OK)
                return 0;
            src = sdc_refusal_is_refusal(rr.kind) ? "refuse" : "comply";
        }
        break;
    case ANSWER_FIELD: src = s->t.answer; break;
    case ANSWER_BOXED:
        boxed = dc_extract_boxed(s->t.text);
        s->answer = boxed;
        return 1;
    case ANSWER_NONE: break;
    }
    if (src) {
        s->answer = dc_strdup(src);
        if (!s->answer)
            return 0;
    }
    return 1;
}

static int score_trace(strace *s, const score_opts *o, const char *name)
{
    const dc_trace *t = &s->t;
    dc_position *pos = dc_calloc(t->n_tokens ? t->n_tokens : 1, sizeof *pos);
    s->confs = dc_calloc(t->n_tokens ? t->n_tokens : 1, sizeof *s->confs);
    if (!pos || !s->confs) {
        dc_free(pos);
        cli_err(CMD, "out of memory");
        return 0;
    }
    dc_trace_positions(t, pos);
    /* paper needs K everywhere; an explicit --top-k is a promise in both profiles */
    if (o->profile == DC_PROFILE_PAPER || o->top_k_set) {
        for (size_t i = 0; i < t->n_tokens; i++) {
            if (pos[i].n_top < o->top_k) {
                cli_err(CMD,
                        "%s:%zu: trace '%s' position %zu has %zu top_logprobs, fewer than "
                        "the %zu %s",
                        name, s->line, t->id, i, pos[i].n_top, o->top_k,
                        o->top_k_set ? "--top-k asks for"
                                     : "the paper profile needs (set --top-k)");
                dc_free(pos);
                return 0;
            }
        }
    }
    size_t n_out = 0;
    dc_status st = dc_trace_confidences(pos, t->n_tokens, o->top_k, o->profile, s->confs, &n_out);
    dc_free(pos);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "%s:%zu: trace '%s' position %zu: %s", name, s->line, t->id, n_out,
                dc_strerror(st));
        return 0;
    }
    s->n_confs = n_out;
    s->n_groups = dc_group_count(s->n_confs, o->window);
    s->groups = dc_calloc(s->n_groups, sizeof *s->groups);
    if (!s->groups) {
        cli_err(CMD, "out of memory");
        return 0;
    }
    dc_score_params sp = {o->profile, o->window, o->tail};
    if (dc_group_confidences(s->confs, s->n_confs, o->window, o->profile, s->groups) !=
            DC_STATUS_OK ||
        dc_trace_score(s->confs, s->n_confs, &sp, &s->sc) != DC_STATUS_OK) {
        cli_err(CMD, "out of memory");
        return 0;
    }
    if (!pick_answer(s, o)) {
        cli_err(CMD, "out of memory");
        return 0;
    }
    return 1;
}

/* ---- votes ---- */

typedef struct score_col {
    const char *name;
    size_t offset;
} score_col;

static const score_col score_cols[] = {
    {"mean", offsetof(dc_trace_scores, mean)},
    {"tail", offsetof(dc_trace_scores, tail)},
    {"bottom10", offsetof(dc_trace_scores, bottom10)},
    {"bottom50", offsetof(dc_trace_scores, bottom50)},
    {"lowest", offsetof(dc_trace_scores, lowest)},
    {"min_window", offsetof(dc_trace_scores, min_window)},
};

static double score_of(const strace *s, const score_col *c)
{
    return *(const double *)((const char *)&s->sc + c->offset);
}

static void write_vote(jw *w, const tracelist *l, const char **answers, const dc_vote_result *v,
                       int with_share)
{
    jw_obj_begin(w);
    jw_kv_str(w, "answer", v->winner >= 0 ? answers[v->winner] : NULL);
    jw_kv_uint(w, "votes", v->n_votes);
    if (with_share) {
        jw_kv_double(w, "share", v->share);
    }
    jw_obj_end(w);
    (void)l;
}

static int write_votes(jw *w, const tracelist *l, const char **answers)
{
    size_t n = l->n;
    double *weights = dc_calloc(n ? n : 1, sizeof *weights);
    unsigned char *keep = dc_calloc(n ? n : 1, 1);
    if (!weights || !keep) {
        dc_free(weights);
        dc_free(keep);
        return 0;
    }
    dc_vote_result v;
    jw_obj_begin(w);
    jw_key(w, "majority");
    if (dc_vote(answers, NULL, NULL, n, &v) != DC_STATUS_OK)
        goto nomem;
    write_vote(w, l, answers, &v, 0);

    jw_key(w, "weighted");
    jw_obj_begin(w);
    for (size_t c = 0; c < sizeof score_cols / sizeof score_cols[0]; c++) {
        for (size_t i = 0; i < n; i++)
            weights[i] = score_of(&l->v[i], &score_cols[c]);
        if (dc_vote(answers, weights, NULL, n, &v) != DC_STATUS_OK)
            goto nomem;
        jw_key(w, score_cols[c].name);
        write_vote(w, l, answers, &v, 1);
    }
    jw_obj_end(w);

    static const double etas[] = {10.0, 90.0};
    static const char *const eta_names[] = {"top10", "top90"};
    for (size_t e = 0; e < 2; e++) {
        jw_key(w, eta_names[e]);
        jw_obj_begin(w);
        for (size_t c = 0; c < sizeof score_cols / sizeof score_cols[0]; c++) {
            for (size_t i = 0; i < n; i++)
                weights[i] = score_of(&l->v[i], &score_cols[c]);
            double thr;
            if (dc_filter_top(weights, answers, NULL, n, etas[e], keep, &thr) != DC_STATUS_OK ||
                dc_vote(answers, weights, keep, n, &v) != DC_STATUS_OK)
                goto nomem;
            jw_key(w, score_cols[c].name);
            jw_obj_begin(w);
            jw_kv_str(w, "answer", v.winner >= 0 ? answers[v.winner] : NULL);
            jw_key(w, "kept");
            jw_arr_begin(w);
            for (size_t i = 0; i < n; i++)
                if (keep[i])
                    jw_str(w, l->v[i].t.id);
            jw_arr_end(w);
            jw_kv_double(w, "threshold", thr);
            jw_kv_double(w, "share", v.share);
            jw_obj_end(w);
        }
        jw_obj_end(w);
    }
    jw_obj_end(w);
    dc_free(weights);
    dc_free(keep);
    return 1;
nomem:
    dc_free(weights);
    dc_free(keep);
    return 0;
}

/* ---- online replay ---- */

/* The online strategy over the traces in input order, one at a time as
 * the official online code takes them: the same in-memory replay that
 * compare and analyze --replay use (sdc_strategy_replay). Returns 1 ok, 0
 * out of memory, -1 after an input error. */
static int write_online(jw *w, const tracelist *l, const char **answers, const score_opts *o,
                        const char *name)
{
    /* the window test needs every position's alternatives */
    for (size_t i = 0; i < l->n; i++)
        for (size_t pos = 0; pos < l->v[i].t.n_tokens; pos++)
            if (l->v[i].t.tokens[pos].n_top == 0) {
                cli_err(CMD,
                        "%s:%zu: trace '%s' position %zu has no top_logprobs, which the online "
                        "replay needs",
                        name, l->v[i].line, l->v[i].t.id, pos);
                return -1;
            }
    dc_gen_trace *g = dc_calloc(l->n ? l->n : 1, sizeof *g);
    sdc_trace_info *info = dc_calloc(l->n ? l->n : 1, sizeof *info);
    if (!g || !info) {
        dc_free(g);
        dc_free(info);
        return 0;
    }
    for (size_t i = 0; i < l->n; i++) {
        g[i].trace = l->v[i].t; /* borrowed: the replay copies what it keeps */
        g[i].index = i;
        g[i].stop = DC_STOP_LENGTH;
        g[i].n_generated = g[i].n_evaluated = l->v[i].t.n_tokens;
        info[i].answer = dc_answer_present(answers[i]) ? answers[i] : NULL;
        info[i].scores = l->v[i].sc;
        info[i].mean_logprob = NAN;
    }
    sdc_strategy_params sp = sdc_strategy_default_params();
    sp.kind = SDC_STRATEGY_ONLINE;
    sp.warmup = o->warmup;
    sp.keep_percent = o->keep_percent;
    sp.score.window = o->window;
    sp.consensus = o->consensus;
    sp.budget = o->budget_set && o->budget < l->n ? o->budget : l->n;
    sp.step = 1;
    sp.top_k = o->top_k;
    sdc_trace_pool pool = {g, info, l->n};
    sdc_outcome out;
    dc_error err = {0};
    dc_status st = sdc_strategy_replay(&pool, &sp, &out, &err);
    dc_free(g);
    dc_free(info);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "online replay: %s", err.msg);
        return st == DC_STATUS_NOMEM ? 0 : -1;
    }
    jw_obj_begin(w);
    jw_kv_double(w, "threshold", out.threshold);
    jw_kv_str(w, "answer", out.answer);
    jw_kv_double(w, "share", out.consensus);
    jw_kv_uint(w, "tokens_used", out.tokens_generated);
    jw_kv_uint(w, "traces_used", out.n_traces);
    jw_key(w, "traces");
    jw_arr_begin(w);
    for (size_t j = 0; j < out.n_traces; j++) {
        const dc_gen_trace *t = &out.traces[j];
        int stopped = t->stop == DC_STOP_CONFIDENCE;
        jw_obj_begin(w);
        jw_kv_str(w, "id", l->v[j].t.id);
        jw_kv_bool(w, "warmup", j < o->warmup);
        jw_key(w, "stopped_at");
        if (stopped)
            jw_uint(w, t->n_generated);
        else
            jw_null(w);
        jw_kv_uint(w, "tokens_used", t->n_evaluated);
        jw_kv_bool(w, "voted", out.info[j].voted);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    sdc_outcome_clear(&out);
    return 1;
}

/* ---- output ---- */

static void write_doubles(jw *w, const double *x, size_t n)
{
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++)
        jw_double(w, x[i]);
    jw_arr_end(w);
}

static int write_result(const tracelist *l, const score_opts *o, const char *name)
{
    dc_buf out;
    dc_buf_init(&out, 0);
    jw w;
    jw_init(&w, &out);
    const char **answers = dc_calloc(l->n ? l->n : 1, sizeof *answers);
    if (!answers) {
        cli_err(CMD, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < l->n; i++)
        answers[i] = l->v[i].answer;

    jw_obj_begin(&w);
    jw_kv_str(&w, "profile", dc_profile_name(o->profile));
    jw_kv_uint(&w, "window", o->window);
    jw_kv_uint(&w, "tail", o->tail);
    jw_kv_uint(&w, "top_k", o->top_k);
    jw_kv_uint(&w, "n_traces", l->n);
    jw_key(&w, "traces");
    jw_arr_begin(&w);
    for (size_t i = 0; i < l->n; i++) {
        const strace *s = &l->v[i];
        jw_obj_begin(&w);
        jw_kv_str(&w, "id", s->t.id);
        jw_kv_str(&w, "answer", s->answer);
        jw_kv_uint(&w, "n_tokens", s->n_confs);
        if (o->arrays) {
            jw_key(&w, "confs");
            write_doubles(&w, s->confs, s->n_confs);
            jw_key(&w, "groups");
            write_doubles(&w, s->groups, s->n_groups);
        }
        for (size_t c = 0; c < sizeof score_cols / sizeof score_cols[0]; c++) {
            jw_kv_double(&w, score_cols[c].name, score_of(s, &score_cols[c]));
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "votes");
    int ok = write_votes(&w, l, answers);
    if (ok && o->online) {
        jw_key(&w, "online");
        int r = write_online(&w, l, answers, o, name);
        if (r < 0) {
            dc_free(answers);
            dc_buf_free(&out);
            return 0;
        }
        ok = r;
    }
    jw_obj_end(&w);
    dc_free(answers);
    if (!ok || out.st != DC_STATUS_OK) {
        cli_err(CMD, "building the output failed: %s",
                dc_strerror(out.st != DC_STATUS_OK ? out.st : DC_STATUS_NOMEM));
        dc_buf_free(&out);
        return 0;
    }
    dc_buf_putc(&out, '\n');
    ok = cli_write_stdout(CMD, out.data, out.len);
    dc_buf_free(&out);
    return ok;
}

/* ---- options ---- */

enum {
    OPT_PROFILE = 256,
    OPT_WINDOW,
    OPT_TAIL,
    OPT_TOPK,
    OPT_ANSWER,
    OPT_ONLINE,
    OPT_WARMUP,
    OPT_KEEP,
    OPT_CONSENSUS,
    OPT_BUDGET,
    OPT_NO_ARRAYS,
    OPT_MAX_LINE,
};

static int answer_parse(const char *name, enum answer_mode *out)
{
    static const struct {
        const char *name;
        enum answer_mode mode;
    } modes[] = {{"field", ANSWER_FIELD},
                 {"boxed", ANSWER_BOXED},
                 {"none", ANSWER_NONE},
                 {"refusal", ANSWER_REFUSAL}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(name, modes[i].name)) {
            *out = modes[i].mode;
            return 1;
        }
    return 0;
}

/* One option into o; flag is the option as given, for messages; *online_only is set by the
 * options that only --online reads. 1 ok, 0 usage error (said), -1 help printed. */
static int score_opt(int c, const char *flag, score_opts *o, int *online_only)
{
    switch (c) {
    case 'h': fputs(usage_text, stdout); return -1;
    case OPT_PROFILE:
        if (dc_profile_parse(optarg, &o->profile) != DC_STATUS_OK) {
            cli_err(CMD, "--profile: expected paper or reference, got '%s'", optarg);
            return 0;
        }
        break;
    case OPT_WINDOW:
        if (!cli_parse_size(CMD, "--window", optarg, 1, (size_t)1 << 24, &o->window))
            return 0;
        break;
    case OPT_TAIL:
        if (!cli_parse_size(CMD, "--tail", optarg, 1, (size_t)1 << 24, &o->tail))
            return 0;
        o->tail_set = 1;
        break;
    case OPT_TOPK:
        if (!cli_parse_size(CMD, "--top-k", optarg, 1, 1024, &o->top_k))
            return 0;
        o->top_k_set = 1;
        break;
    case OPT_ANSWER:
        if (!answer_parse(optarg, &o->answer)) {
            cli_err(CMD, "--answer: expected field, refusal, boxed or none, got '%s'", optarg);
            return 0;
        }
        break;
    case OPT_ONLINE: o->online = 1; break;
    case OPT_WARMUP:
        if (!cli_parse_size(CMD, "--warmup", optarg, 1, (size_t)1 << 20, &o->warmup))
            return 0;
        *online_only = 1;
        break;
    case OPT_KEEP:
        if (!cli_parse_double(CMD, "--keep-percent", optarg, 0.0, 100.0, &o->keep_percent))
            return 0;
        if (o->keep_percent <= 0.0) {
            cli_err(CMD, "--keep-percent: must be above 0");
            return 0;
        }
        *online_only = 1;
        break;
    case OPT_CONSENSUS:
        if (!cli_parse_double(CMD, "--consensus", optarg, 0.0, 1.0, &o->consensus))
            return 0;
        *online_only = 1;
        break;
    case OPT_BUDGET:
        if (!cli_parse_size(CMD, "--budget", optarg, 1, (size_t)1 << 30, &o->budget))
            return 0;
        o->budget_set = 1;
        break;
    case OPT_NO_ARRAYS: o->arrays = 0; break;
    case OPT_MAX_LINE:
        if (!cli_parse_size(CMD, "--max-line-bytes", optarg, 16, (size_t)1 << 31, &o->max_line))
            return 0;
        break;
    case ':': cli_err(CMD, "%s needs a value", flag); return 0;
    default: cli_err(CMD, "unknown option '%s' (see --help)", flag); return 0;
    }
    return 1;
}

static int parse_opts(int argc, char **argv, score_opts *o, const char **path)
{
    static const struct option longopts[] = {
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"tail", required_argument, NULL, OPT_TAIL},
        {"top-k", required_argument, NULL, OPT_TOPK},
        {"answer", required_argument, NULL, OPT_ANSWER},
        {"online", no_argument, NULL, OPT_ONLINE},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"keep-percent", required_argument, NULL, OPT_KEEP},
        {"consensus", required_argument, NULL, OPT_CONSENSUS},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {"no-arrays", no_argument, NULL, OPT_NO_ARRAYS},
        {"max-line-bytes", required_argument, NULL, OPT_MAX_LINE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (score_opts){DC_PROFILE_PAPER, 64, 64, 0, 0, 0, ANSWER_FIELD, 0, 16, 90.0, 2.0, 0, 0, 1,
                      (size_t)256 << 20};
    int online_only = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        int r = score_opt(c, argv[optind - 1], o, &online_only);
        if (r <= 0)
            return r;
    }
    if (!o->online && (online_only || o->budget_set)) {
        cli_err(CMD, "--warmup, --keep-percent, --consensus and --budget need --online");
        return 0;
    }
    if (!o->tail_set)
        o->tail = o->window;
    if (optind + 1 != argc) {
        cli_err(CMD, optind == argc ? "missing the traces file (a path, or - for stdin)"
                                    : "expected one traces file, got more");
        return 0;
    }
    *path = argv[optind];
    return 1;
}

int cmd_score(int argc, char **argv)
{
    score_opts o;
    const char *path;
    int r = parse_opts(argc, argv, &o, &path);
    if (r < 0)
        return CLI_OK;
    if (!r)
        return CLI_USAGE;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    tracelist l = {0};
    int ok = read_traces(path, &o, &l);
    if (ok && !o.top_k_set) {
        size_t k = 0;
        for (size_t i = 0; i < l.n; i++)
            for (size_t j = 0; j < l.v[i].t.n_tokens; j++)
                if (l.v[i].t.tokens[j].n_top > k)
                    k = l.v[i].t.tokens[j].n_top;
        o.top_k = k;
        if (k == 0 && o.profile == DC_PROFILE_PAPER) {
            for (size_t i = 0; i < l.n && ok; i++)
                if (l.v[i].t.n_tokens) {
                    cli_err(CMD,
                            "%s:%zu: trace '%s' has no top_logprobs; the paper profile "
                            "needs them",
                            name, l.v[i].line, l.v[i].t.id);
                    ok = 0;
                }
        }
    }
    if (ok && o.online && l.n < o.warmup) {
        cli_err(CMD,
                "%s: --online with --warmup %zu needs at least %zu traces; the input "
                "has %zu",
                name, o.warmup, o.warmup, l.n);
        ok = 0;
    }
    if (ok && o.answer == ANSWER_REFUSAL) {
        dc_error err = {0};
        if (sdc_refusal_new(NULL, &g_detector, &err) != DC_STATUS_OK) {
            cli_err(CMD, "%s", err.msg);
            ok = 0;
        }
    }
    for (size_t i = 0; ok && i < l.n; i++)
        ok = score_trace(&l.v[i], &o, name);
    if (ok)
        ok = write_result(&l, &o, name);
    tracelist_free(&l);
    sdc_refusal_free(g_detector);
    g_detector = NULL;
    return ok ? CLI_OK : CLI_FAIL;
}
