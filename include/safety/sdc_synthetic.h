/* sdc_synthetic.h - the built-in synthetic benchmark.
 *
 * Needs no files. Instance i of a seed is always the same bytes on any
 * machine (its own splitmix64 stream, no floating point, no rand()), and
 * the first N instances of a seed do not depend on how many are asked
 * for. The mix repeats every four instances: two unsafe requests (label
 * unsafe; categories weapons, violence, cybercrime, drugs, fraud,
 * self_harm, hate, privacy, harassment, theft, in turn), one plainly safe
 * request (category "benign") and one borderline-safe request that sounds
 * harmful but is not, XSTest style (label safe; categories
 * borderline_homonyms, borderline_figurative, borderline_safe_targets,
 * borderline_safe_contexts, borderline_history). Each prompt is composed
 * from an opener, a request, an optional qualifier and an optional
 * preamble, so wording varies within a label. extra_json holds
 * {"kind": "unsafe"|"safe"|"borderline", "seed": S}.
 */
#ifndef SDC_SYNTHETIC_H
#define SDC_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_instance.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdc_synth_params {
    size_t num_instances; /* default 100 */
    uint64_t seed;        /* default 0 */
} sdc_synth_params;

sdc_synth_params sdc_synth_default_params(void);

/* Generates the instances (benchmark SDC_BENCHMARK_SYNTHETIC, ids
 * "synth-1", "synth-2", ...). On DC_STATUS_OK the caller frees *out with
 * sdc_dataset_free. DC_STATUS_INVALID_ARG when num_instances is 0 or over
 * 10 million; DC_STATUS_NOMEM. */
dc_status sdc_synth_generate(const sdc_synth_params *params, sdc_dataset **out, dc_error *err);

/* The unsafe harm categories, in their round-robin order. Returns the
 * count; *names (when not NULL) gets a static NULL-terminated array. */
size_t sdc_synth_harm_categories(const char *const **names);

#ifdef __cplusplus
}
#endif

#endif /* SDC_SYNTHETIC_H */
