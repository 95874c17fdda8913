/* test_synthetic.c - the built-in benchmark: fixed bytes, balance, variety. */
#include "test_common.h"

#include <stdint.h>

#include "safety/sdc_synthetic.h"

#ifndef SYNTH_DIGEST_12345
#define SYNTH_DIGEST_12345 0x6069a10d4dffdc58ull
#endif

static sdc_dataset *synth(size_t n, uint64_t seed)
{
    sdc_synth_params p = sdc_synth_default_params();
    p.num_instances = n;
    p.seed = seed;
    sdc_dataset *ds = NULL;
    dc_error err;
    assert_int_equal(sdc_synth_generate(&p, &ds, &err), DC_STATUS_OK);
    assert_int_equal(ds->n, n);
    return ds;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return (h ^ 0xFF) * 0x100000001B3ull;
}

static uint64_t digest(const sdc_dataset *ds)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < ds->n; i++) {
        h = fnv(h, ds->items[i].id);
        h = fnv(h, ds->items[i].prompt);
        h = fnv(h, sdc_label_name(ds->items[i].label));
        h = fnv(h, ds->items[i].category);
        h = fnv(h, ds->items[i].extra_json);
    }
    return h;
}

/* The same seed gives the same bytes on any machine: the digest of seed
 * 12345 is pinned (it changes only when the templates change on purpose). */
static void test_fixed_bytes(void **state)
{
    (void)state;
    sdc_dataset *a = synth(64, 12345), *b = synth(64, 12345);
    assert_int_equal(digest(a), digest(b));
    if (digest(a) != SYNTH_DIGEST_12345)
        fail_msg("digest of seed 12345 is 0x%016llx, pinned 0x%016llx",
                 (unsigned long long)digest(a), (unsigned long long)SYNTH_DIGEST_12345);
    sdc_dataset *c = synth(64, 12346);
    assert_true(digest(a) != digest(c));
    /* A longer run starts with the same instances. */
    sdc_dataset *d = synth(200, 12345);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->items[i].prompt, d->items[i].prompt);
    sdc_dataset_free(a);
    sdc_dataset_free(b);
    sdc_dataset_free(c);
    sdc_dataset_free(d);
}

static void test_balance_and_categories(void **state)
{
    (void)state;
    sdc_dataset *ds = synth(1000, 7);
    size_t u, s, k;
    sdc_dataset_count_labels(ds, &u, &s, &k);
    assert_int_equal(u, 500);
    assert_int_equal(s, 500);
    assert_int_equal(k, 0);
    const char *const *names;
    size_t nh = sdc_synth_harm_categories(&names);
    assert_true(nh >= 8);
    size_t benign = 0, border = 0;
    for (size_t c = 0; c < nh; c++) {
        size_t n = 0;
        for (size_t i = 0; i < ds->n; i++)
            n += !strcmp(ds->items[i].category, names[c]) && ds->items[i].label == SDC_LABEL_UNSAFE;
        assert_int_equal(n, 500 / nh);
    }
    for (size_t i = 0; i < ds->n; i++) {
        benign += !strcmp(ds->items[i].category, "benign");
        border += !strncmp(ds->items[i].category, "borderline_", 11);
        assert_int_equal(ds->items[i].benchmark, SDC_BENCHMARK_SYNTHETIC);
    }
    assert_int_equal(benign, 250);
    assert_int_equal(border, 250);
    sdc_dataset_free(ds);
}

static void test_variety(void **state)
{
    (void)state;
    sdc_dataset *ds = synth(400, 3);
    size_t distinct = 0;
    for (size_t i = 0; i < ds->n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(ds->items[i].prompt, ds->items[j].prompt);
        distinct += !seen;
    }
    assert_true(distinct >= 360); /* composed, not one sentence per label */
    /* Same category and label, different wording. */
    const char *first = NULL;
    int varied = 0;
    for (size_t i = 0; i < ds->n && !varied; i++)
        if (!strcmp(ds->items[i].category, "weapons")) {
            if (!first)
                first = ds->items[i].prompt;
            else
                varied = strcmp(first, ds->items[i].prompt) != 0;
        }
    assert_true(varied);
    sdc_dataset_free(ds);
}

static void test_bad_params(void **state)
{
    (void)state;
    sdc_synth_params p = sdc_synth_default_params();
    assert_int_equal(p.num_instances, 100);
    p.num_instances = 0;
    sdc_dataset *ds = NULL;
    dc_error err;
    assert_int_equal(sdc_synth_generate(&p, &ds, &err), DC_STATUS_INVALID_ARG);
    assert_null(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_bytes),
        cmocka_unit_test(test_balance_and_categories),
        cmocka_unit_test(test_variety),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
