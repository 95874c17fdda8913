/* dc_status.h - the one status enum of safety-deepconf, and its allocator hook.
 *
 * Every function of the library (core dc_, backends dc_backend_, safety
 * sdc_) that can fail returns a dc_status: 0 is success, negative values
 * are errors. Detail (which file, line, field, request) goes into a
 * caller-owned dc_error; the library never prints and never exits.
 */
#ifndef DC_STATUS_H
#define DC_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro list: name, value, message. Names and messages cannot drift. */
#define DC_STATUS_MAP(X)                                              \
    X(OK, 0, "success")                                               \
    X(NOMEM, -1, "out of memory")                                     \
    X(INVALID_ARG, -2, "invalid argument")                            \
    X(IO, -3, "input/output error")                                   \
    X(PARSE, -4, "malformed input")                                   \
    X(FORMAT, -5, "input does not have the expected fields or types") \
    X(LIMIT, -6, "input exceeds a size limit")                        \
    X(UTF8, -7, "invalid UTF-8")                                      \
    X(NOT_FOUND, -8, "not found")                                     \
    X(EXISTS, -9, "already exists")                                   \
    X(UNSUPPORTED, -10, "not supported")                              \
    X(BACKEND, -11, "backend error")                                  \
    X(NETWORK, -12, "network error")                                  \
    X(HTTP, -13, "server answered with an HTTP error")                \
    X(PROTOCOL, -14, "server reply does not follow the protocol")     \
    X(TIMEOUT, -15, "timed out")                                      \
    X(CANCELLED, -16, "cancelled")                                    \
    X(CHECKSUM, -17, "checksum mismatch")                             \
    X(NO_SPACE, -18, "no space left on device")                       \
    X(MODEL, -19, "model error")                                      \
    X(CONFIG, -20, "invalid configuration")                           \
    X(STATE, -21, "call not valid in the current state")

typedef enum dc_status {
#define DC_STATUS_ENUM_(name, value, msg) DC_STATUS_##name = value,
    DC_STATUS_MAP(DC_STATUS_ENUM_)
#undef DC_STATUS_ENUM_
} dc_status;

/* Human-readable message for a status ("out of memory"). Never NULL; an
 * unknown value gives "unknown status". Static storage, do not free. */
const char *dc_strerror(dc_status status);

/* The constant's name without prefix ("NOMEM"). Never NULL. Static. */
const char *dc_status_name(dc_status status);

/* Detail of an error, filled by the function that failed. Caller-owned,
 * usually on the stack; functions only write into it when they fail. */
#define DC_ERROR_MSG_MAX 512
typedef struct dc_error {
    dc_status status;
    char msg[DC_ERROR_MSG_MAX]; /* NUL-terminated, "" when none */
} dc_error;

/* Sets err (when not NULL) to status with a printf-style message and
 * returns status, so that a failing function can `return dc_error_set(...)`. */
dc_status dc_error_set(dc_error *err, dc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Puts "<printf-style text>: " before err's message (the context a caller
 * adds, as "opening the llama backend: ..."); err's status is kept. Does
 * nothing when err is NULL. */
void dc_error_prefix(dc_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- allocator hook ---------------------------------------------------- */

/* Every allocation of the library goes through these functions. Replace
 * them before any other call (not thread-safe against concurrent calls).
 * The defaults are malloc/realloc/free. ctx is passed back unchanged. */
typedef struct dc_allocator {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
} dc_allocator;

/* Installs a (NULL: the default). Returns DC_STATUS_INVALID_ARG when one
 * of the three functions is missing. The struct is copied. */
dc_status dc_set_allocator(const dc_allocator *a);

/* Allocate through the hook. dc_malloc(0) returns a unique non-NULL
 * pointer or NULL; both may be passed to dc_free. dc_calloc and
 * dc_reallocarray check n * size for overflow and return NULL on it. */
void *dc_malloc(size_t size);
void *dc_calloc(size_t n, size_t size);
void *dc_realloc(void *ptr, size_t size);
void *dc_reallocarray(void *ptr, size_t n, size_t size);
void dc_free(void *ptr);
/* Copy of a NUL-terminated string (NULL gives NULL); caller frees with dc_free. */
char *dc_strdup(const char *s);
/* Copy of n bytes plus a NUL; caller frees with dc_free. */
char *dc_strndup(const char *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* DC_STATUS_H */
