/* dc_backend_openai.h - the OpenAI-compatible HTTP backend (vLLM, SGLang,
 * llama-server, OpenAI).
 *
 * Implements dc_backend.h against one or more servers: every trace is one
 * HTTP request (n = 1, its own seed) to /v1/chat/completions (default) or
 * /v1/completions, asking for the sampled token's logprob and the top-k
 * alternatives. Up to `concurrency` requests are in flight at once (curl
 * multi, all driven from the thread that calls dc_backend_generate), each
 * sent to the endpoint with the fewest requests in flight, so the traces
 * of one instance may land on different servers.
 *
 * Streaming (the default) hands every token to the observer as its
 * server-sent event arrives; DC_OBSERVE_STOP drops that token and closes
 * the connection at once, which vLLM, SGLang and llama-server take as
 * "cancel this request". Without streaming the reply is read whole and
 * then shown to the observer token by token (STOP then only truncates:
 * the server has already generated the rest).
 *
 *   dc_openai_params p = dc_backend_openai_default_params();
 *   const char *eps[] = {"http://10.0.0.5:8000", "http://10.0.0.6:8000"};
 *   p.endpoints = eps; p.n_endpoints = 2;
 *   p.model = "Qwen/Qwen3-8B";
 *   dc_backend_openai_open(&p, &b, &err);
 *
 * Faults: connection refused or reset, a stream that ends before its
 * finish_reason, the connect / first-byte / idle timeouts, HTTP 429
 * (honouring Retry-After), 500, 502, 503 and 504 are retried up to
 * max_retries times with exponential backoff and jitter, on another
 * endpoint when there is one. A retried stream is replayed silently up
 * to the position the observer already saw (the same seed gives the same
 * tokens; a different token there fails the trace). A trace that still
 * fails ends with DC_STOP_ERROR, its status in dc_gen_trace.error and the
 * reason in dc_backend_openai_trace_error(); other HTTP errors and
 * replies that break the protocol (bad JSON, missing fields, fewer
 * top_logprobs than asked) fail at once, naming the request and what was
 * missing.
 *
 * Security: the API key is read from the environment variable api_key_env
 * when the backend opens, sent only as "Authorization: Bearer", and
 * removed from every message the backend writes (also when a server
 * echoes it). It is never sent over plain HTTP to a host other than
 * loopback unless allow_insecure is set; redirects are not followed. */
#ifndef DC_BACKEND_OPENAI_H
#define DC_BACKEND_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_OPENAI_MAX_ENDPOINTS 64

typedef enum dc_openai_api {
    DC_OPENAI_API_CHAT = 0,       /* POST {base}/v1/chat/completions; the server
                                     applies the chat template */
    DC_OPENAI_API_COMPLETIONS = 1 /* POST {base}/v1/completions; chats are
                                     formatted here with Qwen3's template */
} dc_openai_api;

/* "chat" / "completions". Static. */
const char *dc_openai_api_name(dc_openai_api api);
/* Parses "chat" / "completions" (also "chat/completions"). INVALID_ARG. */
dc_status dc_openai_api_parse(const char *s, dc_openai_api *out);

typedef struct dc_openai_params {
    /* Base URLs, "http://host:port" or "https://host/v1" ("/v1" is added
       when missing). 1..DC_OPENAI_MAX_ENDPOINTS; copied at open. No
       user:password in the URL (use api_key_env). */
    const char *const *endpoints;
    size_t n_endpoints;
    dc_openai_api api; /* default DC_OPENAI_API_CHAT */
    /* The "model" field. NULL: the first id of GET {base}/v1/models of the
       first endpoint, asked at open (which then fails when it cannot). */
    const char *model;
    int stream;         /* 1 (default): server-sent events; 0: whole replies */
    size_t concurrency; /* requests in flight over all endpoints; default 8 */

    /* Timeouts in seconds; 0 turns one off. */
    double connect_timeout_s;    /* TCP + TLS connect; default 10 */
    double first_byte_timeout_s; /* request sent -> first byte of the reply, streaming
                                    only (a whole reply comes when it is done); default 300 */
    double idle_timeout_s;       /* between two bytes once the reply flows; default 120 */
    double total_timeout_s;      /* one request from start to end; default 3600 */

    /* Retries: attempt a (1-based) waits
       min(backoff_max_s, backoff_initial_s * 2^(a-1)) * (0.5 + 0.5 * jitter),
       and for 429 at least the server's Retry-After (capped at retry_after_max_s). */
    unsigned max_retries;     /* retries per trace after the first try; default 4 */
    double backoff_initial_s; /* default 0.5 */
    double backoff_max_s;     /* default 30 */
    double retry_after_max_s; /* default 120 */
    uint64_t jitter_seed;     /* seed of the jitter generator; default 0 */

    /* Failed traces allowed over the backend's life. Once more than this
       many have failed, no further request is sent: traces of the running
       call not yet started end with DC_STOP_ERROR (status LIMIT) and later
       generate() calls return DC_STATUS_LIMIT. SIZE_MAX (default): no limit;
       0: the first failed trace stops the run. */
    size_t max_failures;

    /* Environment variable holding the API key; default "OPENAI_API_KEY".
       NULL or "": never send a key. An unset or empty variable: no key. */
    const char *api_key_env;
    int tls_verify;     /* 1 (default): verify certificates and host names */
    int allow_insecure; /* 0 (default): refuse to open when a key would go over
                                plain http to a host that is not loopback */

    /* Caps. */
    size_t max_response_bytes; /* body of one reply; default 64 MiB */
    size_t max_line_bytes;     /* one server-sent-event line or event; default 4 MiB */
    size_t max_tokens_cap;     /* largest max_tokens accepted per trace; default 1 << 20 */
    size_t max_top_logprobs;   /* largest top_logprobs k accepted; default 1024 */

    /* Request fields beyond OpenAI's own (OpenAI rejects them; vLLM, SGLang
       and llama-server accept them). */
    int send_top_k_min_p;     /* 1 (default): "top_k" and "min_p" */
    int send_template_kwargs; /* 1 (default, chat only): "chat_template_kwargs":
                                    {"enable_thinking": chat->enable_thinking} */
    int send_stream_usage;    /* 1 (default, streaming): "stream_options":
                                    {"include_usage": true} for prompt_tokens */
} dc_openai_params;

dc_openai_params dc_backend_openai_default_params(void);

/* Opens the backend: checks and copies the parameters, reads the API key,
 * asks the first endpoint for its model when params->model is NULL.
 * *out: free with dc_backend_free. CONFIG (bad URL, credentials in a URL,
 * a key over plain http to a remote host without allow_insecure),
 * INVALID_ARG (a parameter out of range), NETWORK / HTTP / PROTOCOL /
 * TIMEOUT (the model query failed), NOMEM. Not thread-safe against other
 * opens running at the same moment (libcurl's global init). */
dc_status dc_backend_openai_open(const dc_openai_params *params, dc_backend **out, dc_error *err);

/* ---- what dc_backend.h has no room for ------------------------------- */

/* Why trace `trace` (0-based within the last generate() call) failed: ""
 * when it did not. Borrowed, valid until the next generate() or free.
 * Besides, when generate() returns OK with failed traces, err receives
 * the first failed trace's status and message (so a caller that only
 * looks at err still sees why). */
const char *dc_backend_openai_trace_error(const dc_backend *b, size_t trace);

/* Counters over the backend's life. */
typedef struct dc_openai_stats {
    uint64_t requests;       /* HTTP requests started (retries included) */
    uint64_t retries;        /* of which were retries */
    uint64_t failed_traces;  /* traces that ended with DC_STOP_ERROR */
    uint64_t aborted;        /* requests closed early (STOP, CANCEL, timeout, error) */
    uint64_t tokens;         /* positions received and shown to the observer */
    uint64_t bytes_received; /* response bodies */
    uint64_t per_endpoint[DC_OPENAI_MAX_ENDPOINTS]; /* requests per endpoint */
} dc_openai_stats;

void dc_backend_openai_stats(const dc_backend *b, dc_openai_stats *out);

/* The JSON body generate() would send for trace `trace` of a call (for
 * tests and for showing users what goes over the wire). *body: caller
 * frees with dc_free. The errors generate() gives for the same input. */
dc_status dc_backend_openai_request_body(dc_backend *b, const dc_prompt *prompt,
                                         const dc_gen_params *params, size_t trace, char **body,
                                         dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DC_BACKEND_OPENAI_H */
