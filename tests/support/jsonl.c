/* jsonl.c - a run's JSON-lines files in tests (jsonl.h). */
#include "support/jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/sdc_results.h"
#include "util/lines.h"

const char *jsonl_traces_path(const char *dir)
{
    static char path[4200];
    sdc_results_traces_path(dir, path, sizeof path, NULL);
    return path;
}

char *jsonl_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    dc_lines rd;
    dc_lines_init(&rd, f, 0);
    dc_buf text;
    dc_buf_init(&text, 0);
    dc_status st;
    while ((st = dc_lines_next(&rd)) == DC_STATUS_OK && !rd.torn) {
        dc_buf_append(&text, rd.line.data ? rd.line.data : "", rd.line.len);
        dc_buf_putc(&text, '\n');
    }
    if (st != DC_STATUS_NOT_FOUND && st != DC_STATUS_OK)
        fail_msg("%s: %s", path, rd.msg);
    if (rd.torn)
        fail_msg("%s: ends in a torn line or zstd frame", path);
    dc_lines_free(&rd);
    fclose(f);
    char *s = strdup(text.data ? text.data : "");
    dc_buf_free(&text);
    return s;
}

json_t *jsonl_load(const char *path, const char *const *drop)
{
    char *text = jsonl_text(path);
    json_t *a = json_array();
    size_t lineno = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        lineno++;
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &e);
        if (!o)
            fail_msg("%s:%zu: bad line: %s", path, lineno, e.text);
        for (size_t i = 0; drop && drop[i]; i++)
            json_object_del(o, drop[i]);
        json_array_append_new(a, o);
    }
    free(text);
    return a;
}
