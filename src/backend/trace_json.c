/* trace_json.c - traces from JSON: this project's line form and the
 * OpenAI-style response objects of vLLM, SGLang, llama-server and OpenAI. */
#include "deepconf/dc_trace.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

dc_trace_limits dc_trace_default_limits(void)
{
    return (dc_trace_limits){(size_t)1 << 20, 1024, 4096};
}

/* ---- freeing ---- */

static void token_clear(dc_token *k)
{
    dc_free(k->text);
    dc_free(k->top_lp);
    if (k->top_text)
        for (size_t j = 0; j < k->n_top; j++)
            dc_free(k->top_text[j]);
    dc_free(k->top_text);
    dc_free(k->top_id);
    memset(k, 0, sizeof *k);
}

void dc_trace_clear(dc_trace *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_tokens; i++)
        token_clear(&t->tokens[i]);
    dc_free(t->tokens);
    dc_free(t->id);
    dc_free(t->answer);
    dc_free(t->text);
    dc_free(t->finish_reason);
    memset(t, 0, sizeof *t);
}

void dc_traces_free(dc_trace *traces, size_t n)
{
    if (!traces)
        return;
    for (size_t i = 0; i < n; i++)
        dc_trace_clear(&traces[i]);
    dc_free(traces);
}

/* ---- copying ---- */

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

dc_status dc_trace_copy_prefix(const dc_trace *s, size_t keep, size_t text_tokens, dc_trace *d)
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
    size_t text_len = 0, upto = text_tokens < keep ? text_tokens : keep;
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

void dc_trace_positions(const dc_trace *t, dc_position *out)
{
    for (size_t i = 0; i < t->n_tokens; i++) {
        const dc_token *k = &t->tokens[i];
        out[i] = (dc_position){k->logprob, k->top_lp, k->n_top, k->sampled_rank};
    }
}

/* ---- helpers ---- */

typedef struct pctx {
    const dc_trace_limits *lim;
    dc_error *err;
    char where[160]; /* "choices[1].logprobs.content[7]" */
} pctx;

static dc_status fail(pctx *c, dc_status st, const char *what)
{
    if (c->where[0])
        return dc_error_set(c->err, st, "%s: %s", c->where, what);
    return dc_error_set(c->err, st, "%s", what);
}

static int get_logprob(json_t *v, double *out)
{
    if (!json_is_number(v))
        return 0;
    double x = json_number_value(v);
    if (!isfinite(x) || x > 1e-6)
        return 0;
    *out = x > 0 ? 0.0 : x;
    return 1;
}

static dc_status dup_json_string(pctx *c, json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return DC_STATUS_OK;
    if (!json_is_string(v))
        return fail(c, DC_STATUS_FORMAT, "expected a string");
    *out = dc_strndup(json_string_value(v), json_string_length(v));
    return *out ? DC_STATUS_OK : fail(c, DC_STATUS_NOMEM, "out of memory");
}

static int32_t get_id(json_t *o)
{
    json_t *v = json_object_get(o, "id");
    if (!v)
        v = json_object_get(o, "token_id");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX)
        return (int32_t)json_integer_value(v);
    return -1;
}

static dc_status alloc_top(pctx *c, dc_token *k, size_t n)
{
    if (n > c->lim->max_top)
        return fail(c, DC_STATUS_LIMIT, "more top_logprobs than the limit");
    k->n_top = n;
    k->top_lp = dc_calloc(n ? n : 1, sizeof *k->top_lp);
    k->top_text = dc_calloc(n ? n : 1, sizeof *k->top_text);
    k->top_id = dc_calloc(n ? n : 1, sizeof *k->top_id);
    if (!k->top_lp || !k->top_text || !k->top_id)
        return fail(c, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

/* The sampled token's rank among the alternatives: same id when both
 * are known, else same text. The first match wins. */
static void find_sampled(dc_token *k)
{
    k->sampled_rank = -1;
    for (size_t j = 0; j < k->n_top; j++) {
        int same;
        if (k->id >= 0 && k->top_id[j] >= 0)
            same = k->id == k->top_id[j];
        else
            same = k->text && k->top_text[j] && strcmp(k->text, k->top_text[j]) == 0;
        if (same) {
            k->sampled_rank = (int)j;
            return;
        }
    }
}

typedef struct alt {
    double lp;
    size_t order;
    char *text;
} alt;

static int cmp_alt(const void *a, const void *b)
{
    const alt *x = a, *y = b;
    if (x->lp != y->lp)
        return x->lp > y->lp ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Alternatives given as {token: logprob}: JSON objects carry no order we
 * may rely on, so they are ranked by logprob (ties in input order). */
static dc_status top_from_dict(pctx *c, json_t *d, dc_token *k)
{
    dc_status st = alloc_top(c, k, json_object_size(d));
    if (st != DC_STATUS_OK)
        return st;
    alt *alts = dc_calloc(k->n_top ? k->n_top : 1, sizeof *alts);
    if (!alts)
        return fail(c, DC_STATUS_NOMEM, "out of memory");
    const char *key;
    json_t *val;
    size_t j = 0;
    json_object_foreach(d, key, val)
    {
        if (!get_logprob(val, &alts[j].lp)) {
            dc_free(alts);
            return fail(c, DC_STATUS_FORMAT, "expected {token: logprob} with numbers <= 0");
        }
        alts[j].order = j;
        alts[j].text = (char *)key;
        j++;
    }
    qsort(alts, k->n_top, sizeof *alts, cmp_alt);
    for (j = 0; j < k->n_top; j++) {
        k->top_lp[j] = alts[j].lp;
        k->top_id[j] = -1;
        k->top_text[j] = dc_strdup(alts[j].text);
        if (!k->top_text[j]) {
            dc_free(alts);
            return fail(c, DC_STATUS_NOMEM, "out of memory");
        }
    }
    dc_free(alts);
    return DC_STATUS_OK;
}

/* ---- one token, chat style: {token, logprob, top_logprobs: [...]} ---- */

static dc_status parse_token_obj(pctx *c, json_t *o, dc_token *k)
{
    k->id = -1;
    k->logprob = NAN;
    if (!json_is_object(o))
        return fail(c, DC_STATUS_FORMAT, "expected an object with token, logprob, top_logprobs");
    size_t base = strlen(c->where);
    dc_status st = dup_json_string(c, json_object_get(o, "token"), &k->text);
    if (st != DC_STATUS_OK)
        return st;
    /* "bytes" (OpenAI, and this project for partial UTF-8) is the exact text */
    json_t *bytes = json_object_get(o, "bytes");
    if (json_is_array(bytes) && json_array_size(bytes) > 0) {
        size_t n = json_array_size(bytes);
        char *t = dc_malloc(n + 1);
        if (!t)
            return fail(c, DC_STATUS_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *b = json_array_get(bytes, i);
            if (!json_is_integer(b) || json_integer_value(b) < 1 || json_integer_value(b) > 255) {
                dc_free(t);
                return fail(c, DC_STATUS_FORMAT, "\"bytes\": expected integers 1..255");
            }
            t[i] = (char)json_integer_value(b);
        }
        t[n] = '\0';
        dc_free(k->text);
        k->text = t;
    }
    k->id = get_id(o);
    json_t *lp = json_object_get(o, "logprob");
    if (!lp)
        return fail(c, DC_STATUS_FORMAT, "missing \"logprob\"");
    if (!json_is_null(lp) && !get_logprob(lp, &k->logprob))
        return fail(c, DC_STATUS_FORMAT, "\"logprob\": expected a number <= 0");
    json_t *top = json_object_get(o, "top_logprobs");
    if (!top || json_is_null(top)) {
        st = alloc_top(c, k, 0);
    } else if (json_is_array(top)) {
        st = alloc_top(c, k, json_array_size(top));
        for (size_t j = 0; st == DC_STATUS_OK && j < k->n_top; j++) {
            json_t *a = json_array_get(top, j);
            snprintf(c->where + base, sizeof c->where - base, ".top_logprobs[%zu]", j);
            if (!json_is_object(a))
                st = fail(c, DC_STATUS_FORMAT, "expected an object with token and logprob");
            else if (!get_logprob(json_object_get(a, "logprob"), &k->top_lp[j]))
                st = fail(c, DC_STATUS_FORMAT, "\"logprob\": expected a number <= 0");
            else
                st = dup_json_string(c, json_object_get(a, "token"), &k->top_text[j]);
            if (st == DC_STATUS_OK)
                k->top_id[j] = get_id(a);
        }
        c->where[base] = '\0';
    } else if (json_is_object(top)) {
        size_t base2 = strlen(c->where);
        snprintf(c->where + base2, sizeof c->where - base2, ".top_logprobs");
        st = top_from_dict(c, top, k);
        c->where[base2] = '\0';
    } else {
        return fail(c, DC_STATUS_FORMAT,
                    "\"top_logprobs\": expected an array of {token, logprob} or {token: logprob}");
    }
    if (st == DC_STATUS_OK)
        find_sampled(k);
    return st;
}

static dc_status alloc_tokens(pctx *c, dc_trace *t, size_t n)
{
    if (n > c->lim->max_tokens)
        return fail(c, DC_STATUS_LIMIT, "more tokens than the limit");
    t->tokens = dc_calloc(n ? n : 1, sizeof *t->tokens);
    if (!t->tokens)
        return fail(c, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

static dc_status parse_token_array(pctx *c, json_t *arr, dc_trace *t, const char *prefix)
{
    size_t n = json_array_size(arr);
    dc_status st = alloc_tokens(c, t, n);
    size_t base = strlen(c->where);
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        snprintf(c->where + base, sizeof c->where - base, "%s[%zu]", prefix, i);
        st = parse_token_obj(c, json_array_get(arr, i), &t->tokens[i]);
        t->n_tokens = i + 1;
    }
    c->where[base] = '\0';
    return st;
}

/* ---- legacy completions: tokens[], token_logprobs[], top_logprobs[{tok: lp}] ---- */

static dc_status parse_legacy(pctx *c, json_t *lp, dc_trace *t)
{
    json_t *toks = json_object_get(lp, "tokens");
    json_t *tlp = json_object_get(lp, "token_logprobs");
    json_t *top = json_object_get(lp, "top_logprobs");
    size_t base = strlen(c->where);
    if (!json_is_array(toks) || !json_is_array(tlp))
        return fail(c, DC_STATUS_FORMAT,
                    "logprobs: expected \"content\" or \"tokens\" and \"token_logprobs\" arrays");
    size_t n = json_array_size(toks);
    if (json_array_size(tlp) != n || (json_is_array(top) && json_array_size(top) != n))
        return fail(c, DC_STATUS_FORMAT,
                    "logprobs: tokens, token_logprobs and top_logprobs differ in length");
    dc_status st = alloc_tokens(c, t, n);
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        dc_token *k = &t->tokens[i];
        t->n_tokens = i + 1;
        k->id = -1;
        k->logprob = NAN;
        snprintf(c->where + base, sizeof c->where - base, ".tokens[%zu]", i);
        st = dup_json_string(c, json_array_get(toks, i), &k->text);
        if (st != DC_STATUS_OK)
            break;
        json_t *v = json_array_get(tlp, i);
        snprintf(c->where + base, sizeof c->where - base, ".token_logprobs[%zu]", i);
        if (!json_is_null(v) && !get_logprob(v, &k->logprob)) {
            st = fail(c, DC_STATUS_FORMAT, "expected a number <= 0");
            break;
        }
        json_t *d = json_is_array(top) ? json_array_get(top, i) : NULL;
        snprintf(c->where + base, sizeof c->where - base, ".top_logprobs[%zu]", i);
        if (!d || json_is_null(d)) {
            st = alloc_top(c, k, 0);
            continue;
        }
        if (!json_is_object(d)) {
            st = fail(c, DC_STATUS_FORMAT, "expected an object {token: logprob}");
            break;
        }
        st = top_from_dict(c, d, k);
        if (st == DC_STATUS_OK)
            find_sampled(k);
    }
    c->where[base] = '\0';
    return st;
}

/* ---- whole objects ---- */

static dc_status set_id(dc_trace *t, const char *id)
{
    t->id = dc_strdup(id);
    return t->id ? DC_STATUS_OK : DC_STATUS_NOMEM;
}

static dc_status id_of(json_t *v, const char *fallback, char **out)
{
    char tmp[64];
    const char *s = fallback;
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = tmp;
    }
    *out = dc_strdup(s ? s : "");
    return *out ? DC_STATUS_OK : DC_STATUS_NOMEM;
}

static dc_status parse_line_form(pctx *c, json_t *root, const char *default_id, dc_trace *t)
{
    dc_status st = id_of(json_object_get(root, "id"), default_id, &t->id);
    if (st != DC_STATUS_OK)
        return fail(c, st, "out of memory");
    json_t *ans = json_object_get(root, "answer");
    if (ans) {
        t->has_answer_field = 1;
        snprintf(c->where, sizeof c->where, "answer");
        if (json_is_integer(ans) || json_is_real(ans) || json_is_boolean(ans)) {
            char *s = json_dumps(ans, JSON_ENCODE_ANY);
            t->answer = s ? dc_strdup(s) : NULL;
            free(s);
            if (!t->answer)
                return fail(c, DC_STATUS_NOMEM, "out of memory");
        } else if ((st = dup_json_string(c, ans, &t->answer)) != DC_STATUS_OK) {
            return fail(c, DC_STATUS_FORMAT, "expected a string, a number or null");
        }
        c->where[0] = '\0';
    }
    json_t *text = json_object_get(root, "text");
    if (text) {
        snprintf(c->where, sizeof c->where, "text");
        if ((st = dup_json_string(c, text, &t->text)) != DC_STATUS_OK)
            return st;
        c->where[0] = '\0';
    }
    json_t *toks = json_object_get(root, "tokens");
    if (!json_is_array(toks))
        return fail(c, DC_STATUS_FORMAT,
                    "expected \"tokens\": [...] (or an OpenAI response with \"choices\")");
    return parse_token_array(c, toks, t, "tokens");
}

static dc_status parse_choice(pctx *c, json_t *ch, dc_trace *t)
{
    if (!json_is_object(ch))
        return fail(c, DC_STATUS_FORMAT, "expected an object");
    dc_status st;
    json_t *msg = json_object_get(ch, "message");
    json_t *text = json_object_get(ch, "text");
    if (json_is_object(msg))
        text = json_object_get(msg, "content");
    if ((st = dup_json_string(c, text, &t->text)) != DC_STATUS_OK)
        return st;
    if ((st = dup_json_string(c, json_object_get(ch, "finish_reason"), &t->finish_reason)) !=
        DC_STATUS_OK)
        return st;
    json_t *lp = json_object_get(ch, "logprobs");
    size_t base = strlen(c->where);
    snprintf(c->where + base, sizeof c->where - base, ".logprobs");
    if (!json_is_object(lp))
        return fail(c, DC_STATUS_FORMAT,
                    "missing: ask the server for logprobs (chat: \"logprobs\": true, "
                    "\"top_logprobs\": k; completions: \"logprobs\": k)");
    json_t *content = json_object_get(lp, "content");
    if (json_is_array(content))
        st = parse_token_array(c, content, t, ".content");
    else
        st = parse_legacy(c, lp, t);
    c->where[base] = '\0';
    return st;
}

static dc_status parse_response(pctx *c, json_t *root, const char *default_id, dc_trace **out,
                                size_t *n_out)
{
    json_t *choices = json_object_get(root, "choices");
    size_t n = json_array_size(choices);
    if (n > c->lim->max_traces)
        return fail(c, DC_STATUS_LIMIT, "more choices than the limit");
    dc_trace *ts = dc_calloc(n ? n : 1, sizeof *ts);
    if (!ts)
        return fail(c, DC_STATUS_NOMEM, "out of memory");
    json_t *rid = json_object_get(root, "id");
    const char *base_id = json_is_string(rid) ? json_string_value(rid) : default_id;
    dc_status st = DC_STATUS_OK;
    size_t done = 0;
    for (size_t i = 0; i < n && st == DC_STATUS_OK; i++) {
        json_t *ch = json_array_get(choices, i);
        json_t *idx = json_object_get(ch, "index");
        size_t index = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
        char id[256];
        snprintf(id, sizeof id, "%s/%zu", base_id ? base_id : "", index);
        done = i + 1;
        if (set_id(&ts[i], id) != DC_STATUS_OK) {
            st = fail(c, DC_STATUS_NOMEM, "out of memory");
            break;
        }
        snprintf(c->where, sizeof c->where, "choices[%zu]", i);
        st = parse_choice(c, ch, &ts[i]);
    }
    if (st != DC_STATUS_OK) {
        dc_traces_free(ts, done);
        return st;
    }
    *out = ts;
    *n_out = n;
    return DC_STATUS_OK;
}

dc_status dc_trace_parse_json(const char *json, size_t len, const char *default_id,
                              const dc_trace_limits *limits, dc_trace **traces, size_t *n_traces,
                              dc_error *err)
{
    dc_trace_limits lim = limits ? *limits : dc_trace_default_limits();
    pctx c = {&lim, err, {0}};
    *traces = NULL;
    *n_traces = 0;
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return dc_error_set(err, DC_STATUS_PARSE, "invalid JSON at column %d: %s", je.column,
                            je.text);
    dc_status st;
    if (!json_is_object(root)) {
        st = fail(&c, DC_STATUS_FORMAT, "expected a JSON object");
    } else if (json_is_array(json_object_get(root, "choices"))) {
        st = parse_response(&c, root, default_id, traces, n_traces);
    } else {
        dc_trace *t = dc_calloc(1, sizeof *t);
        if (!t) {
            st = fail(&c, DC_STATUS_NOMEM, "out of memory");
        } else {
            st = parse_line_form(&c, root, default_id, t);
            if (st == DC_STATUS_OK) {
                *traces = t;
                *n_traces = 1;
            } else {
                dc_traces_free(t, 1);
            }
        }
    }
    json_decref(root);
    return st;
}

/* ---- answers ---- */

char *dc_extract_boxed(const char *text)
{
    if (!text)
        return NULL;
    const char *last = NULL;
    for (const char *p = strstr(text, "boxed"); p; p = strstr(p + 1, "boxed"))
        last = p;
    if (!last)
        return NULL;
    const char *a = last + 5;
    const char *b;
    const char *e;
    if (*a == '{') {
        int depth = 1;
        b = a + 1;
        for (e = b; *e; e++) {
            if (*e == '{')
                depth++;
            else if (*e == '}' && --depth == 0)
                break;
        }
    } else {
        b = a;
        e = strchr(b, '$');
        if (!e)
            e = b + strlen(b);
    }
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    return dc_strndup(b, (size_t)(e - b));
}
