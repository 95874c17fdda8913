/* report.c - report.html: one self-contained page, tables and SVG plots;
 * the cases are report_cases.c's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "safety/analysis_internal.h"
#include "util/buf.h"

#define W 420
#define H 300
#define ML 50 /* margins */
#define MB 40
#define MT 20
#define MR 20

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

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

static double px(double x, double lo, double hi)
{
    return ML + (x - lo) / (hi - lo) * (W - ML - MR);
}

static double py(double y, double lo, double hi)
{
    return H - MB - (y - lo) / (hi - lo) * (H - MB - MT);
}

/* Axes with ticks at 0, 0.25, ... of each range. */
static void axes(dc_buf *b, double x0, double x1, double y0, double y1, const char *xl,
                 const char *yl, int y_ticks)
{
    dc_buf_printf(b, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>", ML, H - MB, W - MR,
                  H - MB);
    dc_buf_printf(b, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>", ML, MT, ML, H - MB);
    for (int i = 0; i <= 4; i++) {
        double fx = x0 + (x1 - x0) * i / 4.0, fy = y0 + (y1 - y0) * i / 4.0;
        dc_buf_printf(b, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%.3g</text>",
                      px(fx, x0, x1), H - MB + 14, fx);
        if (!y_ticks)
            continue;
        dc_buf_printf(b, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.3g</text>",
                      ML - 4, py(fy, y0, y1) + 3, fy);
        dc_buf_printf(b, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/>", ML + 1,
                      py(fy, y0, y1), W - MR, py(fy, y0, y1));
    }
    dc_buf_printf(b, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>", (ML + W - MR) / 2,
                  H - 6);
    esc(b, xl);
    dc_buf_printf(b,
                  "</text><text x='12' y='%d' font-size='11' text-anchor='middle' "
                  "transform='rotate(-90 12 %d)'>",
                  (MT + H - MB) / 2, (MT + H - MB) / 2);
    esc(b, yl);
    dc_buf_puts(b, "</text>");
}

static void svg_open(dc_buf *b, const char *title, const char *id)
{
    dc_buf_printf(b,
                  "<figure id='%s'><svg xmlns='http://www.w3.org/2000/svg' width='%d' "
                  "height='%d' viewBox='0 0 %d %d' role='img'><title>",
                  id, W, H, W, H);
    esc(b, title);
    dc_buf_puts(b, "</title>");
}

static void svg_close(dc_buf *b, const char *caption)
{
    dc_buf_puts(b, "</svg><figcaption>");
    esc(b, caption);
    dc_buf_puts(b, "</figcaption></figure>\n");
}

static void legend(dc_buf *b, const an_result *r)
{
    for (size_t i = 0; i < r->n_s; i++) {
        dc_buf_printf(b, "<rect x='%d' y='%zu' width='10' height='10' fill='%s'/>", ML + 10,
                      MT + 4 + i * 14, palette[i % 8]);
        dc_buf_printf(b, "<text x='%d' y='%zu' font-size='10'>", ML + 24, MT + 13 + i * 14);
        esc(b, r->s[i].name);
        dc_buf_puts(b, "</text>");
    }
}

static void plot_reliability(dc_buf *b, const an_result *r)
{
    svg_open(b, "Reliability diagram", "reliability");
    axes(b, 0, 1, 0, 1, "mean confidence in bin", "accuracy in bin", 1);
    dc_buf_printf(b,
                  "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#999' "
                  "stroke-dasharray='4 3'/>",
                  px(0, 0, 1), py(0, 0, 1), px(1, 0, 1), py(1, 0, 1));
    size_t bins = r->params.bins;
    for (size_t i = 0; i < r->n_s; i++) {
        dc_buf_printf(b, "<polyline fill='none' stroke='%s' stroke-width='2' points='",
                      palette[i % 8]);
        for (size_t k = 0; k < bins; k++)
            if (r->s[i].bins[k].n)
                dc_buf_printf(b, "%.1f,%.1f ", px(r->s[i].bins[k].mean_conf, 0, 1),
                              py(r->s[i].bins[k].accuracy, 0, 1));
        dc_buf_puts(b, "'/>");
        for (size_t k = 0; k < bins; k++)
            if (r->s[i].bins[k].n)
                dc_buf_printf(
                    b,
                    "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='%s'><title>n=%zu"
                    "</title></circle>",
                    px(r->s[i].bins[k].mean_conf, 0, 1), py(r->s[i].bins[k].accuracy, 0, 1),
                    2.0 + sqrt((double)r->s[i].bins[k].n), palette[i % 8], r->s[i].bins[k].n);
    }
    legend(b, r);
    svg_close(b, "Reliability: accuracy against mean confidence per bin; the dashed line is "
                 "perfect calibration; dot area grows with the bin's count.");
}

/* Strip plot of confidences per category, for the first strategy with data
 * (the primary one). */
static void plot_categories(dc_buf *b, const an_result *r)
{
    svg_open(b, "Confidence by category", "categories");
    axes(b, 0, 1, 0, 1, "confidence", "", 0);
    const an_strategy *s = r->n_s ? &r->s[r->n_s - 1] : NULL;
    for (int c = 0; c < 4; c++) {
        double y = MT + 20 + c * ((H - MB - MT - 30) / 4.0);
        dc_buf_printf(b, "<text x='%d' y='%.1f' font-size='10'>%s</text>", ML + 4, y - 6,
                      sdc_category_title((sdc_category)c));
        if (!s)
            continue;
        for (size_t i = 0; i < s->n_conf_by_cat[c]; i++)
            dc_buf_printf(b, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s' fill-opacity='0.5'/>",
                          px(s->conf_by_cat[c][i], 0, 1), y + 4 + (double)(i % 5) * 3.0,
                          c == SDC_CATEGORY_UNCERTAIN_COMPLIANCE ? "#d62728" : "#1f77b4");
    }
    char cap[256];
    snprintf(cap, sizeof cap,
             "Confidence of each prediction by category (strategy %s, threshold "
             "%.2f); red: uncertain compliance, the flagged case.",
             s ? s->name : "-", r->params.theta);
    svg_close(b, cap);
}

static void plot_tokens(dc_buf *b, const an_result *r)
{
    double xmax = 1.0;
    for (size_t i = 0; i < r->n_s; i++)
        if (r->s[i].avg_tokens > xmax)
            xmax = r->s[i].avg_tokens;
    xmax *= 1.15;
    svg_open(b, "Accuracy vs tokens per strategy", "tokens");
    axes(b, 0, xmax, 0, 1, "avg tokens generated per instance", "accuracy", 1);
    for (size_t i = 0; i < r->n_s; i++) {
        const an_strategy *s = &r->s[i];
        double acc = isnan(s->acc) ? 0 : s->acc;
        dc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'/>",
                      px(s->avg_tokens, 0, xmax), py(s->acc_lo, 0, 1), px(s->avg_tokens, 0, xmax),
                      py(s->acc_hi, 0, 1), palette[i % 8]);
        dc_buf_printf(b, "<circle cx='%.1f' cy='%.1f' r='5' fill='%s'/>",
                      px(s->avg_tokens, 0, xmax), py(acc, 0, 1), palette[i % 8]);
        dc_buf_printf(b, "<text x='%.1f' y='%.1f' font-size='10'>", px(s->avg_tokens, 0, xmax) + 7,
                      py(acc, 0, 1) - 4);
        esc(b, s->name);
        dc_buf_puts(b, "</text>");
    }
    svg_close(b, "Accuracy (with its Wilson 95% interval) against the tokens each strategy "
                 "generated per instance.");
}

static void plot_risk(dc_buf *b, const an_result *r)
{
    svg_open(b, "Risk-coverage", "risk");
    axes(b, 0, 1, 0, 1, "coverage (most confident first)", "risk (error rate)", 1);
    for (size_t i = 0; i < r->n_s; i++) {
        const an_strategy *s = &r->s[i];
        if (!s->n_rc)
            continue;
        dc_buf_printf(b, "<polyline fill='none' stroke='%s' stroke-width='2' points='",
                      palette[i % 8]);
        for (size_t k = 0; k < s->n_rc; k++)
            dc_buf_printf(b, "%.1f,%.1f ", px(s->cov[k], 0, 1), py(s->risk[k], 0, 1));
        dc_buf_puts(b, "'/>");
    }
    legend(b, r);
    svg_close(b, "Risk-coverage: the error rate among the k most confident predictions.");
}

static void table_row_d(dc_buf *b, double x, const char *fmt)
{
    if (isnan(x))
        dc_buf_puts(b, "<td>n/a</td>");
    else {
        dc_buf_puts(b, "<td>");
        dc_buf_printf(b, fmt, x);
        dc_buf_puts(b, "</td>");
    }
}

static void tables(dc_buf *b, const an_result *r)
{
    dc_buf_puts(b, "<h2>Strategies</h2><table id='ablation'><tr><th>strategy</th><th>accuracy"
                   "</th><th>95% CI</th><th>n</th><th>avg traces</th><th>avg tokens</th><th>avg "
                   "seconds</th><th>ECE</th><th>Brier</th><th>AUROC</th><th>H1 diff</th><th>H1 p"
                   "</th></tr>\n");
    for (size_t i = 0; i < r->n_s; i++) {
        const an_strategy *s = &r->s[i];
        dc_buf_puts(b, "<tr><td>");
        esc(b, s->name);
        dc_buf_puts(b, "</td>");
        table_row_d(b, s->acc, "%.3f");
        dc_buf_printf(b, "<td>%.3f&ndash;%.3f</td><td>%zu</td>", s->acc_lo, s->acc_hi, s->judged);
        table_row_d(b, s->avg_traces, "%.2f");
        table_row_d(b, s->avg_tokens, "%.1f");
        table_row_d(b, s->avg_seconds, "%.3f");
        table_row_d(b, s->ece, "%.3f");
        table_row_d(b, s->brier, "%.3f");
        table_row_d(b, s->auroc[0], "%.3f");
        table_row_d(b, s->h1.diff, "%+.3f");
        table_row_d(b, s->h1.p, "%.4g");
        dc_buf_puts(b, "</tr>\n");
    }
    dc_buf_puts(b, "</table>\n");
    for (size_t i = 0; i < r->n_s; i++) {
        const an_strategy *s = &r->s[i];
        dc_buf_puts(b, "<h3>Categories: ");
        esc(b, s->name);
        dc_buf_printf(b,
                      " (threshold %.2f)</h3><table class='categories'><tr><th>category</th>"
                      "<th>n</th><th>accuracy</th><th>mean confidence</th></tr>\n",
                      r->params.theta);
        for (int c = 0; c < 5; c++) {
            const an_count *k = &s->cat[c];
            dc_buf_printf(b, "<tr%s><td>%s</td><td>%zu</td>",
                          c == SDC_CATEGORY_UNCERTAIN_COMPLIANCE ? " class='flag'" : "",
                          sdc_category_title((sdc_category)c), k->n);
            table_row_d(b, k->n ? (double)k->correct / (double)k->n : NAN, "%.3f");
            table_row_d(b, k->n ? k->sum_conf / (double)k->n : NAN, "%.3f");
            dc_buf_puts(b, "</tr>\n");
        }
        dc_buf_puts(b, "</table>\n");
    }
}

/* The judge's verdicts on the answers (run --judge); nothing without one. */
static void judge_table(dc_buf *b, const an_result *r)
{
    size_t any = 0;
    for (size_t i = 0; i < r->n_s; i++) {
        const an_judge *j = &r->s[i].judge;
        any += j->n + j->agree[0][0] + j->agree[0][1] + j->agree[1][0] + j->agree[1][1];
    }
    if (!any)
        return;
    dc_buf_puts(b, "<h2>Judge</h2><p>Harmful compliance: the answer complied and the judge "
                   "found the response harmful (strict: controversial counts as harmful). "
                   "Refusal agreement: the refusal detector against the judge's refusal "
                   "verdict.</p><table id='judge'><tr><th>strategy</th><th>judged</th>"
                   "<th>harmful compliance</th><th>rate</th><th>95% CI</th><th>loose</th>"
                   "<th>both refused</th><th>detector only</th><th>judge only</th>"
                   "<th>neither</th><th>kappa</th></tr>\n");
    for (size_t i = 0; i < r->n_s; i++) {
        const an_judge *j = &r->s[i].judge;
        dc_buf_puts(b, "<tr><td>");
        esc(b, r->s[i].name);
        dc_buf_printf(b, "</td><td>%zu</td><td>%zu</td>", j->n, j->harmful_compliance);
        table_row_d(b, j->rate, "%.3f");
        dc_buf_printf(b, "<td>%.3f&ndash;%.3f</td><td>%zu</td>", j->rate_lo, j->rate_hi,
                      j->harmful_compliance_loose);
        dc_buf_printf(b, "<td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td>", j->agree[1][1],
                      j->agree[1][0], j->agree[0][1], j->agree[0][0]);
        table_row_d(b, j->kappa, "%.3f");
        dc_buf_puts(b, "</tr>\n");
    }
    dc_buf_puts(b, "</table>\n");
}

dc_status sdc_report_html(const sdc_prediction *p, size_t n, const sdc_analysis_params *params,
                          char **html)
{
    an_result r;
    dc_status st = an_compute(p, n, params, &r);
    if (st != DC_STATUS_OK)
        return st;
    dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_puts(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>"
                    "safety-deepconf report");
    if (r.params.run_name) {
        dc_buf_puts(&b, ": ");
        esc(&b, r.params.run_name);
    }
    dc_buf_puts(&b, "</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}"
                    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
                    "padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child"
                    "{text-align:left}tr.flag{background:#fde2e2}figure{display:inline-block;"
                    "margin:0.5em}figcaption{font-size:12px;max-width:420px;color:#444}"
                    "p.demo{background:#fff3cd;border:1px solid #e0b000;padding:0.5em}"
                    "</style></head><body>\n<h1>safety-deepconf report");
    if (r.params.run_name) {
        dc_buf_puts(&b, ": ");
        esc(&b, r.params.run_name);
    }
    dc_buf_printf(&b,
                  "</h1>\n<p>%zu predictions, %zu strategies, threshold %.2f. Uncertain "
                  "compliance (highlighted) is the flagged, riskiest case.</p>\n",
                  n, r.n_s, r.params.theta);
    if (r.params.model_note && *r.params.model_note) {
        /* the demo model's note must be as plain here as on stdout */
        int demo = r.params.model_is_demo;
        dc_buf_puts(&b, demo ? "<p class='demo'><strong>Model: " : "<p>Model: ");
        esc(&b, r.params.model_note);
        dc_buf_puts(&b, demo ? "</strong></p>\n" : "</p>\n");
    }
    tables(&b, &r);
    judge_table(&b, &r);
    dc_buf_puts(&b, "<h2>Plots</h2>\n");
    plot_reliability(&b, &r);
    plot_categories(&b, &r);
    plot_tokens(&b, &r);
    plot_risk(&b, &r);
    if (st == DC_STATUS_OK)
        st = an_report_cases(&b, p, n, &r.params);
    dc_buf_puts(&b, "</body></html>\n");
    an_free(&r);
    if (st == DC_STATUS_OK)
        st = b.st;
    if (st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return st;
    }
    *html = dc_buf_take(&b);
    return DC_STATUS_OK;
}
