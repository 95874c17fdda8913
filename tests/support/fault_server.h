/* fault_server.h - a small OpenAI-style HTTP server on 127.0.0.1 that
 * misbehaves on purpose, for the openai backend's tests.
 *
 * The first path segments choose the behaviour, the rest is the usual
 * API path: POST /<scenario>[/<arg>]/v1/chat/completions (or
 * /v1/completions). A backend endpoint "http://127.0.0.1:PORT/drop/2"
 * therefore talks to scenario "drop" with arg "2".
 *
 *   ok[/N]        N tokens (default min(max_tokens, 6)), then finish_reason
 *   drop/N        first request: N tokens, then the connection is cut; then ok
 *   dropall/N     every request is cut after N tokens
 *   s500          first request HTTP 500, then ok
 *   s429          first request HTTP 429 with Retry-After: 1, then ok
 *   s503all       every request HTTP 503
 *   s400echo      HTTP 400 whose message repeats the Authorization header
 *   garbage       HTTP 200 event stream whose event is not JSON
 *   nologprobs    text without logprobs
 *   stall/N       first request: N tokens, then silence; then ok
 *   stallall/N    every request: N tokens, then silence
 *   nofirst       first request: no byte at all for 5 s; then ok
 *   hugeline      one event line of 2 MiB
 *   long          up to 2000 tokens, 5 ms apart (to watch a client leave)
 *   file/NAME     tests/data/openai/NAME as it is (.sse streamed, .json whole)
 *   ferr/NAME     the same with the HTTP status of the file's error code
 *
 * GET .../v1/models answers {"data": [{"id": "fault-model"}]}. Synthetic
 * tokens honour the request's stream, max_tokens and top_logprobs (chat)
 * or logprobs (completions): token i is "t<i>" with logprob -0.125*(i%4+1)
 * and k alternatives, the sampled one first. Every sleep is bounded (5 s)
 * and ends when the server stops. */
#ifndef SDC_TEST_FAULT_SERVER_H
#define SDC_TEST_FAULT_SERVER_H

#include <stddef.h>

typedef struct fault_server fault_server;

/* Listens on 127.0.0.1 with an ephemeral port. data_dir holds the files of
 * "file" and "ferr". NULL on failure. */
fault_server *fault_server_start(const char *data_dir);
int fault_server_port(const fault_server *s);
/* Stops accepting, ends every connection, joins every thread, frees. */
void fault_server_stop(fault_server *s);

/* Requests received for a scenario ("" or NULL: all). */
int fault_server_count(fault_server *s, const char *scenario);
/* Seconds between the first and the last request of a scenario. */
double fault_server_span(fault_server *s, const char *scenario);
/* The last request's headers and body ("" when none), copied into buf. */
void fault_server_last(fault_server *s, char *buf, size_t size);
/* "long": tokens written before the client was found gone, -1 while it
 * has not left (or no such request). */
int fault_server_long_sent(fault_server *s);

#endif
