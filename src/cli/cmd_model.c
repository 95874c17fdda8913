/* cmd_model.c - `safety-deepconf model pull|info|mkdemo|train`. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_gguf_demo.h"
#include "deepconf/dc_hf.h"
#include "safety/sdc_experiment.h"
#include "util/jsonw.h"
#include "util/clock.h"
#include "util/fs.h"

#define CMD "model"

static const char *const usage_text =
    "usage: safety-deepconf model COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  pull MODEL         download a GGUF from the Hugging Face Hub into its cache\n"
    "  info [MODEL]       describe a GGUF file (or Qwen3's published shapes) and\n"
    "                     estimate the memory generation needs\n"
    "  mkdemo -o FILE     write a Qwen3-architecture demo model with random weights\n"
    "  train -o FILE      train a small Qwen3-architecture model on a corpus\n"
    "\n"
    "'safety-deepconf model COMMAND --help' describes a command.\n";

static const char *const pull_usage =
    "usage: safety-deepconf model pull [OPTIONS] MODEL\n"
    "\n"
    "Downloads a GGUF model into the Hugging Face cache and prints its path.\n"
    "\n"
    "MODEL is\n"
    "  Owner/Model              a Qwen3 base repo: Qwen/Qwen3-0.6B means\n"
    "                           Qwen/Qwen3-0.6B-GGUF at Q8_0\n"
    "  owner/repo-GGUF[:QUANT]  as llama.cpp's -hf: the .gguf file of that quant\n"
    "                           (default Q8_0), e.g. Qwen/Qwen3-4B-GGUF:Q4_K_M\n"
    "  owner/repo/FILE.gguf     one file of a repo\n"
    "\n"
    "Files land in $HF_HOME/hub/models--Owner--Repo/ (default\n"
    "~/.cache/huggingface) as huggingface_hub lays them out (blobs/, refs/,\n"
    "snapshots/REV/FILE), so other tools share them. An interrupted download\n"
    "resumes; size and sha256 are checked when the Hub lists them.\n"
    "\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN,\n"
    "HF_HOME, HF_HUB_OFFLINE=1 (cache only).\n"
    "\n"
    "Options:\n"
    "  --revision REV   branch, tag or commit (default main)\n"
    "  --offline        only look in the cache\n"
    "  --quiet          no progress on stderr\n"
    "  --json           print {\"path\",\"repo\",\"file\",\"commit\",\"size\",\"sha256\",\n"
    "                   \"from_cache\",\"resumed_from\"} instead of the path\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 ok, 1 the download failed (the message says why and lists\n"
    "what the repo has), 2 bad options.\n";

static const char *const info_usage =
    "usage: safety-deepconf model info [OPTIONS] [FILE.gguf]\n"
    "\n"
    "Describes a GGUF file from its header (architecture, parameters, quant,\n"
    "context length, size, chat template, end-of-generation tokens) and\n"
    "estimates the memory of generation: weights + KV cache (F16) for the\n"
    "context of each of the parallel traces + compute buffers. Without a file\n"
    "it prints the estimate for Qwen3 0.6B, 1.7B, 4B and 8B at Q8_0 and\n"
    "Q4_K_M from their published shapes.\n"
    "\n"
    "Options:\n"
    "  --ctx N        context per trace, tokens (default 512: a short prompt and\n"
    "                 256 generated tokens, as a default run sizes it)\n"
    "  --parallel P   traces decoded together (default: with a file, auto as a run\n"
    "                 chooses it: as many as --memory-limit holds, at most 64;\n"
    "                 without one, 8)\n"
    "  --memory-limit MIB  the limit of auto --parallel (default: half the\n"
    "                 physical memory)\n"
    "  --json         one JSON object instead of text\n"
    "  -h, --help     this text\n";

static const char *const mkdemo_usage =
    "usage: safety-deepconf model mkdemo [OPTIONS] -o FILE\n"
    "\n"
    "Writes a Qwen3-architecture GGUF with random weights, the real Qwen\n"
    "tokenizer and Qwen3's chat template. Same seed, same bytes.\n"
    "\n"
    "Options:\n"
    "  --shape tiny|small|0.6b  tiny: a few MB, for tests and demos (default);\n"
    "                      small: hidden 128, 4 layers (a second test shape);\n"
    "                      0.6b: Qwen3-0.6B's exact shapes, for benchmarks\n"
    "  --quant Q8_0|F16    weight type (default Q8_0)\n"
    "  --seed S            PRNG seed (default 1)\n"
    "  --vocab FILE        ggml-vocab-qwen2.gguf (default: $SDC_VOCAB,\n"
    "                      $SDC_LLAMA_SHARE_DIR, then what scripts/setup.sh built)\n"
    "  --chat-template FILE  a Jinja chat template to carry instead of Qwen3's\n"
    "                      (tokenizer.chat_template; an empty file: none), e.g.\n"
    "                      to test the judges' template check\n"
    "  -o, --output FILE   where to write (through FILE.tmp, renamed at the end)\n"
    "  --quiet             no progress on stderr\n"
    "  -h, --help          this text\n";

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

/* ---- progress ---- */

static int show_fraction(void *user, float f)
{
    cli_progress *p = user;
    double t = (double)clock() / CLOCKS_PER_SEC;
    if (f >= 1.0f || t - p->last >= 0.5) {
        fprintf(stderr, "\r%s %5.1f%%", p->what, 100.0 * f);
        p->last = t;
        p->shown = 1;
    }
    return 1;
}

/* ---- pull ---- */

static int cmd_pull(int argc, char **argv)
{
    static const struct option opts[] = {
        {"revision", required_argument, NULL, 'r'}, {"offline", no_argument, NULL, 'O'},
        {"quiet", no_argument, NULL, 'q'},          {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    dc_hf_params hp = dc_hf_default_params();
    int quiet = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': hp.revision = optarg; break;
        case 'O': hp.offline = 1; break;
        case 'q': quiet = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(pull_usage, stdout); return CLI_OK;
        default: fputs(pull_usage, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_err(CMD, "pull: expected one MODEL");
        fputs(pull_usage, stderr);
        return CLI_USAGE;
    }
    cli_progress pr;
    cli_pull_progress(&hp, &pr, quiet);
    dc_hf_result res;
    dc_error err = {0};
    dc_status st = dc_hf_pull(argv[optind], &hp, &res, &err);
    cli_progress_end(&pr);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "pull %s: %s", argv[optind], err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    dc_hf_ref ref;
    int is_ref = !dc_hf_is_path(argv[optind]) && !dc_hf_parse_ref(argv[optind], &ref, NULL);
    int ok = cli_pull_print(CMD, &res, NULL, is_ref ? ref.repo : NULL, json);
    dc_hf_result_clear(&res);
    return ok ? CLI_OK : CLI_FAIL;
}

/* ---- info ---- */

static void json_estimate(jw *w, const dc_mem_estimate *e)
{
    jw_obj_begin(w);
    jw_kv_uint(w, "weights_bytes", e->weights);
    jw_kv_uint(w, "kv_bytes", e->kv);
    jw_kv_uint(w, "compute_bytes", e->compute);
    jw_kv_uint(w, "total_bytes", e->total);
    jw_obj_end(w);
}

static int info_file(const char *path, uint32_t ctx, uint32_t par, uint64_t limit, int json)
{
    dc_gguf_info in;
    dc_error err = {0};
    dc_status st = dc_gguf_read_info(path, &in, &err);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "info: %s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    uint32_t n_ctx = in.n_ctx_train && ctx > in.n_ctx_train ? in.n_ctx_train : ctx;
    dc_mem_estimate e;
    int automatic = par == 0;
    if (automatic)
        par = dc_mem_parallel_fit(&in, n_ctx, limit, SDC_PARALLEL_KNEE, &e);
    dc_mem_estimate_compute(in.size_bytes, in.n_layer, in.n_head_kv, in.head_dim, in.n_vocab,
                            in.n_embd, n_ctx, par, &e);
    if (json) {
        dc_buf b;
        dc_buf_init(&b, 0);
        jw w;
        jw_init(&w, &b);
        jw_obj_begin(&w);
        jw_kv_str(&w, "path", path);
        jw_kv_str(&w, "arch", in.arch);
        jw_kv_str(&w, "name", in.name);
        jw_kv_str(&w, "quant", in.quant);
        jw_kv_uint(&w, "n_params", in.n_params);
        jw_kv_uint(&w, "size_bytes", in.size_bytes);
        jw_kv_uint(&w, "file_bytes", in.file_bytes);
        jw_kv_uint(&w, "context_length", in.n_ctx_train);
        jw_kv_uint(&w, "n_layer", in.n_layer);
        jw_kv_uint(&w, "n_embd", in.n_embd);
        jw_kv_uint(&w, "n_head", in.n_head);
        jw_kv_uint(&w, "n_head_kv", in.n_head_kv);
        jw_kv_uint(&w, "head_dim", in.head_dim);
        jw_kv_uint(&w, "n_ff", in.n_ff);
        jw_kv_uint(&w, "n_vocab", in.n_vocab);
        jw_kv_bool(&w, "tied_embeddings", in.tied_embeddings);
        jw_kv_bool(&w, "chat_template", in.has_chat_template);
        jw_key(&w, "eos");
        if (in.eos >= 0)
            jw_int(&w, in.eos);
        else
            jw_null(&w);
        jw_key(&w, "eog");
        jw_arr_begin(&w);
        for (size_t i = 0; i < in.n_eog; i++) {
            jw_obj_begin(&w);
            jw_kv_int(&w, "id", in.eog[i]);
            jw_kv_str(&w, "text", in.eog_text[i]);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_kv_uint(&w, "ctx", n_ctx);
        jw_kv_uint(&w, "parallel", par);
        jw_kv_bool(&w, "parallel_auto", automatic);
        jw_kv_uint(&w, "memory_limit", limit);
        jw_key(&w, "memory");
        json_estimate(&w, &e);
        jw_obj_end(&w);
        dc_buf_putc(&b, '\n');
        int ok = b.st == DC_STATUS_OK && cli_write_stdout(CMD, b.data, b.len);
        dc_buf_free(&b);
        return ok ? CLI_OK : CLI_FAIL;
    }
    printf("file:            %s (%.1f MiB)\n", path, mib(in.file_bytes));
    printf("architecture:    %s\n", in.arch);
    printf("name:            %s\n", in.name[0] ? in.name : "-");
    printf("parameters:      %llu (%.3f B)\n", (unsigned long long)in.n_params,
           (double)in.n_params / 1e9);
    printf("quant:           %s\n", in.quant);
    printf("weights:         %.1f MiB\n", mib(in.size_bytes));
    printf("context length:  %u\n", (unsigned)in.n_ctx_train);
    printf("shape:           %u layers, hidden %u, %u q / %u kv heads of %u, FFN %u, vocab %u%s\n",
           (unsigned)in.n_layer, (unsigned)in.n_embd, (unsigned)in.n_head, (unsigned)in.n_head_kv,
           (unsigned)in.head_dim, (unsigned)in.n_ff, (unsigned)in.n_vocab,
           in.tied_embeddings ? ", tied embeddings" : "");
    printf("chat template:   %s\n", in.has_chat_template ? "yes" : "no");
    printf("eos:             %d\n", (int)in.eos);
    printf("end of generation:");
    for (size_t i = 0; i < in.n_eog; i++)
        printf(" %d %s", (int)in.eog[i], in.eog_text[i]);
    printf("\n");
    if (automatic)
        printf("parallel:        %u (auto: the most, up to %d, within %.0f MiB)\n", (unsigned)par,
               SDC_PARALLEL_KNEE, mib(limit));
    printf("memory (ctx %u x %u parallel): weights %.1f MiB + KV %.1f MiB + compute %.1f MiB "
           "= %.1f MiB\n",
           (unsigned)n_ctx, (unsigned)par, mib(e.weights), mib(e.kv), mib(e.compute), mib(e.total));
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static int info_shapes(uint32_t ctx, uint32_t par, int json)
{
    static const char *const quants[] = {"Q8_0", "Q4_K_M"};
    size_t n;
    const dc_model_shape *sh = dc_qwen3_shapes(&n);
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    if (json) {
        jw_obj_begin(&w);
        jw_kv_uint(&w, "ctx", ctx);
        jw_kv_uint(&w, "parallel", par);
        jw_key(&w, "models");
        jw_arr_begin(&w);
    } else {
        printf("Memory estimates from published shapes (ctx %u per trace x %u parallel, F16 KV):\n",
               (unsigned)ctx, (unsigned)par);
        printf("%-12s %-7s %12s %12s %12s %12s %12s\n", "model", "quant", "params", "weights MiB",
               "KV MiB", "compute MiB", "total MiB");
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t q = 0; q < 2; q++) {
            uint64_t bytes;
            dc_model_shape_bytes(&sh[i], quants[q], &bytes);
            uint32_t c = ctx > sh[i].n_ctx_train ? sh[i].n_ctx_train : ctx;
            dc_mem_estimate e;
            dc_mem_estimate_compute(bytes, sh[i].n_layer, sh[i].n_head_kv, sh[i].head_dim,
                                    sh[i].n_vocab, sh[i].n_embd, c, par, &e);
            uint64_t np = dc_model_shape_params(&sh[i]);
            if (json) {
                jw_obj_begin(&w);
                jw_kv_str(&w, "name", sh[i].name);
                jw_kv_str(&w, "quant", quants[q]);
                jw_kv_uint(&w, "n_params", np);
                jw_key(&w, "memory");
                json_estimate(&w, &e);
                jw_obj_end(&w);
            } else {
                printf("%-12s %-7s %12.3fB %12.1f %12.1f %12.1f %12.1f\n", sh[i].name, quants[q],
                       (double)np / 1e9, mib(e.weights), mib(e.kv), mib(e.compute), mib(e.total));
            }
        }
    }
    int ok = 1;
    if (json) {
        jw_arr_end(&w);
        jw_obj_end(&w);
        dc_buf_putc(&b, '\n');
        ok = b.st == DC_STATUS_OK && cli_write_stdout(CMD, b.data, b.len);
    } else {
        ok = fflush(stdout) == 0;
    }
    dc_buf_free(&b);
    return ok ? CLI_OK : CLI_FAIL;
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"ctx", required_argument, NULL, 'c'},
                                         {"parallel", required_argument, NULL, 'p'},
                                         {"memory-limit", required_argument, NULL, 'm'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    size_t ctx = 512, par = 0, limit_mib = 0;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (!cli_parse_size(CMD, "--ctx", optarg, 1, 1u << 24, &ctx))
                return CLI_USAGE;
            break;
        case 'p':
            if (!cli_parse_size(CMD, "--parallel", optarg, 1, 256, &par))
                return CLI_USAGE;
            break;
        case 'm':
            if (!cli_parse_size(CMD, "--memory-limit", optarg, 1, (size_t)1 << 40, &limit_mib))
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case 'h': fputs(info_usage, stdout); return CLI_OK;
        default: fputs(info_usage, stderr); return CLI_USAGE;
        }
    }
    if (optind < argc - 1) {
        cli_err(CMD, "info: at most one FILE");
        return CLI_USAGE;
    }
    if (optind == argc)
        return info_shapes((uint32_t)ctx, par ? (uint32_t)par : 8, json);
    uint64_t limit = limit_mib ? (uint64_t)limit_mib << 20 : dc_memory_default_limit();
    return info_file(argv[optind], (uint32_t)ctx, (uint32_t)par, limit, json);
}

/* ---- mkdemo ---- */

static int cmd_mkdemo(int argc, char **argv)
{
    static const struct option opts[] = {{"shape", required_argument, NULL, 's'},
                                         {"quant", required_argument, NULL, 'Q'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"vocab", required_argument, NULL, 'v'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"chat-template", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    dc_demo_params p = dc_demo_default_params();
    const char *tmpl_path = NULL;
    const char *outp = NULL;
    int quiet = 0, c;
    size_t seed;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (dc_demo_shape_parse(optarg, &p.shape) != DC_STATUS_OK) {
                cli_err(CMD, "--shape: expected tiny, small or 0.6b, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'Q':
            if (dc_demo_quant_parse(optarg, &p.quant) != DC_STATUS_OK) {
                cli_err(CMD, "--quant: expected Q8_0 or F16, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'S':
            if (!cli_parse_size(CMD, "--seed", optarg, 0, SIZE_MAX, &seed))
                return CLI_USAGE;
            p.seed = (uint64_t)seed;
            break;
        case 'v': p.vocab_path = optarg; break;
        case 'T': tmpl_path = optarg; break;
        case 'o': outp = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(mkdemo_usage, stdout); return CLI_OK;
        default: fputs(mkdemo_usage, stderr); return CLI_USAGE;
        }
    }
    if (!outp || optind != argc) {
        cli_err(CMD, "mkdemo: %s", outp ? "unexpected arguments" : "-o FILE is required");
        fputs(mkdemo_usage, stderr);
        return CLI_USAGE;
    }
    char *tmpl = NULL;
    if (tmpl_path) {
        size_t tn = 0;
        tmpl = dc_read_file(tmpl_path, &tn);
        if (!tmpl) {
            cli_err(CMD, "mkdemo: --chat-template %s: %s", tmpl_path, strerror(errno));
            return CLI_FAIL;
        }
        if (strlen(tmpl) != tn) {
            cli_err(CMD, "mkdemo: --chat-template %s: the file holds a NUL byte", tmpl_path);
            dc_free(tmpl);
            return CLI_FAIL;
        }
        p.chat_template = tmpl;
    }
    cli_progress pr = {"writing", -1.0, 0};
    if (!quiet && p.shape != DC_DEMO_TINY) {
        p.progress = show_fraction;
        p.progress_user = &pr;
    }
    dc_error err = {0};
    dc_status st = dc_demo_write(outp, &p, &err);
    dc_free(tmpl);
    cli_progress_end(&pr);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "mkdemo: %s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_model(int argc, char **argv)
{
    int rc;
    const char *sub = cli_subcommand(argc, argv, usage_text, &rc);
    if (!sub)
        return rc;
    if (!strcmp(sub, "pull"))
        return cmd_pull(argc - 1, argv + 1);
    if (!strcmp(sub, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(sub, "mkdemo"))
        return cmd_mkdemo(argc - 1, argv + 1);
    if (!strcmp(sub, "train"))
        return cmd_model_train(argc - 1, argv + 1);
    cli_err(CMD, "unknown command '%s'", sub);
    fputs(usage_text, stderr);
    return CLI_USAGE;
}
