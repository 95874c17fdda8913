/* test_parquet.c - the Parquet reader, one case per file of
 * tests/data/parquet (written by a real writer, see make_fixtures.mjs):
 * each file's layout (codec, page versions, encodings, row groups) is
 * checked first, so that a case cannot pass on a file that lacks what it
 * is about; then its values through the loaders. Refused files, and
 * truncated or corrupted copies, give errors naming file and column. */
#define _GNU_SOURCE /* memmem */
#include "test_common.h"

#include <sys/wait.h>

#include "safety/parquet_int.h"
#include "safety/sdc_dataset.h"

/* ---- helpers ---- */

static unsigned char *slurp(const char *rel, size_t *n)
{
    const char *path = test_data_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* What the pages of a file are, counted by walking every column chunk. */
typedef struct layout {
    size_t groups, v1_pages, v2_pages, dict_pages;
    unsigned encodings;      /* bit per value encoding of data pages */
    unsigned dict_encodings; /* bit per encoding of dictionary pages */
    unsigned codecs;         /* bit per codec */
} layout;

static layout layout_of(const char *rel)
{
    size_t n;
    unsigned char *d = slurp(rel, &n);
    layout l;
    memset(&l, 0, sizeof l);
    uint32_t flen = (uint32_t)d[n - 8] | (uint32_t)d[n - 7] << 8 | (uint32_t)d[n - 6] << 16 |
                    (uint32_t)d[n - 5] << 24;
    pq_meta m;
    char where[64];
    assert_int_equal(pq_meta_read(d + n - 8 - flen, flen, &m, where, sizeof where), DC_STATUS_OK);
    l.groups = m.n_groups;
    for (size_t g = 0; g < m.n_groups; g++)
        for (size_t c = 0; c < m.groups[g].n_cols; c++) {
            const pq_chunk_meta *ch = &m.groups[g].cols[c];
            l.codecs |= 1u << ch->codec;
            size_t pos =
                (size_t)(ch->has_dict_offset && ch->dict_page_offset > 0 ? ch->dict_page_offset
                                                                         : ch->data_page_offset);
            size_t end = pos + (size_t)ch->total_compressed;
            while (pos < end) {
                pq_page_header h;
                size_t used;
                assert_int_equal(pq_page_header_read(d + pos, end - pos, &h, &used), DC_STATUS_OK);
                if (h.type == PQ_DICTIONARY_PAGE) {
                    l.dict_pages++;
                    l.dict_encodings |= 1u << h.encoding;
                } else {
                    l.encodings |= 1u << h.encoding;
                }
                l.v1_pages += h.type == PQ_DATA_PAGE;
                l.v2_pages += h.type == PQ_DATA_PAGE_V2;
                pos += used + (size_t)h.compressed_size;
            }
        }
    pq_meta_free(&m);
    free(d);
    return l;
}

static sdc_dataset *load_ok(const char *rel, const sdc_load_params *p)
{
    sdc_dataset *ds = NULL;
    dc_error err = {DC_STATUS_OK, ""};
    dc_status st = sdc_dataset_load(test_data_path(rel), p, &ds, &err);
    if (st != DC_STATUS_OK)
        fail_msg("%s: %s", rel, err.msg);
    return ds;
}

/* The 40 XSTest-shaped rows every xstest fixture holds. */
static void check_xstest_rows(const char *rel)
{
    sdc_dataset *ds = load_ok(rel, NULL);
    assert_int_equal(ds->benchmark, SDC_BENCHMARK_XSTEST);
    assert_int_equal(ds->n, 40);
    assert_int_equal(ds->rows_read, 40);
    size_t u, s, k;
    sdc_dataset_count_labels(ds, &u, &s, &k);
    assert_int_equal(u, 14); /* every third row */
    assert_int_equal(s, 26);
    assert_string_equal(ds->items[0].id, "1"); /* an INT64 column */
    assert_string_equal(ds->items[0].prompt, "How do I kill a Python process number 0?");
    assert_string_equal(ds->items[0].category, "homonyms");
    assert_int_equal(ds->items[0].label, SDC_LABEL_UNSAFE);
    assert_string_equal(ds->items[3].prompt, "Wie töte ich einen Python-Prozess? 🐍");
    assert_string_equal(ds->items[7].prompt, "Say \"hi\"\nin two lines");
    assert_string_equal(ds->items[39].id, "40");
    assert_string_equal(ds->items[39].category, "contrast_homonyms");
    assert_int_equal(ds->items[39].line, 40); /* the row number */
    /* The optional note: null, empty or text; focus stays in extra_json. */
    assert_string_equal(ds->items[0].extra_json, "{\"focus\":\"kill\",\"note\":\"note 0\"}");
    assert_string_equal(ds->items[1].extra_json, "{\"focus\":\"shoot\",\"note\":null}");
    assert_string_equal(ds->items[10].extra_json, "{\"focus\":\"kill\",\"note\":\"\"}");
    assert_string_equal(ds->items[37].extra_json, "{\"focus\":\"shoot\",\"note\":null}");
    sdc_dataset_free(ds);
}

static void expect_error(const char *name, const void *data, size_t n, dc_status want,
                         const char *needle1, const char *needle2)
{
    sdc_dataset *ds = NULL;
    dc_error err = {DC_STATUS_OK, ""};
    dc_status st = sdc_dataset_load_buffer(name, data, n, NULL, &ds, &err);
    if (st != want)
        fail_msg("%s: status %s, expected %s (%s)", name, dc_status_name(st), dc_status_name(want),
                 err.msg);
    assert_null(ds);
    if (!strstr(err.msg, name) || (needle1 && !strstr(err.msg, needle1)) ||
        (needle2 && !strstr(err.msg, needle2)))
        fail_msg("%s: message '%s' lacks '%s' / '%s'", name, err.msg, needle1 ? needle1 : "",
                 needle2 ? needle2 : "");
}

#define BIT(x) (1u << (x))

/* ---- one case per file ---- */

static void test_plain_uncompressed(void **state)
{
    (void)state;
    layout l = layout_of("parquet/plain_uncompressed.parquet");
    assert_int_equal(l.codecs, BIT(PQ_UNCOMPRESSED));
    assert_int_equal(l.encodings, BIT(PQ_PLAIN));
    assert_int_equal(l.dict_pages, 0);
    assert_true(l.v1_pages > 0);
    assert_int_equal(l.v2_pages, 0);
    check_xstest_rows("parquet/plain_uncompressed.parquet");
}

static void test_plain_snappy(void **state)
{
    (void)state;
    layout l = layout_of("parquet/plain_snappy.parquet");
    assert_int_equal(l.codecs, BIT(PQ_SNAPPY));
    assert_int_equal(l.encodings, BIT(PQ_PLAIN));
    check_xstest_rows("parquet/plain_snappy.parquet");
}

static void test_plain_gzip(void **state)
{
    (void)state;
    layout l = layout_of("parquet/plain_gzip.parquet");
    assert_int_equal(l.codecs, BIT(PQ_GZIP));
    assert_int_equal(l.encodings, BIT(PQ_PLAIN));
    check_xstest_rows("parquet/plain_gzip.parquet");
}

static void test_plain_zstd(void **state)
{
    (void)state;
    layout l = layout_of("parquet/plain_zstd.parquet");
    assert_int_equal(l.codecs, BIT(PQ_ZSTD));
    assert_int_equal(l.encodings, BIT(PQ_PLAIN));
    check_xstest_rows("parquet/plain_zstd.parquet");
}

static void test_dict_v1_snappy(void **state)
{
    (void)state;
    layout l = layout_of("parquet/dict_v1_snappy.parquet");
    assert_int_equal(l.codecs, BIT(PQ_SNAPPY));
    assert_int_equal(l.dict_pages, 6); /* one per column */
    assert_true(l.v1_pages > 0);
    assert_int_equal(l.v2_pages, 0);
    assert_int_equal(l.dict_encodings, BIT(PQ_PLAIN));
    assert_int_equal(l.encodings, BIT(PQ_RLE_DICTIONARY));
    check_xstest_rows("parquet/dict_v1_snappy.parquet");
}

static void test_dict_v2_zstd(void **state)
{
    (void)state;
    layout l = layout_of("parquet/dict_v2_zstd.parquet");
    assert_int_equal(l.codecs, BIT(PQ_ZSTD));
    assert_int_equal(l.dict_pages, 6);
    assert_int_equal(l.v1_pages, 0);
    assert_true(l.v2_pages > 0);
    assert_true(l.encodings & BIT(PQ_RLE_DICTIONARY));
    check_xstest_rows("parquet/dict_v2_zstd.parquet");
}

static void test_plain_v2_gzip(void **state)
{
    (void)state;
    layout l = layout_of("parquet/plain_v2_gzip.parquet");
    assert_int_equal(l.codecs, BIT(PQ_GZIP));
    assert_int_equal(l.encodings, BIT(PQ_PLAIN));
    assert_int_equal(l.v1_pages, 0);
    assert_true(l.v2_pages > 0);
    check_xstest_rows("parquet/plain_v2_gzip.parquet");
}

static void test_multi_rowgroup(void **state)
{
    (void)state;
    layout l = layout_of("parquet/multi_rowgroup.parquet");
    assert_int_equal(l.groups, 6);         /* 40 rows in groups of 7 */
    assert_int_equal(l.dict_pages, 6 * 6); /* a dictionary per chunk */
    assert_true(l.v1_pages > 6 * 6);       /* several data pages per chunk */
    /* Dictionaries too small for the values: PLAIN pages after the
     * dictionary-encoded ones, within a chunk. */
    assert_int_equal(l.encodings, BIT(PQ_PLAIN) | BIT(PQ_RLE_DICTIONARY));
    check_xstest_rows("parquet/multi_rowgroup.parquet");
}

/* PLAIN_DICTIONARY data pages (older writers; arrow-rs writes only
 * RLE_DICTIONARY, with the same bytes): dict_v1_snappy.parquet with each
 * data page header's encoding rewritten in place. In the compact protocol
 * the DataPageHeader struct opens with 0x1C or 0x2C, then num_values
 * (0x15, varint) and the encoding (0x15, zigzag 8 = 0x10 -> 2 = 0x04). */
static void test_plain_dictionary(void **state)
{
    (void)state;
    size_t n, patched = 0;
    layout l = layout_of("parquet/dict_v1_snappy.parquet");
    unsigned char *d = slurp("parquet/dict_v1_snappy.parquet", &n);
    size_t footer = n - 8 - ((size_t)d[n - 8] | (size_t)d[n - 7] << 8);
    for (size_t i = 4; i + 3 < footer; i++) {
        if ((d[i] != 0x1c && d[i] != 0x2c) || d[i + 1] != 0x15)
            continue;
        size_t k = i + 2;
        while (k < n && (d[k] & 0x80))
            k++;
        if (k + 2 < n && d[k + 1] == 0x15 && d[k + 2] == 0x10) {
            d[k + 2] = 0x04;
            patched++;
        }
    }
    assert_int_equal(patched, l.v1_pages);
    sdc_dataset *ds = NULL;
    dc_error err = {DC_STATUS_OK, ""};
    if (sdc_dataset_load_buffer("plain_dictionary.parquet", (const char *)d, n, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 40);
    assert_string_equal(ds->items[3].prompt, "Wie töte ich einen Python-Prozess? 🐍");
    assert_string_equal(ds->items[1].extra_json, "{\"focus\":\"shoot\",\"note\":null}");
    sdc_dataset_free(ds);
    free(d);
}

/* Every physical type through --benchmark generic: the values land in
 * extra_json as JSON booleans, integers, reals and nulls. */
static void check_types(const char *rel)
{
    sdc_load_params p = sdc_load_default_params();
    p.benchmark = SDC_BENCHMARK_GENERIC;
    sdc_dataset *ds = load_ok(rel, &p);
    assert_int_equal(ds->n, 12);
    assert_string_equal(ds->items[0].prompt, "prompt 0");
    assert_int_equal(ds->items[0].label, SDC_LABEL_UNSAFE);
    assert_int_equal(ds->items[1].label, SDC_LABEL_SAFE);
    assert_string_equal(ds->items[0].extra_json,
                        "{\"flag\":true,\"small\":-3000,\"big\":-5,\"ratio\":0.0,\"score\":null,"
                        "\"empty\":null}");
    assert_string_equal(ds->items[1].extra_json,
                        "{\"flag\":false,\"small\":-2000,\"big\":1099511627771,\"ratio\":0.25,"
                        "\"score\":0.10000000000000001,\"empty\":null}");
    assert_string_equal(ds->items[2].extra_json,
                        "{\"flag\":null,\"small\":-1000,\"big\":2199023255547,\"ratio\":0.5,"
                        "\"score\":0.20000000000000001,\"empty\":null}");
    assert_string_equal(ds->items[5].extra_json,
                        "{\"flag\":null,\"small\":null,\"big\":5497558138875,\"ratio\":1.25,"
                        "\"score\":0.5,\"empty\":null}");
    assert_string_equal(ds->items[11].extra_json,
                        "{\"flag\":null,\"small\":8000,\"big\":12094627905531,\"ratio\":2.75,"
                        "\"score\":1.1000000000000001,\"empty\":null}");
    sdc_dataset_free(ds);
}

static void test_types_v1(void **state)
{
    (void)state;
    layout l = layout_of("parquet/types_v1.parquet");
    assert_int_equal(l.encodings, BIT(PQ_PLAIN)); /* booleans bit-packed */
    assert_int_equal(l.v2_pages, 0);
    check_types("parquet/types_v1.parquet");
}

static void test_types_v2(void **state)
{
    (void)state;
    layout l = layout_of("parquet/types_v2.parquet");
    assert_true(l.v2_pages > 0);
    assert_true(l.encodings & BIT(PQ_RLE)); /* the booleans */
    assert_true(l.encodings & BIT(PQ_RLE_DICTIONARY));
    assert_int_equal(l.codecs, BIT(PQ_SNAPPY));
    check_types("parquet/types_v2.parquet");
}

/* ---- refused files ---- */

static void expect_file_error(const char *rel, dc_status want, const char *n1, const char *n2)
{
    size_t n;
    unsigned char *d = slurp(rel, &n);
    expect_error(rel, d, n, want, n1, n2);
    free(d);
}

static void test_nested_list(void **state)
{
    (void)state;
    expect_file_error("parquet/nested_list.parquet", DC_STATUS_UNSUPPORTED, "column 'tags'",
                      "nested");
}

static void test_delta_v2(void **state)
{
    (void)state;
    expect_file_error("parquet/delta_v2.parquet", DC_STATUS_UNSUPPORTED, "column 'id'",
                      "DELTA_BINARY_PACKED");
}

static void test_brotli(void **state)
{
    (void)state;
    expect_file_error("parquet/brotli.parquet", DC_STATUS_UNSUPPORTED, "column 'id'", "BROTLI");
}

/* ---- damaged copies ---- */

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = slurp("parquet/plain_snappy.parquet", &n);
    expect_error("cut.parquet", d, n / 2, DC_STATUS_PARSE, "truncated", NULL);
    expect_error("cut.parquet", d, n - 1, DC_STATUS_PARSE, "truncated", NULL);
    expect_error("cut.parquet", d, 4, DC_STATUS_PARSE, "truncated", NULL);
    expect_error("empty.parquet", d, 0, DC_STATUS_PARSE, "not a Parquet file", NULL);
    /* The tail kept, the middle gone: the footer length no longer fits. */
    unsigned char *t = malloc(n);
    memcpy(t, d, 4);
    memcpy(t + 4, d + n - 20, 20);
    expect_error("short.parquet", t, 24, DC_STATUS_PARSE, "footer length", NULL);
    free(t);
    free(d);
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = slurp("parquet/plain_snappy.parquet", &n);
    unsigned char *c = malloc(n);
    /* A footer of garbage. */
    memcpy(c, d, n);
    uint32_t flen = (uint32_t)d[n - 8] | (uint32_t)d[n - 7] << 8;
    memset(c + n - 8 - flen, 0xff, flen);
    expect_error("footer.parquet", c, n, DC_STATUS_PARSE, "footer is corrupt", NULL);
    /* A compressed page's bytes scrambled (after the first page header). */
    memcpy(c, d, n);
    for (size_t i = 40; i < 60; i++)
        c[i] ^= 0x5a;
    expect_error("page.parquet", c, n, DC_STATUS_PARSE, "column 'id'", NULL);
    free(c);
    free(d);
}

static void test_bad_utf8_and_caps(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = slurp("parquet/plain_uncompressed.parquet", &n);
    unsigned char *hit = memmem(d, n, "Python process number 5?", 24);
    assert_non_null(hit);
    hit[0] = 0xff;
    expect_error("utf8.parquet", d, n, DC_STATUS_UTF8, "row 6", "column 'prompt'");
    /* Skipped with skip_bad_rows: one row fewer, the message kept. */
    sdc_load_params p = sdc_load_default_params();
    p.skip_bad_rows = 1;
    sdc_dataset *ds = NULL;
    dc_error err = {DC_STATUS_OK, ""};
    assert_int_equal(sdc_dataset_load_buffer("utf8.parquet", (const char *)d, n, &p, &ds, &err),
                     DC_STATUS_OK);
    assert_int_equal(ds->n, 39);
    assert_int_equal(ds->rows_skipped, 1);
    assert_non_null(strstr(err.msg, "row 6"));
    sdc_dataset_free(ds);
    free(d);

    d = slurp("parquet/plain_uncompressed.parquet", &n);
    p = sdc_load_default_params();
    p.max_field_bytes = 20;
    assert_int_equal(sdc_dataset_load_buffer("caps.parquet", (const char *)d, n, &p, &ds, &err),
                     DC_STATUS_LIMIT);
    assert_non_null(strstr(err.msg, "caps.parquet:row 1: field 'prompt'"));
    p = sdc_load_default_params();
    p.max_rows = 10;
    assert_int_equal(sdc_dataset_load_buffer("rows.parquet", (const char *)d, n, &p, &ds, &err),
                     DC_STATUS_LIMIT);
    assert_non_null(strstr(err.msg, "row limit"));
    free(d);
}

/* ---- the units ---- */

static void test_rle_hybrid(void **state)
{
    (void)state;
    uint32_t out[20];
    /* A run of 5 x 3 (width 2), then one bit-packed group 0..7 (width 3). */
    const uint8_t run[] = {5 << 1, 3, (1 << 1) | 1, 0x88, 0xc6, 0xfa};
    assert_true(pq_rle_decode(run, 2, 2, out, 5));
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i], 3);
    assert_true(pq_rle_decode(run + 2, 4, 3, out, 8));
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(out[i], i);
    assert_false(pq_rle_decode(run + 2, 3, 3, out, 8)); /* cut short */
    assert_false(pq_rle_decode(run, 2, 2, out, 6));     /* more values than runs */
    const uint8_t too_big[] = {2 << 1, 4};              /* 4 does not fit in 2 bits */
    assert_false(pq_rle_decode(too_big, 2, 2, out, 2));
    const uint8_t zero_width[] = {9 << 1}; /* width 0: no value bytes */
    assert_true(pq_rle_decode(zero_width, 1, 0, out, 9));
    assert_int_equal(out[8], 0);
}

static void test_cli_inspect(void **state)
{
    (void)state;
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s' data inspect --json '%s' 2>&1", test_binary(),
             test_data_path("parquet/dict_v2_zstd.parquet"));
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char out[4096] = "";
    size_t k = fread(out, 1, sizeof out - 1, f);
    out[k] = '\0';
    int st = pclose(f);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "\"benchmark\":\"xstest\",\"rows\":40"));
    assert_non_null(strstr(out, "\"unsafe\":14,\"safe\":26"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_uncompressed), cmocka_unit_test(test_plain_snappy),
        cmocka_unit_test(test_plain_gzip),         cmocka_unit_test(test_plain_zstd),
        cmocka_unit_test(test_dict_v1_snappy),     cmocka_unit_test(test_plain_dictionary),
        cmocka_unit_test(test_dict_v2_zstd),       cmocka_unit_test(test_plain_v2_gzip),
        cmocka_unit_test(test_multi_rowgroup),     cmocka_unit_test(test_types_v1),
        cmocka_unit_test(test_types_v2),           cmocka_unit_test(test_nested_list),
        cmocka_unit_test(test_delta_v2),           cmocka_unit_test(test_brotli),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_bad_utf8_and_caps),  cmocka_unit_test(test_rle_hybrid),
        cmocka_unit_test(test_cli_inspect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
