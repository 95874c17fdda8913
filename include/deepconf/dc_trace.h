/* dc_trace.h - traces with per-token logprobs, and their JSON forms.
 *
 * A dc_trace is what a backend produces and what the core scores: the
 * sampled tokens, each with its logprob and the top-k alternatives of the
 * model's raw distribution. dc_trace_parse_json() reads the forms that
 * tools and servers write (see docs/formats.md):
 *
 *   - this project's line form: {"id", "answer", "text"?, "tokens": [
 *       {"token", "logprob", "id"?, "top_logprobs": [{"token", "logprob", "id"?}]}]}
 *   - an OpenAI-style chat completion or completion response (vLLM, SGLang,
 *     llama-server, OpenAI): one trace per choice, with either the
 *     chat-style logprobs.content[] or the legacy tokens/token_logprobs/
 *     top_logprobs arrays.
 */
#ifndef DC_TRACE_H
#define DC_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_confidence.h"
#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_token {
    int32_t id;       /* token id, -1 when unknown */
    char *text;       /* token text, owned; NULL when unknown */
    double logprob;   /* sampled token's logprob; NaN when unknown */
    int sampled_rank; /* index of the sampled token in top_lp, -1 when absent */
    size_t n_top;
    double *top_lp;  /* owned, n_top, most likely first */
    char **top_text; /* owned, n_top entries (each may be NULL); NULL when none */
    int32_t *top_id; /* owned, n_top entries (-1 unknown); NULL when none */
} dc_token;

typedef struct dc_trace {
    char *id;             /* owned; never NULL after parsing */
    char *answer;         /* owned; NULL when the trace has none */
    int has_answer_field; /* 1 when the input carried an "answer" key */
    char *text;           /* owned; NULL when the input had none */
    char *finish_reason;  /* owned; NULL when unknown */
    size_t n_tokens;
    dc_token *tokens; /* owned */
} dc_trace;

/* Limits applied while parsing; take them from dc_trace_default_limits(). */
typedef struct dc_trace_limits {
    size_t max_tokens; /* per trace, default 1 << 20 */
    size_t max_top;    /* alternatives per position, default 1024 */
    size_t max_traces; /* choices per response, default 4096 */
} dc_trace_limits;

dc_trace_limits dc_trace_default_limits(void);

/* Parses one JSON text (one line of a .jsonl file) into *traces (an array
 * of *n_traces, caller frees with dc_traces_free). default_id names
 * traces whose input has no id (a choice index is appended for
 * responses). On failure err->msg names the field, the choice and the
 * position, e.g. "tokens[3].top_logprobs[1]: expected a number". */
dc_status dc_trace_parse_json(const char *json, size_t len, const char *default_id,
                              const dc_trace_limits *limits, dc_trace **traces, size_t *n_traces,
                              dc_error *err);

void dc_trace_clear(dc_trace *t);

/* A deep copy of the first keep tokens of s into *d (id, answer and
 * finish_reason left NULL), with d->text the concatenated text of the
 * first text_tokens of them (an end-of-generation token's text left out by
 * passing keep - 1). NOMEM; d is then partly filled: clear it with
 * dc_trace_clear. */
dc_status dc_trace_copy_prefix(const dc_trace *s, size_t keep, size_t text_tokens, dc_trace *d);
void dc_traces_free(dc_trace *traces, size_t n);

/* Views of the tokens as core positions; out holds t->n_tokens. */
void dc_trace_positions(const dc_trace *t, dc_position *out);

/* The official DeepConf answer extraction: the text after the last
 * "boxed"; "{...}" with nested braces, else up to the first '$';
 * whitespace-trimmed. NULL when the text has no "boxed" (and then the
 * trace has no answer); "" when nothing follows it. Caller frees. */
char *dc_extract_boxed(const char *text);

#ifdef __cplusplus
}
#endif

#endif /* DC_TRACE_H */
