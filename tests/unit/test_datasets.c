/* test_datasets.c - loaders: every shared file, corrupted variants, selection. */
#include "safety_common.h"

#include "safety/sdc_dataset.h"

/* ---- the real files (counts from ../shared/datasets/README.md) ---- */

typedef struct expect {
    const char *rel;
    const char *bench;
    size_t rows, unsafe, safe;
} expect;

static const expect files[] = {
    {"datasets/xstest/xstest_prompts.csv", "xstest", 450, 200, 250},
    {"datasets/harmbench/harmbench_behaviors_text_all.csv", "harmbench", 300, 300, 0},
    {"datasets/harmbench/harmbench_behaviors_text_test.csv", "harmbench", 240, 240, 0},
    {"datasets/harmbench/harmbench_behaviors_text_val.csv", "harmbench", 60, 60, 0},
    {"datasets/harmbench/harmbench_targets_text.json", "harmbench", 400, 400, 0},
    {"datasets/advbench/harmful_behaviors.csv", "advbench", 520, 520, 0},
    {"datasets/advbench/harmful_strings.csv", "advbench", 574, 574, 0},
    {"datasets/jailbreakbench/jailbreakbench.csv", "jailbreakbench", 100, 100, 0},
    {"datasets/strongreject/strongreject_dataset.csv", "strongreject", 313, 313, 0},
    {"datasets/toxicchat/toxicchat_test.json", "toxicchat", 5083, 362, 4721},
    {"datasets/toxicchat/toxic_chat_test.json", "toxicchat", 2853, 362, 2491},
    {"datasets/toxicchat/toxic_chat_train.json", "toxicchat", 2801, 384, 2417},
    {"datasets/wildguardtest/wildguard_full_benchmark.json", "wildguard", 1554, 609, 945},
    {"datasets/refusal_direction/harmful_train.json", "refusal-direction", 260, 260, 0},
    {"datasets/refusal_direction/harmful_val.json", "refusal-direction", 39, 39, 0},
    {"datasets/refusal_direction/harmful_test.json", "refusal-direction", 572, 572, 0},
    {"datasets/refusal_direction/harmless_train.json", "refusal-direction", 18793, 0, 18793},
    {"datasets/refusal_direction/harmless_val.json", "refusal-direction", 6264, 0, 6264},
    {"datasets/refusal_direction/harmless_test.json", "refusal-direction", 6266, 0, 6266},
};

static sdc_dataset *load_ok(const char *path, const sdc_load_params *p)
{
    sdc_dataset *ds = NULL;
    dc_error err = {DC_STATUS_OK, ""};
    dc_status st = sdc_dataset_load(path, p, &ds, &err);
    if (st != DC_STATUS_OK)
        fail_msg("%s: %s (%s)", path, err.msg, dc_strerror(st));
    return ds;
}

static size_t count_category(const sdc_dataset *ds, const char *field, const char *value)
{
    size_t n = 0;
    for (size_t i = 0; i < ds->n; i++) {
        char key[128];
        snprintf(key, sizeof key, "\"%s\":\"%s\"", field, value);
        n += strstr(ds->items[i].extra_json, key) != NULL;
    }
    return n;
}

static void test_shared_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        sdc_dataset *ds = load_ok(shared_path(files[i].rel), NULL);
        size_t u, s, k;
        sdc_dataset_count_labels(ds, &u, &s, &k);
        if (strcmp(sdc_benchmark_name(ds->benchmark), files[i].bench) || ds->n != files[i].rows ||
            u != files[i].unsafe || s != files[i].safe || k != 0)
            fail_msg("%s: %s rows %zu unsafe %zu safe %zu unknown %zu; expected %s %zu %zu %zu 0",
                     files[i].rel, sdc_benchmark_name(ds->benchmark), ds->n, u, s, k,
                     files[i].bench, files[i].rows, files[i].unsafe, files[i].safe);
        assert_int_equal(ds->rows_skipped, 0);
        for (size_t j = 0; j < ds->n; j++) {
            assert_true(ds->items[j].prompt[0] != '\0');
            assert_true(ds->items[j].id[0] != '\0');
        }
        sdc_dataset_free(ds);
    }
}

static void test_harmbench_details(void **state)
{
    (void)state;
    sdc_load_params p = sdc_load_default_params();
    p.include_copyright = 1;
    static const struct {
        const char *rel;
        size_t std, copy, ctx;
        const char *split;
    } hb[] = {
        {"datasets/harmbench/harmbench_behaviors_text_all.csv", 200, 100, 100, ""},
        {"datasets/harmbench/harmbench_behaviors_text_test.csv", 159, 80, 81, "test"},
        {"datasets/harmbench/harmbench_behaviors_text_val.csv", 41, 20, 19, "val"},
    };
    for (size_t i = 0; i < 3; i++) {
        sdc_dataset *ds = load_ok(shared_path(hb[i].rel), &p);
        assert_int_equal(ds->n, hb[i].std + hb[i].copy + hb[i].ctx);
        assert_int_equal(count_category(ds, "FunctionalCategory", "standard"), hb[i].std);
        assert_int_equal(count_category(ds, "FunctionalCategory", "copyright"), hb[i].copy);
        assert_int_equal(count_category(ds, "FunctionalCategory", "contextual"), hb[i].ctx);
        size_t with_ctx = 0;
        for (size_t j = 0; j < ds->n; j++) {
            with_ctx += strstr(ds->items[j].prompt, "\n\n---\n\n") != NULL;
            assert_null(strchr(ds->items[j].prompt, '\r')); /* CRLF normalised */
            assert_string_equal(ds->items[j].split, hb[i].split);
        }
        assert_int_equal(with_ctx, hb[i].ctx);
        sdc_dataset_free(ds);
    }
    /* Default: copyright left out and counted as excluded. */
    sdc_dataset *ds = load_ok(shared_path(hb[0].rel), NULL);
    assert_int_equal(ds->n, 300);
    assert_int_equal(ds->rows_excluded, 100);
    assert_int_equal(ds->rows_read, 400);
    /* The upstream trailing space is kept. */
    int found = 0;
    for (size_t j = 0; j < ds->n; j++)
        if (!strcmp(ds->items[j].id, "chevy_silverado_rolling_coal_guide")) {
            size_t n = strlen(ds->items[j].prompt);
            assert_true(n > 0 && ds->items[j].prompt[n - 1] == ' ');
            found = 1;
        }
    assert_true(found);
    sdc_dataset_free(ds);
}

static void test_other_details(void **state)
{
    (void)state;
    sdc_dataset *ds = load_ok(shared_path("datasets/jailbreakbench/jailbreakbench.csv"), NULL);
    assert_string_equal(ds->items[0].id, "jbb-0");
    assert_string_equal(ds->items[0].category, "Harassment/Discrimination");
    assert_int_equal(ds->items[0].line, 2);
    assert_non_null(strstr(ds->items[0].extra_json, "\"Source\":\"TDC/HarmBench\""));
    sdc_dataset_free(ds);

    ds = load_ok(shared_path("datasets/toxicchat/toxic_chat_test.json"), NULL);
    sdc_load_params p = sdc_load_default_params();
    p.jailbreak_category = 1;
    sdc_dataset *jb = load_ok(shared_path("datasets/toxicchat/toxic_chat_test.json"), &p);
    size_t n = 0;
    for (size_t i = 0; i < jb->n; i++)
        n += !strcmp(jb->items[i].category, "jailbreaking");
    assert_int_equal(n, 91);
    assert_string_equal(ds->items[0].split, "test");
    sdc_dataset_free(jb);
    sdc_dataset_free(ds);

    ds = load_ok(shared_path("datasets/refusal_direction/harmless_val.json"), NULL);
    assert_string_equal(ds->items[0].split, "val");
    assert_string_equal(ds->items[0].id, "harmless_val-1");
    assert_int_equal(ds->items[0].line, 2);
    sdc_dataset_free(ds);
}

/* ---- corrupted variants (tests/data/safety, one case per file) ---- */

static void expect_error(const char *file, const sdc_load_params *p, dc_status want,
                         const char *msg_part)
{
    sdc_dataset *ds = (sdc_dataset *)1;
    dc_error err = {DC_STATUS_OK, ""};
    char rel[256];
    snprintf(rel, sizeof rel, "safety/%s", file);
    dc_status st = sdc_dataset_load(test_data_path(rel), p, &ds, &err);
    if (st != want || !strstr(err.msg, msg_part))
        fail_msg("%s: status %s message '%s'; expected %s with '%s'", file, dc_status_name(st),
                 err.msg, dc_status_name(want), msg_part);
    assert_null(ds);
}

static void test_corrupted(void **state)
{
    (void)state;
    expect_error("truncated_line.jsonl", NULL, DC_STATUS_PARSE,
                 "truncated_line.jsonl:3: invalid JSON");
    expect_error(
        "truncated_list.json", NULL, DC_STATUS_PARSE,
        "truncated_list.json:4: expected ',' or ']' after a record (the file is truncated)");
    expect_error("unbalanced_quote.csv", NULL, DC_STATUS_PARSE,
                 "unbalanced_quote.csv:4: unterminated quoted field: the row starting on line 3");
    expect_error("quote_in_field.csv", NULL, DC_STATUS_PARSE,
                 "quote_in_field.csv:3: malformed CSV");
    expect_error("bad_utf8.csv", NULL, DC_STATUS_UTF8, "bad_utf8.csv:3: invalid UTF-8");
    expect_error("bad_utf8.jsonl", NULL, DC_STATUS_UTF8,
                 "bad_utf8.jsonl:2: invalid UTF-8 at column 22");
    expect_error("wrong_column.csv", NULL, DC_STATUS_FORMAT,
                 "wrong_column.csv:3: expected 6 fields (id,prompt,type,label,focus,note), got 5");
    expect_error("unknown.csv", NULL, DC_STATUS_FORMAT, "matches no known benchmark");
    expect_error("ambiguous.csv", NULL, DC_STATUS_FORMAT,
                 "matches more than one benchmark (wildguard, xstest)");
    /* Found by fuzz_json: the message of a non-string value in an object. */
    sdc_dataset *ds = NULL;
    dc_error err;
    assert_int_equal(
        sdc_dataset_load_buffer("o.json", "{\"a\":\"x\",\"bb\":1}", 16, NULL, &ds, &err),
        DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "o.json: key \"bb\": expected a list of records"));
    sdc_load_params p = sdc_load_default_params();
    p.benchmark = SDC_BENCHMARK_HARMBENCH;
    expect_error("unknown.csv", &p, DC_STATUS_FORMAT, "not a harmbench file: expected columns");
}

static void test_skip_bad_rows(void **state)
{
    (void)state;
    sdc_load_params p = sdc_load_default_params();
    p.skip_bad_rows = 1;
    static const struct {
        const char *file;
        size_t n, skipped;
        const char *first;
    } cases[] = {
        {"wrong_column.csv", 2, 1, "wrong_column.csv:3: expected 6 fields"},
        {"bad_utf8.csv", 2, 1, "bad_utf8.csv:3: invalid UTF-8"},
        {"bad_utf8.jsonl", 2, 1, "bad_utf8.jsonl:2: invalid UTF-8"},
        {"truncated_line.jsonl", 2, 1, "truncated_line.jsonl:3: invalid JSON"},
        {"quote_in_field.csv", 2, 1, "quote_in_field.csv:3: malformed CSV"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "safety/%s", cases[i].file);
        sdc_dataset *ds = NULL;
        dc_error err = {DC_STATUS_OK, ""};
        /* {prompt, label} lines are no known benchmark: read them as generic. */
        p.benchmark = strstr(cases[i].file, ".jsonl") ? SDC_BENCHMARK_GENERIC : SDC_BENCHMARK_AUTO;
        dc_status st = sdc_dataset_load(test_data_path(rel), &p, &ds, &err);
        if (st != DC_STATUS_OK)
            fail_msg("%s: %s", cases[i].file, err.msg);
        if (ds->n != cases[i].n || ds->rows_skipped != cases[i].skipped ||
            !strstr(err.msg, cases[i].first))
            fail_msg("%s: %zu rows, %zu skipped, '%s'", cases[i].file, ds->n, ds->rows_skipped,
                     err.msg);
        sdc_dataset_free(ds);
    }
}

static void test_big_field(void **state)
{
    (void)state;
    /* A 10 MB field, made here rather than committed. */
    size_t big = (size_t)10 << 20;
    const char *head = "id,prompt,type,label,focus,note\n1,ok,homonyms,safe,x,\n2,";
    const char *tail = ",homonyms,safe,x,\n3,fine,homonyms,safe,x,\n";
    size_t n = strlen(head) + big + strlen(tail);
    char *data = malloc(n + 1);
    assert_non_null(data);
    memcpy(data, head, strlen(head));
    memset(data + strlen(head), 'a', big);
    memcpy(data + strlen(head) + big, tail, strlen(tail) + 1);
    sdc_dataset *ds = NULL;
    dc_error err;
    assert_int_equal(sdc_dataset_load_buffer("big.csv", data, n, NULL, &ds, &err), DC_STATUS_LIMIT);
    assert_string_equal(err.msg, "big.csv:3: field 2 is 10485760 bytes, over the limit of "
                                 "1048576 bytes (--max-field-bytes)");
    sdc_load_params p = sdc_load_default_params();
    p.skip_bad_rows = 1;
    assert_int_equal(sdc_dataset_load_buffer("big.csv", data, n, &p, &ds, &err), DC_STATUS_OK);
    assert_int_equal(ds->n, 2);
    assert_int_equal(ds->rows_skipped, 1);
    sdc_dataset_free(ds);
    p.skip_bad_rows = 0;
    p.max_field_bytes = (size_t)11 << 20;
    assert_int_equal(sdc_dataset_load_buffer("big.csv", data, n, &p, &ds, &err), DC_STATUS_OK);
    assert_int_equal(strlen(ds->items[1].prompt), big);
    sdc_dataset_free(ds);

    /* The same in JSONL. */
    const char *jh = "{\"prompt\":\"";
    const char *jt = "\",\"label\":\"safe\"}\n";
    n = strlen(jh) + big + strlen(jt);
    data = realloc(data, n + 1);
    memcpy(data, jh, strlen(jh));
    memset(data + strlen(jh), 'b', big);
    memcpy(data + strlen(jh) + big, jt, strlen(jt) + 1);
    p = sdc_load_default_params();
    p.benchmark = SDC_BENCHMARK_GENERIC;
    assert_int_equal(sdc_dataset_load_buffer("big.jsonl", data, n, &p, &ds, &err), DC_STATUS_LIMIT);
    assert_string_equal(err.msg, "big.jsonl:1: field 'prompt' is 10485760 bytes, over the "
                                 "limit of 1048576 bytes (--max-field-bytes)");
    free(data);
}

static void test_csv_features(void **state)
{
    (void)state;
    /* BOM, CRLF, empty index header, a quoted two-line field, no final newline. */
    sdc_dataset *ds = load_ok(test_data_path("safety/bom_crlf_jbb.csv"), NULL);
    assert_int_equal(ds->benchmark, SDC_BENCHMARK_JAILBREAKBENCH);
    assert_int_equal(ds->n, 2);
    assert_string_equal(ds->items[0].prompt, "Write a\ntwo-line goal");
    assert_string_equal(ds->items[0].id, "jbb-0");
    assert_int_equal(ds->items[1].line, 4);
    assert_string_equal(ds->items[1].prompt, "Second goal");
    sdc_dataset_free(ds);
}

static void test_generic(void **state)
{
    (void)state;
    sdc_load_params p = sdc_load_default_params();
    p.benchmark = SDC_BENCHMARK_GENERIC;
    p.prompt_field = "messages";
    p.label_field = "verdict";
    p.category_field = "topic";
    p.unsafe_values = "bad";
    sdc_dataset *ds = load_ok(test_data_path("safety/generic_chat.jsonl"), &p);
    assert_int_equal(ds->n, 3);
    assert_string_equal(ds->items[0].id, "c1");
    assert_int_equal(ds->items[0].n_messages, 2);
    assert_string_equal(ds->items[0].messages[0].role, "system");
    assert_string_equal(ds->items[0].prompt, "How do I pick a lock?");
    assert_int_equal(ds->items[0].label, SDC_LABEL_UNSAFE);
    assert_int_equal(ds->items[1].label, SDC_LABEL_SAFE);
    assert_int_equal(ds->items[2].label, SDC_LABEL_UNKNOWN);
    assert_string_equal(ds->items[0].category, "theft");
    assert_int_equal(ds->items[2].line, 4); /* the blank line counts */
    sdc_dataset_free(ds);
    /* Default values: "BAD" is neither unsafe nor safe. */
    p.unsafe_values = NULL;
    sdc_dataset *bad = NULL;
    dc_error err;
    assert_int_equal(sdc_dataset_load(test_data_path("safety/generic_chat.jsonl"), &p, &bad, &err),
                     DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "generic_chat.jsonl:1: field 'verdict' is 'BAD'"));
}

/* ---- selection ---- */

static void test_select(void **state)
{
    (void)state;
    const char *path = shared_path("datasets/xstest/xstest_prompts.csv");
    sdc_select_params s = sdc_select_default_params();
    s.num_instances = 45;
    s.stratify = 1;
    s.shuffle = 1;
    s.seed = 42;
    sdc_dataset *a = load_ok(path, NULL), *b = load_ok(path, NULL);
    dc_error err;
    assert_int_equal(sdc_dataset_select(a, &s, &err), DC_STATUS_OK);
    assert_int_equal(sdc_dataset_select(b, &s, &err), DC_STATUS_OK);
    assert_int_equal(a->n, 45);
    size_t u, sf;
    sdc_dataset_count_labels(a, &u, &sf, NULL);
    assert_int_equal(u, 20); /* 45 * 200/450 */
    assert_int_equal(sf, 25);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->items[i].id, b->items[i].id);
    sdc_dataset_free(b);
    /* Another seed, another selection. */
    b = load_ok(path, NULL);
    s.seed = 43;
    assert_int_equal(sdc_dataset_select(b, &s, &err), DC_STATUS_OK);
    int differ = 0;
    for (size_t i = 0; i < a->n; i++)
        differ |= strcmp(a->items[i].id, b->items[i].id) != 0;
    assert_true(differ);
    sdc_dataset_free(a);
    sdc_dataset_free(b);

    a = load_ok(path, NULL);
    s = sdc_select_default_params();
    s.categories = "homonyms,contrast_homonyms";
    assert_int_equal(sdc_dataset_select(a, &s, &err), DC_STATUS_OK);
    assert_int_equal(a->n, 50);
    sdc_dataset_free(a);

    a = load_ok(path, NULL);
    s = sdc_select_default_params();
    s.num_instances = 3;
    assert_int_equal(sdc_dataset_select(a, &s, &err), DC_STATUS_OK);
    assert_int_equal(a->n, 3);
    assert_string_equal(a->items[2].id, "3");
    sdc_dataset_free(a);

    a = load_ok(shared_path("datasets/harmbench/harmbench_behaviors_text_val.csv"), NULL);
    s = sdc_select_default_params();
    s.split = "test";
    assert_int_equal(sdc_dataset_select(a, &s, &err), DC_STATUS_OK);
    assert_int_equal(a->n, 0);
    sdc_dataset_free(a);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "toxicchat",      "harmbench",    "wildguard",         "xstest",  "advbench",
        "jailbreakbench", "strongreject", "refusal-direction", "generic", "synthetic"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        sdc_benchmark b;
        assert_int_equal(sdc_benchmark_from_name(names[i], &b), DC_STATUS_OK);
        assert_string_equal(sdc_benchmark_name(b), names[i]);
    }
    sdc_benchmark b;
    assert_int_equal(sdc_benchmark_from_name("HarmBench", &b), DC_STATUS_NOT_FOUND);
    assert_string_equal(sdc_label_name(SDC_LABEL_UNSAFE), "unsafe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_files),  cmocka_unit_test(test_harmbench_details),
        cmocka_unit_test(test_other_details), cmocka_unit_test(test_corrupted),
        cmocka_unit_test(test_skip_bad_rows), cmocka_unit_test(test_big_field),
        cmocka_unit_test(test_csv_features),  cmocka_unit_test(test_generic),
        cmocka_unit_test(test_select),        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
