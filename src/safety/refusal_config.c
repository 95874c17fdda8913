/* refusal_config.c - the `refusal:` section of the YAML config (libyaml). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <yaml.h>

#include "safety/sdc_refusal.h"
#include "safety/sdc_refusal_model.h"

/* Every phrase list of sdc_refusal_params: freeing, the YAML keys and the
 * JSON settings all go through this one list. */
/* clang-format off */
#define REFUSAL_LISTS(X) X(openings) X(statements) X(inability) X(actions) \
    X(acknowledgements) X(contrasts) X(help_starts) X(redirections) X(continuations) X(negations) \
    X(identities) X(offers) X(offer_markers)
/* clang-format on */

static void free_list(const char *const *v)
{
    for (size_t j = 0; v && v[j]; j++)
        dc_free((char *)v[j]);
    dc_free((void *)v);
}

void sdc_refusal_params_free(sdc_refusal_params *p)
{
#define FREE_(f) free_list(p->f);
    REFUSAL_LISTS(FREE_)
#undef FREE_
    dc_free((char *)p->model_path);
    *p = sdc_refusal_default_params();
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static dc_status read_list(yaml_document_t *doc, yaml_node_t *seq, const char *path,
                           const char *key, const char ***out, dc_error *err)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: refusal.%s: expected a list of strings",
                            path, (size_t)seq->start_mark.line + 1, key);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    const char **v = dc_calloc(n + 1, sizeof *v);
    if (!v)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    dc_status st = DC_STATUS_OK;
    for (size_t i = 0; i < n && st == DC_STATUS_OK; i++) {
        yaml_node_t *it = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        const char *s = scalar(it);
        if (!s || !*s)
            st = dc_error_set(err, DC_STATUS_CONFIG,
                              "%s:%zu: refusal.%s item %zu: expected a non-empty string", path,
                              it ? (size_t)it->start_mark.line + 1 : 0, key, i + 1);
        else if (!(v[i] = dc_strdup(s)))
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    }
    if (st != DC_STATUS_OK) {
        free_list(v);
        return st;
    }
    *out = v;
    return DC_STATUS_OK;
}

static dc_status read_size(yaml_node_t *n, const char *path, const char *key, size_t hi,
                           size_t *out, dc_error *err)
{
    const char *s = scalar(n);
    char *end = NULL;
    errno = 0;
    unsigned long long x = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!s || !end || *end || errno || x > hi)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "%s:%zu: refusal.%s: expected a whole number from 0 to %zu", path,
                            (size_t)n->start_mark.line + 1, key, hi);
    *out = (size_t)x;
    return DC_STATUS_OK;
}

static dc_status read_string(yaml_node_t *n, const char *path, const char *key, char **out,
                             dc_error *err)
{
    const char *s = scalar(n);
    if (!s || !*s)
        return dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: refusal.%s: expected a string", path,
                            (size_t)n->start_mark.line + 1, key);
    dc_free(*out);
    if (!(*out = dc_strdup(s)))
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    return DC_STATUS_OK;
}

static dc_status apply_section(yaml_document_t *doc, yaml_node_t *sec, const char *path,
                               sdc_refusal_params *p, dc_error *err)
{
    if (sec->type != YAML_MAPPING_NODE)
        return dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: refusal: expected a mapping", path,
                            (size_t)sec->start_mark.line + 1);
    for (yaml_node_pair_t *pr = sec->data.mapping.pairs.start; pr < sec->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(doc, pr->value);
        const char *key = scalar(k);
        if (!key || !v)
            return dc_error_set(err, DC_STATUS_CONFIG, "%s: refusal: keys must be strings", path);
        dc_status st;
        if (!strcmp(key, "max_gap")) {
            st = read_size(v, path, key, 32, &p->max_gap, err);
        } else if (!strcmp(key, "max_ack_chars")) {
            st = read_size(v, path, key, 100000, &p->max_ack_chars, err);
        } else if (!strcmp(key, "mode")) {
            const char *m = scalar(v);
            st = sdc_refusal_mode_from_name(m, &p->mode) == DC_STATUS_OK
                     ? DC_STATUS_OK
                     : dc_error_set(err, DC_STATUS_CONFIG,
                                    "%s:%zu: refusal.mode: expected combined, rules or classifier",
                                    path, (size_t)v->start_mark.line + 1);
        } else if (!strcmp(key, "model")) {
            char *mp = (char *)p->model_path;
            st = read_string(v, path, key, &mp, err);
            p->model_path = mp;
        } else if (sdc_refusal_default_list(key)) {
            const char **lst = NULL;
            st = read_list(doc, v, path, key, &lst, err);
/* clang-format off */
#define SET_(f) else if (!strcmp(key, #f)) { free_list(p->f); p->f = lst; }
            if (0) {
            }
            REFUSAL_LISTS(SET_)
#undef SET_
            /* clang-format on */
            if (st != DC_STATUS_OK)
                return st;
        } else {
            return dc_error_set(
                err, DC_STATUS_CONFIG,
                "%s:%zu: refusal.%s: unknown key (expected openings, statements, "
                "inability, actions, acknowledgements, contrasts, help_starts, "
                "redirections, continuations, negations, identities, offers, offer_markers, "
                "max_gap, max_ack_chars, mode, model)",
                path, (size_t)k->start_mark.line + 1, key);
        }
        if (st != DC_STATUS_OK)
            return st;
    }
    return DC_STATUS_OK;
}

dc_status sdc_refusal_load_params(const char *path, sdc_refusal_params *p, dc_error *err)
{
    *p = sdc_refusal_default_params();
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        dc_status st = dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: YAML error: %s", path,
                                    (size_t)parser.problem_mark.line + 1,
                                    parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        fclose(f);
        return st;
    }
    dc_status st = DC_STATUS_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             pr < root->data.mapping.pairs.top && st == DC_STATUS_OK; pr++) {
            const char *key = scalar(yaml_document_get_node(&doc, pr->key));
            if (key && !strcmp(key, "refusal"))
                st = apply_section(&doc, yaml_document_get_node(&doc, pr->value), path, p, err);
        }
    } else if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) {
        st = dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: expected a mapping at the top", path,
                          (size_t)root->start_mark.line + 1);
    }
    if (st != DC_STATUS_OK)
        sdc_refusal_params_free(p);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return st;
}

static char *settings_json(const sdc_refusal_params *p, const sdc_refusal_model *m);

dc_status sdc_refusal_from_params(sdc_refusal_params *p, const char *mode, sdc_refusal **out,
                                  char **json, dc_error *err)
{
    *out = NULL;
    if (json)
        *json = NULL;
    dc_status st = DC_STATUS_OK;
    if (mode && *mode && sdc_refusal_mode_from_name(mode, &p->mode) != DC_STATUS_OK)
        st = dc_error_set(err, DC_STATUS_CONFIG,
                          "refusal.mode: expected combined, rules or classifier, got '%s'", mode);
    if (st == DC_STATUS_OK)
        st = sdc_refusal_new(p, out, err);
    if (st == DC_STATUS_OK && json && !(*json = settings_json(p, sdc_refusal_get_model(*out)))) {
        sdc_refusal_free(*out);
        *out = NULL;
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    sdc_refusal_params_free(p);
    return st;
}

dc_status sdc_refusal_open(const char *path, const char *mode, sdc_refusal **out, dc_error *err)
{
    *out = NULL;
    sdc_refusal_params p = sdc_refusal_default_params();
    dc_status st = path ? sdc_refusal_load_params(path, &p, err) : DC_STATUS_OK;
    return st == DC_STATUS_OK ? sdc_refusal_from_params(&p, mode, out, NULL, err) : st;
}

dc_status sdc_refusal_load_config(const char *path, sdc_refusal **out, dc_error *err)
{
    *out = NULL;
    sdc_refusal_params p;
    dc_status st = sdc_refusal_load_params(path, &p, err);
    if (st != DC_STATUS_OK)
        return st;
    st = sdc_refusal_new(&p, out, err);
    sdc_refusal_params_free(&p);
    return st;
}

/* ---- the detector's settings as JSON (run.json) ---- */

static json_t *list_json(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* p's settings as JSON text, with model_sha256 when m (the classifier the
 * detector uses, NULL: none) has one: a replay or a resume then knows
 * whether it decides with the same weights. NULL when out of memory. */
static char *settings_json(const sdc_refusal_params *p, const sdc_refusal_model *m)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "mode", sdc_refusal_mode_name(p->mode), "model",
                          p->model_path ? p->model_path : "built-in", "max_gap",
                          (json_int_t)p->max_gap, "max_ack_chars", (json_int_t)p->max_ack_chars);
#define PUT_(f) \
    if (o)      \
        json_object_set_new(o, #f, list_json(p->f ? p->f : sdc_refusal_default_list(#f)));
    REFUSAL_LISTS(PUT_)
#undef PUT_
    if (o && m && *sdc_refusal_model_sha256(m))
        json_object_set_new(o, "model_sha256", json_string(sdc_refusal_model_sha256(m)));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char *out = text ? dc_strdup(text) : NULL;
    free(text);
    return out;
}

char *sdc_refusal_params_to_json(const sdc_refusal_params *p)
{
    return settings_json(p, NULL);
}

/* An owned, NULL-terminated copy of a JSON array of strings. */
static dc_status list_of(json_t *a, const char *key, const char *const **out, dc_error *err)
{
    if (!json_is_array(a))
        return dc_error_set(err, DC_STATUS_FORMAT, "refusal.%s: expected a list of strings", key);
    size_t n = json_array_size(a);
    const char **v = dc_calloc(n + 1, sizeof *v);
    if (!v)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    *out = v;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s)
            return dc_error_set(err, DC_STATUS_FORMAT, "refusal.%s[%zu]: expected a string", key,
                                i);
        if (!(v[i] = dc_strdup(s)))
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    return DC_STATUS_OK;
}

dc_status sdc_refusal_params_from_json(const char *text, sdc_refusal_params *p, dc_error *err)
{
    *p = sdc_refusal_default_params();
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return dc_error_set(err, DC_STATUS_PARSE, "refusal settings: not a JSON object (%s)",
                            je.text);
    }
    dc_status st = DC_STATUS_OK;
    const char *mode = json_string_value(json_object_get(o, "mode"));
    const char *model = json_string_value(json_object_get(o, "model"));
    if (mode && sdc_refusal_mode_from_name(mode, &p->mode) != DC_STATUS_OK)
        st = dc_error_set(err, DC_STATUS_FORMAT, "refusal.mode: unknown '%s'", mode);
    if (st == DC_STATUS_OK && model && strcmp(model, "built-in") != 0 &&
        !(p->model_path = dc_strdup(model)))
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    if (json_is_integer(json_object_get(o, "max_gap")))
        p->max_gap = (size_t)json_integer_value(json_object_get(o, "max_gap"));
    if (json_is_integer(json_object_get(o, "max_ack_chars")))
        p->max_ack_chars = (size_t)json_integer_value(json_object_get(o, "max_ack_chars"));
#define GET_(f)                                       \
    if (st == DC_STATUS_OK && json_object_get(o, #f)) \
        st = list_of(json_object_get(o, #f), #f, &p->f, err);
    REFUSAL_LISTS(GET_)
#undef GET_
    /* Settings recorded before a list existed (they hold the older lists
       but not this one) ran without it: empty, not today's default, so a
       replay decides as the run did. */
    json_t *none = json_array();
#define ABSENT_(f)                                                                       \
    if (st == DC_STATUS_OK && json_object_get(o, "openings") && !json_object_get(o, #f)) \
        st = none ? list_of(none, #f, &p->f, err)                                        \
                  : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    ABSENT_(identities)
    ABSENT_(offers)
    ABSENT_(offer_markers)
#undef ABSENT_
    json_decref(none);
    json_decref(o);
    if (st != DC_STATUS_OK)
        sdc_refusal_params_free(p);
    return st;
}
