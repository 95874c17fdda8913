/* test_openai_server.c - the openai backend against a real llama-server
 * (the llama.cpp build's) on 127.0.0.1 with the tiny demo model: tokens
 * and logprobs as the server returns them, streamed and whole, on both
 * endpoints; early stop really stops the server; requests overlap.
 *
 * llama-server runs with --no-repack: on CPUs with AMX, llama.cpp's AMX
 * kernels crash on the tiny model's 32-wide matrices (the embedded
 * backend turns repacking off for small models the same way). */
#include "test_common.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "deepconf/dc_backend_openai.h"
#include "deepconf/dc_gguf_demo.h"
#include "support/run_cmd.h"
#include "util/jinja.h"

static pid_t server_pid = -1;
static int port;
static char base_url[64];
static char workdir[256];
static char log_path[320];

/* ---- small HTTP client for checking the server's side ---- */

static size_t collect(char *p, size_t size, size_t n, void *user)
{
    char **buf = user;
    size_t old = *buf ? strlen(*buf) : 0;
    char *q = realloc(*buf, old + size * n + 1);
    if (!q)
        return 0;
    memcpy(q + old, p, size * n);
    q[old + size * n] = '\0';
    *buf = q;
    return size * n;
}

/* GET or POST (body != NULL); the reply body (caller frees) or NULL. */
static char *http(const char *path, const char *body, long *code)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    CURL *e = curl_easy_init();
    char *out = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(e);
    *code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        free(out);
        return NULL;
    }
    return out ? out : calloc(1, 1);
}

/* A Prometheus counter of /metrics; -1 when absent. */
static double metric(const char *name)
{
    long code;
    char *m = http("/metrics", NULL, &code);
    double v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = m ? strstr(m, key) : NULL;
    if (p)
        v = strtod(p + strlen(key), NULL);
    free(m);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    int p = ntohs(a.sin_port);
    close(fd);
    return p;
}

static int count_in_log(const char *needle)
{
    FILE *f = fopen(log_path, "rb");
    if (!f)
        return 0;
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    int c = 0;
    for (const char *p = strstr(buf, needle); p; p = strstr(p + 1, needle))
        c++;
    return c;
}

/* ---- the server ---- */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *bin = getenv("SDC_LLAMA_BIN_DIR");
    char server[512];
    snprintf(server, sizeof server, "%s/llama-server", bin ? bin : "");
    if (!bin || access(server, X_OK) != 0) {
        fprintf(stderr, "llama-server not found (SDC_LLAMA_BIN_DIR=%s)\n", bin ? bin : "");
        return -1;
    }
    snprintf(workdir, sizeof workdir, "/tmp/sdc-openai-XXXXXX");
    if (!mkdtemp(workdir))
        return -1;
    char args[512];
    snprintf(args, sizeof args, "model mkdemo --shape tiny --quiet -o '%s/tiny.gguf'", workdir);
    cmd_result r = run_program(args, NULL);
    if (r.status != 0) {
        fprintf(stderr, "mkdemo failed: %s\n", r.err);
        cmd_result_free(&r);
        return -1;
    }
    cmd_result_free(&r);
    port = free_port();
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);
    snprintf(log_path, sizeof log_path, "%s/server.log", workdir);
    char model[320], port_s[16];
    snprintf(model, sizeof model, "%s/tiny.gguf", workdir);
    snprintf(port_s, sizeof port_s, "%d", port);
    server_pid = fork();
    if (server_pid == 0) {
        FILE *lf = freopen(log_path, "w", stderr);
        (void)lf;
        dup2(2, 1);
        execl(server, server, "-m", model, "--host", "127.0.0.1", "--port", port_s, "-np", "4",
              "-c", "4096", "-t", "2", "--metrics", "--no-webui", "--no-repack", "--seed", "1",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) { /* 60 s at most */
        long code = 0;
        char *h = http("/health", NULL, &code);
        free(h);
        if (code == 200)
            return 0;
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = -1;
            fprintf(stderr, "llama-server exited; see %s\n", log_path);
            return -1;
        }
        sleep_ms(100);
    }
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < 100 && !done; i++) {
            done = waitpid(server_pid, NULL, WNOHANG) == server_pid;
            if (!done)
                sleep_ms(50);
        }
        if (!done) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, NULL, 0);
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
    if (workdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", workdir);
    curl_global_cleanup();
    return 0;
}

/* ---- helpers ---- */

static dc_backend *open_backend(dc_openai_api api, int stream, size_t concurrency)
{
    dc_openai_params p = dc_backend_openai_default_params();
    const char *eps[1] = {base_url};
    p.endpoints = eps;
    p.n_endpoints = 1;
    p.api = api;
    p.stream = stream;
    p.concurrency = concurrency;
    p.model = NULL; /* asks /v1/models */
    p.api_key_env = NULL;
    p.max_retries = 0;
    p.total_timeout_s = 60;
    dc_backend *b = NULL;
    dc_error err = {0};
    if (dc_backend_openai_open(&p, &b, &err) != DC_STATUS_OK)
        fail_msg("open: %s", err.msg);
    return b;
}

#define MAX_EV 8192

typedef struct obs_log {
    size_t n;
    size_t trace[MAX_EV];
    size_t stop_at;
} obs_log;

static dc_observe on_token(void *user, const dc_token_event *ev)
{
    obs_log *o = user;
    if (o->n < MAX_EV)
        o->trace[o->n++] = ev->trace;
    return ev->pos == o->stop_at ? DC_OBSERVE_STOP : DC_OBSERVE_CONTINUE;
}

static dc_gen_params params(size_t n, size_t max_tokens, double temperature)
{
    dc_gen_params gp = dc_gen_default_params();
    gp.n_traces = n;
    gp.max_tokens = max_tokens;
    gp.top_logprobs = 5;
    gp.sampling.temperature = temperature;
    gp.seed = 11;
    gp.instance_id = "srv";
    return gp;
}

/* lossy_end: llama-server's chat stream sends no chunk for a token that
 * adds no text, so the end-of-turn token a whole reply lists is missing. */
static void assert_trace_matches(const dc_gen_trace *g, const dc_trace *want, const char *what,
                                 int lossy_end)
{
    if (g->stop == DC_STOP_ERROR)
        fail_msg("%s: trace failed (%s)", what, dc_status_name(g->error));
    size_t n_want = want->n_tokens;
    if (lossy_end && g->stop == DC_STOP_EOS && n_want == g->trace.n_tokens + 1 &&
        want->tokens[n_want - 1].text && !*want->tokens[n_want - 1].text)
        n_want--;
    if (g->trace.n_tokens != n_want)
        fail_msg("%s: %zu tokens, the server returned %zu (last: id %d \"%s\")", what,
                 g->trace.n_tokens, want->n_tokens, want->tokens[want->n_tokens - 1].id,
                 want->tokens[want->n_tokens - 1].text);
    for (size_t i = 0; i < n_want; i++) {
        const dc_token *a = &g->trace.tokens[i], *b = &want->tokens[i];
        assert_int_equal(a->id, b->id);
        assert_string_equal(a->text, b->text);
        assert_close_rel(a->logprob, b->logprob, 1e-4);
        assert_int_equal(a->n_top, 5);
        assert_int_equal(b->n_top, 5);
        for (size_t j = 0; j < 5; j++) {
            assert_int_equal(a->top_id[j], b->top_id[j]);
            assert_close_rel(a->top_lp[j], b->top_lp[j], 1e-4);
        }
        assert_int_equal(a->sampled_rank, b->sampled_rank);
    }
}

/* The backend's tokens equal what the same request, sent by hand without
 * streaming, returns. Greedy, so that every path gives the same tokens. */
static void check_matches_server(dc_openai_api api)
{
    static dc_chat chat = {NULL, "Write one word.", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = params(3, 12, 0.0);
    for (int stream = 1; stream >= 0; stream--) {
        dc_backend *b = open_backend(api, stream, 1);
        dc_backend *whole = open_backend(api, 0, 1);
        dc_gen_result res;
        dc_error err = {0};
        obs_log o = {0};
        o.stop_at = SIZE_MAX;
        dc_observer obs = {on_token, NULL, &o};
        assert_int_equal(dc_backend_generate(b, &pr, &gp, &obs, &res, &err), DC_STATUS_OK);
        assert_int_equal(res.n_traces, 3);
        for (size_t i = 0; i < 3; i++) {
            char *body = NULL;
            assert_int_equal(dc_backend_openai_request_body(whole, &pr, &gp, i, &body, &err),
                             DC_STATUS_OK);
            long code = 0;
            char *reply =
                http(api == DC_OPENAI_API_CHAT ? "/v1/chat/completions" : "/v1/completions", body,
                     &code);
            dc_free(body);
            assert_non_null(reply);
            if (code != 200)
                fail_msg("HTTP %ld: %s", code, reply);
            dc_trace *t = NULL;
            size_t n = 0;
            assert_int_equal(dc_trace_parse_json(reply, strlen(reply), "x", NULL, &t, &n, &err),
                             DC_STATUS_OK);
            assert_int_equal(n, 1);
            char what[64];
            snprintf(what, sizeof what, "%s stream=%d trace %zu", dc_openai_api_name(api), stream,
                     i);
            assert_trace_matches(&res.traces[i], &t[0], what, api == DC_OPENAI_API_CHAT && stream);
            assert_true(res.traces[i].stop == DC_STOP_EOS || res.traces[i].stop == DC_STOP_LENGTH);
            assert_true(res.traces[i].n_generated >= 1);
            dc_traces_free(t, n);
            free(reply);
        }
        assert_int_equal(o.n, res.gen_tokens);
        assert_true(res.prompt_tokens > 0);
        dc_gen_result_clear(&res);
        dc_backend_free(b);
        dc_backend_free(whole);
    }
}

/* ---- tests ---- */

static void test_completions_match_server(void **state)
{
    (void)state;
    check_matches_server(DC_OPENAI_API_COMPLETIONS);
}

static void test_chat_match_server(void **state)
{
    (void)state;
    check_matches_server(DC_OPENAI_API_CHAT);
}

static void test_seeds_reproduce(void **state)
{
    (void)state;
    dc_backend *b = open_backend(DC_OPENAI_API_COMPLETIONS, 1, 1);
    dc_chat chat = {NULL, "Tell me a story.", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = params(4, 24, 1.0);
    dc_gen_result r1, r2;
    dc_error err = {0};
    assert_int_equal(dc_backend_generate(b, &pr, &gp, NULL, &r1, &err), DC_STATUS_OK);
    assert_int_equal(dc_backend_generate(b, &pr, &gp, NULL, &r2, &err), DC_STATUS_OK);
    int differ = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(r1.traces[i].trace.text, r2.traces[i].trace.text);
        differ += i > 0 && strcmp(r1.traces[i].trace.text, r1.traces[0].trace.text) != 0;
    }
    assert_true(differ > 0); /* trace seeds differ, and so do the samples */
    dc_gen_result_clear(&r1);
    dc_gen_result_clear(&r2);
    dc_backend_free(b);
}

static void test_stop_aborts_server(void **state)
{
    (void)state;
    dc_backend *b = open_backend(DC_OPENAI_API_COMPLETIONS, 1, 1);
    dc_chat chat = {NULL, "Count to a thousand.", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = params(1, 900, 1.0);
    int cancels = count_in_log("cancel task");
    double before = metric("llamacpp:n_decode_total");
    assert_true(before >= 0);
    dc_gen_result res;
    dc_error err = {0};
    obs_log o = {0};
    o.stop_at = 5;
    dc_observer obs = {on_token, NULL, &o};
    assert_int_equal(dc_backend_generate(b, &pr, &gp, &obs, &res, &err), DC_STATUS_OK);
    if (res.traces[0].stop != DC_STOP_CONFIDENCE)
        fail_msg("stop %s after %zu tokens", dc_stop_reason_name(res.traces[0].stop),
                 res.traces[0].n_generated);
    assert_int_equal(res.traces[0].n_generated, 5);
    assert_int_equal(res.traces[0].n_evaluated, 6);
    /* The server says it cancelled the task and stops decoding. */
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        seen = count_in_log("cancel task") > cancels && metric("llamacpp:requests_processing") == 0;
        if (!seen)
            sleep_ms(50);
    }
    assert_true(seen);
    double after = metric("llamacpp:n_decode_total");
    sleep_ms(300);
    assert_true(metric("llamacpp:n_decode_total") == after); /* nothing more is decoded */
    if (!(after - before < 600))
        fail_msg("the server decoded %.0f tokens for a trace stopped at 6 of 900", after - before);
    dc_gen_result_clear(&res);
    dc_backend_free(b);
}

static void test_concurrency(void **state)
{
    (void)state;
    dc_backend *b = open_backend(DC_OPENAI_API_COMPLETIONS, 1, 4);
    dc_chat chat = {NULL, "Tell me a story.", 0};
    dc_prompt pr = {&chat, NULL, NULL, 0};
    dc_gen_params gp = params(8, 48, 1.0);
    dc_gen_result res;
    dc_error err = {0};
    obs_log o = {0};
    o.stop_at = SIZE_MAX;
    dc_observer obs = {on_token, NULL, &o};
    assert_int_equal(dc_backend_generate(b, &pr, &gp, &obs, &res, &err), DC_STATUS_OK);
    for (size_t i = 0; i < 8; i++)
        assert_true(res.traces[i].stop == DC_STOP_EOS || res.traces[i].stop == DC_STOP_LENGTH);
    /* Requests overlapped: some trace's tokens arrived between another's first and last. */
    size_t first[8], last[8];
    for (size_t t = 0; t < 8; t++)
        first[t] = SIZE_MAX, last[t] = 0;
    for (size_t i = 0; i < o.n; i++) {
        size_t t = o.trace[i];
        if (first[t] == SIZE_MAX)
            first[t] = i;
        last[t] = i;
    }
    size_t most = 0;
    for (size_t i = 0; i < o.n; i++) {
        size_t alive = 0;
        for (size_t t = 0; t < 8; t++)
            alive += first[t] <= i && i <= last[t];
        if (alive > most)
            most = alive;
    }
    if (most < 2)
        fail_msg("at most %zu traces were alive at once", most);
    dc_openai_stats st;
    dc_backend_openai_stats(b, &st);
    assert_int_equal(st.requests, 8);
    dc_gen_result_clear(&res);
    dc_backend_free(b);
}

/* A stream: the requests of different prompts share the concurrency
 * window (the server's 4 slots), instead of one prompt's 2 traces at a
 * time; each request's traces equal those of the prompt on its own. */
typedef struct srv_feed {
    size_t taken, n_done;
    dc_chat chats[3];
    char ids[3][8];
    dc_gen_result res[3];
    size_t n_ev;
    size_t ev_req[MAX_EV]; /* the request of each token event, in arrival order */
    struct srv_obs {
        struct srv_feed *f;
        size_t i;
    } obs[3];
} srv_feed;

static dc_observe srv_token(void *user, const dc_token_event *ev)
{
    (void)ev;
    struct srv_obs *o = user;
    srv_feed *f = o->f;
    if (f->n_ev < MAX_EV) {
        f->ev_req[f->n_ev++] = o->i;
    }
    return DC_OBSERVE_CONTINUE;
}

static int srv_next(void *user, dc_gen_request *req, dc_error *err)
{
    (void)err;
    srv_feed *f = user;
    if (f->taken == 3)
        return 0;
    size_t i = f->taken++;
    req->prompt = (dc_prompt){&f->chats[i], NULL, NULL, 0};
    req->params = params(2, 24, 1.0);
    req->params.instance_id = f->ids[i];
    f->obs[i] = (struct srv_obs){f, i};
    req->obs = (dc_observer){srv_token, NULL, &f->obs[i]};
    return 1;
}

static dc_observe srv_done(void *user, size_t i, dc_gen_result *res)
{
    srv_feed *f = user;
    assert_true(i < 3);
    f->res[i] = *res;
    memset(res, 0, sizeof *res);
    f->n_done++;
    return DC_OBSERVE_CONTINUE;
}

static void test_stream_shares_window(void **state)
{
    (void)state;
    dc_backend *b = open_backend(DC_OPENAI_API_COMPLETIONS, 1, 6);
    srv_feed f;
    memset(&f, 0, sizeof f);
    const char *users[3] = {"Tell me a story.", "Name a colour.", "Count to five."};
    for (size_t i = 0; i < 3; i++) {
        f.chats[i] = (dc_chat){NULL, users[i], 0};
        snprintf(f.ids[i], sizeof f.ids[i], "p%zu", i);
    }
    dc_error err = {0};
    dc_gen_stream s = {srv_next, srv_done, &f, 0};
    assert_int_equal(dc_backend_generate_stream(b, &s, &err), DC_STATUS_OK);
    assert_int_equal(f.n_done, 3);
    /* the tokens of different requests interleave: requests overlapped */
    size_t switches = 0;
    for (size_t e = 1; e < f.n_ev; e++)
        switches += f.ev_req[e] != f.ev_req[e - 1];
    fprintf(stderr, "# openai stream: %zu token events, %zu switches between requests\n", f.n_ev,
            switches);
    if (switches < 3)
        fail_msg("requests did not overlap (%zu switches)", switches);
    dc_openai_stats st;
    dc_backend_openai_stats(b, &st);
    assert_int_equal(st.requests, 6);
    /* the same traces as each prompt on its own (seeded server sampling) */
    for (size_t i = 0; i < 3; i++) {
        dc_prompt pr = {&f.chats[i], NULL, NULL, 0};
        dc_gen_params gp = params(2, 24, 1.0);
        gp.instance_id = f.ids[i];
        dc_gen_result one;
        assert_int_equal(dc_backend_generate(b, &pr, &gp, NULL, &one, &err), DC_STATUS_OK);
        for (size_t t = 0; t < 2; t++) {
            assert_string_equal(one.traces[t].trace.id, f.res[i].traces[t].trace.id);
            assert_string_equal(one.traces[t].trace.text, f.res[i].traces[t].trace.text);
        }
        dc_gen_result_clear(&one);
        dc_gen_result_clear(&f.res[i]);
    }
    dc_backend_free(b);
}

/* The project's Jinja subset renders Qwen3's official template (the one
 * the demo GGUF carries) exactly as llama.cpp's own Jinja engine does:
 * the server's /apply-template against dc_jinja_render, conversations
 * that do not end with an assistant turn (the server would take that as a
 * prefill). */
static void test_jinja_matches_server(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]",
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
        " {\"role\": \"user\", \"content\": \"Q1\"},"
        " {\"role\": \"assistant\", \"content\": \"A1\"},"
        " {\"role\": \"user\", \"content\": \"  Q2 with\\nlines  \"}]",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"How?\"}],"
        " \"chat_template_kwargs\": {\"enable_thinking\": false}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"},"
        " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\","
        " \"id\": \"c1\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"r1\"}]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[2048];
        snprintf(body, sizeof body, "%s}", cases[i]);
        long code = 0;
        char *reply = http("/apply-template", body, &code);
        assert_non_null(reply);
        if (code != 200)
            fail_msg("case %zu: /apply-template answered %ld: %s", i, code, reply);
        json_t *j = json_loads(reply, 0, NULL);
        assert_non_null(j);
        const char *want = json_string_value(json_object_get(j, "prompt"));
        assert_non_null(want);
        /* the context as apply_chat_template gets it */
        json_t *req = json_loads(body, 0, NULL);
        json_t *ctx = json_object();
        json_object_set(ctx, "messages", json_object_get(req, "messages"));
        json_object_set_new(ctx, "add_generation_prompt", json_true());
        json_t *kw = json_object_get(req, "chat_template_kwargs");
        if (kw)
            json_object_update(ctx, kw);
        char *cs = json_dumps(ctx, 0);
        char *got = NULL;
        dc_error err = {0};
        assert_int_equal(dc_jinja_render(dc_qwen3_chat_template(), cs, &got, NULL, &err),
                         DC_STATUS_OK);
        if (strcmp(got, want))
            fail_msg("case %zu: llama.cpp renders\n[%s]\nthe project\n[%s]", i, want, got);
        dc_free(got);
        free(cs);
        json_decref(ctx);
        json_decref(req);
        json_decref(j);
        free(reply);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completions_match_server),
        cmocka_unit_test(test_chat_match_server),
        cmocka_unit_test(test_seeds_reproduce),
        cmocka_unit_test(test_stop_aborts_server),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_stream_shares_window),
        cmocka_unit_test(test_jinja_matches_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
