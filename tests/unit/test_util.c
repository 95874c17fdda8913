/* test_util.c - buffer, JSON writer and line reader. */
#include "test_common.h"

#include "util/buf.h"
#include "util/jsonw.h"
#include "util/lines.h"

static void test_buf_cap(void **state)
{
    (void)state;
    dc_buf b;
    dc_buf_init(&b, 10);
    assert_int_equal(dc_buf_puts(&b, "12345"), DC_STATUS_OK);
    assert_int_equal(dc_buf_puts(&b, "6789"), DC_STATUS_OK);
    assert_int_equal(dc_buf_puts(&b, "ab"), DC_STATUS_LIMIT);
    assert_int_equal(b.len, 9);
    assert_string_equal(b.data, "123456789");
    /* the first error sticks */
    assert_int_equal(dc_buf_putc(&b, 'x'), DC_STATUS_LIMIT);
    dc_buf_free(&b);
    dc_buf_init(&b, 0);
    assert_int_equal(dc_buf_printf(&b, "%d-%s", 42, "x"), DC_STATUS_OK);
    assert_string_equal(b.data, "42-x");
    char *t = dc_buf_take(&b);
    assert_string_equal(t, "42-x");
    assert_int_equal(b.len, 0);
    dc_free(t);
}

static void test_double_format(void **state)
{
    (void)state;
    char s[40];
    const struct {
        double x;
        const char *want;
    } cases[] = {
        {7.9788, "7.9788"},
        {0.1, "0.1"},
        {2.0, "2.0"},
        {-0.0, "-0.0"},
        {4.782500000000001, "4.782500000000001"},
        {1e-300, "1e-300"},
        {NAN, "null"},
        {INFINITY, "null"},
        {1.9999999999999998, "1.9999999999999998"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jw_format_double(cases[i].x, s, sizeof s);
        assert_string_equal(s, cases[i].want);
        if (isfinite(cases[i].x)) {
            double back = strtod(s, NULL);
            assert_memory_equal(&back, &cases[i].x, sizeof back);
        }
    }
}

static void test_json_writer(void **state)
{
    (void)state;
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_arr_begin(&w);
    jw_int(&w, -3);
    jw_str(&w, "q\"\\\n\x01");
    jw_null(&w);
    jw_bool(&w, 1);
    jw_arr_end(&w);
    jw_key(&w, "b");
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_key(&w, "c");
    jw_str(&w, NULL);
    jw_obj_end(&w);
    assert_string_equal(b.data,
                        "{\"a\":[-3,\"q\\\"\\\\\\n\\u0001\",null,true],\"b\":{},\"c\":null}");
    dc_buf_free(&b);
}

static void test_json_utf8(void **state)
{
    (void)state;
    dc_buf b;
    dc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    /* valid 2-, 3- and 4-byte characters pass; a lone lead byte, a stray
       continuation, an overlong form and a surrogate become U+FFFD */
    jw_str(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xe3|\x80|\xc0\xaf|\xed\xa0\x80");
    assert_string_equal(b.data,
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd|\\ufffd\\ufffd|"
                        "\\ufffd\\ufffd\\ufffd\"");
    assert_true(jw_utf8_valid("\xc3\xa9", 2));
    assert_false(jw_utf8_valid("\xc3", 1));
    assert_false(jw_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    dc_buf_free(&b);
}

static void test_lines(void **state)
{
    (void)state;
    const char text[] = "one\r\ntwo\n\nlonglonglong\nlast";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "rb");
    assert_non_null(f);
    dc_lines r;
    dc_lines_init(&r, f, 8);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "one");
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "two");
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_int_equal(r.line.len, 0);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_LIMIT);
    assert_int_equal(r.lineno, 4);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "last");
    assert_true(r.torn);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_NOT_FOUND);
    dc_lines_free(&r);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),     cmocka_unit_test(test_double_format),
        cmocka_unit_test(test_json_writer), cmocka_unit_test(test_json_utf8),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
