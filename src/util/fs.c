/* fs.c - file-system helpers. */
#include "util/fs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int sdc_mkdirs(const char *dir, unsigned mode)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST ? -1 : 0;
}
