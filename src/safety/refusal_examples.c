/* refusal_examples.c - labelled responses for training and evaluating the
 * refusal classifier (the JSONL files in ../shared/refusal and files like them). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safety/sdc_refusal_model.h"
#include "util/lines.h"

#define MAX_LINE ((size_t)64 << 20)
#define MAX_FILES 256

void sdc_refusal_examples_free(sdc_refusal_examples *ex)
{
    for (size_t i = 0; i < ex->n; i++) {
        dc_free(ex->v[i].prompt);
        dc_free(ex->v[i].response);
        dc_free(ex->v[i].source);
    }
    dc_free(ex->v);
    memset(ex, 0, sizeof *ex);
}

/* 1 refusal, 0 compliance, -1 unlabelled, -2 a label of the wrong form. */
static int label_of(json_t *o)
{
    json_t *l = json_object_get(o, "label");
    if (l) {
        const char *s = json_string_value(l);
        if (s && !strcmp(s, "refusal"))
            return 1;
        if (s && !strcmp(s, "compliance"))
            return 0;
        return json_is_null(l) ? -1 : -2;
    }
    json_t *r = json_object_get(o, "refusal");
    if (json_is_boolean(r))
        return json_is_true(r);
    return json_is_null(r) ? -1 : -2;
}

/* Exact-duplicate responses within one file: an open-addressing set of
 * indices into ex->v, keyed by the response's hash. */
typedef struct seen_set {
    size_t *slot; /* index + 1, 0 empty */
    size_t cap;
} seen_set;

static uint64_t fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    return h;
}

/* 1 when ex->v[i].response was seen before (then not inserted), 0 when
 * inserted, -1 when out of memory. */
static int seen_insert(seen_set *s, const sdc_refusal_examples *ex, size_t i, size_t n_in_file)
{
    if (2 * (n_in_file + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        size_t *slot = dc_calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t k = 0; k < s->cap; k++)
            if (s->slot[k]) {
                size_t j = fnv(ex->v[s->slot[k] - 1].response) & (cap - 1);
                while (slot[j])
                    j = (j + 1) & (cap - 1);
                slot[j] = s->slot[k];
            }
        dc_free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t j = fnv(ex->v[i].response) & (s->cap - 1);
    for (; s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(ex->v[s->slot[j] - 1].response, ex->v[i].response))
            return 1;
    s->slot[j] = i + 1;
    return 0;
}

static dc_status load_file(sdc_refusal_examples *ex, const char *path, dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t bl = strlen(base);
    if (bl > 6 && !strcmp(base + bl - 6, ".jsonl"))
        bl -= 6;
    dc_lines rd;
    dc_lines_init(&rd, f, MAX_LINE);
    seen_set seen = {NULL, 0};
    size_t first = ex->n;
    dc_status st;
    while ((st = dc_lines_next(&rd)) == DC_STATUS_OK) {
        const char *line = rd.line.data ? rd.line.data : "";
        if (strspn(line, " \t") == rd.line.len)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, rd.line.len, 0, &je);
        json_t *p = o ? json_object_get(o, "prompt") : NULL;
        json_t *r = o ? json_object_get(o, "response") : NULL;
        int y = o ? label_of(o) : -2;
        if (!json_is_object(o) || !json_is_string(r) || (p && !json_is_string(p)) || y == -2) {
            st = dc_error_set(err, DC_STATUS_FORMAT,
                              "%s:%zu: expected a JSON object with a string \"response\", an "
                              "optional string \"prompt\" and \"label\": \"refusal\"|"
                              "\"compliance\" or \"refusal\": true|false|null",
                              path, rd.lineno);
            json_decref(o);
            break;
        }
        if (y < 0) {
            json_decref(o);
            continue;
        }
        if (ex->n == ex->cap) {
            size_t cap = ex->cap ? 2 * ex->cap : 1024;
            sdc_refusal_example *v = dc_reallocarray(ex->v, cap, sizeof *v);
            if (!v) {
                json_decref(o);
                st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
                break;
            }
            ex->v = v;
            ex->cap = cap;
        }
        sdc_refusal_example *e = &ex->v[ex->n];
        e->prompt = dc_strdup(p ? json_string_value(p) : "");
        e->response = dc_strdup(json_string_value(r));
        e->source = dc_malloc(bl + 1);
        e->refusal = y;
        json_decref(o);
        if (e->source) {
            memcpy(e->source, base, bl);
            e->source[bl] = '\0';
        }
        ex->n++;
        int dup = e->prompt && e->response && e->source
                      ? seen_insert(&seen, ex, ex->n - 1, ex->n - first)
                      : -1;
        if (dup < 0) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
            break;
        }
        if (dup) {
            ex->n--;
            dc_free(e->prompt);
            dc_free(e->response);
            dc_free(e->source);
        }
    }
    if (st == DC_STATUS_LIMIT)
        st = dc_error_set(err, DC_STATUS_LIMIT, "%s:%zu: line longer than %zu bytes", path,
                          rd.lineno, MAX_LINE);
    else if (st == DC_STATUS_IO)
        st = dc_error_set(err, DC_STATUS_IO, "%s: read error", path);
    else if (st == DC_STATUS_NOT_FOUND)
        st = DC_STATUS_OK;
    dc_free(seen.slot);
    dc_lines_free(&rd);
    fclose(f);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static dc_status load_dir(sdc_refusal_examples *ex, const char *path, dc_error *err)
{
    DIR *d = opendir(path);
    if (!d)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    char *names[MAX_FILES];
    size_t n = 0;
    dc_status st = DC_STATUS_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && st == DC_STATUS_OK) {
        size_t l = strlen(de->d_name);
        if (l <= 6 || strcmp(de->d_name + l - 6, ".jsonl") || de->d_name[0] == '.')
            continue;
        if (n == MAX_FILES)
            st = dc_error_set(err, DC_STATUS_LIMIT, "%s: more than %d .jsonl files", path,
                              MAX_FILES);
        else if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0)
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
        else
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (st == DC_STATUS_OK)
            st = load_file(ex, names[i], err);
        free(names[i]);
    }
    if (st == DC_STATUS_OK && n == 0)
        st = dc_error_set(err, DC_STATUS_NOT_FOUND, "%s: no .jsonl files", path);
    return st;
}

dc_status sdc_refusal_examples_load(sdc_refusal_examples *ex, const char *path, dc_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    return S_ISDIR(sb.st_mode) ? load_dir(ex, path, err) : load_file(ex, path, err);
}
