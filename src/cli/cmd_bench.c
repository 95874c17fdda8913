/* cmd_bench.c - `safety-deepconf bench generate`: generation speed of the
 * llama backend with everything DeepConf adds (top-k logprobs, an
 * observer on every token), comparable with llama-batched-bench. */
#include <getopt.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_confidence.h"
#include "deepconf/dc_online.h"
#include "util/jsonw.h"

#define CMD "bench"

static const char *const usage_text =
    "usage: safety-deepconf bench generate --model FILE [OPTIONS]\n"
    "\n"
    "Generates --traces traces of exactly --gen-tokens tokens from one shared\n"
    "prompt of --prompt-tokens tokens (fixed pseudo-random ids, as\n"
    "llama-batched-bench uses), --parallel at a time, with the top-k logprobs\n"
    "of every position and an observer that computes each token's DeepConf\n"
    "confidence and pushes it into an online window (as `run --strategy\n"
    "online` does). End-of-generation tokens do not end a trace here.\n"
    "\n"
    "Options:\n"
    "  --model FILE          GGUF model (required)\n"
    "  --traces N            traces in all (default: --parallel)\n"
    "  --parallel P          traces decoded together (default 8)\n"
    "  --prompt-tokens L     shared prompt length (default 128)\n"
    "  --gen-tokens G        tokens per trace (default 64)\n"
    "  --threads T           CPU threads (default: all cores)\n"
    "  --top-logprobs K      alternatives per position (default 20; 0 = none)\n"
    "  --no-observer         no per-token observer\n"
    "  --n-gpu-layers N      layers on the GPU of a CUDA/Vulkan build (default 0)\n"
    "  --json                one JSON object on stdout (else a line of text)\n"
    "  -h, --help            this text\n"
    "\n"
    "Output: {\"prompt_tokens_per_s\", \"gen_tokens_per_s\", \"traces_per_s\",\n"
    "\"peak_rss_bytes\", ...}: prompt tokens / seconds decoding the prompt;\n"
    "generated tokens of all traces / seconds generating them after the prompt;\n"
    "traces / total seconds; the process's peak resident memory. Also\n"
    "\"decoded_tokens_per_s\": tokens decoded after the prompt / the same\n"
    "seconds (the first token of each trace comes from the prompt's logits,\n"
    "so a trace of G tokens needs G - 1 decodes), the figure that compares\n"
    "with llama-batched-bench's S_TG.\n";

typedef struct bench_obs {
    dc_online_window w[256];
    size_t k;
    double sum;
} bench_obs;

static dc_observe bench_token(void *user, const dc_token_event *ev)
{
    bench_obs *o = user;
    dc_online_window *w = &o->w[ev->trace % 256];
    if (ev->pos == 0) {
        dc_online_window_free(w);
        dc_online_window_init_with(w, -1.0, 64); /* never stops: measures the bookkeeping */
    }
    if (ev->n_top >= o->k && o->k > 0) {
        dc_position pos = {ev->logprob, ev->top_lp, ev->n_top, ev->sampled_rank};
        double c;
        if (dc_token_confidence(&pos, o->k, DC_PROFILE_PAPER, &c) == DC_STATUS_OK) {
            o->sum += c;
            return dc_online_window_push(w, c) == DC_ONLINE_STOP ? DC_OBSERVE_STOP
                                                                 : DC_OBSERVE_CONTINUE;
        }
    }
    return DC_OBSERVE_CONTINUE;
}

typedef struct bench_opts {
    const char *model;
    size_t traces, par, L, G, threads, k, ngl;
    int observer, json;
} bench_opts;

/* 1: run; 0: usage error (said); -1: help printed. */
static int bench_parse(int argc, char **argv, bench_opts *o)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"traces", required_argument, NULL, 'n'},
                                         {"parallel", required_argument, NULL, 'p'},
                                         {"prompt-tokens", required_argument, NULL, 'L'},
                                         {"gen-tokens", required_argument, NULL, 'G'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"top-logprobs", required_argument, NULL, 'k'},
                                         {"no-observer", no_argument, NULL, 'O'},
                                         {"n-gpu-layers", required_argument, NULL, 'g'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (bench_opts){NULL, 0, 8, 128, 64, 0, 20, 0, 1, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'n': ok = cli_parse_size(CMD, "--traces", optarg, 1, 1u << 20, &o->traces); break;
        case 'p': ok = cli_parse_size(CMD, "--parallel", optarg, 1, 256, &o->par); break;
        case 'L': ok = cli_parse_size(CMD, "--prompt-tokens", optarg, 1, 1u << 20, &o->L); break;
        case 'G': ok = cli_parse_size(CMD, "--gen-tokens", optarg, 1, 1u << 20, &o->G); break;
        case 't': ok = cli_parse_size(CMD, "--threads", optarg, 1, 1024, &o->threads); break;
        case 'k': ok = cli_parse_size(CMD, "--top-logprobs", optarg, 0, 1024, &o->k); break;
        case 'O': o->observer = 0; break;
        case 'g': ok = cli_parse_size(CMD, "--n-gpu-layers", optarg, 0, 100000, &o->ngl); break;
        case 'j': o->json = 1; break;
        case 'h': fputs(usage_text, stdout); return -1;
        default: fputs(usage_text, stderr); return 0;
        }
        if (!ok)
            return 0;
    }
    if (!o->model || optind != argc) {
        cli_err(CMD, "generate: %s",
                o->model ? "unexpected arguments" : "--model FILE is required");
        return 0;
    }
    if (!o->traces)
        o->traces = o->par;
    return 1;
}

/* The shared prompt: fixed pseudo-random ids, as llama-batched-bench uses. NULL: no memory. */
static int32_t *bench_prompt(size_t L, int32_t n_vocab)
{
    int32_t *prompt = dc_malloc(L * sizeof *prompt);
    if (!prompt)
        return NULL;
    uint32_t s = 12345;
    for (size_t i = 0; i < L; i++) {
        s = s * 1103515245u + 12345u;
        prompt[i] = (int32_t)((s >> 8) % (uint32_t)(n_vocab > 150000 ? 150000 : n_vocab));
    }
    return prompt;
}

/* A warm-up trace, then the measured generation into *r (caller clears it after CLI_OK);
 * the backend, opened and freed here, describes the model into *info. Says its errors. */
static int bench_measure(const bench_opts *o, dc_gen_result *r, dc_model_info *info)
{
    dc_llama_params lp = dc_llama_default_params();
    lp.model_path = o->model;
    lp.parallel = (uint32_t)o->par;
    lp.n_ctx = (uint32_t)(o->L + o->G + 1);
    lp.n_threads = (int32_t)o->threads;
    lp.n_gpu_layers = (int32_t)o->ngl;
    dc_backend *b;
    dc_error err = {0};
    dc_status st = dc_backend_llama_open(&lp, &b, &err);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "generate: %s", err.msg);
        return CLI_FAIL;
    }
    dc_backend_describe(b, info);
    int32_t *prompt = bench_prompt(o->L, info->n_vocab);
    bench_obs *ob = dc_calloc(1, sizeof *ob);
    if (!prompt || !ob) {
        dc_free(prompt);
        dc_free(ob);
        dc_backend_free(b);
        cli_err(CMD, "out of memory");
        return CLI_FAIL;
    }
    ob->k = o->k;
    dc_observer obs = {bench_token, NULL, ob};
    dc_gen_params gp = dc_gen_default_params();
    gp.top_logprobs = o->k;
    gp.ignore_eos = 1;
    gp.keep_tokens = 0;
    gp.seed = 1;
    gp.instance_id = "bench";
    /* Warm-up (as llama-batched-bench does): one short trace. */
    gp.n_traces = 1;
    gp.max_tokens = 2;
    dc_prompt warm = {NULL, NULL, prompt, o->L < 16 ? o->L : 16};
    st = dc_backend_generate(b, &warm, &gp, NULL, r, &err);
    dc_gen_result_clear(r);
    if (st == DC_STATUS_OK) {
        dc_prompt pr = {NULL, NULL, prompt, o->L};
        gp.n_traces = o->traces;
        gp.max_tokens = o->G;
        st = dc_backend_generate(b, &pr, &gp, o->observer ? &obs : NULL, r, &err);
    }
    dc_free(prompt);
    for (size_t i = 0; i < 256; i++)
        dc_online_window_free(&ob->w[i]);
    dc_free(ob);
    dc_backend_free(b);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "generate: %s", err.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The rates on stdout: one JSON object, or a line of text. 1 when written. */
static int bench_report(const bench_opts *o, const dc_gen_result *r, const dc_model_info *info)
{
    size_t decoded = r->gen_tokens - o->traces; /* first tokens come from the prompt logits */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t peak = (uint64_t)ru.ru_maxrss * 1024u;
    double pp = r->prompt_seconds > 0 ? (double)r->prompt_tokens / r->prompt_seconds : 0;
    double tg = r->gen_seconds > 0 ? (double)r->gen_tokens / r->gen_seconds : 0;
    double dg = r->gen_seconds > 0 ? (double)decoded / r->gen_seconds : 0;
    double tps = (double)o->traces / (r->prompt_seconds + r->gen_seconds);
    if (!o->json) {
        printf("prompt %.2f tok/s, generation %.2f tok/s (decoded %.2f tok/s), %.3f traces/s, "
               "peak RSS %.1f MiB\n",
               pp, tg, dg, tps, (double)peak / 1048576.0);
        return fflush(stdout) == 0;
    }
    dc_buf out;
    dc_buf_init(&out, 0);
    jw w;
    jw_init(&w, &out);
    jw_obj_begin(&w);
    jw_kv_double(&w, "prompt_tokens_per_s", pp);
    jw_kv_double(&w, "gen_tokens_per_s", tg);
    jw_kv_double(&w, "traces_per_s", tps);
    jw_kv_uint(&w, "peak_rss_bytes", peak);
    jw_kv_double(&w, "decoded_tokens_per_s", dg);
    jw_kv_uint(&w, "prompt_tokens", r->prompt_tokens);
    jw_kv_uint(&w, "gen_tokens", r->gen_tokens);
    jw_kv_double(&w, "prompt_seconds", r->prompt_seconds);
    jw_kv_double(&w, "gen_seconds", r->gen_seconds);
    jw_kv_uint(&w, "traces", o->traces);
    jw_kv_uint(&w, "parallel", o->par);
    jw_kv_uint(&w, "top_logprobs", o->k);
    jw_kv_bool(&w, "observer", o->observer);
    jw_kv_uint(&w, "weights_bytes", info->size_bytes);
    jw_obj_end(&w);
    dc_buf_putc(&out, '\n');
    int ok = out.st == DC_STATUS_OK && cli_write_stdout(CMD, out.data, out.len);
    dc_buf_free(&out);
    return ok;
}

static int bench_generate(int argc, char **argv)
{
    bench_opts o;
    int pr = bench_parse(argc, argv, &o);
    if (pr <= 0)
        return pr < 0 ? CLI_OK : CLI_USAGE;
    dc_gen_result r;
    dc_model_info info;
    if (bench_measure(&o, &r, &info) != CLI_OK)
        return CLI_FAIL;
    int ok = bench_report(&o, &r, &info);
    dc_gen_result_clear(&r);
    return ok ? CLI_OK : CLI_FAIL;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "generate"))
        return bench_generate(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    cli_err(CMD, "expected 'generate'");
    fputs(usage_text, stderr);
    return CLI_USAGE;
}
