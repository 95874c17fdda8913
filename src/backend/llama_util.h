/* llama_util.h - the arithmetic and text helpers of the llama backend
 * (internal; no llama.cpp types, so they are unit-tested alone). */
#ifndef SDC_BACKEND_LLAMA_UTIL_H
#define SDC_BACKEND_LLAMA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The k largest of x[0..n) into ids/vals, largest first (ties: lower id
 * first). One pass with a k-entry min-heap. Returns min(k, n). */
size_t dc_topk_select(const float *x, int32_t n, size_t k, int32_t *ids, float *vals);

/* log(sum exp(x[i])) given max = the largest x (one pass; float exp with a
 * relative error below 1e-6, summed in blocks into a double). */
double dc_logsumexp(const float *x, int32_t n, float max);

/* Qwen3's official chat template for one turn, rendered: the optional
 * system turn (NULL or "" = none), the user turn, the assistant header,
 * and with thinking off the empty think block. Caller frees with dc_free;
 * NULL when out of memory. */
char *dc_qwen3_format(const char *system, const char *user, int enable_thinking);

/* "Q8_0", "Q4_K_M", "F16"... for a general.file_type (llama_ftype) value;
 * "unknown" for others. Static. */
const char *dc_ftype_name(int ftype);

#endif
