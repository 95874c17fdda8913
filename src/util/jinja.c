/* jinja.c - the Jinja2 subset of jinja.h: a lexer over the template, a
 * recursive-descent parser into a tree, and an evaluator. Everything of
 * one render lives in one arena, and errors unwind with longjmp, so no
 * path leaks or half-renders. */
#include "util/jinja.h"

#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200                /* nesting of expressions, statements and values */
#define MAX_STEPS 500000ull          /* evaluation steps, all told (a chat: thousands) */
#define MAX_ARENA ((size_t)64 << 20) /* bytes of tree and values */
#define MAX_RANGE 100000             /* items of one range() */

/* ---- arena ---- */

typedef struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
} block;

typedef struct arena {
    block *head;
    size_t total;
} arena;

/* ---- values ---- */

typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_STR, V_LIST, V_DICT, V_METHOD, V_GLOBAL } vtype;

typedef struct val val;
struct val {
    vtype t;
    int ns;      /* a namespace(): attributes may be set */
    long long i; /* bool, int */
    const char *s;
    size_t n;    /* string (not NUL-terminated), or method/global name */
    val **items; /* list items, dict values */
    const char **keys;
    size_t *klen;
    size_t len, cap;
    val *self; /* the receiver of a method */
};

/* ---- tokens and tree ---- */

typedef enum {
    T_EOF,
    T_NAME,
    T_STR,
    T_INT,
    T_OP, /* ( ) [ ] { } . , : | ~ + - * / // % == != < > <= >= = */
    T_END /* the end of the tag: }} or %} */
} ttype;

typedef enum {
    E_LIT,
    E_NAME,
    E_LIST,
    E_DICT,
    E_ATTR,
    E_INDEX,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_AND,
    E_OR,
    E_BIN,
    E_COND
} etype;

typedef struct expr expr;
struct expr {
    etype t;
    int line;
    char op[4]; /* E_BIN: the operator; "in", "!in" */
    const char *name;
    size_t name_n;
    val *lit;
    expr *a, *b, *c; /* operands; E_SLICE: a[b:c:d] with d in args[0] */
    expr **args;     /* call, filter and test arguments, list and dict items */
    const char **kw; /* keyword names of args (NULL for positional) */
    size_t *kw_n;
    size_t n_args;
    int negate; /* E_TEST: is not */
};

typedef enum { S_TEXT, S_OUT, S_IF, S_FOR, S_SET, S_BREAK, S_CONTINUE } stype;

typedef struct stmt stmt;
struct stmt {
    stype t;
    int line;
    const char *text; /* S_TEXT */
    size_t n;
    expr *e;          /* S_OUT value, S_IF condition, S_FOR iterable, S_SET value */
    expr *cond;       /* S_FOR filter */
    stmt *body, *alt; /* S_IF then / else, S_FOR body / else */
    const char *var[2];
    size_t var_n[2];
    int n_vars;
    const char *attr; /* S_SET ns.attr */
    size_t attr_n;
    stmt *next;
};

/* ---- the render ---- */

/* A string being built, in the arena: a failure that unwinds leaks nothing. */
typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

typedef struct jj {
    arena ar;
    jmp_buf fail;
    dc_status st;
    char msg[DC_ERROR_MSG_MAX];
    /* lexer */
    const char *src;
    size_t len, pos;
    int line;
    int in_tag;     /* 0 text, 1 {{ }}, 2 {% %} */
    int strip_next; /* the text after a tag loses its leading white space */
    ttype tt;
    const char *tok;
    size_t tok_n;
    long long tok_i;
    int tok_line;
    int depth;
    /* evaluation */
    const char **vnames;
    size_t *vname_n;
    val **vvals;
    size_t n_vars, cap_vars;
    sb out;
    unsigned long long steps;
    int brk, cont;
} jj;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5), noreturn))
#endif
static void
fail(jj *J, dc_status st, int line, const char *fmt, ...)
{
    char m[DC_ERROR_MSG_MAX - 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(J->msg, sizeof J->msg, "line %d: %s", line, m);
    else
        snprintf(J->msg, sizeof J->msg, "%s", m);
    J->st = st;
    longjmp(J->fail, 1);
}

static void *alloc(jj *J, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!n)
        n = sizeof(max_align_t);
    block *b = J->ar.head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (J->ar.total + cap > MAX_ARENA)
            fail(J, DC_STATUS_LIMIT, 0, "the template needs too much memory (over %zu MiB)",
                 MAX_ARENA >> 20);
        J->ar.total += cap;
        b = malloc(sizeof *b + cap);
        if (!b)
            fail(J, DC_STATUS_NOMEM, 0, "out of memory");
        b->used = 0;
        b->cap = cap;
        b->next = J->ar.head;
        J->ar.head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena *a)
{
    while (a->head) {
        block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static const char *dup_n(jj *J, const char *s, size_t n)
{
    char *d = alloc(J, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void step(jj *J, int line)
{
    if (++J->steps > MAX_STEPS)
        fail(J, DC_STATUS_LIMIT, line, "the template runs too long (over %llu steps)",
             (unsigned long long)MAX_STEPS);
}

/* ---- value constructors ---- */

static val *mk(jj *J, vtype t)
{
    val *v = alloc(J, sizeof *v);
    v->t = t;
    return v;
}

static val *mk_undef(jj *J)
{
    return mk(J, V_UNDEF);
}

static val *mk_none(jj *J)
{
    return mk(J, V_NONE);
}

static val *mk_bool(jj *J, int b)
{
    val *v = mk(J, V_BOOL);
    v->i = b != 0;
    return v;
}

static val *mk_int(jj *J, long long i)
{
    val *v = mk(J, V_INT);
    v->i = i;
    return v;
}

static val *mk_str(jj *J, const char *s, size_t n)
{
    val *v = mk(J, V_STR);
    v->s = dup_n(J, s, n);
    v->n = n;
    return v;
}

static void sb_put(jj *J, sb *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = alloc(J, cap);
        if (b->n)
            memcpy(q, b->p, b->n);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(jj *J, sb *b, const char *s)
{
    sb_put(J, b, s, strlen(s));
}

static void sb_putc(jj *J, sb *b, char c)
{
    sb_put(J, b, &c, 1);
}

static void sb_int(jj *J, sb *b, long long i)
{
    char t[32];
    sb_put(J, b, t, (size_t)snprintf(t, sizeof t, "%lld", i));
}

/* The built string as a value (it stays in the arena). */
static val *sb_val(jj *J, sb *b)
{
    val *v = mk(J, V_STR);
    v->s = b->n ? b->p : "";
    v->n = b->n;
    return v;
}

static val *mk_list(jj *J)
{
    return mk(J, V_LIST);
}

static val *mk_dict(jj *J)
{
    return mk(J, V_DICT);
}

static void grow(jj *J, val *v)
{
    if (v->len < v->cap)
        return;
    size_t cap = v->cap ? v->cap * 2 : 8;
    val **items = alloc(J, cap * sizeof *items);
    if (v->len)
        memcpy(items, v->items, v->len * sizeof *items);
    v->items = items;
    if (v->t == V_DICT) {
        const char **keys = alloc(J, cap * sizeof *keys);
        size_t *klen = alloc(J, cap * sizeof *klen);
        if (v->len) {
            memcpy(keys, v->keys, v->len * sizeof *keys);
            memcpy(klen, v->klen, v->len * sizeof *klen);
        }
        v->keys = keys;
        v->klen = klen;
    }
    v->cap = cap;
}

static void list_push(jj *J, val *l, val *x)
{
    grow(J, l);
    l->items[l->len++] = x;
}

static long dict_find(const val *d, const char *k, size_t n)
{
    for (size_t i = 0; i < d->len; i++)
        if (d->klen[i] == n && !memcmp(d->keys[i], k, n))
            return (long)i;
    return -1;
}

static void dict_set(jj *J, val *d, const char *k, size_t n, val *x)
{
    long at = dict_find(d, k, n);
    if (at >= 0) {
        d->items[at] = x;
        return;
    }
    grow(J, d);
    d->keys[d->len] = dup_n(J, k, n);
    d->klen[d->len] = n;
    d->items[d->len++] = x;
}

static const char *type_name(const val *v)
{
    static const char *const names[] = {"undefined", "none", "boolean", "integer", "string",
                                        "list",      "dict", "method",  "function"};
    return names[v->t];
}

static int truthy(const val *v)
{
    switch (v->t) {
    case V_UNDEF:
    case V_NONE: return 0;
    case V_BOOL:
    case V_INT: return v->i != 0;
    case V_STR: return v->n > 0;
    case V_LIST:
    case V_DICT: return v->len > 0;
    default: return 1;
    }
}

static val *from_json(jj *J, json_t *j, int depth)
{
    if (depth > MAX_DEPTH)
        fail(J, DC_STATUS_LIMIT, 0, "context nested too deep");
    switch (json_typeof(j)) {
    case JSON_STRING: return mk_str(J, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return mk_int(J, (long long)json_integer_value(j));
    case JSON_TRUE: return mk_bool(J, 1);
    case JSON_FALSE: return mk_bool(J, 0);
    case JSON_NULL: return mk_none(J);
    case JSON_ARRAY: {
        val *l = mk_list(J);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) list_push(J, l, from_json(J, x, depth + 1));
        return l;
    }
    case JSON_OBJECT: {
        val *d = mk_dict(J);
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) dict_set(J, d, k, strlen(k), from_json(J, x, depth + 1));
        return d;
    }
    default: fail(J, DC_STATUS_INVALID_ARG, 0, "context: real numbers are not supported");
    }
}

/* ---- lexer ---- */

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int at(const jj *J, const char *s)
{
    size_t n = strlen(s);
    return J->pos + n <= J->len && !memcmp(J->src + J->pos, s, n);
}

static void skip_space(jj *J)
{
    while (J->pos < J->len && strchr(" \t\r\n", J->src[J->pos])) {
        if (J->src[J->pos] == '\n')
            J->line++;
        J->pos++;
    }
}

/* Reads the next token inside a tag. */
static void next(jj *J)
{
    skip_space(J);
    J->tok_line = J->line;
    J->tok = J->src + J->pos;
    J->tok_n = 0;
    if (J->pos >= J->len) {
        J->tt = T_EOF;
        return;
    }
    /* the end of the tag, with its whitespace control */
    const char *close = J->in_tag == 1 ? "}}" : "%}";
    int minus = at(J, "-") && J->pos + 2 < J->len && !memcmp(J->src + J->pos + 1, close, 2);
    int plus = at(J, "+") && J->pos + 2 < J->len && !memcmp(J->src + J->pos + 1, close, 2);
    if (minus || plus || at(J, close)) {
        J->pos += (size_t)(minus || plus) + 2;
        J->strip_next = minus ? 2 : (J->in_tag == 2 && !plus) ? 1 : 0;
        J->tt = T_END;
        return;
    }
    char c = J->src[J->pos];
    if (is_name_start(c)) {
        size_t b = J->pos;
        while (J->pos < J->len && is_name_char(J->src[J->pos]))
            J->pos++;
        J->tt = T_NAME;
        J->tok_n = J->pos - b;
        return;
    }
    if (c >= '0' && c <= '9') {
        long long v = 0;
        size_t b = J->pos;
        while (J->pos < J->len && J->src[J->pos] >= '0' && J->src[J->pos] <= '9') {
            if (v > (LLONG_MAX - 9) / 10)
                fail(J, DC_STATUS_PARSE, J->line, "integer too large");
            v = v * 10 + (J->src[J->pos++] - '0');
        }
        if (J->pos < J->len && J->src[J->pos] == '.' && J->pos + 1 < J->len &&
            J->src[J->pos + 1] >= '0' && J->src[J->pos + 1] <= '9')
            fail(J, DC_STATUS_PARSE, J->line, "real numbers are not supported");
        J->tt = T_INT;
        J->tok_i = v;
        J->tok_n = J->pos - b;
        return;
    }
    if (c == '\'' || c == '"') {
        sb b = {0};
        J->pos++;
        int ok = 0;
        while (J->pos < J->len) {
            char d = J->src[J->pos++];
            if (d == c) {
                ok = 1;
                break;
            }
            if (d == '\n')
                J->line++;
            if (d == '\\' && J->pos < J->len) {
                char e = J->src[J->pos++];
                switch (e) {
                case 'n': d = '\n'; break;
                case 't': d = '\t'; break;
                case 'r': d = '\r'; break;
                case '\\':
                case '\'':
                case '"': d = e; break;
                default: /* Python keeps an unknown escape as written */
                    sb_putc(J, &b, '\\');
                    d = e;
                }
            }
            sb_putc(J, &b, d);
        }
        if (!ok)
            fail(J, DC_STATUS_PARSE, J->tok_line, "unterminated string");
        J->tok = b.n ? b.p : "";
        J->tok_n = b.n;
        J->tt = T_STR;
        return;
    }
    static const char *const ops[] = {"//", "==", "!=", "<=", ">=", "(", ")", "[", "]",
                                      "{",  "}",  ".",  ",",  ":",  "|", "~", "+", "-",
                                      "*",  "/",  "%",  "<",  ">",  "=", NULL};
    for (size_t i = 0; ops[i]; i++)
        if (at(J, ops[i])) {
            J->tt = T_OP;
            J->tok_n = strlen(ops[i]);
            J->pos += J->tok_n;
            return;
        }
    fail(J, DC_STATUS_PARSE, J->line, "unexpected character '%c'", c);
}

static int is_op(const jj *J, const char *op)
{
    return J->tt == T_OP && J->tok_n == strlen(op) && !memcmp(J->tok, op, J->tok_n);
}

static int is_name(const jj *J, const char *n)
{
    return J->tt == T_NAME && J->tok_n == strlen(n) && !memcmp(J->tok, n, J->tok_n);
}

static void expect_op(jj *J, const char *op)
{
    if (!is_op(J, op))
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected '%s', found '%.*s'", op, (int)J->tok_n,
             J->tok);
    next(J);
}

static void expect_name_kw(jj *J, const char *n)
{
    if (!is_name(J, n))
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected '%s', found '%.*s'", n, (int)J->tok_n,
             J->tok);
    next(J);
}

/* ---- expressions ---- */

static expr *parse_expr(jj *J);

static expr *mk_expr(jj *J, etype t)
{
    expr *e = alloc(J, sizeof *e);
    e->t = t;
    e->line = J->tok_line;
    return e;
}

static void enter(jj *J)
{
    if (++J->depth > MAX_DEPTH)
        fail(J, DC_STATUS_LIMIT, J->tok_line, "nested too deep");
}

/* Arguments in ( ): positional, then name=value. Consumes the ')'. */
static void parse_args(jj *J, expr *e, int allow_kw)
{
    expr *args[64];
    const char *kw[64];
    size_t kw_n[64], n = 0;
    while (!is_op(J, ")")) {
        if (n == 64)
            fail(J, DC_STATUS_PARSE, J->tok_line, "too many arguments");
        kw[n] = NULL;
        kw_n[n] = 0;
        if (allow_kw && J->tt == T_NAME) {
            size_t save = J->pos;
            int line = J->line;
            const char *nm = J->tok;
            size_t nn = J->tok_n;
            next(J);
            if (is_op(J, "=")) {
                next(J);
                kw[n] = dup_n(J, nm, nn);
                kw_n[n] = nn;
            } else { /* not a keyword: read the name again as an expression */
                J->pos = save - nn;
                J->line = line;
                next(J);
            }
        }
        args[n++] = parse_expr(J);
        if (!is_op(J, ","))
            break;
        next(J);
    }
    expect_op(J, ")");
    e->n_args = n;
    e->args = alloc(J, (n ? n : 1) * sizeof *e->args);
    e->kw = alloc(J, (n ? n : 1) * sizeof *e->kw);
    e->kw_n = alloc(J, (n ? n : 1) * sizeof *e->kw_n);
    memcpy(e->args, args, n * sizeof *args);
    memcpy(e->kw, kw, n * sizeof *kw);
    memcpy(e->kw_n, kw_n, n * sizeof *kw_n);
}

/* The items of a list literal, or a dict literal's keys and values in
 * turn (close "}"), into e->args; reads past close. */
static void parse_items(jj *J, expr *e, const char *close)
{
    expr *items[256];
    size_t n = 0;
    while (!is_op(J, close)) {
        if (n + 2 > 256)
            fail(J, DC_STATUS_PARSE, J->tok_line, "literal of over 127 items");
        items[n++] = parse_expr(J);
        if (close[0] == '}') {
            expect_op(J, ":");
            items[n++] = parse_expr(J);
        }
        if (!is_op(J, ","))
            break;
        next(J);
    }
    expect_op(J, close);
    e->args = alloc(J, (n ? n : 1) * sizeof *e->args);
    memcpy(e->args, items, n * sizeof *items);
    e->n_args = n;
}

static expr *parse_primary(jj *J)
{
    enter(J);
    expr *e;
    if (J->tt == T_STR) {
        e = mk_expr(J, E_LIT);
        e->lit = mk_str(J, J->tok, J->tok_n);
        next(J);
        /* adjacent literals join, as in Python */
        while (J->tt == T_STR) {
            val *s = mk(J, V_STR);
            char *d = alloc(J, e->lit->n + J->tok_n + 1);
            memcpy(d, e->lit->s, e->lit->n);
            memcpy(d + e->lit->n, J->tok, J->tok_n);
            s->s = d;
            s->n = e->lit->n + J->tok_n;
            e->lit = s;
            next(J);
        }
    } else if (J->tt == T_INT) {
        e = mk_expr(J, E_LIT);
        e->lit = mk_int(J, J->tok_i);
        next(J);
    } else if (J->tt == T_NAME) {
        if (is_name(J, "true") || is_name(J, "True") || is_name(J, "false") ||
            is_name(J, "False")) {
            e = mk_expr(J, E_LIT);
            e->lit = mk_bool(J, J->tok[0] == 't' || J->tok[0] == 'T');
        } else if (is_name(J, "none") || is_name(J, "None")) {
            e = mk_expr(J, E_LIT);
            e->lit = mk_none(J);
        } else {
            e = mk_expr(J, E_NAME);
            e->name = dup_n(J, J->tok, J->tok_n);
            e->name_n = J->tok_n;
        }
        next(J);
    } else if (is_op(J, "(")) {
        next(J);
        e = parse_expr(J);
        if (is_op(J, ","))
            fail(J, DC_STATUS_PARSE, J->tok_line, "tuples are not supported");
        expect_op(J, ")");
    } else if (is_op(J, "[")) {
        e = mk_expr(J, E_LIST);
        next(J);
        parse_items(J, e, "]");
    } else if (is_op(J, "{")) {
        e = mk_expr(J, E_DICT);
        next(J);
        parse_items(J, e, "}");
    } else {
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected a value, found '%.*s'",
             J->tt == T_EOF   ? 3
             : J->tt == T_END ? 7
                              : (int)J->tok_n,
             J->tt == T_EOF   ? "end"
             : J->tt == T_END ? "tag end"
                              : J->tok);
    }
    J->depth--;
    return e;
}

/* A node t over e, named by the current token, which must be a name (what:
 * which one, for the message); reads past it. */
static expr *named_node(jj *J, etype t, expr *e, const char *what)
{
    if (J->tt != T_NAME)
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected %s", what);
    expr *x = mk_expr(J, t);
    x->a = e;
    x->name = dup_n(J, J->tok, J->tok_n);
    x->name_n = J->tok_n;
    next(J);
    return x;
}

static expr *parse_postfix(jj *J, expr *e)
{
    for (;;) {
        if (is_op(J, ".")) {
            next(J);
            e = named_node(J, E_ATTR, e, "an attribute name after '.'");
        } else if (is_op(J, "[")) {
            next(J);
            expr *parts[3] = {NULL, NULL, NULL};
            int colons = 0;
            for (;;) {
                if (is_op(J, ":")) {
                    if (++colons > 2)
                        fail(J, DC_STATUS_PARSE, J->tok_line, "bad slice");
                    next(J);
                    continue;
                }
                if (is_op(J, "]"))
                    break;
                if (parts[colons])
                    fail(J, DC_STATUS_PARSE, J->tok_line, "bad subscript");
                parts[colons] = parse_expr(J);
            }
            expect_op(J, "]");
            expr *x = mk_expr(J, colons ? E_SLICE : E_INDEX);
            x->a = e;
            x->b = parts[0];
            x->c = parts[1];
            if (colons) {
                x->args = alloc(J, sizeof *x->args);
                x->args[0] = parts[2];
            } else if (!parts[0]) {
                fail(J, DC_STATUS_PARSE, J->tok_line, "empty subscript");
            }
            e = x;
        } else if (is_op(J, "(")) {
            next(J);
            expr *x = mk_expr(J, E_CALL);
            x->a = e;
            parse_args(J, x, 1);
            e = x;
        } else {
            return e;
        }
    }
}

static expr *parse_unary(jj *J);

/* Filters and tests after a postfix expression: x | f(a) | g, x is t. */
static expr *parse_filters(jj *J, expr *e)
{
    for (;;) {
        if (is_op(J, "|")) {
            next(J);
            expr *x = named_node(J, E_FILTER, e, "a filter name after '|'");
            if (is_op(J, "(")) {
                next(J);
                parse_args(J, x, 1);
            }
            e = x;
        } else if (is_name(J, "is")) {
            next(J);
            int negate = is_name(J, "not");
            if (negate)
                next(J);
            expr *x = named_node(J, E_TEST, e, "a test name after 'is'");
            x->negate = negate;
            if (is_op(J, "(")) {
                next(J);
                parse_args(J, x, 0);
            } else if (J->tt == T_STR || J->tt == T_INT ||
                       (J->tt == T_NAME && !is_name(J, "and") && !is_name(J, "or") &&
                        !is_name(J, "else") && !is_name(J, "if") && !is_name(J, "is") &&
                        !is_name(J, "in") && !is_name(J, "not"))) {
                /* one argument without parentheses: x is equalto 3 */
                x->args = alloc(J, sizeof *x->args);
                x->args[0] = parse_postfix(J, parse_primary(J));
                x->n_args = 1;
            }
            e = x;
        } else {
            return e;
        }
    }
}

static expr *parse_unary(jj *J)
{
    enter(J);
    expr *e;
    if (is_op(J, "-")) {
        next(J);
        e = mk_expr(J, E_NEG);
        e->a = parse_unary(J);
    } else if (is_op(J, "+")) {
        next(J);
        e = parse_unary(J);
    } else {
        e = parse_filters(J, parse_postfix(J, parse_primary(J)));
    }
    J->depth--;
    return e;
}

static expr *binary(jj *J, const char *op, expr *a, expr *b)
{
    expr *e = mk_expr(J, E_BIN);
    snprintf(e->op, sizeof e->op, "%s", op);
    e->a = a;
    e->b = b;
    return e;
}

/* The binary operators by level, loosest first (Jinja's order: + - below
 * ~ below * / // %); each level is left-associative over the next. */
static const char *const arith_ops[3][5] = {
    {"+", "-", NULL}, {"~", NULL}, {"*", "/", "//", "%", NULL}};

static expr *parse_arith(jj *J, int level)
{
    if (level == 3)
        return parse_unary(J);
    expr *e = parse_arith(J, level + 1);
    for (;;) {
        const char *op = NULL;
        for (size_t k = 0; !op && arith_ops[level][k]; k++)
            if (is_op(J, arith_ops[level][k]))
                op = arith_ops[level][k];
        if (!op)
            return e;
        next(J);
        e = binary(J, op, e, parse_arith(J, level + 1));
    }
}

static expr *parse_compare(jj *J)
{
    expr *e = parse_arith(J, 0);
    for (;;) {
        const char *op = NULL;
        if (is_op(J, "==") || is_op(J, "!=") || is_op(J, "<") || is_op(J, ">") || is_op(J, "<=") ||
            is_op(J, ">="))
            op = dup_n(J, J->tok, J->tok_n);
        else if (is_name(J, "in"))
            op = "in";
        else if (is_name(J, "not")) {
            size_t save = J->pos;
            int line = J->line;
            next(J);
            if (!is_name(J, "in")) {
                J->pos = save - 3;
                J->line = line;
                next(J);
                return e;
            }
            op = "!in";
        }
        if (!op)
            return e;
        next(J);
        e = binary(J, op, e, parse_arith(J, 0));
    }
}

static expr *parse_not(jj *J)
{
    if (is_name(J, "not")) {
        enter(J);
        next(J);
        expr *e = mk_expr(J, E_NOT);
        e->a = parse_not(J);
        J->depth--;
        return e;
    }
    return parse_compare(J);
}

/* a and b and ... (t E_AND over parse_not), a or b or ... (E_OR over and). */
static expr *parse_logic(jj *J, etype t)
{
    const char *word = t == E_OR ? "or" : "and";
    expr *e = t == E_OR ? parse_logic(J, E_AND) : parse_not(J);
    while (is_name(J, word)) {
        next(J);
        expr *x = mk_expr(J, t);
        x->a = e;
        x->b = t == E_OR ? parse_logic(J, E_AND) : parse_not(J);
        e = x;
    }
    return e;
}

static expr *parse_expr(jj *J)
{
    enter(J);
    expr *e = parse_logic(J, E_OR);
    if (is_name(J, "if")) {
        next(J);
        expr *x = mk_expr(J, E_COND);
        x->a = e;
        x->b = parse_logic(J, E_OR);
        if (is_name(J, "else")) {
            next(J);
            x->c = parse_expr(J);
        }
        e = x;
    }
    J->depth--;
    return e;
}

/* ---- statements ---- */

/* The text up to the next tag, with lstrip_blocks and the whitespace
 * control of the tags on both sides. Returns the tag kind found (0 at the
 * end), leaving pos after its opening. */
static int read_text(jj *J, const char **text, size_t *n)
{
    size_t b = J->pos;
    int strip = J->strip_next;
    J->strip_next = 0;
    if (strip == 1 && b < J->len && J->src[b] == '\n') { /* trim_blocks */
        b++;
        J->line++;
    } else if (strip == 1 && b + 1 < J->len && J->src[b] == '\r' && J->src[b + 1] == '\n') {
        b += 2;
        J->line++;
    }
    if (strip == 2)
        while (b < J->len && strchr(" \t\r\n", J->src[b])) {
            if (J->src[b] == '\n')
                J->line++;
            b++;
        }
    size_t p = b;
    int kind = 0;
    while (p + 1 < J->len) {
        if (J->src[p] == '{' &&
            (J->src[p + 1] == '{' || J->src[p + 1] == '%' || J->src[p + 1] == '#')) {
            kind = J->src[p + 1] == '{' ? 1 : J->src[p + 1] == '%' ? 2 : 3;
            break;
        }
        p++;
    }
    if (!kind)
        p = J->len;
    size_t e = p;
    for (size_t q = b; q < p; q++)
        if (J->src[q] == '\n')
            J->line++;
    if (kind) {
        char ctl = p + 2 < J->len ? J->src[p + 2] : 0;
        if (ctl == '-') {
            while (e > b && strchr(" \t\r\n", J->src[e - 1]))
                e--;
        } else if (kind != 1 && ctl != '+') { /* lstrip_blocks */
            size_t q = e;
            while (q > b && (J->src[q - 1] == ' ' || J->src[q - 1] == '\t'))
                q--;
            if (q == 0 || J->src[q - 1] == '\n')
                e = q;
        }
        J->pos = p + 2 + (ctl == '-' || ctl == '+');
    } else {
        J->pos = J->len;
    }
    *text = J->src + b;
    *n = e - b;
    return kind;
}

typedef struct block_end {
    const char *word; /* the tag that ended the block: "endif", "else", ... */
    int line;
} block_end;

static stmt *parse_block(jj *J, block_end *end);

static stmt *mk_stmt(jj *J, stype t, int line)
{
    stmt *s = alloc(J, sizeof *s);
    s->t = t;
    s->line = line;
    return s;
}

static void end_tag(jj *J)
{
    if (J->tt != T_END)
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected the end of the tag, found '%.*s'",
             (int)J->tok_n, J->tok);
}

/* After a block that *be ended: an {% else %} block into *alt if one
 * follows, then the closing tag (endif, endfor). */
static void else_and_end(jj *J, block_end *be, stmt **alt, const char *closing)
{
    if (!strcmp(be->word, "else")) {
        end_tag(J);
        *alt = parse_block(J, be);
    }
    if (strcmp(be->word, closing))
        fail(J, DC_STATUS_PARSE, be->line, "expected %s, found %s", closing, be->word);
    end_tag(J);
}

static stmt *parse_if(jj *J, int line)
{
    stmt *s = mk_stmt(J, S_IF, line);
    s->e = parse_expr(J);
    end_tag(J);
    block_end be;
    s->body = parse_block(J, &be);
    if (!strcmp(be.word, "elif")) {
        s->alt = parse_if(J, be.line);
        return s;
    }
    else_and_end(J, &be, &s->alt, "endif");
    return s;
}

static stmt *parse_for(jj *J, int line)
{
    stmt *s = mk_stmt(J, S_FOR, line);
    for (;;) {
        if (J->tt != T_NAME || s->n_vars == 2)
            fail(J, DC_STATUS_PARSE, J->tok_line, "expected a loop variable");
        s->var[s->n_vars] = dup_n(J, J->tok, J->tok_n);
        s->var_n[s->n_vars++] = J->tok_n;
        next(J);
        if (!is_op(J, ","))
            break;
        next(J);
    }
    expect_name_kw(J, "in");
    /* the iterable stops before a filter's "if" */
    s->e = parse_filters(J, parse_postfix(J, parse_primary(J)));
    if (is_name(J, "if")) {
        next(J);
        s->cond = parse_expr(J);
    }
    if (is_name(J, "recursive"))
        fail(J, DC_STATUS_PARSE, J->tok_line, "recursive loops are not supported");
    end_tag(J);
    block_end be;
    s->body = parse_block(J, &be);
    else_and_end(J, &be, &s->alt, "endfor");
    return s;
}

static stmt *parse_set(jj *J, int line)
{
    stmt *s = mk_stmt(J, S_SET, line);
    if (J->tt != T_NAME)
        fail(J, DC_STATUS_PARSE, J->tok_line, "expected a name after set");
    s->var[0] = dup_n(J, J->tok, J->tok_n);
    s->var_n[0] = J->tok_n;
    s->n_vars = 1;
    next(J);
    if (is_op(J, ".")) {
        next(J);
        if (J->tt != T_NAME)
            fail(J, DC_STATUS_PARSE, J->tok_line, "expected an attribute name");
        s->attr = dup_n(J, J->tok, J->tok_n);
        s->attr_n = J->tok_n;
        next(J);
    }
    if (!is_op(J, "="))
        fail(J, DC_STATUS_PARSE, J->tok_line, "block set (set without =) is not supported");
    next(J);
    s->e = parse_expr(J);
    end_tag(J);
    return s;
}

/* Statements up to a tag that ends the block (endif, else, elif, endfor,
 * endgeneration) or the end of the template (end->word "eof"). */
static stmt *parse_block(jj *J, block_end *end)
{
    enter(J);
    stmt *head = NULL, **tail = &head;
    for (;;) {
        const char *text;
        size_t n;
        int kind = read_text(J, &text, &n);
        if (n) {
            stmt *t = mk_stmt(J, S_TEXT, J->line);
            t->text = text;
            t->n = n;
            *tail = t;
            tail = &t->next;
        }
        if (!kind) {
            end->word = "eof";
            end->line = J->line;
            break;
        }
        if (kind == 3) { /* comment */
            size_t cend = J->pos;
            while (cend + 1 < J->len && !(J->src[cend] == '#' && J->src[cend + 1] == '}'))
                cend++;
            if (cend + 1 >= J->len)
                fail(J, DC_STATUS_PARSE, J->line, "unterminated comment");
            for (size_t q = J->pos; q < cend; q++)
                if (J->src[q] == '\n')
                    J->line++;
            J->strip_next = cend > J->pos && J->src[cend - 1] == '-' ? 2 : 1;
            J->pos = cend + 2;
            continue;
        }
        J->in_tag = kind;
        next(J);
        if (kind == 1) {
            stmt *o = mk_stmt(J, S_OUT, J->tok_line);
            o->e = parse_expr(J);
            end_tag(J);
            *tail = o;
            tail = &o->next;
            J->in_tag = 0;
            continue;
        }
        int line = J->tok_line;
        if (J->tt != T_NAME)
            fail(J, DC_STATUS_PARSE, line, "expected a statement name");
        char word[32];
        snprintf(word, sizeof word, "%.*s", (int)(J->tok_n < 31 ? J->tok_n : 31), J->tok);
        next(J);
        stmt *s = NULL;
        if (!strcmp(word, "if")) {
            s = parse_if(J, line);
        } else if (!strcmp(word, "for")) {
            s = parse_for(J, line);
        } else if (!strcmp(word, "set")) {
            s = parse_set(J, line);
        } else if (!strcmp(word, "break") || !strcmp(word, "continue")) {
            s = mk_stmt(J, word[0] == 'b' ? S_BREAK : S_CONTINUE, line);
            end_tag(J);
        } else if (!strcmp(word, "generation")) {
            end_tag(J);
            block_end be;
            stmt *body = parse_block(J, &be);
            if (strcmp(be.word, "endgeneration"))
                fail(J, DC_STATUS_PARSE, be.line, "expected endgeneration, found %s", be.word);
            end_tag(J);
            s = mk_stmt(J, S_IF, line); /* always true: the body as it is */
            s->e = mk_expr(J, E_LIT);
            s->e->lit = mk_bool(J, 1);
            s->body = body;
        } else if (!strcmp(word, "endif") || !strcmp(word, "else") || !strcmp(word, "elif") ||
                   !strcmp(word, "endfor") || !strcmp(word, "endgeneration")) {
            end->word = dup_n(J, word, strlen(word));
            end->line = line;
            break;
        } else {
            fail(J, DC_STATUS_PARSE, line, "the '%s' statement is not supported", word);
        }
        J->in_tag = 0;
        *tail = s;
        tail = &s->next;
    }
    J->in_tag = 2;
    J->depth--;
    return head;
}

/* ---- evaluation ---- */

static val *eval(jj *J, const expr *e);

static val *lookup(jj *J, const char *name, size_t n)
{
    for (size_t i = J->n_vars; i-- > 0;)
        if (J->vname_n[i] == n && !memcmp(J->vnames[i], name, n))
            return J->vvals[i];
    if ((n == 9 && !memcmp(name, "namespace", 9)) || (n == 5 && !memcmp(name, "range", 5)) ||
        (n == 15 && !memcmp(name, "raise_exception", 15))) {
        val *g = mk(J, V_GLOBAL);
        g->s = name;
        g->n = n;
        return g;
    }
    return mk_undef(J);
}

/* Sets a variable in the innermost scope (the stack top wins on lookup). */
static void assign(jj *J, const char *name, size_t n, val *v)
{
    if (J->n_vars == J->cap_vars) {
        size_t cap = J->cap_vars ? J->cap_vars * 2 : 32;
        const char **nn = alloc(J, cap * sizeof *nn);
        size_t *nl = alloc(J, cap * sizeof *nl);
        val **vv = alloc(J, cap * sizeof *vv);
        if (J->n_vars) {
            memcpy(nn, J->vnames, J->n_vars * sizeof *nn);
            memcpy(nl, J->vname_n, J->n_vars * sizeof *nl);
            memcpy(vv, J->vvals, J->n_vars * sizeof *vv);
        }
        J->vnames = nn;
        J->vname_n = nl;
        J->vvals = vv;
        J->cap_vars = cap;
    }
    J->vnames[J->n_vars] = name;
    J->vname_n[J->n_vars] = n;
    J->vvals[J->n_vars++] = v;
}

/* Jinja's str(): Python's spelling of the value. */
static void stringify(jj *J, sb *b, const val *v, int repr, int line)
{
    step(J, line);
    switch (v->t) {
    case V_UNDEF: break;
    case V_NONE: sb_puts(J, b, "None"); break;
    case V_BOOL: sb_puts(J, b, v->i ? "True" : "False"); break;
    case V_INT: sb_int(J, b, v->i); break;
    case V_STR:
        if (repr) {
            sb_putc(J, b, '\'');
            for (size_t i = 0; i < v->n; i++) {
                char c = v->s[i];
                if (c == '\'' || c == '\\')
                    sb_putc(J, b, '\\');
                if (c == '\n')
                    sb_puts(J, b, "\\n");
                else
                    sb_putc(J, b, c);
            }
            sb_putc(J, b, '\'');
        } else {
            sb_put(J, b, v->s, v->n);
        }
        break;
    case V_LIST:
        sb_putc(J, b, '[');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                sb_puts(J, b, ", ");
            stringify(J, b, v->items[i], 1, line);
        }
        sb_putc(J, b, ']');
        break;
    case V_DICT:
        sb_putc(J, b, '{');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                sb_puts(J, b, ", ");
            val k = {.t = V_STR, .s = v->keys[i], .n = v->klen[i]};
            stringify(J, b, &k, 1, line);
            sb_puts(J, b, ": ");
            stringify(J, b, v->items[i], 1, line);
        }
        sb_putc(J, b, '}');
        break;
    default: fail(J, DC_STATUS_PARSE, line, "cannot print a %s", type_name(v));
    }
}

static val *to_str(jj *J, const val *v, int line)
{
    if (v->t == V_STR)
        return (val *)v;
    sb b = {0};
    stringify(J, &b, v, 0, line);
    return sb_val(J, &b);
}

/* json.dumps(v, ensure_ascii=False) with Python's default separators, as
 * Hugging Face's tojson filter writes it (indent: spaces, -1 none). */
static void to_json(jj *J, sb *b, const val *v, int indent, int level, int line)
{
    step(J, line);
    if (level > MAX_DEPTH)
        fail(J, DC_STATUS_LIMIT, line, "value nested too deep for tojson");
    switch (v->t) {
    case V_UNDEF:
    case V_NONE: sb_puts(J, b, "null"); return;
    case V_BOOL: sb_puts(J, b, v->i ? "true" : "false"); return;
    case V_INT: sb_int(J, b, v->i); return;
    case V_STR:
        sb_putc(J, b, '"');
        for (size_t i = 0; i < v->n; i++) {
            unsigned char c = (unsigned char)v->s[i];
            switch (c) {
            case '"': sb_puts(J, b, "\\\""); break;
            case '\\': sb_puts(J, b, "\\\\"); break;
            case '\n': sb_puts(J, b, "\\n"); break;
            case '\r': sb_puts(J, b, "\\r"); break;
            case '\t': sb_puts(J, b, "\\t"); break;
            case '\b': sb_puts(J, b, "\\b"); break;
            case '\f': sb_puts(J, b, "\\f"); break;
            default:
                if (c < 0x20) {
                    sb_puts(J, b, "\\u00");
                    sb_putc(J, b, "0123456789abcdef"[c >> 4]);
                    sb_putc(J, b, "0123456789abcdef"[c & 15]);
                } else {
                    sb_putc(J, b, (char)c);
                }
            }
        }
        sb_putc(J, b, '"');
        return;
    case V_LIST:
    case V_DICT: {
        int d = v->t == V_DICT;
        sb_putc(J, b, d ? '{' : '[');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                sb_puts(J, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) {
                sb_putc(J, b, '\n');
                for (int k = 0; k < indent * (level + 1); k++)
                    sb_putc(J, b, ' ');
            }
            if (d) {
                val k = {.t = V_STR, .s = v->keys[i], .n = v->klen[i]};
                to_json(J, b, &k, indent, level + 1, line);
                sb_puts(J, b, ": ");
            }
            to_json(J, b, v->items[i], indent, level + 1, line);
        }
        if (indent >= 0 && v->len) {
            sb_putc(J, b, '\n');
            for (int k = 0; k < indent * level; k++)
                sb_putc(J, b, ' ');
        }
        sb_putc(J, b, d ? '}' : ']');
        return;
    }
    default: fail(J, DC_STATUS_PARSE, line, "tojson: cannot encode a %s", type_name(v));
    }
}

static int equal(const val *a, const val *b)
{
    if ((a->t == V_INT || a->t == V_BOOL) && (b->t == V_INT || b->t == V_BOOL))
        return a->i == b->i;
    if (a->t != b->t)
        return (a->t == V_UNDEF || a->t == V_NONE) && (b->t == V_UNDEF || b->t == V_NONE) &&
               a->t == b->t;
    switch (a->t) {
    case V_UNDEF:
    case V_NONE: return 1;
    case V_STR: return a->n == b->n && !memcmp(a->s, b->s, a->n);
    case V_LIST:
    case V_DICT:
        if (a->len != b->len)
            return 0;
        for (size_t i = 0; i < a->len; i++) {
            if (a->t == V_DICT &&
                (a->klen[i] != b->klen[i] || memcmp(a->keys[i], b->keys[i], a->klen[i])))
                return 0;
            if (!equal(a->items[i], b->items[i]))
                return 0;
        }
        return 1;
    default: return a == b;
    }
}

static int compare(jj *J, const val *a, const val *b, int line)
{
    if ((a->t == V_INT || a->t == V_BOOL) && (b->t == V_INT || b->t == V_BOOL))
        return (a->i > b->i) - (a->i < b->i);
    if (a->t == V_STR && b->t == V_STR) {
        size_t n = a->n < b->n ? a->n : b->n;
        int c = memcmp(a->s, b->s, n);
        return c ? (c > 0) - (c < 0) : (a->n > b->n) - (a->n < b->n);
    }
    fail(J, DC_STATUS_PARSE, line, "cannot order a %s and a %s", type_name(a), type_name(b));
}

static int contains(jj *J, const val *hay, const val *needle, int line)
{
    if (hay->t == V_STR) {
        if (needle->t != V_STR)
            fail(J, DC_STATUS_PARSE, line, "'in <string>' needs a string on the left");
        if (!needle->n)
            return 1;
        for (size_t i = 0; i + needle->n <= hay->n; i++)
            if (!memcmp(hay->s + i, needle->s, needle->n))
                return 1;
        return 0;
    }
    if (hay->t == V_LIST) {
        for (size_t i = 0; i < hay->len; i++)
            if (equal(hay->items[i], needle))
                return 1;
        return 0;
    }
    if (hay->t == V_DICT)
        return needle->t == V_STR && dict_find(hay, needle->s, needle->n) >= 0;
    if (hay->t == V_UNDEF) /* Jinja's Undefined iterates as empty */
        return 0;
    fail(J, DC_STATUS_PARSE, line, "'in' needs a string, list or dict on the right, not a %s",
         type_name(hay));
}

/* The strings x and y, one after the other. */
static val *join2(jj *J, const val *x, const val *y)
{
    sb b = {0};
    sb_put(J, &b, x->s, x->n);
    sb_put(J, &b, y->s, y->n);
    return sb_val(J, &b);
}

static val *binop(jj *J, const expr *e, val *a, val *b)
{
    const char *op = e->op;
    if (!strcmp(op, "~"))
        return join2(J, to_str(J, a, e->line), to_str(J, b, e->line));
    if (!strcmp(op, "==") || !strcmp(op, "!="))
        return mk_bool(J, equal(a, b) == (op[0] == '='));
    if (!strcmp(op, "in") || !strcmp(op, "!in"))
        return mk_bool(J, contains(J, b, a, e->line) == (op[0] == 'i'));
    if (op[0] == '<' || op[0] == '>') {
        int c = compare(J, a, b, e->line);
        int r = op[0] == '<' ? (op[1] ? c <= 0 : c < 0) : (op[1] ? c >= 0 : c > 0);
        return mk_bool(J, r);
    }
    if (!strcmp(op, "+") && a->t == V_STR && b->t == V_STR)
        return join2(J, a, b);
    if (!strcmp(op, "+") && a->t == V_LIST && b->t == V_LIST) {
        val *l = mk_list(J);
        for (size_t i = 0; i < a->len; i++)
            list_push(J, l, a->items[i]);
        for (size_t i = 0; i < b->len; i++)
            list_push(J, l, b->items[i]);
        return l;
    }
    if ((a->t == V_INT || a->t == V_BOOL) && (b->t == V_INT || b->t == V_BOOL)) {
        long long x = a->i, y = b->i, r = 0;
        switch (op[0]) {
        case '+':
            if (__builtin_add_overflow(x, y, &r))
                fail(J, DC_STATUS_PARSE, e->line, "integer overflow");
            break;
        case '-':
            if (__builtin_sub_overflow(x, y, &r))
                fail(J, DC_STATUS_PARSE, e->line, "integer overflow");
            break;
        case '*':
            if (__builtin_mul_overflow(x, y, &r))
                fail(J, DC_STATUS_PARSE, e->line, "integer overflow");
            break;
        case '%':
        case '/':
            if (!y || (x == LLONG_MIN && y == -1))
                fail(J, DC_STATUS_PARSE, e->line, "division by zero or overflow");
            if (op[0] == '/' && !op[1] && x % y)
                fail(J, DC_STATUS_PARSE, e->line, "'/' would give a real number (use //)");
            r = op[0] == '%' ? ((x % y) + y) % y : (x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
            break;
        }
        return mk_int(J, r);
    }
    if (!strcmp(op, "*") && a->t == V_STR && b->t == V_INT) {
        if (b->i < 0 || (b->i > 0 && a->n > (1u << 24) / (size_t)b->i))
            fail(J, DC_STATUS_PARSE, e->line, "string repetition out of range");
        size_t n = a->n * (size_t)b->i;
        char *d = alloc(J, n + 1);
        for (long long k = 0; k < b->i; k++)
            memcpy(d + (size_t)k * a->n, a->s, a->n);
        val *s = mk(J, V_STR);
        s->s = d;
        s->n = n;
        return s;
    }
    fail(J, DC_STATUS_PARSE, e->line, "cannot apply '%s' to a %s and a %s", op, type_name(a),
         type_name(b));
}

/* The i-th argument (positional) or the one named kw, else NULL. */
static const expr *arg_of(const expr *e, size_t i, const char *kw)
{
    size_t pos = 0;
    for (size_t k = 0; k < e->n_args; k++) {
        if (e->kw && e->kw[k]) {
            if (kw && !strcmp(e->kw[k], kw))
                return e->args[k];
        } else if (pos++ == i) {
            return e->args[k];
        }
    }
    return NULL;
}

static val *arg(jj *J, const expr *e, size_t i, const char *kw)
{
    const expr *a = arg_of(e, i, kw);
    return a ? eval(J, a) : NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* strip / lstrip / rstrip with Python's meaning of chars (None: white space). */
static val *strip(jj *J, const val *s, const val *chars, int left, int right)
{
    size_t b = 0, e = s->n;
    int ws = !chars || chars->t == V_NONE;
    if (!ws && chars->t != V_STR)
        fail(J, DC_STATUS_PARSE, 0, "strip: characters must be a string");
#define IN_SET(c) (ws ? is_space(c) : memchr(chars->s, (c), chars->n) != NULL)
    while (left && b < e && IN_SET(s->s[b]))
        b++;
    while (right && e > b && IN_SET(s->s[e - 1]))
        e--;
#undef IN_SET
    return mk_str(J, s->s + b, e - b);
}

static val *split(jj *J, const val *s, const val *sep, const val *maxv, int line)
{
    long long max = maxv && maxv->t == V_INT ? maxv->i : -1;
    val *l = mk_list(J);
    if (!sep || sep->t == V_NONE) { /* runs of white space, none at the ends */
        size_t i = 0;
        while (i < s->n) {
            while (i < s->n && is_space(s->s[i]))
                i++;
            if (i == s->n)
                break;
            size_t b = i;
            if (max >= 0 && (long long)l->len == max) {
                size_t e = s->n;
                while (e > b && is_space(s->s[e - 1]))
                    e--;
                list_push(J, l, mk_str(J, s->s + b, e - b));
                break;
            }
            while (i < s->n && !is_space(s->s[i]))
                i++;
            list_push(J, l, mk_str(J, s->s + b, i - b));
        }
        return l;
    }
    if (sep->t != V_STR || !sep->n)
        fail(J, DC_STATUS_PARSE, line, "split: the separator must be a non-empty string");
    size_t b = 0;
    for (size_t i = 0; i + sep->n <= s->n;) {
        if ((max < 0 || (long long)l->len < max) && !memcmp(s->s + i, sep->s, sep->n)) {
            list_push(J, l, mk_str(J, s->s + b, i - b));
            i += sep->n;
            b = i;
        } else {
            i++;
        }
    }
    list_push(J, l, mk_str(J, s->s + b, s->n - b));
    return l;
}

static val *replace(jj *J, const val *s, const val *from, const val *to, int line)
{
    if (s->t != V_STR || !from || from->t != V_STR || !to || to->t != V_STR)
        fail(J, DC_STATUS_PARSE, line, "replace needs strings");
    if (!from->n)
        fail(J, DC_STATUS_PARSE, line, "replace: empty pattern is not supported");
    sb b = {0};
    for (size_t i = 0; i < s->n;) {
        if (i + from->n <= s->n && !memcmp(s->s + i, from->s, from->n)) {
            sb_put(J, &b, to->s, to->n);
            i += from->n;
        } else {
            sb_putc(J, &b, s->s[i++]);
        }
    }
    return sb_val(J, &b);
}

static val *case_map(jj *J, const val *s, int mode) /* 0 lower, 1 upper, 2 title, 3 capitalize */
{
    val *r = mk_str(J, s->s, s->n);
    char *d = (char *)r->s;
    int start = 1;
    for (size_t i = 0; i < r->n; i++) {
        char c = d[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int up = mode == 1 || ((mode == 2 || mode == 3) && start && alpha);
        if (mode == 3 && i > 0)
            up = 0;
        if (up && c >= 'a' && c <= 'z')
            d[i] = (char)(c - 32);
        else if (!up && c >= 'A' && c <= 'Z')
            d[i] = (char)(c + 32);
        start = mode == 2 ? !alpha : 0;
    }
    return r;
}

static val *items_of(jj *J, const val *d)
{
    val *l = mk_list(J);
    for (size_t i = 0; i < d->len; i++) {
        val *p = mk_list(J);
        list_push(J, p, mk_str(J, d->keys[i], d->klen[i]));
        list_push(J, p, d->items[i]);
        list_push(J, l, p);
    }
    return l;
}

static val *attr(jj *J, val *v, const char *name, size_t n, int line);

/* The items of l as strings (each item's attribute at, when given), with
 * sep (NULL: nothing) between them: str.join and the join filter. */
static val *join_list(jj *J, const val *l, const val *sep, const val *at, int line)
{
    sb b = {0};
    for (size_t i = 0; i < l->len; i++) {
        if (i && sep)
            stringify(J, &b, sep, 0, line);
        val *x = l->items[i];
        if (at && at->t == V_STR)
            x = attr(J, x, at->s, at->n, line);
        stringify(J, &b, x, 0, line);
    }
    return sb_val(J, &b);
}

static val *call_method(jj *J, const val *m, const expr *e)
{
    const val *s = m->self;
    const char *n = m->s;
#define IS(x) (m->n == strlen(x) && !memcmp(n, x, m->n))
    if (s->t == V_STR) {
        if (IS("startswith") || IS("endswith")) {
            val *p = arg(J, e, 0, NULL);
            if (!p || p->t != V_STR)
                fail(J, DC_STATUS_PARSE, e->line, "%.*s needs a string", (int)m->n, n);
            int r =
                p->n <= s->n && !memcmp(IS("startswith") ? s->s : s->s + s->n - p->n, p->s, p->n);
            return mk_bool(J, r);
        }
        if (IS("strip") || IS("lstrip") || IS("rstrip"))
            return strip(J, s, arg(J, e, 0, NULL), n[0] != 'r', n[0] != 'l');
        if (IS("split"))
            return split(J, s, arg(J, e, 0, "sep"), arg(J, e, 1, "maxsplit"), e->line);
        if (IS("upper") || IS("lower") || IS("title") || IS("capitalize"))
            return case_map(J, s, IS("lower") ? 0 : IS("upper") ? 1 : IS("title") ? 2 : 3);
        if (IS("replace"))
            return replace(J, s, arg(J, e, 0, NULL), arg(J, e, 1, NULL), e->line);
        if (IS("join")) {
            val *l = arg(J, e, 0, NULL);
            if (!l || l->t != V_LIST)
                fail(J, DC_STATUS_PARSE, e->line, "join needs a list");
            return join_list(J, l, s, NULL, e->line);
        }
    } else if (s->t == V_DICT) {
        if (IS("get")) {
            val *k = arg(J, e, 0, NULL), *d = arg(J, e, 1, NULL);
            long at = k && k->t == V_STR ? dict_find(s, k->s, k->n) : -1;
            return at >= 0 ? s->items[at] : d ? d : mk_none(J);
        }
        if (IS("items"))
            return items_of(J, s);
        if (IS("keys") || IS("values")) {
            val *l = mk_list(J);
            for (size_t i = 0; i < s->len; i++)
                list_push(J, l, IS("keys") ? mk_str(J, s->keys[i], s->klen[i]) : s->items[i]);
            return l;
        }
    }
#undef IS
    fail(J, DC_STATUS_PARSE, e->line, "a %s has no method '%.*s'", type_name(s), (int)m->n, n);
}

static val *call(jj *J, const expr *e)
{
    val *f = eval(J, e->a);
    if (f->t == V_METHOD)
        return call_method(J, f, e);
    if (f->t != V_GLOBAL)
        fail(J, DC_STATUS_PARSE, e->line, "cannot call a %s", type_name(f));
    if (f->n == 9) { /* namespace(a=1, ...) */
        val *d = mk_dict(J);
        d->ns = 1;
        for (size_t k = 0; k < e->n_args; k++) {
            if (!e->kw[k])
                fail(J, DC_STATUS_PARSE, e->line, "namespace() takes name=value arguments");
            dict_set(J, d, e->kw[k], e->kw_n[k], eval(J, e->args[k]));
        }
        return d;
    }
    if (f->n == 5) { /* range(stop), range(start, stop[, step]) */
        val *a = arg(J, e, 0, NULL), *b = arg(J, e, 1, NULL), *c = arg(J, e, 2, NULL);
        if (!a || a->t != V_INT || (b && b->t != V_INT) || (c && (c->t != V_INT || !c->i)))
            fail(J, DC_STATUS_PARSE, e->line, "range() needs integers (and a step other than 0)");
        long long lo = b ? a->i : 0, hi = b ? b->i : a->i, st = c ? c->i : 1;
        if ((st > 0 && hi > lo && (hi - lo) / st > MAX_RANGE) ||
            (st < 0 && lo > hi && (lo - hi) / -st > MAX_RANGE))
            fail(J, DC_STATUS_LIMIT, e->line, "range() of over %d items", MAX_RANGE);
        val *l = mk_list(J);
        for (long long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            step(J, e->line);
            list_push(J, l, mk_int(J, i));
        }
        return l;
    }
    val *m = arg(J, e, 0, NULL);
    val *s = m ? to_str(J, m, e->line) : mk_str(J, "", 0);
    fail(J, DC_STATUS_PARSE, e->line, "the template raised an exception: %.*s",
         (int)(s->n < 300 ? s->n : 300), s->s);
}

static val *attr(jj *J, val *v, const char *name, size_t n, int line)
{
    if (v->t == V_DICT) {
        long at = dict_find(v, name, n);
        if (at >= 0)
            return v->items[at];
    }
    if (v->t == V_UNDEF)
        fail(J, DC_STATUS_PARSE, line, "attribute '%.*s' of an undefined value", (int)n, name);
    if (v->t == V_STR || v->t == V_DICT) {
        static const char *const methods[] = {
            "startswith", "endswith", "strip", "lstrip",     "rstrip",  "split",
            "upper",      "lower",    "title", "capitalize", "replace", "join",
            "get",        "items",    "keys",  "values",     NULL};
        for (size_t i = 0; methods[i]; i++)
            if (strlen(methods[i]) == n && !memcmp(methods[i], name, n) &&
                ((v->t == V_STR) == (i < 12))) {
                val *m = mk(J, V_METHOD);
                m->s = methods[i];
                m->n = n;
                m->self = v;
                return m;
            }
    }
    return mk_undef(J);
}

static long long norm_index(long long i, size_t len)
{
    return i < 0 ? i + (long long)len : i;
}

static val *subscript(jj *J, val *v, val *k, int line)
{
    if (v->t == V_DICT) {
        if (k->t != V_STR)
            return mk_undef(J);
        long at = dict_find(v, k->s, k->n);
        return at >= 0 ? v->items[at] : mk_undef(J);
    }
    if ((v->t == V_LIST || v->t == V_STR) && k->t == V_INT) {
        size_t len = v->t == V_LIST ? v->len : v->n;
        long long i = norm_index(k->i, len);
        if (i < 0 || i >= (long long)len)
            return mk_undef(J);
        return v->t == V_LIST ? v->items[i] : mk_str(J, v->s + i, 1);
    }
    if (v->t == V_UNDEF)
        fail(J, DC_STATUS_PARSE, line, "subscript of an undefined value");
    return mk_undef(J);
}

static val *slice(jj *J, const expr *e)
{
    val *v = eval(J, e->a);
    if (v->t != V_LIST && v->t != V_STR)
        fail(J, DC_STATUS_PARSE, e->line, "cannot slice a %s", type_name(v));
    long long len = (long long)(v->t == V_LIST ? v->len : v->n);
    val *sv = e->args[0] ? eval(J, e->args[0]) : NULL;
    long long st = sv && sv->t != V_NONE ? sv->i : 1;
    if ((sv && sv->t != V_NONE && sv->t != V_INT) || !st)
        fail(J, DC_STATUS_PARSE, e->line, "bad slice step");
    val *bv = e->b ? eval(J, e->b) : NULL, *ev = e->c ? eval(J, e->c) : NULL;
    if ((bv && bv->t != V_INT && bv->t != V_NONE) || (ev && ev->t != V_INT && ev->t != V_NONE))
        fail(J, DC_STATUS_PARSE, e->line, "slice bounds must be integers");
    long long b, en;
    if (st > 0) {
        b = bv && bv->t == V_INT ? norm_index(bv->i, (size_t)len) : 0;
        en = ev && ev->t == V_INT ? norm_index(ev->i, (size_t)len) : len;
        b = b < 0 ? 0 : b > len ? len : b;
        en = en < 0 ? 0 : en > len ? len : en;
    } else {
        b = bv && bv->t == V_INT ? norm_index(bv->i, (size_t)len) : len - 1;
        en = ev && ev->t == V_INT ? norm_index(ev->i, (size_t)len) : -1;
        b = b < -1 ? -1 : b > len - 1 ? len - 1 : b;
        en = en < -1 ? -1 : en > len - 1 ? len - 1 : en;
    }
    if (v->t == V_LIST) {
        val *l = mk_list(J);
        for (long long i = b; st > 0 ? i < en : i > en; i += st)
            list_push(J, l, v->items[i]);
        return l;
    }
    sb out = {0};
    for (long long i = b; st > 0 ? i < en : i > en; i += st)
        sb_putc(J, &out, v->s[i]);
    return sb_val(J, &out);
}

static int run_test(jj *J, const expr *e, val *v)
{
#define IS(x) (e->name_n == strlen(x) && !memcmp(e->name, x, e->name_n))
    if (IS("defined"))
        return v->t != V_UNDEF;
    if (IS("undefined"))
        return v->t == V_UNDEF;
    if (IS("none"))
        return v->t == V_NONE;
    if (IS("string"))
        return v->t == V_STR;
    if (IS("number") || IS("integer"))
        return v->t == V_INT;
    if (IS("boolean"))
        return v->t == V_BOOL;
    if (IS("true") || IS("false"))
        return v->t == V_BOOL && v->i == (e->name[0] == 't');
    if (IS("mapping"))
        return v->t == V_DICT;
    if (IS("iterable") || IS("sequence"))
        return v->t == V_LIST || v->t == V_STR || v->t == V_DICT;
    if (IS("callable"))
        return v->t == V_METHOD || v->t == V_GLOBAL;
    if (IS("odd") || IS("even")) {
        if (v->t != V_INT)
            fail(J, DC_STATUS_PARSE, e->line, "odd/even need an integer");
        return (int)(v->i & 1) == (e->name[0] == 'o');
    }
    if (IS("equalto") || IS("eq") || IS("sameas")) {
        val *o = arg(J, e, 0, NULL);
        return o && equal(v, o);
    }
    if (IS("in")) {
        val *o = arg(J, e, 0, NULL);
        return o && contains(J, o, v, e->line);
    }
#undef IS
    fail(J, DC_STATUS_PARSE, e->line, "the test '%s' is not supported", e->name);
}

static val *as_list(jj *J, val *v, int line)
{
    if (v->t == V_LIST)
        return v;
    val *l = mk_list(J);
    if (v->t == V_STR) {
        for (size_t i = 0; i < v->n; i++)
            list_push(J, l, mk_str(J, v->s + i, 1));
    } else if (v->t == V_DICT) {
        for (size_t i = 0; i < v->len; i++)
            list_push(J, l, mk_str(J, v->keys[i], v->klen[i]));
    } else if (v->t != V_UNDEF && v->t != V_NONE) {
        fail(J, DC_STATUS_PARSE, line, "cannot iterate over a %s", type_name(v));
    } else if (v->t == V_NONE) {
        fail(J, DC_STATUS_PARSE, line, "cannot iterate over none");
    }
    return l;
}

/* selectattr / rejectattr (attr[, test[, arg]]), select / reject (test[, arg]). */
static val *select(jj *J, const expr *e, val *v, int by_attr, int keep)
{
    val *l = as_list(J, v, e->line);
    val *name = by_attr ? arg(J, e, 0, NULL) : NULL;
    if (by_attr && (!name || name->t != V_STR))
        fail(J, DC_STATUS_PARSE, e->line, "%s needs an attribute name", e->name);
    val *test = arg(J, e, by_attr ? 1 : 0, NULL);
    const expr *targ = arg_of(e, by_attr ? 2 : 1, NULL);
    if (test && test->t != V_STR)
        fail(J, DC_STATUS_PARSE, e->line, "%s: the test must be named by a string", e->name);
    expr t = {.t = E_TEST, .line = e->line};
    if (test) {
        t.name = test->s;
        t.name_n = test->n;
    }
    expr *targs[1] = {(expr *)targ};
    const char *tkw[1] = {NULL};
    size_t tkwn[1] = {0};
    if (targ) {
        t.args = targs;
        t.kw = tkw;
        t.kw_n = tkwn;
        t.n_args = 1;
    }
    val *out = mk_list(J);
    for (size_t i = 0; i < l->len; i++) {
        step(J, e->line);
        val *x = by_attr ? attr(J, l->items[i], name->s, name->n, e->line) : l->items[i];
        int r = test ? run_test(J, &t, x) : truthy(x);
        if (r == keep)
            list_push(J, out, l->items[i]);
    }
    return out;
}

static val *filter(jj *J, const expr *e)
{
    val *v = eval(J, e->a);
#define IS(x) (e->name_n == strlen(x) && !memcmp(e->name, x, e->name_n))
    if (IS("default") || IS("d")) {
        val *d = arg(J, e, 0, "default_value");
        val *b = arg(J, e, 1, "boolean");
        int use = v->t == V_UNDEF || (b && truthy(b) && !truthy(v));
        return use ? (d ? d : mk_str(J, "", 0)) : v;
    }
    if (v->t == V_UNDEF && !IS("string"))
        fail(J, DC_STATUS_PARSE, e->line, "filter '%s' on an undefined value", e->name);
    if (IS("length") || IS("count")) {
        if (v->t == V_STR)
            return mk_int(J, (long long)v->n);
        if (v->t == V_LIST || v->t == V_DICT)
            return mk_int(J, (long long)v->len);
        fail(J, DC_STATUS_PARSE, e->line, "length of a %s", type_name(v));
    }
    if (IS("tojson")) {
        val *ind = arg(J, e, 0, "indent");
        sb b = {0};
        to_json(J, &b, v, ind && ind->t == V_INT ? (int)ind->i : -1, 0, e->line);
        return sb_val(J, &b);
    }
    if (IS("string"))
        return to_str(J, v, e->line);
    if (IS("trim") || IS("upper") || IS("lower") || IS("title") || IS("capitalize")) {
        if (v->t != V_STR)
            fail(J, DC_STATUS_PARSE, e->line, "filter '%s' needs a string", e->name);
        if (IS("trim"))
            return strip(J, v, arg(J, e, 0, "chars"), 1, 1);
        return case_map(J, v, IS("lower") ? 0 : IS("upper") ? 1 : IS("title") ? 2 : 3);
    }
    if (IS("replace"))
        return replace(J, v, arg(J, e, 0, NULL), arg(J, e, 1, NULL), e->line);
    if (IS("safe") || IS("e") || IS("escape") || IS("forceescape")) {
        if (IS("safe"))
            return v;
        fail(J, DC_STATUS_PARSE, e->line, "HTML escaping is not supported");
    }
    if (IS("int")) {
        if (v->t == V_INT || v->t == V_BOOL)
            return mk_int(J, v->i);
        if (v->t == V_STR) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.*s", (int)(v->n < 31 ? v->n : 31), v->s);
            char *end;
            long long x = strtoll(buf, &end, 10);
            return mk_int(J, *end || end == buf ? 0 : x);
        }
        return mk_int(J, 0);
    }
    if (IS("list"))
        return as_list(J, v, e->line);
    if (IS("items")) {
        if (v->t != V_DICT)
            fail(J, DC_STATUS_PARSE, e->line, "items needs a dict");
        return items_of(J, v);
    }
    if (IS("first") || IS("last")) {
        val *l = as_list(J, v, e->line);
        return l->len ? l->items[IS("first") ? 0 : l->len - 1] : mk_undef(J);
    }
    if (IS("reverse")) {
        if (v->t == V_STR) {
            val *r = mk_str(J, v->s, v->n);
            char *d = (char *)r->s;
            for (size_t i = 0; i < r->n / 2; i++) {
                char c = d[i];
                d[i] = d[r->n - 1 - i];
                d[r->n - 1 - i] = c;
            }
            return r;
        }
        val *l = as_list(J, v, e->line), *r = mk_list(J);
        for (size_t i = l->len; i-- > 0;)
            list_push(J, r, l->items[i]);
        return r;
    }
    if (IS("join")) {
        return join_list(J, as_list(J, v, e->line), arg(J, e, 0, "d"), arg(J, e, 1, "attribute"),
                         e->line);
    }
    if (IS("map")) {
        val *at = arg(J, e, 0, "attribute");
        if (!at || at->t != V_STR || !arg_of(e, 0, "attribute"))
            fail(J, DC_STATUS_PARSE, e->line, "map: only map(attribute='name') is supported");
        val *l = as_list(J, v, e->line), *r = mk_list(J);
        for (size_t i = 0; i < l->len; i++)
            list_push(J, r, attr(J, l->items[i], at->s, at->n, e->line));
        return r;
    }
    if (IS("selectattr") || IS("rejectattr"))
        return select(J, e, v, 1, e->name[0] == 's');
    if (IS("select") || IS("reject"))
        return select(J, e, v, 0, e->name[0] == 's');
#undef IS
    fail(J, DC_STATUS_PARSE, e->line, "the filter '%s' is not supported", e->name);
}

static val *eval(jj *J, const expr *e)
{
    if (++J->depth > MAX_DEPTH)
        fail(J, DC_STATUS_LIMIT, e->line, "nested too deep");
    step(J, e->line);
    val *r = NULL;
    switch (e->t) {
    case E_LIT: r = e->lit; break;
    case E_NAME: r = lookup(J, e->name, e->name_n); break;
    case E_LIST:
        r = mk_list(J);
        for (size_t i = 0; i < e->n_args; i++)
            list_push(J, r, eval(J, e->args[i]));
        break;
    case E_DICT:
        r = mk_dict(J);
        for (size_t i = 0; i + 1 < e->n_args; i += 2) {
            val *k = eval(J, e->args[i]);
            if (k->t != V_STR)
                fail(J, DC_STATUS_PARSE, e->line, "dict keys must be strings");
            dict_set(J, r, k->s, k->n, eval(J, e->args[i + 1]));
        }
        break;
    case E_ATTR: r = attr(J, eval(J, e->a), e->name, e->name_n, e->line); break;
    case E_INDEX: r = subscript(J, eval(J, e->a), eval(J, e->b), e->line); break;
    case E_SLICE: r = slice(J, e); break;
    case E_CALL: r = call(J, e); break;
    case E_FILTER: r = filter(J, e); break;
    case E_TEST: r = mk_bool(J, run_test(J, e, eval(J, e->a)) != e->negate); break;
    case E_NOT: r = mk_bool(J, !truthy(eval(J, e->a))); break;
    case E_NEG: {
        val *a = eval(J, e->a);
        if (a->t != V_INT || a->i == LLONG_MIN)
            fail(J, DC_STATUS_PARSE, e->line, "cannot negate a %s", type_name(a));
        r = mk_int(J, -a->i);
        break;
    }
    case E_AND: {
        val *a = eval(J, e->a);
        r = truthy(a) ? eval(J, e->b) : a;
        break;
    }
    case E_OR: {
        val *a = eval(J, e->a);
        r = truthy(a) ? a : eval(J, e->b);
        break;
    }
    case E_BIN: r = binop(J, e, eval(J, e->a), eval(J, e->b)); break;
    case E_COND:
        r = truthy(eval(J, e->b)) ? eval(J, e->a) : e->c ? eval(J, e->c) : mk_undef(J);
        break;
    }
    J->depth--;
    return r;
}

static void exec(jj *J, const stmt *s);

/* The loop's variable(s) for one item: x, or k, v from a pair. */
static void bind_loop_vars(jj *J, const stmt *s, val *item)
{
    if (s->n_vars == 1) {
        assign(J, s->var[0], s->var_n[0], item);
        return;
    }
    if (item->t != V_LIST || item->len != 2)
        fail(J, DC_STATUS_PARSE, s->line, "cannot unpack a %s into two variables", type_name(item));
    assign(J, s->var[0], s->var_n[0], item->items[0]);
    assign(J, s->var[1], s->var_n[1], item->items[1]);
}

static void exec_for(jj *J, const stmt *s)
{
    val *it = eval(J, s->e);
    if (it->t == V_DICT && s->n_vars == 2)
        it = items_of(J, it);
    val *l = as_list(J, it, s->line);
    /* the filter first: loop.* counts the items that pass it */
    val *pass = l;
    if (s->cond) {
        pass = mk_list(J);
        size_t mark = J->n_vars;
        for (size_t i = 0; i < l->len; i++) {
            J->n_vars = mark;
            bind_loop_vars(J, s, l->items[i]);
            if (truthy(eval(J, s->cond)))
                list_push(J, pass, l->items[i]);
        }
        J->n_vars = mark;
    }
    if (!pass->len) {
        exec(J, s->alt);
        return;
    }
    size_t mark = J->n_vars;
    for (size_t i = 0; i < pass->len; i++) {
        step(J, s->line);
        J->n_vars = mark;
        val *loop = mk_dict(J);
        long long n = (long long)pass->len, k = (long long)i;
        dict_set(J, loop, "index0", 6, mk_int(J, k));
        dict_set(J, loop, "index", 5, mk_int(J, k + 1));
        dict_set(J, loop, "revindex0", 9, mk_int(J, n - k - 1));
        dict_set(J, loop, "revindex", 8, mk_int(J, n - k));
        dict_set(J, loop, "first", 5, mk_bool(J, k == 0));
        dict_set(J, loop, "last", 4, mk_bool(J, k == n - 1));
        dict_set(J, loop, "length", 6, mk_int(J, n));
        dict_set(J, loop, "previtem", 8, k ? pass->items[k - 1] : mk_undef(J));
        dict_set(J, loop, "nextitem", 8, k + 1 < n ? pass->items[k + 1] : mk_undef(J));
        assign(J, "loop", 4, loop);
        bind_loop_vars(J, s, pass->items[i]);
        exec(J, s->body);
        if (J->brk) {
            J->brk = 0;
            break;
        }
        J->cont = 0;
    }
    J->n_vars = mark; /* Jinja: variables set in a loop do not leave it */
}

static void exec(jj *J, const stmt *s)
{
    if (++J->depth > MAX_DEPTH)
        fail(J, DC_STATUS_LIMIT, s ? s->line : 0, "nested too deep");
    for (; s && !J->brk && !J->cont; s = s->next) {
        switch (s->t) {
        case S_TEXT:
            step(J, s->line);
            sb_put(J, &J->out, s->text, s->n);
            break;
        case S_OUT: {
            val *v = eval(J, s->e);
            stringify(J, &J->out, v, 0, s->line);
            break;
        }
        case S_IF: exec(J, truthy(eval(J, s->e)) ? s->body : s->alt); break;
        case S_FOR: exec_for(J, s); break;
        case S_SET: {
            val *v = eval(J, s->e);
            if (s->attr) {
                val *ns = lookup(J, s->var[0], s->var_n[0]);
                if (ns->t != V_DICT || !ns->ns)
                    fail(J, DC_STATUS_PARSE, s->line, "'%s' is not a namespace", s->var[0]);
                dict_set(J, ns, s->attr, s->attr_n, v);
            } else {
                assign(J, s->var[0], s->var_n[0], v);
            }
            break;
        }
        case S_BREAK: J->brk = 1; break;
        case S_CONTINUE: J->cont = 1; break;
        }
    }
    J->depth--;
}

dc_status dc_jinja_render(const char *tmpl, const char *context_json, char **out, size_t *out_len,
                          dc_error *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    json_error_t je;
    json_t *ctx = json_loads(context_json, JSON_REJECT_DUPLICATES, &je);
    if (!ctx || !json_is_object(ctx)) {
        json_decref(ctx);
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "chat template context: %s",
                            ctx ? "not a JSON object" : je.text);
    }
    jj *J = calloc(1, sizeof *J);
    if (!J) {
        json_decref(ctx);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    J->src = tmpl;
    J->len = strlen(tmpl);
    /* keep_trailing_newline is off: one final newline of the template goes */
    if (J->len && tmpl[J->len - 1] == '\n')
        J->len -= 1 + (J->len > 1 && tmpl[J->len - 2] == '\r');
    J->line = 1;
    dc_status st = DC_STATUS_OK;
    if (setjmp(J->fail) == 0) {
        const char *k;
        json_t *x;
        json_object_foreach(ctx, k, x)
        {
            const char *name = dup_n(J, k, strlen(k));
            assign(J, name, strlen(k), from_json(J, x, 0));
        }
        block_end be;
        stmt *prog = parse_block(J, &be);
        if (strcmp(be.word, "eof"))
            fail(J, DC_STATUS_PARSE, be.line, "'%s' without its opening statement", be.word);
        J->depth = 0;
        exec(J, prog);
        if (J->brk || J->cont)
            fail(J, DC_STATUS_PARSE, 0, "break or continue outside a loop");
    } else {
        st = J->st;
    }
    if (st == DC_STATUS_OK) {
        size_t n = J->out.n;
        char *text = dc_malloc(n + 1);
        if (!text) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        } else {
            if (n)
                memcpy(text, J->out.p, n);
            text[n] = '\0';
            *out = text;
            if (out_len)
                *out_len = n;
        }
    } else {
        dc_error_set(err, st, "chat template: %s", J->msg);
    }
    arena_free(&J->ar);
    free(J);
    json_decref(ctx);
    return st;
}
