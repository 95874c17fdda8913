/* hf_sha256.c - SHA-256 of a file, to check downloads against the Hub's LFS
 * ids (the digest itself is util/sha256.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deepconf/dc_hf.h"
#include "util/sha256.h"

dc_status dc_sha256_file(const char *path, char hex[65], dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    dc_sha256_ctx s;
    dc_sha256_init(&s);
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        dc_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return dc_error_set(err, DC_STATUS_IO, "%s: read error", path);
    dc_sha256_final(&s, hex);
    return DC_STATUS_OK;
}
