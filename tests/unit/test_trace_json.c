/* test_trace_json.c - traces from JSON lines and OpenAI-style responses. */
#include "test_common.h"

#include "deepconf/dc_trace.h"

static dc_status parse(const char *json, dc_trace **t, size_t *n, dc_error *err)
{
    return dc_trace_parse_json(json, strlen(json), "dflt", NULL, t, n, err);
}

static void test_line_form(void **state)
{
    (void)state;
    const char *j =
        "{\"id\":7,\"answer\":\"refuse\",\"text\":\"I can't\",\"tokens\":["
        "{\"token\":\"I\",\"id\":40,\"logprob\":-0.25,\"top_logprobs\":["
        "{\"token\":\"I\",\"id\":40,\"logprob\":-0.25},{\"token\":\"Sure\",\"id\":9,\"logprob\":-1."
        "5}]},"
        "{\"token\":\" can\",\"logprob\":-2.0,\"top_logprobs\":["
        "{\"token\":\" will\",\"logprob\":-0.5},{\"token\":\" can\",\"logprob\":-2.0}]},"
        "{\"token\":\"'t\",\"logprob\":-4.0,\"top_logprobs\":[]}]}";
    dc_trace *t;
    size_t n;
    dc_error err = {0};
    assert_int_equal(parse(j, &t, &n, &err), DC_STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t->id, "7");
    assert_string_equal(t->answer, "refuse");
    assert_true(t->has_answer_field);
    assert_string_equal(t->text, "I can't");
    assert_int_equal(t->n_tokens, 3);
    assert_int_equal(t->tokens[0].id, 40);
    assert_int_equal(t->tokens[0].sampled_rank, 0); /* same id */
    assert_int_equal(t->tokens[1].sampled_rank, 1); /* same text */
    assert_int_equal(t->tokens[2].sampled_rank, -1);
    assert_int_equal(t->tokens[2].n_top, 0);
    assert_double_bits(t->tokens[1].top_lp[0], -0.5);
    dc_position pos[3];
    dc_trace_positions(t, pos);
    assert_double_bits(pos[1].logprob, -2.0);
    assert_int_equal(pos[1].sampled_rank, 1);
    dc_traces_free(t, n);
}

static void test_null_answer_and_default_id(void **state)
{
    (void)state;
    dc_trace *t;
    size_t n;
    assert_int_equal(parse("{\"answer\":null,\"tokens\":[]}", &t, &n, NULL), DC_STATUS_OK);
    assert_string_equal(t->id, "dflt");
    assert_null(t->answer);
    assert_true(t->has_answer_field);
    dc_traces_free(t, n);
    assert_int_equal(parse("{\"answer\":3,\"tokens\":[]}", &t, &n, NULL), DC_STATUS_OK);
    assert_string_equal(t->answer, "3");
    dc_traces_free(t, n);
}

static void test_line_form_with_dict_alternatives(void **state)
{
    (void)state;
    const char *j = "{\"tokens\":[{\"token\":\"b\",\"logprob\":-2.0,"
                    "\"top_logprobs\":{\"b\":-2.0,\"a\":-0.5,\"c\":-3.5}}]}";
    dc_trace *t;
    size_t n;
    dc_error err = {0};
    assert_int_equal(parse(j, &t, &n, &err), DC_STATUS_OK);
    assert_int_equal(t->tokens[0].n_top, 3);
    assert_double_bits(t->tokens[0].top_lp[0], -0.5);
    assert_string_equal(t->tokens[0].top_text[1], "b");
    assert_int_equal(t->tokens[0].sampled_rank, 1);
    dc_traces_free(t, n);
    assert_int_equal(
        parse("{\"tokens\":[{\"token\":\"b\",\"logprob\":-2.0,\"top_logprobs\":{\"b\":\"x\"}}]}",
              &t, &n, &err),
        DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "tokens[0].top_logprobs"));
}

static void test_bytes_give_exact_text(void **state)
{
    (void)state;
    /* half of "é" (0xc3 0xa9): the text is U+FFFD, the bytes are exact */
    const char *j = "{\"tokens\":[{\"token\":\"\\ufffd\",\"bytes\":[195],\"logprob\":-1.0}]}";
    dc_trace *t;
    size_t n;
    dc_error err = {0};
    assert_int_equal(parse(j, &t, &n, &err), DC_STATUS_OK);
    assert_string_equal(t->tokens[0].text, "\xc3");
    dc_traces_free(t, n);
    assert_int_equal(
        parse("{\"tokens\":[{\"token\":\"x\",\"bytes\":[0],\"logprob\":-1.0}]}", &t, &n, &err),
        DC_STATUS_FORMAT);
}

static void test_same_text_only_first_match(void **state)
{
    (void)state;
    /* two alternatives render as the same text: only the first is the sampled one */
    const char *j =
        "{\"tokens\":[{\"token\":\"\\ufffd\",\"logprob\":-1.0,\"top_logprobs\":["
        "{\"token\":\"\\ufffd\",\"logprob\":-1.0},{\"token\":\"\\ufffd\",\"logprob\":-1.2}]}]}";
    dc_trace *t;
    size_t n;
    assert_int_equal(parse(j, &t, &n, NULL), DC_STATUS_OK);
    assert_int_equal(t->tokens[0].sampled_rank, 0);
    dc_traces_free(t, n);
}

static void test_legacy_ranked_by_logprob(void **state)
{
    (void)state;
    const char *j = "{\"choices\":[{\"text\":\"ab\",\"finish_reason\":\"length\",\"logprobs\":{"
                    "\"tokens\":[\"a\",\"b\"],\"token_logprobs\":[null,-3.0],"
                    "\"top_logprobs\":[null,{\"z\":-2.0,\"y\":-0.1,\"b\":-3.0}]}}]}";
    dc_trace *t;
    size_t n;
    dc_error err = {0};
    assert_int_equal(parse(j, &t, &n, &err), DC_STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t->id, "dflt/0");
    assert_string_equal(t->finish_reason, "length");
    assert_true(isnan(t->tokens[0].logprob));
    assert_int_equal(t->tokens[0].n_top, 0);
    assert_int_equal(t->tokens[1].n_top, 3);
    assert_double_bits(t->tokens[1].top_lp[0], -0.1);
    assert_double_bits(t->tokens[1].top_lp[1], -2.0);
    assert_double_bits(t->tokens[1].top_lp[2], -3.0);
    assert_string_equal(t->tokens[1].top_text[0], "y");
    assert_int_equal(t->tokens[1].sampled_rank, 2);
    dc_traces_free(t, n);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        dc_status st;
        const char *msg;
    } cases[] = {
        {"{\"tokens\":[", DC_STATUS_PARSE, "invalid JSON"},
        {"{\"a\":1,\"a\":2}", DC_STATUS_PARSE, "duplicate"},
        {"{}", DC_STATUS_FORMAT, "expected \"tokens\""},
        {"{\"tokens\":[{\"token\":\"x\",\"logprob\":0.5}]}", DC_STATUS_FORMAT,
         "tokens[0]: \"logprob\": expected a number <= 0"},
        {"{\"tokens\":[1]}", DC_STATUS_FORMAT, "tokens[0]: expected an object"},
        {"{\"tokens\":[{\"token\":5,\"logprob\":-1}]}", DC_STATUS_FORMAT, "expected a string"},
        {"{\"answer\":[1],\"tokens\":[]}", DC_STATUS_FORMAT, "answer: expected a string"},
        {"{\"choices\":[{\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-1,"
         "\"top_logprobs\":[{\"token\":\"a\"}]}]}}]}",
         DC_STATUS_FORMAT, "choices[0].logprobs.content[0].top_logprobs[0]: \"logprob\""},
        {"{\"choices\":[{\"logprobs\":{\"tokens\":[\"a\"],\"token_logprobs\":[]}}]}",
         DC_STATUS_FORMAT, "differ in length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dc_trace *t = (dc_trace *)1;
        size_t n = 9;
        dc_error err = {0};
        assert_int_equal(parse(cases[i].json, &t, &n, &err), cases[i].st);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        assert_null(t);
        assert_int_equal(n, 0);
    }
}

static void test_limits(void **state)
{
    (void)state;
    dc_trace_limits lim = dc_trace_default_limits();
    lim.max_tokens = 1;
    lim.max_top = 1;
    dc_trace *t;
    size_t n;
    dc_error err = {0};
    const char *two =
        "{\"tokens\":[{\"token\":\"a\",\"logprob\":-1},{\"token\":\"b\",\"logprob\":-1}]}";
    assert_int_equal(dc_trace_parse_json(two, strlen(two), "x", &lim, &t, &n, &err),
                     DC_STATUS_LIMIT);
    const char *tops = "{\"tokens\":[{\"token\":\"a\",\"logprob\":-1,\"top_logprobs\":["
                       "{\"token\":\"a\",\"logprob\":-1},{\"token\":\"b\",\"logprob\":-2}]}]}";
    assert_int_equal(dc_trace_parse_json(tops, strlen(tops), "x", &lim, &t, &n, &err),
                     DC_STATUS_LIMIT);
    assert_non_null(strstr(err.msg, "tokens[0]"));
}

static void test_extract_boxed(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"so \\boxed{42}.", "42"},
        {"\\boxed{a} then \\boxed{ {x}^2 }", "{x}^2"},
        {"ends with \\boxed", ""},
        {"\\boxed 7$ and more", "7"},
        {"\\boxed{unclosed {", "unclosed {"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a = dc_extract_boxed(cases[i].text);
        assert_string_equal(a, cases[i].want);
        dc_free(a);
    }
    assert_null(dc_extract_boxed("no answer here"));
    assert_null(dc_extract_boxed(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_form),
        cmocka_unit_test(test_null_answer_and_default_id),
        cmocka_unit_test(test_same_text_only_first_match),
        cmocka_unit_test(test_bytes_give_exact_text),
        cmocka_unit_test(test_line_form_with_dict_alternatives),
        cmocka_unit_test(test_legacy_ranked_by_logprob),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_extract_boxed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
