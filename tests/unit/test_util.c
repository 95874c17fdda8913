/* test_util.c - buffer, JSON writer and line reader (plain and zstd). */
#include "test_common.h"

#include <zstd.h>

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

/* The zstd frames of texts (n of them, with checksums, as a run's
 * traces.jsonl.zst has them) one after the other in z; its length. */
static size_t zstd_frames(char *z, size_t cap, const char *const *texts, size_t n, size_t *off)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = len;
        size_t w = ZSTD_compress2(cc, z + len, cap - len, texts[i], strlen(texts[i]));
        assert_false(ZSTD_isError(w));
        len += w;
    }
    ZSTD_freeCCtx(cc);
    return len;
}

/* A zstd file reads as its text would, lines running across frames; each
 * line's position leads back to it. */
static void test_lines_zstd(void **state)
{
    (void)state;
    static const char *const texts[] = {"one\r\ntw", "o\n\nlonglonglong\n", "last"};
    char z[1024];
    size_t off[3], len = zstd_frames(z, sizeof z, texts, 3, off);
    FILE *f = fmemopen(z, len, "rb");
    assert_non_null(f);
    dc_lines r;
    dc_lines_init(&r, f, 8);
    dc_lines_pos at[5];
    at[0] = dc_lines_tell(&r);
    assert_int_equal(at[0].offset, 0);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_true(r.zstd);
    assert_string_equal(r.line.data, "one");
    at[1] = dc_lines_tell(&r);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "two");
    at[2] = dc_lines_tell(&r);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_int_equal(r.line.len, 0);
    at[3] = dc_lines_tell(&r);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_LIMIT);
    assert_int_equal(r.lineno, 4);
    /* a frame that ends with a line: the next line starts the next frame */
    at[4] = dc_lines_tell(&r);
    assert_int_equal(at[4].offset, off[2]);
    assert_int_equal(at[4].skip, 0);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "last");
    assert_true(r.torn);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_NOT_FOUND);
    /* "two" starts inside the first frame, after "one\r\n" */
    assert_int_equal(at[1].offset, off[0]);
    assert_int_equal(at[1].skip, 5);
    static const char *const want[] = {"one", "two", "", NULL, "last"};
    for (int i = 4; i >= 0; i--) {
        if (!want[i])
            continue;
        assert_int_equal(dc_lines_seek(&r, at[i]), DC_STATUS_OK);
        assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
        assert_string_equal(r.line.data, want[i]);
    }
    dc_lines_free(&r);
    fclose(f);
}

/* A frame cut short ends the file (torn); a frame that does not decode is
 * PARSE naming its offset; a plain file that starts like the magic number
 * is plain. */
static void test_lines_zstd_damage(void **state)
{
    (void)state;
    static const char *const texts[] = {"a\nb\n", "c\nd\n", "e\n"};
    char z[1024];
    size_t off[3], len = zstd_frames(z, sizeof z, texts, 3, off);
    /* cut inside the last frame */
    FILE *f = fmemopen(z, off[2] + 5, "rb");
    dc_lines r;
    dc_lines_init(&r, f, 0);
    int lines = 0;
    dc_status st;
    while ((st = dc_lines_next(&r)) == DC_STATUS_OK)
        lines++;
    assert_int_equal(st, DC_STATUS_NOT_FOUND);
    assert_int_equal(lines, 4);
    assert_true(r.torn);
    dc_lines_free(&r);
    fclose(f);
    /* a byte of the middle frame changed: its checksum or blocks fail */
    char bad[1024];
    memcpy(bad, z, len);
    bad[off[1] + (off[2] - off[1]) / 2] ^= 0x5a;
    f = fmemopen(bad, len, "rb");
    dc_lines_init(&r, f, 0);
    lines = 0;
    while ((st = dc_lines_next(&r)) == DC_STATUS_OK)
        lines++;
    assert_int_equal(st, DC_STATUS_PARSE);
    assert_true(lines <= 2);
    char want[64];
    snprintf(want, sizeof want, "zstd frame at byte %zu does not decode", off[1]);
    if (!strstr(r.msg, want))
        fail_msg("expected \"%s\" in \"%s\"", want, r.msg);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_NOT_FOUND);
    dc_lines_free(&r);
    fclose(f);
    /* garbage after whole frames */
    memcpy(bad, z, len);
    memcpy(bad + len, "junk\n", 5);
    f = fmemopen(bad, len + 5, "rb");
    dc_lines_init(&r, f, 0);
    while ((st = dc_lines_next(&r)) == DC_STATUS_OK)
        ;
    assert_int_equal(st, DC_STATUS_PARSE);
    snprintf(want, sizeof want, "at byte %zu", len);
    assert_non_null(strstr(r.msg, want));
    dc_lines_free(&r);
    fclose(f);
    /* plain text that starts with the magic number's first bytes */
    const char plain[] = "(\xb5/x\n(\n";
    f = fmemopen((void *)plain, sizeof plain - 1, "rb");
    dc_lines_init(&r, f, 0);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_false(r.zstd);
    assert_string_equal(r.line.data, "(\xb5/x");
    dc_lines_pos at = dc_lines_tell(&r);
    assert_int_equal(at.offset, 5);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "(");
    assert_int_equal(dc_lines_seek(&r, at), DC_STATUS_OK);
    assert_int_equal(dc_lines_next(&r), DC_STATUS_OK);
    assert_string_equal(r.line.data, "(");
    dc_lines_free(&r);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_double_format),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_json_utf8),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_lines_zstd),
        cmocka_unit_test(test_lines_zstd_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
