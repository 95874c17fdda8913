/* test_backend_llama.c - the llama.cpp backend on the tiny demo model,
 * made by `safety-deepconf model mkdemo` at the start of the run:
 * model facts, Qwen3 chat tokens, raw top-k logprobs against llama-server,
 * batching and waves against one-at-a-time, observer stop, cancel, EOS
 * and length. */
#include "test_common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_online.h"
#include "deepconf/dc_confidence.h"

static char model_path[4096];
static char tmpdir[256];
static dc_backend *backend; /* parallel 8 */

static int run_status(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static dc_backend *open_model(uint32_t parallel)
{
    dc_llama_params lp = dc_llama_default_params();
    lp.model_path = model_path;
    lp.parallel = parallel;
    lp.n_ctx = 256;
    lp.n_threads = 2;
    dc_backend *b = NULL;
    dc_error err = {0};
    dc_status st = dc_backend_llama_open(&lp, &b, &err);
    if (st != DC_STATUS_OK)
        fail_msg("open: %s", err.msg);
    return b;
}

static int setup(void **state)
{
    (void)state;
    const char *bin = getenv("SDC_BINARY");
    if (!bin)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdc-llama-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(model_path, sizeof model_path, "%s/tiny.gguf", tmpdir);
    char *argv[] = {(char *)bin, "model", "mkdemo", "--shape",  "tiny",
                    "--seed",    "7",     "-o",     model_path, NULL};
    if (run_status(argv) != 0)
        return -1;
    backend = open_model(8);
    return backend ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dc_backend_free(backend);
    remove(model_path);
    rmdir(tmpdir);
    return 0;
}

/* ---- model facts and chat formatting ---- */

static void test_describe(void **state)
{
    (void)state;
    dc_model_info in;
    dc_backend_describe(backend, &in);
    assert_string_equal(in.backend, "llama");
    assert_string_equal(in.arch, "qwen3");
    assert_string_equal(in.quant, "Q8_0");
    assert_int_equal(in.n_vocab, 151936);
    assert_int_equal(in.n_layer, 2);
    assert_int_equal(in.n_head, 4);
    assert_int_equal(in.n_head_kv, 2);
    assert_int_equal(in.head_dim, 16);
    assert_int_equal(in.n_ctx_train, 40960);
    assert_int_equal(in.n_ctx, 256);
    assert_true(in.has_chat_template);
    assert_true(in.is_qwen3_template);
    assert_int_equal(in.eos, 151645);
    int im_end = 0, endoftext = 0;
    for (size_t i = 0; i < in.n_eog; i++) {
        im_end |= in.eog[i] == 151645;
        endoftext |= in.eog[i] == 151643;
    }
    assert_true(im_end && endoftext);
    assert_true(in.n_params > 9700000 && in.n_params < 10000000);
}

static void expect_tokens(const char *text, const int32_t *want, size_t n)
{
    int32_t *t;
    size_t nt;
    dc_error err = {0};
    assert_int_equal(dc_backend_tokenize(backend, text, &t, &nt, &err), DC_STATUS_OK);
    if (nt != n) {
        for (size_t i = 0; i < nt; i++)
            fprintf(stderr, "%d ", (int)t[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(nt, n);
    for (size_t i = 0; i < n; i++)
        if (t[i] != want[i])
            fail_msg("token %zu of %s: %d, expected %d", i, text, (int)t[i], (int)want[i]);
    dc_free(t);
}

static void test_chat_qwen3(void **state)
{
    (void)state;
    dc_error err = {0};
    char *text;
    dc_chat c = {NULL, "Hello", 0};
    assert_int_equal(dc_backend_format_chat(backend, &c, &text, &err), DC_STATUS_OK);
    assert_string_equal(text, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
                              "<think>\n\n</think>\n\n");
    /* Qwen3's tokenizer: <|im_start|> user \n Hello <|im_end|> \n <|im_start|>
       assistant \n <think> \n\n </think> \n\n */
    static const int32_t off[] = {151644, 872, 198,    9707, 151645, 198, 151644,
                                  77091,  198, 151667, 271,  151668, 271};
    expect_tokens(text, off, sizeof off / sizeof *off);
    dc_free(text);

    dc_chat on = {"Be brief.", "Hello", 1};
    assert_int_equal(dc_backend_format_chat(backend, &on, &text, &err), DC_STATUS_OK);
    assert_string_equal(text, "<|im_start|>system\nBe brief.<|im_end|>\n"
                              "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    dc_free(text);

    /* An empty system prompt is no system turn. */
    dc_chat empty = {"", "Hi", 1};
    assert_int_equal(dc_backend_format_chat(backend, &empty, &text, &err), DC_STATUS_OK);
    assert_string_equal(text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    dc_free(text);
}

/* ---- helpers for generation ---- */

static const int32_t prompt_ids[] = {151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198};

static dc_prompt token_prompt(void)
{
    dc_prompt p = {NULL, NULL, prompt_ids, sizeof prompt_ids / sizeof *prompt_ids};
    return p;
}

static dc_gen_params gen_params(size_t n, size_t max_tokens)
{
    dc_gen_params gp = dc_gen_default_params();
    gp.n_traces = n;
    gp.max_tokens = max_tokens;
    gp.seed = 42;
    gp.instance_id = "inst-1";
    /* A flat sampler so that traces differ and EOS comes up. */
    gp.sampling.temperature = 1.0;
    gp.sampling.top_k = 40;
    gp.sampling.top_p = 1.0;
    return gp;
}

static void generate(dc_backend *b, const dc_gen_params *gp, const dc_observer *obs,
                     dc_gen_result *r)
{
    dc_prompt p = token_prompt();
    dc_error err = {0};
    dc_status st = dc_backend_generate(b, &p, gp, obs, r, &err);
    if (st != DC_STATUS_OK)
        fail_msg("generate: %s (%s)", dc_strerror(st), err.msg);
    assert_int_equal(r->n_traces, gp->n_traces);
}

/* ---- raw logprobs ---- */

static void test_logprobs_shape(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(3, 12);
    dc_gen_result r;
    generate(backend, &gp, NULL, &r);
    assert_int_equal(r.prompt_tokens, 9);
    for (size_t i = 0; i < r.n_traces; i++) {
        const dc_gen_trace *t = &r.traces[i];
        assert_int_equal(t->seed, dc_trace_seed(42, "inst-1", i));
        char id[64];
        snprintf(id, sizeof id, "inst-1#%zu", i);
        assert_string_equal(t->trace.id, id);
        assert_int_equal(t->trace.n_tokens, t->n_generated);
        for (size_t j = 0; j < t->trace.n_tokens; j++) {
            const dc_token *k = &t->trace.tokens[j];
            assert_int_equal(k->n_top, 20);
            double mass = 0;
            for (size_t m = 0; m < k->n_top; m++) {
                assert_true(k->top_lp[m] <= 0);
                if (m)
                    assert_true(k->top_lp[m] <= k->top_lp[m - 1]);
                mass += exp(k->top_lp[m]);
            }
            assert_true(mass <= 1.0 + 1e-6);
            /* top_k 40 sampling: the token is among the 40 most likely, and
               when among the top 20 its logprob is that entry's. */
            assert_true(k->logprob <= k->top_lp[0] + 1e-12);
            if (k->sampled_rank >= 0) {
                assert_int_equal(k->top_id[k->sampled_rank], k->id);
                assert_double_bits(k->top_lp[k->sampled_rank], k->logprob);
            }
        }
    }
    dc_gen_result_clear(&r);
}

/* ---- llama-server as the reference for raw probabilities ---- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        close(s);
        return -1;
    }
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

static size_t to_str(char *d, size_t s, size_t n, void *u)
{
    char **acc = u;
    size_t old = *acc ? strlen(*acc) : 0;
    char *p = realloc(*acc, old + s * n + 1);
    memcpy(p + old, d, s * n);
    p[old + s * n] = '\0';
    *acc = p;
    return s * n;
}

static long http(const char *url, const char *body, char **reply)
{
    *reply = NULL;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_str);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

static void test_vs_llama_server(void **state)
{
    (void)state;
    const char *bindir = getenv("SDC_LLAMA_BIN_DIR");
    assert_non_null(bindir);
    char exe[4096];
    snprintf(exe, sizeof exe, "%s/llama-server", bindir);
    assert_int_equal(access(exe, X_OK), 0);
    int port = free_port();
    assert_true(port > 0);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(exe, exe, "-m", model_path, "--host", "127.0.0.1", "--port", ports, "-c", "256",
              "-np", "1", "-t", "2", "--no-webui",
              /* as our backend does for hidden sizes under 256 (AMX) */
              "--no-repack", (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
    int up = 0;
    for (int i = 0; i < 300 && !up; i++) { /* at most 30 s */
        char *rep;
        up = http(url, NULL, &rep) == 200;
        free(rep);
        if (!up)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    if (!up) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("llama-server did not come up on port %d", port);
    }

    /* Greedy on both sides: the same tokens, so every position compares. */
    enum { N_POS = 6 };
    char body[1024];
    snprintf(body, sizeof body,
             "{\"prompt\": [151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198],"
             " \"n_predict\": %d, \"n_probs\": 20, \"temperature\": 0, \"cache_prompt\": false,"
             " \"samplers\": [\"top_k\"], \"top_k\": 1}",
             N_POS);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/completion", port);
    char *rep;
    long code = http(url, body, &rep);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_equal(code, 200);
    json_t *j = json_loads(rep, 0, NULL);
    free(rep);
    assert_non_null(j);
    json_t *probs = json_object_get(j, "completion_probabilities");
    assert_true(json_is_array(probs));
    assert_int_equal(json_array_size(probs), N_POS);

    dc_gen_params gp = gen_params(1, N_POS);
    gp.sampling.temperature = 0; /* greedy */
    dc_gen_result r;
    generate(backend, &gp, NULL, &r);
    const dc_trace *t = &r.traces[0].trace;
    assert_true(t->n_tokens >= 1);
    double worst = 0;
    for (size_t pos = 0; pos < t->n_tokens; pos++) {
        json_t *e = json_array_get(probs, pos);
        assert_int_equal(json_integer_value(json_object_get(e, "id")), t->tokens[pos].id);
        json_t *top = json_object_get(e, "top_logprobs");
        assert_int_equal(json_array_size(top), 20);
        for (size_t m = 0; m < 20; m++) {
            double theirs = json_number_value(json_object_get(json_array_get(top, m), "logprob"));
            double d = fabs(theirs - t->tokens[pos].top_lp[m]);
            if (d > worst)
                worst = d;
            if (d > 1e-4)
                fail_msg("position %zu rank %zu: logprob %.7f, llama-server %.7f", pos, m,
                         t->tokens[pos].top_lp[m], theirs);
        }
        double theirs = json_number_value(json_object_get(e, "logprob"));
        assert_true(fabs(theirs - t->tokens[pos].logprob) <= 1e-4);
    }
    fprintf(stderr, "# llama-server agreement: %zu positions, largest difference %.2e\n",
            t->n_tokens, worst);
    json_decref(j);
    dc_gen_result_clear(&r);
}

/* ---- batching and waves ---- */

static void test_batched_equals_sequential(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(6, 24);
    dc_gen_result together, waves, single;
    generate(backend, &gp, NULL, &together); /* 6 slots at once */
    gp.parallel = 4;                         /* 4, then 2 in a second wave */
    generate(backend, &gp, NULL, &waves);
    dc_backend *one = open_model(1);
    gp.parallel = 0;
    generate(one, &gp, NULL, &single); /* one at a time */
    dc_backend_free(one);
    double worst = 0;
    const dc_gen_result *cmp[2] = {&waves, &single};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < 6; i++) {
            const dc_gen_trace *a = &together.traces[i], *b = &cmp[c]->traces[i];
            assert_int_equal(a->seed, b->seed);
            assert_int_equal(a->stop, b->stop);
            assert_int_equal(a->trace.n_tokens, b->trace.n_tokens);
            assert_string_equal(a->trace.text, b->trace.text);
            for (size_t j = 0; j < a->trace.n_tokens; j++) {
                assert_int_equal(a->trace.tokens[j].id, b->trace.tokens[j].id);
                for (size_t m = 0; m < 20; m++) {
                    double d = fabs(a->trace.tokens[j].top_lp[m] - b->trace.tokens[j].top_lp[m]);
                    worst = d > worst ? d : worst;
                }
            }
        }
    }
    /* Same tokens everywhere; logprobs within float noise of the batch shape. */
    fprintf(stderr, "# batched vs waves vs one-at-a-time: largest logprob difference %.2e\n",
            worst);
    assert_true(worst <= 1e-4);
    /* The traces differ from each other (seeds per trace). */
    assert_string_not_equal(together.traces[0].trace.text, together.traces[1].trace.text);
    dc_gen_result_clear(&together);
    dc_gen_result_clear(&waves);
    dc_gen_result_clear(&single);
}

/* ---- streams: continuous batching across prompts ---- */

/* Four prompts (the token prompt, shortened by 0..3 tokens) with 3, 5, 1
 * and 4 traces; request `bad` (when < 4) has a prompt longer than the
 * context. */
typedef struct feed feed;
typedef struct feed_obs {
    feed *f;
    size_t i;
} feed_obs;

struct feed {
    size_t n_req, taken, bad;
    feed_obs obs[4];
    size_t last_req, switches; /* token events of another request than the last one */
    size_t n_traces[4];
    char ids[4][16];
    int32_t *long_prompt;
    dc_gen_result res[4];
    int done[4];
    size_t order[4], n_done;
};

static dc_observe feed_token(void *user, const dc_token_event *ev)
{
    (void)ev;
    feed_obs *o = user;
    o->f->switches += o->i != o->f->last_req;
    o->f->last_req = o->i;
    return DC_OBSERVE_CONTINUE;
}

static dc_gen_params feed_params(const feed *f, size_t i)
{
    dc_gen_params gp = gen_params(f->n_traces[i], 24);
    gp.instance_id = f->ids[i];
    return gp;
}

static dc_prompt feed_prompt(const feed *f, size_t i)
{
    dc_prompt p = token_prompt();
    if (i == f->bad) {
        p.tokens = f->long_prompt;
        p.n_tokens = 300;
    } else {
        p.n_tokens -= i;
    }
    return p;
}

static int feed_next(void *user, dc_gen_request *req, dc_error *err)
{
    (void)err;
    feed *f = user;
    if (f->taken == f->n_req)
        return 0;
    size_t i = f->taken++;
    req->prompt = feed_prompt(f, i);
    req->params = feed_params(f, i);
    f->obs[i] = (feed_obs){f, i};
    req->obs = (dc_observer){feed_token, NULL, &f->obs[i]};
    return 1;
}

static dc_observe feed_done(void *user, size_t i, dc_gen_result *res)
{
    feed *f = user;
    assert_true(i < f->n_req);
    assert_false(f->done[i]);
    f->done[i] = 1;
    f->order[f->n_done++] = i;
    f->res[i] = *res;
    memset(res, 0, sizeof *res);
    return DC_OBSERVE_CONTINUE;
}

static void feed_init(feed *f, size_t bad)
{
    memset(f, 0, sizeof *f);
    f->n_req = 4;
    f->bad = bad;
    size_t n[4] = {3, 5, 1, 4};
    for (size_t i = 0; i < 4; i++) {
        f->n_traces[i] = n[i];
        snprintf(f->ids[i], sizeof f->ids[i], "req-%zu", i);
    }
    f->long_prompt = calloc(300, sizeof *f->long_prompt);
}

static void feed_free(feed *f)
{
    for (size_t i = 0; i < 4; i++)
        dc_gen_result_clear(&f->res[i]);
    free(f->long_prompt);
}

static double trace_diff(const dc_gen_trace *a, const dc_gen_trace *b)
{
    assert_int_equal(a->seed, b->seed);
    assert_int_equal(a->stop, b->stop);
    assert_int_equal(a->trace.n_tokens, b->trace.n_tokens);
    assert_string_equal(a->trace.id, b->trace.id);
    assert_string_equal(a->trace.text, b->trace.text);
    double worst = 0;
    for (size_t j = 0; j < a->trace.n_tokens; j++) {
        assert_int_equal(a->trace.tokens[j].id, b->trace.tokens[j].id);
        for (size_t m = 0; m < a->trace.tokens[j].n_top; m++) {
            double d = fabs(a->trace.tokens[j].top_lp[m] - b->trace.tokens[j].top_lp[m]);
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

/* A stream 4 wide gives each request the traces it gets on its own (the
 * slots mix prompts and traces of different prompts in one step), and
 * the same stream again gives them bit for bit. */
static void test_stream_equals_one_by_one(void **state)
{
    (void)state;
    feed a, b;
    feed_init(&a, 99);
    feed_init(&b, 99);
    dc_error err = {0};
    dc_gen_stream s = {feed_next, feed_done, &a, 4};
    assert_int_equal(dc_backend_generate_stream(backend, &s, &err), DC_STATUS_OK);
    s.user = &b;
    assert_int_equal(dc_backend_generate_stream(backend, &s, &err), DC_STATUS_OK);
    assert_int_equal(a.n_done, 4);
    /* the requests' tokens interleave: one at a time would switch 3 times */
    fprintf(stderr, "# stream of 4 requests 4 wide: %zu switches between requests\n", a.switches);
    assert_true(a.switches > 3);
    double worst = 0;
    for (size_t i = 0; i < 4; i++) {
        dc_gen_params gp = feed_params(&a, i);
        dc_prompt p = feed_prompt(&a, i);
        dc_gen_result one;
        assert_int_equal(dc_backend_generate(backend, &p, &gp, NULL, &one, &err), DC_STATUS_OK);
        assert_int_equal(a.res[i].n_traces, a.n_traces[i]);
        assert_int_equal(a.res[i].prompt_tokens, p.n_tokens);
        for (size_t t = 0; t < a.n_traces[i]; t++) {
            double d = trace_diff(&one.traces[t], &a.res[i].traces[t]);
            worst = d > worst ? d : worst;
            /* bit for bit between the two streams */
            assert_true(trace_diff(&a.res[i].traces[t], &b.res[i].traces[t]) == 0.0);
        }
        assert_true(a.res[i].gen_seconds > 0);
        dc_gen_result_clear(&one);
    }
    fprintf(stderr, "# stream vs one prompt at a time: largest logprob difference %.2e; order",
            worst);
    for (size_t k = 0; k < 4; k++)
        fprintf(stderr, " %zu", a.order[k]);
    fprintf(stderr, "\n");
    assert_true(worst <= 1e-4);
    feed_free(&a);
    feed_free(&b);
}

/* A request that cannot start stops the stream: the ones before it are
 * finished and handed over, it and later ones are not taken further. */
static void test_stream_bad_request(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 2);
    dc_error err = {0};
    dc_gen_stream s = {feed_next, feed_done, &f, 4};
    assert_int_equal(dc_backend_generate_stream(backend, &s, &err), DC_STATUS_LIMIT);
    assert_non_null(strstr(err.msg, "300 tokens"));
    assert_int_equal(f.taken, 3); /* request 3 never asked for */
    assert_true(f.done[0] && f.done[1]);
    assert_false(f.done[2]);
    for (size_t i = 0; i < 2; i++)
        for (size_t t = 0; t < f.n_traces[i]; t++)
            assert_true(f.res[i].traces[t].stop == DC_STOP_EOS ||
                        f.res[i].traces[t].stop == DC_STOP_LENGTH);
    feed_free(&f);
}

/* done() says cancel: the requests still running end "cancelled" and are
 * handed over; no request is taken after. */
static dc_observe feed_done_cancel(void *user, size_t i, dc_gen_result *res)
{
    feed_done(user, i, res);
    return DC_OBSERVE_CANCEL;
}

static void test_stream_cancel(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 99);
    dc_error err = {0};
    dc_gen_stream s = {feed_next, feed_done_cancel, &f, 4};
    assert_int_equal(dc_backend_generate_stream(backend, &s, &err), DC_STATUS_OK);
    assert_true(f.taken < 4 || f.n_done == 4);
    assert_int_equal(f.n_done, f.taken); /* everything taken was handed over */
    size_t cancelled = 0;
    for (size_t k = 1; k < f.n_done; k++)
        for (size_t t = 0; t < f.n_traces[f.order[k]]; t++)
            cancelled += f.res[f.order[k]].traces[t].stop == DC_STOP_CANCELLED;
    assert_true(f.n_done == 1 || cancelled > 0);
    feed_free(&f);
}

/* ---- the observer ---- */

typedef struct watch {
    size_t stop_trace, stop_pos;
    dc_observe action;
    size_t seen[16];
    size_t after_cancel;
    int cancelled;
    size_t ended;
} watch;

static dc_observe on_token(void *user, const dc_token_event *ev)
{
    watch *w = user;
    if (w->cancelled)
        w->after_cancel++;
    w->seen[ev->trace]++;
    assert_int_equal(ev->pos + 1, w->seen[ev->trace]);
    if (ev->trace == w->stop_trace && ev->pos == w->stop_pos) {
        if (w->action == DC_OBSERVE_CANCEL)
            w->cancelled = 1;
        return w->action;
    }
    return DC_OBSERVE_CONTINUE;
}

static dc_observe on_end(void *user, const dc_gen_trace *t)
{
    watch *w = user;
    w->ended++;
    (void)t;
    return DC_OBSERVE_CONTINUE;
}

static void test_observer_stop(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(4, 20);
    dc_gen_result base, r;
    generate(backend, &gp, NULL, &base);
    watch w;
    memset(&w, 0, sizeof w);
    w.stop_trace = 2;
    w.stop_pos = 5;
    w.action = DC_OBSERVE_STOP;
    dc_observer obs = {on_token, on_end, &w};
    /* Trace 2 must live past position 5 in the baseline for the test to mean anything. */
    assert_true(base.traces[2].n_generated > 6);
    generate(backend, &gp, &obs, &r);
    assert_int_equal(w.ended, 4);
    const dc_gen_trace *t = &r.traces[2];
    assert_int_equal(t->stop, DC_STOP_CONFIDENCE);
    assert_string_equal(t->trace.finish_reason, "confidence");
    assert_int_equal(t->n_generated, 5); /* tokens 0..4 kept, 5 dropped */
    assert_int_equal(t->n_evaluated, 6);
    assert_int_equal(t->trace.n_tokens, 5);
    for (size_t j = 0; j < 5; j++)
        assert_int_equal(t->trace.tokens[j].id, base.traces[2].trace.tokens[j].id);
    /* The other traces are exactly what they were without the stop. */
    for (size_t i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        assert_int_equal(r.traces[i].stop, base.traces[i].stop);
        assert_string_equal(r.traces[i].trace.text, base.traces[i].trace.text);
    }
    dc_gen_result_clear(&base);
    dc_gen_result_clear(&r);
}

static void test_cancel(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(12, 30);
    gp.parallel = 4; /* traces 4..11 wait in later waves */
    watch w;
    memset(&w, 0, sizeof w);
    w.stop_trace = 1;
    w.stop_pos = 3;
    w.action = DC_OBSERVE_CANCEL;
    dc_observer obs = {on_token, on_end, &w};
    dc_gen_result r;
    generate(backend, &gp, &obs, &r);
    assert_int_equal(w.after_cancel, 0); /* no token shown after the cancel */
    assert_int_equal(w.ended, 12);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(r.traces[i].stop, DC_STOP_CANCELLED);
        assert_true(r.traces[i].n_generated <= 4);
    }
    assert_int_equal(r.traces[1].n_generated, 3);
    for (size_t i = 4; i < 12; i++)
        assert_int_equal(r.traces[i].n_evaluated, 0);
    dc_gen_result_clear(&r);
}

/* The online controller drives the backend unchanged: a window with a
 * threshold above every confidence stops each trace once it is full. */
typedef struct online_obs {
    dc_online_window w[8];
} online_obs;

static dc_observe online_token(void *user, const dc_token_event *ev)
{
    online_obs *o = user;
    if (ev->pos == 0)
        assert_int_equal(dc_online_window_init_with(&o->w[ev->trace], 1e9, 4), DC_STATUS_OK);
    dc_position pos = {ev->logprob, ev->top_lp, ev->n_top, ev->sampled_rank};
    double conf;
    assert_int_equal(dc_token_confidence(&pos, 20, DC_PROFILE_PAPER, &conf), DC_STATUS_OK);
    return dc_online_window_push(&o->w[ev->trace], conf) == DC_ONLINE_STOP ? DC_OBSERVE_STOP
                                                                           : DC_OBSERVE_CONTINUE;
}

static void test_online_window_drives_stop(void **state)
{
    (void)state;
    online_obs o;
    memset(&o, 0, sizeof o);
    dc_observer obs = {online_token, NULL, &o};
    dc_gen_params gp = gen_params(3, 20);
    gp.sampling = dc_sampling_qwen3(0);
    dc_gen_result r;
    generate(backend, &gp, &obs, &r);
    for (size_t i = 0; i < 3; i++) {
        if (r.traces[i].stop == DC_STOP_EOS && r.traces[i].n_generated < 4)
            continue; /* ended before the window filled */
        assert_int_equal(r.traces[i].stop, DC_STOP_CONFIDENCE);
        assert_int_equal(r.traces[i].n_generated, 3);
        dc_online_window_free(&o.w[i]);
    }
    dc_gen_result_clear(&r);
}

/* ---- EOS and length ---- */

static void test_eos_and_length(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(16, 48);
    dc_gen_result r;
    generate(backend, &gp, NULL, &r);
    size_t eos = 0, length = 0;
    for (size_t i = 0; i < r.n_traces; i++) {
        const dc_gen_trace *t = &r.traces[i];
        assert_true(t->n_generated >= 1);
        const dc_token *last = &t->trace.tokens[t->trace.n_tokens - 1];
        if (t->stop == DC_STOP_EOS) {
            eos++;
            assert_true(last->id == 151645 || last->id == 151643);
            assert_true(t->n_generated <= 48);
            assert_null(strstr(t->trace.text, "<|im_end|>"));
        } else {
            assert_int_equal(t->stop, DC_STOP_LENGTH);
            assert_string_equal(t->trace.finish_reason, "length");
            length++;
            assert_int_equal(t->n_generated, 48);
            assert_true(last->id != 151645 && last->id != 151643);
        }
        assert_int_equal(t->n_evaluated, t->n_generated);
    }
    fprintf(stderr, "# 16 traces of at most 48 tokens: %zu eos, %zu length\n", eos, length);
    assert_true(eos >= 1);
    assert_true(length >= 1);
    dc_gen_result_clear(&r);
}

static void test_context_full_is_length(void **state)
{
    (void)state;
    /* 256 tokens per trace: a 9-token prompt leaves room for 247. */
    dc_gen_params gp = gen_params(1, 100000);
    gp.sampling.temperature = 0;
    dc_gen_result r;
    generate(backend, &gp, NULL, &r);
    const dc_gen_trace *t = &r.traces[0];
    if (t->stop == DC_STOP_EOS) {
        assert_true(t->n_generated <= 247);
    } else {
        assert_int_equal(t->stop, DC_STOP_LENGTH);
        assert_int_equal(t->n_generated, 256 - 9 + 1);
    }
    dc_gen_result_clear(&r);
}

static void test_bad_prompts(void **state)
{
    (void)state;
    dc_gen_params gp = gen_params(1, 4);
    dc_gen_result r;
    dc_error err = {0};
    int32_t bad[] = {5, 200000};
    dc_prompt p = {NULL, NULL, bad, 2};
    assert_int_equal(dc_backend_generate(backend, &p, &gp, NULL, &r, &err), DC_STATUS_INVALID_ARG);
    assert_int_equal(r.n_traces, 0);
    int32_t *many = calloc(300, sizeof *many);
    dc_prompt longp = {NULL, NULL, many, 300};
    assert_int_equal(dc_backend_generate(backend, &longp, &gp, NULL, &r, &err), DC_STATUS_LIMIT);
    free(many);
    dc_prompt none = {NULL, NULL, NULL, 0};
    assert_int_equal(dc_backend_generate(backend, &none, &gp, NULL, &r, &err),
                     DC_STATUS_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_chat_qwen3),
        cmocka_unit_test(test_logprobs_shape),
        cmocka_unit_test(test_vs_llama_server),
        cmocka_unit_test(test_batched_equals_sequential),
        cmocka_unit_test(test_stream_equals_one_by_one),
        cmocka_unit_test(test_stream_bad_request),
        cmocka_unit_test(test_stream_cancel),
        cmocka_unit_test(test_observer_stop),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_online_window_drives_stop),
        cmocka_unit_test(test_eos_and_length),
        cmocka_unit_test(test_context_full_is_length),
        cmocka_unit_test(test_bad_prompts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
