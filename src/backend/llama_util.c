/* llama_util.c - top-k selection, log-sum-exp, Qwen3 chat text, quant names. */
#include "backend/llama_util.h"

#include <math.h>
#include <string.h>

#include "deepconf/dc_status.h"

/* GCC keeps IEEE trapping semantics by default, which turns the clamp
 * below into control flow and stops the vectoriser; without traps the
 * loop vectorises, and on x86-64 Linux it is also built for AVX2 and
 * AVX-512 and picked at load time (ifunc). Clang vectorises it as is. */
#if defined(__GNUC__) && !defined(__clang__)
#define SDC_VEC_MATH __attribute__((optimize("no-trapping-math")))
#if defined(__x86_64__) && defined(__linux__)
#define SDC_VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef SDC_VEC_MATH
#define SDC_VEC_MATH
#endif
#ifndef SDC_VEC_CLONES
#define SDC_VEC_CLONES
#endif

/* ---- top-k ---- */

/* a ranks below b: smaller value, or equal value and larger id. */
static int ranks_below(float va, int32_t ia, float vb, int32_t ib)
{
    return va < vb || (va == vb && ia > ib);
}

static void sift_down(int32_t *ids, float *vals, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ranks_below(vals[l], ids[l], vals[m], ids[m]))
            m = l;
        if (r < n && ranks_below(vals[r], ids[r], vals[m], ids[m]))
            m = r;
        if (m == i)
            return;
        float tv = vals[i];
        int32_t ti = ids[i];
        vals[i] = vals[m];
        ids[i] = ids[m];
        vals[m] = tv;
        ids[m] = ti;
        i = m;
    }
}

static void topk_offer(int32_t *ids, float *vals, size_t k, float *thr, float v, int32_t id)
{
    if (v > *thr) {
        vals[0] = v;
        ids[0] = id;
        sift_down(ids, vals, k, 0);
        *thr = vals[0];
    }
}

SDC_VEC_MATH static int count_above(const float *x, float thr)
{
    int c = 0;
    for (int i = 0; i < 64; i++)
        c += x[i] > thr;
    return c;
}

size_t dc_topk_select(const float *x, int32_t n, size_t k, int32_t *ids, float *vals)
{
    if (n <= 0 || k == 0)
        return 0;
    if (k > (size_t)n)
        k = (size_t)n;
    for (size_t i = 0; i < k; i++) {
        ids[i] = (int32_t)i;
        vals[i] = x[i];
    }
    for (size_t i = k / 2; i-- > 0;)
        sift_down(ids, vals, k, i);
    /* Almost every value loses against the heap's root: blocks are first
       counted for values above it in a vectorised pass, and only blocks
       with some are walked one by one. */
    float thr = vals[0];
    int32_t j = (int32_t)k;
    for (; j < n && j % 64; j++)
        topk_offer(ids, vals, k, &thr, x[j], j);
    for (; j + 64 <= n; j += 64) {
        if (count_above(x + j, thr) == 0)
            continue;
        for (int32_t m = j; m < j + 64; m++)
            topk_offer(ids, vals, k, &thr, x[m], m);
    }
    for (; j < n; j++)
        topk_offer(ids, vals, k, &thr, x[j], j);
    /* Heap sort: repeatedly move the smallest to the end -> largest first. */
    for (size_t end = k; end > 1; end--) {
        float tv = vals[0];
        int32_t ti = ids[0];
        vals[0] = vals[end - 1];
        ids[0] = ids[end - 1];
        vals[end - 1] = tv;
        ids[end - 1] = ti;
        sift_down(ids, vals, end - 1, 0);
    }
    return k;
}

/* ---- log-sum-exp ---- */

/* exp(x) for x <= 0 without libm: x = (n + f) ln2 with n = round(x / ln2),
 * |f| <= 1/2, 2^f = e^(f ln2) by its Taylor series to degree 6 (relative
 * error below 2e-7), 2^n through the exponent bits. */
SDC_VEC_MATH static inline float exp_neg(float x)
{
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f;
    int32_t n = (int32_t)(t + 128.5f) - 128; /* round to nearest for t >= -126 */
    float g = (t - (float)n) * 0.69314718055994531f;
    float p = 1.0f / 720.0f;
    p = p * g + 1.0f / 120.0f;
    p = p * g + 1.0f / 24.0f;
    p = p * g + 1.0f / 6.0f;
    p = p * g + 0.5f;
    p = p * g + 1.0f;
    p = p * g + 1.0f;
    int32_t bits = (n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Blocks of a fixed length (a loop count the vectoriser knows), exps
 * summed in 16 float lanes per block, blocks summed in double. */
SDC_VEC_MATH SDC_VEC_CLONES double dc_logsumexp(const float *x, int32_t n, float max)
{
    enum { BLOCK = 256, LANES = 16 };
    float tmp[BLOCK];
    double total = 0.0;
    int32_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        for (int32_t j = 0; j < BLOCK; j++)
            tmp[j] = exp_neg(x[i + j] - max);
        float acc[LANES] = {0};
        for (int32_t j = 0; j < BLOCK; j += LANES)
            for (int k = 0; k < LANES; k++)
                acc[k] += tmp[j + k];
        double s = 0.0;
        for (int k = 0; k < LANES; k++)
            s += acc[k];
        total += s;
    }
    for (; i < n; i++)
        total += exp_neg(x[i] - max);
    return (double)max + log(total);
}

/* ---- Qwen3 chat text ---- */

char *dc_qwen3_format(const char *system, const char *user, int enable_thinking)
{
    static const char think_off[] = "<think>\n\n</think>\n\n";
    int has_system = system && system[0];
    size_t n = strlen(user) + (has_system ? strlen(system) : 0) + 128;
    char *s = dc_malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    if (has_system) {
        strcat(s, "<|im_start|>system\n");
        strcat(s, system);
        strcat(s, "<|im_end|>\n");
    }
    strcat(s, "<|im_start|>user\n");
    strcat(s, user);
    strcat(s, "<|im_end|>\n<|im_start|>assistant\n");
    if (!enable_thinking)
        strcat(s, think_off);
    return s;
}

/* ---- quant names ---- */

const char *dc_ftype_name(int ftype)
{
    switch (ftype) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 32: return "BF16";
    default: return "unknown";
    }
}
