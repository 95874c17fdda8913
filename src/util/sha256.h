/* sha256.h - SHA-256 (FIPS 180-4), incremental (internal). */
#ifndef SDC_UTIL_SHA256_H
#define SDC_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sdc_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} sdc_sha256;

void sdc_sha256_init(sdc_sha256 *s);
void sdc_sha256_update(sdc_sha256 *s, const void *data, size_t n);
/* The digest as 64 lower-case hex digits and a NUL. */
void sdc_sha256_final(sdc_sha256 *s, char hex[65]);

#endif
