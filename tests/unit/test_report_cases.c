/* test_report_cases.c - report.html's case section on a small run made
 * from fixtures (tests/data/report/run: a compare run of the tiny demo
 * model replayed with a small window, so that online stopped traces; one
 * prompt edited to hold "</script><!--"): the embedded JSON blob, its
 * escaping, categories, cases, traces and tokens; old predictions without
 * prompts; the cap on cases; the size of a 5,000-instance report (alone,
 * as test_report_large, label slow). */
#include "test_common.h"

#include <jansson.h>
#include <unistd.h>

#include "safety/sdc_analysis.h"
#include "safety/sdc_experiment.h"
#include "safety/sdc_records.h"

static char work[256];

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "/tmp/sdc-cases-XXXXXX");
    return mkdtemp(work) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    return system(cmd) == 0 ? 0 : -1;
}

static void copy_fixture(const char *dst)
{
    char cmd[8500];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/*.json* '%s'/", dst,
             test_data_path("report/run"), dst);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static const char blob_open[] = "<script type='application/json' id='case-data'>";

/* The case blob of a report, checked to hold no '<', parsed. */
static json_t *case_blob(const char *html)
{
    const char *a = strstr(html, blob_open);
    assert_non_null(a);
    a += sizeof blob_open - 1;
    const char *z = strstr(a, "</script>");
    assert_non_null(z);
    assert_null(memchr(a, '<', (size_t)(z - a)));
    json_error_t e;
    json_t *o = json_loadb(a, (size_t)(z - a), 0, &e);
    if (!o)
        fail_msg("case blob: %s", e.text);
    return o;
}

static json_t *analyze_report(const char *dir, double theta, char **html_out)
{
    dc_error err = {0};
    if (sdc_experiment_analyze(dir, theta, 0, NULL, NULL, &err) != DC_STATUS_OK)
        fail_msg("analyze: %s", err.msg);
    char p[512];
    snprintf(p, sizeof p, "%s/report.html", dir);
    char *html = slurp(p, NULL);
    json_t *blob = case_blob(html);
    if (html_out)
        *html_out = html;
    else
        free(html);
    return blob;
}

static size_t count_cases(json_t *blob, const char *cat, const char *strategy)
{
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(json_object_get(blob, "cases"), i, c)
    {
        if (cat && strcmp(json_string_value(json_object_get(c, "c")), cat) != 0)
            continue;
        if (strategy && strcmp(json_string_value(json_object_get(c, "s")), strategy) != 0)
            continue;
        n++;
    }
    return n;
}

static void test_structure(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run", work);
    copy_fixture(dir);
    char *html;
    json_t *blob = analyze_report(dir, 0.85, &html);
    /* the page: controls, the sections' root, the script */
    assert_non_null(strstr(html, "<select id='f-cat'>"));
    assert_non_null(strstr(html, "<select id='f-strategy'>"));
    assert_non_null(strstr(html, "<input id='f-q'"));
    assert_non_null(strstr(html, "<div id='cases'></div>"));
    assert_null(strstr(html, "<b>tag</b>")); /* the prompt only inside the blob */
    free(html);

    /* categories: the flagged one first, with its count */
    json_t *cats = json_object_get(blob, "cats");
    assert_int_equal(json_array_size(cats), 5);
    json_t *c0 = json_array_get(cats, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "id")), "uncertain_compliance");
    assert_true(json_is_true(json_object_get(c0, "flag")));
    assert_int_equal(json_integer_value(json_object_get(c0, "n")), 6);
    assert_int_equal(count_cases(blob, "uncertain_compliance", NULL), 6);
    assert_int_equal(count_cases(blob, "confident_compliance", NULL), 6);
    assert_int_equal(count_cases(blob, NULL, "online"), 3);
    assert_int_equal(json_array_size(json_object_get(blob, "strategies")), 4);
    assert_int_equal(json_integer_value(json_object_get(blob, "window")), 4);
    assert_int_equal(json_integer_value(json_object_get(blob, "k")), 4);

    /* the prompt with "</script>" comes back exactly */
    const char *pr =
        json_string_value(json_object_get(json_object_get(blob, "prompts"), "synth-11"));
    assert_non_null(pr);
    assert_non_null(strstr(pr, "</script><!-- <b>tag</b> & \"quotes\""));

    /* every case: its parts and its traces; synth-5 online's trace 3 stopped */
    size_t i, stopped = 0;
    json_t *c;
    json_array_foreach(json_object_get(blob, "cases"), i, c)
    {
        assert_true(json_is_number(json_object_get(c, "conf")));
        assert_true(json_is_number(json_object_get(c, "beta")));
        assert_true(json_is_number(json_object_get(c, "pbar")));
        assert_true(json_array_size(json_object_get(c, "tr")) >= 1);
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(c, "tr"), j, t)
        {
            if (!strcmp(json_string_value(json_array_get(t, 1)), "confidence"))
                stopped++;
        }
    }
    assert_int_equal(stopped, 3);

    /* traces: all 12 generated, each with text and its tokens' confidences */
    json_t *traces = json_object_get(blob, "traces");
    assert_int_equal(json_array_size(traces), 12);
    json_array_foreach(traces, i, c)
    {
        assert_true(json_is_string(json_object_get(c, "text")));
        json_t *tt = json_object_get(c, "tt"), *tc = json_object_get(c, "tc");
        assert_true(json_array_size(tt) >= 1);
        assert_int_equal(json_array_size(tt), json_array_size(tc));
        assert_int_equal(json_array_size(tt), json_integer_value(json_object_get(c, "n")));
        assert_true(json_number_value(json_array_get(tc, 0)) > 0);
    }
    json_decref(blob);
}

/* The token confidences are the core's dc_topk_confidence with the run's k. */
static void test_token_confidence(void **state)
{
    (void)state;
    sdc_trace_reader_params rp = sdc_trace_reader_default_params();
    rp.k = 4;
    sdc_trace_reader *r;
    dc_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", test_data_path("report/run/traces.jsonl"));
    assert_int_equal(sdc_trace_reader_open(path, &rp, &r, &err), DC_STATUS_OK);
    sdc_trace_record t;
    assert_int_equal(sdc_trace_reader_next(r, &t, &err), DC_STATUS_OK);
    assert_string_equal(t.strategy, "generated");
    assert_true(t.n_saved > 0);
    /* the first position by hand from the file */
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    assert_true(getline(&line, &cap, f) > 0);
    fclose(f);
    json_t *o = json_loads(line, 0, NULL);
    free(line);
    json_t *top = json_object_get(json_array_get(json_object_get(o, "tokens"), 0), "top_logprobs");
    double sum = 0;
    for (size_t j = 0; j < 4; j++)
        sum += json_number_value(json_object_get(json_array_get(top, j), "logprob"));
    assert_close_rel(t.token_conf[0], -sum / 4, 1e-12);
    json_decref(o);
    size_t n = 1;
    dc_status st;
    while ((st = sdc_trace_reader_next(r, &t, &err)) == DC_STATUS_OK)
        n++;
    assert_int_equal(st, DC_STATUS_NOT_FOUND);
    assert_int_equal(n, 12);
    sdc_trace_reader_close(r);
}

/* predictions.jsonl from before prompts were recorded still reports. */
static void test_old_predictions(void **state)
{
    (void)state;
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/old", work);
    copy_fixture(dir);
    snprintf(p, sizeof p,
             "sed -i 's/\"prompt\":\"[^\"]*\\(\\\\\"[^\"]*\\)*\",//' '%s/predictions.jsonl'", dir);
    assert_int_equal(system(p), 0);
    snprintf(p, sizeof p, "%s/predictions.jsonl", dir);
    char *text = slurp(p, NULL);
    assert_null(strstr(text, "\"prompt\""));
    free(text);
    json_t *blob = analyze_report(dir, NAN, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(blob, "prompts"), "synth-5")));
    assert_int_equal(json_array_size(json_object_get(blob, "cases")), 12);
    json_decref(blob);
}

/* max_cases: the rest are counted, not embedded; no traces file. */
static void test_cap(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run", work);
    sdc_prediction_list pl;
    dc_error err = {0};
    assert_int_equal(sdc_predictions_load(test_data_path("report/run"), &pl, NULL, &err),
                     DC_STATUS_OK);
    sdc_analysis_params ap = sdc_analysis_default_params();
    ap.theta = 0.85;
    ap.max_cases = 2;
    char *html = NULL;
    assert_int_equal(sdc_report_html(pl.items, pl.n, &ap, &html), DC_STATUS_OK);
    json_t *blob = case_blob(html);
    json_t *c0 = json_array_get(json_object_get(blob, "cats"), 0);
    assert_int_equal(json_integer_value(json_object_get(c0, "n")), 6);
    assert_int_equal(json_integer_value(json_object_get(c0, "shown")), 2);
    assert_int_equal(json_array_size(json_object_get(blob, "cases")), 4);
    assert_int_equal(json_array_size(json_object_get(blob, "traces")), 0);
    json_decref(blob);
    dc_free(html);
    sdc_prediction_list_free(&pl);
}

/* output.report_cases in run.json caps the cases analyze embeds. */
static void test_report_cases_key(void **state)
{
    (void)state;
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/capped", work);
    copy_fixture(dir);
    snprintf(p, sizeof p, "%s/run.json", dir);
    json_t *rj = json_load_file(p, 0, NULL);
    assert_non_null(rj);
    json_object_set_new(json_object_get(json_object_get(rj, "config"), "output"), "report_cases",
                        json_integer(1));
    assert_int_equal(json_dump_file(rj, p, 0), 0);
    json_decref(rj);
    json_t *blob = analyze_report(dir, 0.85, NULL);
    size_t i, shown = 0;
    json_t *c;
    json_array_foreach(json_object_get(blob, "cats"), i, c)
    {
        assert_true(json_integer_value(json_object_get(c, "shown")) <= 1);
        shown += (size_t)json_integer_value(json_object_get(c, "shown"));
    }
    assert_int_equal(shown, 2); /* the two categories with cases */
    assert_int_equal(json_array_size(json_object_get(blob, "cases")), 2);
    json_decref(blob);
}

/* 5,000 instances of ns strategies with 10 traces each of 1,500 bytes, 64
 * tokens and a 1,500-byte prompt: the report stays under 10 MB. One
 * strategy is the worst case: 1,000 different instances embedded. */
static void large_report(size_t NS)
{
    enum { NI = 5000, NT = 10, NTOK = 64 };
    static const char *const strat[4] = {"baseline", "fixed", "adaptive", "online"};
    static char ids[NI][16];
    static sdc_prediction_trace tr[NT];
    sdc_prediction *p = calloc((size_t)NI * NS, sizeof *p);
    assert_non_null(p);
    for (size_t t = 0; t < NT; t++)
        tr[t] = (sdc_prediction_trace){t, t == NT - 1 ? "confidence" : "eos", 40, "comply", 1};
    char path[400];
    snprintf(path, sizeof path, "%s/large-traces.jsonl", work);
    FILE *f = NS == 1 ? NULL : fopen(path, "wb"); /* the same traces both times */
    assert_true(NS == 1 || f);
    char text[1501];
    memset(text, 'x', 1500);
    text[1500] = '\0';
    for (size_t i = 0; i < NI; i++) {
        snprintf(ids[i], sizeof ids[i], "inst-%zu", i);
        for (size_t s = 0; s < NS; s++) {
            sdc_prediction *q = &p[i * NS + s];
            q->instance_id = ids[i];
            q->strategy = strat[s];
            q->harm_category = "theft";
            q->prompt = text;
            q->label = SDC_LABEL_UNSAFE;
            /* each strategy of an instance in another category, so that
               every category embeds different instances: the worst case */
            int cat = (int)((i + s) % 5);
            q->refused = cat == 4 ? -1 : cat % 2 == 0;
            q->answer = q->refused < 0 ? NULL : q->refused ? "refuse" : "comply";
            q->correct = (int)(i % 2);
            q->confidence = cat == 4 ? 0.0 : cat < 2 ? 0.9 : 0.2;
            q->consensus = 1.0;
            q->mean_prob = q->confidence;
            q->traces_used = NT;
            q->budget = NT;
            q->tokens_generated = 400;
            q->traces = tr;
            q->n_traces = NT;
        }
        for (size_t t = 0; f && t < NT; t++) {
            fprintf(f,
                    "{\"instance_id\":\"%s\",\"strategy\":\"generated\",\"trace\":%zu,\"stop\":"
                    "\"eos\",\"n_tokens\":%d,\"n_evaluated\":%d,\"text\":\"%s\",\"answer\":"
                    "\"comply\",\"scores\":{\"lowest\":3.5},\"tokens\":[",
                    ids[i], t, NTOK, NTOK, text);
            for (int k = 0; k < NTOK; k++)
                fprintf(f,
                        "%s{\"id\":1,\"token\":\"ab\",\"logprob\":-0.5,\"top_logprobs\":[{\"id\":"
                        "1,\"token\":\"ab\",\"logprob\":-0.5},{\"id\":2,\"token\":\"cd\","
                        "\"logprob\":-2.5}]}",
                        k ? "," : "");
            fputs("]}\n", f);
        }
    }
    if (f)
        fclose(f);
    sdc_analysis_params ap = sdc_analysis_default_params();
    ap.traces_path = path;
    char *html = NULL;
    assert_int_equal(sdc_report_html(p, (size_t)NI * NS, &ap, &html), DC_STATUS_OK);
    size_t len = strlen(html);
    print_message("report of %d instances x %zu strategies: %zu bytes\n", NI, NS, len);
    assert_true(len < 10u * 1000 * 1000);
    json_t *blob = case_blob(html);
    /* 200 per category embedded, the rest counted; 1,000 instances */
    assert_int_equal(json_object_size(json_object_get(blob, "prompts")), NS == 1 ? 1000 : 250);
    size_t i, total = 0;
    json_t *c;
    json_array_foreach(json_object_get(blob, "cats"), i, c)
    {
        assert_true(json_integer_value(json_object_get(c, "shown")) <= 200);
        total += (size_t)json_integer_value(json_object_get(c, "n"));
    }
    assert_int_equal(total, (size_t)NI * NS);
    json_decref(blob);
    dc_free(html);
    free(p);
    if (NS == 1)
        unlink(path);
}

static void test_large(void **state)
{
    (void)state;
    large_report(4); /* writes the traces */
    large_report(1);
}

/* `large` runs the size test alone (label slow: it writes 600 MB of
 * traces); without arguments, the others (label unit). */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),        cmocka_unit_test(test_token_confidence),
        cmocka_unit_test(test_old_predictions),  cmocka_unit_test(test_cap),
        cmocka_unit_test(test_report_cases_key),
    };
    const struct CMUnitTest large[] = {cmocka_unit_test(test_large)};
    if (argc > 1 && !strcmp(argv[1], "large"))
        return cmocka_run_group_tests(large, setup, teardown);
    return cmocka_run_group_tests(tests, setup, teardown);
}
