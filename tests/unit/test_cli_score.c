/* test_cli_score.c - `safety-deepconf score` end to end: the reference
 * vectors through the program (the way the hidden set is run), the
 * OpenAI response forms, and every documented error. */
#include "test_common.h"

#include <jansson.h>

#include "support/run_cmd.h"
#include "support/vectors.h"

static json_t *V;

static int setup(void **state)
{
    (void)state;
    V = vectors_load();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(V);
    return 0;
}

/* One input line in the score format from a vector trace. The sampled
 * token is "t<rank>" when it is among the top-k, else "s". */
static char *vector_line(const char *id, json_t *trace, json_t *answer)
{
    json_t *line = json_object();
    json_object_set_new(line, "id", json_string(id));
    json_t *text = json_object_get(trace, "text");
    if (text)
        json_object_set(line, "text", text);
    if (answer)
        json_object_set(line, "answer", answer);
    json_t *toks = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(trace, "tokens"), i, t)
    {
        json_t *topk = json_object_get(t, "topk");
        long rank = (long)json_integer_value(json_object_get(t, "sampled_rank"));
        char name[32];
        if (rank < (long)json_array_size(topk))
            snprintf(name, sizeof name, "t%ld", rank);
        else
            snprintf(name, sizeof name, "s");
        json_t *alts = json_array();
        size_t j;
        json_t *v;
        json_array_foreach(topk, j, v)
        {
            char an[32];
            snprintf(an, sizeof an, "t%zu", j);
            json_array_append_new(alts, json_pack("{s:s,s:O}", "token", an, "logprob", v));
        }
        json_array_append_new(toks,
                              json_pack("{s:s,s:O,s:o}", "token", name, "logprob",
                                        json_object_get(t, "sampled_lp"), "top_logprobs", alts));
    }
    json_object_set_new(line, "tokens", toks);
    char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(line);
    return s;
}

static json_t *run_score(const char *args, const char *input, cmd_result *r)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "score %s '%s'", args, write_temp(input));
    *r = run_program(cmd, NULL);
    if (r->status != 0)
        fail_msg("score %s exited %d: %s", args, r->status, r->err);
    json_error_t e;
    json_t *out = json_loads(r->out, 0, &e);
    if (!out)
        fail_msg("output is not JSON (%s): %.200s", e.text, r->out);
    return out;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("\"%s\" is not a number", key);
    return json_number_value(v);
}

static void append_line(char **buf, size_t *len, const char *line)
{
    size_t n = strlen(line);
    *buf = realloc(*buf, *len + n + 2);
    memcpy(*buf + *len, line, n);
    (*buf)[*len + n] = '\n';
    *len += n + 1;
    (*buf)[*len] = '\0';
}

/* ---- reference profile: all trace outputs ---- */

static void test_reference_trace_outputs(void **state)
{
    (void)state;
    json_t *traces = json_object_get(V, "traces");
    json_t *outs = json_object_get(V, "trace_outputs");
    char *input = NULL;
    size_t len = 0;
    const char *id;
    json_t *t;
    json_object_foreach(traces, id, t)
    {
        char *line = vector_line(id, t, NULL);
        append_line(&input, &len, line);
        free(line);
    }
    cmd_result r;
    json_t *out = run_score("--profile reference --window 16 --tail 16 --answer boxed", input, &r);
    assert_string_equal(json_string_value(json_object_get(out, "profile")), "reference");
    assert_int_equal(json_integer_value(json_object_get(out, "top_k")), 20);
    json_t *ts = json_object_get(out, "traces");
    assert_int_equal(json_array_size(ts), json_object_size(traces));
    size_t i;
    json_array_foreach(ts, i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "id"));
        json_t *want = json_object_get(outs, tid);
        assert_non_null(want);
        json_t *pw = json_object_get(json_object_get(want, "per_window"), "16");
        size_t n, m;
        double *wc = vectors_doubles(json_object_get(want, "confs"), &n);
        double *gc = vectors_doubles(json_object_get(t, "confs"), &m);
        assert_int_equal(m, n);
        for (size_t j = 0; j < n; j++)
            assert_double_bits(gc[j], wc[j]);
        free(wc);
        free(gc);
        wc = vectors_doubles(json_object_get(pw, "group_confs"), &n);
        gc = vectors_doubles(json_object_get(t, "groups"), &m);
        assert_int_equal(m, n);
        for (size_t j = 0; j < n; j++)
            assert_close_rel(gc[j], wc[j], n > 1 ? 0.0 : 1e-12);
        free(wc);
        free(gc);
        assert_close_rel(num(t, "mean"), num(want, "mean"), 1e-12);
        assert_close_rel(num(t, "tail"), num(pw, "tail"), 1e-12);
        assert_close_rel(num(t, "bottom10"), num(pw, "bottom10"), 1e-12);
        assert_close_rel(num(t, "bottom50"), num(pw, "bottom50"), 1e-12);
        assert_close_rel(num(t, "min_window"), num(pw, "min_window"), 1e-12);
        if (json_integer_value(json_object_get(t, "n_tokens")) >= 16)
            assert_double_bits(num(t, "lowest"), num(pw, "min_conf"));
        else
            assert_close_rel(num(t, "lowest"), num(pw, "min_conf"), 1e-12);
        assert_int_equal(json_integer_value(json_object_get(t, "n_tokens")),
                         json_integer_value(json_object_get(want, "num_tokens")));
        json_t *wa = json_object_get(want, "extracted_answer");
        json_t *ga = json_object_get(t, "answer");
        if (json_is_null(wa))
            assert_true(json_is_null(ga));
        else
            assert_string_equal(json_string_value(ga), json_string_value(wa));
    }
    json_decref(out);
    cmd_result_free(&r);
    free(input);
}

/* ---- offline votes ---- */

static void check_answer(json_t *got, json_t *want)
{
    json_t *ga = json_object_get(got, "answer");
    if (!want || json_is_null(want))
        assert_true(json_is_null(ga));
    else
        assert_string_equal(json_string_value(ga), json_string_value(want));
}

static void test_reference_offline_votes(void **state)
{
    (void)state;
    json_t *traces = json_object_get(V, "traces");
    size_t si;
    json_t *sc;
    json_array_foreach(json_object_get(V, "offline_voting"), si, sc)
    {
        char *input = NULL;
        size_t len = 0, i;
        json_t *idv;
        json_t *ids = json_object_get(sc, "trace_ids");
        json_array_foreach(ids, i, idv)
        {
            char *line = vector_line(json_string_value(idv),
                                     json_object_get(traces, json_string_value(idv)), NULL);
            append_line(&input, &len, line);
            free(line);
        }
        cmd_result r;
        json_t *out = run_score("--profile reference --window 16 --answer boxed", input, &r);
        json_t *votes = json_object_get(out, "votes");
        json_t *res = json_object_get(json_object_get(sc, "compute_all_voting_results"), "16");
        json_t *maj = json_object_get(res, "majority");
        check_answer(json_object_get(votes, "majority"), json_object_get(maj, "answer"));
        json_t *nv = json_object_get(maj, "num_votes");
        if (json_is_integer(nv))
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(votes, "majority"), "votes")),
                json_integer_value(nv));
        json_t *wt = json_object_get(votes, "weighted");
        check_answer(json_object_get(wt, "mean"),
                     json_object_get(json_object_get(res, "mean_confidence_weighted"), "answer"));
        check_answer(json_object_get(wt, "tail"),
                     json_object_get(json_object_get(res, "tail_confidence_weighted"), "answer"));
        check_answer(json_object_get(wt, "bottom10"),
                     json_object_get(json_object_get(res, "bottom_window_weighted"), "answer"));
        check_answer(json_object_get(wt, "min_window"),
                     json_object_get(json_object_get(res, "min_window_weighted"), "answer"));
        check_answer(json_object_get(json_object_get(votes, "top10"), "tail"),
                     json_object_get(json_object_get(res, "top10_tail_filtered"), "answer"));
        check_answer(
            json_object_get(json_object_get(votes, "top10"), "bottom10"),
            json_object_get(json_object_get(res, "top10_bottom_window_filtered"), "answer"));
        static const struct {
            const char *ext, *ours;
        } names[] = {{"mean", "mean"},
                     {"tail", "tail"},
                     {"bottom_window", "bottom10"},
                     {"min_window", "min_window"}};
        json_t *ext = json_object_get(json_object_get(sc, "extended"), "16");
        for (size_t k = 0; k < 4; k++) {
            json_t *tab = json_object_get(ext, names[k].ext);
            static const char *const eta_keys[] = {"eta_0.1", "eta_0.9"};
            static const char *const top_keys[] = {"top10", "top90"};
            for (size_t e = 0; e < 2; e++) {
                json_t *we = json_object_get(tab, eta_keys[e]);
                json_t *got = json_object_get(json_object_get(votes, top_keys[e]), names[k].ours);
                check_answer(got, json_object_get(we, "answer"));
                assert_true(json_equal(json_object_get(got, "kept"), json_object_get(we, "kept")));
            }
        }
        json_decref(out);
        cmd_result_free(&r);
        free(input);
    }
}

/* ---- online replay ---- */

static void test_reference_online(void **state)
{
    (void)state;
    json_t *on = json_object_get(V, "online");
    json_t *traces = json_object_get(on, "traces");
    json_t *run = json_array_get(json_object_get(on, "runs"), 0);
    json_t *wans = json_object_get(run, "warmup_extracted_answers");
    char *input = NULL;
    size_t len = 0, i;
    json_t *idv;
    json_array_foreach(json_object_get(on, "warmup_ids"), i, idv)
    {
        const char *id = json_string_value(idv);
        char *line = vector_line(id, json_object_get(traces, id), json_array_get(wans, i));
        append_line(&input, &len, line);
        free(line);
    }
    json_array_foreach(json_object_get(on, "final_ids"), i, idv)
    {
        const char *id = json_string_value(idv);
        json_t *t = json_object_get(traces, id);
        char *line = vector_line(id, t, json_object_get(t, "answer"));
        append_line(&input, &len, line);
        free(line);
    }
    cmd_result r;
    json_t *out = run_score(
        "--profile reference --window 16 --online --warmup 16 --keep-percent 90", input, &r);
    json_t *o = json_object_get(out, "online");
    assert_non_null(o);
    assert_double_bits(num(o, "threshold"), num(run, "conf_bar"));
    assert_string_equal(
        json_string_value(json_object_get(o, "answer")),
        json_string_value(json_object_get(run, "final_answer_compute_multiple_voting_false")));
    assert_int_equal(json_integer_value(json_object_get(o, "tokens_used")),
                     json_integer_value(json_object_get(run, "total_tokens")));
    json_t *ot = json_object_get(o, "traces");
    json_t *finals = json_object_get(run, "final_traces");
    size_t nw = json_array_size(json_object_get(on, "warmup_ids"));
    assert_int_equal(json_array_size(ot), nw + json_array_size(finals));
    size_t voters = 0;
    json_t *x;
    json_array_foreach(ot, i, x) voters += json_is_true(json_object_get(x, "voted"));
    assert_int_equal(voters, json_array_size(json_object_get(run, "voting_trace_ids")));
    json_array_foreach(finals, i, x)
    {
        json_t *g = json_array_get(ot, nw + i);
        assert_string_equal(json_string_value(json_object_get(g, "id")),
                            json_string_value(json_object_get(x, "id")));
        json_t *ws = json_object_get(x, "processor_stop_index");
        if (json_is_null(ws))
            assert_true(json_is_null(json_object_get(g, "stopped_at")));
        else
            assert_int_equal(json_integer_value(json_object_get(g, "stopped_at")),
                             json_integer_value(ws));
        assert_int_equal(json_integer_value(json_object_get(g, "tokens_used")),
                         json_integer_value(json_object_get(x, "num_tokens")));
    }
    json_decref(out);
    cmd_result_free(&r);

    /* --budget cuts the replay; --consensus 0.5 stops after the first final trace */
    out = run_score("--profile reference --window 16 --online --warmup 16 --budget 18", input, &r);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(out, "online"), "traces_used")), 18);
    json_decref(out);
    cmd_result_free(&r);
    out = run_score("--profile reference --window 16 --online --warmup 16 --consensus 0.5", input,
                    &r);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(out, "online"), "traces_used")), 17);
    json_decref(out);
    cmd_result_free(&r);
    free(input);
}

/* ---- OpenAI response objects ---- */

static void test_openai_forms(void **state)
{
    (void)state;
    /* chat completion (vLLM / llama-server / OpenAI): sampled "a" is in the top-2 */
    const char *chat =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"ab\"},\"finish_reason\":\"stop\","
        "\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97],"
        "\"top_logprobs\":[{\"token\":\"a\",\"logprob\":-0.5},{\"token\":\"c\",\"logprob\":-1.5}]},"
        "{\"token\":\"b\",\"logprob\":-3.0,\"top_logprobs\":[{\"token\":\"x\",\"logprob\":-0.25},"
        "{\"token\":\"y\",\"logprob\":-1.75}]}]}}]}\n"
        /* legacy completions (vLLM /v1/completions): top_logprobs as dicts */
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":"
        "\"ab\","
        "\"logprobs\":{\"tokens\":[\"a\",\"b\"],\"token_logprobs\":[-0.5,-3.0],"
        "\"top_logprobs\":[{\"c\":-1.5,\"a\":-0.5},{\"y\":-1.75,\"x\":-0.25}]}},"
        "{\"index\":1,\"text\":\"a\",\"logprobs\":{\"tokens\":[\"a\"],\"token_logprobs\":[-0.5],"
        "\"top_logprobs\":[{\"a\":-0.5,\"c\":-1.5}]}}]}\n";
    cmd_result r;
    json_t *out = run_score("--window 2", chat, &r);
    json_t *ts = json_object_get(out, "traces");
    assert_int_equal(json_array_size(ts), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 0), "id")),
                        "chatcmpl-1/0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 2), "id")),
                        "cmpl-2/1");
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_object_get(json_array_get(ts, i), "confs");
        assert_double_bits(json_number_value(json_array_get(c, 0)), 1.0);
        assert_double_bits(json_number_value(json_array_get(c, 1)), 1.0);
    }
    json_decref(out);
    cmd_result_free(&r);
    /* reference: position 0 has sampled in the top-k (2 values), position 1 not (3 values) */
    out = run_score("--profile reference --window 2", chat, &r);
    json_t *c = json_object_get(json_array_get(json_object_get(out, "traces"), 1), "confs");
    assert_double_bits(json_number_value(json_array_get(c, 0)), 1.0);
    assert_double_bits(json_number_value(json_array_get(c, 1)), 1.667);
    json_decref(out);
    cmd_result_free(&r);
}

/* ---- errors ---- */

static void expect_fail(const char *args, const char *input, int status, const char *needle)
{
    char cmd[512];
    if (input)
        snprintf(cmd, sizeof cmd, "score %s '%s'", args, write_temp(input));
    else
        snprintf(cmd, sizeof cmd, "score %s", args);
    cmd_result r = run_program(cmd, NULL);
    if (r.status != status || !strstr(r.err, needle))
        fail_msg("score %s: exit %d (want %d), stderr '%s' lacks '%s'", args, r.status, status,
                 r.err, needle);
    assert_string_equal(r.out, "");
    cmd_result_free(&r);
}

static const char good_line[] =
    "{\"id\":\"a\",\"answer\":\"x\",\"tokens\":[{\"token\":\"q\",\"logprob\":-0.1,"
    "\"top_logprobs\":[{\"token\":\"q\",\"logprob\":-0.1},{\"token\":\"r\",\"logprob\":-2.5}]}]}\n";

static void test_errors(void **state)
{
    (void)state;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s{\"id\":\"b\",\"tokens\":[}\n", good_line);
    expect_fail("", buf, 1, ":2: invalid JSON");
    snprintf(buf, sizeof buf, "%s\n{\"id\":\"b\",\"tokens\":[{\"token\":\"q\"}]}\n", good_line);
    expect_fail("", buf, 1, ":3: tokens[0]: missing \"logprob\"");
    snprintf(buf, sizeof buf,
             "{\"tokens\":[{\"token\":\"q\",\"logprob\":-0.1,\"top_logprobs\":[{\"token\":\"q\","
             "\"logprob\":\"x\"}]}]}\n");
    expect_fail("", buf, 1, ":1: tokens[0].top_logprobs[0]: \"logprob\": expected a number");
    expect_fail("--top-k 3", good_line, 1, "position 0 has 2 top_logprobs, fewer than the 3");
    expect_fail("--profile reference --top-k 3", good_line, 1, ":1: trace 'a' position 0 has 2");
    expect_fail("", "{\"choices\":[{\"text\":\"hi\"}]}\n", 1, "choices[0].logprobs: missing");
    expect_fail("", "[1,2]\n", 1, ":1: expected a JSON object");
    expect_fail("--online --warmup 5", good_line, 1, "needs at least 5 traces");
    expect_fail("--bogus", good_line, 2, "unknown option '--bogus'");
    expect_fail("--window 0", good_line, 2, "--window: expected a whole number");
    expect_fail("--warmup 3", good_line, 2, "need --online");
    expect_fail("--profile exact", good_line, 2, "--profile: expected paper or reference");
    expect_fail("--answer maybe", good_line, 2, "--answer: expected field, refusal, boxed or none");
    expect_fail("/nonexistent/file.jsonl", NULL, 1, "/nonexistent/file.jsonl: No such file");
    expect_fail("", NULL, 2, "missing the traces file");
    expect_fail("--max-line-bytes 40", good_line, 1, ":1: line longer than 40 bytes");
}

static void test_help_and_empty(void **state)
{
    (void)state;
    cmd_result r = run_program("score --help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--profile paper|reference"));
    assert_non_null(strstr(r.out, "--keep-percent"));
    cmd_result_free(&r);
    /* empty input: no traces, null votes, from stdin */
    r = run_program("score -", write_temp("\n\n"));
    assert_int_equal(r.status, 0);
    json_t *out = json_loads(r.out, 0, NULL);
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(out, "n_traces")), 0);
    assert_true(json_is_null(
        json_object_get(json_object_get(json_object_get(out, "votes"), "majority"), "answer")));
    json_decref(out);
    cmd_result_free(&r);
    /* --answer none: answers are null, votes too; --no-arrays drops the arrays */
    r = run_program("score --answer none --no-arrays -", write_temp(good_line));
    assert_int_equal(r.status, 0);
    out = json_loads(r.out, 0, NULL);
    json_t *t0 = json_array_get(json_object_get(out, "traces"), 0);
    assert_true(json_is_null(json_object_get(t0, "answer")));
    assert_null(json_object_get(t0, "confs"));
    assert_double_bits(json_number_value(json_object_get(t0, "mean")), 1.3);
    json_decref(out);
    cmd_result_free(&r);
    /* --answer refusal: the detector on the text */
    r = run_program(
        "score --answer refusal --no-arrays -",
        write_temp("{\"id\":\"r\",\"text\":\"I'm sorry, but I can't help with that.\","
                   "\"tokens\":[{\"token\":\"I\",\"logprob\":-0.1,\"top_logprobs\":"
                   "[{\"token\":\"I\",\"logprob\":-0.1}]}]}\n"
                   "{\"id\":\"c\",\"text\":\"Sure! Here is a recipe.\",\"tokens\":[]}\n"));
    assert_int_equal(r.status, 0);
    out = json_loads(r.out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "traces"), 0), "answer")),
                        "refuse");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "traces"), 1), "answer")),
                        "comply");
    json_decref(out);
    cmd_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_trace_outputs),
        cmocka_unit_test(test_reference_offline_votes),
        cmocka_unit_test(test_reference_online),
        cmocka_unit_test(test_openai_forms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_empty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
