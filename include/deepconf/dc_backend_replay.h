/* dc_backend_replay.h - a backend that serves traces held in memory.
 *
 * It hands the given tokens to the observer exactly as a live backend
 * would (each position's sampled token and top-k before it is kept), so a
 * strategy that stops a trace early is charged only the positions it would
 * have evaluated. Tests run the strategies and the runner on it without a
 * model. (compare and analyze --replay do not need a backend at all: they
 * replay the strategies over in-memory traces, sdc_strategy_replay.) */
#ifndef DC_BACKEND_REPLAY_H
#define DC_BACKEND_REPLAY_H

#include <stddef.h>

#include "deepconf/dc_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens an empty replay backend; caller frees with dc_backend_free. */
dc_status dc_backend_replay_open(dc_backend **out, dc_error *err);

/* Adds traces[0..n) as the traces of instance_id: trace index i of a
 * generate() call for that instance is traces[i] (first_trace + k).
 * Borrowed, with instance_id: they must stay valid until dc_backend_free.
 * A trace's tokens must carry their top-k. stop[i] (may be NULL: all
 * "eos") is the stop reason of the trace (DC_STOP_EOS: its last token is
 * the end of generation). INVALID_ARG when b is not a replay backend,
 * NOMEM. */
dc_status dc_backend_replay_add(dc_backend *b, const char *instance_id, const dc_trace *traces,
                                const dc_stop_reason *stop, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* DC_BACKEND_REPLAY_H */
