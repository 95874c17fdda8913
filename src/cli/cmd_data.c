/* cmd_data.c - `safety-deepconf data`: inspect, export and synthesise instances. */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "safety/sdc_dataset.h"
#include "safety/sdc_hub.h"
#include "safety/sdc_synthetic.h"
#include "util/jsonw.h"

#define CMD "data"

static const char *const usage_text =
    "usage: safety-deepconf data inspect FILE [LOAD OPTIONS] [--json]\n"
    "       safety-deepconf data export  FILE [LOAD OPTIONS] [SELECTION OPTIONS]\n"
    "       safety-deepconf data synth   [--num-instances N] [--seed S]\n"
    "       safety-deepconf data pull    NAME[@REVISION] [--offline] [--quiet] [--json]\n"
    "       safety-deepconf data list    [--json]\n"
    "       safety-deepconf data corpus  --datasets DIR -o FILE.jsonl (see --help)\n"
    "\n"
    "inspect  counts what a benchmark file holds: rows, labels, categories.\n"
    "export   writes the file's instances as normalised JSONL on stdout, one per line:\n"
    "           {\"id\", \"prompt\", \"label\", \"category\", \"benchmark\"}\n"
    "         (and \"messages\" for chat prompts). label is unsafe (the model should\n"
    "         refuse), safe (it should comply) or unknown.\n"
    "synth    writes the built-in synthetic benchmark as the same JSONL: unsafe\n"
    "         requests in 10 harm categories, plainly safe requests and borderline-safe\n"
    "         ones (XSTest style), 2:1:1, the same bytes for a seed on any machine.\n"
    "pull     downloads a benchmark's file from the Hugging Face Hub into the Hub's cache\n"
    "         ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub; shared with\n"
    "         Python tools) as 'model pull' does, and prints its path. NAME is a\n"
    "         --benchmark name; REVISION a branch, tag or commit (default: the revision\n"
    "         the table pins). $HF_ENDPOINT, $HF_TOKEN (gated sets: wildguard),\n"
    "         $HF_HUB_OFFLINE=1 (cache only); a cut download resumes; sha256 checked.\n"
    "         --json prints {path, benchmark, repo, file, commit, size, sha256,\n"
    "         from_cache, resumed_from}. 'run --benchmark NAME' without --data does\n"
    "         the same before it loads the file.\n"
    "list     the table of benchmarks on the Hub: repo, revision, file, format,\n"
    "         config, split, licence, gated.\n"
    "\n"
    "Files: CSV (RFC 4180, CRLF or LF, BOM), JSONL, JSON lists, JUDGE-BENCH JSON\n"
    "(\"instances\"), and a JSON object of id -> text. The benchmark is detected from\n"
    "the CSV header or the first record's keys; see docs/datasets.md.\n"
    "\n"
    "Load options:\n"
    "  --benchmark NAME      toxicchat, harmbench, wildguard, xstest, advbench,\n"
    "                        jailbreakbench, strongreject, refusal-direction, generic\n"
    "                        (default: detect; an error when nothing or several match)\n"
    "  --skip-bad-rows       skip malformed rows and count them (default: the first\n"
    "                        bad row is an error naming file and line)\n"
    "  --max-field-bytes N   longest field (default 1048576)\n"
    "  --max-rows N          most rows (default 10000000)\n"
    "  --include-copyright   harmbench: keep the copyright behaviours. By default they\n"
    "                        are left out (scored by hashing in HarmBench, not a\n"
    "                        refusal test) and not counted in rows.\n"
    "  --human-annotated-only  toxicchat official CSV/JSONL: keep human_annotation\n"
    "                        rows only (default: all rows)\n"
    "  --jailbreak-category  toxicchat: category \"jailbreaking\" for jailbreak rows\n"
    "                        (default: every row has category \"toxicity\")\n"
    "  --prompt-field F      generic: the prompt field (default prompt); a list of\n"
    "                        {role, content} objects is read as chat messages\n"
    "  --label-field F       generic: the label field (default label)\n"
    "  --category-field F    generic: the category field (default category)\n"
    "  --id-field F          generic: the id field (default id; missing: FILE-ROW)\n"
    "  --unsafe-values A,B   values meaning unsafe (default harmful,unsafe,toxic,1,\n"
    "                        true,yes,jailbreak); given alone, every other non-empty\n"
    "                        value is safe\n"
    "  --safe-values A,B     values meaning safe (default safe,unharmful,benign,\n"
    "                        harmless,0,false,no)\n"
    "  Other defaults leave nothing out: every row of every other benchmark is\n"
    "  loaded, and an empty label is unknown.\n"
    "\n"
    "inspect options:\n"
    "  --json                print {\"benchmark\", \"rows\", \"labels\": {\"unsafe\", \"safe\",\n"
    "                        \"unknown\"}, \"categories\": {NAME: COUNT}}; rows counts the\n"
    "                        instances loaded (after options such as the copyright rule)\n"
    "\n"
    "Selection options (export), applied in this order:\n"
    "  --category A,B        keep these categories\n"
    "  --split NAME          keep this split (train, val, test; from the file name)\n"
    "  --shuffle             shuffle (splitmix64, reproducible for a seed)\n"
    "  --seed S              seed of the shuffle and of synth (default 0)\n"
    "  --num-instances N     keep the first N (default: all; synth: 100)\n"
    "  --stratify            with --num-instances, keep each label's share\n"
    "                        (largest remainder), in list order\n"
    "\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (the message names file, line and what was\n"
    "expected), 2 bad options.\n";

enum {
    OPT_BENCH = 256,
    OPT_SKIP,
    OPT_MAXF,
    OPT_MAXR,
    OPT_COPY,
    OPT_HUMAN,
    OPT_JB,
    OPT_PF,
    OPT_LF,
    OPT_CF,
    OPT_IDF,
    OPT_UV,
    OPT_SV,
    OPT_JSON,
    OPT_CAT,
    OPT_SPLIT,
    OPT_SHUF,
    OPT_SEED,
    OPT_NUM,
    OPT_STRAT
};

typedef struct data_opts {
    sdc_load_params load;
    sdc_select_params sel;
    int json;
    int num_set;
    const char *file;
} data_opts;

/* One option into o; flag is the option as given, for messages. 1 ok, 0 usage error
 * (said), -1 help printed. */
static int data_opt(int c, const char *flag, data_opts *o)
{
    size_t z;
    switch (c) {
    case 'h': fputs(usage_text, stdout); return -1;
    case OPT_BENCH:
        if (sdc_benchmark_from_name(optarg, &o->load.benchmark) != DC_STATUS_OK ||
            o->load.benchmark == SDC_BENCHMARK_SYNTHETIC) {
            cli_err(CMD,
                    "--benchmark: unknown name '%s' (expected toxicchat, harmbench, "
                    "wildguard, xstest, advbench, jailbreakbench, strongreject, "
                    "refusal-direction, generic or auto)",
                    optarg);
            return 0;
        }
        break;
    case OPT_SKIP: o->load.skip_bad_rows = 1; break;
    case OPT_MAXF:
        if (!cli_parse_size(CMD, "--max-field-bytes", optarg, 1, (size_t)1 << 30,
                            &o->load.max_field_bytes))
            return 0;
        break;
    case OPT_MAXR:
        if (!cli_parse_size(CMD, "--max-rows", optarg, 1, SDC_MAX_ROWS_DEFAULT * 10,
                            &o->load.max_rows))
            return 0;
        break;
    case OPT_COPY: o->load.include_copyright = 1; break;
    case OPT_HUMAN: o->load.human_annotated_only = 1; break;
    case OPT_JB: o->load.jailbreak_category = 1; break;
    case OPT_PF: o->load.prompt_field = optarg; break;
    case OPT_LF: o->load.label_field = optarg; break;
    case OPT_CF: o->load.category_field = optarg; break;
    case OPT_IDF: o->load.id_field = optarg; break;
    case OPT_UV: o->load.unsafe_values = optarg; break;
    case OPT_SV: o->load.safe_values = optarg; break;
    case OPT_JSON: o->json = 1; break;
    case OPT_CAT: o->sel.categories = optarg; break;
    case OPT_SPLIT: o->sel.split = optarg; break;
    case OPT_SHUF: o->sel.shuffle = 1; break;
    case OPT_SEED: {
        char *end;
        if (!optarg[0] || optarg[0] == '-' || (o->sel.seed = strtoull(optarg, &end, 10), *end)) {
            cli_err(CMD,
                    "--seed: expected a whole number from 0 to 18446744073709551615, "
                    "got '%s'",
                    optarg);
            return 0;
        }
        break;
    }
    case OPT_NUM:
        if (!cli_parse_size(CMD, "--num-instances", optarg, 1, 10000000, &z))
            return 0;
        o->sel.num_instances = z;
        o->num_set = 1;
        break;
    case OPT_STRAT: o->sel.stratify = 1; break;
    case ':': cli_err(CMD, "%s needs a value", flag); return 0;
    default: cli_err(CMD, "unknown option '%s' (see --help)", flag); return 0;
    }
    return 1;
}

/* Returns 1 ok, 0 usage error, -1 help printed. */
static int parse_opts(const char *sub, int argc, char **argv, data_opts *o)
{
    static const struct option longopts[] = {
        {"benchmark", required_argument, NULL, OPT_BENCH},
        {"skip-bad-rows", no_argument, NULL, OPT_SKIP},
        {"max-field-bytes", required_argument, NULL, OPT_MAXF},
        {"max-rows", required_argument, NULL, OPT_MAXR},
        {"include-copyright", no_argument, NULL, OPT_COPY},
        {"human-annotated-only", no_argument, NULL, OPT_HUMAN},
        {"jailbreak-category", no_argument, NULL, OPT_JB},
        {"prompt-field", required_argument, NULL, OPT_PF},
        {"label-field", required_argument, NULL, OPT_LF},
        {"category-field", required_argument, NULL, OPT_CF},
        {"id-field", required_argument, NULL, OPT_IDF},
        {"unsafe-values", required_argument, NULL, OPT_UV},
        {"safe-values", required_argument, NULL, OPT_SV},
        {"json", no_argument, NULL, OPT_JSON},
        {"category", required_argument, NULL, OPT_CAT},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"shuffle", no_argument, NULL, OPT_SHUF},
        {"seed", required_argument, NULL, OPT_SEED},
        {"num-instances", required_argument, NULL, OPT_NUM},
        {"stratify", no_argument, NULL, OPT_STRAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->load = sdc_load_default_params();
    o->sel = sdc_select_default_params();
    int is_synth = !strcmp(sub, "synth"), is_inspect = !strcmp(sub, "inspect");
    opterr = 0;
    optind = 0; /* GNU: reinitialise; options and FILE may come in any order */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int sel_opt = c >= OPT_CAT && c <= OPT_STRAT;
        if ((is_synth && c != 'h' && c != OPT_SEED && c != OPT_NUM) || (is_inspect && sel_opt) ||
            (!is_inspect && c == OPT_JSON)) {
            cli_err(CMD, "%s: option '%s' does not apply to 'data %s' (see --help)", sub,
                    argv[optind - 1], sub);
            return 0;
        }
        int r = data_opt(c, argv[optind - 1], o);
        if (r <= 0)
            return r;
    }
    if (is_synth) {
        if (optind != argc) {
            cli_err(CMD, "synth takes no file (got '%s')", argv[optind]);
            return 0;
        }
        return 1;
    }
    if (optind + 1 != argc) {
        cli_err(CMD, optind == argc ? "%s: missing the FILE" : "%s: expected one FILE", sub);
        return 0;
    }
    o->file = argv[optind];
    return 1;
}

/* ---- output ---- */

static void write_instance(jw *w, const sdc_instance *it)
{
    jw_obj_begin(w);
    jw_kv_str(w, "id", it->id);
    jw_kv_str(w, "prompt", it->prompt);
    jw_kv_str(w, "label", sdc_label_name(it->label));
    jw_kv_str(w, "category", it->category);
    jw_kv_str(w, "benchmark", sdc_benchmark_name(it->benchmark));
    if (it->n_messages) {
        jw_key(w, "messages");
        jw_arr_begin(w);
        for (size_t i = 0; i < it->n_messages; i++) {
            jw_obj_begin(w);
            jw_kv_str(w, "role", it->messages[i].role);
            jw_kv_str(w, "content", it->messages[i].content);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

/* Writes instances as JSONL, flushing in blocks. */
static int write_jsonl(const sdc_dataset *ds)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    int ok = 1;
    for (size_t i = 0; i < ds->n && ok; i++) {
        jw w;
        jw_init(&w, &b);
        write_instance(&w, &ds->items[i]);
        dc_buf_putc(&b, '\n');
        if (b.st) {
            cli_err(CMD, "out of memory");
            ok = 0;
        } else if (b.len > (1 << 20) || i + 1 == ds->n) {
            ok = cli_write_stdout(CMD, b.data, b.len);
            dc_buf_reset(&b);
        }
    }
    dc_buf_free(&b);
    return ok;
}

static int inspect(const data_opts *o, const sdc_dataset *ds)
{
    size_t u, s, k;
    sdc_dataset_count_labels(ds, &u, &s, &k);
    json_t *cats = json_object();
    if (!cats) {
        cli_err(CMD, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < ds->n; i++) {
        const char *c = ds->items[i].category;
        json_t *v = json_object_get(cats, c);
        json_object_set_new(cats, c, json_integer(v ? json_integer_value(v) + 1 : 1));
    }
    dc_buf b;
    dc_buf_init(&b, 0);
    if (o->json) {
        jw w;
        jw_init(&w, &b);
        jw_obj_begin(&w);
        jw_kv_str(&w, "benchmark", sdc_benchmark_name(ds->benchmark));
        jw_kv_uint(&w, "rows", ds->n);
        jw_key(&w, "labels");
        jw_obj_begin(&w);
        jw_kv_uint(&w, "unsafe", u);
        jw_kv_uint(&w, "safe", s);
        jw_kv_uint(&w, "unknown", k);
        jw_obj_end(&w);
        jw_key(&w, "categories");
        jw_obj_begin(&w);
        const char *key;
        json_t *v;
        json_object_foreach(cats, key, v)
        {
            jw_kv_int(&w, key, json_integer_value(v));
        }
        jw_obj_end(&w);
        jw_obj_end(&w);
        dc_buf_putc(&b, '\n');
    } else {
        dc_buf_printf(&b, "file:       %s\nbenchmark:  %s\nrows:       %zu\n", o->file,
                      sdc_benchmark_name(ds->benchmark), ds->n);
        dc_buf_printf(&b, "labels:     unsafe %zu, safe %zu, unknown %zu\n", u, s, k);
        if (ds->rows_excluded)
            dc_buf_printf(&b, "left out:   %zu rows by a default or option (see --help)\n",
                          ds->rows_excluded);
        if (ds->rows_skipped)
            dc_buf_printf(&b, "skipped:    %zu bad rows\n", ds->rows_skipped);
        dc_buf_printf(&b, "categories: %zu\n", json_object_size(cats));
        const char *key;
        json_t *v;
        json_object_foreach(cats, key, v)
        {
            dc_buf_printf(&b, "  %-40s %lld\n", *key ? key : "(none)",
                          (long long)json_integer_value(v));
        }
    }
    json_decref(cats);
    int ok = !b.st && cli_write_stdout(CMD, b.data, b.len);
    dc_buf_free(&b);
    return ok;
}

/* ---- the Hub ---- */

static int data_pull(int argc, char **argv)
{
    static const struct option opts[] = {{"offline", no_argument, NULL, 'O'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    dc_hf_params hp = dc_hf_default_params();
    int quiet = 0, json = 0, c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'O': hp.offline = 1; break;
        case 'q': quiet = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default:
            cli_err(CMD, "unknown option '%s' (see --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_err(CMD, "pull: expected one NAME[@REVISION] (see 'data list')");
        return CLI_USAGE;
    }
    cli_progress pr;
    cli_pull_progress(&hp, &pr, quiet);
    const char *spec = argv[optind];
    const sdc_hub_source *src;
    dc_hf_result res;
    dc_error err = {DC_STATUS_OK, ""};
    dc_status st = sdc_hub_pull(spec, &hp, &res, &src, &err);
    cli_progress_end(&pr);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "pull %s: %s", spec, err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    int ok = cli_pull_print(CMD, &res, sdc_benchmark_name(src->benchmark), src->repo, json);
    dc_hf_result_clear(&res);
    return ok ? CLI_OK : CLI_FAIL;
}

static int data_list(int argc, char **argv)
{
    int json = argc == 2 && !strcmp(argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json)) {
        cli_err(CMD, "list: takes only --json");
        return CLI_USAGE;
    }
    size_t n;
    const sdc_hub_source *t = sdc_hub_sources(&n);
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    if (json)
        jw_arr_begin(&w);
    else
        dc_buf_printf(&b, "%-18s %-29s %-12s %-8s %-14s %-8s %-20s %s\n", "benchmark", "repo",
                      "revision", "format", "config", "split", "licence", "file");
    for (size_t i = 0; i < n; i++) {
        const sdc_hub_source *s = &t[i];
        const char *name = sdc_benchmark_name(s->benchmark);
        if (json) {
            jw_obj_begin(&w);
            jw_kv_str(&w, "benchmark", name);
            jw_kv_str(&w, "repo", s->repo);
            jw_kv_str(&w, "revision", s->repo ? s->revision : NULL);
            jw_kv_str(&w, "file", s->repo ? s->path : NULL);
            jw_kv_str(&w, "format", s->format);
            jw_kv_str(&w, "config", s->repo ? s->config : NULL);
            jw_kv_str(&w, "split", s->repo ? s->split : NULL);
            jw_kv_str(&w, "licence", s->repo ? s->licence : NULL);
            jw_kv_bool(&w, "gated", s->gated);
            jw_kv_str(&w, "note", s->note);
            jw_obj_end(&w);
        } else if (!s->repo) {
            dc_buf_printf(&b, "%-18s (%s)\n", name, s->note);
        } else {
            dc_buf_printf(&b, "%-18s %-29s %-12.12s %-8s %-14s %-8s %-20s %s%s\n", name, s->repo,
                          s->revision, s->format, s->config, s->split, s->licence, s->path,
                          s->gated ? "  [gated: HF_TOKEN]" : "");
        }
    }
    if (json) {
        jw_arr_end(&w);
        dc_buf_putc(&b, '\n');
    }
    int ok = !b.st && cli_write_stdout(CMD, b.data, b.len);
    dc_buf_free(&b);
    return ok ? CLI_OK : CLI_FAIL;
}

int cmd_data(int argc, char **argv)
{
    int rc;
    const char *sub = cli_subcommand(argc, argv, usage_text, &rc);
    if (!sub)
        return rc;
    if (!strcmp(sub, "pull"))
        return data_pull(argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return data_list(argc - 1, argv + 1);
    if (!strcmp(sub, "corpus"))
        return cmd_data_corpus(argc - 1, argv + 1);
    if (strcmp(sub, "inspect") && strcmp(sub, "export") && strcmp(sub, "synth")) {
        cli_err(CMD,
                "unknown subcommand '%s' (expected inspect, export, synth, pull, list or corpus)",
                sub);
        return CLI_USAGE;
    }
    data_opts o;
    int r = parse_opts(sub, argc - 1, argv + 1, &o);
    if (r < 0)
        return CLI_OK;
    if (!r)
        return CLI_USAGE;
    dc_error err = {DC_STATUS_OK, ""};
    sdc_dataset *ds = NULL;
    dc_status st;
    if (!strcmp(sub, "synth")) {
        sdc_synth_params sp = sdc_synth_default_params();
        if (o.num_set)
            sp.num_instances = o.sel.num_instances;
        sp.seed = o.sel.seed;
        st = sdc_synth_generate(&sp, &ds, &err);
    } else {
        st = sdc_dataset_load(o.file, &o.load, &ds, &err);
    }
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "%s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    if (ds->rows_skipped)
        cli_err(CMD, "skipped %zu bad rows; the first: %s", ds->rows_skipped, err.msg);
    int ok = 1;
    if (!strcmp(sub, "inspect")) {
        ok = inspect(&o, ds);
    } else {
        if (!strcmp(sub, "export") && sdc_dataset_select(ds, &o.sel, &err) != DC_STATUS_OK) {
            cli_err(CMD, "%s", err.msg);
            ok = 0;
        }
        if (ok)
            ok = write_jsonl(ds);
    }
    sdc_dataset_free(ds);
    return ok ? CLI_OK : CLI_FAIL;
}
