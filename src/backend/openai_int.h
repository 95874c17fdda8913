/* openai_int.h - pieces of the OpenAI-compatible backend shared by its
 * files and its unit tests (internal). */
#ifndef SDC_BACKEND_OPENAI_INT_H
#define SDC_BACKEND_OPENAI_INT_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"
#include "deepconf/dc_trace.h"
#include "util/buf.h"

/* ---- server-sent events (openai_sse.c) ---- */

/* Splits a byte stream into events: "data:" lines are joined with "\n",
 * an empty line ends the event, ":" comments (pings), "event:", "id:" and
 * "retry:" lines are ignored, "\r\n" and "\n" both end a line. */
typedef struct oai_sse {
    dc_buf line;  /* the line being read */
    dc_buf data;  /* the event being read */
    int has_data; /* data lines were seen since the last event */
    int done;     /* "data: [DONE]" was seen */
    int cr;       /* the last byte fed was '\r' */
} oai_sse;

/* An event's data, NUL-terminated, borrowed for the call. Returns 0 to
 * go on, nonzero to stop feeding (oai_sse_feed then returns OK at once). */
typedef int (*oai_sse_event_fn)(void *user, const char *data, size_t len);

/* max_line caps one line and one event's data. */
void oai_sse_init(oai_sse *s, size_t max_line);
void oai_sse_free(oai_sse *s);
void oai_sse_reset(oai_sse *s);
/* Feeds bytes. LIMIT when a line or an event exceeds max_line, NOMEM. */
dc_status oai_sse_feed(oai_sse *s, const char *p, size_t n, oai_sse_event_fn fn, void *user,
                       dc_error *err);
/* End of the stream: dispatches an event left without its empty line. */
void oai_sse_finish(oai_sse *s, oai_sse_event_fn fn, void *user);

/* ---- one reply object: a whole response or one streamed chunk (openai_chunk.c) ---- */

typedef struct oai_chunk {
    int is_error; /* {"error": ...} or {"object": "error"} */
    char error_msg[DC_ERROR_MSG_MAX];
    int error_code;         /* the error's "code" when a number, else 0 */
    int has_choice;         /* choices[0] is there */
    char finish_reason[32]; /* "" while the choice goes on */
    int legacy_dict;        /* logprobs came as {token: logprob} dicts */
    int has_text;           /* the choice carried non-empty text/content */
    long prompt_tokens;     /* usage.prompt_tokens, -1 when absent */
    dc_trace tokens;        /* the choice's tokens (owned; n_tokens may be 0) */
} oai_chunk;

/* Parses one JSON object. PARSE (not JSON), FORMAT (a field missing or of
 * the wrong type; err->msg names it), LIMIT, NOMEM. *out is always
 * initialised; free it with oai_chunk_clear. */
dc_status oai_chunk_parse(const char *json, size_t len, const dc_trace_limits *lim, oai_chunk *out,
                          dc_error *err);
void oai_chunk_clear(oai_chunk *c);

/* ---- the request (openai_request.c) ---- */

typedef struct oai_req_spec {
    int api; /* dc_openai_api */
    const char *model;
    int stream;
    int send_top_k_min_p;
    int send_template_kwargs;
    int send_stream_usage;
} oai_req_spec;

/* The JSON body of one trace's request into out (reset first). seed: the
 * trace's dc_trace_seed(); its low 32 bits are sent. UNSUPPORTED (a
 * prompt form the endpoint cannot take), NOMEM, LIMIT. */
dc_status oai_request_body(const oai_req_spec *spec, const dc_prompt *prompt,
                           const dc_gen_params *gp, uint64_t seed, dc_buf *out, dc_error *err);

/* Qwen3's chat template for one turn, generation prompt included, the
 * empty think block when thinking is off. Caller frees with dc_free. */
char *oai_format_qwen3(const char *system, const char *user, int enable_thinking);

/* Endpoint URL checks: *base gets the normalised base ending in "/v1"
 * (caller frees), *loopback whether the host is 127.0.0.0/8, ::1 or
 * localhost, *https the scheme. CONFIG with the reason. */
dc_status oai_endpoint_parse(const char *url, char **base, int *loopback, int *https,
                             dc_error *err);

/* Replaces every occurrence of secret in s (NUL-terminated, in place) by
 * "[redacted]" when that is not longer, else by as many '*'. secret NULL
 * or "": no-op. */
void oai_redact(char *s, const char *secret);

#endif
