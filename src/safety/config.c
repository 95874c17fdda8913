/* config.c - the experiment configuration: a table of keys, a YAML
 * reader (libyaml), flags, validation, JSON for run.json. */
#include "safety/sdc_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <yaml.h>

#include "safety/sdc_hub.h"
#include "safety/sdc_judge.h"
#include "util/buf.h"
#include "util/jsonw.h"

enum ktype { K_INT, K_NUM, K_BOOL, K_STR, K_LIST };

typedef struct key {
    const char *name;
    enum ktype type;
    size_t offset;
    const char *def;     /* default, as text */
    const char *choices; /* "a|b|c" for strings with fixed values, else NULL */
    double lo, hi;       /* range of numbers */
    const char *doc;
} key;

#define OFF(f) offsetof(sdc_config, f)
#define BIG 1e12

static const key keys[] = {
    {"model.name", K_STR, OFF(model), "", NULL, 0, 0,
     "GGUF path, Hugging Face id (Qwen/Qwen3-0.6B), or empty for the offline demo model"},
    {"model.backend", K_STR, OFF(backend), "llama", "llama|openai", 0, 0,
     "llama: in-process llama.cpp; openai: an OpenAI-compatible server"},
    {"model.endpoints", K_LIST, OFF(endpoints), NULL, NULL, 0, 0,
     "openai: base URLs (http://host:8000/v1), requests spread over them"},
    {"model.api", K_STR, OFF(api), "chat", "chat|completions", 0, 0,
     "openai: /v1/chat/completions or /v1/completions"},
    {"model.api_key_env", K_STR, OFF(api_key_env), "OPENAI_API_KEY", NULL, 0, 0,
     "openai: environment variable that holds the API key (never stored)"},
    {"model.server_model", K_STR, OFF(server_model), "", NULL, 0, 0,
     "openai: the request's model field (empty: the server's only model)"},
    {"model.concurrency", K_INT, OFF(concurrency), "8", NULL, 1, 4096,
     "openai: requests in flight"},
    {"model.max_failures", K_INT, OFF(max_failures), "-1", NULL, -1, BIG,
     "openai: failed traces after which the run stops (-1: never)"},
    {"model.allow_insecure", K_BOOL, OFF(allow_insecure), "false", NULL, 0, 0,
     "openai: allow sending the key over plain HTTP to a non-loopback host"},
    {"model.threads", K_INT, OFF(threads), "0", NULL, 0, 1024, "llama: CPU threads (0: all cores)"},
    {"model.n_gpu_layers", K_INT, OFF(n_gpu_layers), "0", NULL, -1, 100000,
     "llama: layers offloaded to the GPU (-1: all; needs a GPU build of llama.cpp)"},
    {"model.ctx_size", K_INT, OFF(ctx_size), "0", NULL, 0, 1 << 24,
     "llama: context per trace in tokens (0: the longest prompt + max_tokens, rounded up to "
     "256)"},
    {"model.batch_size", K_INT, OFF(batch_size), "512", NULL, 1, 1 << 20, "llama: logical batch"},
    {"model.parallel", K_INT, OFF(slots), "0", NULL, 0, 256,
     "llama: traces decoded together, across instances (0: auto, as many as "
     "model.memory_limit holds, at most 64 and at most the run's traces)"},
    {"model.memory_limit", K_INT, OFF(memory_limit), "0", NULL, 0, BIG,
     "llama: MiB for weights, KV cache and compute buffers, which bounds auto "
     "model.parallel (0: half the physical memory)"},

    {"benchmark.name", K_STR, OFF(benchmark), "",
     "|synthetic|auto|toxicchat|harmbench|wildguard|xstest|advbench|jailbreakbench|strongreject|"
     "refusal-direction|generic",
     0, 0,
     "benchmark; auto detects the file's format; empty: auto when benchmark.data is set, "
     "else synthetic"},
    {"benchmark.data", K_STR, OFF(data), "", NULL, 0, 0,
     "benchmark file (not for synthetic; empty: the benchmark's file from the Hugging Face Hub, "
     "see 'data list')"},
    {"benchmark.num_instances", K_INT, OFF(num_instances), "20", NULL, 0, BIG,
     "instances to run (0: all)"},
    {"benchmark.shuffle", K_BOOL, OFF(shuffle), "true", NULL, 0, 0,
     "shuffle before taking num_instances (seeded by generation.seed)"},
    {"benchmark.stratify", K_BOOL, OFF(stratify), "true", NULL, 0, 0,
     "keep the label proportions when taking num_instances"},
    {"benchmark.categories", K_STR, OFF(categories), "", NULL, 0, 0,
     "comma list of categories to keep (empty: all)"},
    {"benchmark.split", K_STR, OFF(split), "", NULL, 0, 0, "split to keep (empty: all)"},
    {"benchmark.human_annotated_only", K_BOOL, OFF(human_annotated_only), "false", NULL, 0, 0,
     "toxicchat: only human-annotated rows"},
    {"benchmark.include_copyright", K_BOOL, OFF(include_copyright), "false", NULL, 0, 0,
     "harmbench: keep the copyright behaviours"},
    {"benchmark.skip_bad_rows", K_BOOL, OFF(skip_bad_rows), "false", NULL, 0, 0,
     "skip and count malformed rows instead of failing"},
    {"benchmark.prompt_field", K_STR, OFF(prompt_field), "", NULL, 0, 0,
     "generic: field holding the prompt"},
    {"benchmark.label_field", K_STR, OFF(label_field), "", NULL, 0, 0,
     "generic: field holding the label"},
    {"benchmark.category_field", K_STR, OFF(category_field), "", NULL, 0, 0,
     "generic: field holding the category"},
    {"benchmark.unsafe_values", K_STR, OFF(unsafe_values), "", NULL, 0, 0,
     "generic: comma list of label values that mean unsafe"},

    {"generation.mode", K_STR, OFF(mode), "refusal", "refusal|classify", 0, 0,
     "refusal: the model answers the prompt; classify: it says whether the prompt is safe"},
    {"refusal.mode", K_STR, OFF(refusal_mode), "combined", "combined|rules|classifier", 0, 0,
     "who decides whether a trace refuses: the stack over the learned classifier and the rules, "
     "the rules alone, or the classifier alone (docs/refusal.md)"},
    {"generation.max_tokens", K_INT, OFF(max_tokens), "256", NULL, 1, 1 << 20,
     "most tokens per trace"},
    {"generation.temperature", K_NUM, OFF(temperature), "nan", NULL, 0, 10,
     "sampling temperature (default: Qwen3's, 0.7 without thinking, 0.6 with)"},
    {"generation.top_p", K_NUM, OFF(top_p), "nan", NULL, 0, 1,
     "nucleus sampling (default: 0.8 without thinking, 0.95 with)"},
    {"generation.top_k", K_INT, OFF(top_k), "-1", NULL, -1, 1 << 20,
     "top-k sampling (-1: Qwen3's 20; 0: off)"},
    {"generation.min_p", K_NUM, OFF(min_p), "0", NULL, 0, 1, "min-p sampling (0: off)"},
    {"generation.thinking", K_BOOL, OFF(thinking), "false", NULL, 0, 0,
     "Qwen3 thinking mode (the <think> block)"},
    {"generation.system_prompt", K_STR, OFF(system_prompt), "", NULL, 0, 0,
     "system prompt (empty: none)"},
    {"generation.top_logprobs", K_INT, OFF(top_logprobs), "20", NULL, 1, 1024,
     "k of the top-k logprobs per position (the confidence's k)"},
    {"generation.seed", K_INT, OFF(seed), "42", NULL, 0, BIG,
     "run seed: selection, and trace i of instance x gets hash(seed, x, i)"},

    {"deepconf.strategy", K_STR, OFF(strategy), "online", "baseline|fixed|adaptive|online", 0, 0,
     "strategy of run (compare runs all four)"},
    {"deepconf.compare", K_BOOL, OFF(compare), "true", NULL, 0, 0,
     "generate the budget's traces once and replay every strategy over them"},
    {"deepconf.fixed_n", K_INT, OFF(fixed_n), "5", NULL, 1, 100000, "fixed: traces"},
    {"deepconf.budget", K_INT, OFF(budget), "10", NULL, 1, 100000,
     "adaptive, online: most traces per instance (compare generates this many)"},
    {"deepconf.parallel", K_INT, OFF(parallel), "2", NULL, 1, 4096,
     "adaptive and online add traces in steps of this (the speed setting is model.parallel)"},
    {"deepconf.consensus", K_NUM, OFF(consensus), "0.95", NULL, 0, 2,
     "tau: stop when the winning answer holds this share of the vote (>1: never)"},
    {"deepconf.warmup", K_INT, OFF(warmup), "4", NULL, 1, 100000, "online: warmup traces N_init"},
    {"deepconf.keep_percent", K_NUM, OFF(keep_percent), "90", NULL, 0.001, 100,
     "online: eta, percent of traces kept (10: DeepConf-low, 90: DeepConf-high)"},
    {"deepconf.window", K_INT, OFF(window), "64", NULL, 1, 1 << 24,
     "group confidence window w in tokens"},
    {"deepconf.tail", K_INT, OFF(tail), "64", NULL, 1, 1 << 24, "tokens of the tail score"},
    {"deepconf.profile", K_STR, OFF(profile), "paper", "paper|reference", 0, 0,
     "confidence arithmetic (reference: the official code's, bit for bit)"},
    {"deepconf.vote_score", K_STR, OFF(vote_score), "lowest", "mean|tail|bottom10|lowest", 0, 0,
     "fixed, adaptive: trace score that weights the vote"},
    {"deepconf.threshold", K_NUM, OFF(threshold), "0.5", NULL, 0, 1,
     "theta: confident when confidence >= theta"},

    {"output.dir", K_STR, OFF(out), "", NULL, 0, 0, "run directory (empty: results/<run_name>)"},
    {"output.run_name", K_STR, OFF(run_name), "", NULL, 0, 0,
     "name of the run (empty: benchmark-model-mode)"},
    {"output.save_tokens", K_STR, OFF(save_tokens), "topk", "none|topk|full", 0, 0,
     "per-token records in traces.jsonl (analyze --replay needs them): topk ids and logprobs, "
     "full also the texts (true and false, the old form: full and none)"},
    {"output.compress", K_STR, OFF(compress), "zstd", "zstd|none", 0, 0,
     "the traces file: zstd writes traces.jsonl.zst, one zstd frame per instance (zstdcat "
     "reads it), none a plain traces.jsonl; a resumed run keeps the file it has"},
    {"output.report_cases", K_INT, OFF(report_cases), "200", NULL, 0, 1000000,
     "report.html: cases embedded per category (the rest are counted)"},

    {"judge.name", K_STR, OFF(judge), "", NULL, 0, 0,
     "guard model judging each response, KIND[:MODEL] (qwen3guard, wildguard, llamaguard3; "
     "empty: none)"},
    {"judge.target", K_STR, OFF(judge_target), "traces", "traces|answer", 0, 0,
     "what is judged: every trace's response, or the response behind each prediction's answer"},
    {"judge.backend", K_STR, OFF(judge_backend), "llama", "llama|openai", 0, 0,
     "the judge in-process (llama.cpp) or on an OpenAI-compatible server (/v1/completions)"},
    {"judge.endpoint", K_STR, OFF(judge_endpoint), "", NULL, 0, 0,
     "openai judge: the server's base URL"},
    {"judge.max_tokens", K_INT, OFF(judge_max_tokens), "32", NULL, 1, 4096,
     "tokens the judge may write (greedy; every verdict format fits in 32)"},
    {"judge.top_logprobs", K_INT, OFF(judge_top_logprobs), "20", NULL, 1, 1024,
     "alternatives per position, for P(unsafe) at the verdict token"},
    {"judge.template_check", K_BOOL, OFF(judge_template_check), "true", NULL, 0, 0,
     "llama judge: render a probe pair with the GGUF's own chat template and stop when its "
     "tokens differ from the project's prompt (docs/judges.md)"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static const key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

int sdc_config_describe(size_t i, const char **k, const char **type, const char **doc)
{
    static const char *const tn[] = {"int", "number", "bool", "string", "list"};
    if (i >= N_KEYS)
        return 0;
    *k = keys[i].name;
    *type = tn[keys[i].type];
    *doc = keys[i].doc;
    return 1;
}

/* ---- setting ---- */

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, v, n))
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Values a key had before it took its present form (run.json of older
 * runs, old YAML files), as the values that mean the same now. */
static const char *legacy_value(const key *k, const char *v)
{
    static const struct {
        const char *key, *old, *now;
    } legacy[] = {
        {"output.save_tokens", "true", "full"},
        {"output.save_tokens", "false", "none"},
    };
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++)
        if (!strcmp(k->name, legacy[i].key) && !strcmp(v, legacy[i].old))
            return legacy[i].now;
    return v;
}

static dc_status set_key(sdc_config *c, const key *k, const char *v, dc_error *err,
                         const char *where)
{
    char *base = (char *)c + k->offset;
    char *end;
    switch (k->type) {
    case K_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || (double)x < k->lo || (double)x > k->hi)
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "%s%s: expected a whole number from %.0f to %.0f, got '%s'", where,
                                k->name, k->lo, k->hi, v);
        *(int64_t *)base = x;
        return DC_STATUS_OK;
    }
    case K_NUM: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || (!isnan(x) && (x < k->lo || x > k->hi)) ||
            (isnan(x) && strcmp(k->def, "nan") != 0))
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "%s%s: expected a number from %g to %g, got '%s'", where, k->name,
                                k->lo, k->hi, v);
        *(double *)base = x;
        return DC_STATUS_OK;
    }
    case K_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
            *(int *)base = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
            *(int *)base = 0;
        else
            return dc_error_set(err, DC_STATUS_CONFIG, "%s%s: expected true or false, got '%s'",
                                where, k->name, v);
        return DC_STATUS_OK;
    case K_STR: {
        v = legacy_value(k, v);
        if (k->choices && !choice_ok(k->choices, v))
            return dc_error_set(err, DC_STATUS_CONFIG, "%s%s: expected one of %s, got '%s'", where,
                                k->name, k->choices, v);
        char *d = dc_strdup(v);
        if (!d)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        dc_free(*(char **)base);
        *(char **)base = d;
        return DC_STATUS_OK;
    }
    case K_LIST: {
        if (c->n_endpoints == SDC_CONFIG_MAX_ENDPOINTS)
            return dc_error_set(err, DC_STATUS_CONFIG, "%s%s: at most %d entries", where, k->name,
                                SDC_CONFIG_MAX_ENDPOINTS);
        char *d = dc_strdup(v);
        if (!d)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        c->endpoints[c->n_endpoints++] = d;
        return DC_STATUS_OK;
    }
    }
    return DC_STATUS_INVALID_ARG;
}

dc_status sdc_config_set(sdc_config *c, const char *name, const char *value, dc_error *err)
{
    const key *k = find_key(name);
    if (!k)
        return dc_error_set(err, DC_STATUS_CONFIG, "unknown configuration key '%s'", name);
    return set_key(c, k, value ? value : "", err, "");
}

sdc_config *sdc_config_new(void)
{
    sdc_config *c = dc_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].type != K_LIST && set_key(c, &keys[i], keys[i].def, NULL, "") != DC_STATUS_OK) {
            sdc_config_free(c);
            return NULL;
        }
    return c;
}

void sdc_config_free(sdc_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].type == K_STR)
            dc_free(*(char **)((char *)c + keys[i].offset));
    for (size_t i = 0; i < c->n_endpoints; i++)
        dc_free(c->endpoints[i]);
    dc_free(c->config_path);
    dc_free(c);
}

/* ---- YAML ---- */

typedef struct yctx {
    yaml_parser_t p;
    yaml_event_t ev;
    const char *path;
    dc_error *err;
} yctx;

static dc_status next(yctx *y)
{
    if (!yaml_parser_parse(&y->p, &y->ev))
        return dc_error_set(y->err, DC_STATUS_CONFIG, "%s:%zu: YAML error: %s", y->path,
                            y->p.problem_mark.line + 1, y->p.problem ? y->p.problem : "?");
    return DC_STATUS_OK;
}

/* Skips the value that starts with the current event (scalar or nested). */
static dc_status skip_value(yctx *y)
{
    int depth = 0;
    for (;;) {
        yaml_event_type_t t = y->ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
            depth--;
        yaml_event_delete(&y->ev);
        if (depth <= 0)
            return DC_STATUS_OK;
        dc_status st = next(y);
        if (st != DC_STATUS_OK)
            return st;
    }
}

/* The refusal: section: mode is a key of the table; the phrase lists and
 * the rest belong to the refusal detector (sdc_refusal_load_params). */
static dc_status read_refusal_section(yctx *y, sdc_config *c)
{
    if (y->ev.type != YAML_MAPPING_START_EVENT)
        return skip_value(y); /* the detector reports the error */
    yaml_event_delete(&y->ev);
    dc_status st;
    for (;;) {
        if ((st = next(y)) != DC_STATUS_OK)
            return st;
        if (y->ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&y->ev);
            return DC_STATUS_OK;
        }
        int is_mode = y->ev.type == YAML_SCALAR_EVENT &&
                      !strcmp((const char *)y->ev.data.scalar.value, "mode");
        size_t line = y->ev.start_mark.line + 1;
        yaml_event_delete(&y->ev);
        if ((st = next(y)) != DC_STATUS_OK)
            return st;
        if (!is_mode || y->ev.type != YAML_SCALAR_EVENT) {
            if ((st = skip_value(y)) != DC_STATUS_OK)
                return st;
            continue;
        }
        char where[600];
        snprintf(where, sizeof where, "%s:%zu: ", y->path, line);
        st = set_key(c, find_key("refusal.mode"), (const char *)y->ev.data.scalar.value, y->err,
                     where);
        yaml_event_delete(&y->ev);
        if (st != DC_STATUS_OK)
            return st;
    }
}

static dc_status read_section(yctx *y, sdc_config *c, const char *section)
{
    dc_status st;
    for (;;) {
        if ((st = next(y)) != DC_STATUS_OK)
            return st;
        if (y->ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&y->ev);
            return DC_STATUS_OK;
        }
        if (y->ev.type != YAML_SCALAR_EVENT) {
            size_t line = y->ev.start_mark.line + 1;
            yaml_event_delete(&y->ev);
            return dc_error_set(y->err, DC_STATUS_CONFIG, "%s:%zu: %s: expected a key", y->path,
                                line, section);
        }
        char name[160];
        snprintf(name, sizeof name, "%s.%s", section, (const char *)y->ev.data.scalar.value);
        size_t line = y->ev.start_mark.line + 1;
        yaml_event_delete(&y->ev);
        const key *k = find_key(name);
        if (!k)
            return dc_error_set(y->err, DC_STATUS_CONFIG, "%s:%zu: unknown key '%s'", y->path, line,
                                name);
        if ((st = next(y)) != DC_STATUS_OK)
            return st;
        char where[600];
        snprintf(where, sizeof where, "%s:%zu: ", y->path, line);
        if (k->type == K_LIST) {
            if (y->ev.type != YAML_SEQUENCE_START_EVENT) {
                yaml_event_delete(&y->ev);
                return dc_error_set(y->err, DC_STATUS_CONFIG, "%s%s: expected a list", where, name);
            }
            yaml_event_delete(&y->ev);
            for (size_t i = 0; i < c->n_endpoints; i++)
                dc_free(c->endpoints[i]);
            c->n_endpoints = 0;
            for (;;) {
                if ((st = next(y)) != DC_STATUS_OK)
                    return st;
                if (y->ev.type == YAML_SEQUENCE_END_EVENT) {
                    yaml_event_delete(&y->ev);
                    break;
                }
                if (y->ev.type != YAML_SCALAR_EVENT) {
                    yaml_event_delete(&y->ev);
                    return dc_error_set(y->err, DC_STATUS_CONFIG, "%s%s: expected strings", where,
                                        name);
                }
                st = set_key(c, k, (const char *)y->ev.data.scalar.value, y->err, where);
                yaml_event_delete(&y->ev);
                if (st != DC_STATUS_OK)
                    return st;
            }
            continue;
        }
        if (y->ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&y->ev);
            return dc_error_set(y->err, DC_STATUS_CONFIG, "%s%s: expected a single value", where,
                                name);
        }
        const char *v = (const char *)y->ev.data.scalar.value;
        /* an empty or null value leaves the default, as an absent key would */
        int is_null = !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null");
        st = is_null && y->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                 ? DC_STATUS_OK
                 : set_key(c, k, v, y->err, where);
        yaml_event_delete(&y->ev);
        if (st != DC_STATUS_OK)
            return st;
    }
}

dc_status sdc_config_load(sdc_config *c, const char *path, dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    yctx y;
    memset(&y, 0, sizeof y);
    y.path = path;
    y.err = err;
    if (!yaml_parser_initialize(&y.p)) {
        fclose(f);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&y.p, f);
    dc_status st = DC_STATUS_OK;
    int depth = 0; /* 0 before the top mapping, 1 inside it */
    int done = 0;
    while (!done && st == DC_STATUS_OK) {
        if ((st = next(&y)) != DC_STATUS_OK)
            break;
        yaml_event_type_t t = y.ev.type;
        size_t line = y.ev.start_mark.line + 1;
        if (t == YAML_STREAM_END_EVENT) {
            done = 1;
        } else if (t == YAML_MAPPING_START_EVENT && depth == 0) {
            depth = 1;
        } else if (t == YAML_MAPPING_END_EVENT && depth == 1) {
            depth = 0;
        } else if (t == YAML_SCALAR_EVENT && depth == 1) {
            char section[64];
            snprintf(section, sizeof section, "%s", (const char *)y.ev.data.scalar.value);
            yaml_event_delete(&y.ev);
            if ((st = next(&y)) != DC_STATUS_OK)
                break;
            if (!strcmp(section, "refusal")) {
                st = read_refusal_section(&y, c); /* the refusal detector reads the lists */
                continue;
            }
            if (y.ev.type != YAML_MAPPING_START_EVENT) {
                yaml_event_delete(&y.ev);
                st = dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: '%s' must be a section of keys",
                                  path, line, section);
                break;
            }
            int known = !strcmp(section, "model") || !strcmp(section, "benchmark") ||
                        !strcmp(section, "generation") || !strcmp(section, "deepconf") ||
                        !strcmp(section, "output") || !strcmp(section, "judge");
            yaml_event_delete(&y.ev);
            if (!known) {
                st = dc_error_set(err, DC_STATUS_CONFIG,
                                  "%s:%zu: unknown section '%s' (expected model, benchmark, "
                                  "generation, deepconf, refusal, output, judge)",
                                  path, line, section);
                break;
            }
            st = read_section(&y, c, section);
            continue;
        } else if (t != YAML_STREAM_START_EVENT && t != YAML_DOCUMENT_START_EVENT &&
                   t != YAML_DOCUMENT_END_EVENT) {
            st = dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: expected a mapping of sections", path,
                              line);
        }
        yaml_event_delete(&y.ev);
    }
    yaml_parser_delete(&y.p);
    fclose(f);
    if (st == DC_STATUS_OK) {
        dc_free(c->config_path);
        c->config_path = dc_strdup(path);
        if (!c->config_path)
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    return st;
}

/* ---- JSON (run.json) ---- */

dc_status sdc_config_load_json(sdc_config *c, const char *text, dc_error *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return dc_error_set(err, DC_STATUS_PARSE, "stored configuration: not a JSON object (%s)",
                            je.text);
    }
    dc_status st = DC_STATUS_OK;
    /* a run stored before refusal.mode existed decided by the rules alone:
       replaying it must too */
    if (!json_object_get(root, "refusal") &&
        (st = set_key(c, find_key("refusal.mode"), "rules", err, "")) != DC_STATUS_OK) {
        json_decref(root);
        return st;
    }
    const char *section;
    json_t *sec;
    json_object_foreach(root, section, sec)
    {
        if (!json_is_object(sec))
            continue; /* config_file */
        const char *k;
        json_t *v;
        json_object_foreach(sec, k, v)
        {
            char name[160], val[64];
            snprintf(name, sizeof name, "%s.%s", section, k);
            const key *ky = find_key(name);
            /* user-interface flags that runs before 0.2 stored */
            if (!ky && (!strcmp(name, "output.resume") || !strcmp(name, "output.force") ||
                        !strcmp(name, "output.quiet")))
                continue;
            if (!ky) {
                st = dc_error_set(err, DC_STATUS_CONFIG, "stored configuration: unknown key '%s'",
                                  name);
                goto out;
            }
            if (ky->type == K_LIST) {
                for (size_t i = 0; i < c->n_endpoints; i++)
                    dc_free(c->endpoints[i]);
                c->n_endpoints = 0;
                size_t i;
                json_t *e;
                json_array_foreach(
                    v, i,
                    e) if ((st = set_key(c, ky, json_string_value(e) ? json_string_value(e) : "",
                                         err, "stored configuration: ")) != DC_STATUS_OK) goto out;
                continue;
            }
            const char *txt = val;
            if (json_is_string(v))
                txt = json_string_value(v);
            else if (json_is_boolean(v))
                txt = json_is_true(v) ? "true" : "false";
            else if (json_is_integer(v))
                snprintf(val, sizeof val, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            else if (json_is_real(v))
                jw_format_double(json_real_value(v), val, sizeof val);
            else if (json_is_null(v))
                txt = "nan";
            else {
                st = dc_error_set(err, DC_STATUS_CONFIG, "stored configuration: %s: bad value",
                                  name);
                goto out;
            }
            if ((st = set_key(c, ky, txt, err, "stored configuration: ")) != DC_STATUS_OK)
                goto out;
        }
    }
out:
    json_decref(root);
    return st;
}

/* ---- validation ---- */

/* Resolves the enum-like keys; their text was checked against the key
 * table's choices when set, so a failure here is a table out of step. */
static dc_status resolve_kinds(sdc_config *c, dc_error *err)
{
    sdc_config_kinds *k = &c->kind;
    k->backend = !strcmp(c->backend, "openai") ? SDC_BACKEND_OPENAI : SDC_BACKEND_LLAMA;
    k->mode = !strcmp(c->mode, "classify") ? SDC_MODE_CLASSIFY : SDC_MODE_REFUSAL;
    k->save_tokens = !strcmp(c->save_tokens, "none")   ? SDC_SAVE_TOKENS_NONE
                     : !strcmp(c->save_tokens, "full") ? SDC_SAVE_TOKENS_FULL
                                                       : SDC_SAVE_TOKENS_TOPK;
    k->compress = !strcmp(c->compress, "none") ? SDC_COMPRESS_NONE : SDC_COMPRESS_ZSTD;
    const char *bm = *c->benchmark ? c->benchmark : *c->data ? "auto" : "synthetic";
    if (sdc_benchmark_from_name(bm, &k->benchmark) != DC_STATUS_OK ||
        sdc_strategy_from_name(c->strategy, &k->strategy) != DC_STATUS_OK ||
        dc_profile_parse(c->profile, &k->profile) != DC_STATUS_OK ||
        sdc_vote_score_from_name(c->vote_score, &k->vote_score) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "benchmark.name, deepconf.strategy, profile or vote_score: a value "
                            "the key table allows but the library does not know");
    return DC_STATUS_OK;
}

static dc_status validate_judge(const sdc_config *c, dc_error *err)
{
    sdc_judge_kind k;
    const char *model;
    dc_status st = *c->judge ? sdc_judge_spec_parse(c->judge, &k, &model, err) : DC_STATUS_OK;
    if (st != DC_STATUS_OK) {
        dc_error_prefix(err, "judge.name");
        return DC_STATUS_CONFIG;
    }
    if (*c->judge && !strcmp(c->judge_backend, "openai") && !*c->judge_endpoint)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "judge.backend openai needs judge.endpoint (--judge-endpoint URL)");
    return DC_STATUS_OK;
}

dc_status sdc_config_validate(sdc_config *c, dc_error *err)
{
    dc_status st = resolve_kinds(c, err);
    if (st != DC_STATUS_OK)
        return st;
    if (c->kind.backend == SDC_BACKEND_OPENAI && c->n_endpoints == 0)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "model.backend openai needs at least one model.endpoints URL "
                            "(--endpoint URL)");
    if (c->kind.benchmark == SDC_BENCHMARK_SYNTHETIC && *c->data)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "benchmark.name synthetic is built in and takes no file, but "
                            "benchmark.data is '%s' (leave --benchmark out, or name the file's "
                            "benchmark)",
                            c->data);
    /* without a file, a benchmark of the Hub table is downloaded (sdc_hub.h) */
    const sdc_hub_source *hub = sdc_hub_source_find(c->benchmark);
    if (c->kind.benchmark != SDC_BENCHMARK_SYNTHETIC && !*c->data && !(hub && hub->repo))
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "benchmark.name %s needs a file: benchmark.data (--data PATH)",
                            c->benchmark);
    if (c->fixed_n > c->budget && c->compare)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "deepconf.fixed_n (%lld) exceeds deepconf.budget (%lld): compare "
                            "generates only the budget's traces",
                            (long long)c->fixed_n, (long long)c->budget);
    if (c->warmup > c->budget)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "deepconf.warmup (%lld) exceeds deepconf.budget (%lld)",
                            (long long)c->warmup, (long long)c->budget);
    return validate_judge(c, err);
}

/* ---- JSON ---- */

char *sdc_config_to_json(const sdc_config *c)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    char section[32] = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const key *k = &keys[i];
        const char *dot = strchr(k->name, '.');
        size_t sl = (size_t)(dot - k->name);
        if (strlen(section) != sl || strncmp(section, k->name, sl) != 0) {
            if (section[0])
                jw_obj_end(&w);
            snprintf(section, sizeof section, "%.*s", (int)sl, k->name);
            jw_key(&w, section);
            jw_obj_begin(&w);
        }
        jw_key(&w, dot + 1);
        const char *base = (const char *)c + k->offset;
        switch (k->type) {
        case K_INT: jw_int(&w, *(const int64_t *)base); break;
        case K_NUM: jw_double(&w, *(const double *)base); break;
        case K_BOOL: jw_bool(&w, *(const int *)base); break;
        case K_STR: jw_str(&w, *(char *const *)base); break;
        case K_LIST:
            jw_arr_begin(&w);
            for (size_t j = 0; j < c->n_endpoints; j++)
                jw_str(&w, c->endpoints[j]);
            jw_arr_end(&w);
            break;
        }
    }
    if (section[0])
        jw_obj_end(&w);
    jw_key(&w, "config_file");
    jw_str(&w, c->config_path);
    jw_obj_end(&w);
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    return dc_buf_take(&b);
}
