/* sdc_corpus.h - the training corpus of the demonstration model
 * (`safety-deepconf data corpus`): benchmark prompts as Qwen3 chat
 * conversations, harmful ones answered with refusals, benign ones with
 * compliant answers.
 *
 * Sources, under a datasets folder laid out as /work/shared/datasets:
 *   harmful: AdvBench harmful_behaviors, HarmBench (standard and
 *            contextual; no copyright), refusal-direction harmful_train,
 *            ToxicChat train and test toxic (human-annotated),
 *            WildGuardTest harmful
 *   benign:  refusal-direction harmless_train, ToxicChat train non-toxic
 *   borderline: WildGuardTest benign (written to look risky), each prompt
 *            answered borderline_answers times, borderline_refusals of
 *            them refusals: the model learns to hesitate there
 * Held out (a prompt whose normalised text is in one of these is left
 * out): XSTest, JailbreakBench, StrongREJECT, refusal-direction
 * harmful_test and harmless_test, and the synthetic benchmark.
 *
 * Each line of the output is one JSON object:
 *   {"prompt": "<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n
 *               <think>\n\n</think>\n\n",
 *    "completion": "...<|im_end|>", "kind": "refusal"|"compliance",
 *    "style": "apology"|"inability"|"premise"|"redirect"|"compliance",
 *    "source": "advbench"|...}
 * Half the prompts (wrap_share), harmful and benign alike, are asked
 * through one of seven wrappers ("Please ...", "Can you ...?", "Hi! ...").
 * The prompt is the backend's own Qwen3 formatting with thinking off (no
 * system turn), so training sees exactly what generation sees. Answers are
 * built from phrase tables (an opening, a reason, a closing) chosen by a
 * splitmix64 stream of the seed: the same seed and files give the same
 * bytes. */
#ifndef SDC_CORPUS_H
#define SDC_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdc_corpus_params {
    const char *datasets_dir;   /* required; borrowed */
    uint64_t seed;              /* default 1 */
    size_t refusals_per_prompt; /* conversations per harmful prompt, default 2 */
    double benign_per_harmful;  /* benign conversations per harmful one, default 1.2 */
    size_t max_prompt_chars;    /* longer prompts are left out, default 600 */
    double wrap_share;          /* share of prompts asked through a wrapper
                                   ("Can you ...?", "Hi! ..."), default 0.5 */
    size_t borderline_answers;  /* conversations per borderline prompt,
                                   default 3; 0 leaves them out */
    size_t borderline_refusals; /* how many of those are refusals, default 1 */
} sdc_corpus_params;

sdc_corpus_params sdc_corpus_default_params(void);

typedef struct sdc_corpus_stats {
    size_t harmful_prompts, benign_prompts; /* distinct prompts used */
    size_t borderline_prompts;
    size_t refusals, compliances; /* conversations written */
    size_t held_out_prompts;      /* the held-out set's size */
    size_t dropped_held_out, dropped_long, dropped_duplicate;
    size_t by_style[5]; /* apology, inability, premise, redirect,
                                                 compliance */
} sdc_corpus_stats;

/* Writes the corpus to out. stats may be NULL. IO/PARSE/FORMAT naming the
 * dataset file, NOMEM. */
dc_status sdc_corpus_write(const sdc_corpus_params *params, FILE *out, sdc_corpus_stats *stats,
                           dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_CORPUS_H */
