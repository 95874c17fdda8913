/* fs.c - file-system helpers. */
#include "util/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"

int dc_mkdirs(const char *dir, unsigned mode)
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

char *dc_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    dc_buf b;
    dc_buf_init(&b, 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (dc_buf_append(&b, chunk, n) != DC_STATUS_OK)
            break;
    int bad = ferror(f), nomem = b.st != DC_STATUS_OK;
    fclose(f);
    if (!bad && !nomem && dc_buf_append(&b, "", 0) != DC_STATUS_OK)
        nomem = 1;
    if (bad || nomem) {
        dc_buf_free(&b);
        errno = nomem ? ENOMEM : EIO;
        return NULL;
    }
    *len = b.len;
    return dc_buf_take(&b);
}
