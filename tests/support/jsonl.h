/* jsonl.h - a run's JSON-lines files in tests, plain or zstd frames (the
 * default traces.jsonl.zst), read through the program's own line reader. */
#ifndef SDC_TEST_JSONL_H
#define SDC_TEST_JSONL_H

#include <jansson.h>

/* The run's traces file in dir: dir/traces.jsonl.zst, else
 * dir/traces.jsonl (static buffer, valid until the next call). */
const char *jsonl_traces_path(const char *dir);

/* The decoded text of path, every line '\n'-terminated; caller frees with
 * free(). Fails the test when path cannot be read, does not decode or ends
 * in a torn line or frame. */
char *jsonl_text(const char *path);

/* The lines of path as JSON values (the caller owns the array), the keys
 * named in drop (NULL-terminated; NULL: none) taken out of each. Fails the
 * test on a line that is not JSON. */
json_t *jsonl_load(const char *path, const char *const *drop);

#endif
