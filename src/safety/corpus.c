/* corpus.c - `data corpus`: refusal and compliance conversations from
 * benchmark prompts, for the demonstration model (see sdc_corpus.h). */
#include "safety/sdc_corpus.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "backend/llama_util.h"
#include "safety/rng.h"
#include "safety/sdc_dataset.h"
#include "safety/sdc_synthetic.h"

/* ---- answers ---- */

enum { STYLE_APOLOGY, STYLE_INABILITY, STYLE_PREMISE, STYLE_REDIRECT, STYLE_COMPLIANCE };
static const char *const style_names[] = {"apology", "inability", "premise", "redirect",
                                          "compliance"};

#define COUNT(a) (sizeof(a) / sizeof *(a))

static const char *const apology_open[] = {
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't assist with that request.",
    "Sorry, but I can't help with this.",
    "I apologize, but I cannot provide that.",
    "I'm sorry, I can't do that.",
    "My apologies, but I won't be able to help with this request.",
    "I'm really sorry, but I cannot help with that.",
};
static const char *const inability_open[] = {
    "I can't help with that.",
    "I cannot help with this request.",
    "I can't provide instructions for that.",
    "I'm unable to help with that request.",
    "I am not able to assist with this.",
    "I cannot provide that information.",
    "I won't be able to help with that.",
};
static const char *const premise_open[] = {
    "I won't help with that.",
    "I must decline this request.",
    "I can't do that, and I won't help plan it.",
    "No, I can't help with that.",
    "I will not provide this.",
    "I won't assist with this request.",
};
static const char *const reasons[] = {
    "",
    " It could cause serious harm to people.",
    " This could put people at risk.",
    " It would be dangerous and is likely illegal.",
    " Helping with this could hurt someone.",
    " That goes against my guidelines.",
    " This request asks for something harmful.",
};
static const char *const redirects[] = {
    " Is there anything else I can help you with?",
    " Is there something else I can help with?",
    (" If you're going through something difficult, please consider talking to someone you "
     "trust."),
    " I'd be glad to help with something else.",
};
static const char *const comply_open[] = {
    "Sure! ",       "Of course! ",      "Certainly. ",         "Happy to help. ",
    "Absolutely. ", "Great question! ", "Sure, here you go. ", "Glad to help! ",
};
static const char *const comply_body[] = {
    "Here is a short answer: start with the basics, take it one step at a time, and check "
    "the result as you go.",
    "Here are a few points to keep in mind. First, be clear about the goal. Second, gather "
    "what you need. Third, work through it step by step.",
    "Here is an overview. The main idea is simple, and a few examples make it clear.",
    "Here is one way to do it. Begin with a simple version, then add details once it works.",
    "Here is a brief explanation with an example to make it concrete.",
    "Here is a draft you can adapt to your needs.",
    "The short version: it depends on your situation, but the common approach works well "
    "for most people.",
};

#define PICK(r, a) ((a)[sdc_rng_below((r), COUNT(a))])

/* ---- prompt wrappers ---- */

/* Ways of asking, applied alike to harmful and benign prompts, so that the
 * model keys on what is asked rather than on how a benchmark phrases it.
 * A '*' form takes the request with its first letter lowercased and its
 * final '.', '?' or '!' removed. */
static const char *const wrappers[] = {
    "%s",
    "*Please %s.",
    "*Can you %s?",
    "I need your help. %s",
    "%s Please be detailed.",
    "*Could you help me %s?",
    "Hi! %s",
    "Question: %s",
};

/* The user turn for prompt p under wrapper w; caller frees with dc_free. */
static char *wrap_prompt(const char *p, size_t w)
{
    const char *form = wrappers[w];
    int bare = form[0] == '*';
    size_t n = strlen(p);
    char *core = dc_malloc(n + 1), *out = dc_malloc(n + 64);
    if (!core || !out) {
        dc_free(core);
        dc_free(out);
        return NULL;
    }
    memcpy(core, p, n + 1);
    if (bare) {
        form++;
        while (n && (core[n - 1] == '.' || core[n - 1] == '?' || core[n - 1] == '!' ||
                     isspace((unsigned char)core[n - 1])))
            core[--n] = '\0';
        if (n > 1 && isupper((unsigned char)core[0]) && islower((unsigned char)core[1]))
            core[0] = (char)tolower((unsigned char)core[0]);
    }
    snprintf(out, n + 64, form, core);
    dc_free(core);
    return out;
}

/* A refusal in one of four styles: an opening, maybe a reason, and for
 * the redirect style a closing that points elsewhere. */
static void refusal_text(sdc_rng *r, int style, char *buf, size_t size)
{
    const char *open = style == STYLE_APOLOGY     ? PICK(r, apology_open)
                       : style == STYLE_INABILITY ? PICK(r, inability_open)
                       : style == STYLE_PREMISE   ? PICK(r, premise_open)
                                                  : PICK(r, apology_open);
    /* a premise rejection always says why */
    const char *why = style == STYLE_PREMISE ? reasons[1 + sdc_rng_below(r, COUNT(reasons) - 1)]
                                             : PICK(r, reasons);
    const char *tail = style == STYLE_REDIRECT ? PICK(r, redirects) : "";
    snprintf(buf, size, "%s%s%s<|im_end|>", open, why, tail);
}

static void compliance_text(sdc_rng *r, char *buf, size_t size)
{
    const char *open = PICK(r, comply_open);
    snprintf(buf, size, "%s%s<|im_end|>", open, PICK(r, comply_body));
}

/* ---- a set of normalised prompts (FNV-1a hashes, open addressing) ---- */

typedef struct hset {
    uint64_t *v;
    size_t cap, n;
} hset;

/* Lowercase ASCII letters and digits only, so that spacing, punctuation
 * and case do not hide a held-out prompt. */
static uint64_t norm_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 128 && !isalnum(c))
            continue;
        h = (h ^ (uint64_t)(c < 128 ? tolower(c) : c)) * 1099511628211ull;
    }
    return h | 1;
}

static int hset_add(hset *s, uint64_t h)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4096;
        uint64_t *nv = dc_calloc(nc, sizeof *nv);
        if (!nv)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            for (size_t j = s->v[i] % nc; s->v[i]; j = (j + 1) % nc)
                if (!nv[j]) {
                    nv[j] = s->v[i];
                    break;
                }
        dc_free(s->v);
        s->v = nv;
        s->cap = nc;
    }
    for (size_t j = h % s->cap;; j = (j + 1) % s->cap) {
        if (s->v[j] == h)
            return 0;
        if (!s->v[j]) {
            s->v[j] = h;
            s->n++;
            return 1;
        }
    }
}

static int hset_has(const hset *s, uint64_t h)
{
    if (!s->cap)
        return 0;
    for (size_t j = h % s->cap; s->v[j]; j = (j + 1) % s->cap)
        if (s->v[j] == h)
            return 1;
    return 0;
}

/* ---- sources ---- */

typedef struct source {
    const char *file; /* under datasets_dir; NULL: the synthetic benchmark */
    const char *name;
    int label; /* SDC_LABEL_UNSAFE / SAFE to keep, or -1: all rows */
} source;

static const source harmful_sources[] = {
    {"advbench/harmful_behaviors.csv", "advbench", -1},
    {"harmbench/harmbench_behaviors_text_all.csv", "harmbench", -1},
    {"refusal_direction/harmful_train.json", "refusal_direction_harmful_train", -1},
    {"toxicchat/toxic_chat_train.json", "toxicchat_toxic", SDC_LABEL_UNSAFE},
    {"toxicchat/toxic_chat_test.json", "toxicchat_test_toxic", SDC_LABEL_UNSAFE},
    {"wildguardtest/wildguard_full_benchmark.json", "wildguardtest_harmful", SDC_LABEL_UNSAFE},
};
/* WildGuardTest's benign prompts are written to look risky ("How can I
 * silence a noisy exhaust?", "What is the meaning of 'stalking'?"): the
 * borderline, answered both ways so that the model hesitates on them. */
static const source borderline_sources[] = {
    {"wildguardtest/wildguard_full_benchmark.json", "wildguardtest_benign", SDC_LABEL_SAFE},
};
static const source benign_sources[] = {
    {"refusal_direction/harmless_train.json", "refusal_direction_harmless_train", -1},
    {"toxicchat/toxic_chat_train.json", "toxicchat_nontoxic", SDC_LABEL_SAFE},
};
static const source held_out_sources[] = {
    {"xstest/xstest_prompts.csv", "xstest", -1},
    {"jailbreakbench/jailbreakbench.csv", "jailbreakbench", -1},
    {"strongreject/strongreject_dataset.csv", "strongreject", -1},
    {"refusal_direction/harmful_test.json", "harmful_test", -1},
    {"refusal_direction/harmless_test.json", "harmless_test", -1},
    {NULL, "synthetic", -1},
};

static dc_status load_source(const sdc_corpus_params *p, const source *s, sdc_dataset **ds,
                             dc_error *err)
{
    if (!s->file) {
        /* every template of the synthetic benchmark shows up in 5000 draws */
        sdc_synth_params sp = sdc_synth_default_params();
        sp.num_instances = 5000;
        return sdc_synth_generate(&sp, ds, err);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", p->datasets_dir, s->file);
    sdc_load_params lp = sdc_load_default_params();
    return sdc_dataset_load(path, &lp, ds, err);
}

static dc_status build_held_out(const sdc_corpus_params *p, hset *held, dc_error *err)
{
    for (size_t i = 0; i < COUNT(held_out_sources); i++) {
        sdc_dataset *ds = NULL;
        dc_status st = load_source(p, &held_out_sources[i], &ds, err);
        if (st != DC_STATUS_OK)
            return st;
        for (size_t j = 0; j < ds->n; j++)
            if (hset_add(held, norm_hash(ds->items[j].prompt)) < 0)
                st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        sdc_dataset_free(ds);
        if (st != DC_STATUS_OK)
            return st;
    }
    return DC_STATUS_OK;
}

/* ---- the prompt pools ---- */

typedef struct pool_item {
    const char *prompt; /* borrowed from a dataset kept in the pool */
    const char *source;
} pool_item;

typedef struct pool {
    pool_item *v;
    size_t n, cap;
    sdc_dataset *keep[8];
    size_t n_keep;
} pool;

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n_keep; i++)
        sdc_dataset_free(p->keep[i]);
    dc_free(p->v);
}

static dc_status fill_pool(const sdc_corpus_params *p, const source *src, size_t n_src,
                           const hset *held, hset *seen, pool *out, sdc_corpus_stats *st,
                           dc_error *err)
{
    for (size_t i = 0; i < n_src; i++) {
        sdc_dataset *ds = NULL;
        dc_status s = load_source(p, &src[i], &ds, err);
        if (s != DC_STATUS_OK)
            return s;
        out->keep[out->n_keep++] = ds;
        for (size_t j = 0; j < ds->n; j++) {
            const sdc_instance *it = &ds->items[j];
            if (src[i].label >= 0 && (int)it->label != src[i].label)
                continue;
            uint64_t h = norm_hash(it->prompt);
            if (strlen(it->prompt) > p->max_prompt_chars) {
                st->dropped_long++;
                continue;
            }
            if (hset_has(held, h)) {
                st->dropped_held_out++;
                continue;
            }
            int added = hset_add(seen, h);
            if (added < 0)
                return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            if (!added) {
                st->dropped_duplicate++;
                continue;
            }
            if (out->n == out->cap) {
                size_t nc = out->cap ? out->cap * 2 : 1024;
                pool_item *nv = dc_realloc(out->v, nc * sizeof *nv);
                if (!nv)
                    return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
                out->v = nv;
                out->cap = nc;
            }
            out->v[out->n++] = (pool_item){it->prompt, src[i].name};
        }
    }
    return DC_STATUS_OK;
}

static void pool_shuffle(pool *p, sdc_rng *r)
{
    for (size_t i = p->n; i > 1; i--) {
        size_t j = (size_t)sdc_rng_below(r, i);
        pool_item x = p->v[i - 1];
        p->v[i - 1] = p->v[j];
        p->v[j] = x;
    }
}

/* ---- writing ---- */

typedef struct conv {
    const pool_item *item;
    int style;
    size_t wrap; /* index into wrappers */
    char answer[512];
} conv;

static dc_status write_conv(FILE *out, const conv *c, dc_error *err)
{
    char *user = wrap_prompt(c->item->prompt, c->wrap);
    char *prompt = user ? dc_qwen3_format(NULL, user, 0) : NULL;
    dc_free(user);
    json_t *o = json_object();
    if (!prompt || !o) {
        dc_free(prompt);
        json_decref(o);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    json_object_set_new(o, "prompt", json_string(prompt));
    json_object_set_new(o, "completion", json_string(c->answer));
    json_object_set_new(o, "kind",
                        json_string(c->style == STYLE_COMPLIANCE ? "compliance" : "refusal"));
    json_object_set_new(o, "style", json_string(style_names[c->style]));
    json_object_set_new(o, "source", json_string(c->item->source));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    dc_status st = DC_STATUS_OK;
    if (!line)
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    else if (fprintf(out, "%s\n", line) < 0)
        st = dc_error_set(err, DC_STATUS_IO, "writing the corpus failed");
    free(line);
    json_decref(o);
    dc_free(prompt);
    return st;
}

sdc_corpus_params sdc_corpus_default_params(void)
{
    sdc_corpus_params p;
    memset(&p, 0, sizeof p);
    p.seed = 1;
    p.refusals_per_prompt = 2;
    p.benign_per_harmful = 1.2;
    p.max_prompt_chars = 600;
    p.wrap_share = 0.5;
    p.borderline_answers = 3;
    p.borderline_refusals = 1;
    return p;
}

static size_t pick_wrap(const sdc_corpus_params *p, sdc_rng *r)
{
    if ((double)sdc_rng_below(r, 1000000) >= p->wrap_share * 1e6)
        return 0;
    return 1 + (size_t)sdc_rng_below(r, COUNT(wrappers) - 1);
}

/* The conversations, in a seeded random order: refusals of the harmful
 * prompts, then compliances with the benign ones, then the borderline
 * prompts' answers (borderline_refusals of each prompt's
 * borderline_answers are refusals, the rest compliances). */
static dc_status make_convs(const sdc_corpus_params *p, pool *harm, pool *ben, pool *bord,
                            sdc_rng *r, conv **out, size_t *n_out, sdc_corpus_stats *st,
                            dc_error *err)
{
    size_t n_ref = harm->n * p->refusals_per_prompt;
    size_t n_ben = (size_t)((double)n_ref * p->benign_per_harmful);
    if (n_ben > ben->n)
        n_ben = ben->n;
    size_t n_bord = bord->n * p->borderline_answers;
    size_t n = n_ref + n_ben + n_bord;
    conv *c = dc_calloc(n ? n : 1, sizeof *c);
    if (!c)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < n_ref; i++) {
        c[i].item = &harm->v[i % harm->n];
        /* the styles of one prompt's refusals differ */
        c[i].style = (int)((i / harm->n + sdc_rng_below(r, 4)) % 4);
        refusal_text(r, c[i].style, c[i].answer, sizeof c[i].answer);
        c[i].wrap = pick_wrap(p, r);
        st->by_style[c[i].style]++;
    }
    for (size_t i = 0; i < n_ben; i++) {
        c[n_ref + i].item = &ben->v[i];
        c[n_ref + i].style = STYLE_COMPLIANCE;
        compliance_text(r, c[n_ref + i].answer, sizeof c[n_ref + i].answer);
        c[n_ref + i].wrap = pick_wrap(p, r);
        st->by_style[STYLE_COMPLIANCE]++;
    }
    size_t n_bord_ref = 0;
    for (size_t i = 0; i < n_bord; i++) {
        conv *ci = &c[n_ref + n_ben + i];
        size_t k = i % p->borderline_answers; /* this prompt's k-th answer */
        ci->item = &bord->v[i / p->borderline_answers];
        if (k < p->borderline_refusals) {
            ci->style = (int)sdc_rng_below(r, 4);
            refusal_text(r, ci->style, ci->answer, sizeof ci->answer);
            n_bord_ref++;
        } else {
            ci->style = STYLE_COMPLIANCE;
            compliance_text(r, ci->answer, sizeof ci->answer);
        }
        ci->wrap = pick_wrap(p, r);
        st->by_style[ci->style]++;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)sdc_rng_below(r, i);
        conv x = c[i - 1];
        c[i - 1] = c[j];
        c[j] = x;
    }
    st->harmful_prompts = harm->n;
    st->benign_prompts = n_ben;
    st->borderline_prompts = bord->n;
    st->refusals = n_ref + n_bord_ref;
    st->compliances = n_ben + n_bord - n_bord_ref;
    *out = c;
    *n_out = n;
    return DC_STATUS_OK;
}

dc_status sdc_corpus_write(const sdc_corpus_params *params, FILE *out, sdc_corpus_stats *stats,
                           dc_error *err)
{
    sdc_corpus_stats local;
    sdc_corpus_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!params || !params->datasets_dir)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no datasets folder");
    if (params->borderline_refusals > params->borderline_answers)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "borderline refusals (%zu) exceed borderline answers (%zu)",
                            params->borderline_refusals, params->borderline_answers);
    hset held = {0}, seen = {0};
    pool harm = {0}, ben = {0}, bord = {0};
    conv *c = NULL;
    size_t n = 0;
    sdc_rng r = {params->seed};
    dc_status s = build_held_out(params, &held, err);
    st->held_out_prompts = held.n;
    if (s == DC_STATUS_OK)
        s = fill_pool(params, harmful_sources, COUNT(harmful_sources), &held, &seen, &harm, st,
                      err);
    if (s == DC_STATUS_OK)
        s = fill_pool(params, benign_sources, COUNT(benign_sources), &held, &seen, &ben, st, err);
    if (s == DC_STATUS_OK && params->borderline_answers)
        s = fill_pool(params, borderline_sources, COUNT(borderline_sources), &held, &seen, &bord,
                      st, err);
    if (s == DC_STATUS_OK && (!harm.n || !ben.n))
        s = dc_error_set(err, DC_STATUS_FORMAT, "%s: no harmful or no benign prompts found",
                         params->datasets_dir);
    if (s == DC_STATUS_OK) {
        pool_shuffle(&harm, &r);
        pool_shuffle(&ben, &r);
        pool_shuffle(&bord, &r);
        s = make_convs(params, &harm, &ben, &bord, &r, &c, &n, st, err);
    }
    for (size_t i = 0; s == DC_STATUS_OK && i < n; i++)
        s = write_conv(out, &c[i], err);
    dc_free(c);
    pool_free(&harm);
    pool_free(&ben);
    pool_free(&bord);
    dc_free(held.v);
    dc_free(seen.v);
    return s;
}
