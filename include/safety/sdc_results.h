/* sdc_results.h - the results directory of a run (DESIGN.md "Results"):
 * run.json, traces.jsonl.zst (or traces.jsonl), predictions.jsonl,
 * summary.json, summary.txt, report.html.
 *
 * Records are appended whole and synced before the next instance starts;
 * an instance's trace lines come first, then its prediction lines, so a
 * crash leaves at worst an unfinished last instance, which resume drops.
 * Nothing already written for a finished instance is ever rewritten.
 *
 * The trace lines are stored as output.compress says: zstd (the default)
 * appends each instance's lines as one zstd frame to traces.jsonl.zst, so
 * that `zstdcat` gives the JSONL text and resume can cut at a frame as it
 * cuts at a line; none appends them to a plain traces.jsonl. */
#ifndef SDC_RESULTS_H
#define SDC_RESULTS_H

#include <stddef.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_analysis.h"
#include "safety/sdc_records.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdc_results sdc_results;

/* The traces file's names: plain, and zstd frames (output.compress). */
#define SDC_TRACES_FILE "traces.jsonl"
#define SDC_TRACES_FILE_ZSTD "traces.jsonl.zst"

typedef enum sdc_open_mode {
    SDC_OPEN_NEW = 0,    /* the directory must not hold a run */
    SDC_OPEN_RESUME = 1, /* continue the run there (it must be the same run) */
    SDC_OPEN_FORCE = 2   /* replace whatever run is there */
} sdc_open_mode;

/* Opens dir (created with its parents when missing) for a run whose
 * run.json text is run_json and whose identity is `fingerprint` (runs
 * with different fingerprints are different runs). expected: prediction
 * lines per instance (the strategies run). NEW fails with EXISTS when dir
 * holds a run; RESUME fails with EXISTS when it holds a different run
 * (and starts afresh when it holds none), truncates a torn last line or
 * zstd frame and the lines (frames) of an unfinished instance, and reports
 * what is done through sdc_results_done(). The traces file is the one a
 * resumed run has (traces.jsonl.zst or traces.jsonl; EXISTS when it has
 * both), else the one run_json's config.output.compress asks for (zstd
 * when it says nothing). RESUME fails with PARSE naming the file and the
 * frame's byte offset when a zstd frame does not decode (a last frame cut
 * short is an interrupted write, and cut), IO when a file cannot be read.
 * Caller frees with sdc_results_close. */
dc_status sdc_results_open(const char *dir, const char *run_json, const char *fingerprint,
                           size_t expected, sdc_open_mode mode, sdc_results **out, dc_error *err);

/* 1 when instance_id was finished by an earlier, interrupted run. */
int sdc_results_done(const sdc_results *r, const char *instance_id);
/* Instances finished by earlier runs. */
size_t sdc_results_done_count(const sdc_results *r);

/* Appends one instance: its trace lines (one zstd frame when the traces
 * are compressed; nothing for empty traces), then its prediction lines
 * (each text a whole number of '\n'-terminated JSON lines), each file
 * synced. On failure (NO_SPACE, IO) both files are cut back to their
 * length before the call, so every record in them stays whole. */
dc_status sdc_results_append(sdc_results *r, const char *traces, size_t traces_len,
                             const char *predictions, size_t predictions_len, dc_error *err);

/* The run's traces file in dir, into path (size bytes):
 * dir/traces.jsonl.zst when it exists, else dir/traces.jsonl (the readers
 * take both). *how (may be NULL): how the file named is stored. 1 when it
 * exists, 0 when neither does. */
int sdc_results_traces_path(const char *dir, char *path, size_t size, sdc_compress *how);

/* Writes a whole file of the run (summary.json, run.json, ...) atomically:
 * a temporary file, synced, renamed over the old one. */
dc_status sdc_results_write_file(const char *dir, const char *name, const char *text,
                                 dc_error *err);

void sdc_results_close(sdc_results *r);

#ifdef __cplusplus
}
#endif

#endif /* SDC_RESULTS_H */
