/* test_vectors.c - every public reference vector of the official DeepConf
 * code (tests/data/deepconf/vectors-public.json) against the core's
 * reference profile: rounded values bit for bit, others within 1e-12
 * relative, answers and kept sets equal. */
#include "test_common.h"

#include "deepconf/deepconf.h"
#include "deepconf/dc_trace.h"
#include "support/vectors.h"

static json_t *V;
#define WINDOW 16
#define TAIL 16

static int setup(void **state)
{
    (void)state;
    V = vectors_load();
    return V ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(V);
    return 0;
}

/* ---- direct function cases ---- */

static void test_token_confidence_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(V, "token_confidence_cases");
    assert_true(json_array_size(cases) >= 5);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        json_t *dv = json_object_get(c, "dict_values");
        if (json_is_null(dv)) {
            /* [{}, {-1.0}]: the empty dict is skipped */
            json_t *want = json_object_get(c, "compute_confidence_of_[{}, {-1.0}]");
            assert_non_null(want);
            double one = -1.0;
            dc_position pos[2] = {{NAN, NULL, 0, -1}, {-1.0, &one, 0, -1}};
            pos[1].n_top = 0;
            double out[2];
            size_t n = 99;
            assert_int_equal(dc_trace_confidences(pos, 2, 20, DC_PROFILE_REFERENCE, out, &n),
                             DC_STATUS_OK);
            assert_int_equal(n, json_array_size(want));
            assert_double_bits(out[0], json_number_value(json_array_get(want, 0)));
            continue;
        }
        size_t n;
        double *d = vectors_doubles(dv, &n);
        /* The dict's first value plays the sampled token, the rest the top-k. */
        dc_position p = {d[0], d + 1, n - 1, -1};
        double conf;
        assert_int_equal(dc_token_confidence(&p, n - 1, DC_PROFILE_REFERENCE, &conf), DC_STATUS_OK);
        assert_double_bits(
            conf, json_number_value(json_array_get(json_object_get(c, "compute_confidence"), 0)));
        assert_double_bits(-dc_mean_pairwise(d, n),
                           json_number_value(json_object_get(c, "unrounded")));
        free(d);
    }
}

static void test_least_grouped_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(V, "compute_least_grouped_cases");
    assert_true(json_array_size(cases) >= 4);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        size_t n, m;
        double *conf = vectors_doubles(json_object_get(c, "confs"), &n);
        double *want = vectors_doubles(json_object_get(c, "compute_least_grouped"), &m);
        size_t w = (size_t)json_integer_value(json_object_get(c, "group_size"));
        assert_int_equal(dc_group_count(n, w), m);
        double *got = calloc(m, sizeof *got);
        assert_int_equal(dc_group_confidences(conf, n, w, DC_PROFILE_REFERENCE, got), DC_STATUS_OK);
        for (size_t j = 0; j < m; j++)
            assert_double_bits(got[j], want[j]);
        free(conf);
        free(want);
        free(got);
    }
}

static const char **answers_of(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    const char **a = calloc(*n ? *n : 1, sizeof *a);
    for (size_t i = 0; i < *n; i++) {
        json_t *x = json_array_get(arr, i);
        a[i] = json_is_string(x) ? json_string_value(x) : NULL;
    }
    return a;
}

static void test_vote_function_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(V, "vote_function_cases");
    assert_true(json_array_size(cases) >= 7);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *fn = json_string_value(json_object_get(c, "fn"));
        json_t *args = json_object_get(c, "args");
        size_t n;
        const char **a = answers_of(json_array_get(args, 0), &n);
        double *w = NULL;
        if (!strcmp(fn, "weighted_majority_vote")) {
            size_t m;
            w = vectors_doubles(json_array_get(args, 1), &m);
            assert_int_equal(m, n);
        } else {
            assert_string_equal(fn, "simple_majority_vote");
        }
        dc_vote_result r;
        assert_int_equal(dc_vote(a, w, NULL, n, &r), DC_STATUS_OK);
        json_t *want = json_object_get(c, "result");
        if (json_is_null(want))
            assert_int_equal(r.winner, -1);
        else {
            assert_true(r.winner >= 0);
            assert_string_equal(a[r.winner], json_string_value(want));
        }
        free(a);
        free(w);
    }
}

static void test_filter_top_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(V, "filter_top_confidence_cases");
    assert_true(json_array_size(cases) >= 5);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        size_t n;
        double *s = vectors_doubles(json_object_get(c, "trace_means"), &n);
        double eta = json_number_value(json_object_get(c, "top_percent")) * 100.0;
        unsigned char keep[64];
        double thr;
        assert_int_equal(dc_filter_top(s, NULL, NULL, n, eta, keep, &thr), DC_STATUS_OK);
        json_t *wt = json_object_get(c, "threshold");
        if (wt)
            assert_double_bits(thr, json_number_value(wt));
        else
            assert_true(isnan(thr));
        json_t *kept = json_object_get(c, "kept_indices");
        size_t nk = 0;
        for (size_t j = 0; j < n; j++)
            if (keep[j]) {
                assert_int_equal(j, json_integer_value(json_array_get(kept, nk)));
                nk++;
            }
        assert_int_equal(nk, json_array_size(kept));
        free(s);
    }
}

static void test_percentile_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(V, "np_percentile_cases");
    assert_true(json_array_size(cases) >= 10);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        size_t n;
        double *x = vectors_doubles(json_object_get(c, "values"), &n);
        double got;
        assert_int_equal(dc_percentile(x, n, json_number_value(json_object_get(c, "p")), &got),
                         DC_STATUS_OK);
        assert_double_bits(got, json_number_value(json_object_get(c, "np_percentile")));
        free(x);
    }
}

/* ---- whole traces ---- */

typedef struct scored {
    double *conf;
    size_t n;
    dc_trace_scores sc;
    char *answer;
} scored;

static void score_vector_trace(json_t *trace, scored *out)
{
    vec_positions p;
    vectors_positions(trace, &p);
    out->conf = calloc(p.n ? p.n : 1, sizeof *out->conf);
    size_t k = (size_t)json_integer_value(json_object_get(trace, "k"));
    assert_int_equal(dc_trace_confidences(p.pos, p.n, k, DC_PROFILE_REFERENCE, out->conf, &out->n),
                     DC_STATUS_OK);
    dc_score_params sp = {DC_PROFILE_REFERENCE, WINDOW, TAIL};
    assert_int_equal(dc_trace_score(out->conf, out->n, &sp, &out->sc), DC_STATUS_OK);
    out->answer = dc_extract_boxed(json_string_value(json_object_get(trace, "text")));
    vectors_positions_free(&p);
}

static void scored_free(scored *s)
{
    free(s->conf);
    dc_free(s->answer);
}

static void test_trace_outputs(void **state)
{
    (void)state;
    json_t *traces = json_object_get(V, "traces");
    json_t *outs = json_object_get(V, "trace_outputs");
    assert_true(json_object_size(outs) >= 12);
    const char *id;
    json_t *want;
    json_object_foreach(outs, id, want)
    {
        scored s;
        score_vector_trace(json_object_get(traces, id), &s);
        assert_int_equal(s.n, json_integer_value(json_object_get(want, "num_tokens")));
        size_t n;
        double *confs = vectors_doubles(json_object_get(want, "confs"), &n);
        assert_int_equal(n, s.n);
        for (size_t i = 0; i < n; i++)
            assert_double_bits(s.conf[i], confs[i]);
        free(confs);
        assert_close_rel(s.sc.mean, json_number_value(json_object_get(want, "mean")), 1e-12);

        json_t *pw = json_object_get(json_object_get(want, "per_window"), "16");
        size_t ng;
        double *groups = vectors_doubles(json_object_get(pw, "group_confs"), &ng);
        assert_int_equal(dc_group_count(s.n, WINDOW), ng);
        double *got = calloc(ng, sizeof *got);
        assert_int_equal(dc_group_confidences(s.conf, s.n, WINDOW, DC_PROFILE_REFERENCE, got),
                         DC_STATUS_OK);
        for (size_t i = 0; i < ng; i++) {
            if (s.n >= WINDOW)
                assert_double_bits(got[i], groups[i]);
            else
                assert_close_rel(got[i], groups[i], 1e-12);
        }
        free(got);
        free(groups);
        if (s.n >= WINDOW)
            assert_double_bits(s.sc.lowest, json_number_value(json_object_get(pw, "min_conf")));
        else
            assert_close_rel(s.sc.lowest, json_number_value(json_object_get(pw, "min_conf")),
                             1e-12);
        assert_close_rel(s.sc.bottom10, json_number_value(json_object_get(pw, "bottom10")), 1e-12);
        assert_close_rel(s.sc.bottom50, json_number_value(json_object_get(pw, "bottom50")), 1e-12);
        assert_close_rel(s.sc.min_window, json_number_value(json_object_get(pw, "min_window")),
                         1e-12);
        assert_close_rel(s.sc.tail, json_number_value(json_object_get(pw, "tail")), 1e-12);

        json_t *ans = json_object_get(want, "extracted_answer");
        if (json_is_null(ans))
            assert_null(s.answer);
        else
            assert_string_equal(s.answer, json_string_value(ans));
        scored_free(&s);
    }
}

/* ---- offline voting scenarios ---- */

static double score_named(const dc_trace_scores *sc, const char *name)
{
    if (!strcmp(name, "mean"))
        return sc->mean;
    if (!strcmp(name, "tail"))
        return sc->tail;
    if (!strcmp(name, "bottom_window"))
        return sc->bottom10;
    if (!strcmp(name, "min_window"))
        return sc->min_window;
    fail_msg("unknown score %s", name);
    return 0;
}

static void check_vote(const char **answers, const double *w, const unsigned char *include,
                       size_t n, json_t *want)
{
    dc_vote_result r;
    assert_int_equal(dc_vote(answers, w, include, n, &r), DC_STATUS_OK);
    json_t *wa = json_object_get(want, "answer");
    if (json_is_null(wa) || !wa) {
        assert_int_equal(r.winner, -1);
        return;
    }
    assert_true(r.winner >= 0);
    assert_string_equal(answers[r.winner], json_string_value(wa));
    json_t *nv = json_object_get(want, "num_votes");
    if (nv)
        assert_int_equal(r.n_votes, json_integer_value(nv));
    json_t *conf = json_object_get(want, "confidence");
    if (json_is_number(conf) && w) {
        /* the official "confidence": mean score of the traces that voted */
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            if ((!include || include[i]) && dc_answer_present(answers[i]))
                sum += w[i];
        assert_close_rel(sum / (double)r.n_votes, json_number_value(conf), 1e-12);
    }
}

static void test_offline_voting(void **state)
{
    (void)state;
    json_t *traces = json_object_get(V, "traces");
    json_t *scen = json_object_get(V, "offline_voting");
    assert_true(json_array_size(scen) >= 2);
    size_t si;
    json_t *sc;
    json_array_foreach(scen, si, sc)
    {
        json_t *ids = json_object_get(sc, "trace_ids");
        size_t n = json_array_size(ids);
        scored *s = calloc(n, sizeof *s);
        const char **answers = calloc(n, sizeof *answers);
        double *w = calloc(n, sizeof *w);
        unsigned char *keep = calloc(n, 1);
        for (size_t i = 0; i < n; i++) {
            score_vector_trace(json_object_get(traces, json_string_value(json_array_get(ids, i))),
                               &s[i]);
            answers[i] = s[i].answer;
        }
        json_t *res = json_object_get(json_object_get(sc, "compute_all_voting_results"), "16");
        check_vote(answers, NULL, NULL, n, json_object_get(res, "majority"));
        static const struct {
            const char *method, *score;
        } weighted[] = {{"mean_confidence_weighted", "mean"},
                        {"tail_confidence_weighted", "tail"},
                        {"bottom_window_weighted", "bottom_window"},
                        {"min_window_weighted", "min_window"}};
        for (size_t m = 0; m < 4; m++) {
            for (size_t i = 0; i < n; i++)
                w[i] = score_named(&s[i].sc, weighted[m].score);
            check_vote(answers, w, NULL, n, json_object_get(res, weighted[m].method));
        }
        static const struct {
            const char *method, *score;
        } filtered[] = {{"top10_tail_filtered", "tail"},
                        {"top10_bottom_window_filtered", "bottom_window"}};
        for (size_t m = 0; m < 2; m++) {
            for (size_t i = 0; i < n; i++)
                w[i] = score_named(&s[i].sc, filtered[m].score);
            assert_int_equal(dc_filter_top(w, answers, NULL, n, 10.0, keep, NULL), DC_STATUS_OK);
            check_vote(answers, w, keep, n, json_object_get(res, filtered[m].method));
        }
        /* extended tables: per score, eta 10 % and 90 % */
        json_t *ext = json_object_get(json_object_get(sc, "extended"), "16");
        const char *score;
        json_t *tab;
        json_object_foreach(ext, score, tab)
        {
            size_t nv = 0;
            json_t *tc = json_object_get(tab, "trace_confidences");
            for (size_t i = 0; i < n; i++) {
                w[i] = score_named(&s[i].sc, score);
                if (dc_answer_present(answers[i]))
                    assert_close_rel(w[i], json_number_value(json_array_get(tc, nv++)), 1e-12);
            }
            assert_int_equal(nv, json_array_size(tc));
            dc_vote_result r;
            assert_int_equal(dc_vote(answers, w, NULL, n, &r), DC_STATUS_OK);
            json_t *wa = json_object_get(tab, "weighted_all");
            if (json_is_null(wa))
                assert_int_equal(r.winner, -1);
            else
                assert_string_equal(answers[r.winner], json_string_value(wa));
            static const struct {
                const char *key;
                double eta;
            } etas[] = {{"eta_0.1", 10.0}, {"eta_0.9", 90.0}};
            for (size_t e = 0; e < 2; e++) {
                json_t *we = json_object_get(tab, etas[e].key);
                double thr;
                assert_int_equal(dc_filter_top(w, answers, NULL, n, etas[e].eta, keep, &thr),
                                 DC_STATUS_OK);
                json_t *wt = json_object_get(we, "threshold");
                if (json_is_null(wt))
                    assert_true(isnan(thr));
                else
                    assert_close_rel(thr, json_number_value(wt), 1e-12);
                json_t *kept = json_object_get(we, "kept");
                size_t nk = 0;
                for (size_t i = 0; i < n; i++)
                    if (keep[i])
                        assert_string_equal(json_string_value(json_array_get(ids, i)),
                                            json_string_value(json_array_get(kept, nk++)));
                assert_int_equal(nk, json_array_size(kept));
                assert_int_equal(dc_vote(answers, w, keep, n, &r), DC_STATUS_OK);
                json_t *ea = json_object_get(we, "answer");
                if (json_is_null(ea))
                    assert_int_equal(r.winner, -1);
                else
                    assert_string_equal(answers[r.winner], json_string_value(ea));
            }
        }
        for (size_t i = 0; i < n; i++)
            scored_free(&s[i]);
        free(s);
        free(answers);
        free(w);
        free(keep);
    }
}

/* ---- online ---- */

static void test_online_run(void **state)
{
    (void)state;
    json_t *on = json_object_get(V, "online");
    json_t *traces = json_object_get(on, "traces");
    json_t *run = json_array_get(json_object_get(on, "runs"), 0);
    assert_non_null(run);
    size_t window = (size_t)json_integer_value(json_object_get(run, "window_size"));
    double keep = json_number_value(json_object_get(run, "confidence_percentile"));
    json_t *wids = json_object_get(on, "warmup_ids");
    json_t *fids = json_object_get(on, "final_ids");
    size_t nw = json_array_size(wids), nf = json_array_size(fids);
    dc_online_params p = {nw, keep, window, 2.0, nw + nf};
    dc_online *ctl;
    assert_int_equal(dc_online_new(&p, &ctl), DC_STATUS_OK);

    json_t *wmin = json_object_get(run, "warmup_min_confs");
    json_t *wans = json_object_get(run, "warmup_extracted_answers");
    size_t tokens = 0;
    for (size_t i = 0; i < nw; i++) {
        json_t *t = json_object_get(traces, json_string_value(json_array_get(wids, i)));
        scored s;
        score_vector_trace(t, &s);
        assert_double_bits(s.sc.lowest, json_number_value(json_array_get(wmin, i)));
        json_t *a = json_array_get(wans, i);
        assert_int_equal(
            dc_online_add_warmup(ctl, json_is_string(a) ? json_string_value(a) : NULL, s.sc.lowest),
            DC_STATUS_OK);
        tokens += s.n;
        scored_free(&s);
    }
    assert_int_equal(tokens, json_integer_value(json_object_get(run, "warmup_tokens")));
    double thr;
    assert_int_equal(dc_online_threshold(ctl, &thr), DC_STATUS_OK);
    assert_double_bits(thr, json_number_value(json_object_get(run, "conf_bar")));

    json_t *finals = json_object_get(run, "final_traces");
    size_t ftokens = 0;
    for (size_t i = 0; i < nf; i++) {
        json_t *fw = json_array_get(finals, i);
        const char *id = json_string_value(json_object_get(fw, "id"));
        assert_string_equal(id, json_string_value(json_array_get(fids, i)));
        json_t *t = json_object_get(traces, id);
        vec_positions pos;
        vectors_positions(t, &pos);
        dc_online_window w;
        assert_int_equal(dc_online_window_init(ctl, &w), DC_STATUS_OK);
        long stop = -1;
        for (size_t j = 0; j < pos.n; j++) {
            double c;
            assert_int_equal(dc_token_confidence(&pos.pos[j], 20, DC_PROFILE_PAPER, &c),
                             DC_STATUS_OK);
            if (dc_online_window_push(&w, c) == DC_ONLINE_STOP) {
                stop = (long)j;
                assert_close_rel(dc_online_window_mean(&w),
                                 json_number_value(json_object_get(fw, "window_mean_at_stop")),
                                 1e-12);
                break;
            }
        }
        dc_online_window_free(&w);
        json_t *ws = json_object_get(fw, "processor_stop_index");
        if (json_is_null(ws))
            assert_int_equal(stop, -1);
        else
            assert_int_equal(stop, json_integer_value(ws));
        size_t used = stop >= 0 ? (size_t)stop + 1 : pos.n;
        assert_int_equal(used, json_integer_value(json_object_get(fw, "num_tokens")));
        ftokens += used;
        scored s;
        score_vector_trace(t, &s);
        if (stop < 0)
            assert_close_rel(s.sc.lowest, json_number_value(json_object_get(fw, "min_conf")),
                             1e-12);
        json_t *a = json_object_get(fw, "extracted_answer");
        assert_int_equal(dc_online_add_final(ctl, json_is_string(a) ? json_string_value(a) : NULL,
                                             s.sc.lowest, stop >= 0),
                         DC_STATUS_OK);
        scored_free(&s);
        vectors_positions_free(&pos);
    }
    assert_int_equal(ftokens, json_integer_value(json_object_get(run, "final_tokens")));
    assert_true(dc_online_done(ctl)); /* budget spent */

    const char *ans;
    dc_vote_result r;
    assert_int_equal(dc_online_result(ctl, &ans, &r), DC_STATUS_OK);
    assert_string_equal(
        ans, json_string_value(json_object_get(run, "final_answer_compute_multiple_voting_false")));
    json_t *vw = json_object_get(run, "voting_weights");
    assert_int_equal(r.n_votes, json_array_size(vw));
    double total = 0;
    size_t i;
    json_t *x;
    json_array_foreach(vw, i, x) total += json_number_value(x);
    assert_close_rel(r.total_weight, total, 1e-12);
    dc_online_free(ctl);
}

/* The consensus share after each voter, recomputed by the controller. */
static void test_online_consensus_beta(void **state)
{
    (void)state;
    json_t *run = json_array_get(json_object_get(json_object_get(V, "online"), "runs"), 0);
    json_t *betas =
        json_object_get(run, "paper_formula_beta_after_each_voting_trace_NOT_REFERENCE");
    json_t *ans = json_object_get(run, "voting_answers");
    json_t *w = json_object_get(run, "voting_weights");
    size_t n = json_array_size(betas);
    assert_true(n > 0);
    dc_online_params p = {1, 100.0, 16, 2.0, n + 1};
    dc_online *ctl;
    assert_int_equal(dc_online_new(&p, &ctl), DC_STATUS_OK);
    /* a warmup trace with no answer fixes threshold -inf-ish: keep 100 % */
    assert_int_equal(dc_online_add_warmup(ctl, NULL, 0.0), DC_STATUS_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dc_online_add_final(ctl, json_string_value(json_array_get(ans, i)),
                                             json_number_value(json_array_get(w, i)), 0),
                         DC_STATUS_OK);
        dc_vote_result r;
        assert_int_equal(dc_online_result(ctl, NULL, &r), DC_STATUS_OK);
        assert_close_rel(r.share, json_number_value(json_array_get(betas, i)), 1e-12);
    }
    dc_online_free(ctl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_confidence_cases), cmocka_unit_test(test_least_grouped_cases),
        cmocka_unit_test(test_vote_function_cases),    cmocka_unit_test(test_filter_top_cases),
        cmocka_unit_test(test_percentile_cases),       cmocka_unit_test(test_trace_outputs),
        cmocka_unit_test(test_offline_voting),         cmocka_unit_test(test_online_run),
        cmocka_unit_test(test_online_consensus_beta),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
