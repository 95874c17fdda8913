/* refusal_model.c - the learned refusal classifier: hashed n-grams, logistic
 * regression, a stack over the rules, the model file, leave-one-source-out. */
#include "safety/sdc_refusal_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/text.h"
#include "util/sha256.h"

#define MODEL_MAGIC "SDCRFM\0\0"
#define MODEL_VERSION 2u /* 2: an ensemble of members */
#define FEATURE_SET 4u   /* bump when the features change: old weights mean nothing */
#define N_STACK 8
#define MAX_WORDS 400
#define MAX_CHARS 800
#define OPENING_WORDS 6
#define TAIL_WORDS 6
#define MAX_PROMPT_WORDS 200
#define MAX_FEATURES 8192

/* One trained classifier and its stack. */
typedef struct member {
    unsigned hash_bits;
    float scale, bias;
    float stack[N_STACK];
    int16_t *q; /* quantised weights, as stored */
    float *w;   /* q * scale: what predictions use */
} member;

/* The model is the average of its members' probabilities: one trained on
 * all the sources, and one for each source trained on all but that one
 * (see sdc_refusal_model_train). */
#define MAX_MEMBERS 17
struct sdc_refusal_model {
    unsigned hash_bits;
    size_t n;
    member v[MAX_MEMBERS];
    char sha256[65]; /* of the file it was read from; "" for one trained here */
};

sdc_refusal_model_params sdc_refusal_model_default_params(void)
{
    sdc_refusal_model_params p;
    memset(&p, 0, sizeof p);
    p.hash_bits = 18;
    p.epochs = 8;
    p.learning_rate = 0.2;
    p.l2 = 1e-5;
    p.seed = 1;
    p.folds = 4;
    return p;
}

const char *sdc_refusal_model_sha256(const sdc_refusal_model *m)
{
    return m ? m->sha256 : "";
}

size_t sdc_refusal_model_members(const sdc_refusal_model *m)
{
    return m ? m->n : 0;
}

static void member_free(member *m)
{
    dc_free(m->q);
    dc_free(m->w);
    m->q = NULL;
    m->w = NULL;
}

void sdc_refusal_model_free(sdc_refusal_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        member_free(&m->v[i]);
    dc_free(m);
}

/* ---- features ---- */

/* Namespaces keep prompt, response and cross features in separate hash
 * spaces even when the strings are equal. */
enum { NS_WORD = 1, NS_BIGRAM, NS_OPEN, NS_CHAR, NS_LEN, NS_CROSS, NS_SHAPE, NS_TAIL, NS_FIRST };

/* Features fall into three groups, each scaled to unit length on its
 * own, so that a long body does not drown the opening or the prompt. */
enum { G_OPEN, G_BODY, G_PROMPT, N_GROUPS };
#define GROUP_SHIFT 28

static int group_of(int ns)
{
    switch (ns) {
    case NS_OPEN:
    case NS_FIRST:
    case NS_CHAR: return G_OPEN;
    case NS_CROSS: return G_PROMPT;
    default: return G_BODY;
    }
}

typedef struct feats {
    uint32_t *idx; /* hashed index | group << GROUP_SHIFT until finished */
    float *val;
    size_t n, cap;
    uint32_t mask;
} feats;

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static uint32_t hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return (uint32_t)h;
}

static void feat_add(feats *f, int ns, const char *a, size_t an, const char *b, size_t bn)
{
    if (f->n == f->cap)
        return; /* the cap: later features of a huge text are dropped */
    char nsb = (char)ns;
    uint64_t h = hash_bytes(0xcbf29ce484222325u, &nsb, 1);
    h = hash_bytes(h, a, an);
    if (b) {
        h = hash_bytes(h, "\x1f", 1);
        h = hash_bytes(h, b, bn);
    }
    f->idx[f->n++] = (hash_final(h) & f->mask) | (uint32_t)group_of(ns) << GROUP_SHIFT;
}

typedef struct span {
    const char *s;
    size_t n;
} span;

static int word_byte(char c)
{
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u >= 0x80 || u == '\'';
}

/* Splits t into words (letters, digits, apostrophes) and single
 * punctuation marks, so "sorry, but" gives "sorry" "," "but". */
static size_t split_words(const char *t, size_t n, span *w, size_t max)
{
    size_t k = 0, i = 0;
    while (i < n && k < max) {
        if (t[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        if (word_byte(t[i]))
            while (j < n && word_byte(t[j]))
                j++;
        else
            j = i + 1;
        w[k].s = t + i;
        w[k].n = j - i;
        k++;
        i = j;
    }
    return k;
}

/* The last user turn of a rendered conversation ("USER: ...\n\nASSISTANT:
 * ..."), or all of it. */
static void last_user_turn(const char *p, size_t n, size_t *b, size_t *len)
{
    *b = 0;
    *len = n;
    for (size_t i = n; i-- > 0;)
        if (i + 6 <= n && !memcmp(p + i, "USER: ", 6) && (i == 0 || p[i - 1] == '\n')) {
            *b = i + 6;
            *len = n - i - 6;
            return;
        }
}

/* Layout of the raw answer: an answer that helps tends to have lists,
 * steps or code; a deflection is a paragraph, often ending in a question. */
static void shape_features(const char *t, size_t n, feats *f)
{
    size_t lines = 0, items = 0, questions = 0;
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '?')
            questions++;
        if (i + 3 <= n && !memcmp(t + i, "```", 3))
            code = 1;
        if (i == 0 || t[i - 1] == '\n') {
            size_t j = i;
            while (j < n && t[j] == ' ')
                j++;
            if (j < n && t[j] != '\n')
                lines++;
            if (j + 1 < n && (t[j] == '-' || t[j] == '*') && t[j + 1] == ' ')
                items++;
            else if (j + 1 < n && t[j] >= '0' && t[j] <= '9' &&
                     (t[j + 1] == '.' || t[j + 1] == ')'))
                items++;
        }
    }
    size_t e = n;
    while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\n' || t[e - 1] == '\r' || t[e - 1] == '\t'))
        e--;
    char buf[32];
    snprintf(buf, sizeof buf, "items%zu", items > 3 ? 3 : items);
    feat_add(f, NS_SHAPE, buf, strlen(buf), NULL, 0);
    snprintf(buf, sizeof buf, "lines%zu", lines > 4 ? 4 : lines);
    feat_add(f, NS_SHAPE, buf, strlen(buf), NULL, 0);
    snprintf(buf, sizeof buf, "q%zu", questions > 2 ? 2 : questions);
    feat_add(f, NS_SHAPE, buf, strlen(buf), NULL, 0);
    if (code)
        feat_add(f, NS_SHAPE, "code", 4, NULL, 0);
    if (e > 0 && t[e - 1] == '?')
        feat_add(f, NS_SHAPE, "ends?", 5, NULL, 0);
}

/* Words a response shares with its prompt say what the topic is, not
 * whether the response helps: "i am unable to provide a guide on how to
 * pick locks" and "here is a guide on how to pick locks" differ in their
 * own words. Such echoes become one placeholder, so the classifier learns
 * the framing rather than topics (which differ from one source to the
 * next). Short words and the words of helping or refusing stay. */
static const char *const keep_words[] = {
    "provide", "help",  "assist", "give",    "offer",    "write",   "create",  "generate",
    "answer",  "share", "tell",   "explain", "describe", "discuss", "support", "make",
    "about",   "would", "could",  "should",  "cannot",   "will",    "this",    "that",
    "these",   "those", "with",   "your",    "what",     "there",   "here",    "which",
    "have",    "from",  "they",   "their",   "some",     "other",   "please",  "sure",
    "sorry",   "like",  "just",   "when",    "where",    "know",    "want",    "need",
    "into",    "them",  "then",   "than",    "also",     "more",    NULL};

static int is_keep_word(const span *w)
{
    for (size_t i = 0; keep_words[i]; i++)
        if (strlen(keep_words[i]) == w->n && !memcmp(keep_words[i], w->s, w->n))
            return 1;
    return 0;
}

static uint64_t word_hash(const span *w)
{
    return hash_bytes(0xcbf29ce484222325u, w->s, w->n);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int content_word(const span *w)
{
    return w->n >= 4 && word_byte(w->s[0]) && !is_keep_word(w);
}

/* Replaces the words of rw that also occur in pw with "<p>". Returns the
 * share of the prompt's distinct content words the response takes up, in
 * tenths (0 to 10), or -1 when the prompt has none. */
static int mask_echoes(span *rw, size_t nr, const span *pw, size_t np)
{
    uint64_t ph[MAX_PROMPT_WORDS], rh[MAX_WORDS];
    size_t nph = 0, nrh = 0;
    for (size_t i = 0; i < np; i++)
        if (content_word(&pw[i]))
            ph[nph++] = word_hash(&pw[i]);
    qsort(ph, nph, sizeof *ph, cmp_u64);
    for (size_t i = 0; i < nr; i++) {
        if (!content_word(&rw[i]))
            continue;
        uint64_t h = word_hash(&rw[i]);
        if (nph && bsearch(&h, ph, nph, sizeof *ph, cmp_u64)) {
            rh[nrh++] = h;
            rw[i].s = "<p>";
            rw[i].n = 3;
        }
    }
    qsort(rh, nrh, sizeof *rh, cmp_u64);
    size_t distinct = 0, covered = 0;
    for (size_t i = 0; i < nph; i++) {
        if (i && ph[i] == ph[i - 1])
            continue;
        distinct++;
        covered += bsearch(&ph[i], rh, nrh, sizeof *rh, cmp_u64) != NULL;
    }
    return distinct ? (int)(10 * covered / distinct) : -1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Word n-grams of the whole response, the first sentence, the first and
 * last words by position, character n-grams of the opening, the length. */
static void word_features(const span *rw, size_t nr, feats *f)
{
    /* the first sentence: where a response says whether it will help */
    size_t first_end = 0;
    while (first_end < nr && first_end < 40 &&
           !(rw[first_end].n == 1 && strchr(".!?", rw[first_end].s[0])))
        first_end++;
    for (size_t i = 0; i < nr; i++) {
        feat_add(f, NS_WORD, rw[i].s, rw[i].n, NULL, 0);
        if (i + 1 < nr)
            feat_add(f, NS_BIGRAM, rw[i].s, rw[i].n, rw[i + 1].s, rw[i + 1].n);
        if (i < first_end) {
            feat_add(f, NS_FIRST, rw[i].s, rw[i].n, NULL, 0);
            if (i + 1 < first_end)
                feat_add(f, NS_FIRST, rw[i].s, rw[i].n, rw[i + 1].s, rw[i + 1].n);
        }
        if (i < OPENING_WORDS) {
            char pos = (char)('0' + i);
            feat_add(f, NS_OPEN, &pos, 1, rw[i].s, rw[i].n);
        }
    }
    /* the closing words ("feel free to ask", "anything else?") by position */
    for (size_t i = nr > TAIL_WORDS ? nr - TAIL_WORDS : 0; i < nr; i++) {
        char pos = (char)('0' + (nr - i));
        feat_add(f, NS_TAIL, &pos, 1, rw[i].s, rw[i].n);
    }
    /* character n-grams of the opening, echoes masked */
    char ms[MAX_CHARS + 64];
    size_t cn = 0;
    for (size_t i = 0; i < nr && cn + rw[i].n + 1 < MAX_CHARS; i++) {
        memcpy(ms + cn, rw[i].s, rw[i].n);
        cn += rw[i].n;
        ms[cn++] = ' ';
    }
    for (size_t g = 3; g <= 5; g++)
        for (size_t i = 0; i + g <= cn; i++)
            feat_add(f, NS_CHAR, ms + i, g, NULL, 0);
    char len[16];
    int bucket = 0;
    while (((size_t)1 << bucket) < nr + 1)
        bucket++;
    snprintf(len, sizeof len, "%d", bucket);
    feat_add(f, NS_LEN, len, strlen(len), NULL, 0);
}

/* Sorts and dedupes the indices, scales each group to unit length. */
static void feats_finish(feats *f)
{
    qsort(f->idx, f->n, sizeof *f->idx, cmp_u32);
    size_t u = 0, cnt[N_GROUPS] = {0};
    for (size_t i = 0; i < f->n; i++)
        if (u == 0 || f->idx[i] != f->idx[u - 1]) {
            f->idx[u++] = f->idx[i];
            cnt[f->idx[i] >> GROUP_SHIFT]++;
        }
    f->n = u;
    for (size_t i = 0; i < u; i++) {
        f->val[i] = (float)(1.0 / sqrt((double)cnt[f->idx[i] >> GROUP_SHIFT]));
        f->idx[i] &= f->mask;
    }
}

/* Hashed, sorted, unique feature indices of one (prompt, response). */
static dc_status extract(const char *prompt, size_t plen, const char *resp, size_t rlen,
                         uint32_t mask, feats *f)
{
    f->n = 0;
    f->mask = mask;
    size_t b, k, rn, pn = 0;
    sdc_text_strip_think(resp, rlen, &b, &k);
    char *r = sdc_text_normalize(resp + b, k, &rn);
    char *p = NULL;
    if (prompt) {
        size_t pb, pk;
        last_user_turn(prompt, plen, &pb, &pk);
        p = sdc_text_normalize(prompt + pb, pk, &pn);
    }
    span *rw = dc_calloc(MAX_WORDS, sizeof *rw);
    span *pw = dc_calloc(MAX_PROMPT_WORDS, sizeof *pw);
    if (!r || (prompt && !p) || !rw || !pw) {
        dc_free(r);
        dc_free(p);
        dc_free(rw);
        dc_free(pw);
        return DC_STATUS_NOMEM;
    }
    size_t nr = split_words(r, rn, rw, MAX_WORDS);
    size_t np = p ? split_words(p, pn, pw, MAX_PROMPT_WORDS) : 0;
    int cover = mask_echoes(rw, nr, pw, np);
    if (cover >= 0) {
        /* how much of the question the response takes up: an answer more,
           a deflection or a change of topic less */
        char cb[16];
        snprintf(cb, sizeof cb, "cover%d", cover / 2);
        feat_add(f, NS_SHAPE, cb, strlen(cb), NULL, 0);
    }
    word_features(rw, nr, f);
    shape_features(resp + b, k, f);
    /* The prompt's own words are no features: its topics differ from one
     * source to the next, and they cost 1 to 2 points leave-one-source-out.
     * The prompt works through the masked echoes and this cross. */
    if (np >= 2 && nr >= 2) {
        char a[128], c[128];
        snprintf(a, sizeof a, "%.*s %.*s", (int)pw[0].n, pw[0].s, (int)pw[1].n, pw[1].s);
        snprintf(c, sizeof c, "%.*s %.*s", (int)rw[0].n, rw[0].s, (int)rw[1].n, rw[1].s);
        feat_add(f, NS_CROSS, a, strlen(a), c, strlen(c));
    }
    feats_finish(f);
    dc_free(r);
    dc_free(p);
    dc_free(rw);
    dc_free(pw);
    return DC_STATUS_OK;
}

/* ---- the stack over the rules ---- */

/* [1, logit, full, partial, opening, statement, inability|deflection,
 * redirection]: what the rules said, next to the classifier's logit. */
static void stack_inputs(double logit, const sdc_refusal_result *r, double x[N_STACK])
{
    memset(x, 0, N_STACK * sizeof *x);
    x[0] = 1.0;
    x[1] = logit;
    if (!r)
        return;
    x[2] = r->rules_kind == SDC_REFUSAL_FULL;
    x[3] = r->rules_kind == SDC_REFUSAL_PARTIAL;
    if (!strncmp(r->rule, "opening", 7))
        x[4] = 1.0;
    else if (!strncmp(r->rule, "statement", 9))
        x[5] = 1.0;
    else if (!strncmp(r->rule, "inability", 9) || !strncmp(r->rule, "deflection", 10))
        x[6] = 1.0;
    else if (!strncmp(r->rule, "redirection", 11))
        x[7] = 1.0;
}

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

static double stack_logit(const float s[N_STACK], const double x[N_STACK])
{
    double z = 0;
    for (size_t i = 0; i < N_STACK; i++)
        z += s[i] * x[i];
    return z;
}

/* Full-batch gradient descent on the (small, convex) stack problem. */
static void stack_fit(const double (*x)[N_STACK], const int *y, size_t n, float out[N_STACK])
{
    double w[N_STACK] = {0, 1, 0, 0, 0, 0, 0, 0};
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i] != 0;
    /* both classes weigh the same, as in the text model */
    double cw[2] = {pos < n ? (double)n / (2.0 * (double)(n - pos)) : 1.0,
                    pos ? (double)n / (2.0 * (double)pos) : 1.0};
    for (int it = 0; it < 500; it++) {
        double g[N_STACK] = {0};
        for (size_t i = 0; i < n; i++) {
            double z = 0;
            for (size_t j = 0; j < N_STACK; j++)
                z += w[j] * x[i][j];
            double d = (sigmoid(z) - y[i]) * cw[y[i] != 0];
            for (size_t j = 0; j < N_STACK; j++)
                g[j] += d * x[i][j];
        }
        for (size_t j = 0; j < N_STACK; j++)
            w[j] -= 1.0 * (g[j] / (double)n + 1e-3 * w[j] * (j > 0));
    }
    for (size_t j = 0; j < N_STACK; j++)
        out[j] = (float)w[j];
}

/* ---- training ---- */

/* An example ready for training: features, label, the rules' result. */
typedef struct prepared {
    uint32_t *idx;
    float *val;
    size_t n;
    int y;
    sdc_refusal_result rules;
} prepared;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void shuffle(size_t *v, size_t n, uint64_t *seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix(seed) % i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static double text_logit(const float *w, float bias, const prepared *e)
{
    double z = 0;
    for (size_t i = 0; i < e->n; i++)
        z += w[e->idx[i]] * e->val[i];
    return bias + z;
}

/* Weights of the rows use[0..n) (ew[i] for use[i]): both classes weigh
 * the same whatever the sources' mix; the mean weight is 1. (Weighing each
 * source the same as well did not help leave-one-source-out.) */
static void example_weights(const prepared *pr, const size_t *use, size_t n, double *ew)
{
    double cls[2] = {0, 0};
    for (size_t i = 0; i < n; i++)
        cls[pr[use[i]].y] += 1.0;
    for (size_t i = 0; i < n; i++)
        ew[i] = (double)n / (2.0 * cls[pr[use[i]].y]);
}

/* AdaGrad logistic regression on the rows of pr listed in use[0..n);
 * writes quantised weights into m (m->hash_bits set by the caller). */
static dc_status text_fit(const prepared *pr, const size_t *use, size_t n,
                          const sdc_refusal_model_params *p, member *m)
{
    size_t d = (size_t)1 << m->hash_bits;
    double *w = dc_calloc(d, sizeof *w), *g2 = dc_calloc(d, sizeof *g2);
    size_t *order = dc_malloc((n ? n : 1) * sizeof *order);
    m->q = dc_calloc(d, sizeof *m->q);
    m->w = dc_calloc(d, sizeof *m->w);
    if (!w || !g2 || !order || !m->q || !m->w) {
        dc_free(w);
        dc_free(g2);
        dc_free(order);
        return DC_STATUS_NOMEM;
    }
    double *ew = dc_malloc((n ? n : 1) * sizeof *ew);
    if (!ew) {
        dc_free(w);
        dc_free(g2);
        dc_free(order);
        return DC_STATUS_NOMEM;
    }
    example_weights(pr, use, n, ew);
    double bias = 0, gb = 0;
    uint64_t seed = p->seed;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (unsigned ep = 0; ep < p->epochs; ep++) {
        shuffle(order, n, &seed);
        for (size_t k = 0; k < n; k++) {
            const prepared *e = &pr[use[order[k]]];
            double z = bias;
            for (size_t i = 0; i < e->n; i++)
                z += w[e->idx[i]] * e->val[i];
            double g = (sigmoid(z) - e->y) * ew[order[k]];
            for (size_t i = 0; i < e->n; i++) {
                uint32_t j = e->idx[i];
                double gj = g * e->val[i] + p->l2 * w[j];
                g2[j] += gj * gj;
                w[j] -= p->learning_rate * gj / sqrt(g2[j] + 1e-8);
            }
            gb += g * g;
            bias -= p->learning_rate * g / sqrt(gb + 1e-8);
        }
    }
    double mx = 0;
    for (size_t j = 0; j < d; j++)
        mx = fabs(w[j]) > mx ? fabs(w[j]) : mx;
    m->scale = mx > 0 ? (float)(mx / 32767.0) : 1.0f;
    for (size_t j = 0; j < d; j++) {
        m->q[j] = (int16_t)lrint(w[j] / m->scale);
        m->w[j] = (float)m->q[j] * m->scale;
    }
    m->bias = (float)bias;
    dc_free(w);
    dc_free(g2);
    dc_free(order);
    dc_free(ew);
    return DC_STATUS_OK;
}

static void prepared_free(prepared *pr, size_t n)
{
    for (size_t i = 0; pr && i < n; i++) {
        dc_free(pr[i].idx);
        dc_free(pr[i].val);
    }
    dc_free(pr);
}

static dc_status prepare(const sdc_refusal_example *ex, size_t n, unsigned hash_bits,
                         const sdc_refusal *rules, prepared **out, dc_error *err)
{
    prepared *pr = dc_calloc(n ? n : 1, sizeof *pr);
    feats f = {dc_malloc(MAX_FEATURES * sizeof(uint32_t)), dc_malloc(MAX_FEATURES * sizeof(float)),
               0, MAX_FEATURES, 0};
    if (!pr || !f.idx || !f.val) {
        dc_free(pr);
        dc_free(f.idx);
        dc_free(f.val);
        return dc_error_set(err, DC_STATUS_NOMEM, "refusal model: out of memory");
    }
    uint32_t mask = (uint32_t)(((uint64_t)1 << hash_bits) - 1);
    for (size_t i = 0; i < n; i++) {
        const sdc_refusal_example *e = &ex[i];
        dc_status st =
            extract(e->prompt, strlen(e->prompt), e->response, strlen(e->response), mask, &f);
        if (st == DC_STATUS_OK)
            st = sdc_refusal_classify_rules(rules, e->response, strlen(e->response), &pr[i].rules);
        pr[i].idx = st == DC_STATUS_OK ? dc_malloc((f.n ? f.n : 1) * sizeof *pr[i].idx) : NULL;
        pr[i].val = st == DC_STATUS_OK ? dc_malloc((f.n ? f.n : 1) * sizeof *pr[i].val) : NULL;
        if (!pr[i].idx || !pr[i].val) {
            prepared_free(pr, n);
            dc_free(f.idx);
            dc_free(f.val);
            return dc_error_set(err, DC_STATUS_NOMEM, "refusal model: out of memory");
        }
        memcpy(pr[i].idx, f.idx, f.n * sizeof *f.idx);
        memcpy(pr[i].val, f.val, f.n * sizeof *f.val);
        pr[i].n = f.n;
        pr[i].y = e->refusal ? 1 : 0;
    }
    dc_free(f.idx);
    dc_free(f.val);
    *out = pr;
    return DC_STATUS_OK;
}

/* Text weights on all of use[], and the stack on out-of-fold logits. */
static dc_status fit(const prepared *pr, const size_t *use, size_t n,
                     const sdc_refusal_model_params *p, member *m, dc_error *err)
{
    memset(m, 0, sizeof *m);
    size_t *fold = dc_malloc((n ? n : 1) * sizeof *fold);
    size_t *sub = dc_malloc((n ? n : 1) * sizeof *sub);
    double(*x)[N_STACK] = dc_malloc((n ? n : 1) * sizeof *x);
    int *y = dc_malloc((n ? n : 1) * sizeof *y);
    dc_status st = m && fold && sub && x && y ? DC_STATUS_OK : DC_STATUS_NOMEM;
    if (st == DC_STATUS_OK) {
        m->hash_bits = p->hash_bits;
        uint64_t seed = p->seed ^ 0x5eedf01du;
        for (size_t i = 0; i < n; i++)
            fold[i] = i;
        shuffle(fold, n, &seed); /* fold[i]: a permutation; fold of use[fold[i]] = i % folds */
    }
    for (unsigned k = 0; st == DC_STATUS_OK && k < p->folds; k++) {
        size_t ns = 0;
        for (size_t i = 0; i < n; i++)
            if (i % p->folds != k)
                sub[ns++] = use[fold[i]];
        member part;
        memset(&part, 0, sizeof part);
        part.hash_bits = p->hash_bits;
        st = text_fit(pr, sub, ns, p, &part);
        for (size_t i = k; st == DC_STATUS_OK && i < n; i += p->folds) {
            const prepared *e = &pr[use[fold[i]]];
            stack_inputs(text_logit(part.w, part.bias, e), &e->rules, x[i]);
            y[i] = e->y;
        }
        dc_free(part.q);
        dc_free(part.w);
    }
    if (st == DC_STATUS_OK) {
        stack_fit((const double(*)[N_STACK])x, y, n, m->stack);
        st = text_fit(pr, use, n, p, m);
    }
    dc_free(fold);
    dc_free(sub);
    dc_free(x);
    dc_free(y);
    if (st != DC_STATUS_OK) {
        member_free(m);
        return dc_error_set(err, st, "refusal model: out of memory");
    }
    return DC_STATUS_OK;
}

/* The k-th of the rows from[0..n) (from NULL: row k itself). */
static size_t row_at(const size_t *from, size_t k)
{
    return from ? from[k] : k;
}

/* Whether the k-th row of from[] is the first of its source there. */
static int first_of_source(const sdc_refusal_example *ex, const size_t *from, size_t k)
{
    const char *s = ex[row_at(from, k)].source;
    for (size_t j = 0; j < k; j++)
        if (!strcmp(ex[row_at(from, j)].source, s))
            return 0;
    return 1;
}

/* The rows of from[0..n) not from source s, into out[]; their count. True
 * when they hold both labels. */
static int rows_without(const sdc_refusal_example *ex, const prepared *pr, const size_t *from,
                        size_t n, const char *s, size_t *out, size_t *n_out)
{
    size_t no = 0, pos = 0;
    for (size_t j = 0; j < n; j++) {
        size_t i = row_at(from, j);
        if (strcmp(ex[i].source, s)) {
            out[no++] = i;
            pos += pr[i].y;
        }
    }
    *n_out = no;
    return pos > 0 && pos < no;
}

/* The ensemble on the rows use[0..n): a member on all of them, then, for
 * each source among them (in order of first appearance), a member on all
 * but that source's rows, when the rest still has both labels. Averaging
 * members that each miss one source keeps any one source's idea of a
 * refusal from deciding alone: leave-one-source-out, the worst held-out
 * source gains 2.2 points (docs/refusal.md). */
static dc_status fit_ensemble(const sdc_refusal_example *ex, const prepared *pr, const size_t *use,
                              size_t n, const sdc_refusal_model_params *p, sdc_refusal_model **out,
                              dc_error *err)
{
    *out = NULL;
    sdc_refusal_model *m = dc_calloc(1, sizeof *m);
    size_t *sub = dc_malloc((n ? n : 1) * sizeof *sub);
    dc_status st = m && sub ? DC_STATUS_OK
                            : dc_error_set(err, DC_STATUS_NOMEM, "refusal model: out of memory");
    if (st == DC_STATUS_OK) {
        m->hash_bits = p->hash_bits;
        st = fit(pr, use, n, p, &m->v[0], err);
        if (st == DC_STATUS_OK)
            m->n = 1;
    }
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        size_t ns;
        if (!first_of_source(ex, use, i) ||
            !rows_without(ex, pr, use, n, ex[use[i]].source, sub, &ns))
            continue; /* seen, or the rest lacks a label (or is this source alone) */
        if (m->n == MAX_MEMBERS) {
            st = dc_error_set(err, DC_STATUS_INVALID_ARG, "refusal model: more than %d sources",
                              MAX_MEMBERS - 1);
            break;
        }
        m->v[m->n].hash_bits = p->hash_bits;
        st = fit(pr, sub, ns, p, &m->v[m->n], err);
        if (st == DC_STATUS_OK)
            m->n++;
    }
    dc_free(sub);
    if (st != DC_STATUS_OK) {
        sdc_refusal_model_free(m);
        return st;
    }
    *out = m;
    return DC_STATUS_OK;
}

/* The members' mean probabilities of refusal for one prepared row. */
static void ensemble_probs(const sdc_refusal_model *m, const prepared *e,
                           const sdc_refusal_result *rules, double *p_classifier,
                           double *p_combined)
{
    double pc = 0, pk = 0;
    for (size_t k = 0; k < m->n; k++) {
        const member *v = &m->v[k];
        double z = text_logit(v->w, v->bias, e), x[N_STACK];
        stack_inputs(z, rules, x);
        pc += sigmoid(z);
        pk += sigmoid(stack_logit(v->stack, x));
    }
    *p_classifier = pc / (double)m->n;
    *p_combined = pk / (double)m->n;
}

static dc_status check_params(const sdc_refusal_model_params *p, dc_error *err)
{
    if (p->hash_bits < 10 || p->hash_bits > 24)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "refusal model: hash_bits %u (expected 10 to 24)", p->hash_bits);
    if (p->epochs < 1 || p->epochs > 1000 || p->folds < 2 || p->folds > 20 ||
        !(p->learning_rate > 0) || !(p->l2 >= 0))
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "refusal model: expected epochs 1-1000, folds 2-20, learning rate > 0, "
                            "l2 >= 0");
    return DC_STATUS_OK;
}

/* A rules detector for the stack: the caller's, or the built-in one. */
static dc_status rules_or_default(const sdc_refusal *rules, sdc_refusal **own, dc_error *err)
{
    *own = NULL;
    if (rules)
        return DC_STATUS_OK;
    sdc_refusal_params rp = sdc_refusal_default_params();
    rp.mode = SDC_REFUSAL_MODE_RULES;
    return sdc_refusal_new(&rp, own, err);
}

dc_status sdc_refusal_model_train(const sdc_refusal_example *ex, size_t n,
                                  const sdc_refusal_model_params *params, const sdc_refusal *rules,
                                  sdc_refusal_model **out, dc_error *err)
{
    *out = NULL;
    sdc_refusal_model_params p = params ? *params : sdc_refusal_model_default_params();
    dc_status st = check_params(&p, err);
    if (st != DC_STATUS_OK)
        return st;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += ex[i].refusal != 0;
    if (pos == 0 || pos == n)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "refusal model: the training set needs refusals and compliances "
                            "(%zu of %zu are refusals)",
                            pos, n);
    sdc_refusal *own;
    if ((st = rules_or_default(rules, &own, err)) != DC_STATUS_OK)
        return st;
    prepared *pr = NULL;
    size_t *use = dc_malloc(n * sizeof *use);
    if (!use)
        st = dc_error_set(err, DC_STATUS_NOMEM, "refusal model: out of memory");
    if (st == DC_STATUS_OK)
        st = prepare(ex, n, p.hash_bits, rules ? rules : own, &pr, err);
    if (st == DC_STATUS_OK) {
        for (size_t i = 0; i < n; i++)
            use[i] = i;
        st = fit_ensemble(ex, pr, use, n, &p, out, err);
    }
    prepared_free(pr, n);
    dc_free(use);
    sdc_refusal_free(own);
    return st;
}

/* ---- prediction ---- */

dc_status sdc_refusal_model_predict(const sdc_refusal_model *m, const char *prompt,
                                    size_t prompt_len, const char *response, size_t response_len,
                                    const sdc_refusal_result *rules, double *p_classifier,
                                    double *p_combined)
{
    uint32_t buf[MAX_FEATURES];
    float val[MAX_FEATURES];
    feats f = {buf, val, 0, MAX_FEATURES, 0};
    uint32_t mask = (uint32_t)(((uint64_t)1 << m->hash_bits) - 1);
    dc_status st = extract(prompt, prompt_len, response, response_len, mask, &f);
    if (st != DC_STATUS_OK)
        return st;
    prepared e = {buf, val, f.n, 0, {SDC_REFUSAL_NONE, "", 0, SDC_REFUSAL_NONE, 0, 0}};
    double pc, pk;
    ensemble_probs(m, &e, rules, &pc, &pk);
    if (p_classifier)
        *p_classifier = pc;
    if (p_combined)
        *p_combined = pk;
    return DC_STATUS_OK;
}

/* ---- the model file ---- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}

static float get_f32(const unsigned char *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* The file: the magic, version, hash bits, feature set, stack size,
 * member count (u32 each after the magic); then per member its weight
 * scale and bias (f32), its N_STACK stack weights (f32) and its 2^bits
 * int16 weights; then a CRC-32 of everything before it. Little-endian. */
#define HEADER_BYTES (8 + 4 * 5)
#define MEMBER_BYTES(d) (4 * 2 + 4 * N_STACK + 2 * (d))

dc_status sdc_refusal_model_save(const sdc_refusal_model *m, const char *path, dc_error *err)
{
    size_t d = (size_t)1 << m->hash_bits;
    size_t len = HEADER_BYTES + m->n * MEMBER_BYTES(d) + 4;
    unsigned char *b = dc_malloc(len);
    if (!b)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    unsigned char *p = b;
    memcpy(p, MODEL_MAGIC, 8);
    put_u32(p + 8, MODEL_VERSION);
    put_u32(p + 12, m->hash_bits);
    put_u32(p + 16, FEATURE_SET);
    put_u32(p + 20, N_STACK);
    put_u32(p + 24, (uint32_t)m->n);
    p += HEADER_BYTES;
    for (size_t k = 0; k < m->n; k++) {
        const member *v = &m->v[k];
        put_f32(p, v->scale);
        put_f32(p + 4, v->bias);
        p += 8;
        for (size_t i = 0; i < N_STACK; i++, p += 4)
            put_f32(p, v->stack[i]);
        for (size_t j = 0; j < d; j++, p += 2) {
            uint16_t q = (uint16_t)v->q[j];
            p[0] = (unsigned char)(q & 0xff);
            p[1] = (unsigned char)(q >> 8);
        }
    }
    put_u32(p, crc32_of(b, len - 4));
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(b, 1, len, f) == len;
    int e = errno;
    if (f && fclose(f) != 0)
        ok = 0;
    dc_free(b);
    if (!ok)
        return dc_error_set(err, DC_STATUS_IO, "%s: cannot write the model: %s", path,
                            strerror(e ? e : EIO));
    return DC_STATUS_OK;
}

dc_status sdc_refusal_model_from_memory(const void *data, size_t len, const char *name,
                                        sdc_refusal_model **out, dc_error *err)
{
    *out = NULL;
    const unsigned char *b = data;
    if (len < HEADER_BYTES + 4 || memcmp(b, MODEL_MAGIC, 8))
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: not a refusal model file (expected the magic \"SDCRFM\" and at "
                            "least %d bytes, got %zu bytes)",
                            name, HEADER_BYTES + 4, len);
    uint32_t version = get_u32(b + 8), bits = get_u32(b + 12), fs = get_u32(b + 16);
    if (version != MODEL_VERSION || fs != FEATURE_SET)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: refusal model version %u, feature set %u (this program reads "
                            "version %u, feature set %u: retrain with `refusal train`)",
                            name, version, fs, MODEL_VERSION, FEATURE_SET);
    uint32_t n_stack = get_u32(b + 20), members = get_u32(b + 24);
    if (bits < 10 || bits > 24 || n_stack != N_STACK || members < 1 || members > MAX_MEMBERS)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: bad header (hash bits %u, stack size %u, members %u; expected "
                            "10-24, %d and 1-%d)",
                            name, bits, n_stack, members, N_STACK, MAX_MEMBERS);
    size_t d = (size_t)1 << bits;
    size_t want = HEADER_BYTES + members * MEMBER_BYTES(d) + 4;
    if (len != want)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: %zu bytes, expected %zu for %u members of 2^%u weights "
                            "(truncated?)",
                            name, len, want, members, bits);
    uint32_t crc = crc32_of(b, len - 4), stored = get_u32(b + len - 4);
    if (crc != stored)
        return dc_error_set(err, DC_STATUS_CHECKSUM,
                            "%s: CRC-32 %08x does not match the recorded %08x (the file is "
                            "damaged)",
                            name, crc, stored);
    sdc_refusal_model *m = dc_calloc(1, sizeof *m);
    if (!m)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
    m->hash_bits = bits;
    dc_sha256_ctx sc;
    dc_sha256_init(&sc);
    dc_sha256_update(&sc, b, len);
    dc_sha256_final(&sc, m->sha256);
    const unsigned char *p = b + HEADER_BYTES;
    for (; m->n < members; m->n++) {
        member *v = &m->v[m->n];
        v->hash_bits = bits;
        v->q = dc_malloc(d * sizeof *v->q);
        v->w = dc_malloc(d * sizeof *v->w);
        if (!v->q || !v->w) {
            m->n++;
            sdc_refusal_model_free(m);
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
        }
        v->scale = get_f32(p);
        v->bias = get_f32(p + 4);
        p += 8;
        for (size_t i = 0; i < N_STACK; i++, p += 4)
            v->stack[i] = get_f32(p);
        for (size_t j = 0; j < d; j++, p += 2) {
            v->q[j] = (int16_t)(uint16_t)(p[0] | p[1] << 8);
            v->w[j] = (float)v->q[j] * v->scale;
        }
    }
    *out = m;
    return DC_STATUS_OK;
}

dc_status sdc_refusal_model_load(const char *path, sdc_refusal_model **out, dc_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    size_t cap = (size_t)1 << 20, len = 0;
    unsigned char *b = NULL;
    dc_status st = DC_STATUS_OK;
    for (;;) {
        unsigned char *nb = dc_realloc(b, cap);
        if (!nb) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
            break;
        }
        b = nb;
        len += fread(b + len, 1, cap - len, f);
        if (len < cap)
            break;
        if (cap >= (size_t)2 * (HEADER_BYTES + MAX_MEMBERS * MEMBER_BYTES((size_t)1 << 24))) {
            st = dc_error_set(err, DC_STATUS_FORMAT, "%s: larger than any refusal model", path);
            break;
        }
        cap *= 2;
    }
    if (st == DC_STATUS_OK && ferror(f))
        st = dc_error_set(err, DC_STATUS_IO, "%s: read error", path);
    fclose(f);
    if (st == DC_STATUS_OK)
        st = sdc_refusal_model_from_memory(b, len, path, out, err);
    dc_free(b);
    return st;
}

/* Generated at build time from data/refusal_model.bin (cmake/EmbedFile.cmake). */
extern const unsigned char sdc_refusal_model_blob[];
extern const size_t sdc_refusal_model_blob_len;

dc_status sdc_refusal_model_builtin(sdc_refusal_model **out, dc_error *err)
{
    return sdc_refusal_model_from_memory(sdc_refusal_model_blob, sdc_refusal_model_blob_len,
                                         "built-in data/refusal_model.bin", out, err);
}

/* ---- leave-one-source-out ---- */

void sdc_refusal_counts_metrics(const sdc_refusal_counts *c, double *accuracy, double *precision,
                                double *recall, double *f1)
{
    size_t n = c->tp + c->fp + c->tn + c->fn;
    double p = c->tp + c->fp ? (double)c->tp / (double)(c->tp + c->fp) : 0.0;
    double r = c->tp + c->fn ? (double)c->tp / (double)(c->tp + c->fn) : 0.0;
    if (accuracy)
        *accuracy = n ? (double)(c->tp + c->tn) / (double)n : 0.0;
    if (precision)
        *precision = p;
    if (recall)
        *recall = r;
    if (f1)
        *f1 = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

static void count(sdc_refusal_counts *c, int pred, int gold)
{
    if (pred && gold)
        c->tp++;
    else if (pred)
        c->fp++;
    else if (gold)
        c->fn++;
    else
        c->tn++;
}

/* Scores the held-out rows of source s with a model trained on the rest. */
static dc_status eval_source(const sdc_refusal_example *ex, const prepared *pr, size_t n,
                             const char *s, const sdc_refusal_model_params *p, size_t *use,
                             sdc_refusal_eval_row *row, dc_error *err)
{
    size_t nu;
    if (!rows_without(ex, pr, NULL, n, s, use, &nu))
        return DC_STATUS_NOT_FOUND;
    sdc_refusal_model *m;
    dc_status st = fit_ensemble(ex, pr, use, nu, p, &m, err);
    if (st != DC_STATUS_OK)
        return st;
    memset(row, 0, sizeof *row);
    snprintf(row->source, sizeof row->source, "%s", s);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ex[i].source, s))
            continue;
        const prepared *e = &pr[i];
        double pc, pk;
        ensemble_probs(m, e, &e->rules, &pc, &pk);
        count(&row->rules, sdc_refusal_is_refusal(e->rules.rules_kind), e->y);
        count(&row->classifier, pc >= 0.5, e->y);
        count(&row->combined, pk >= 0.5, e->y);
    }
    sdc_refusal_model_free(m);
    return DC_STATUS_OK;
}

dc_status sdc_refusal_eval_loso(const sdc_refusal_example *ex, size_t n,
                                const sdc_refusal_model_params *params, const sdc_refusal *rules,
                                sdc_refusal_eval_row **rows, size_t *n_rows, dc_error *err)
{
    *rows = NULL;
    *n_rows = 0;
    sdc_refusal_model_params p = params ? *params : sdc_refusal_model_default_params();
    dc_status st = check_params(&p, err);
    if (st != DC_STATUS_OK)
        return st;
    sdc_refusal *own;
    if ((st = rules_or_default(rules, &own, err)) != DC_STATUS_OK)
        return st;
    prepared *pr = NULL;
    size_t *use = dc_malloc((n ? n : 1) * sizeof *use);
    sdc_refusal_eval_row *out = dc_calloc(n ? n : 1, sizeof *out);
    if (!use || !out)
        st = dc_error_set(err, DC_STATUS_NOMEM, "refusal eval: out of memory");
    if (st == DC_STATUS_OK)
        st = prepare(ex, n, p.hash_bits, rules ? rules : own, &pr, err);
    size_t k = 0;
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        if (!first_of_source(ex, NULL, i))
            continue;
        st = eval_source(ex, pr, n, ex[i].source, &p, use, &out[k], err);
        if (st == DC_STATUS_OK)
            k++;
        else if (st == DC_STATUS_NOT_FOUND)
            st = DC_STATUS_OK;
    }
    prepared_free(pr, n);
    dc_free(use);
    sdc_refusal_free(own);
    if (st != DC_STATUS_OK) {
        dc_free(out);
        return st;
    }
    *rows = out;
    *n_rows = k;
    return DC_STATUS_OK;
}
