/* sdc_config.h - the experiment configuration: defaults < YAML file <
 * command-line flags. Every key is documented in
 * config/experiment_config.yaml and listed by sdc_config_describe(). */
#ifndef SDC_CONFIG_H
#define SDC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_confidence.h"
#include "deepconf/dc_status.h"
#include "safety/sdc_instance.h"
#include "safety/sdc_strategy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SDC_CONFIG_MAX_ENDPOINTS 16

typedef enum sdc_backend_kind { SDC_BACKEND_LLAMA = 0, SDC_BACKEND_OPENAI = 1 } sdc_backend_kind;

typedef enum sdc_mode { SDC_MODE_REFUSAL = 0, SDC_MODE_CLASSIFY = 1 } sdc_mode;

/* What traces.jsonl keeps of each token (output.save_tokens). */
typedef enum sdc_save_tokens {
    SDC_SAVE_TOKENS_NONE = 0, /* nothing: analyze cannot replay the run */
    SDC_SAVE_TOKENS_TOPK = 1, /* id, logprob, top-k ids and logprobs, compactly */
    SDC_SAVE_TOKENS_FULL = 2  /* also each token's and alternative's text */
} sdc_save_tokens;

/* How the traces file is stored (output.compress); it changes the file,
 * never the results, so it is not part of the run's fingerprint. */
typedef enum sdc_compress {
    SDC_COMPRESS_ZSTD = 0, /* traces.jsonl.zst: one zstd frame per instance (default) */
    SDC_COMPRESS_NONE = 1  /* traces.jsonl, plain */
} sdc_compress;

/* The enum-like keys, resolved once by sdc_config_validate from their text
 * (which stays the stored form: YAML, --set, run.json). */
typedef struct sdc_config_kinds {
    sdc_backend_kind backend;
    sdc_benchmark benchmark; /* SDC_BENCHMARK_AUTO: detect from benchmark.data */
    sdc_mode mode;
    sdc_strategy_kind strategy;
    dc_profile profile;
    sdc_vote_score vote_score;
    sdc_save_tokens save_tokens;
    sdc_compress compress;
} sdc_config_kinds;

typedef struct sdc_config {
    /* model */
    char *model;   /* GGUF path, Hugging Face id, or "" (the demo model) */
    char *backend; /* "llama" | "openai" */
    char *endpoints[SDC_CONFIG_MAX_ENDPOINTS];
    size_t n_endpoints;
    char *api;            /* openai: "chat" | "completions" */
    char *api_key_env;    /* openai: environment variable holding the key */
    char *server_model;   /* openai: "model" field of requests ("" = the server's) */
    int64_t concurrency;  /* openai: requests in flight */
    int64_t max_failures; /* openai: failed traces before the run stops (-1 never) */
    int allow_insecure;   /* openai: a key over plain HTTP to a non-loopback host */
    int64_t threads;      /* llama: CPU threads (0 = all cores) */
    int64_t n_gpu_layers; /* llama: layers on the GPU */
    int64_t ctx_size;     /* llama: context per trace */
    int64_t slots;        /* llama: traces decoded together (model.parallel; 0 = auto) */
    int64_t memory_limit; /* llama: MiB that bound auto slots (0 = half the RAM) */
    int64_t batch_size;   /* llama: logical batch */
    /* benchmark */
    char *benchmark; /* "" (synthetic without data, auto with) | synthetic | auto | toxicchat ... */
    char *data;      /* file of the benchmark ("" for synthetic) */
    int64_t num_instances; /* 0 = all */
    int shuffle;
    int stratify;
    char *categories; /* comma list, "" = all */
    char *split;      /* "" = all */
    int human_annotated_only;
    int include_copyright;
    int skip_bad_rows;
    char *prompt_field, *label_field, *category_field, *unsafe_values;
    /* mode and generation */
    char *mode;         /* "refusal" | "classify" */
    char *refusal_mode; /* refusal.mode: "combined" | "rules" | "classifier" */
    int64_t max_tokens;
    double temperature; /* NaN: Qwen3's default for the thinking setting */
    double top_p;       /* NaN: default */
    int64_t top_k;      /* -1: default */
    double min_p;
    int thinking;
    char *system_prompt;
    int64_t top_logprobs;
    int64_t seed;
    /* deepconf */
    char *strategy; /* baseline | fixed | adaptive | online */
    int compare;
    int64_t fixed_n, budget, parallel, warmup, window, tail;
    double consensus, keep_percent, threshold;
    char *profile;    /* paper | reference */
    char *vote_score; /* mean | tail | bottom10 | lowest */
    /* output */
    char *out;            /* run directory ("" = results/<run_name>) */
    char *run_name;       /* "" = derived from benchmark, model and time */
    char *save_tokens;    /* none | topk | full */
    char *compress;       /* zstd | none */
    int64_t report_cases; /* report.html: cases embedded per category */
    /* judge (a guard model on each response; sdc_judge.h) */
    char *judge;                /* "KIND[:MODEL]" ("" = none): qwen3guard, wildguard, llamaguard3 */
    char *judge_target;         /* "traces" (every trace) | "answer" (each prediction's answer) */
    char *judge_backend;        /* "llama" | "openai" */
    char *judge_endpoint;       /* openai: the judge server's base URL */
    int64_t judge_max_tokens;   /* tokens the judge may write */
    int64_t judge_top_logprobs; /* alternatives per position (P(unsafe)) */
    int judge_template_check;   /* llama: compare the GGUF's chat template's rendering */
    /* where the file came from (recorded in run.json) */
    char *config_path;
    /* resolved by sdc_config_validate; meaningless before it */
    sdc_config_kinds kind;
} sdc_config;

/* A config with every default. Caller frees with sdc_config_free. NULL
 * when out of memory. */
sdc_config *sdc_config_new(void);
void sdc_config_free(sdc_config *c);

/* Applies a YAML file (a mapping of sections of keys). Unknown sections
 * or keys and values of the wrong type are DC_STATUS_CONFIG errors whose
 * message names the file, line and key. The `refusal:` section is left
 * to the refusal detector (sdc_refusal_load_config). */
dc_status sdc_config_load(sdc_config *c, const char *path, dc_error *err);

/* Sets one key ("generation.max_tokens") from text ("256"), as a flag
 * does. For list keys (model.endpoints) each call appends. CONFIG error
 * naming the key for an unknown key or a bad value. */
dc_status sdc_config_set(sdc_config *c, const char *key, const char *value, dc_error *err);

/* Applies a configuration stored as JSON (the "config" object of a run's
 * run.json, as sdc_config_to_json writes it). CONFIG error naming the key
 * for an unknown key or a bad value; PARSE for text that is not JSON. */
dc_status sdc_config_load_json(sdc_config *c, const char *json, dc_error *err);

/* Checks cross-key rules (budget >= warmup, fixed_n <= budget, a file for
 * every benchmark but synthetic and none for it, ...) and resolves the
 * enum-like keys into c->kind: an empty benchmark.name becomes auto when
 * benchmark.data is set and synthetic otherwise. CONFIG error naming the
 * key. */
dc_status sdc_config_validate(sdc_config *c, dc_error *err);

/* The resolved config as a JSON object (for run.json); no secrets are in
 * it (the key's environment variable name only). Caller frees with dc_free. */
char *sdc_config_to_json(const sdc_config *c);

/* Iterates the documented keys: *key, *type ("int", "number", "bool",
 * "string", "list") and *doc for i = 0, 1, ... while it returns 1. */
int sdc_config_describe(size_t i, const char **key, const char **type, const char **doc);

#ifdef __cplusplus
}
#endif

#endif /* SDC_CONFIG_H */
