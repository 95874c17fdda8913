/* instance.c - instance lists: names, ownership, selection. */
#include "safety/sdc_instance.h"

#include <string.h>

#include "safety/rng.h"

/* ---- names ---- */

const char *sdc_label_name(sdc_label label)
{
    switch (label) {
    case SDC_LABEL_UNSAFE: return "unsafe";
    case SDC_LABEL_SAFE: return "safe";
    default: return "unknown";
    }
}

static const char *const bench_names[] = {
    "auto",           "toxicchat",    "harmbench",         "wildguard", "xstest",   "advbench",
    "jailbreakbench", "strongreject", "refusal-direction", "generic",   "synthetic"};

const char *sdc_benchmark_name(sdc_benchmark b)
{
    if ((int)b < 0 || (size_t)b >= sizeof bench_names / sizeof bench_names[0])
        return "unknown";
    return bench_names[b];
}

dc_status sdc_benchmark_from_name(const char *name, sdc_benchmark *out)
{
    for (size_t i = 0; name && i < sizeof bench_names / sizeof bench_names[0]; i++)
        if (!strcmp(name, bench_names[i])) {
            *out = (sdc_benchmark)i;
            return DC_STATUS_OK;
        }
    return DC_STATUS_NOT_FOUND;
}

/* ---- lists ---- */

sdc_dataset *sdc_dataset_new(sdc_benchmark benchmark)
{
    sdc_dataset *ds = dc_calloc(1, sizeof *ds);
    if (ds)
        ds->benchmark = benchmark;
    return ds;
}

static void instance_clear(sdc_instance *it)
{
    dc_free(it->id);
    dc_free(it->prompt);
    for (size_t i = 0; i < it->n_messages; i++) {
        dc_free(it->messages[i].role);
        dc_free(it->messages[i].content);
    }
    dc_free(it->messages);
    dc_free(it->category);
    dc_free(it->split);
    dc_free(it->extra_json);
    memset(it, 0, sizeof *it);
}

void sdc_dataset_free(sdc_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n; i++)
        instance_clear(&ds->items[i]);
    dc_free(ds->items);
    dc_free(ds);
}

dc_status sdc_dataset_push(sdc_dataset *ds, const sdc_instance *in)
{
    if (!ds || !in || !in->id || !in->prompt)
        return DC_STATUS_INVALID_ARG;
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 64;
        sdc_instance *v = dc_reallocarray(ds->items, cap, sizeof *v);
        if (!v)
            return DC_STATUS_NOMEM;
        ds->items = v;
        ds->cap = cap;
    }
    sdc_instance it;
    memset(&it, 0, sizeof it);
    it.id = dc_strdup(in->id);
    it.prompt = dc_strdup(in->prompt);
    it.category = dc_strdup(in->category ? in->category : "");
    it.split = dc_strdup(in->split ? in->split : "");
    it.extra_json = dc_strdup(in->extra_json ? in->extra_json : "{}");
    it.label = in->label;
    it.benchmark = in->benchmark;
    it.line = in->line;
    int ok = it.id && it.prompt && it.category && it.split && it.extra_json;
    if (ok && in->n_messages) {
        it.messages = dc_calloc(in->n_messages, sizeof *it.messages);
        ok = it.messages != NULL;
        for (size_t i = 0; ok && i < in->n_messages; i++) {
            it.n_messages++;
            it.messages[i].role = dc_strdup(in->messages[i].role ? in->messages[i].role : "");
            it.messages[i].content =
                dc_strdup(in->messages[i].content ? in->messages[i].content : "");
            ok = it.messages[i].role && it.messages[i].content;
        }
    }
    if (!ok) {
        instance_clear(&it);
        return DC_STATUS_NOMEM;
    }
    ds->items[ds->n++] = it;
    return DC_STATUS_OK;
}

void sdc_dataset_count_labels(const sdc_dataset *ds, size_t *unsafe, size_t *safe, size_t *unknown)
{
    size_t c[3] = {0, 0, 0};
    for (size_t i = 0; i < ds->n; i++)
        c[ds->items[i].label == SDC_LABEL_UNSAFE ? 0
          : ds->items[i].label == SDC_LABEL_SAFE ? 1
                                                 : 2]++;
    if (unsafe)
        *unsafe = c[0];
    if (safe)
        *safe = c[1];
    if (unknown)
        *unknown = c[2];
}

/* ---- selection ---- */

sdc_select_params sdc_select_default_params(void)
{
    sdc_select_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static int in_comma_list(const char *list, const char *s)
{
    size_t k = strlen(s);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == k && !memcmp(p, s, k))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static void drop_where(sdc_dataset *ds, const unsigned char *keep)
{
    size_t w = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (keep[i])
            ds->items[w++] = ds->items[i];
        else
            instance_clear(&ds->items[i]);
    }
    ds->n = w;
}

dc_status sdc_dataset_select(sdc_dataset *ds, const sdc_select_params *p, dc_error *err)
{
    sdc_select_params d = p ? *p : sdc_select_default_params();
    if (ds->n == 0)
        return DC_STATUS_OK;
    unsigned char *keep = dc_calloc(ds->n, 1);
    if (!keep)
        return dc_error_set(err, DC_STATUS_NOMEM, "selecting instances: out of memory");
    for (size_t i = 0; i < ds->n; i++)
        keep[i] = (!d.categories || in_comma_list(d.categories, ds->items[i].category)) &&
                  (!d.split || !strcmp(d.split, ds->items[i].split));
    drop_where(ds, keep);
    if (d.shuffle) {
        sdc_rng r = {d.seed};
        for (size_t i = ds->n; i > 1; i--) {
            size_t j = (size_t)sdc_rng_below(&r, i);
            sdc_instance t = ds->items[i - 1];
            ds->items[i - 1] = ds->items[j];
            ds->items[j] = t;
        }
    }
    if (d.num_instances && d.num_instances < ds->n) {
        memset(keep, 0, ds->n);
        if (d.stratify) {
            size_t cnt[3] = {0, 0, 0}, quota[3], rem[3];
            for (size_t i = 0; i < ds->n; i++)
                cnt[ds->items[i].label]++;
            size_t given = 0;
            for (int l = 0; l < 3; l++) {
                quota[l] = (size_t)((unsigned long long)d.num_instances * cnt[l] / ds->n);
                rem[l] = (size_t)((unsigned long long)d.num_instances * cnt[l] % ds->n);
                given += quota[l];
            }
            while (given < d.num_instances) { /* largest remainder, label order on ties */
                int best = -1;
                for (int l = 0; l < 3; l++)
                    if (quota[l] < cnt[l] && (best < 0 || rem[l] > rem[best]))
                        best = l;
                quota[best]++;
                rem[best] = 0;
                given++;
            }
            for (size_t i = 0; i < ds->n; i++)
                if (quota[ds->items[i].label]) {
                    quota[ds->items[i].label]--;
                    keep[i] = 1;
                }
        } else {
            memset(keep, 1, d.num_instances);
        }
        drop_where(ds, keep);
    }
    dc_free(keep);
    return DC_STATUS_OK;
}
