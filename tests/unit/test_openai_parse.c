/* test_openai_parse.c - the openai backend's offline parts: recorded
 * replies of every dialect into identical token streams, the event-stream
 * splitter, request bodies, endpoint URLs, the API key's safety. */
#include "test_common.h"

#include <jansson.h>

#include "backend/openai_int.h"
#include "deepconf/dc_backend_openai.h"

/* ---- the reference stream every recorded reply holds ---- */

typedef struct ref_tok {
    const char *text;
    double lp;
    int rank;
    double top[3];
} ref_tok;

static const ref_tok REF[3] = {
    {"I", -0.25, 0, {-0.25, -1.75, -2.5}},
    {" can", -2.0, 2, {-0.5, -1.25, -2.0}},
    {"'t", -0.125, 0, {-0.125, -2.25, -3.5}},
};

static char *slurp(const char *rel, size_t *len)
{
    FILE *f = fopen(test_data_path(rel), "rb");
    if (!f)
        fail_msg("cannot open %s", test_data_path(rel));
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

typedef struct collected {
    dc_token toks[16];
    size_t n;
    char finish[32];
    long prompt_tokens;
    int errors;
    char error_msg[512];
} collected;

static void collect_chunk(collected *c, const char *json, size_t len)
{
    oai_chunk ch;
    dc_error err = {0};
    dc_status st = oai_chunk_parse(json, len, NULL, &ch, &err);
    if (st != DC_STATUS_OK) {
        c->errors++;
        snprintf(c->error_msg, sizeof c->error_msg, "%s", err.msg);
    } else if (ch.is_error) {
        c->errors++;
        snprintf(c->error_msg, sizeof c->error_msg, "%s", ch.error_msg);
    }
    for (size_t j = 0; j < ch.tokens.n_tokens && c->n < 16; j++) {
        c->toks[c->n++] = ch.tokens.tokens[j];
        memset(&ch.tokens.tokens[j], 0, sizeof ch.tokens.tokens[j]);
    }
    if (ch.finish_reason[0])
        snprintf(c->finish, sizeof c->finish, "%s", ch.finish_reason);
    if (ch.prompt_tokens >= 0)
        c->prompt_tokens = ch.prompt_tokens;
    oai_chunk_clear(&ch);
}

static int on_ev(void *user, const char *data, size_t len)
{
    collect_chunk(user, data, len);
    return 0;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++) {
        dc_token *k = &c->toks[i];
        for (size_t j = 0; k->top_text && j < k->n_top; j++)
            dc_free(k->top_text[j]);
        dc_free(k->top_text);
        dc_free(k->top_lp);
        dc_free(k->top_id);
        dc_free(k->text);
    }
    c->n = 0;
}

/* Reads a recorded reply the way the backend does: .sse in small pieces
 * through the event splitter, .json whole. */
static void read_recorded(const char *name, size_t piece, collected *c)
{
    char rel[256];
    snprintf(rel, sizeof rel, "openai/%s", name);
    size_t len;
    char *data = slurp(rel, &len);
    memset(c, 0, sizeof *c);
    c->prompt_tokens = -1;
    if (strstr(name, ".sse")) {
        oai_sse s;
        oai_sse_init(&s, 1 << 16);
        dc_error err = {0};
        for (size_t off = 0; off < len; off += piece) {
            size_t n = len - off < piece ? len - off : piece;
            assert_int_equal(oai_sse_feed(&s, data + off, n, on_ev, c, &err), DC_STATUS_OK);
        }
        oai_sse_finish(&s, on_ev, c);
        assert_true(s.done || strstr(name, "error"));
        oai_sse_free(&s);
    } else {
        collect_chunk(c, data, len);
    }
    free(data);
}

static void assert_reference(const collected *c, const char *name)
{
    if (c->errors)
        fail_msg("%s: %s", name, c->error_msg);
    if (c->n != 3)
        fail_msg("%s: %zu tokens, expected 3", name, c->n);
    for (size_t i = 0; i < 3; i++) {
        const dc_token *k = &c->toks[i];
        assert_string_equal(k->text, REF[i].text);
        assert_double_bits(k->logprob, REF[i].lp);
        assert_int_equal(k->n_top, 3);
        assert_int_equal(k->sampled_rank, REF[i].rank);
        for (size_t j = 0; j < 3; j++)
            assert_double_bits(k->top_lp[j], REF[i].top[j]);
    }
    assert_string_equal(c->finish, "stop");
}

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

static void test_recorded_dialects(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof RECORDED / sizeof *RECORDED; f++) {
        /* whole, one byte at a time, and in odd pieces: the same tokens */
        size_t pieces[3] = {1 << 20, 1, 7};
        for (size_t p = 0; p < 3; p++) {
            collected c;
            read_recorded(RECORDED[f], pieces[p], &c);
            assert_reference(&c, RECORDED[f]);
            if (strstr(RECORDED[f], "llama-server")) {
                assert_int_equal(c.toks[0].id, 40); /* llama-server also gives ids */
                assert_int_equal(c.toks[1].top_id[2], 646);
            } else {
                assert_int_equal(c.toks[0].id, -1);
            }
            if (!strstr(RECORDED[f], "crlf") && !strstr(RECORDED[f], "llama-server-chat.sse"))
                assert_int_equal(c.prompt_tokens, 12);
            collected_free(&c);
        }
    }
}

static void test_recorded_errors(void **state)
{
    (void)state;
    collected c;
    read_recorded("vllm-error-max-logprobs.json", 1 << 20, &c);
    assert_int_equal(c.errors, 1);
    assert_non_null(strstr(c.error_msg, "greater than max allowed: 20"));
    collected_free(&c);
    read_recorded("llama-server-error-format.json", 1 << 20, &c);
    assert_non_null(strstr(c.error_msg, "Content-only format"));
    collected_free(&c);
    read_recorded("llama-server-chat-stream-error.sse", 5, &c);
    assert_int_equal(c.n, 1); /* the token before the error */
    assert_int_equal(c.errors, 1);
    assert_non_null(strstr(c.error_msg, "does not match the expected"));
    collected_free(&c);

    oai_chunk ch;
    dc_error err = {0};
    assert_int_equal(oai_chunk_parse("{\"choices\": [", 13, NULL, &ch, &err), DC_STATUS_PARSE);
    assert_non_null(strstr(err.msg, "column"));
    oai_chunk_clear(&ch);
    assert_int_equal(oai_chunk_parse("{\"id\": 1}", 9, NULL, &ch, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "choices"));
    oai_chunk_clear(&ch);
    const char *bad = "{\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":{\"content\":"
                      "[{\"token\":\"a\",\"logprob\":\"x\"}]}}]}";
    assert_int_equal(oai_chunk_parse(bad, strlen(bad), NULL, &ch, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "choices[0].logprobs.content[0]"));
    oai_chunk_clear(&ch);
    /* OpenAI's first chunk: logprobs null, no tokens, no error */
    const char *role = "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},"
                       "\"logprobs\":null,\"finish_reason\":null}]}";
    assert_int_equal(oai_chunk_parse(role, strlen(role), NULL, &ch, &err), DC_STATUS_OK);
    assert_int_equal(ch.tokens.n_tokens, 0);
    assert_int_equal(ch.has_text, 0);
    oai_chunk_clear(&ch);
}

/* ---- the event-stream splitter ---- */

typedef struct evs {
    char got[8][64];
    int n;
    int stop_after;
} evs;

static int on_ev2(void *user, const char *data, size_t len)
{
    evs *e = user;
    assert_int_equal(strlen(data), len);
    if (e->n < 8)
        snprintf(e->got[e->n++], 64, "%s", data);
    return e->stop_after && e->n >= e->stop_after;
}

static void test_sse_splitter(void **state)
{
    (void)state;
    const char *in = ": ping\n\ndata: a\r\ndata:b\r\n\r\nevent: x\nid: 3\ndata: {\"k\":1}\n\n"
                     "data: [DONE]\n\ndata: after\n\n";
    for (size_t piece = 1; piece < strlen(in); piece++) {
        evs e = {0};
        oai_sse s;
        dc_error err = {0};
        oai_sse_init(&s, 1024);
        for (size_t off = 0; off < strlen(in); off += piece) {
            size_t n = strlen(in) - off < piece ? strlen(in) - off : piece;
            assert_int_equal(oai_sse_feed(&s, in + off, n, on_ev2, &e, &err), DC_STATUS_OK);
        }
        oai_sse_finish(&s, on_ev2, &e);
        assert_int_equal(e.n, 2);
        assert_string_equal(e.got[0], "a\nb");
        assert_string_equal(e.got[1], "{\"k\":1}");
        assert_true(s.done);
        oai_sse_free(&s);
    }
    /* an event without its blank line is still delivered at the end */
    evs e = {0};
    oai_sse s;
    dc_error err = {0};
    oai_sse_init(&s, 1024);
    assert_int_equal(oai_sse_feed(&s, "data: tail", 10, on_ev2, &e, &err), DC_STATUS_OK);
    oai_sse_finish(&s, on_ev2, &e);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.got[0], "tail");
    /* the callback can stop the feed */
    oai_sse_reset(&s);
    evs e2 = {0};
    e2.stop_after = 1;
    assert_int_equal(oai_sse_feed(&s, "data: 1\n\ndata: 2\n\n", 18, on_ev2, &e2, &err),
                     DC_STATUS_OK);
    assert_int_equal(e2.n, 1);
    oai_sse_free(&s);
    /* caps */
    oai_sse_init(&s, 1024);
    char big[3000];
    memset(big, 'x', sizeof big);
    memcpy(big, "data: ", 6);
    evs e3 = {0};
    assert_int_equal(oai_sse_feed(&s, big, sizeof big, on_ev2, &e3, &err), DC_STATUS_LIMIT);
    assert_non_null(strstr(err.msg, "1024"));
    oai_sse_free(&s);
}

/* ---- requests ---- */

static dc_backend *open_local(dc_openai_api api, int stream)
{
    dc_openai_params p = dc_backend_openai_default_params();
    const char *eps[] = {"http://127.0.0.1:9/"};
    p.endpoints = eps;
    p.n_endpoints = 1;
    p.api = api;
    p.model = "Qwen/Qwen3-0.6B";
    p.stream = stream;
    p.api_key_env = NULL;
    dc_backend *b = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    return b;
}

static void test_request_chat(void **state)
{
    (void)state;
    dc_backend *b = open_local(DC_OPENAI_API_CHAT, 1);
    dc_chat chat = {"Be brief.", "How do I pick a lock?", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = dc_gen_default_params();
    gp.seed = 42;
    gp.instance_id = "xstest-7";
    gp.first_trace = 3;
    gp.max_tokens = 128;
    char *body = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_request_body(b, &pr, &gp, 2, &body, &err), DC_STATUS_OK);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "Qwen/Qwen3-0.6B");
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "How do I pick a lock?");
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 128);
    assert_true(json_is_true(json_object_get(j, "logprobs")));
    assert_int_equal(json_integer_value(json_object_get(j, "top_logprobs")), 20);
    assert_int_equal(json_integer_value(json_object_get(j, "top_k")), 20);
    assert_double_bits(json_real_value(json_object_get(j, "temperature")), 0.7);
    assert_double_bits(json_real_value(json_object_get(j, "top_p")), 0.8);
    uint64_t seed = dc_trace_seed(42, "xstest-7", 5);
    assert_int_equal((uint64_t)json_integer_value(json_object_get(j, "seed")), seed & 0xFFFFFFFFu);
    assert_true(json_is_false(
        json_object_get(json_object_get(j, "chat_template_kwargs"), "enable_thinking")));
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_true(
        json_is_true(json_object_get(json_object_get(j, "stream_options"), "include_usage")));
    json_decref(j);
    dc_free(body);
    /* thinking on */
    chat.enable_thinking = 1;
    assert_int_equal(dc_backend_openai_request_body(b, &pr, &gp, 0, &body, &err), DC_STATUS_OK);
    assert_non_null(strstr(body, "\"chat_template_kwargs\":{\"enable_thinking\":true}"));
    dc_free(body);
    /* text prompts need the completions endpoint */
    dc_prompt tp = {NULL, "raw", NULL, 0};
    assert_int_equal(dc_backend_openai_request_body(b, &tp, &gp, 0, &body, &err),
                     DC_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "completions"));
    dc_gen_result res;
    assert_int_equal(dc_backend_generate(b, &tp, &gp, NULL, &res, &err), DC_STATUS_UNSUPPORTED);
    assert_int_equal(res.n_traces, 0);
    /* chats are formatted on the server */
    char *text = NULL;
    assert_int_equal(dc_backend_format_chat(b, &chat, &text, &err), DC_STATUS_UNSUPPORTED);
    dc_model_info info;
    dc_backend_describe(b, &info);
    assert_string_equal(info.backend, "openai");
    assert_string_equal(info.name, "Qwen/Qwen3-0.6B");
    dc_backend_free(b);
}

static void test_request_completions(void **state)
{
    (void)state;
    dc_backend *b = open_local(DC_OPENAI_API_COMPLETIONS, 0);
    dc_chat chat = {NULL, "Hi", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = dc_gen_default_params();
    gp.top_logprobs = 5;
    gp.sampling.top_k = 0;
    char *body = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_request_body(b, &pr, &gp, 0, &body, &err), DC_STATUS_OK);
    json_t *j = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "prompt")),
                        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
                        "<think>\n\n</think>\n\n");
    assert_int_equal(json_integer_value(json_object_get(j, "logprobs")), 5);
    assert_null(json_object_get(j, "top_logprobs"));
    assert_null(json_object_get(j, "messages"));
    assert_null(json_object_get(j, "chat_template_kwargs"));
    assert_null(json_object_get(j, "stream_options"));
    assert_true(json_is_false(json_object_get(j, "stream")));
    assert_int_equal(json_integer_value(json_object_get(j, "top_k")), -1);
    json_decref(j);
    dc_free(body);
    /* format_chat gives the same prompt text */
    char *text = NULL;
    chat.system = "S";
    chat.enable_thinking = 1;
    assert_int_equal(dc_backend_format_chat(b, &chat, &text, &err), DC_STATUS_OK);
    assert_string_equal(text, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                              "<|im_start|>assistant\n");
    dc_free(text);
    /* token prompts go as an array of ids */
    int32_t ids[3] = {151644, 872, 198};
    dc_prompt tk = {NULL, NULL, ids, 3};
    assert_int_equal(dc_backend_openai_request_body(b, &tk, &gp, 0, &body, &err), DC_STATUS_OK);
    assert_non_null(strstr(body, "\"prompt\":[151644,872,198]"));
    dc_free(body);
    /* caps */
    gp.top_logprobs = 5000;
    assert_int_equal(dc_backend_openai_request_body(b, &pr, &gp, 0, &body, &err), DC_STATUS_LIMIT);
    dc_backend_free(b);
}

static void test_openai_fields_off(void **state)
{
    (void)state;
    dc_openai_params p = dc_backend_openai_default_params();
    const char *eps[] = {"https://api.example.com/v1"};
    p.endpoints = eps;
    p.n_endpoints = 1;
    p.model = "gpt-4o-mini";
    p.api_key_env = NULL;
    p.send_top_k_min_p = 0;
    p.send_template_kwargs = 0;
    dc_backend *b = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    dc_chat chat = {NULL, "Hi", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    char *body = NULL;
    assert_int_equal(dc_backend_openai_request_body(b, &pr, NULL, 0, &body, &err), DC_STATUS_OK);
    assert_null(strstr(body, "top_k"));
    assert_null(strstr(body, "min_p"));
    assert_null(strstr(body, "chat_template_kwargs"));
    dc_free(body);
    dc_backend_free(b);
}

/* ---- endpoints and keys ---- */

static void test_endpoints(void **state)
{
    (void)state;
    struct {
        const char *in, *base;
        int loopback, https;
    } ok[] = {
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1", 1, 0},
        {"http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1", 1, 0},
        {"http://localhost:8000/v1/", "http://localhost:8000/v1", 1, 0},
        {"http://[::1]:8000", "http://[::1]:8000/v1", 1, 0},
        {"https://api.openai.com/v1", "https://api.openai.com/v1", 0, 1},
        {"http://10.0.0.5:8000/proxy", "http://10.0.0.5:8000/proxy/v1", 0, 0},
        {"http://127.9.8.7:1", "http://127.9.8.7:1/v1", 1, 0},
        {"http://localhost.example.com", "http://localhost.example.com/v1", 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char *base = NULL;
        int lo = -1, tls = -1;
        dc_error err = {0};
        assert_int_equal(oai_endpoint_parse(ok[i].in, &base, &lo, &tls, &err), DC_STATUS_OK);
        assert_string_equal(base, ok[i].base);
        assert_int_equal(lo, ok[i].loopback);
        assert_int_equal(tls, ok[i].https);
        dc_free(base);
    }
    const char *bad[] = {"", "ftp://host/", "not a url", "http://u:secret@host:1/",
                         "http://h:1/?x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *base = NULL;
        int lo, tls;
        dc_error err = {0};
        assert_int_equal(oai_endpoint_parse(bad[i], &base, &lo, &tls, &err), DC_STATUS_CONFIG);
        assert_null(base);
        assert_null(strstr(err.msg, "secret"));
    }
}

static void test_key_never_in_clear(void **state)
{
    (void)state;
    setenv("SDC_TEST_OPENAI_KEY", "sk-test-0123456789abcdef", 1);
    dc_openai_params p = dc_backend_openai_default_params();
    p.api_key_env = "SDC_TEST_OPENAI_KEY";
    p.model = "m";
    dc_backend *b = NULL;
    dc_error err = {0};
    const char *remote[] = {"http://127.0.0.1:8000", "http://gpu-node-3:8000"};
    p.endpoints = remote;
    p.n_endpoints = 2;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_CONFIG);
    assert_null(b);
    assert_non_null(strstr(err.msg, "--allow-insecure"));
    assert_non_null(strstr(err.msg, "gpu-node-3"));
    assert_null(strstr(err.msg, "sk-test"));
    p.allow_insecure = 1;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    dc_backend_free(b);
    p.allow_insecure = 0;
    const char *tls[] = {"https://gpu-node-3:8000", "http://localhost:1"};
    p.endpoints = tls;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    dc_backend_free(b);
    /* without a key plain http is fine anywhere */
    unsetenv("SDC_TEST_OPENAI_KEY");
    p.endpoints = remote;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_OK);
    dc_backend_free(b);

    char msg[128] = "key sk-abc and again sk-abc.";
    oai_redact(msg, "sk-abc");
    assert_string_equal(msg, "key ****** and again ******.");
    char msg2[128] = "Bearer sk-0123456789abcdef!";
    oai_redact(msg2, "sk-0123456789abcdef");
    assert_string_equal(msg2, "Bearer [redacted]!");
}

static void test_params_checked(void **state)
{
    (void)state;
    dc_openai_params p = dc_backend_openai_default_params();
    dc_backend *b = NULL;
    dc_error err = {0};
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_CONFIG); /* no endpoint */
    const char *eps[] = {"http://127.0.0.1:1"};
    p.endpoints = eps;
    p.n_endpoints = 1;
    p.model = "m";
    p.concurrency = 0;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_INVALID_ARG);
    p.concurrency = 4;
    p.idle_timeout_s = -1;
    assert_int_equal(dc_backend_openai_open(&p, &b, &err), DC_STATUS_INVALID_ARG);
    dc_openai_api api;
    assert_int_equal(dc_openai_api_parse("completions", &api), DC_STATUS_OK);
    assert_int_equal(api, DC_OPENAI_API_COMPLETIONS);
    assert_int_equal(dc_openai_api_parse("chat", &api), DC_STATUS_OK);
    assert_int_equal(api, DC_OPENAI_API_CHAT);
    assert_int_equal(dc_openai_api_parse("responses", &api), DC_STATUS_INVALID_ARG);
    assert_string_equal(dc_openai_api_name(DC_OPENAI_API_COMPLETIONS), "completions");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_dialects),   cmocka_unit_test(test_recorded_errors),
        cmocka_unit_test(test_sse_splitter),        cmocka_unit_test(test_request_chat),
        cmocka_unit_test(test_request_completions), cmocka_unit_test(test_openai_fields_off),
        cmocka_unit_test(test_endpoints),           cmocka_unit_test(test_key_never_in_clear),
        cmocka_unit_test(test_params_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
