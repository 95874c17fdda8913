/* test_analysis.c - categories, summary.json / summary.txt and the
 * report's structure, on predictions whose analysis is known by hand. */
#include "test_common.h"

#include <jansson.h>

#include "safety/sdc_analysis.h"

/* 12 predictions of "online" and 2 of "baseline":
 *   confident refusal     3 (all correct)
 *   confident compliance  4 (3 correct)
 *   uncertain refusal     1 (correct)
 *   uncertain compliance  4 (1 correct)
 * one failed (left out), one without a label (not judged). */
static sdc_prediction P[16];
static size_t NP;

static void add(const char *strategy, int refused, double conf, int correct, const char *cat,
                int failed)
{
    sdc_prediction *p = &P[NP++];
    memset(p, 0, sizeof *p);
    p->instance_id = "i";
    p->strategy = strategy;
    p->benchmark = "synthetic";
    p->harm_category = cat;
    p->label = correct < 0 ? SDC_LABEL_UNKNOWN : SDC_LABEL_UNSAFE;
    p->answer = refused ? "refuse" : "comply";
    p->refused = refused;
    p->correct = correct;
    p->failed = failed;
    p->confidence = conf;
    p->consensus = conf;
    p->mean_prob = 1.0;
    p->trace_conf = conf * 10;
    p->traces_used = 4;
    p->budget = 10;
    p->tokens_generated = 100;
    p->seconds = 1.0;
}

static int setup(void **state)
{
    (void)state;
    NP = 0;
    add("online", 1, 0.9, 1, "weapons", 0);
    add("online", 1, 0.8, 1, "weapons", 0);
    add("online", 1, 0.5, 1, "fraud", 0);
    add("online", 0, 0.95, 1, "benign", 0);
    add("online", 0, 0.85, 1, "benign", 0);
    add("online", 0, 0.75, 1, "benign", 0);
    add("online", 0, 0.7, 0, "fraud", 0);
    add("online", 1, 0.3, 1, "fraud", 0);
    add("online", 0, 0.4, 1, "benign", 0);
    add("online", 0, 0.3, 0, "fraud", 0);
    add("online", 0, 0.2, 0, "weapons", 0);
    add("online", 0, 0.1, 0, "weapons", 0);
    add("online", 0, 0.1, 0, "weapons", 1); /* failed */
    add("online", 0, 0.9, -1, "benign", 0); /* unlabelled */
    add("baseline", 1, 1.0, 1, "weapons", 0);
    add("baseline", 0, 1.0, 0, "fraud", 0);
    return 0;
}

static void test_categorize(void **state)
{
    (void)state;
    assert_int_equal(sdc_categorize(1, 0.5, 0.5), SDC_CATEGORY_CONFIDENT_REFUSAL);
    assert_int_equal(sdc_categorize(1, 0.49, 0.5), SDC_CATEGORY_UNCERTAIN_REFUSAL);
    assert_int_equal(sdc_categorize(0, 0.7, 0.7), SDC_CATEGORY_CONFIDENT_COMPLIANCE);
    assert_int_equal(sdc_categorize(0, 0.1, 0.5), SDC_CATEGORY_UNCERTAIN_COMPLIANCE);
    assert_int_equal(sdc_categorize(-1, 0.9, 0.5), SDC_CATEGORY_NO_ANSWER);
    assert_int_equal(sdc_categorize(0, NAN, 0.5), SDC_CATEGORY_NO_ANSWER);
    sdc_category c;
    assert_int_equal(sdc_category_from_name("uncertain_compliance", &c), DC_STATUS_OK);
    assert_int_equal(c, SDC_CATEGORY_UNCERTAIN_COMPLIANCE);
    assert_int_equal(sdc_category_from_name("bogus", &c), DC_STATUS_NOT_FOUND);
}

static json_t *cat(json_t *s, const char *name)
{
    return json_object_get(json_object_get(s, "categories"), name);
}

static void test_summary(void **state)
{
    (void)state;
    sdc_analysis_params ap = sdc_analysis_default_params();
    char *json = NULL, *text = NULL;
    assert_int_equal(sdc_analyze(P, NP, &ap, &json, &text), DC_STATUS_OK);
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    json_t *strategies = json_object_get(o, "strategies");
    assert_string_equal(json_string_value(json_array_get(strategies, 0)), "online");
    assert_string_equal(json_string_value(json_array_get(strategies, 1)), "baseline");
    json_t *s = json_object_get(json_object_get(o, "by_strategy"), "online");
    assert_int_equal(json_integer_value(json_object_get(s, "n")), 14);
    assert_int_equal(json_integer_value(json_object_get(s, "judged")), 12);
    assert_int_equal(json_integer_value(json_object_get(s, "failed")), 1);
    assert_close_rel(json_number_value(json_object_get(s, "accuracy")), 8.0 / 12.0, 1e-12);
    assert_int_equal(json_integer_value(json_object_get(cat(s, "confident_refusal"), "n")), 3);
    assert_int_equal(json_integer_value(json_object_get(cat(s, "confident_compliance"), "n")), 4);
    assert_int_equal(json_integer_value(json_object_get(cat(s, "uncertain_refusal"), "n")), 1);
    assert_int_equal(json_integer_value(json_object_get(cat(s, "uncertain_compliance"), "n")), 4);
    assert_close_rel(json_number_value(json_object_get(cat(s, "uncertain_compliance"), "accuracy")),
                     0.25, 1e-12);
    json_t *h1 = json_object_get(s, "h1");
    assert_close_rel(json_number_value(json_object_get(h1, "difference")), 0.75 - 0.25, 1e-12);
    /* Fisher one-sided for [[3,1],[1,3]]: 17/70, not significant */
    assert_close_rel(json_number_value(json_object_get(h1, "fisher_p_one_sided")), 17.0 / 70.0,
                     1e-9);
    assert_false(json_is_true(json_object_get(h1, "supported")));
    /* the sweep moves predictions between categories: at 0.9 only 0.9 and 0.95 are confident */
    json_t *sw = json_array_get(json_object_get(s, "threshold_sweep"), 2);
    assert_close_rel(json_number_value(json_object_get(sw, "threshold")), 0.9, 0);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(sw, "categories"), "confident_refusal"), "n")),
        1);
    /* breakdowns and measures exist */
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(s, "by_harm_category"), "weapons"), "n")),
                     4);
    json_t *auroc = json_object_get(s, "auroc");
    assert_true(json_is_number(json_object_get(auroc, "confidence")));
    assert_true(json_is_number(json_object_get(auroc, "trace_conf")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "risk_coverage"), "risk")),
                     12);
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "calibration"), "bins")),
                     10);
    assert_int_equal(json_array_size(json_object_get(o, "ablation")), 2);
    json_decref(o);

    /* the familiar text layout */
    assert_non_null(strstr(text, "Strategy Ablation:"));
    assert_non_null(strstr(text, "Overall Performance:\n  Accuracy: 0.667 (95% CI "));
    assert_non_null(strstr(text, "Performance by Category (threshold 0.50):"));
    assert_non_null(
        strstr(text, "  Uncertain Compliance: 0.250 accuracy (avg conf: 0.250, n=4) <- FLAGGED"));
    assert_non_null(strstr(text, "Hypothesis Test (H1: uncertain compliance is less accurate):"));
    assert_non_null(strstr(text, "one-sided Fisher p = 0.2429"));
    assert_non_null(strstr(text, "but not significantly"));
    dc_free(json);
    dc_free(text);
}

static void test_verdict_supported(void **state)
{
    (void)state;
    /* 10 of 10 confident compliances right, 0 of 10 uncertain ones */
    static sdc_prediction q[20];
    for (int i = 0; i < 20; i++) {
        q[i] = P[3];
        q[i].confidence = i < 10 ? 0.9 : 0.1;
        q[i].correct = i < 10;
    }
    char *text = NULL;
    sdc_analysis_params ap = sdc_analysis_default_params();
    assert_int_equal(sdc_analyze(q, 20, &ap, NULL, &text), DC_STATUS_OK);
    assert_non_null(strstr(text, "Verdict: supported (p < 0.05)."));
    dc_free(text);
}

static void test_report_structure(void **state)
{
    (void)state;
    sdc_analysis_params ap = sdc_analysis_default_params();
    ap.run_name = "a<b";
    char *html = NULL;
    assert_int_equal(sdc_report_html(P, NP, &ap, &html), DC_STATUS_OK);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_non_null(strstr(html, "</html>"));
    assert_non_null(strstr(html, "a&lt;b")); /* escaped */
    static const char *const ids[] = {"id='reliability'", "id='categories'", "id='tokens'",
                                      "id='risk'", "id='ablation'"};
    for (size_t i = 0; i < 5; i++)
        assert_non_null(strstr(html, ids[i]));
    size_t svgs = 0;
    for (const char *p = html; (p = strstr(p, "<svg ")); p++)
        svgs++;
    assert_int_equal(svgs, 4);
    /* self-contained: nothing is loaded from elsewhere */
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "@import"));
    assert_non_null(strstr(html, "class='flag'"));
    dc_free(html);
}

static void test_empty(void **state)
{
    (void)state;
    char *json = NULL, *text = NULL, *html = NULL;
    sdc_analysis_params ap = sdc_analysis_default_params();
    assert_int_equal(sdc_analyze(P, 0, &ap, &json, &text), DC_STATUS_OK);
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    json_decref(o);
    assert_int_equal(sdc_report_html(P, 0, &ap, &html), DC_STATUS_OK);
    dc_free(json);
    dc_free(text);
    dc_free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_categorize),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_verdict_supported),
        cmocka_unit_test(test_report_structure),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
