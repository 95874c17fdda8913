/* safety_common.h - helpers of the safety-layer tests. */
#ifndef SDC_TEST_SAFETY_COMMON_H
#define SDC_TEST_SAFETY_COMMON_H

#include <sys/stat.h>

#include "test_common.h"

/* Path of a file under the shared data folder (static buffer). The folder
 * comes from SDC_SHARED_DIR (set by tests/safety.cmake); a missing folder
 * fails the test: these checks must not turn green by skipping. */
static inline const char *shared_path(const char *rel)
{
    static char buf[4096];
    const char *d = getenv("SDC_SHARED_DIR");
    struct stat sb;
    if (!d || stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode))
        fail_msg("the shared data folder is missing (SDC_SHARED_DIR='%s'): these tests read "
                 "the real benchmark files in ../shared; set SDC_SHARED_DIR when configuring",
                 d ? d : "");
    snprintf(buf, sizeof buf, "%s/%s", d, rel);
    if (stat(buf, &sb) != 0)
        fail_msg("missing shared file %s", buf);
    return buf;
}

#endif
