/* sweep.c - the same experiment on several models (sdc_sweep.h): one
 * sdc_experiment per model, each in its own directory under the sweep's,
 * then the models side by side in sweep.json, sweep.txt and sweep.html. */
#include "safety/sdc_sweep.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/analysis_internal.h"
#include "safety/sdc_records.h"
#include "safety/sdc_results.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jsonw.h"

sdc_sweep_params sdc_sweep_default_params(void)
{
    sdc_sweep_params p;
    memset(&p, 0, sizeof p);
    p.exp = sdc_experiment_default_params();
    return p;
}

/* ---- model specs ---- */

typedef struct model_spec {
    int openai;         /* openai:URL[#NAME] */
    char url[1024];     /* openai only */
    char name[1024];    /* model.name ("" : the server's) */
    char dir_name[160]; /* NN-NAME */
} model_spec;

static void sanitize(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            *s = '_';
}

static dc_status parse_spec(const char *spec, size_t i, model_spec *m, dc_error *err)
{
    memset(m, 0, sizeof *m);
    char base[128];
    if (!strncmp(spec, "openai:", 7)) {
        const char *url = spec + 7, *hash = strchr(url, '#');
        size_t ul = hash ? (size_t)(hash - url) : strlen(url);
        if (ul == 0 || ul >= sizeof m->url || strncmp(url, "http", 4) != 0)
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "--model %s: expected openai:URL or openai:URL#NAME with an "
                                "http(s) URL",
                                spec);
        m->openai = 1;
        memcpy(m->url, url, ul);
        snprintf(m->name, sizeof m->name, "%s", hash ? hash + 1 : "");
        const char *host = strstr(m->url, "://");
        snprintf(base, sizeof base, "%.120s", *m->name ? m->name : host ? host + 3 : m->url);
    } else {
        if (!*spec)
            return dc_error_set(err, DC_STATUS_CONFIG, "--model: empty model");
        snprintf(m->name, sizeof m->name, "%s", spec);
        const char *slash = strrchr(spec, '/');
        snprintf(base, sizeof base, "%.120s", slash && slash[1] ? slash + 1 : spec);
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".gguf"))
            base[bl - 5] = '\0';
    }
    sanitize(base);
    snprintf(m->dir_name, sizeof m->dir_name, "%02zu-%s", i + 1, base);
    return DC_STATUS_OK;
}

/* ---- sweep.json: the plan, then the results ---- */

static dc_status write_plan(const char *dir, const char *const *models, const model_spec *ms,
                            size_t n, dc_error *err)
{
    if (dc_mkdirs(dir, 0777) != 0)
        return dc_error_set(err, DC_STATUS_IO, "cannot create %s: %s", dir, strerror(errno));
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_kv_int(&w, "format", 1);
    jw_kv_bool(&w, "finished", 0);
    jw_key(&w, "models");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&w);
        jw_kv_str(&w, "spec", models[i]);
        jw_kv_str(&w, "dir", ms[i].dir_name);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    dc_buf_putc(&b, '\n');
    dc_status st = b.st;
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "sweep.json", b.data, err);
    else
        dc_error_set(err, st, "out of memory");
    dc_buf_free(&b);
    return st;
}

/* The models of the sweep in dir: *out (caller json_decref's) its
 * "models" array; NOT_FOUND when there is no sweep.json. */
static dc_status read_plan(const char *dir, json_t **out, dc_error *err)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/sweep.json", dir);
    json_error_t je;
    json_t *o = json_load_file(p, 0, &je);
    if (!o)
        return dc_error_set(err, fopen(p, "r") ? DC_STATUS_PARSE : DC_STATUS_NOT_FOUND, "%s: %s", p,
                            je.text);
    json_t *m = json_object_get(o, "models");
    if (!json_is_array(m)) {
        json_decref(o);
        return dc_error_set(err, DC_STATUS_PARSE, "%s: expected a \"models\" array", p);
    }
    *out = json_incref(m);
    json_decref(o);
    return DC_STATUS_OK;
}

/* New: no sweep may be there. Resume: the same models, if any. */
static dc_status check_dir(const char *dir, const char *const *models, size_t n, sdc_open_mode mode,
                           dc_error *err)
{
    json_t *old = NULL;
    dc_error e2 = {0};
    dc_status st = read_plan(dir, &old, &e2);
    if (st == DC_STATUS_NOT_FOUND || mode == SDC_OPEN_FORCE) {
        json_decref(old);
        return DC_STATUS_OK;
    }
    if (st != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_EXISTS, "%s; --force replaces it", e2.msg);
    int same = json_array_size(old) == n;
    for (size_t i = 0; same && i < n; i++) {
        const char *s = json_string_value(json_object_get(json_array_get(old, i), "spec"));
        same = s && !strcmp(s, models[i]);
    }
    json_decref(old);
    if (mode == SDC_OPEN_NEW)
        return dc_error_set(err, DC_STATUS_EXISTS,
                            "%s already holds a sweep; --resume continues it, --force replaces "
                            "it, or choose another --out",
                            dir);
    if (!same)
        return dc_error_set(err, DC_STATUS_EXISTS,
                            "%s holds a sweep of other models (see its sweep.json); --force "
                            "replaces it",
                            dir);
    return DC_STATUS_OK;
}

/* ---- one model ---- */

/* cfg with the model's name, backend and endpoint and its directory. */
static dc_status model_config(const sdc_config *cfg, const model_spec *m, const char *run_dir,
                              sdc_config **out, dc_error *err)
{
    *out = NULL;
    char *j = sdc_config_to_json(cfg);
    json_t *o = j ? json_loads(j, 0, NULL) : NULL;
    dc_free(j);
    json_t *model = json_object_get(o, "model"), *output = json_object_get(o, "output");
    if (!json_is_object(model) || !json_is_object(output)) {
        json_decref(o);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    json_object_set_new(model, "name", json_string(m->name));
    if (m->openai) {
        json_object_set_new(model, "backend", json_string("openai"));
        json_object_set_new(model, "endpoints", json_pack("[s]", m->url));
    }
    json_object_set_new(output, "dir", json_string(run_dir));
    char *text = json_dumps(o, 0);
    json_decref(o);
    sdc_config *c = sdc_config_new();
    dc_status st = text && c ? sdc_config_load_json(c, text, err)
                             : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    free(text);
    if (st == DC_STATUS_OK && cfg->config_path) {
        dc_free(c->config_path);
        if (!(c->config_path = dc_strdup(cfg->config_path)))
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    if (st == DC_STATUS_OK)
        st = sdc_config_validate(c, err);
    if (st != DC_STATUS_OK) {
        sdc_config_free(c);
        return st;
    }
    *out = c;
    return DC_STATUS_OK;
}

static dc_status run_model(const sdc_config *cfg, const char *dir, size_t i, size_t n,
                           const char *spec, const model_spec *m, const sdc_sweep_params *p,
                           dc_error *err)
{
    char run_dir[4400];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, m->dir_name);
    if (p->model_begin)
        p->model_begin(p->exp.user, i, n, spec, run_dir);
    sdc_config *c;
    dc_status st = model_config(cfg, m, run_dir, &c, err);
    sdc_experiment *e = NULL;
    if (st == DC_STATUS_OK)
        st = sdc_experiment_open(c, &p->exp, &e, err);
    if (st == DC_STATUS_OK && p->model_open)
        p->model_open(p->exp.user, i, e);
    sdc_run_stats stats;
    if (st == DC_STATUS_OK)
        st = sdc_experiment_run(e, &stats, NULL, err);
    if (e && p->model_end)
        p->model_end(p->exp.user, i, st);
    if (st != DC_STATUS_OK)
        dc_error_prefix(err, "model %zu of %zu (%s)", i + 1, n, spec);
    sdc_experiment_free(e);
    sdc_config_free(c);
    return st;
}

dc_status sdc_sweep_run(const sdc_config *cfg, const char *dir, const char *const *models, size_t n,
                        const sdc_sweep_params *params, char **text, dc_error *err)
{
    if (text)
        *text = NULL;
    sdc_sweep_params p = params ? *params : sdc_sweep_default_params();
    if (n == 0)
        return dc_error_set(err, DC_STATUS_CONFIG, "a sweep needs at least one --model");
    if (n > SDC_SWEEP_MAX_MODELS)
        return dc_error_set(err, DC_STATUS_CONFIG, "at most %d models in a sweep",
                            SDC_SWEEP_MAX_MODELS);
    model_spec *ms = dc_calloc(n, sizeof *ms);
    if (!ms)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = DC_STATUS_OK;
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++)
        st = parse_spec(models[i], i, &ms[i], err);
    if (st == DC_STATUS_OK)
        st = check_dir(dir, models, n, p.exp.open_mode, err);
    if (st == DC_STATUS_OK)
        st = write_plan(dir, models, ms, n, err);
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++)
        st = run_model(cfg, dir, i, n, models[i], &ms[i], &p, err);
    dc_free(ms);
    if (st == DC_STATUS_OK)
        st = sdc_sweep_analyze(dir, NAN, text, err);
    return st;
}

/* ---- the analysis ---- */

typedef struct model_row {
    const char *spec, *dir;
    sdc_run_facts facts;
    an_result r;
    const an_strategy *s; /* the primary strategy: the last (online in compare) */
} model_row;

static double acc_of(const an_count *c)
{
    return c->n ? (double)c->correct / (double)c->n : NAN;
}

static dc_status analyze_model(const char *dir, double theta, model_row *m, dc_error *err)
{
    char run_dir[4400];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, m->dir);
    sdc_prediction_list pl;
    dc_status st = sdc_predictions_load(run_dir, &pl, NULL, err);
    if (st != DC_STATUS_OK)
        return st;
    if ((st = sdc_run_facts_read(run_dir, &m->facts, err)) != DC_STATUS_OK) {
        sdc_prediction_list_free(&pl);
        return st;
    }
    sdc_analysis_params ap = sdc_analysis_default_params();
    if (isnan(theta))
        theta = m->facts.threshold >= 0 && m->facts.threshold <= 1 ? m->facts.threshold : 0.5;
    ap.theta = theta;
    st = an_compute(pl.items, pl.n, &ap, &m->r);
    /* the names point into the predictions: keep them as the row's */
    for (size_t i = 0; st == DC_STATUS_OK && i < m->r.n_s; i++)
        m->r.s[i].name = dc_strdup(m->r.s[i].name);
    sdc_prediction_list_free(&pl);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "%s: analysis failed", run_dir);
    m->s = m->r.n_s ? &m->r.s[m->r.n_s - 1] : NULL;
    return DC_STATUS_OK;
}

static void free_rows(model_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < rows[i].r.n_s; k++)
            dc_free((char *)rows[i].r.s[k].name);
        if (rows[i].r.s)
            an_free(&rows[i].r);
    }
    dc_free(rows);
}

static void json_strategy(jw *w, const an_strategy *s)
{
    jw_obj_begin(w);
    jw_kv_str(w, "strategy", s ? s->name : NULL);
    if (s) {
        jw_kv_uint(w, "n", s->n);
        jw_kv_uint(w, "judged", s->judged);
        jw_kv_double(w, "accuracy", s->acc);
        jw_kv_double(w, "accuracy_lo", s->acc_lo);
        jw_kv_double(w, "accuracy_hi", s->acc_hi);
        jw_key(w, "categories");
        jw_obj_begin(w);
        for (int c = 0; c < 5; c++) {
            jw_key(w, sdc_category_name((sdc_category)c));
            jw_obj_begin(w);
            jw_kv_uint(w, "n", s->cat[c].n);
            jw_kv_double(w, "accuracy", acc_of(&s->cat[c]));
            jw_obj_end(w);
        }
        jw_obj_end(w);
        jw_kv_double(w, "h1_diff", s->h1.diff);
        jw_kv_double(w, "h1_p", s->h1.p);
        jw_kv_double(w, "h1_lo", s->h1.lo);
        jw_kv_double(w, "h1_hi", s->h1.hi);
        jw_kv_double(w, "ece", s->ece);
        jw_kv_double(w, "brier", s->brier);
        jw_kv_double(w, "auroc", s->auroc[0]);
        jw_kv_double(w, "avg_traces", s->avg_traces);
        jw_kv_double(w, "tokens_per_instance", s->avg_tokens);
        jw_kv_double(w, "seconds_per_instance", s->avg_seconds);
    }
    jw_obj_end(w);
}

static char *sweep_json(const model_row *rows, size_t n, double theta)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_kv_int(&w, "format", 1);
    jw_kv_bool(&w, "finished", 1);
    if (!isnan(theta))
        jw_kv_double(&w, "threshold", theta);
    jw_key(&w, "models");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const model_row *m = &rows[i];
        jw_obj_begin(&w);
        jw_kv_str(&w, "spec", m->spec);
        jw_kv_str(&w, "dir", m->dir);
        jw_kv_str(&w, "name", m->facts.model_name);
        jw_kv_str(&w, "backend", m->facts.backend);
        jw_kv_uint(&w, "n_params", m->facts.n_params);
        jw_kv_bool(&w, "demo", m->facts.demo);
        jw_kv_double(&w, "threshold", m->r.params.theta);
        jw_key(&w, "primary");
        json_strategy(&w, m->s);
        jw_key(&w, "strategies");
        jw_arr_begin(&w);
        for (size_t k = 0; k < m->r.n_s; k++)
            json_strategy(&w, &m->r.s[k]);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    dc_buf_putc(&b, '\n');
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    return dc_buf_take(&b);
}

/* "0.6B", "12.3M", "?" */
static void params_text(uint64_t n, char *buf, size_t size)
{
    if (!n)
        snprintf(buf, size, "?");
    else if (n >= 1000000000ull)
        snprintf(buf, size, "%.2fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, size, "%.1fM", (double)n / 1e6);
    else
        snprintf(buf, size, "%.1fK", (double)n / 1e3);
}

static void cell(dc_buf *b, double x, const char *fmt, int width)
{
    char t[32];
    if (isnan(x))
        snprintf(t, sizeof t, "n/a");
    else
        snprintf(t, sizeof t, fmt, x);
    dc_buf_printf(b, " %*s", width, t);
}

static char *sweep_txt(const model_row *rows, size_t n)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_printf(&b, "Model sweep: %zu models, the same instances and seeds on each\n", n);
    dc_buf_puts(&b, "(strategy: each run's last, online in compare; CR/CC/UR/UC/NA: the "
                    "categories' counts)\n\n");
    dc_buf_printf(&b, "%-28s %8s %-8s %4s %6s %4s %4s %4s %4s %4s %8s %7s %6s %6s %8s %8s\n",
                  "model", "params", "strategy", "n", "acc", "CR", "CC", "UR", "UC", "NA",
                  "H1 diff", "H1 p", "ECE", "AUROC", "tok/inst", "s/inst");
    for (size_t i = 0; i < n; i++) {
        const model_row *m = &rows[i];
        const an_strategy *s = m->s;
        char par[32];
        params_text(m->facts.n_params, par, sizeof par);
        dc_buf_printf(&b, "%-28.28s %8s %-8.8s", m->dir, par, s ? s->name : "-");
        if (!s) {
            dc_buf_puts(&b, " (no predictions)\n");
            continue;
        }
        dc_buf_printf(&b, " %4zu", s->n);
        cell(&b, s->acc, "%.3f", 6);
        for (int c = 0; c < 5; c++)
            dc_buf_printf(&b, " %4zu", s->cat[c].n);
        cell(&b, s->h1.diff, "%+.3f", 8);
        cell(&b, s->h1.p, "%.3g", 7);
        cell(&b, s->ece, "%.3f", 6);
        cell(&b, s->auroc[0], "%.3f", 6);
        cell(&b, s->avg_tokens, "%.1f", 8);
        cell(&b, s->avg_seconds, "%.3f", 8);
        dc_buf_putc(&b, '\n');
    }
    dc_buf_puts(&b, "\nmodels:\n");
    for (size_t i = 0; i < n; i++)
        dc_buf_printf(&b, "  %s: %s (%s%s)\n", rows[i].dir, rows[i].spec, rows[i].facts.model_name,
                      rows[i].facts.demo ? ", DEMO: random weights" : "");
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    return dc_buf_take(&b);
}

/* ---- sweep.html ---- */

#define PW 420
#define PH 280
#define PL 50
#define PB 40
#define PT 20
#define PR 20

static void esc(dc_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': dc_buf_puts(b, "&lt;"); break;
        case '>': dc_buf_puts(b, "&gt;"); break;
        case '&': dc_buf_puts(b, "&amp;"); break;
        case '"': dc_buf_puts(b, "&quot;"); break;
        default: dc_buf_putc(b, *s);
        }
    }
}

/* One measure of each model against log10(parameters). */
static void plot(dc_buf *b, const model_row *rows, size_t n, int h1, const char *title)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = h1 ? -1 : 0, y1 = 1;
    for (size_t i = 0; i < n; i++)
        if (rows[i].facts.n_params) {
            double x = log10((double)rows[i].facts.n_params);
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
        }
    if (!isfinite(x0)) {
        x0 = 6;
        x1 = 9;
    }
    x0 -= 0.25;
    x1 += 0.25;
    dc_buf_printf(b,
                  "<figure><svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                  "role='img'><title>%s</title>",
                  PW, PH, title);
#define SX(x) (PL + ((x)-x0) / (x1 - x0) * (PW - PL - PR))
#define SY(y) (PH - PB - ((y)-y0) / (y1 - y0) * (PH - PB - PT))
    dc_buf_printf(b,
                  "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/><line x1='%d' y1='%d' "
                  "x2='%d' y2='%d' stroke='#333'/>",
                  PL, PH - PB, PW - PR, PH - PB, PL, PT, PL, PH - PB);
    for (int k = 0; k <= 4; k++) {
        double y = y0 + (y1 - y0) * k / 4.0, x = x0 + (x1 - x0) * k / 4.0;
        dc_buf_printf(b, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.2f</text>",
                      PL - 4, SY(y) + 3, y);
        char par[32];
        params_text((uint64_t)pow(10, x), par, sizeof par);
        dc_buf_printf(b, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%s</text>",
                      SX(x), PH - PB + 14, par);
    }
    if (h1)
        dc_buf_printf(b,
                      "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#999' "
                      "stroke-dasharray='4 3'/>",
                      PL, SY(0.0), PW - PR, SY(0.0));
    dc_buf_printf(b,
                  "<text x='%d' y='%d' font-size='11' text-anchor='middle'>parameters (log "
                  "scale)</text>",
                  (PL + PW - PR) / 2, PH - 6);
    size_t drawn = 0;
    for (size_t i = 0; i < n; i++) {
        const model_row *m = &rows[i];
        double y = !m->s ? NAN : h1 ? m->s->h1.diff : m->s->acc;
        if (!m->facts.n_params || isnan(y))
            continue;
        drawn++;
        double x = log10((double)m->facts.n_params);
        if (h1 && !isnan(m->s->h1.lo))
            dc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#1f77b4'/>",
                          SX(x), SY(m->s->h1.lo), SX(x), SY(m->s->h1.hi));
        if (!h1)
            dc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#1f77b4'/>",
                          SX(x), SY(m->s->acc_lo), SX(x), SY(m->s->acc_hi));
        dc_buf_printf(b, "<circle cx='%.1f' cy='%.1f' r='5' fill='#1f77b4'><title>", SX(x), SY(y));
        esc(b, m->dir);
        dc_buf_printf(b, "</title></circle><text x='%.1f' y='%.1f' font-size='10'>", SX(x) + 7,
                      SY(y) - 4);
        esc(b, m->dir);
        dc_buf_puts(b, "</text>");
    }
    if (!drawn)
        dc_buf_printf(b, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>%s</text>",
                      (PL + PW - PR) / 2, PT + 30,
                      h1 ? "no model has an H1 difference (it needs both compliance categories)"
                         : "no model of known size has an accuracy");
#undef SX
#undef SY
    dc_buf_printf(b,
                  "</svg><figcaption>%s against the model's parameters (from the GGUF; "
                  "models of unknown size are left out), with 95%% intervals.</figcaption>"
                  "</figure>\n",
                  title);
}

static char *sweep_html(const model_row *rows, size_t n, const char *dir)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_puts(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>"
                    "safety-deepconf sweep: ");
    esc(&b, dir);
    dc_buf_puts(&b, "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
                    "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                    "th{background:#f4f4f4}td:first-child{text-align:left}figure{display:"
                    "inline-block;margin:0.5em}figcaption{font-size:12px;max-width:420px}"
                    "</style></head><body>\n<h1>safety-deepconf sweep: ");
    esc(&b, dir);
    dc_buf_printf(&b,
                  "</h1>\n<p>%zu models, the same instances and seeds on each; the "
                  "strategy is each run's last (online in compare).</p>\n<table id='sweep'>"
                  "<tr><th>model</th><th>params</th><th>strategy</th><th>n</th><th>accuracy"
                  "</th><th>95%% CI</th><th>CR</th><th>CC</th><th>UR</th><th>UC</th><th>NA</th>"
                  "<th>H1 diff</th><th>H1 p</th><th>ECE</th><th>AUROC</th><th>tokens/inst</th>"
                  "<th>s/inst</th></tr>\n",
                  n);
    for (size_t i = 0; i < n; i++) {
        const model_row *m = &rows[i];
        const an_strategy *s = m->s;
        char par[32];
        params_text(m->facts.n_params, par, sizeof par);
        dc_buf_puts(&b, "<tr><td><a href='");
        esc(&b, m->dir);
        dc_buf_puts(&b, "/report.html'>");
        esc(&b, m->dir);
        dc_buf_puts(&b, "</a>");
        if (m->facts.demo)
            dc_buf_puts(&b, " (demo)");
        dc_buf_printf(&b, "</td><td>%s</td><td>", par);
        esc(&b, s ? s->name : "-");
        dc_buf_puts(&b, "</td>");
        if (s) {
            dc_buf_printf(&b, "<td>%zu</td><td>%.3f</td><td>%.3f&ndash;%.3f</td>", s->n,
                          isnan(s->acc) ? 0.0 : s->acc, s->acc_lo, s->acc_hi);
            for (int c = 0; c < 5; c++)
                dc_buf_printf(&b, "<td>%zu</td>", s->cat[c].n);
            double v[6] = {s->h1.diff, s->h1.p, s->ece, s->auroc[0], s->avg_tokens, s->avg_seconds};
            for (int k = 0; k < 6; k++)
                dc_buf_printf(&b, isnan(v[k]) ? "<td>n/a</td>" : "<td>%.3f</td>", v[k]);
        }
        dc_buf_puts(&b, "</tr>\n");
    }
    dc_buf_puts(&b, "</table>\n");
    plot(&b, rows, n, 0, "Accuracy");
    plot(&b, rows, n, 1, "H1 difference (confident minus uncertain compliance accuracy)");
    dc_buf_puts(&b, "</body></html>\n");
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    return dc_buf_take(&b);
}

dc_status sdc_sweep_analyze(const char *dir, double theta, char **text, dc_error *err)
{
    if (text)
        *text = NULL;
    json_t *plan;
    dc_status st = read_plan(dir, &plan, err);
    if (st != DC_STATUS_OK)
        return st;
    size_t n = json_array_size(plan);
    model_row *rows = dc_calloc(n + 1, sizeof *rows);
    if (!rows) {
        json_decref(plan);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        json_t *m = json_array_get(plan, i);
        rows[i].spec = json_string_value(json_object_get(m, "spec"));
        rows[i].dir = json_string_value(json_object_get(m, "dir"));
        if (!rows[i].spec || !rows[i].dir)
            st = dc_error_set(err, DC_STATUS_PARSE,
                              "%s/sweep.json: model %zu: expected \"spec\" and \"dir\"", dir, i);
        else
            st = analyze_model(dir, theta, &rows[i], err);
    }
    char *js = NULL, *txt = NULL, *html = NULL;
    if (st == DC_STATUS_OK) {
        js = sweep_json(rows, n, theta);
        txt = sweep_txt(rows, n);
        html = sweep_html(rows, n, dir);
        if (!js || !txt || !html)
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "sweep.txt", txt, err);
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "sweep.html", html, err);
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "sweep.json", js, err);
    if (st == DC_STATUS_OK && text) {
        *text = txt;
        txt = NULL;
    }
    dc_free(js);
    dc_free(txt);
    dc_free(html);
    free_rows(rows, n);
    json_decref(plan);
    return st;
}
