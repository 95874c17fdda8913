/* parquet_decode.c - Parquet value encodings: the RLE / bit-packed hybrid
 * and PLAIN. Every read is checked against the end of its buffer. */
#include <string.h>

#include "safety/parquet_int.h"

/* ---- RLE / bit-packed hybrid ---- */

static int varint32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    uint32_t x = 0;
    for (int shift = 0; shift < 35 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

int pq_rle_decode(const uint8_t *p, size_t n, int bit_width, uint32_t *out, size_t count)
{
    if (bit_width < 0 || bit_width > 32)
        return 0;
    const uint8_t *end = p + n;
    size_t done = 0;
    size_t value_bytes = ((size_t)bit_width + 7) / 8;
    uint64_t mask = bit_width == 32 ? 0xffffffffu : ((uint64_t)1 << bit_width) - 1;
    while (done < count) {
        uint32_t h;
        if (!varint32(&p, end, &h))
            return 0;
        if (h & 1) { /* bit-packed: (h >> 1) groups of 8 values */
            size_t groups = h >> 1;
            size_t bytes = groups * (size_t)bit_width; /* 8 values x width bits */
            if (groups == 0)
                return 0;
            if (bytes > (size_t)(end - p))
                return 0;
            size_t values = groups * 8;
            uint64_t acc = 0;
            int have = 0;
            const uint8_t *q = p;
            for (size_t i = 0; i < values && done < count; i++) {
                while (have < bit_width) {
                    acc |= (uint64_t)*q++ << have;
                    have += 8;
                }
                out[done++] = (uint32_t)(acc & mask);
                acc = bit_width == 0 ? acc : acc >> bit_width;
                have -= bit_width;
            }
            p += bytes;
        } else { /* a run of one value */
            size_t run = h >> 1;
            if (run == 0 || value_bytes > (size_t)(end - p))
                return 0;
            uint32_t v = 0;
            for (size_t i = 0; i < value_bytes; i++)
                v |= (uint32_t)p[i] << (8 * i);
            if ((uint64_t)v > mask)
                return 0;
            p += value_bytes;
            for (size_t i = 0; i < run && done < count; i++)
                out[done++] = v;
        }
    }
    return 1;
}

/* ---- PLAIN ---- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int pq_plain_decode(int type, const uint8_t *p, size_t n, sdc_pq_value *out, size_t count,
                    size_t *used)
{
    size_t pos = 0;
    *used = 0;
    switch (type) {
    case PQ_BOOLEAN: /* bit-packed, LSB first */
        if ((count + 7) / 8 > n)
            return 0;
        for (size_t i = 0; i < count; i++) {
            out[i].kind = SDC_PQ_BOOL;
            out[i].v.i = (p[i / 8] >> (i % 8)) & 1;
        }
        pos = (count + 7) / 8;
        break;
    case PQ_INT32:
    case PQ_FLOAT:
        if (count > n / 4)
            return 0;
        for (size_t i = 0; i < count; i++, pos += 4) {
            uint32_t u = le32(p + pos);
            if (type == PQ_INT32) {
                out[i].kind = SDC_PQ_INT;
                out[i].v.i = (int32_t)u;
            } else {
                float f;
                memcpy(&f, &u, sizeof f);
                out[i].kind = SDC_PQ_REAL;
                out[i].v.d = f;
            }
        }
        break;
    case PQ_INT64:
    case PQ_DOUBLE:
        if (count > n / 8)
            return 0;
        for (size_t i = 0; i < count; i++, pos += 8) {
            uint64_t u = le64(p + pos);
            if (type == PQ_INT64) {
                out[i].kind = SDC_PQ_INT;
                out[i].v.i = (int64_t)u;
            } else {
                out[i].kind = SDC_PQ_REAL;
                memcpy(&out[i].v.d, &u, sizeof u);
            }
        }
        break;
    case PQ_BYTE_ARRAY:
        for (size_t i = 0; i < count; i++) {
            if (n - pos < 4)
                return 0;
            uint32_t len = le32(p + pos);
            pos += 4;
            if (len > n - pos)
                return 0;
            out[i].kind = SDC_PQ_TEXT;
            out[i].v.s = (const char *)p + pos;
            out[i].n = len;
            pos += len;
        }
        break;
    default: return 0;
    }
    *used = pos;
    return 1;
}
