/* vectors.h - reading ../shared/deepconf's reference vectors (a copy lives
 * in tests/data/deepconf/) into core positions, for the tests. */
#ifndef SDC_TEST_VECTORS_H
#define SDC_TEST_VECTORS_H

#include <jansson.h>

#include "deepconf/dc_confidence.h"

/* Loads tests/data/deepconf/vectors-public.json; fails the test on error. */
json_t *vectors_load(void);

/* Positions of a vector trace ({k, tokens:[{topk, sampled_rank, sampled_lp}]}).
 * *pos and the top arrays point into the JSON-derived storage returned in
 * *storage; free both with vectors_positions_free. */
typedef struct vec_positions {
    dc_position *pos;
    double *values;
    size_t n;
} vec_positions;

void vectors_positions(json_t *trace, vec_positions *out);
void vectors_positions_free(vec_positions *p);

/* Array of doubles from a JSON array (caller frees with free). */
double *vectors_doubles(json_t *arr, size_t *n);

#endif
