/* openai_vs_embedded.c - tokens per second of the openai backend against
 * llama-server with P slots versus the embedded llama backend at parallel
 * P, same model, same machine, streaming and top-20 logprobs on (issue 4).
 *
 *   bench_openai_vs_embedded --model M.gguf --llama-server PATH
 *                            [--parallel 1,4,8] [--tokens 64] [--threads N] [--reps 2]
 *
 * For each P: the embedded backend generates P traces of up to --tokens
 * tokens, --reps times after one warm-up call; then llama-server starts
 * with -np P on 127.0.0.1, and the openai backend (completions endpoint,
 * the same Qwen3 prompt text, concurrency P) does the same. Tokens per
 * second = tokens generated over all traces / wall time of the calls.
 * Prints a Markdown table on stdout, progress on stderr.
 *
 * Both sides run without weight repacking (llama-server --no-repack, the
 * embedded backend's repack = 0): llama-server v0.4.0 crashes in its AMX
 * kernels on the demo models on CPUs with AMX, and the comparison needs
 * the same kernels on both sides. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_backend_openai.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const dc_chat CHAT = {NULL, "Write a short story about a lighthouse keeper.", 0};

/* Runs reps calls of n traces; returns tokens per second (-1 on failure). */
static double measure(dc_backend *b, const dc_prompt *pr, size_t n, size_t tokens, int reps,
                      size_t *total_tokens)
{
    dc_gen_params gp = dc_gen_default_params();
    gp.n_traces = n;
    gp.parallel = n;
    gp.max_tokens = tokens;
    gp.top_logprobs = 20;
    gp.keep_tokens = 1;
    gp.seed = 1;
    gp.instance_id = "bench";
    dc_gen_result r;
    dc_error err = {0};
    /* warm-up */
    gp.max_tokens = 4;
    if (dc_backend_generate(b, pr, &gp, NULL, &r, &err) != DC_STATUS_OK) {
        fprintf(stderr, "warm-up failed: %s\n", err.msg);
        return -1;
    }
    dc_gen_result_clear(&r);
    gp.max_tokens = tokens;
    size_t sum = 0;
    double t0 = now_s();
    for (int rep = 0; rep < reps; rep++) {
        gp.first_trace = (uint64_t)rep * n;
        if (dc_backend_generate(b, pr, &gp, NULL, &r, &err) != DC_STATUS_OK) {
            fprintf(stderr, "generate failed: %s\n", err.msg);
            return -1;
        }
        for (size_t i = 0; i < r.n_traces; i++) {
            if (r.traces[i].stop == DC_STOP_ERROR)
                fprintf(stderr, "  trace %zu failed: %s\n", i, dc_backend_openai_trace_error(b, i));
            sum += r.traces[i].n_generated;
        }
        dc_gen_result_clear(&r);
    }
    double dt = now_s() - t0;
    *total_tokens = sum;
    return (double)sum / dt;
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

static pid_t start_server(const char *bin, const char *model, int port, size_t np,
                          size_t ctx_per_slot, int threads, const char *log)
{
    char port_s[32], np_s[32], ctx_s[48], t_s[32];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(np_s, sizeof np_s, "%zu", np);
    snprintf(ctx_s, sizeof ctx_s, "%zu", np * ctx_per_slot);
    snprintf(t_s, sizeof t_s, "%d", threads);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr))
            _exit(126);
        dup2(2, 1);
        execl(bin, bin, "-m", model, "--host", "127.0.0.1", "--port", port_s, "-np", np_s, "-c",
              ctx_s, "-t", t_s, "-tb", t_s, "--no-webui", "--no-repack", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *server = NULL, *plist = "1,4,8";
    size_t tokens = 64;
    int threads = 0, reps = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s: missing value\n", a);
            return 2;
        }
        if (strcmp(a, "--model") == 0)
            model = v;
        else if (strcmp(a, "--llama-server") == 0)
            server = v;
        else if (strcmp(a, "--parallel") == 0)
            plist = v;
        else if (strcmp(a, "--tokens") == 0)
            tokens = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            reps = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (!model || !server || tokens == 0 || reps < 1) {
        fprintf(stderr,
                "usage: %s --model M.gguf --llama-server PATH [--parallel 1,4,8] "
                "[--tokens 64] [--threads N] [--reps 2]\n",
                argv[0]);
        return 2;
    }
    if (threads <= 0)
        threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    size_t ctx = tokens + 256;
    printf("| P | embedded tok/s | openai tok/s | openai / embedded | tokens (emb, openai) |\n");
    printf("|---|---|---|---|---|\n");
    fflush(stdout);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", plist);
    int rc = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        size_t p = (size_t)strtoul(tok, NULL, 10);
        if (p == 0)
            continue;
        /* embedded */
        dc_llama_params lp = dc_llama_default_params();
        lp.model_path = model;
        lp.n_ctx = (uint32_t)ctx;
        lp.parallel = (uint32_t)p;
        lp.n_threads = threads;
        lp.n_threads_batch = threads;
        lp.repack = 0; /* as llama-server's --no-repack: same kernels on both sides */
        dc_backend *emb = NULL;
        dc_error err = {0};
        fprintf(stderr, "P=%zu: embedded...\n", p);
        if (dc_backend_llama_open(&lp, &emb, &err) != DC_STATUS_OK) {
            fprintf(stderr, "llama open: %s\n", err.msg);
            return 1;
        }
        dc_prompt pr = {&CHAT, NULL, NULL, 0};
        size_t emb_tokens = 0;
        double emb_tps = measure(emb, &pr, p, tokens, reps, &emb_tokens);
        char *text = NULL;
        dc_status fst = dc_backend_format_chat(emb, &CHAT, &text, &err);
        dc_backend_free(emb);
        if (fst != DC_STATUS_OK) {
            fprintf(stderr, "format_chat: %s\n", err.msg);
            return 1;
        }
        /* llama-server */
        fprintf(stderr, "P=%zu: llama-server -np %zu...\n", p, p);
        int port = free_port();
        char log[64];
        snprintf(log, sizeof log, "/tmp/bench-llama-server-%d.log", port);
        pid_t pid = start_server(server, model, port, p, ctx, threads, log);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
        dc_openai_params op = dc_backend_openai_default_params();
        const char *eps[1] = {url};
        op.endpoints = eps;
        op.n_endpoints = 1;
        op.api = DC_OPENAI_API_COMPLETIONS;
        op.concurrency = p;
        op.api_key_env = NULL;
        op.model = "bench";
        op.max_retries = 0;
        dc_backend *oai = NULL;
        if (dc_backend_openai_open(&op, &oai, &err) != DC_STATUS_OK) {
            fprintf(stderr, "openai open: %s\n", err.msg);
            stop_server(pid);
            return 1;
        }
        /* wait until the model is loaded: a one-token request answers */
        dc_prompt tp = {NULL, text, NULL, 0};
        int up = 0;
        for (int i = 0; i < 1200 && !up; i++) {
            dc_gen_params gp = dc_gen_default_params();
            gp.max_tokens = 1;
            dc_gen_result r;
            up = dc_backend_generate(oai, &tp, &gp, NULL, &r, &err) == DC_STATUS_OK &&
                 r.traces[0].stop != DC_STOP_ERROR;
            dc_gen_result_clear(&r);
            if (!up)
                sleep_ms(100);
        }
        size_t oai_tokens = 0;
        double oai_tps = up ? measure(oai, &tp, p, tokens, reps, &oai_tokens) : -1;
        dc_backend_free(oai);
        stop_server(pid);
        dc_free(text);
        printf("| %zu | %.1f | %.1f | %.2f | %zu, %zu |\n", p, emb_tps, oai_tps,
               emb_tps > 0 ? oai_tps / emb_tps : 0.0, emb_tokens, oai_tokens);
        fflush(stdout);
        if (emb_tps <= 0 || oai_tps <= 0)
            rc = 1;
    }
    return rc;
}
