/* llama_util.c - top-k selection, log-sum-exp, Qwen3 chat text, quant names. */
#include "backend/llama_util.h"

#include <math.h>
#include <string.h>

#include "deepconf/dc_status.h"

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

size_t sdc_topk_select(const float *x, int32_t n, size_t k, int32_t *ids, float *vals)
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
    /* Almost every value loses against the heap's root: one compare each. */
    float thr = vals[0];
    for (int32_t j = (int32_t)k; j < n; j++) {
        if (x[j] > thr) {
            vals[0] = x[j];
            ids[0] = j;
            sift_down(ids, vals, k, 0);
            thr = vals[0];
        }
    }
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

/* exp(x) for x <= 0 without libm, written so that compilers vectorise the
 * loop that calls it: x = (n + f) ln2 with n = round(x / ln2), |f| <= 1/2,
 * 2^f = e^(f ln2) by its Taylor series to degree 6 (relative error below
 * 2e-7), 2^n through the exponent bits. */
static inline float exp_neg(float x)
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
    union {
        int32_t i;
        float f;
    } u;
    u.i = (n + 127) << 23;
    return p * u.f;
}

double sdc_logsumexp(const float *x, int32_t n, float max)
{
    enum { LANES = 16, BLOCK = 1024 };
    double total = 0.0;
    int32_t i = 0;
    while (i + LANES <= n) {
        float acc[LANES] = {0};
        int32_t stop = n - i >= BLOCK ? i + BLOCK : i + ((n - i) / LANES) * LANES;
        for (; i < stop; i += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += exp_neg(x[i + j] - max);
        double s = 0.0;
        for (int j = 0; j < LANES; j++)
            s += acc[j];
        total += s;
    }
    for (; i < n; i++)
        total += exp_neg(x[i] - max);
    return (double)max + log(total);
}

/* ---- Qwen3 chat text ---- */

char *sdc_qwen3_format(const char *system, const char *user, int enable_thinking)
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

const char *sdc_ftype_name(int ftype)
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
