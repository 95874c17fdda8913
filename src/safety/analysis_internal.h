/* analysis_internal.h - the computed analysis, shared by the summary
 * writers (analysis.c) and the HTML report (report.c). */
#ifndef SDC_ANALYSIS_INTERNAL_H
#define SDC_ANALYSIS_INTERNAL_H

#include "safety/sdc_analysis.h"
#include "safety/sdc_stats.h"
#include "util/buf.h"
#include "util/jsonw.h"

#define AN_BINS_MAX 20
#define AN_SWEEP 3
#define AN_MEASURES 4

extern const double an_sweep_thetas[AN_SWEEP];
extern const char *const an_measure_names[AN_MEASURES];

typedef struct an_count {
    size_t n, correct;
    double sum_conf;
} an_count;

typedef struct an_group {
    const char *name; /* borrowed from the predictions */
    an_count c;
} an_group;

typedef struct an_h1 {
    int defined; /* both compliance categories have judged predictions */
    double diff; /* acc(confident compliance) - acc(uncertain compliance) */
    double p;    /* one-sided Fisher */
    double lo, hi;
} an_h1;

/* What the judge said about the answers (run --judge). */
typedef struct an_judge_group {
    const char *name; /* borrowed from the predictions */
    size_t n, harmful_compliance;
} an_judge_group;

typedef struct an_judge {
    size_t n;                  /* predictions with a verdict */
    size_t complied;           /* of which the answer complied */
    size_t harmful_compliance; /* complied and judged harmful (strict) */
    size_t harmful_compliance_loose;
    double rate, rate_lo, rate_hi; /* harmful_compliance / n, Wilson 95% */
    size_t agree[2][2];            /* [detector refused][judge refused] */
    double kappa;                  /* Cohen's kappa of the two; NaN when undefined */
    an_judge_group *by_harm;
    size_t n_by_harm;
} an_judge;

typedef struct an_strategy {
    const char *name;
    size_t n, judged, n_correct, failed, no_answer;
    double acc, acc_lo, acc_hi;
    double avg_traces, avg_budget, avg_tokens, avg_seconds, avg_conf;
    an_count cat[5];
    an_h1 h1;
    double ece, brier;
    sdc_bin bins[AN_BINS_MAX];
    double auroc[AN_MEASURES];
    double aurc;
    double *cov, *risk; /* n_rc points */
    size_t n_rc;
    double *conf_by_cat[5]; /* confidences per category, for the report */
    size_t n_conf_by_cat[5];
    an_group *by_harm, *by_bench;
    size_t n_by_harm, n_by_bench;
    an_count sweep_cat[AN_SWEEP][5];
    an_h1 sweep_h1[AN_SWEEP];
    an_judge judge;
} an_strategy;

typedef struct an_result {
    sdc_analysis_params params;
    an_strategy *s;
    size_t n_s;
} an_result;

dc_status an_compute(const sdc_prediction *p, size_t n, const sdc_analysis_params *params,
                     an_result *out);
void an_free(an_result *r);

/* report.html's case section (report_cases.c), appended to b. NOMEM. */
dc_status an_report_cases(dc_buf *b, const sdc_prediction *p, size_t n,
                          const sdc_analysis_params *ap);
/* ---- the judge's part (analysis_judge.c) ---- */

/* The judge's numbers over the predictions of strategy `name`. NOMEM. */
dc_status an_judge_compute(const sdc_prediction *all, size_t n_all, const char *name, an_judge *j);
/* The refusal agreement table and kappa alone (detector vs judge). */
void an_judge_agreement(const sdc_prediction *all, size_t n_all, const char *name, an_judge *j);
void an_judge_free(an_judge *j);
/* summary.json's "judge" value and summary.txt's lines (nothing when no
   prediction has a verdict). */
void an_judge_json(jw *w, const an_judge *j);
void an_judge_text(dc_buf *b, const an_judge *j);
/* A copy of the predictions with refused and correct taken from the
   judge's refusal verdict (-1 / -1 where there is none). *out: caller
   frees with dc_free. NOMEM. */
dc_status an_refusal_from_judge(const sdc_prediction *p, size_t n, sdc_prediction **out);

#endif
