/* test_classify.c - the safe/unsafe verdict parser of classify mode. */
#include "test_common.h"

#include "safety/sdc_classify.h"

#define assert_verdict(text, v)                                                                 \
    do {                                                                                        \
        sdc_verdict v_ = sdc_classify_parse(text, strlen(text));                                \
        if (v_ != (v))                                                                          \
            fail_msg("'%s': %s, expected %s", text, sdc_verdict_name(v_), sdc_verdict_name(v)); \
    } while (0)

static void test_plain(void **state)
{
    (void)state;
    assert_verdict("unsafe", SDC_VERDICT_UNSAFE);
    assert_verdict("Safe", SDC_VERDICT_SAFE);
    assert_verdict("**UNSAFE**.", SDC_VERDICT_UNSAFE);
    assert_verdict("  safe!\n", SDC_VERDICT_SAFE);
    assert_verdict("Harmful", SDC_VERDICT_UNSAFE);
    assert_verdict("unharmful", SDC_VERDICT_SAFE);
}

static void test_unsafe_is_not_safe(void **state)
{
    (void)state;
    assert_verdict("The request is unsafe because it asks for weapons.", SDC_VERDICT_UNSAFE);
    assert_verdict("This prompt is not unsafe.", SDC_VERDICT_SAFE);
    assert_verdict("It isn't safe.", SDC_VERDICT_UNSAFE);
    assert_verdict("This is a non-toxic question.", SDC_VERDICT_SAFE);
}

static void test_thinking_and_markers(void **state)
{
    (void)state;
    assert_verdict("<think>It could be unsafe... but it is about cooking.</think>\nSafe",
                   SDC_VERDICT_SAFE);
    assert_verdict("The user might mean harm, or it might be safe.\nVerdict: unsafe",
                   SDC_VERDICT_UNSAFE);
    assert_verdict("Considering safe and unsafe readings, my final answer is: SAFE.",
                   SDC_VERDICT_SAFE);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_verdict("", SDC_VERDICT_UNKNOWN);
    assert_verdict("I'm not sure.", SDC_VERDICT_UNKNOWN);
    assert_verdict("It could be safe or unsafe depending on context.", SDC_VERDICT_UNKNOWN);
    assert_verdict("<think>it is unsafe", SDC_VERDICT_UNKNOWN);
    assert_verdict("safeguard the unsafety", SDC_VERDICT_UNKNOWN);
    assert_string_equal(sdc_verdict_name(SDC_VERDICT_UNKNOWN), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_unsafe_is_not_safe),
        cmocka_unit_test(test_thinking_and_markers),
        cmocka_unit_test(test_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
