/* test_openai_faults.c - the openai backend against the fault-injection
 * server on 127.0.0.1: recorded replies end to end, retries, timeouts,
 * bad replies, early stop, cancel, max failures, the key. */
#include "test_common.h"

#include <time.h>

#include "deepconf/dc_backend_openai.h"
#include "support/fault_server.h"

static fault_server *srv;

/* ---- helpers ---- */

#define MAX_EV 4096

typedef struct seen {
    size_t n;
    size_t trace[MAX_EV];
    size_t pos[MAX_EV];
    char text[MAX_EV][16];
    double lp[MAX_EV];
    double top0[MAX_EV];
    size_t n_top[MAX_EV];
    int rank[MAX_EV];
    size_t ends;
    /* what to answer */
    size_t stop_at;             /* STOP when pos == stop_at (SIZE_MAX: never) */
    size_t cancel_at;           /* CANCEL when pos == cancel_at */
    dc_backend *cancel_backend; /* dc_backend_cancel(b) at cancel_at instead */
} seen;

static dc_observe on_token(void *user, const dc_token_event *ev)
{
    seen *s = user;
    if (s->n < MAX_EV) {
        s->trace[s->n] = ev->trace;
        s->pos[s->n] = ev->pos;
        snprintf(s->text[s->n], sizeof s->text[0], "%s", ev->text);
        s->lp[s->n] = ev->logprob;
        s->top0[s->n] = ev->n_top ? ev->top_lp[0] : NAN;
        s->n_top[s->n] = ev->n_top;
        s->rank[s->n] = ev->sampled_rank;
        s->n++;
    }
    if (ev->pos == s->stop_at)
        return DC_OBSERVE_STOP;
    if (ev->pos == s->cancel_at) {
        if (s->cancel_backend) {
            dc_backend_cancel(s->cancel_backend);
            return DC_OBSERVE_CONTINUE;
        }
        return DC_OBSERVE_CANCEL;
    }
    return DC_OBSERVE_CONTINUE;
}

static dc_observe on_end(void *user, const dc_gen_trace *t)
{
    (void)t;
    ((seen *)user)->ends++;
    return DC_OBSERVE_CONTINUE;
}

static void seen_init(seen *s)
{
    memset(s, 0, sizeof *s);
    s->stop_at = SIZE_MAX;
    s->cancel_at = SIZE_MAX;
}

static dc_openai_params fast_params(void)
{
    dc_openai_params p = dc_backend_openai_default_params();
    p.model = "fault-model";
    p.api_key_env = NULL;
    p.max_retries = 2;
    p.backoff_initial_s = 0.01;
    p.backoff_max_s = 0.05;
    p.connect_timeout_s = 2;
    p.first_byte_timeout_s = 5;
    p.idle_timeout_s = 5;
    p.total_timeout_s = 20;
    p.jitter_seed = 7;
    return p;
}

static char url_buf[8][256];

static const char *url(int slot, const char *scenario)
{
    snprintf(url_buf[slot], sizeof url_buf[slot], "http://127.0.0.1:%d/%s", fault_server_port(srv),
             scenario);
    return url_buf[slot];
}

static dc_backend *open_with(dc_openai_params *p, const char *scenario)
{
    static const char *eps[1];
    eps[0] = url(0, scenario);
    p->endpoints = eps;
    p->n_endpoints = 1;
    dc_backend *b = NULL;
    dc_error err = {0};
    dc_status st = dc_backend_openai_open(p, &b, &err);
    if (st != DC_STATUS_OK)
        fail_msg("open %s: %s", scenario, err.msg);
    return b;
}

typedef struct run {
    dc_gen_result res;
    dc_status st;
    dc_error err;
    seen s;
} run;

static dc_chat CHAT = {NULL, "Tell me a story.", 0};

static void gen(dc_backend *b, size_t n, size_t max_tokens, size_t k, run *r)
{
    dc_prompt pr = {&CHAT, NULL, NULL, 0};
    dc_gen_params gp = dc_gen_default_params();
    gp.n_traces = n;
    gp.max_tokens = max_tokens;
    gp.top_logprobs = k;
    gp.instance_id = "inst";
    gp.seed = 5;
    dc_observer obs = {on_token, on_end, &r->s};
    memset(&r->err, 0, sizeof r->err);
    r->st = dc_backend_generate(b, &pr, &gp, &obs, &r->res, &r->err);
}

static void assert_has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("\"%s\" not found in \"%s\"", needle, hay ? hay : "(null)");
}

/* One trace on a scenario; returns its result in r. */
static void one(dc_openai_params p, const char *scenario, size_t k, run *r)
{
    seen_init(&r->s);
    dc_backend *b = open_with(&p, scenario);
    gen(b, 1, 16, k, r);
    assert_int_equal(r->st, DC_STATUS_OK);
    assert_int_equal(r->res.n_traces, 1);
    if (r->res.traces[0].stop == DC_STOP_ERROR) {
        assert_string_equal(r->err.msg, dc_backend_openai_trace_error(b, 0));
        assert_int_equal(r->err.status, r->res.traces[0].error);
        assert_has(r->err.msg, "trace inst#0 (POST http://127.0.0.1:");
    }
    dc_backend_free(b);
}

/* Every position of every trace reached the observer exactly once, in order. */
static void assert_each_once(const seen *s, size_t n_traces, size_t per_trace)
{
    for (size_t t = 0; t < n_traces; t++) {
        size_t next = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->trace[i] != t)
                continue;
            assert_int_equal(s->pos[i], next);
            char want[16];
            snprintf(want, sizeof want, "t%zu", next);
            assert_string_equal(s->text[i], want);
            assert_double_bits(s->lp[i], -0.125 * (double)(next % 4 + 1));
            next++;
        }
        assert_int_equal(next, per_trace);
    }
}

/* ---- recorded replies, end to end ---- */

static const char *const RECORDED[] = {
    "openai-chat.json",
    "openai-chat.sse",
    "openai-completions.json",
    "vllm-chat.json",
    "vllm-chat.sse",
    "vllm-completions.json",
    "vllm-completions.sse",
    "sglang-chat.json",
    "sglang-chat.sse",
    "sglang-completions.json",
    "sglang-completions.sse",
    "llama-server-chat.json",
    "llama-server-chat.sse",
    "llama-server-completions.json",
    "llama-server-completions.sse",
    "crlf-comments.sse",
};

static void test_recorded_end_to_end(void **state)
{
    (void)state;
    static const char *text[3] = {"I", " can", "'t"};
    static const double lp[3] = {-0.25, -2.0, -0.125};
    static const int rank[3] = {0, 2, 0};
    for (size_t f = 0; f < sizeof RECORDED / sizeof *RECORDED; f++) {
        dc_openai_params p = fast_params();
        p.api = strstr(RECORDED[f], "completions") ? DC_OPENAI_API_COMPLETIONS : DC_OPENAI_API_CHAT;
        p.stream = strstr(RECORDED[f], ".sse") != NULL;
        char sc[128];
        snprintf(sc, sizeof sc, "file/%s", RECORDED[f]);
        run r;
        one(p, sc, 3, &r);
        const dc_gen_trace *t = &r.res.traces[0];
        if (t->stop != DC_STOP_EOS)
            fail_msg("%s: stop %s: %s", RECORDED[f], dc_stop_reason_name(t->stop), r.err.msg);
        assert_int_equal(t->n_generated, 3);
        assert_int_equal(t->n_evaluated, 3);
        assert_string_equal(t->trace.text, "I can't");
        assert_string_equal(t->trace.id, "inst#0");
        assert_string_equal(t->trace.finish_reason, "eos");
        assert_int_equal(t->seed, dc_trace_seed(5, "inst", 0));
        assert_int_equal(r.s.n, 3);
        for (size_t i = 0; i < 3; i++) {
            assert_string_equal(r.s.text[i], text[i]);
            assert_double_bits(r.s.lp[i], lp[i]);
            assert_int_equal(r.s.rank[i], rank[i]);
            assert_int_equal(r.s.n_top[i], 3);
            assert_double_bits(t->trace.tokens[i].logprob, lp[i]);
        }
        if (!strstr(RECORDED[f], "crlf") && !strstr(RECORDED[f], "llama-server-chat.sse"))
            assert_int_equal(r.res.prompt_tokens, 12);
        assert_int_equal(r.s.ends, 1);
        dc_gen_result_clear(&r.res);
    }
}

/* ---- normal operation ---- */

static void test_many_traces_two_endpoints(void **state)
{
    (void)state;
    for (int stream = 0; stream <= 1; stream++) {
        for (int api = 0; api <= 1; api++) {
            dc_openai_params p = fast_params();
            p.stream = stream;
            p.api = api ? DC_OPENAI_API_COMPLETIONS : DC_OPENAI_API_CHAT;
            p.concurrency = 4;
            const char *eps[2] = {url(1, "ok"), url(2, "ok/6")};
            p.endpoints = eps;
            p.n_endpoints = 2;
            dc_backend *b = NULL;
            dc_error err = {0};
            assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
            run r;
            seen_init(&r.s);
            gen(b, 10, 16, 5, &r);
            assert_int_equal(r.st, DC_STATUS_OK);
            for (size_t i = 0; i < 10; i++) {
                const dc_gen_trace *t = &r.res.traces[i];
                if (t->stop != DC_STOP_EOS)
                    fail_msg("trace %zu: %s: %s", i, dc_stop_reason_name(t->stop),
                             dc_backend_openai_trace_error(b, i));
                assert_int_equal(t->index, i);
                assert_int_equal(t->seed, dc_trace_seed(5, "inst", i));
                assert_int_equal(t->n_generated, 6);
                assert_string_equal(t->trace.text, "t0t1t2t3t4t5");
                assert_int_equal(t->trace.tokens[5].n_top, 5);
                assert_double_bits(t->trace.tokens[5].top_lp[4], -0.25 - 2.0);
            }
            assert_each_once(&r.s, 10, 6);
            assert_int_equal(r.s.ends, 10);
            assert_int_equal(r.res.gen_tokens, 60);
            dc_openai_stats st;
            dc_backend_openai_stats(b, &st);
            assert_int_equal(st.requests, 10);
            assert_int_equal(st.retries, 0);
            /* The first four requests (the concurrency) alternate between the
               endpoints; later ones go where fewer are in flight, which depends
               on timing on a loaded machine. */
            if (!(st.per_endpoint[0] >= 2 && st.per_endpoint[1] >= 2))
                fail_msg("requests per endpoint %zu and %zu: each should have at least 2",
                         (size_t)st.per_endpoint[0], (size_t)st.per_endpoint[1]);
            assert_int_equal(st.per_endpoint[0] + st.per_endpoint[1], 10);
            dc_gen_result_clear(&r.res);
            dc_backend_free(b);
        }
    }
}

static void test_length_and_model_query(void **state)
{
    (void)state;
    dc_openai_params p = fast_params();
    p.model = NULL;
    dc_backend *b = open_with(&p, "ok");
    dc_model_info info;
    dc_backend_describe(b, &info);
    assert_string_equal(info.name, "fault-model");
    run r;
    seen_init(&r.s);
    gen(b, 2, 4, 2, &r);
    assert_int_equal(r.res.traces[1].stop, DC_STOP_LENGTH);
    assert_int_equal(r.res.traces[1].n_generated, 4);
    char last[8192];
    fault_server_last(srv, last, sizeof last);
    assert_has(last, "\"max_tokens\":4");
    assert_has(last, "\"top_logprobs\":2");
    assert_has(last, "\"model\":\"fault-model\"");
    assert_null(strstr(last, "Authorization"));
    dc_gen_result_clear(&r.res);
    dc_backend_free(b);
}

/* ---- faults that heal ---- */

static void test_drop_mid_stream_retried(void **state)
{
    (void)state;
    int before = fault_server_count(srv, "drop");
    run r;
    one(fast_params(), "drop/2", 3, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_EOS);
    assert_int_equal(r.res.traces[0].n_generated, 6);
    assert_each_once(&r.s, 1, 6); /* the replayed t0 t1 are not shown again */
    assert_int_equal(fault_server_count(srv, "drop") - before, 2);
    dc_gen_result_clear(&r.res);
}

static void test_500_then_success(void **state)
{
    (void)state;
    run r;
    one(fast_params(), "s500", 3, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_EOS);
    assert_int_equal(fault_server_count(srv, "s500"), 2);
    assert_each_once(&r.s, 1, 6);
    dc_gen_result_clear(&r.res);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    run r;
    one(fast_params(), "s429", 3, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_EOS);
    assert_int_equal(fault_server_count(srv, "s429"), 2);
    assert_true(fault_server_span(srv, "s429") >= 0.95); /* Retry-After: 1 beats 0.01 s backoff */
    dc_gen_result_clear(&r.res);
}

static void test_stall_then_success(void **state)
{
    (void)state;
    dc_openai_params p = fast_params();
    p.idle_timeout_s = 0.3;
    run r;
    one(p, "stall/2", 3, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_EOS);
    assert_int_equal(fault_server_count(srv, "stall"), 2);
    assert_each_once(&r.s, 1, 6);
    dc_gen_result_clear(&r.res);

    p.first_byte_timeout_s = 0.3;
    one(p, "nofirst", 3, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_EOS);
    assert_int_equal(fault_server_count(srv, "nofirst"), 2);
    dc_gen_result_clear(&r.res);
}

/* ---- faults that fail the trace ---- */

static void test_failures_named(void **state)
{
    (void)state;
    dc_openai_params p = fast_params();
    p.idle_timeout_s = 0.3;
    p.max_line_bytes = 1 << 20;
    struct {
        const char *scenario;
        int api;
        dc_status st;
        int requests;
        const char *msg[2];
    } cases[] = {
        {"dropall/2", 0, DC_STATUS_NETWORK, 3, {"gave up after 3 attempts", "after 2 tokens"}},
        {"s503all", 0, DC_STATUS_HTTP, 3, {"HTTP 503", "service unavailable (injected)"}},
        {"stallall/1", 0, DC_STATUS_TIMEOUT, 3, {"idle_timeout_s = 0.3", "gave up"}},
        {"garbage",
         0,
         DC_STATUS_PROTOCOL,
         1,
         {"event 1: invalid JSON", "/garbage/v1/chat/completions"}},
        {"nologprobs", 0, DC_STATUS_PROTOCOL, 1, {"text without logprobs", "\"top_logprobs\": k"}},
        {"hugeline", 0, DC_STATUS_LIMIT, 1, {"longer than 1048576 bytes", "max_line_bytes"}},
        {"file/few-top-logprobs.sse",
         0,
         DC_STATUS_PROTOCOL,
         1,
         {"position 0 has 2 top_logprobs, 3 were asked for", "--max-logprobs 3"}},
        {"ferr/vllm-error-max-logprobs.json",
         0,
         DC_STATUS_HTTP,
         1,
         {"HTTP 400: Requested top logprobs of 30", "attempt 1 of 3"}},
        {"ferr/llama-server-error-format.json",
         0,
         DC_STATUS_HTTP,
         1,
         {"HTTP 500: The model produced output that does not match", "attempt 1 of 3"}},
        {"file/llama-server-chat-stream-error.sse",
         0,
         DC_STATUS_HTTP,
         1,
         {"reported an error in its reply", "Content-only"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char scen[64];
        snprintf(scen, sizeof scen, "%s", cases[i].scenario);
        scen[strcspn(scen, "/")] = '\0';
        int before = fault_server_count(srv, scen);
        p.api = cases[i].api ? DC_OPENAI_API_COMPLETIONS : DC_OPENAI_API_CHAT;
        run r;
        one(p, cases[i].scenario, 3, &r);
        const dc_gen_trace *t = &r.res.traces[0];
        if (t->stop != DC_STOP_ERROR || t->error != cases[i].st)
            fail_msg("%s: stop %s, status %s: %s", cases[i].scenario, dc_stop_reason_name(t->stop),
                     dc_status_name(t->error), r.err.msg);
        assert_has(r.err.msg, cases[i].msg[0]);
        assert_has(r.err.msg, cases[i].msg[1]);
        assert_int_equal(fault_server_count(srv, scen) - before, cases[i].requests);
        assert_string_equal(t->trace.finish_reason, "error");
        assert_null(t->trace.answer); /* neither a refusal nor a compliance */
        dc_gen_result_clear(&r.res);
    }
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port that was free a moment ago: bind, read it, close. */
    fault_server *tmp = fault_server_start(NULL);
    assert_non_null(tmp);
    int port = fault_server_port(tmp);
    fault_server_stop(tmp);
    dc_openai_params p = fast_params();
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d", port);
    const char *eps[1] = {u};
    p.endpoints = eps;
    p.n_endpoints = 1;
    dc_backend *b = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    run r;
    seen_init(&r.s);
    gen(b, 1, 8, 2, &r);
    assert_int_equal(r.res.traces[0].stop, DC_STOP_ERROR);
    assert_int_equal(r.res.traces[0].error, DC_STATUS_NETWORK);
    assert_has(r.err.msg, "connect");
    assert_has(r.err.msg, "gave up after 3 attempts");
    dc_openai_stats st;
    dc_backend_openai_stats(b, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    dc_gen_result_clear(&r.res);
    dc_backend_free(b);
    /* and open with model discovery fails cleanly */
    p.model = NULL;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_NETWORK);
    assert_has(err.msg, "/v1/models");
}

static void test_key_redacted(void **state)
{
    (void)state;
    setenv("SDC_FAULT_KEY", "sk-fault-77aa88bb99cc", 1);
    dc_openai_params p = fast_params();
    p.api_key_env = "SDC_FAULT_KEY";
    run r;
    one(p, "s400echo", 2, &r);
    unsetenv("SDC_FAULT_KEY");
    char last[8192];
    fault_server_last(srv, last, sizeof last);
    assert_has(last, "Authorization: Bearer sk-fault-77aa88bb99cc");
    assert_int_equal(r.res.traces[0].stop, DC_STOP_ERROR);
    assert_has(r.err.msg, "HTTP 400: bad header Authorization: Bearer [redacted]");
    assert_null(strstr(r.err.msg, "77aa88"));
    assert_null(strstr(r.res.traces[0].trace.text, "77aa88"));
    dc_gen_result_clear(&r.res);
}

/* ---- stopping ---- */

static void wait_long_sent(int *sent)
{
    for (int i = 0; i < 300 && (*sent = fault_server_long_sent(srv)) < 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void test_stop_aborts_request(void **state)
{
    (void)state;
    dc_openai_params p = fast_params();
    dc_backend *b = open_with(&p, "long");
    run r;
    seen_init(&r.s);
    r.s.stop_at = 3;
    gen(b, 1, 4000, 2, &r);
    const dc_gen_trace *t = &r.res.traces[0];
    assert_int_equal(t->stop, DC_STOP_CONFIDENCE);
    assert_int_equal(t->n_generated, 3);
    assert_int_equal(t->n_evaluated, 4);
    assert_int_equal(t->trace.n_tokens, 3);
    assert_string_equal(t->trace.text, "t0t1t2");
    assert_string_equal(t->trace.finish_reason, "confidence");
    assert_true(r.res.gen_seconds < 5);
    /* the server saw the client leave and stopped writing */
    int sent = -1;
    wait_long_sent(&sent);
    assert_true(sent >= 4 && sent < 100);
    dc_gen_result_clear(&r.res);
    dc_backend_free(b);
}

static void test_cancel(void **state)
{
    (void)state;
    for (int how = 0; how < 2; how++) {
        dc_openai_params p = fast_params();
        p.concurrency = 3;
        dc_backend *b = open_with(&p, "long");
        run r;
        seen_init(&r.s);
        r.s.cancel_at = 5;
        r.s.cancel_backend = how ? b : NULL;
        gen(b, 5, 4000, 2, &r);
        assert_int_equal(r.st, DC_STATUS_OK);
        for (size_t i = 0; i < 5; i++)
            assert_int_equal(r.res.traces[i].stop, DC_STOP_CANCELLED);
        assert_true(r.res.gen_seconds < 5);
        assert_int_equal(r.s.ends, 5);
        dc_gen_result_clear(&r.res);
        dc_backend_free(b);
    }
}

static void test_max_failures(void **state)
{
    (void)state;
    dc_openai_params p = fast_params();
    p.max_retries = 0;
    p.max_failures = 1;
    p.concurrency = 1;
    dc_backend *b = open_with(&p, "s503all");
    run r;
    seen_init(&r.s);
    gen(b, 4, 8, 2, &r);
    assert_int_equal(r.st, DC_STATUS_OK);
    assert_int_equal(r.res.traces[0].error, DC_STATUS_HTTP);
    assert_int_equal(r.res.traces[1].error, DC_STATUS_HTTP);
    assert_int_equal(r.res.traces[2].error, DC_STATUS_LIMIT);
    assert_int_equal(r.res.traces[3].error, DC_STATUS_LIMIT);
    assert_has(dc_backend_openai_trace_error(b, 3), "max_failures = 1");
    dc_gen_result_clear(&r.res);
    gen(b, 1, 8, 2, &r);
    assert_int_equal(r.st, DC_STATUS_LIMIT);
    assert_int_equal(r.res.n_traces, 0);
    dc_openai_stats st;
    dc_backend_openai_stats(b, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.failed_traces, 4);
    dc_backend_free(b);
}

static int setup(void **state)
{
    (void)state;
    srv = fault_server_start(getenv("SDC_TEST_DATA") ? getenv("SDC_TEST_DATA") : SDC_TEST_DATA_DIR);
    return srv ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fault_server_stop(srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_end_to_end),
        cmocka_unit_test(test_many_traces_two_endpoints),
        cmocka_unit_test(test_length_and_model_query),
        cmocka_unit_test(test_drop_mid_stream_retried),
        cmocka_unit_test(test_500_then_success),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_stall_then_success),
        cmocka_unit_test(test_failures_named),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_key_redacted),
        cmocka_unit_test(test_stop_aborts_request),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_max_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
