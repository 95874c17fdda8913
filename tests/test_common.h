/* test_common.h - shared bits of the cmocka tests. */
#ifndef SDC_TEST_COMMON_H
#define SDC_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a file under tests/data (static buffer). */
static inline const char *test_data_path(const char *rel)
{
    static char buf[4096];
    const char *d = getenv("SDC_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", d ? d : SDC_TEST_DATA_DIR, rel);
    return buf;
}

/* The safety-deepconf program under test. */
static inline const char *test_binary(void)
{
    const char *b = getenv("SDC_BINARY");
    return b ? b : SDC_BINARY_PATH;
}

/* Bit-for-bit equality of doubles (so -0.0 != 0.0 and NaN == NaN). */
#define assert_double_bits(a, b)                                              \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (memcmp(&a_, &b_, sizeof a_) != 0)                                 \
            fail_msg("%s = %.17g, expected %.17g (bit for bit)", #a, a_, b_); \
    } while (0)

/* Relative closeness (1e-12 unless said). */
#define assert_close_rel(a, b, tol)                                                           \
    do {                                                                                      \
        double a_ = (a), b_ = (b);                                                            \
        double s_ = fabs(b_) > 1.0 ? fabs(b_) : 1.0;                                          \
        if (!(fabs(a_ - b_) <= (tol)*s_))                                                     \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

#endif
