/* refusal_config.c - the `refusal:` section of the YAML config (libyaml). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "safety/sdc_refusal.h"

/* Lists read from the file, owned here until the detector copies them. */
typedef struct cfg_lists {
    const char **v[16];
    char *names[16];
    size_t n;
} cfg_lists;

static void cfg_free(cfg_lists *c)
{
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = 0; c->v[i] && c->v[i][j]; j++)
            dc_free((char *)c->v[i][j]);
        dc_free(c->v[i]);
        dc_free(c->names[i]);
    }
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
    *out = v;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        const char *s = scalar(it);
        if (!s || !*s)
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "%s:%zu: refusal.%s item %zu: expected a non-empty string", path,
                                it ? (size_t)it->start_mark.line + 1 : 0, key, i + 1);
        if (!(v[i] = dc_strdup(s)))
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", path);
    }
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

static dc_status apply_section(yaml_document_t *doc, yaml_node_t *sec, const char *path,
                               sdc_refusal_params *p, cfg_lists *c, dc_error *err)
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
        } else if (sdc_refusal_default_list(key) && c->n < 16) {
            c->names[c->n] = dc_strdup(key);
            st = read_list(doc, v, path, key, &c->v[c->n], err);
            c->n++;
            if (st != DC_STATUS_OK)
                return st;
            const char *const *lst = c->v[c->n - 1];
/* clang-format off */
#define SET_(f) else if (!strcmp(key, #f)) p->f = lst;
            if (0) {
            }
            SET_(openings)
            SET_(statements)
            SET_(inability)
            SET_(actions)
            SET_(acknowledgements)
            SET_(contrasts)
            SET_(help_starts)
            SET_(redirections)
            SET_(continuations)
            SET_(negations)
#undef SET_
            /* clang-format on */
        } else {
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "%s:%zu: refusal.%s: unknown key (expected openings, statements, "
                                "inability, actions, acknowledgements, contrasts, help_starts, "
                                "redirections, continuations, negations, max_gap, max_ack_chars)",
                                path, (size_t)k->start_mark.line + 1, key);
        }
        if (st != DC_STATUS_OK)
            return st;
    }
    return DC_STATUS_OK;
}

dc_status sdc_refusal_load_config(const char *path, sdc_refusal **out, dc_error *err)
{
    *out = NULL;
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
    sdc_refusal_params p = sdc_refusal_default_params();
    cfg_lists c;
    memset(&c, 0, sizeof c);
    dc_status st = DC_STATUS_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             pr < root->data.mapping.pairs.top && st == DC_STATUS_OK; pr++) {
            const char *key = scalar(yaml_document_get_node(&doc, pr->key));
            if (key && !strcmp(key, "refusal"))
                st =
                    apply_section(&doc, yaml_document_get_node(&doc, pr->value), path, &p, &c, err);
        }
    } else if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) {
        st = dc_error_set(err, DC_STATUS_CONFIG, "%s:%zu: expected a mapping at the top", path,
                          (size_t)root->start_mark.line + 1);
    }
    if (st == DC_STATUS_OK)
        st = sdc_refusal_new(&p, out, err);
    cfg_free(&c);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return st;
}
