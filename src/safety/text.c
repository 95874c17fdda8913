/* text.c - UTF-8 checks, reasoning-block removal and the match normal form. */
#include "safety/text.h"

#include <string.h>

#include "util/buf.h"

/* ---- UTF-8 ---- */

/* Length of the well-formed sequence at s (1..4), or 0 when it is not. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
        c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
        c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

int sdc_utf8_valid(const char *s, size_t n, size_t *bad_off)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        unsigned cp;
        size_t k = utf8_seq(u + i, n - i, &cp);
        if (!k) {
            if (bad_off)
                *bad_off = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

/* ---- reasoning blocks ---- */

static const char *mem_find_last(const char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (n < k)
        return NULL;
    for (size_t i = n - k + 1; i-- > 0;)
        if (!memcmp(h + i, needle, k))
            return h + i;
    return NULL;
}

static const char *mem_find(const char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, needle, k))
            return h + i;
    return NULL;
}

void sdc_text_strip_think(const char *s, size_t n, size_t *start, size_t *len)
{
    size_t b = 0, e = n;
    const char *close = mem_find_last(s, n, "</think>");
    if (close)
        b = (size_t)(close - s) + strlen("</think>");
    const char *open = mem_find(s + b, n - b, "<think>");
    if (open)
        e = (size_t)(open - s); /* unterminated: the answer never came */
    *start = b;
    *len = e - b;
}

/* ---- normal form ---- */

static int is_space_cp(unsigned cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static int is_apos_cp(unsigned cp)
{
    return cp == 0x2018 || cp == 0x2019 || cp == 0x201A || cp == 0x201B || cp == 0x2032 ||
           cp == 0x02BC || cp == 0xFF07;
}

static int is_quote_cp(unsigned cp)
{
    return cp == 0x201C || cp == 0x201D || cp == 0x201E || cp == 0x201F || cp == 0x2033 ||
           cp == 0xAB || cp == 0xBB || cp == 0xFF02;
}

static int is_alnum_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Pass 1: case, quotes, dashes, spaces. */
static void fold(const char *s, size_t n, dc_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    int pending_space = 0;
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        size_t k = utf8_seq(u + i, n - i, &cp);
        if (!k) { /* stray byte: keep it, the caller decides on validity */
            cp = 0xFFFFFFFFu;
            k = 1;
        }
        if (cp != 0xFFFFFFFFu && is_space_cp(cp)) {
            pending_space = out->len > 0;
            i += k;
            continue;
        }
        if (cp == 0x200B || cp == 0xFEFF || cp == 0x200C || cp == 0x200D) {
            i += k;
            continue;
        }
        if (pending_space) {
            dc_buf_putc(out, ' ');
            pending_space = 0;
        }
        if (cp == 0xFFFFFFFFu)
            dc_buf_putc(out, (char)u[i]);
        else if (is_apos_cp(cp))
            dc_buf_putc(out, '\'');
        else if (is_quote_cp(cp))
            dc_buf_putc(out, '"');
        else if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212)
            dc_buf_putc(out, '-');
        else if (cp >= 'A' && cp <= 'Z')
            dc_buf_putc(out, (char)(cp - 'A' + 'a'));
        else
            dc_buf_append(out, s + i, k);
        i += k;
    }
}

static int ends_with(const char *w, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !memcmp(w + n - k, suf, k);
}

static int word_is(const char *w, size_t n, const char *x)
{
    return strlen(x) == n && !memcmp(w, x, n);
}

/* Writes one word (letters, digits, inner apostrophes) with its
 * contraction expanded. */
static void expand_word(const char *w, size_t n, dc_buf *out)
{
    static const char *const is_words[] = {"it's",  "that's", "here's", "there's", "what's",
                                           "who's", "he's",   "she's",  "where's", "how's"};
    if (word_is(w, n, "can't") || word_is(w, n, "cant")) {
        dc_buf_puts(out, "cannot");
        return;
    }
    if (word_is(w, n, "won't")) {
        dc_buf_puts(out, "will not");
        return;
    }
    if (word_is(w, n, "shan't")) {
        dc_buf_puts(out, "shall not");
        return;
    }
    if (word_is(w, n, "ain't")) {
        dc_buf_puts(out, "is not");
        return;
    }
    for (size_t i = 0; i < sizeof is_words / sizeof is_words[0]; i++)
        if (word_is(w, n, is_words[i])) {
            dc_buf_append(out, w, n - 2);
            dc_buf_puts(out, " is");
            return;
        }
    static const struct {
        const char *suf, *rep;
    } sufs[] = {{"n't", " not"},  {"'m", " am"},    {"'re", " are"},
                {"'ll", " will"}, {"'ve", " have"}, {"'d", " would"}};
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++)
        if (n > strlen(sufs[i].suf) && ends_with(w, n, sufs[i].suf)) {
            dc_buf_append(out, w, n - strlen(sufs[i].suf));
            dc_buf_puts(out, sufs[i].rep);
            return;
        }
    dc_buf_append(out, w, n);
}

/* Pass 2: contractions, then "can not" -> "cannot". */
static void expand(const char *s, size_t n, dc_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum_byte(c)) {
            dc_buf_putc(out, (char)c);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && (is_alnum_byte((unsigned char)s[j]) ||
                         (s[j] == '\'' && j + 1 < n && is_alnum_byte((unsigned char)s[j + 1]))))
            j++;
        if (word_is(s + i, j - i, "can") && j + 4 <= n && !memcmp(s + j, " not", 4) &&
            (j + 4 == n || !is_alnum_byte((unsigned char)s[j + 4]))) {
            dc_buf_puts(out, "cannot");
            i = j + 4;
            continue;
        }
        expand_word(s + i, j - i, out);
        i = j;
    }
}

char *sdc_text_normalize(const char *s, size_t n, size_t *out_len)
{
    dc_buf a, b;
    dc_buf_init(&a, 0);
    dc_buf_init(&b, 0);
    dc_buf_append(&a, "", 0);
    fold(s, n, &a);
    if (a.st != DC_STATUS_OK) {
        dc_buf_free(&a);
        return NULL;
    }
    dc_buf_append(&b, "", 0);
    expand(a.data, a.len, &b);
    dc_buf_free(&a);
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    if (out_len)
        *out_len = b.len;
    return dc_buf_take(&b);
}

long sdc_text_find_word(const char *hay, size_t hay_len, size_t from, const char *needle, size_t k)
{
    if (k == 0 || hay_len < k)
        return -1;
    int left = is_alnum_byte((unsigned char)needle[0]);
    int right = is_alnum_byte((unsigned char)needle[k - 1]);
    for (size_t i = from; i + k <= hay_len; i++) {
        if (hay[i] != needle[0] || memcmp(hay + i, needle, k))
            continue;
        if (left && i > 0 && is_alnum_byte((unsigned char)hay[i - 1]))
            continue;
        if (right && i + k < hay_len && is_alnum_byte((unsigned char)hay[i + k]))
            continue;
        return (long)i;
    }
    return -1;
}
