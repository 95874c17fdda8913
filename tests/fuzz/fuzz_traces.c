/* fuzz_traces.c - libFuzzer target: a run's traces file, plain or zstd
 * frames (traces.jsonl.zst), through the line reader's positions and the
 * two trace readers (records.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safety/sdc_records.h"
#include "util/lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 64
#define MAX_IDS 8

/* Every line read, read again from the position dc_lines_tell gave for it
 * (last first, so that seeks go back and forth), is the same line. */
static void check_positions(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return;
    dc_lines r;
    dc_lines_init(&r, f, 4096);
    dc_lines_pos at[MAX_LINES];
    char *text[MAX_LINES];
    size_t len[MAX_LINES], n = 0;
    dc_lines_pos pos = dc_lines_tell(&r);
    while (n < MAX_LINES && dc_lines_next(&r) == DC_STATUS_OK) {
        at[n] = pos;
        len[n] = r.line.len;
        text[n] = malloc(len[n] + 1);
        memcpy(text[n], r.line.len ? r.line.data : "", len[n]);
        n++;
        pos = dc_lines_tell(&r);
    }
    for (size_t i = n; i-- > 0;) {
        if (dc_lines_seek(&r, at[i]) != DC_STATUS_OK || dc_lines_next(&r) != DC_STATUS_OK ||
            r.line.len != len[i] || (len[i] && memcmp(r.line.data, text[i], len[i]) != 0))
            __builtin_trap();
        free(text[i]);
    }
    dc_lines_free(&r);
    fclose(f);
}

/* An error must say what went wrong. */
static void check_error(dc_status st, const dc_error *err)
{
    if (st != DC_STATUS_OK && st != DC_STATUS_NOT_FOUND &&
        (!err->msg[0] || !memchr(err->msg, '\0', sizeof err->msg)))
        __builtin_trap();
}

/* The streaming reader over the file, then the saved-traces reader on
 * the instances it met. */
static void read_traces(const char *path)
{
    char *ids[MAX_IDS];
    size_t n_ids = 0;
    sdc_trace_reader *r;
    dc_error err = {DC_STATUS_OK, ""};
    dc_status st = sdc_trace_reader_open(path, NULL, &r, &err);
    if (st == DC_STATUS_OK) {
        sdc_trace_record rec;
        while ((st = sdc_trace_reader_next(r, &rec, &err)) == DC_STATUS_OK)
            if (n_ids < MAX_IDS && (!n_ids || strcmp(ids[n_ids - 1], rec.instance_id) != 0))
                ids[n_ids++] = strdup(rec.instance_id);
        sdc_trace_reader_close(r);
    }
    check_error(st, &err);
    sdc_saved_traces *s;
    st = sdc_saved_traces_open(path, &s, &err);
    check_error(st, &err);
    for (size_t i = 0; st == DC_STATUS_OK && i < n_ids; i++) {
        const dc_gen_trace *t;
        size_t n;
        check_error(sdc_saved_traces_get(s, ids[i], &t, &n, &err), &err);
    }
    if (st == DC_STATUS_OK)
        sdc_saved_traces_close(s);
    for (size_t i = 0; i < n_ids; i++)
        free(ids[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz-traces-%ld.jsonl", (long)getpid());
    }
    check_positions(data, size);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    read_traces(path);
    return 0;
}
