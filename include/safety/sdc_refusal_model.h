/* sdc_refusal_model.h - the learned refusal classifier next to the rules.
 *
 * A logistic regression over hashed features of the response as it
 * relates to its prompt, both in the refusal detector's normal form
 * (reasoning dropped, lower case, contractions expanded). Response words
 * of four letters or more that also occur in the prompt's last user turn
 * become one placeholder "<p>" (a few words of helping and refusing
 * excepted), so "it is not accurate to suggest that <p> should be <p>"
 * is learned as a framing of *that* prompt, not as a topic. Then:
 *   opening   the first sentence's word 1- and 2-grams, the first six
 *             words by position, character 3- to 5-grams of the first 800
 *             characters
 *   body      word 1- and 2-grams (first 400 words), the last six words by
 *             position, the length (log2 of the word count), the layout
 *             (list items, lines, code, question marks, a final "?"), and
 *             the share of the prompt's content words the response takes up
 *   cross     the prompt's first two words with the response's first two
 * each hashed into 2^hash_bits weights (separate hash spaces per kind);
 * each of the three groups is scaled to unit length on its own, so a long
 * body does not drown the opening. Training is AdaGrad SGD with L2 from a fixed
 * seed: the same examples and params give the same weights, byte for
 * byte. On top sits a "stack", a small logistic regression over [the
 * classifier's logit, the rules' kind and tier] fitted on out-of-fold
 * logits of the training set; it gives the combined probability.
 *
 * A model file (data/refusal_model.bin, built into the program):
 *   "SDCRFM\0\0" magic, u32 version (1), u32 hash_bits, u32 feature set,
 *   f32 weight scale, f32 bias, u32 stack size (8), f32 stack[8],
 *   u32 n_weights (2^hash_bits), i16 weights[n], u32 CRC-32 of all the
 *   bytes before it; all little-endian.
 */
#ifndef SDC_REFUSAL_MODEL_H
#define SDC_REFUSAL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_refusal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- labelled examples ---- */

typedef struct sdc_refusal_example {
    char *prompt; /* "" when the file has none */
    char *response;
    int refusal;  /* 1 refusal, 0 compliance */
    char *source; /* the file's name without directory and ".jsonl" */
} sdc_refusal_example;

typedef struct sdc_refusal_examples {
    sdc_refusal_example *v;
    size_t n, cap;
} sdc_refusal_examples;

/* Appends the labelled rows of a JSONL file ({"prompt", "response", and
 * "label": "refusal"|"compliance" or "refusal": true|false}); rows whose
 * label is null are skipped, and so is a response already seen in the
 * same file (exact duplicates). A directory loads its *.jsonl files in
 * name order. DC_STATUS_IO when a file cannot be read, DC_STATUS_FORMAT
 * for a bad row (the message names file and line), DC_STATUS_NOMEM.
 * Free with sdc_refusal_examples_free. */
dc_status sdc_refusal_examples_load(sdc_refusal_examples *ex, const char *path, dc_error *err);

void sdc_refusal_examples_free(sdc_refusal_examples *ex);

/* ---- the model ---- */

typedef struct sdc_refusal_model sdc_refusal_model;

typedef struct sdc_refusal_model_params {
    unsigned hash_bits;   /* log2 of the weight count (18) */
    unsigned epochs;      /* passes over the examples (8) */
    double learning_rate; /* AdaGrad step (0.2) */
    double l2;            /* L2 on the touched weights per step (1e-5) */
    uint64_t seed;        /* example order and folds (1) */
    unsigned folds;       /* folds for the stack's out-of-fold logits (4) */
} sdc_refusal_model_params;

sdc_refusal_model_params sdc_refusal_model_default_params(void);

/* Trains on ex[0..n) (both labels needed): an ensemble of one classifier
 * (with its stack) on all the rows and, for each source (ex[].source), one
 * on all but that source's rows where those still hold both labels; a
 * prediction is the members' mean probability. rules (borrowed) gives the
 * rule outputs the stacks see; NULL means the built-in rules. Returns
 * DC_STATUS_OK and *out, which the caller frees with
 * sdc_refusal_model_free; DC_STATUS_INVALID_ARG for bad params or a
 * single-class set; DC_STATUS_NOMEM. */
dc_status sdc_refusal_model_train(const sdc_refusal_example *ex, size_t n,
                                  const sdc_refusal_model_params *params, const sdc_refusal *rules,
                                  sdc_refusal_model **out, dc_error *err);

/* Reads a model file. DC_STATUS_IO when it cannot be read,
 * DC_STATUS_FORMAT when it is not a model file of this version or is
 * truncated, DC_STATUS_CHECKSUM when its CRC does not match (the message
 * names the file and what was expected). Caller frees *out with
 * sdc_refusal_model_free. */
dc_status sdc_refusal_model_load(const char *path, sdc_refusal_model **out, dc_error *err);

/* The same from data[0..len) (copied); name is used in messages. */
dc_status sdc_refusal_model_from_memory(const void *data, size_t len, const char *name,
                                        sdc_refusal_model **out, dc_error *err);

/* The model shipped in data/refusal_model.bin and built into the program. */
dc_status sdc_refusal_model_builtin(sdc_refusal_model **out, dc_error *err);

/* How many classifiers the model averages. */
size_t sdc_refusal_model_members(const sdc_refusal_model *m);

/* The sha256 (hex) of the bytes the model was read from (the built-in one,
 * or a file); "" for a model trained in this process. */
const char *sdc_refusal_model_sha256(const sdc_refusal_model *m);

/* Writes the model file. DC_STATUS_IO names the path. */
dc_status sdc_refusal_model_save(const sdc_refusal_model *m, const char *path, dc_error *err);

void sdc_refusal_model_free(sdc_refusal_model *m);

/* Probabilities that response (to prompt, which may be NULL) is a
 * refusal: *p_classifier from the text alone, *p_combined from the stack
 * over that and rules (the rule detector's result for the same response).
 * m is only read: one model may serve several threads. DC_STATUS_NOMEM. */
dc_status sdc_refusal_model_predict(const sdc_refusal_model *m, const char *prompt,
                                    size_t prompt_len, const char *response, size_t response_len,
                                    const sdc_refusal_result *rules, double *p_classifier,
                                    double *p_combined);

/* ---- leave-one-source-out evaluation ---- */

typedef struct sdc_refusal_counts {
    size_t tp, fp, tn, fn;
} sdc_refusal_counts;

typedef struct sdc_refusal_eval_row {
    char source[64];
    sdc_refusal_counts rules, classifier, combined;
} sdc_refusal_eval_row;

/* For each source in ex[0..n): trains on all the other sources and counts
 * the rules, the classifier and the combination on this one (a decision
 * is a refusal at probability >= 0.5). Sources whose complement lacks a
 * label are skipped. *rows (caller frees with dc_free) gets one row per
 * source in order of first appearance. */
dc_status sdc_refusal_eval_loso(const sdc_refusal_example *ex, size_t n,
                                const sdc_refusal_model_params *params, const sdc_refusal *rules,
                                sdc_refusal_eval_row **rows, size_t *n_rows, dc_error *err);

/* accuracy, precision, recall, F1 of c (0 where undefined). */
void sdc_refusal_counts_metrics(const sdc_refusal_counts *c, double *accuracy, double *precision,
                                double *recall, double *f1);

#ifdef __cplusplus
}
#endif

#endif /* SDC_REFUSAL_MODEL_H */
