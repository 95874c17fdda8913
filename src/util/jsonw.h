/* jsonw.h - streaming JSON writer into an dc_buf (internal).
 *
 * Doubles are written in the shortest form that reads back to the same
 * bits (as Python's repr does), -0.0 as "-0.0", NaN and infinities as
 * null. Commas are inserted automatically. */
#ifndef SDC_UTIL_JSONW_H
#define SDC_UTIL_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define JW_MAX_DEPTH 64

typedef struct jw {
    dc_buf *out;
    int depth;
    unsigned char need_comma[JW_MAX_DEPTH];
    int after_key;
} jw;

void jw_init(jw *w, dc_buf *out);
void jw_obj_begin(jw *w);
void jw_obj_end(jw *w);
void jw_arr_begin(jw *w);
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *key);
void jw_str(jw *w, const char *s); /* NULL writes null */
void jw_strn(jw *w, const char *s, size_t n);
void jw_double(jw *w, double x);
void jw_int(jw *w, int64_t x);
void jw_uint(jw *w, uint64_t x);
void jw_bool(jw *w, int b);
void jw_null(jw *w);
/* Writes pre-serialised JSON text as one value. */
void jw_raw(jw *w, const char *json);

/* A key and its value in one call. */
void jw_kv_str(jw *w, const char *key, const char *s); /* NULL writes null */
void jw_kv_double(jw *w, const char *key, double x);
void jw_kv_int(jw *w, const char *key, int64_t x);
void jw_kv_uint(jw *w, const char *key, uint64_t x);
void jw_kv_bool(jw *w, const char *key, int b);
/* 1 / 0 as a boolean, anything else (-1: unknown) as null. */
void jw_kv_tristate(jw *w, const char *key, int v);

/* UTF-8 checks: the length of the valid sequence at s (0: invalid), and
 * whether all of s[0..n) is valid. Strings are written with invalid
 * bytes replaced by U+FFFD. */
size_t jw_utf8_len(const unsigned char *s, size_t n);
int jw_utf8_valid(const char *s, size_t n);

/* Shortest round-trip text of x into buf (>= 32 bytes); "null" for NaN/inf. */
void jw_format_double(double x, char *buf, size_t size);

#endif
