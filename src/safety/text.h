/* text.h - text helpers shared by the safety layer (internal).
 *
 * UTF-8 validation, removal of reasoning blocks, and the normal form the
 * refusal detector and the classify-mode parser match phrases against. */
#ifndef SDC_SAFETY_TEXT_H
#define SDC_SAFETY_TEXT_H

#include <stddef.h>

#include "deepconf/dc_status.h"

/* Checks s[0..n) for well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). Returns 1 when valid; otherwise 0 and sets
 * *bad_off to the offset of the first bad byte. */
int sdc_utf8_valid(const char *s, size_t n, size_t *bad_off);

/* The part of a response after its reasoning: everything up to the last
 * "</think>" is dropped, and an unterminated "<think>" drops the rest.
 * Sets *start and *len to the kept range of s (borrowed from s). */
void sdc_text_strip_think(const char *s, size_t n, size_t *start, size_t *len);

/* Normal form for phrase matching, written into a new string: ASCII
 * lower case; typographic apostrophes and quotes mapped to ' and ";
 * dashes to -; runs of white space (Unicode spaces included) to one space,
 * trimmed; contractions expanded ("can't" -> "cannot", "won't" -> "will
 * not", "i'm" -> "i am", "n't" -> " not", "'re", "'ll", "'ve", "'d", and
 * "it's"/"that's"/"here's"/"there's"/"what's" -> "... is"); "can not" ->
 * "cannot". Non-ASCII letters are kept as they are. Returns NULL when out
 * of memory; caller frees with dc_free. *out_len gets the length. */
char *sdc_text_normalize(const char *s, size_t n, size_t *out_len);

/* Word-boundary search: first occurrence of needle in hay at or after
 * from whose neighbours are not letters or digits (on the sides where the
 * needle itself begins or ends with one). Returns the offset or -1. */
long sdc_text_find_word(const char *hay, size_t hay_len, size_t from, const char *needle,
                        size_t needle_len);

#endif
