/* fs.h - file-system helpers (internal). */
#ifndef SDC_UTIL_FS_H
#define SDC_UTIL_FS_H

/* Creates dir and its missing parents (mkdir -p) with mode (less the
 * umask). 0, or -1 with errno set (ENAMETOOLONG past 4095 bytes); an
 * existing directory is fine. */
int sdc_mkdirs(const char *dir, unsigned mode);

#endif
