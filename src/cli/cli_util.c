/* cli_util.c - shared helpers of the subcommands. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/jsonw.h"

void cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "safety-deepconf%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_double(const char *cmd, const char *flag, const char *text, double lo, double hi,
                     double *out)
{
    char *end;
    errno = 0;
    double x = text ? strtod(text, &end) : NAN;
    if (!text || end == text || *end || errno || !isfinite(x) || x < lo || x > hi) {
        cli_err(cmd, "%s: expected a number from %g to %g, got '%s'", flag, lo, hi,
                text ? text : "");
        return 0;
    }
    *out = x;
    return 1;
}

int cli_parse_size(const char *cmd, const char *flag, const char *text, size_t lo, size_t hi,
                   size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = 0;
    int ok = text && *text >= '0' && *text <= '9';
    if (ok) {
        x = strtoull(text, &end, 10);
        ok = !*end && !errno && x >= lo && x <= hi;
    }
    if (!ok) {
        cli_err(cmd, "%s: expected a whole number from %zu to %zu, got '%s'", flag, lo, hi,
                text ? text : "");
        return 0;
    }
    *out = (size_t)x;
    return 1;
}

const char *cli_subcommand(int argc, char **argv, const char *usage, int *rc)
{
    if (argc < 2) {
        fputs(usage, stderr);
        *rc = CLI_USAGE;
        return NULL;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        *rc = CLI_OK;
        return NULL;
    }
    return sub;
}

int cli_write_stdout(const char *cmd, const char *data, size_t len)
{
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
        cli_err(cmd, "writing the output failed: %s", strerror(errno));
        return 0;
    }
    return 1;
}

/* ---- download progress ---- */

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

int cli_progress_bytes(void *user, uint64_t done, uint64_t total)
{
    cli_progress *p = user;
    double t = dc_now_seconds();
    if (t - p->last >= 0.5 || (total && done == total)) {
        if (total)
            fprintf(stderr, "\r%s %.1f / %.1f MiB (%.0f%%)", p->what, mib(done), mib(total),
                    100.0 * (double)done / (double)total);
        else
            fprintf(stderr, "\r%s %.1f MiB", p->what, mib(done));
        p->last = t;
        p->shown = 1;
    }
    return 1;
}

void cli_progress_end(cli_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
}

/* ---- pulls ---- */

void cli_pull_progress(dc_hf_params *hp, cli_progress *p, int quiet)
{
    *p = (cli_progress){"downloading", -1.0, 0};
    if (!quiet) {
        hp->progress = cli_progress_bytes;
        hp->progress_user = p;
    }
}

int cli_pull_print(const char *cmd, const dc_hf_result *res, const char *benchmark,
                   const char *repo, int json)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    if (json) {
        jw w;
        jw_init(&w, &b);
        jw_obj_begin(&w);
        jw_kv_str(&w, "path", res->path);
        if (benchmark)
            jw_kv_str(&w, "benchmark", benchmark);
        jw_kv_str(&w, "repo", repo);
        jw_kv_str(&w, "file", res->file[0] ? res->file : NULL);
        jw_kv_str(&w, "commit", res->commit[0] ? res->commit : NULL);
        jw_kv_uint(&w, "size", res->size);
        jw_kv_str(&w, "sha256", res->sha256[0] ? res->sha256 : NULL);
        jw_kv_bool(&w, "from_cache", res->from_cache);
        jw_kv_uint(&w, "resumed_from", res->resumed_from);
        jw_obj_end(&w);
        dc_buf_putc(&b, '\n');
    } else {
        dc_buf_printf(&b, "%s\n", res->path);
    }
    int ok = b.st == DC_STATUS_OK && cli_write_stdout(cmd, b.data, b.len);
    dc_buf_free(&b);
    return ok;
}
