/* judge_cache.c - the verdict cache (a JSONL file) and a verdict's JSON fields. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/judge_int.h"
#include "util/fs.h"
#include "util/lines.h"
#include "util/sha256.h"

/* ---- a verdict's fields ---- */

static void key_of(char *buf, size_t n, const char *prefix, const char *name)
{
    snprintf(buf, n, "%s%s", prefix, name);
}

static void put_double(jw *w, const char *k, double x)
{
    if (isnan(x)) {
        jw_key(w, k);
        jw_null(w);
    } else {
        jw_kv_double(w, k, x);
    }
}

void sdc_judge_verdict_put(jw *w, const char *prefix, const sdc_judge_verdict *v)
{
    char k[64];
    key_of(k, sizeof k, prefix, "harm");
    jw_kv_str(w, k, sdc_judge_harm_name(v->harm));
    key_of(k, sizeof k, prefix, "malformed");
    jw_kv_bool(w, k, v->malformed);
    key_of(k, sizeof k, prefix, "harmful_strict");
    jw_kv_tristate(w, k, v->harmful_strict);
    key_of(k, sizeof k, prefix, "harmful_loose");
    jw_kv_tristate(w, k, v->harmful_loose);
    key_of(k, sizeof k, prefix, "refusal");
    jw_kv_tristate(w, k, v->refusal);
    key_of(k, sizeof k, prefix, "harmful_request");
    jw_kv_tristate(w, k, v->harmful_request);
    key_of(k, sizeof k, prefix, "categories");
    jw_kv_str(w, k, v->categories);
    key_of(k, sizeof k, prefix, "p_unsafe_strict");
    put_double(w, k, v->p_unsafe_strict);
    key_of(k, sizeof k, prefix, "p_unsafe_loose");
    put_double(w, k, v->p_unsafe_loose);
}

static int get_tri(json_t *obj, const char *k, int *out)
{
    json_t *x = json_object_get(obj, k);
    if (json_is_null(x)) {
        *out = -1;
        return 1;
    }
    if (!json_is_boolean(x))
        return 0;
    *out = json_is_true(x);
    return 1;
}

static int get_p(json_t *obj, const char *k, double *out)
{
    json_t *x = json_object_get(obj, k);
    if (json_is_null(x)) {
        *out = NAN;
        return 1;
    }
    if (!json_is_number(x))
        return 0;
    *out = json_number_value(x);
    return 1;
}

int sdc_judge_verdict_get(json_t *obj, const char *prefix, sdc_judge_verdict *v)
{
    static const char *const harms[] = {"none", "safe", "unsafe", "controversial"};
    char k[64];
    memset(v, 0, sizeof *v);
    key_of(k, sizeof k, prefix, "harm");
    const char *h = json_string_value(json_object_get(obj, k));
    int found = 0;
    for (int i = 0; h && i < 4; i++)
        if (!strcmp(h, harms[i])) {
            v->harm = (sdc_judge_harm)i;
            found = 1;
        }
    key_of(k, sizeof k, prefix, "malformed");
    json_t *m = json_object_get(obj, k);
    key_of(k, sizeof k, prefix, "categories");
    const char *cats = json_string_value(json_object_get(obj, k));
    if (!found || !json_is_boolean(m) || !cats)
        return 0;
    v->malformed = json_is_true(m);
    snprintf(v->categories, sizeof v->categories, "%s", cats);
    char k2[64], k3[64], k4[64], k5[64], k6[64];
    key_of(k, sizeof k, prefix, "harmful_strict");
    key_of(k2, sizeof k2, prefix, "harmful_loose");
    key_of(k3, sizeof k3, prefix, "refusal");
    key_of(k4, sizeof k4, prefix, "harmful_request");
    key_of(k5, sizeof k5, prefix, "p_unsafe_strict");
    key_of(k6, sizeof k6, prefix, "p_unsafe_loose");
    return get_tri(obj, k, &v->harmful_strict) && get_tri(obj, k2, &v->harmful_loose) &&
           get_tri(obj, k3, &v->refusal) && get_tri(obj, k4, &v->harmful_request) &&
           get_p(obj, k5, &v->p_unsafe_strict) && get_p(obj, k6, &v->p_unsafe_loose);
}

/* ---- the cache ---- */

typedef struct entry {
    char key[65];
    sdc_judge_verdict v;
    char *output;
} entry;

struct sdc_judge_cache {
    FILE *f;       /* opened for appending */
    entry *slots;  /* open addressing, cap a power of two */
    size_t cap, n; /* slots, entries */
    size_t skipped;
};

/* Keys are hex digests: their first 16 digits are hash enough. */
static size_t slot_of(const sdc_judge_cache *c, const char *key)
{
    size_t h = 0;
    for (int i = 0; i < 16; i++)
        h = h * 16 + (size_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    size_t i = h & (c->cap - 1);
    while (c->slots[i].key[0] && strcmp(c->slots[i].key, key) != 0)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static dc_status grow(sdc_judge_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 256;
    entry *old = c->slots;
    size_t old_cap = c->cap;
    c->slots = dc_calloc(cap, sizeof *c->slots);
    if (!c->slots) {
        c->slots = old;
        return DC_STATUS_NOMEM;
    }
    c->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key[0])
            c->slots[slot_of(c, old[i].key)] = old[i];
    dc_free(old);
    return DC_STATUS_OK;
}

/* Takes output (owned). */
static dc_status insert(sdc_judge_cache *c, const char *key, const sdc_judge_verdict *v,
                        char *output)
{
    if ((c->n + 1) * 2 > c->cap && grow(c) != DC_STATUS_OK) {
        dc_free(output);
        return DC_STATUS_NOMEM;
    }
    entry *e = &c->slots[slot_of(c, key)];
    if (e->key[0]) {
        dc_free(e->output);
    } else {
        c->n++;
        memcpy(e->key, key, 65);
    }
    e->v = *v;
    e->output = output;
    return DC_STATUS_OK;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static dc_status load(sdc_judge_cache *c, FILE *f, dc_error *err)
{
    dc_lines rd;
    dc_lines_init(&rd, f, 0);
    dc_status st;
    while ((st = dc_lines_next(&rd)) != DC_STATUS_NOT_FOUND) {
        if (st == DC_STATUS_LIMIT) {
            c->skipped++;
            continue;
        }
        if (st != DC_STATUS_OK)
            break;
        json_t *o = json_loadb(rd.line.data ? rd.line.data : "", rd.line.len, 0, NULL);
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *out = json_string_value(json_object_get(o, "output"));
        sdc_judge_verdict v;
        if (!is_hex64(key) || !out || !sdc_judge_verdict_get(o, "", &v)) {
            c->skipped += rd.line.len > 0;
            json_decref(o);
            continue;
        }
        char *copy = dc_strdup(out);
        st = copy ? insert(c, key, &v, copy) : DC_STATUS_NOMEM;
        json_decref(o);
        if (st != DC_STATUS_OK)
            break;
    }
    dc_lines_free(&rd);
    if (st == DC_STATUS_NOT_FOUND)
        return DC_STATUS_OK;
    return dc_error_set(err, st, "reading the judge cache: %s", dc_strerror(st));
}

dc_status sdc_judge_cache_open(const char *path, sdc_judge_cache **out, dc_error *err)
{
    sdc_judge_cache *c = dc_calloc(1, sizeof *c);
    if (!c || grow(c) != DC_STATUS_OK) {
        dc_free(c);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (dc_mkdirs(dir, 0755) != 0) {
            sdc_judge_cache_free(c);
            return dc_error_set(err, DC_STATUS_IO, "%s: %s", dir, strerror(errno));
        }
    }
    FILE *r = fopen(path, "rb");
    if (r) {
        dc_status st = load(c, r, err);
        fclose(r);
        if (st != DC_STATUS_OK) {
            sdc_judge_cache_free(c);
            return st;
        }
    }
    c->f = fopen(path, "ab");
    if (!c->f) {
        int e = errno;
        sdc_judge_cache_free(c);
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(e));
    }
    *out = c;
    return DC_STATUS_OK;
}

static void hash_field(dc_sha256_ctx *s, const char *x)
{
    char len[32];
    size_t n = x ? strlen(x) : 0;
    snprintf(len, sizeof len, "%zu:", n);
    dc_sha256_update(s, len, strlen(len));
    dc_sha256_update(s, x ? x : "", n);
}

void sdc_judge_cache_key(sdc_judge_kind k, const char *model_id, const char *prompt,
                         const char *response, char key[65])
{
    dc_sha256_ctx s;
    dc_sha256_init(&s);
    hash_field(&s, "sdc-judge-1");
    hash_field(&s, sdc_judge_kind_name(k));
    hash_field(&s, model_id);
    hash_field(&s, prompt);
    hash_field(&s, response);
    dc_sha256_final(&s, key);
}

int sdc_judge_cache_get(const sdc_judge_cache *c, const char *key, sdc_judge_verdict *v,
                        const char **output)
{
    const entry *e = &c->slots[slot_of(c, key)];
    if (!e->key[0])
        return 0;
    *v = e->v;
    if (output)
        *output = e->output;
    return 1;
}

dc_status sdc_judge_cache_put(sdc_judge_cache *c, const char *key, sdc_judge_kind k,
                              const sdc_judge_verdict *v, const char *output, dc_error *err)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_kv_str(&w, "key", key);
    jw_kv_str(&w, "judge", sdc_judge_kind_name(k));
    jw_kv_str(&w, "output", output ? output : "");
    sdc_judge_verdict_put(&w, "", v);
    jw_obj_end(&w);
    dc_buf_putc(&b, '\n');
    char *copy = dc_strdup(output ? output : "");
    if (b.st != DC_STATUS_OK || !copy) {
        dc_buf_free(&b);
        dc_free(copy);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    int ok = fwrite(b.data, 1, b.len, c->f) == b.len && fflush(c->f) == 0;
    dc_buf_free(&b);
    if (!ok) {
        dc_free(copy);
        return dc_error_set(err, DC_STATUS_IO, "writing the judge cache: %s", strerror(errno));
    }
    if (insert(c, key, v, copy) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

size_t sdc_judge_cache_size(const sdc_judge_cache *c)
{
    return c->n;
}

size_t sdc_judge_cache_skipped(const sdc_judge_cache *c)
{
    return c->skipped;
}

void sdc_judge_cache_free(sdc_judge_cache *c)
{
    if (!c)
        return;
    if (c->f)
        fclose(c->f);
    for (size_t i = 0; i < c->cap; i++)
        dc_free(c->slots[i].output);
    dc_free(c->slots);
    dc_free(c);
}
