/* test_status.c - status enum, error detail and the allocator hook. */
#include "test_common.h"

#include "deepconf/dc_status.h"
#include "deepconf/dc_version.h"

static void test_strerror_names(void **state)
{
    (void)state;
    assert_string_equal(dc_strerror(DC_STATUS_OK), "success");
    assert_string_equal(dc_strerror(DC_STATUS_NOMEM), "out of memory");
    assert_string_equal(dc_status_name(DC_STATUS_PARSE), "PARSE");
    assert_string_equal(dc_strerror((dc_status)-999), "unknown status");
    assert_string_equal(dc_status_name((dc_status)-999), "UNKNOWN");
    /* every value has a distinct name and a non-empty message */
#define CHECK_(name, value, msg)                                  \
    assert_int_equal(DC_STATUS_##name, value);                    \
    assert_string_equal(dc_status_name(DC_STATUS_##name), #name); \
    assert_true(strlen(dc_strerror(DC_STATUS_##name)) > 0);       \
    assert_true((value) <= 0);
    DC_STATUS_MAP(CHECK_)
#undef CHECK_
}

static void test_error_set(void **state)
{
    (void)state;
    dc_error e = {0};
    assert_int_equal(dc_error_set(&e, DC_STATUS_FORMAT, "line %d: %s", 7, "bad"), DC_STATUS_FORMAT);
    assert_int_equal(e.status, DC_STATUS_FORMAT);
    assert_string_equal(e.msg, "line 7: bad");
    assert_int_equal(dc_error_set(NULL, DC_STATUS_IO, "x"), DC_STATUS_IO);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    dc_error_set(&e, DC_STATUS_LIMIT, "%s", big);
    assert_int_equal(strlen(e.msg), DC_ERROR_MSG_MAX - 1);
}

static size_t g_allocs, g_frees;
static int g_fail_after = -1;

static void *count_malloc(void *ctx, size_t n)
{
    (void)ctx;
    if (g_fail_after == 0)
        return NULL;
    if (g_fail_after > 0)
        g_fail_after--;
    g_allocs++;
    return malloc(n ? n : 1);
}

static void *count_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (!p)
        g_allocs++;
    return realloc(p, n ? n : 1);
}

static void count_free(void *ctx, void *p)
{
    (void)ctx;
    g_frees++;
    free(p);
}

static void test_allocator_hook(void **state)
{
    (void)state;
    dc_allocator a = {count_malloc, count_realloc, count_free, NULL};
    assert_int_equal(dc_set_allocator(&a), DC_STATUS_OK);
    char *s = dc_strdup("hello");
    assert_string_equal(s, "hello");
    int *v = dc_calloc(4, sizeof *v);
    assert_int_equal(v[3], 0);
    dc_free(s);
    dc_free(v);
    assert_int_equal(g_allocs, 2);
    assert_int_equal(g_frees, 2);
    /* overflow is refused, not wrapped */
    assert_null(dc_calloc(SIZE_MAX / 2, 4));
    assert_null(dc_reallocarray(NULL, SIZE_MAX / 2, 4));
    g_fail_after = 0;
    assert_null(dc_strdup("x"));
    g_fail_after = -1;
    dc_allocator bad = {count_malloc, NULL, count_free, NULL};
    assert_int_equal(dc_set_allocator(&bad), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_set_allocator(NULL), DC_STATUS_OK);
    dc_free(dc_malloc(8)); /* back on malloc: the counters stay */
    assert_int_equal(g_allocs, 2);
}

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(dc_version(), DC_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_allocator_hook),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
