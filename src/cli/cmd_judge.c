/* cmd_judge.c - `safety-deepconf judge`: label (prompt, response) pairs with a guard model. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "cli/cli.h"
#include "safety/judge_int.h"
#include "safety/sdc_judge.h"
#include "util/jsonw.h"
#include "util/lines.h"

#define CMD "judge"
#define MAX_ENDPOINTS 16

static const char *const usage_text =
    "usage: safety-deepconf judge [OPTIONS] [FILE.jsonl|-]\n"
    "\n"
    "Asks a guard model whether each response is harmful. Reads JSONL (default:\n"
    "stdin), one object per line with a string \"prompt\" and a string \"response\",\n"
    "and writes each object back with these fields added at its end:\n"
    "  \"judge\": \"qwen3guard\"           the judge kind\n"
    "  \"judge_model\": \"sha256:...\"     the judge model (GGUF sha256, or openai:NAME)\n"
    "  \"judge_output\": \"...\"           what the judge said\n"
    "  \"judge_cached\": true|false      the verdict came from the cache\n"
    "  \"judge_harm\": \"safe\"|\"unsafe\"|\"controversial\"|\"none\"\n"
    "  \"judge_malformed\": true|false   the reply did not match the official format\n"
    "                                 (then the labels are null: never guessed)\n"
    "  \"judge_harmful_strict\"          controversial counts as harmful (true/false/null)\n"
    "  \"judge_harmful_loose\"           controversial counts as safe\n"
    "  \"judge_refusal\"                 the judge's refusal label (null: not given)\n"
    "  \"judge_harmful_request\"         WildGuard's prompt label (null otherwise)\n"
    "  \"judge_categories\": \"...\"       as the judge named them\n"
    "  \"judge_p_unsafe_strict\", \"judge_p_unsafe_loose\"\n"
    "                                 P(unsafe) from the verdict token's logprobs:\n"
    "                                 the mass of the unsafe word(s) over all verdict\n"
    "                                 words there (null when none is in the top-k)\n"
    "Blank lines are skipped. Decoding is greedy.\n"
    "\n"
    "Judges (see docs/judges.md):\n"
    "  qwen3guard   Qwen3Guard-Gen 0.6B/4B/8B (default; default GGUF\n"
    "               mradermacher/Qwen3Guard-Gen-0.6B-GGUF:Q8_0)\n"
    "  wildguard    allenai WildGuard 7B (no default GGUF: give MODEL)\n"
    "  llamaguard3  Llama Guard 3 1B/8B (default QuantFactory/Llama-Guard-3-8B-GGUF:Q8_0;\n"
    "               a model name with \"1B\" gets the 1B's categories S1..S13)\n"
    "\n"
    "Options:\n"
    "  --judge KIND[:MODEL]  the judge and its model: a GGUF path or Hub reference\n"
    "                        (llama), or the server's model name (openai)\n"
    "  --backend llama|openai  in-process llama.cpp (default) or an OpenAI-compatible\n"
    "                        server through /v1/completions\n"
    "  --endpoint URL        openai: a server base URL; repeat for several\n"
    "  --prompt-field NAME   (default prompt)\n"
    "  --response-field NAME (default response)\n"
    "  --max-tokens N        tokens the judge may write (default 32)\n"
    "  --top-logprobs K      alternatives per position (default 20)\n"
    "  --cache FILE          verdict cache (default $SDC_CACHE_DIR/judges/verdicts.jsonl,\n"
    "                        else ~/.cache/safety-deepconf/judges/verdicts.jsonl)\n"
    "  --no-cache            judge every pair again, keep nothing\n"
    "  --no-template-check   llama: do not check the GGUF's own chat template against\n"
    "                        the project's prompt (docs/judges.md); by default a\n"
    "                        template that renders the prompt differently is an error\n"
    "  --threads N           llama: CPU threads (default: all cores)\n"
    "  --n-gpu-layers N      llama: layers on the GPU\n"
    "  --quiet               no notes on stderr\n"
    "  -h, --help            this text\n"
    "\n"
    "A pair longer than the judge's context (llama: 8192 tokens) gets \"judge_error\"\n"
    "instead of a verdict. At the end a line on stderr counts the pairs, cached and\n"
    "malformed verdicts and the pairs too long.\n"
    "Exit status: 0 ok (also with malformed verdicts), 1 bad input or the judge\n"
    "failed (the message says why), 2 bad options.\n";

enum {
    O_JUDGE = 256,
    O_BACKEND,
    O_ENDPOINT,
    O_PFIELD,
    O_RFIELD,
    O_MAXTOK,
    O_TOPLP,
    O_CACHE,
    O_NOCACHE,
    O_NOTMPL,
    O_THREADS,
    O_NGL,
    O_QUIET
};

static void on_note(void *user, const char *text)
{
    (void)user;
    fprintf(stderr, "judge: %s\n", text);
}

typedef struct judge_opts {
    const char *judge, *backend, *pfield, *rfield, *cache;
    const char *endpoints[MAX_ENDPOINTS];
    size_t n_endpoints, max_tokens, top_lp, threads, ngl;
    int no_cache, quiet, no_template_check;
} judge_opts;

/* Parses the flags into *o; returns -1 to go on, else the exit code. */
static int parse_flags(int argc, char **argv, judge_opts *o)
{
    static const struct option longopts[] = {
        {"judge", required_argument, NULL, O_JUDGE},
        {"backend", required_argument, NULL, O_BACKEND},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"prompt-field", required_argument, NULL, O_PFIELD},
        {"response-field", required_argument, NULL, O_RFIELD},
        {"max-tokens", required_argument, NULL, O_MAXTOK},
        {"top-logprobs", required_argument, NULL, O_TOPLP},
        {"cache", required_argument, NULL, O_CACHE},
        {"no-cache", no_argument, NULL, O_NOCACHE},
        {"no-template-check", no_argument, NULL, O_NOTMPL},
        {"threads", required_argument, NULL, O_THREADS},
        {"n-gpu-layers", required_argument, NULL, O_NGL},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        case O_JUDGE: o->judge = optarg; break;
        case O_BACKEND: o->backend = optarg; break;
        case O_ENDPOINT:
            if (o->n_endpoints == MAX_ENDPOINTS) {
                cli_err(CMD, "at most %d --endpoint", MAX_ENDPOINTS);
                return CLI_USAGE;
            }
            o->endpoints[o->n_endpoints++] = optarg;
            break;
        case O_PFIELD: o->pfield = optarg; break;
        case O_RFIELD: o->rfield = optarg; break;
        case O_MAXTOK:
            if (!cli_parse_size(CMD, "--max-tokens", optarg, 1, 4096, &o->max_tokens))
                return CLI_USAGE;
            break;
        case O_TOPLP:
            if (!cli_parse_size(CMD, "--top-logprobs", optarg, 1, 1024, &o->top_lp))
                return CLI_USAGE;
            break;
        case O_CACHE: o->cache = optarg; break;
        case O_NOCACHE: o->no_cache = 1; break;
        case O_NOTMPL: o->no_template_check = 1; break;
        case O_THREADS:
            if (!cli_parse_size(CMD, "--threads", optarg, 0, 1024, &o->threads))
                return CLI_USAGE;
            break;
        case O_NGL:
            if (!cli_parse_size(CMD, "--n-gpu-layers", optarg, 0, 10000, &o->ngl))
                return CLI_USAGE;
            break;
        case O_QUIET: o->quiet = 1; break;
        case ':': cli_err(CMD, "%s needs a value", argv[optind - 1]); return CLI_USAGE;
        default:
            cli_err(CMD, "unknown option '%s' (see --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (strcmp(o->backend, "llama") != 0 && strcmp(o->backend, "openai") != 0) {
        cli_err(CMD, "--backend: expected llama or openai, not '%s'", o->backend);
        return CLI_USAGE;
    }
    if (!strcmp(o->backend, "openai") != (o->n_endpoints > 0)) {
        cli_err(CMD, o->n_endpoints ? "--endpoint needs --backend openai"
                                    : "--backend openai needs --endpoint URL");
        return CLI_USAGE;
    }
    if (argc - optind > 1) {
        cli_err(CMD, "expected at most one FILE (or - for stdin)");
        return CLI_USAGE;
    }
    return -1;
}

/* The input object re-serialised with the judge's fields at its end. */
static int write_line(dc_buf *out, json_t *obj, const char *kind, const char *model,
                      const char *said, int cached, const sdc_judge_verdict *v, const char *error)
{
    char *orig = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!orig)
        return 0;
    dc_buf add;
    dc_buf_init(&add, 0);
    jw w;
    jw_init(&w, &add);
    jw_obj_begin(&w);
    jw_kv_str(&w, "judge", kind);
    jw_kv_str(&w, "judge_model", model);
    if (v) {
        jw_kv_str(&w, "judge_output", said);
        jw_kv_bool(&w, "judge_cached", cached);
        sdc_judge_verdict_put(&w, "judge_", v);
    } else {
        jw_kv_str(&w, "judge_error", error);
    }
    jw_obj_end(&w);
    size_t n = strlen(orig);
    dc_buf_append(out, orig, n - 1);
    dc_buf_puts(out, n > 2 ? "," : "");
    dc_buf_puts(out, add.data + 1);
    dc_buf_putc(out, '\n');
    free(orig);
    int ok = add.st == DC_STATUS_OK && out->st == DC_STATUS_OK;
    dc_buf_free(&add);
    return ok;
}

typedef struct tally {
    size_t n, cached, malformed, too_long;
} tally;

/* Judges every line of rd; 1 when all went well. */
static int judge_lines(dc_lines *rd, const char *name, const judge_opts *o, sdc_judge_session *s,
                       const char *kind, tally *t)
{
    dc_buf out;
    dc_buf_init(&out, 0);
    dc_status st;
    int ok = 1;
    while (ok && (st = dc_lines_next(rd)) != DC_STATUS_NOT_FOUND) {
        if (st != DC_STATUS_OK) {
            cli_err(CMD, "%s:%zu: %s", name, rd->lineno, rd->msg);
            ok = 0;
            break;
        }
        const char *line = rd->line.data ? rd->line.data : "";
        if (strspn(line, " \t") == rd->line.len)
            continue;
        json_error_t je;
        json_t *obj = json_loadb(line, rd->line.len, 0, &je);
        json_t *p = json_object_get(obj, o->pfield), *r = json_object_get(obj, o->rfield);
        if (!json_is_object(obj) || !json_is_string(p) || !json_is_string(r)) {
            cli_err(CMD, "%s:%zu: expected a JSON object with strings \"%s\" and \"%s\"", name,
                    rd->lineno, o->pfield, o->rfield);
            json_decref(obj);
            ok = 0;
            break;
        }
        sdc_judge_verdict v;
        char *said = NULL;
        int cached = 0;
        dc_error err = {DC_STATUS_OK, ""};
        st = sdc_judge_session_ask(s, json_string_value(p), json_string_value(r), &v, &said,
                                   &cached, &err);
        if (st != DC_STATUS_OK && st != DC_STATUS_LIMIT) {
            cli_err(CMD, "%s:%zu: %s", name, rd->lineno, err.msg[0] ? err.msg : dc_strerror(st));
            ok = 0;
        } else {
            /* LIMIT: longer than the judge's context; the line says so */
            t->n += st == DC_STATUS_OK;
            t->too_long += st == DC_STATUS_LIMIT;
            t->cached += cached;
            t->malformed += st == DC_STATUS_OK && v.malformed;
            ok = write_line(&out, obj, kind, sdc_judge_session_model(s), said, cached,
                            st == DC_STATUS_OK ? &v : NULL, err.msg);
            if (!ok)
                cli_err(CMD, "out of memory");
            else if (out.len > (1 << 16)) {
                ok = cli_write_stdout(CMD, out.data, out.len);
                dc_buf_reset(&out);
            }
        }
        dc_free(said);
        json_decref(obj);
    }
    if (ok && out.len)
        ok = cli_write_stdout(CMD, out.data, out.len);
    dc_buf_free(&out);
    return ok;
}

int cmd_judge(int argc, char **argv)
{
    judge_opts o;
    memset(&o, 0, sizeof o);
    o.judge = "qwen3guard";
    o.backend = "llama";
    o.pfield = "prompt";
    o.rfield = "response";
    o.max_tokens = 32;
    o.top_lp = 20;
    int rc = parse_flags(argc, argv, &o);
    if (rc >= 0)
        return rc;
    dc_error err = {DC_STATUS_OK, ""};
    sdc_judge_setup setup = sdc_judge_default_setup();
    if (sdc_judge_spec_parse(o.judge, &setup.kind, &setup.model, &err) != DC_STATUS_OK) {
        cli_err(CMD, "--judge: %s", err.msg);
        return CLI_USAGE;
    }
    char cache_path[4096];
    if (!o.no_cache) {
        if (o.cache)
            snprintf(cache_path, sizeof cache_path, "%s", o.cache);
        else
            sdc_judge_cache_default_path(cache_path, sizeof cache_path);
        setup.cache_path = cache_path;
    }
    setup.openai = !strcmp(o.backend, "openai");
    setup.endpoints = o.endpoints;
    setup.n_endpoints = o.n_endpoints;
    setup.threads = (int32_t)o.threads;
    setup.n_gpu_layers = (int32_t)o.ngl;
    setup.max_tokens = o.max_tokens;
    setup.top_logprobs = o.top_lp;
    setup.template_check = !o.no_template_check;
    setup.note = o.quiet ? NULL : on_note;
    const char *path = optind < argc ? argv[optind] : "-";
    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        cli_err(CMD, "%s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    sdc_judge_session *s = NULL;
    dc_status st = sdc_judge_session_open(&setup, &s, &err);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "%s", err.msg[0] ? err.msg : dc_strerror(st));
        if (!is_stdin)
            fclose(f);
        return CLI_FAIL;
    }
    dc_lines rd;
    dc_lines_init(&rd, f, 0);
    tally t = {0, 0, 0, 0};
    int ok =
        judge_lines(&rd, is_stdin ? "<stdin>" : path, &o, s, sdc_judge_kind_name(setup.kind), &t);
    dc_lines_free(&rd);
    if (!is_stdin)
        fclose(f);
    sdc_judge_session_free(s);
    if (!o.quiet)
        fprintf(stderr,
                "judge: %zu pairs, %zu from the cache, %zu malformed verdicts, %zu too long "
                "for the judge's context\n",
                t.n, t.cached, t.malformed, t.too_long);
    return ok ? CLI_OK : CLI_FAIL;
}
