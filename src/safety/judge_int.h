/* judge_int.h - a verdict's JSON fields, written and read in one place
 * (the cache, the judge command's lines, the run's records). */
#ifndef SDC_SAFETY_JUDGE_INT_H
#define SDC_SAFETY_JUDGE_INT_H

#include <jansson.h>

#include "safety/sdc_judge.h"
#include "util/jsonw.h"

/* Writes the verdict's fields into the open object of w, each key
 * prefixed with prefix ("judge_"): harm, malformed, harmful_strict,
 * harmful_loose, refusal, harmful_request, categories, p_unsafe_strict,
 * p_unsafe_loose (null when unknown). */
void sdc_judge_verdict_put(jw *w, const char *prefix, const sdc_judge_verdict *v);

/* Reads the fields sdc_judge_verdict_put wrote. 0 when one is missing or
 * of the wrong type. */
int sdc_judge_verdict_get(json_t *obj, const char *prefix, sdc_judge_verdict *v);

#endif
