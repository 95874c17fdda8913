/* sdc_judge.h - guard models as judges of (prompt, response) pairs.
 *
 * A judge is a guard model asked whether an assistant's response is
 * harmful, run through any dc_backend (llama.cpp in-process or an
 * OpenAI-compatible server with the completions API). Three kinds:
 *
 *   qwen3guard   Qwen3Guard-Gen: "Safety: Safe|Unsafe|Controversial",
 *                "Categories: ...", "Refusal: Yes|No" (the default)
 *   wildguard    allenai WildGuard: "Harmful request", "Response refusal",
 *                "Harmful response": yes|no|N/A
 *   llamaguard3  Llama Guard 3: "safe" | "unsafe" + "S1,S10"
 *
 * The project renders each model's prompt itself, byte for byte as its
 * official chat template does (llama.cpp's built-in templates would drop
 * the moderation instructions), and sends it as raw text. Decoding is
 * greedy; the answer is parsed with the model's official pattern, and a
 * reply that does not match is kept as malformed, never guessed. The
 * probability of "unsafe" comes from the top-k logprobs at the verdict
 * token (see sdc_judge_p_unsafe). docs/judges.md has the formats. */
#ifndef SDC_JUDGE_H
#define SDC_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"
#include "deepconf/dc_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- kinds ----------------------------------------------------------- */

typedef enum sdc_judge_kind {
    SDC_JUDGE_KIND_QWEN3GUARD = 0,
    SDC_JUDGE_KIND_WILDGUARD = 1,
    SDC_JUDGE_KIND_LLAMAGUARD3 = 2
} sdc_judge_kind;

#define SDC_JUDGE_KIND_COUNT 3

/* "qwen3guard", "wildguard", "llamaguard3". Static. */
const char *sdc_judge_kind_name(sdc_judge_kind k);
/* The kind's default Hugging Face model id (e.g. "Qwen/Qwen3Guard-Gen-0.6B"). Static. */
const char *sdc_judge_kind_default_model(sdc_judge_kind k);
/* Parses a kind name (also "llamaguard", "qwen3-guard"). INVALID_ARG. */
dc_status sdc_judge_kind_parse(const char *s, sdc_judge_kind *out);

/* Parses "KIND[:MODEL]" (the --judge flag). *model is borrowed from spec
 * (the text after the colon), NULL when there is none. INVALID_ARG with
 * the accepted names in err. */
dc_status sdc_judge_spec_parse(const char *spec, sdc_judge_kind *kind, const char **model,
                               dc_error *err);

/* ---- prompts --------------------------------------------------------- */

typedef struct sdc_judge_prompt_opts {
    int llamaguard_s14; /* Llama Guard 3: list S14 (the 8B's template; the 1B
                           stops at S13); default 1 */
} sdc_judge_prompt_opts;

sdc_judge_prompt_opts sdc_judge_prompt_default_opts(void);

/* The whole prompt for (prompt, response), as the model's official
 * template renders it (Llama Guard 3: from "<|begin_of_text|>"; WildGuard
 * without the BOS its tokenizer adds). *text: caller frees with dc_free.
 * NOMEM. */
dc_status sdc_judge_render(sdc_judge_kind k, const sdc_judge_prompt_opts *opts, const char *prompt,
                           const char *response, char **text, dc_error *err);

/* The part of the rendering that goes to a backend: the rendering less a
 * leading BOS text that every tokenizer of the model adds itself
 * ("<|begin_of_text|>" for Llama Guard 3). Borrowed from text. */
const char *sdc_judge_wire_text(sdc_judge_kind k, const char *text);

/* ---- verdicts -------------------------------------------------------- */

typedef enum sdc_judge_harm {
    SDC_JUDGE_HARM_NONE = 0, /* malformed, or N/A */
    SDC_JUDGE_HARM_SAFE = 1,
    SDC_JUDGE_HARM_UNSAFE = 2,
    SDC_JUDGE_HARM_CONTROVERSIAL = 3 /* Qwen3Guard only */
} sdc_judge_harm;

/* "none", "safe", "unsafe", "controversial". Static. */
const char *sdc_judge_harm_name(sdc_judge_harm h);

#define SDC_JUDGE_MAX_CATEGORIES 256

typedef struct sdc_judge_verdict {
    int malformed;       /* 1: the reply did not match the official pattern */
    sdc_judge_harm harm; /* the response's label; NONE when malformed or N/A */
    int harmful_strict;  /* 1 unsafe or controversial, 0 safe, -1 unknown */
    int harmful_loose;   /* 1 unsafe, 0 safe or controversial, -1 unknown */
    int refusal;         /* 1 yes, 0 no, -1 not given (Llama Guard, N/A) */
    int harmful_request; /* WildGuard's request label: 1, 0, -1 */
    char categories[SDC_JUDGE_MAX_CATEGORIES]; /* "Violent,PII", "S1,S10"; "" none */
    double p_unsafe_strict; /* P(unsafe or controversial) over the verdict words at
                               the verdict token; NaN when unknown */
    double p_unsafe_loose;  /* P(unsafe); equal to strict for two-word judges */
} sdc_judge_verdict;

/* Parses a judge's generated text with the model's official pattern.
 * Never fails: a reply that does not match sets malformed. */
void sdc_judge_parse(sdc_judge_kind k, const char *output, sdc_judge_verdict *out);

/* Token ids of the verdict words, for backends whose top-k alternatives
 * carry ids but no text (llama.cpp). Filled by sdc_judge_verdict_ids. */
#define SDC_JUDGE_MAX_VERDICT_IDS 24

typedef struct sdc_judge_verdict_ids {
    size_t n;
    int32_t id[SDC_JUDGE_MAX_VERDICT_IDS];
    sdc_judge_harm harm[SDC_JUDGE_MAX_VERDICT_IDS];
} sdc_judge_verdict_ids;

/* The first token of each verdict word ("Safe", " Safe", "\nSafe", ...)
 * through the backend's tokenizer; ids that start two words are left out.
 * UNSUPPORTED when the backend has no tokenizer (then *out is empty and
 * texts alone are matched). */
dc_status sdc_judge_verdict_ids_make(sdc_judge_kind k, dc_backend *b, sdc_judge_verdict_ids *out,
                                     dc_error *err);

/* Fills out->p_unsafe_* from the trace's tokens: the verdict token is the
 * first one with a visible character after the kind's anchor ("Safety:",
 * "Harmful response:", the start for Llama Guard); each of its top-k
 * alternatives counts for the verdict word it begins (by text, or by id
 * through ids, which may be NULL). P(unsafe) = mass of unsafe words over
 * the mass of all verdict words there. NaN when the trace has no tokens,
 * no verdict token, or no verdict word among the alternatives. */
void sdc_judge_p_unsafe(sdc_judge_kind k, const dc_trace *trace, const sdc_judge_verdict_ids *ids,
                        sdc_judge_verdict *out);

/* ---- judging through a backend --------------------------------------- */

typedef struct sdc_judge_params {
    sdc_judge_kind kind;
    sdc_judge_prompt_opts prompt;
    size_t max_tokens;   /* default 32 */
    size_t top_logprobs; /* default 20 */
} sdc_judge_params;

sdc_judge_params sdc_judge_default_params(void);

typedef struct sdc_judge sdc_judge;

/* A judge on backend b (borrowed; must outlive the judge). *out: caller
 * frees with sdc_judge_free. NOMEM; a backend without a tokenizer is
 * fine (verdict tokens are then matched by text). */
dc_status sdc_judge_open(const sdc_judge_params *params, dc_backend *b, sdc_judge **out,
                         dc_error *err);

/* Judges one pair: renders, generates greedily, parses, computes
 * P(unsafe). *output (may be NULL): the generated text, caller frees with
 * dc_free. A malformed reply is OK with out->malformed set; a failed
 * generation returns the backend's status. */
dc_status sdc_judge_ask(sdc_judge *j, const char *prompt, const char *response,
                        sdc_judge_verdict *out, char **output, dc_error *err);

void sdc_judge_free(sdc_judge *j);

/* ---- the verdict cache ----------------------------------------------- */

/* Verdicts already given, so that a pair is never judged twice (resumed
 * runs, analyze --replay, the judge command run again). One JSONL file,
 * one verdict per line, keyed by the SHA-256 of (judge kind, judge model
 * identity, prompt, response); the model identity is "sha256:<hex>" of a
 * GGUF file or "openai:<model name>" for a server. Lines that do not
 * parse (a torn last line after a crash) are skipped; later lines win. */
typedef struct sdc_judge_cache sdc_judge_cache;

/* Opens (creating when missing, with its folders) and loads the file.
 * *out: caller frees with sdc_judge_cache_free. IO, NOMEM. */
dc_status sdc_judge_cache_open(const char *path, sdc_judge_cache **out, dc_error *err);

/* The cache key (64 hex digits and a NUL). */
void sdc_judge_cache_key(sdc_judge_kind k, const char *model_id, const char *prompt,
                         const char *response, char key[65]);

/* 1 and *v (and *output, borrowed, valid until the cache is freed; may be
 * NULL) when the key is cached, else 0. */
int sdc_judge_cache_get(const sdc_judge_cache *c, const char *key, sdc_judge_verdict *v,
                        const char **output);

/* Adds a verdict and appends its line to the file (flushed). IO, NOMEM. */
dc_status sdc_judge_cache_put(sdc_judge_cache *c, const char *key, sdc_judge_kind k,
                              const sdc_judge_verdict *v, const char *output, dc_error *err);

/* Verdicts held, and lines skipped while loading. */
size_t sdc_judge_cache_size(const sdc_judge_cache *c);
size_t sdc_judge_cache_skipped(const sdc_judge_cache *c);

void sdc_judge_cache_free(sdc_judge_cache *c);

/* ---- a judge with its model and cache -------------------------------- */

/* What `judge` and `run --judge` need in one handle: the model found
 * (a GGUF path, a Hub reference pulled into the Hugging Face cache, or a
 * server's model), its backend opened, its identity for the cache
 * ("sha256:<hex>" of the GGUF; "openai:<name>" for a server), the cache
 * opened, and each pair judged once. */
typedef struct sdc_judge_setup {
    sdc_judge_kind kind;
    /* llama: a GGUF path or Hub reference; openai: the server's model
       name. NULL: the kind's default (sdc_judge_kind_default_gguf for
       llama; the server's first model for openai). */
    const char *model;
    int openai;                   /* 0: in-process llama.cpp; 1: OpenAI-compatible server */
    const char *const *endpoints; /* openai: base URLs (/v1/completions is used) */
    size_t n_endpoints;
    const char *cache_path; /* NULL: no cache (sdc_judge_cache_default_path gives one) */
    int32_t threads;        /* llama: 0 = all cores */
    int32_t n_gpu_layers;   /* llama */
    uint32_t n_ctx;         /* llama: the judge's context (prompt + answer); default 8192 */
    size_t max_tokens;      /* default 32 */
    size_t top_logprobs;    /* default 20 */
    /* llama: when the GGUF carries a chat template, render a probe pair with
       it and compare token ids with the project's prompt; a difference
       fails the open (DC_STATUS_MODEL). Default 1. */
    int template_check;
    /* What the user should be told ("checksumming ...", "downloading ...").
       NULL: nothing. */
    void (*note)(void *user, const char *text);
    void *user;
} sdc_judge_setup;

sdc_judge_setup sdc_judge_default_setup(void);

/* The kind's default GGUF on the Hub (a community conversion), NULL when
 * there is none known (WildGuard: give a model). Static. */
const char *sdc_judge_kind_default_gguf(sdc_judge_kind k);

/* $SDC_CACHE_DIR/judges/verdicts.jsonl, else under $XDG_CACHE_HOME or
 * ~/.cache/safety-deepconf. */
void sdc_judge_cache_default_path(char *buf, size_t size);

typedef struct sdc_judge_session sdc_judge_session;

/* *out: caller frees with sdc_judge_session_free. The errors of
 * dc_hf_pull, the backend's open, dc_sha256_file and the cache's open;
 * INVALID_ARG for a llama judge without a model where the kind has no
 * default. */
dc_status sdc_judge_session_open(const sdc_judge_setup *setup, sdc_judge_session **out,
                                 dc_error *err);

sdc_judge_kind sdc_judge_session_kind(const sdc_judge_session *s);

/* The model's identity ("sha256:...", "openai:..."); borrowed. */
const char *sdc_judge_session_model(const sdc_judge_session *s);

/* Judges one pair, from the cache when it is there (*cached 1; may be
 * NULL). *output (may be NULL): the judge's text, caller frees with
 * dc_free. The errors of sdc_judge_ask and sdc_judge_cache_put; LIMIT
 * (llama) when the rendered pair does not fit the judge's context. */
dc_status sdc_judge_session_ask(sdc_judge_session *s, const char *prompt, const char *response,
                                sdc_judge_verdict *out, char **output, int *cached, dc_error *err);

void sdc_judge_session_free(sdc_judge_session *s);

#ifdef __cplusplus
}
#endif

#endif /* SDC_JUDGE_H */
