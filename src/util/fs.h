/* fs.h - file-system helpers (internal). */
#ifndef SDC_UTIL_FS_H
#define SDC_UTIL_FS_H

/* Creates dir and its missing parents (mkdir -p) with mode (less the
 * umask). 0, or -1 with errno set (ENAMETOOLONG past 4095 bytes); an
 * existing directory is fine. */
int dc_mkdirs(const char *dir, unsigned mode);

#include <stddef.h>

/* The whole file, NUL-terminated, its length (without the NUL) in *len.
 * Caller frees with dc_free. NULL with errno set when it cannot be read
 * (ENOMEM when out of memory). */
char *dc_read_file(const char *path, size_t *len);

#endif
