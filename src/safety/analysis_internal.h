/* analysis_internal.h - the computed analysis, shared by the summary
 * writers (analysis.c) and the HTML report (report.c). */
#ifndef SDC_ANALYSIS_INTERNAL_H
#define SDC_ANALYSIS_INTERNAL_H

#include "safety/sdc_analysis.h"
#include "safety/sdc_stats.h"
#include "util/buf.h"

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
dc_status an_report_cases(sdc_buf *b, const sdc_prediction *p, size_t n,
                          const sdc_analysis_params *ap);

#endif
