/* openai.c - the OpenAI-compatible backend: opening, the request loop
 * (curl multi), tokens to the observer, retries and results.
 *
 * Everything runs in the thread that calls generate(): curl's write
 * callbacks parse the events and call the observer; the loop around
 * curl_multi_poll() starts requests, enforces the timeouts, schedules
 * retries and finishes traces. No thread, no signal. */
#include "deepconf/dc_backend_openai.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/openai_int.h"
#include "util/clock.h"

#define OAI_ERROR_BODY_MAX ((size_t)64 << 10) /* kept of an HTTP error's body */
#define OAI_POLL_MS 50                        /* longest wait between two checks */

/* ---- state ---- */

typedef struct oai_endpoint {
    char *base; /* ".../v1" */
    char *url;  /* base + "/chat/completions" or "/completions" */
    size_t in_flight;
} oai_endpoint;

typedef struct oai_backend {
    dc_openai_params p;
    char *model;
    char *api_key;     /* owned; wiped at free */
    char *auth_header; /* "Authorization: Bearer <key>"; wiped at free */
    struct curl_slist *headers;
    oai_endpoint *eps;
    size_t n_eps;
    size_t rr; /* round-robin start among equally loaded endpoints */
    uint64_t rng;
    CURLM *multi;
    volatile sig_atomic_t cancel;
    dc_openai_stats stats;
    char (*trace_err)[DC_ERROR_MSG_MAX];
    size_t n_trace_err;
} oai_backend;

typedef enum oai_tstate { OAI_WAITING = 0, OAI_RUNNING = 1, OAI_DONE = 2 } oai_tstate;

/* Why a running attempt ends early. */
typedef enum oai_abort { OAI_GO_ON = 0, OAI_STOPPED, OAI_CANCELLED, OAI_FAILED } oai_abort;

typedef struct oai_gen oai_gen;

typedef struct oai_trace {
    oai_gen *g;
    size_t i; /* position in the call */
    uint64_t seed;
    oai_tstate state;
    double not_before; /* earliest start of the next attempt */
    unsigned attempts; /* attempts started */
    size_t ep;         /* endpoint of the current or last attempt */
    /* one attempt */
    CURL *easy;
    dc_buf req;  /* the request body; curl reads it in place */
    dc_buf resp; /* a whole reply, or an error's body */
    oai_sse sse;
    char curl_err[CURL_ERROR_SIZE];
    int reply_known, is_sse;
    long http_code;
    int got_byte;
    double t_start, t_last;
    size_t bytes;
    size_t seen; /* positions received in this attempt */
    size_t events;
    int saw_text;
    char finish[32];
    oai_abort abort;
    dc_status fail_st;
    int fail_retry;
    char fail_msg[DC_ERROR_MSG_MAX];
    /* the whole trace */
    size_t delivered; /* positions kept (shown and continued) */
    size_t evaluated;
    uint64_t *hashes; /* text hash per kept position, to check replays */
    size_t cap_hashes;
    dc_token *toks;
    size_t cap_toks;
    dc_buf text;
    long prompt_tokens;
    dc_stop_reason stop;
    dc_status error;
} oai_trace;

/* One request's traces (one prompt); a stream runs several at once. */
struct oai_gen {
    oai_backend *b;
    size_t seq; /* its number in the stream */
    dc_prompt prompt_copy;
    dc_gen_params gp_copy;
    dc_observer obs_copy;
    const dc_prompt *prompt;
    const dc_gen_params *gp;
    const dc_observer *obs;
    dc_gen_result res;
    dc_gen_result *out;
    char (*errs)[DC_ERROR_MSG_MAX]; /* why each trace failed */
    oai_trace *tr;
    size_t n, n_done;
    int cancel_all;
    double t0;
    dc_trace_limits lim;
};

static const dc_backend_vtable oai_vtable;

/* ---- small helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * 0x100000001B3ull;
    return h;
}

/* Copies s into out (size >= 1), cut when too long. */
static void copy_str(char *out, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size)
        n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static void wipe(char *s)
{
    if (s) {
        volatile char *v = s;
        while (*v)
            *v++ = 0;
    }
}

const char *dc_openai_api_name(dc_openai_api api)
{
    return api == DC_OPENAI_API_COMPLETIONS ? "completions" : "chat";
}

dc_status dc_openai_api_parse(const char *s, dc_openai_api *out)
{
    if (s && (strcmp(s, "chat") == 0 || strcmp(s, "chat/completions") == 0)) {
        *out = DC_OPENAI_API_CHAT;
        return DC_STATUS_OK;
    }
    if (s && strcmp(s, "completions") == 0) {
        *out = DC_OPENAI_API_COMPLETIONS;
        return DC_STATUS_OK;
    }
    return DC_STATUS_INVALID_ARG;
}

dc_openai_params dc_backend_openai_default_params(void)
{
    dc_openai_params p;
    memset(&p, 0, sizeof p);
    p.api = DC_OPENAI_API_CHAT;
    p.stream = 1;
    p.concurrency = 8;
    p.connect_timeout_s = 10;
    p.first_byte_timeout_s = 300;
    p.idle_timeout_s = 120;
    p.total_timeout_s = 3600;
    p.max_retries = 4;
    p.backoff_initial_s = 0.5;
    p.backoff_max_s = 30;
    p.retry_after_max_s = 120;
    p.max_failures = SIZE_MAX;
    p.api_key_env = "OPENAI_API_KEY";
    p.tls_verify = 1;
    p.max_response_bytes = (size_t)64 << 20;
    p.max_line_bytes = (size_t)4 << 20;
    p.max_tokens_cap = (size_t)1 << 20;
    p.max_top_logprobs = 1024;
    p.send_top_k_min_p = 1;
    p.send_template_kwargs = 1;
    p.send_stream_usage = 1;
    return p;
}

/* ---- messages that name the request ---- */

/* What every request body of b says besides the prompt and sampling. */
static oai_req_spec spec_of(const oai_backend *b)
{
    oai_req_spec spec = {(int)b->p.api,
                         b->model,
                         b->p.stream,
                         b->p.send_top_k_min_p,
                         b->p.send_template_kwargs,
                         b->p.send_stream_usage};
    return spec;
}

static void trace_name(const oai_gen *g, const oai_trace *t, char *buf, size_t size)
{
    const char *inst = g->gp->instance_id ? g->gp->instance_id : "";
    snprintf(buf, size, "trace %s#%llu (POST %s, attempt %u of %u)", inst,
             (unsigned long long)(g->gp->first_trace + t->i), g->b->eps[t->ep].url, t->attempts,
             g->b->p.max_retries + 1);
}

/* Marks the running attempt as failed (the first reason wins). */
static void attempt_fail(oai_trace *t, dc_status st, int retry, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void attempt_fail(oai_trace *t, dc_status st, int retry, const char *fmt, ...)
{
    if (t->abort != OAI_GO_ON)
        return;
    t->abort = OAI_FAILED;
    t->fail_st = st;
    t->fail_retry = retry;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->fail_msg, sizeof t->fail_msg, fmt, ap);
    va_end(ap);
}

/* ---- tokens to the observer ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = dc_reallocarray(*p, c, elem);
    if (!q)
        return 0;
    *p = q;
    *cap = c;
    return 1;
}

static void token_free(dc_token *k)
{
    if (k->top_text)
        for (size_t j = 0; j < k->n_top; j++)
            dc_free(k->top_text[j]);
    dc_free(k->top_text);
    dc_free(k->top_lp);
    dc_free(k->top_id);
    dc_free(k->text);
    memset(k, 0, sizeof *k);
}

/* Drops alternatives past k (vLLM's legacy dicts may add the sampled token). */
static void token_trim(dc_token *k, size_t want)
{
    if (k->n_top <= want)
        return;
    for (size_t j = want; j < k->n_top; j++)
        if (k->top_text)
            dc_free(k->top_text[j]);
    k->n_top = want;
    if (k->sampled_rank >= (int)want)
        k->sampled_rank = -1;
}

static int has_replacement_char(const dc_token *k)
{
    for (size_t j = 0; j < k->n_top; j++)
        if (k->top_text && k->top_text[j] && strstr(k->top_text[j], "\xEF\xBF\xBD"))
            return 1;
    return 0;
}

/* One position of the current attempt. Takes *k (moves or frees it). */
static void take_token(oai_trace *t, dc_token *k, int legacy_dict)
{
    oai_gen *g = t->g;
    size_t want = g->gp->top_logprobs;
    char name[384];
    size_t pos = t->seen++;
    if (pos < t->delivered) {
        /* A retry replays what the observer already saw. */
        if (text_hash(k->text) != t->hashes[pos]) {
            trace_name(g, t, name, sizeof name);
            attempt_fail(t, DC_STATUS_PROTOCOL, 0,
                         "%s: the retried request gave a different token at position %zu "
                         "than the first try; the server's sampling is not reproducible for "
                         "this seed",
                         name, pos);
        }
        token_free(k);
        return;
    }
    trace_name(g, t, name, sizeof name);
    if (pos >= g->gp->max_tokens) {
        attempt_fail(t, DC_STATUS_LIMIT, 0, "%s: the server sent more than max_tokens = %zu tokens",
                     name, g->gp->max_tokens);
    } else if (isnan(k->logprob)) {
        attempt_fail(t, DC_STATUS_PROTOCOL, 0,
                     "%s: position %zu has no logprob for the sampled token", name, pos);
    } else if (k->n_top < want && !(legacy_dict && has_replacement_char(k))) {
        /* Legacy dicts key alternatives by text, so tokens that decode to
           the same U+FFFD collapse: only then are fewer than k expected. */
        attempt_fail(t, DC_STATUS_PROTOCOL, 0,
                     "%s: position %zu has %zu top_logprobs, %zu were asked for; the server "
                     "caps them (vLLM: start it with --max-logprobs %zu or more; SGLang and "
                     "llama-server return what is asked)",
                     name, pos, k->n_top, want, want);
    }
    if (t->abort != OAI_GO_ON) {
        token_free(k);
        return;
    }
    token_trim(k, want);
    g->b->stats.tokens++;
    dc_observe verdict = DC_OBSERVE_CONTINUE;
    if (g->obs->on_token) {
        dc_token_event ev;
        memset(&ev, 0, sizeof ev);
        ev.trace = t->i;
        ev.index = g->gp->first_trace + t->i;
        ev.pos = pos;
        ev.id = k->id;
        ev.text = k->text ? k->text : "";
        ev.logprob = k->logprob;
        ev.n_top = k->n_top;
        ev.top_lp = k->top_lp;
        ev.top_id = k->top_id;
        ev.sampled_rank = k->sampled_rank;
        ev.is_eog = 0; /* servers report the end as finish_reason, not as a token */
        verdict = g->obs->on_token(g->obs->user, &ev);
    }
    t->evaluated++;
    if (verdict == DC_OBSERVE_STOP || verdict == DC_OBSERVE_CANCEL) {
        t->abort = verdict == DC_OBSERVE_STOP ? OAI_STOPPED : OAI_CANCELLED;
        if (verdict == DC_OBSERVE_CANCEL)
            g->cancel_all = 1;
        token_free(k);
        return;
    }
    if (!grow((void **)&t->hashes, &t->cap_hashes, t->delivered + 1, sizeof *t->hashes) ||
        (g->gp->keep_tokens &&
         !grow((void **)&t->toks, &t->cap_toks, t->delivered + 1, sizeof *t->toks)) ||
        dc_buf_puts(&t->text, k->text ? k->text : "") != DC_STATUS_OK) {
        attempt_fail(t, DC_STATUS_NOMEM, 0, "%s: out of memory", name);
        token_free(k);
        return;
    }
    t->hashes[t->delivered] = text_hash(k->text);
    if (g->gp->keep_tokens)
        t->toks[t->delivered] = *k;
    else
        token_free(k);
    t->delivered++;
}

/* One reply object (an event, or a whole body). */
static void take_object(oai_trace *t, const char *data, size_t len, const char *what)
{
    oai_gen *g = t->g;
    oai_chunk c;
    dc_error e = {0};
    char name[384];
    dc_status st = oai_chunk_parse(data, len, &g->lim, &c, &e);
    if (st != DC_STATUS_OK) {
        trace_name(g, t, name, sizeof name);
        attempt_fail(t, st == DC_STATUS_LIMIT || st == DC_STATUS_NOMEM ? st : DC_STATUS_PROTOCOL, 0,
                     "%s: %s: %s", name, what, e.msg);
    } else if (c.is_error) {
        trace_name(g, t, name, sizeof name);
        attempt_fail(t, DC_STATUS_HTTP, 0, "%s: the server reported an error in its reply: %s",
                     name, c.error_msg);
    } else {
        if (c.prompt_tokens >= 0)
            t->prompt_tokens = c.prompt_tokens;
        if (c.has_text)
            t->saw_text = 1;
        for (size_t j = 0; j < c.tokens.n_tokens; j++) {
            dc_token k = c.tokens.tokens[j];
            memset(&c.tokens.tokens[j], 0, sizeof k);
            if (t->abort == OAI_GO_ON)
                take_token(t, &k, c.legacy_dict);
            else
                token_free(&k);
        }
        if (c.finish_reason[0] && t->abort == OAI_GO_ON)
            snprintf(t->finish, sizeof t->finish, "%s", c.finish_reason);
    }
    oai_chunk_clear(&c);
}

static int on_event(void *user, const char *data, size_t len)
{
    oai_trace *t = user;
    char what[48];
    snprintf(what, sizeof what, "event %zu", ++t->events);
    take_object(t, data, len, what);
    return t->abort != OAI_GO_ON;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    oai_trace *t = user;
    (void)p;
    t->got_byte = 1;
    t->t_last = dc_now_seconds();
    return size * n;
}

static void classify_reply(oai_trace *t)
{
    char *ctype = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->http_code);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
    if (ctype)
        t->is_sse = strncmp(ctype, "text/event-stream", 17) == 0;
    else
        t->is_sse = t->g->b->p.stream;
    t->reply_known = 1;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    oai_trace *t = user;
    oai_backend *b = t->g->b;
    size_t n = size * nmemb;
    t->got_byte = 1;
    t->t_last = dc_now_seconds();
    if (t->abort != OAI_GO_ON)
        return 0;
    if (!t->reply_known)
        classify_reply(t);
    t->bytes += n;
    b->stats.bytes_received += n;
    if (t->http_code != 200) {
        size_t room = OAI_ERROR_BODY_MAX > t->resp.len ? OAI_ERROR_BODY_MAX - t->resp.len : 0;
        dc_buf_append(&t->resp, p, n < room ? n : room);
        return n;
    }
    if (t->bytes > b->p.max_response_bytes) {
        char name[384];
        trace_name(t->g, t, name, sizeof name);
        attempt_fail(t, DC_STATUS_LIMIT, 0,
                     "%s: the reply is larger than %zu bytes "
                     "(max_response_bytes)",
                     name, b->p.max_response_bytes);
        return 0;
    }
    if (t->is_sse) {
        dc_error e = {0};
        if (oai_sse_feed(&t->sse, p, n, on_event, t, &e) != DC_STATUS_OK) {
            char name[384];
            trace_name(t->g, t, name, sizeof name);
            attempt_fail(t, e.status, 0, "%s: %s (max_line_bytes)", name, e.msg);
        }
    } else if (dc_buf_append(&t->resp, p, n) != DC_STATUS_OK) {
        char name[384];
        trace_name(t->g, t, name, sizeof name);
        attempt_fail(t, DC_STATUS_NOMEM, 0, "%s: out of memory", name);
    }
    return t->abort != OAI_GO_ON ? 0 : n;
}

/* ---- endpoints and requests ---- */

static size_t pick_endpoint(oai_backend *b, const oai_trace *t)
{
    size_t best = SIZE_MAX;
    for (size_t j = 0; j < b->n_eps; j++) {
        size_t e = (b->rr + j) % b->n_eps;
        if (b->n_eps > 1 && t->attempts > 0 && e == t->ep)
            continue; /* a retry goes elsewhere when it can */
        if (best == SIZE_MAX || b->eps[e].in_flight < b->eps[best].in_flight)
            best = e;
    }
    b->rr = (b->rr + 1) % b->n_eps;
    return best;
}

static void attempt_reset(oai_trace *t)
{
    dc_buf_reset(&t->resp);
    oai_sse_reset(&t->sse);
    t->curl_err[0] = '\0';
    t->reply_known = t->is_sse = 0;
    t->http_code = 0;
    t->got_byte = 0;
    t->bytes = 0;
    t->seen = 0;
    t->events = 0;
    t->saw_text = 0;
    t->finish[0] = '\0';
    t->abort = OAI_GO_ON;
    t->fail_st = DC_STATUS_OK;
    t->fail_retry = 0;
    t->fail_msg[0] = '\0';
}

static dc_status start_attempt(oai_gen *g, oai_trace *t, dc_error *err)
{
    oai_backend *b = g->b;
    attempt_reset(t);
    t->ep = pick_endpoint(b, t);
    t->attempts++;
    CURL *e = curl_easy_init();
    if (!e)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory (curl_easy_init)");
    const dc_openai_params *p = &b->p;
    curl_easy_setopt(e, CURLOPT_URL, b->eps[t->ep].url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (p->connect_timeout_s > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(p->connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p->tls_verify ? 2L : 0L);
    if (curl_multi_add_handle(b->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return dc_error_set(err, DC_STATUS_NETWORK, "curl_multi_add_handle failed");
    }
    t->easy = e;
    t->state = OAI_RUNNING;
    t->t_start = t->t_last = dc_now_seconds();
    b->eps[t->ep].in_flight++;
    b->stats.requests++;
    b->stats.per_endpoint[t->ep]++;
    if (t->attempts > 1)
        b->stats.retries++;
    return DC_STATUS_OK;
}

static void detach(oai_gen *g, oai_trace *t)
{
    if (!t->easy)
        return;
    curl_multi_remove_handle(g->b->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    g->b->eps[t->ep].in_flight--;
}

/* ---- ending traces ---- */

static void trace_finish(oai_gen *g, oai_trace *t, dc_stop_reason stop, dc_status error,
                         const char *msg)
{
    oai_backend *b = g->b;
    detach(g, t);
    t->state = OAI_DONE;
    g->n_done++;
    t->stop = stop;
    t->error = error;
    if (stop == DC_STOP_ERROR) {
        b->stats.failed_traces++;
        snprintf(g->errs[t->i], DC_ERROR_MSG_MAX, "%s", msg ? msg : dc_strerror(error));
        oai_redact(g->errs[t->i], b->api_key);
    }
    dc_gen_trace *o = &g->out->traces[t->i];
    o->index = g->gp->first_trace + t->i;
    o->seed = t->seed;
    o->stop = stop;
    o->error = error;
    if (stop == DC_STOP_ERROR && !o->error_msg)
        o->error_msg = dc_strdup(g->errs[t->i]); /* NULL on NOMEM: the status remains */
    o->n_generated = t->delivered;
    o->n_evaluated = t->evaluated;
    char id[320];
    snprintf(id, sizeof id, "%s#%llu", g->gp->instance_id ? g->gp->instance_id : "",
             (unsigned long long)o->index);
    o->trace.id = dc_strdup(id);
    o->trace.text = dc_strndup(t->text.data ? t->text.data : "", t->text.len);
    o->trace.finish_reason = dc_strdup(dc_stop_reason_name(stop));
    if (g->gp->keep_tokens) {
        o->trace.tokens = t->toks;
        o->trace.n_tokens = t->delivered;
        t->toks = NULL;
        t->cap_toks = 0;
    }
    g->out->gen_tokens += t->evaluated;
    if (g->out->prompt_tokens == 0 && t->prompt_tokens > 0)
        g->out->prompt_tokens = (size_t)t->prompt_tokens;
    if (g->obs->on_trace_end && g->obs->on_trace_end(g->obs->user, o) == DC_OBSERVE_CANCEL)
        g->cancel_all = 1;
}

static double backoff_s(oai_backend *b, unsigned retry, long retry_after)
{
    double d = b->p.backoff_initial_s * ldexp(1.0, (int)(retry > 30 ? 30 : retry) - 1);
    if (d > b->p.backoff_max_s)
        d = b->p.backoff_max_s;
    double u = (double)(rng_next(&b->rng) >> 11) * 0x1.0p-53;
    d *= 0.5 + 0.5 * u;
    if (retry_after > 0) {
        double ra = (double)retry_after;
        if (ra > b->p.retry_after_max_s)
            ra = b->p.retry_after_max_s;
        if (ra > d)
            d = ra;
    }
    return d;
}

/* The attempt failed: retry it later, or end the trace. */
static void attempt_failed(oai_gen *g, oai_trace *t, long retry_after)
{
    oai_backend *b = g->b;
    int can_retry =
        t->fail_retry && t->attempts <= b->p.max_retries && !g->cancel_all && !b->cancel;
    if (t->easy)
        b->stats.aborted++;
    detach(g, t);
    if (!can_retry) {
        char msg[DC_ERROR_MSG_MAX];
        if (t->fail_retry && t->attempts > b->p.max_retries)
            snprintf(msg, sizeof msg, "%.440s (gave up after %u attempts)", t->fail_msg,
                     t->attempts);
        else
            snprintf(msg, sizeof msg, "%s", t->fail_msg);
        trace_finish(g, t, DC_STOP_ERROR, t->fail_st, msg);
        return;
    }
    t->state = OAI_WAITING;
    t->not_before = dc_now_seconds() + backoff_s(b, t->attempts, retry_after);
}

static int retryable_http(long code, const char *body)
{
    if (code == 500 && body && strstr(body, "does not match the expected"))
        return 0; /* llama-server's output-format check: the same seed fails again */
    return code == 429 || code == 500 || code == 502 || code == 503 || code == 504;
}

static int retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return 1;
    default: return 0;
    }
}

/* The message of an HTTP error's body: its JSON error message, else the text. */
static void http_error_text(const dc_buf *body, char *out, size_t size)
{
    const char *d = body->data ? body->data : "";
    oai_chunk c;
    dc_error e = {0};
    memset(&c, 0, sizeof c);
    if (body->len && oai_chunk_parse(d, body->len, NULL, &c, &e) == DC_STATUS_OK && c.is_error)
        copy_str(out, size, c.error_msg);
    else
        snprintf(out, size, "%.300s", body->len ? d : "(empty body)");
    oai_chunk_clear(&c);
}

/* curl says the transfer is over. */
static void attempt_done(oai_gen *g, oai_trace *t, CURLcode rc)
{
    oai_backend *b = g->b;
    char name[384];
    long retry_after = 0;
    if (!t->reply_known && t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->http_code);
    curl_off_t ra = 0;
    if (t->easy && curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        retry_after = (long)ra;
    if (t->abort == OAI_STOPPED || t->abort == OAI_CANCELLED) {
        b->stats.aborted++;
        trace_finish(g, t, t->abort == OAI_STOPPED ? DC_STOP_CONFIDENCE : DC_STOP_CANCELLED,
                     DC_STATUS_OK, NULL);
        return;
    }
    trace_name(g, t, name, sizeof name);
    if (t->abort == OAI_GO_ON && t->http_code != 0 && t->http_code != 200 &&
        (rc == CURLE_OK || rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR)) {
        char text[360];
        http_error_text(&t->resp, text, sizeof text);
        attempt_fail(t, DC_STATUS_HTTP, retryable_http(t->http_code, t->resp.data),
                     "%s: HTTP %ld: %s", name, t->http_code, text);
    } else if (t->abort == OAI_GO_ON && rc != CURLE_OK) {
        attempt_fail(t, rc == CURLE_OPERATION_TIMEDOUT ? DC_STATUS_TIMEOUT : DC_STATUS_NETWORK,
                     retryable_curl(rc), "%s: %s%s%s (after %zu tokens)", name,
                     curl_easy_strerror(rc), t->curl_err[0] ? ": " : "", t->curl_err, t->seen);
    } else if (t->abort == OAI_GO_ON) {
        if (t->is_sse)
            oai_sse_finish(&t->sse, on_event, t);
        else
            take_object(t, t->resp.data ? t->resp.data : "", t->resp.len, "the reply");
    }
    if (t->abort == OAI_STOPPED || t->abort == OAI_CANCELLED) {
        attempt_done(g, t, CURLE_OK);
        return;
    }
    if (t->abort == OAI_GO_ON && !t->finish[0])
        attempt_fail(t, DC_STATUS_NETWORK, 1,
                     "%s: the reply ended before its finish_reason (connection dropped after "
                     "%zu tokens)",
                     name, t->seen);
    if (t->abort == OAI_GO_ON && t->delivered == 0 && t->saw_text && g->gp->max_tokens > 0)
        attempt_fail(t, DC_STATUS_PROTOCOL, 0,
                     "%s: the server sent text without logprobs; it must support \"logprobs\" "
                     "(chat: \"logprobs\": true, \"top_logprobs\": k; completions: "
                     "\"logprobs\": k)",
                     name);
    if (t->abort == OAI_FAILED) {
        attempt_failed(g, t, retry_after);
        return;
    }
    trace_finish(g, t, strcmp(t->finish, "length") == 0 ? DC_STOP_LENGTH : DC_STOP_EOS,
                 DC_STATUS_OK, NULL);
}

/* ---- the loop ---- */

static void check_timeouts(oai_gen *g, oai_trace *t, double now)
{
    const dc_openai_params *p = &g->b->p;
    char name[384];
    if (t->state != OAI_RUNNING)
        return;
    const char *what = NULL;
    double limit = 0;
    if (p->total_timeout_s > 0 && now - t->t_start > p->total_timeout_s) {
        what = "the request took longer than total_timeout_s";
        limit = p->total_timeout_s;
    } else if (!t->got_byte && p->stream && p->first_byte_timeout_s > 0 &&
               now - t->t_start > p->first_byte_timeout_s) {
        what = "no reply within first_byte_timeout_s";
        limit = p->first_byte_timeout_s;
    } else if (t->got_byte && p->idle_timeout_s > 0 && now - t->t_last > p->idle_timeout_s) {
        what = "no data within idle_timeout_s";
        limit = p->idle_timeout_s;
    }
    if (!what)
        return;
    trace_name(g, t, name, sizeof name);
    attempt_fail(t, DC_STATUS_TIMEOUT, 1, "%s: %s = %g s (after %zu tokens)", name, what, limit,
                 t->seen);
    attempt_failed(g, t, 0);
}

static void cancel_everything(oai_gen *g)
{
    for (size_t i = 0; i < g->n; i++) {
        oai_trace *t = &g->tr[i];
        if (t->state == OAI_DONE)
            continue;
        if (t->easy)
            g->b->stats.aborted++;
        trace_finish(g, t, DC_STOP_CANCELLED, DC_STATUS_OK, NULL);
    }
}

static int failures_exceeded(const oai_backend *b)
{
    return b->p.max_failures != SIZE_MAX && b->stats.failed_traces > b->p.max_failures;
}

/* ---- the scheduler: the requests of a stream share the window ---- */

typedef struct oai_sched {
    oai_backend *b;
    const dc_gen_stream *feed;
    dc_error *err;
    oai_gen **act; /* taken, not yet handed over, in stream order */
    size_t n_act, cap_act;
    size_t n_taken;
    size_t limit;  /* requests in flight at most */
    int feed_over; /* next() failed, or everything was cancelled */
    dc_status failed;
} oai_sched;

static void gen_free(oai_gen *g);
static dc_status gen_open(oai_backend *b, const dc_gen_request *req, oai_gen **out, dc_error *err);

/* Starts g's waiting traces while the window has room. */
static dc_status start_waiting(oai_sched *S, oai_gen *g, size_t *running, double now,
                               double *next_start)
{
    oai_backend *b = S->b;
    oai_req_spec spec = spec_of(b);
    for (size_t i = 0; i < g->n && *running < S->limit; i++) {
        oai_trace *t = &g->tr[i];
        if (t->state != OAI_WAITING)
            continue;
        if (failures_exceeded(b)) {
            char msg[DC_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "not sent: %llu traces failed, more than max_failures = %zu",
                     (unsigned long long)b->stats.failed_traces, b->p.max_failures);
            trace_finish(g, t, DC_STOP_ERROR, DC_STATUS_LIMIT, msg);
            continue;
        }
        if (t->not_before > now) {
            if (t->not_before < *next_start)
                *next_start = t->not_before;
            continue;
        }
        dc_error e = {0};
        dc_status st = DC_STATUS_OK;
        if (t->attempts == 0)
            st = oai_request_body(&spec, g->prompt, g->gp, t->seed, &t->req, &e);
        if (st == DC_STATUS_OK)
            st = start_attempt(g, t, &e);
        if (st != DC_STATUS_OK) {
            if (st == DC_STATUS_NOMEM)
                return dc_error_set(S->err, st, "%s", e.msg);
            trace_finish(g, t, DC_STOP_ERROR, st, e.msg);
            continue;
        }
        (*running)++;
    }
    return DC_STATUS_OK;
}

/* Takes the stream's next request into the window. 1: taken; 0: none
 * now; -1: the stream stops (S->failed). */
static int admit(oai_sched *S)
{
    oai_backend *b = S->b;
    dc_gen_request req;
    int got = S->feed->next(S->feed->user, &req, S->err);
    if (got == 0)
        return 0;
    dc_status st = DC_STATUS_OK;
    if (got < 0)
        st = S->err && S->err->status != DC_STATUS_OK ? S->err->status : DC_STATUS_INVALID_ARG;
    else if (failures_exceeded(b))
        st = dc_error_set(S->err, DC_STATUS_LIMIT,
                          "%llu traces failed, more than max_failures = %zu; nothing sent",
                          (unsigned long long)b->stats.failed_traces, b->p.max_failures);
    if (st == DC_STATUS_OK && S->n_act == S->cap_act) {
        size_t cap = S->cap_act * 2 + 8;
        oai_gen **a = dc_reallocarray(S->act, cap, sizeof *a);
        if (a) {
            S->act = a;
            S->cap_act = cap;
        } else {
            st = dc_error_set(S->err, DC_STATUS_NOMEM, "out of memory");
        }
    }
    oai_gen *g = NULL;
    if (st == DC_STATUS_OK)
        st = gen_open(b, &req, &g, S->err);
    if (st != DC_STATUS_OK) {
        S->feed_over = 1;
        S->failed = st;
        return -1;
    }
    g->seq = S->n_taken++;
    S->act[S->n_act++] = g;
    return 1;
}

/* Hands every request whose traces have all ended to done(), in the
 * order they finished. Returns how many. */
static size_t hand_over_done(oai_sched *S)
{
    oai_backend *b = S->b;
    size_t handed = 0;
    for (size_t k = 0; k < S->n_act;) {
        oai_gen *g = S->act[k];
        if (g->n_done < g->n) {
            k++;
            continue;
        }
        memmove(&S->act[k], &S->act[k + 1], (S->n_act - k - 1) * sizeof *S->act);
        S->n_act--;
        g->res.gen_seconds = dc_now_seconds() - g->t0;
        /* the last request's errors stay readable (dc_backend_openai_trace_error) */
        dc_free(b->trace_err);
        b->trace_err = g->errs;
        b->n_trace_err = g->n;
        g->errs = NULL;
        dc_gen_result res = g->res;
        memset(&g->res, 0, sizeof g->res);
        size_t seq = g->seq;
        gen_free(g);
        dc_free(g);
        handed++;
        if (S->feed->done(S->feed->user, seq, &res) == DC_OBSERVE_CANCEL)
            b->cancel = 1;
    }
    return handed;
}

static dc_status sched_loop(oai_sched *S)
{
    oai_backend *b = S->b;
    for (;;) {
        int cancel = b->cancel != 0;
        for (size_t k = 0; k < S->n_act; k++)
            cancel |= S->act[k]->cancel_all;
        if (cancel) {
            /* an observer's or done()'s cancel, or dc_backend_cancel: every
               request ends, and none is taken after */
            S->feed_over = 1;
            for (size_t k = 0; k < S->n_act; k++)
                cancel_everything(S->act[k]);
            hand_over_done(S);
            return DC_STATUS_OK;
        }
        double now = dc_now_seconds();
        size_t running = 0;
        double next_start = INFINITY;
        for (size_t k = 0; k < S->n_act; k++)
            for (size_t i = 0; i < S->act[k]->n; i++)
                running += S->act[k]->tr[i].state == OAI_RUNNING;
        dc_status st = DC_STATUS_OK;
        for (size_t k = 0; k < S->n_act && running < S->limit && st == DC_STATUS_OK; k++)
            st = start_waiting(S, S->act[k], &running, now, &next_start);
        /* room left: the next requests of the stream fill it */
        while (st == DC_STATUS_OK && running < S->limit && !S->feed_over && admit(S) == 1)
            st = start_waiting(S, S->act[S->n_act - 1], &running, now, &next_start);
        if (st != DC_STATUS_OK)
            return st;
        if (hand_over_done(S)) /* requests none of whose traces could start */
            continue;
        if (S->n_act == 0)
            return S->failed; /* next() has nothing, and nothing runs */
        int still = 0;
        curl_multi_perform(b->multi, &still);
        CURLMsg *m;
        int queued;
        while ((m = curl_multi_info_read(b->multi, &queued))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            oai_trace *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode rc = m->data.result;
            if (t && t->state == OAI_RUNNING)
                attempt_done(t->g, t, rc);
        }
        now = dc_now_seconds();
        for (size_t k = 0; k < S->n_act; k++)
            for (size_t i = 0; i < S->act[k]->n; i++)
                check_timeouts(S->act[k], &S->act[k]->tr[i], now);
        if (hand_over_done(S) || b->cancel)
            continue;
        int wait_ms = OAI_POLL_MS;
        if (next_start < INFINITY) {
            double d = (next_start - now) * 1000;
            if (d < wait_ms)
                wait_ms = d > 0 ? (int)ceil(d) : 0;
        }
        if (still > 0 || wait_ms > 0)
            curl_multi_poll(b->multi, NULL, 0, wait_ms, NULL);
    }
}

static dc_status sched_run(oai_backend *b, const dc_gen_stream *feed, dc_error *err)
{
    oai_sched S;
    memset(&S, 0, sizeof S);
    S.b = b;
    S.feed = feed;
    S.err = err;
    S.limit = b->p.concurrency;
    if (feed->parallel && feed->parallel < S.limit)
        S.limit = feed->parallel;
    b->cancel = 0;
    dc_status st = sched_loop(&S);
    /* an error left requests behind: they end cancelled, unreported */
    for (size_t k = 0; k < S.n_act; k++) {
        cancel_everything(S.act[k]);
        dc_gen_result_clear(&S.act[k]->res);
        gen_free(S.act[k]);
        dc_free(S.act[k]);
    }
    dc_free(S.act);
    return st;
}

/* ---- the vtable ---- */

static void oai_describe(const void *impl, dc_model_info *out)
{
    const oai_backend *b = impl;
    snprintf(out->backend, sizeof out->backend, "openai");
    snprintf(out->name, sizeof out->name, "%s", b->model ? b->model : "");
    snprintf(out->desc, sizeof out->desc, "%zu endpoint%s, %s API%s", b->n_eps,
             b->n_eps == 1 ? "" : "s", dc_openai_api_name(b->p.api),
             b->p.stream ? ", streaming" : "");
    out->eos = -1;
}

static dc_status oai_format_chat(void *impl, const dc_chat *chat, char **text, dc_error *err)
{
    oai_backend *b = impl;
    if (b->p.api == DC_OPENAI_API_CHAT)
        return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                            "the openai backend's chat endpoint applies the chat template on "
                            "the server");
    *text = oai_format_qwen3(chat->system, chat->user, chat->enable_thinking);
    return *text ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

static void gen_free(oai_gen *g)
{
    for (size_t i = 0; i < g->n; i++) {
        oai_trace *t = &g->tr[i];
        detach(g, t);
        dc_buf_free(&t->req);
        dc_buf_free(&t->resp);
        dc_buf_free(&t->text);
        oai_sse_free(&t->sse);
        dc_free(t->hashes);
        if (t->toks) {
            dc_trace tmp = {0};
            tmp.tokens = t->toks;
            tmp.n_tokens = t->delivered;
            dc_trace_clear(&tmp);
        }
    }
    dc_free(g->tr);
    dc_free(g->errs);
    g->tr = NULL;
    g->errs = NULL;
    g->n = 0;
}

static dc_status check_gen(const oai_backend *b, const dc_gen_params *gp, dc_error *err)
{
    if (gp->max_tokens > b->p.max_tokens_cap)
        return dc_error_set(err, DC_STATUS_LIMIT, "max_tokens %zu is over max_tokens_cap %zu",
                            gp->max_tokens, b->p.max_tokens_cap);
    if (gp->top_logprobs > b->p.max_top_logprobs)
        return dc_error_set(err, DC_STATUS_LIMIT, "top_logprobs %zu is over max_top_logprobs %zu",
                            gp->top_logprobs, b->p.max_top_logprobs);
    return DC_STATUS_OK;
}

/* A request's traces, ready to start. */
static dc_status gen_open(oai_backend *b, const dc_gen_request *req, oai_gen **out, dc_error *err)
{
    *out = NULL;
    const dc_gen_params *gp = &req->params;
    dc_status st = check_gen(b, gp, err);
    if (st != DC_STATUS_OK)
        return st;
    oai_req_spec spec = spec_of(b);
    dc_buf probe;
    dc_buf_init(&probe, 0);
    st = oai_request_body(&spec, &req->prompt, gp, 0, &probe, err);
    dc_buf_free(&probe);
    if (st != DC_STATUS_OK)
        return st;
    oai_gen *g = dc_calloc(1, sizeof *g);
    if (!g)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    g->b = b;
    g->prompt_copy = req->prompt;
    g->gp_copy = *gp;
    g->obs_copy = req->obs;
    g->prompt = &g->prompt_copy;
    g->gp = &g->gp_copy;
    g->obs = &g->obs_copy;
    g->out = &g->res;
    g->n = gp->n_traces;
    g->lim = dc_trace_default_limits();
    g->lim.max_tokens = gp->max_tokens + 1; /* a whole reply may not exceed it either */
    g->lim.max_top = b->p.max_top_logprobs + 1;
    g->errs = dc_calloc(g->n, sizeof *g->errs);
    g->tr = dc_calloc(g->n, sizeof *g->tr);
    g->res.traces = dc_calloc(g->n, sizeof *g->res.traces);
    if (!g->errs || !g->tr || !g->res.traces) {
        dc_free(g->res.traces);
        gen_free(g);
        dc_free(g);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    g->res.n_traces = g->n;
    for (size_t i = 0; i < g->n; i++) {
        oai_trace *t = &g->tr[i];
        t->g = g;
        t->i = i;
        t->seed = dc_trace_seed(gp->seed, gp->instance_id, gp->first_trace + i);
        t->prompt_tokens = -1;
        dc_buf_init(&t->req, 0);
        dc_buf_init(&t->resp, b->p.max_response_bytes);
        dc_buf_init(&t->text, 0);
        oai_sse_init(&t->sse, b->p.max_line_bytes);
    }
    g->t0 = dc_now_seconds();
    *out = g;
    return DC_STATUS_OK;
}

static dc_status oai_generate_stream(void *impl, const dc_gen_stream *stream, dc_error *err)
{
    return sched_run(impl, stream, err);
}

/* One prompt: a stream of one request; err says why the first failed
 * trace failed. */
static dc_status oai_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *gp,
                              const dc_observer *obs, dc_gen_result *out, dc_error *err)
{
    oai_backend *b = impl;
    dc_status st = dc_backend_generate_as_stream(oai_generate_stream, impl, prompt, gp, obs,
                                                 gp->parallel, out, err);
    if (st != DC_STATUS_OK)
        return st;
    for (size_t i = 0; i < out->n_traces && b->trace_err; i++) {
        if (out->traces[i].stop == DC_STOP_ERROR) {
            dc_error_set(err, out->traces[i].error, "%s", b->trace_err[i]);
            break;
        }
    }
    return DC_STATUS_OK;
}

static void oai_cancel(void *impl)
{
    ((oai_backend *)impl)->cancel = 1;
}

static void oai_free(void *impl)
{
    oai_backend *b = impl;
    if (!b)
        return;
    if (b->multi)
        curl_multi_cleanup(b->multi);
    for (struct curl_slist *h = b->headers; h; h = h->next)
        wipe(h->data);
    curl_slist_free_all(b->headers);
    wipe(b->api_key);
    wipe(b->auth_header);
    dc_free(b->api_key);
    dc_free(b->auth_header);
    for (size_t i = 0; i < b->n_eps; i++) {
        dc_free(b->eps[i].base);
        dc_free(b->eps[i].url);
    }
    dc_free(b->eps);
    dc_free(b->model);
    dc_free(b->trace_err);
    dc_free(b);
}

static const dc_backend_vtable oai_vtable = {
    "openai",     oai_describe, oai_format_chat, NULL,
    oai_generate, oai_cancel,   oai_free,        oai_generate_stream,
};

/* ---- opening ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_collect(char *p, size_t size, size_t n, void *user)
{
    return dc_buf_append(user, p, size * n) == DC_STATUS_OK ? size * n : 0;
}

/* GET {base}/models of the first endpoint: the first model's id. */
static dc_status fetch_model(oai_backend *b, dc_error *err)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/models", b->eps[0].base);
    CURL *e = curl_easy_init();
    if (!e)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory (curl_easy_init)");
    dc_buf body;
    dc_buf_init(&body, (size_t)1 << 20);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, b->p.tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, b->p.tls_verify ? 2L : 0L);
    if (b->p.connect_timeout_s > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(b->p.connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    dc_status st = DC_STATUS_OK;
    if (rc != CURLE_OK) {
        st = dc_error_set(err,
                          rc == CURLE_OPERATION_TIMEDOUT ? DC_STATUS_TIMEOUT : DC_STATUS_NETWORK,
                          "GET %s (asking for the model; set it to skip this): %s%s%s", url,
                          curl_easy_strerror(rc), cerr[0] ? ": " : "", cerr);
    } else if (code != 200) {
        char text[360];
        http_error_text(&body, text, sizeof text);
        st = dc_error_set(err, DC_STATUS_HTTP, "GET %s: HTTP %ld: %s", url, code, text);
    } else {
        json_t *root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        json_t *id = json_object_get(json_array_get(json_object_get(root, "data"), 0), "id");
        if (json_is_string(id))
            b->model = dc_strdup(json_string_value(id));
        if (!json_is_string(id))
            st = dc_error_set(err, DC_STATUS_PROTOCOL,
                              "GET %s: expected {\"data\": [{\"id\": MODEL}, ...]}", url);
        else if (!b->model)
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        json_decref(root);
    }
    dc_buf_free(&body);
    if (st != DC_STATUS_OK)
        oai_redact(err ? err->msg : NULL, b->api_key);
    return st;
}

static dc_status check_params(const dc_openai_params *p, dc_error *err)
{
    if (!p->endpoints || p->n_endpoints == 0)
        return dc_error_set(err, DC_STATUS_CONFIG, "openai backend: no endpoint given");
    if (p->n_endpoints > DC_OPENAI_MAX_ENDPOINTS)
        return dc_error_set(err, DC_STATUS_CONFIG, "openai backend: %zu endpoints, at most %d",
                            p->n_endpoints, DC_OPENAI_MAX_ENDPOINTS);
    if (p->api != DC_OPENAI_API_CHAT && p->api != DC_OPENAI_API_COMPLETIONS)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "openai backend: unknown api %d",
                            (int)p->api);
    if (p->concurrency == 0 || p->concurrency > 4096)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "openai backend: concurrency must be 1..4096");
    if (!(p->connect_timeout_s >= 0) || !(p->first_byte_timeout_s >= 0) ||
        !(p->idle_timeout_s >= 0) || !(p->total_timeout_s >= 0) || !(p->backoff_initial_s >= 0) ||
        !(p->backoff_max_s >= 0) || !(p->retry_after_max_s >= 0) || p->connect_timeout_s > 1e6 ||
        p->total_timeout_s > 1e7)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "openai backend: timeouts and backoffs must be >= 0 seconds");
    if (p->max_retries > 100)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "openai backend: max_retries > 100");
    if (p->max_response_bytes < 1024 || p->max_line_bytes < 1024)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "openai backend: max_response_bytes and max_line_bytes must be "
                            ">= 1024");
    return DC_STATUS_OK;
}

dc_status dc_backend_openai_open(const dc_openai_params *params, dc_backend **out, dc_error *err)
{
    *out = NULL;
    dc_openai_params p = params ? *params : dc_backend_openai_default_params();
    dc_status st = check_params(&p, err);
    if (st != DC_STATUS_OK)
        return st;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return dc_error_set(err, DC_STATUS_NETWORK, "curl_global_init: %s",
                            curl_easy_strerror(curl_init_rc));
    oai_backend *b = dc_calloc(1, sizeof *b);
    if (!b)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    b->p = p;
    b->p.endpoints = NULL;
    b->p.model = NULL;
    b->p.api_key_env = NULL;
    b->rng = p.jitter_seed;
    b->eps = dc_calloc(p.n_endpoints, sizeof *b->eps);
    if (!b->eps) {
        oai_free(b);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    int need_tls_check = 0;
    char remote_plain[256] = "";
    for (size_t i = 0; i < p.n_endpoints; i++) {
        int loopback = 0, https = 0;
        st = oai_endpoint_parse(p.endpoints[i], &b->eps[i].base, &loopback, &https, err);
        if (st != DC_STATUS_OK) {
            oai_free(b);
            return st;
        }
        b->n_eps = i + 1;
        size_t n = strlen(b->eps[i].base) + 32;
        b->eps[i].url = dc_malloc(n);
        if (!b->eps[i].url) {
            oai_free(b);
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        }
        snprintf(b->eps[i].url, n, "%s/%s", b->eps[i].base,
                 p.api == DC_OPENAI_API_CHAT ? "chat/completions" : "completions");
        if (!https && !loopback && !remote_plain[0]) {
            need_tls_check = 1;
            snprintf(remote_plain, sizeof remote_plain, "%s", b->eps[i].base);
        }
    }
    const char *key = p.api_key_env && *p.api_key_env ? getenv(p.api_key_env) : NULL;
    if (key && *key) {
        if (need_tls_check && !p.allow_insecure) {
            oai_free(b);
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "endpoint %.200s is plain http to a host that is not loopback: "
                                "the API key from $%.64s would travel unencrypted; use https, "
                                "or allow it explicitly (--allow-insecure, config key "
                                "model.allow_insecure)",
                                remote_plain, p.api_key_env);
        }
        size_t n = strlen(key) + 32;
        b->api_key = dc_strdup(key);
        b->auth_header = dc_malloc(n);
        if (!b->api_key || !b->auth_header) {
            oai_free(b);
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        }
        snprintf(b->auth_header, n, "Authorization: Bearer %s", key);
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h)
        b->headers = h;
    h = h ? curl_slist_append(b->headers, "Accept: application/json, text/event-stream") : NULL;
    /* curl adds "Expect: 100-continue" to large POSTs; servers answer faster without. */
    h = h ? curl_slist_append(b->headers, "Expect:") : NULL;
    if (h && b->auth_header)
        h = curl_slist_append(b->headers, b->auth_header);
    b->multi = h ? curl_multi_init() : NULL;
    if (!h || !b->multi) {
        oai_free(b);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)(p.concurrency + p.n_endpoints));
    if (p.model) {
        b->model = dc_strdup(p.model);
        if (!b->model) {
            oai_free(b);
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        }
    } else if ((st = fetch_model(b, err)) != DC_STATUS_OK) {
        oai_free(b);
        return st;
    }
    return dc_backend_wrap(&oai_vtable, b, out);
}

/* ---- extensions ---- */

static const oai_backend *as_openai(const dc_backend *b)
{
    if (!b || strcmp(dc_backend_name(b), "openai") != 0)
        return NULL;
    return dc_backend_impl((dc_backend *)b);
}

const char *dc_backend_openai_trace_error(const dc_backend *b, size_t trace)
{
    const oai_backend *o = as_openai(b);
    if (!o || trace >= o->n_trace_err)
        return "";
    return o->trace_err[trace];
}

void dc_backend_openai_stats(const dc_backend *b, dc_openai_stats *out)
{
    const oai_backend *o = as_openai(b);
    if (o)
        *out = o->stats;
    else
        memset(out, 0, sizeof *out);
}

dc_status dc_backend_openai_request_body(dc_backend *b, const dc_prompt *prompt,
                                         const dc_gen_params *params, size_t trace, char **body,
                                         dc_error *err)
{
    *body = NULL;
    const oai_backend *o = as_openai(b);
    if (!o)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "not an openai backend");
    dc_gen_params gp = params ? *params : dc_gen_default_params();
    dc_status st = check_gen(o, &gp, err);
    if (st != DC_STATUS_OK)
        return st;
    if (!prompt || (prompt->chat != NULL) + (prompt->text != NULL) + (prompt->tokens != NULL) != 1)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "exactly one of chat, text, tokens must be set");
    oai_req_spec spec = spec_of(o);
    dc_buf buf;
    dc_buf_init(&buf, 0);
    uint64_t seed = dc_trace_seed(gp.seed, gp.instance_id, gp.first_trace + trace);
    st = oai_request_body(&spec, prompt, &gp, seed, &buf, err);
    if (st == DC_STATUS_OK)
        *body = dc_buf_take(&buf);
    dc_buf_free(&buf);
    return st;
}
