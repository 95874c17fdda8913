/* sha256.h - SHA-256 (FIPS 180-4), incremental (internal). */
#ifndef SDC_UTIL_SHA256_H
#define SDC_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct dc_sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} dc_sha256_ctx;

void dc_sha256_init(dc_sha256_ctx *s);
void dc_sha256_update(dc_sha256_ctx *s, const void *data, size_t n);
/* The digest as 64 lower-case hex digits and a NUL. */
void dc_sha256_final(dc_sha256_ctx *s, char hex[65]);

#endif
