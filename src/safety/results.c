/* results.c - the run directory: append-only records, resume, atomic files. */
#include "safety/sdc_results.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

static const char *const run_files[] = {"run.json",     "traces.jsonl", "predictions.jsonl",
                                        "summary.json", "summary.txt",  "report.html"};

struct sdc_results {
    char *dir;
    int fd_traces, fd_preds;
    char **done; /* sorted */
    size_t n_done;
};

/* ---- helpers ---- */

static void path_of(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static dc_status mkdirs(const char *dir, dc_error *err)
{
    if (dc_mkdirs(dir, 0777) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: cannot create: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dc_error_set(err, DC_STATUS_IO, "%s: not a directory", dir);
    return DC_STATUS_OK;
}

static dc_status io_error(dc_error *err, const char *path, const char *what)
{
    int e = errno;
    return dc_error_set(
        err, e == ENOSPC || e == EDQUOT || e == EFBIG ? DC_STATUS_NO_SPACE : DC_STATUS_IO,
        "%s: %s: %s", path, what, strerror(e));
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

dc_status sdc_results_write_file(const char *dir, const char *name, const char *text, dc_error *err)
{
    char path[4096], tmp[4200];
    path_of(path, sizeof path, dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return io_error(err, tmp, "cannot create");
    if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        dc_status st = io_error(err, tmp, "write failed");
        close(fd);
        unlink(tmp);
        return st;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        dc_status st = io_error(err, path, "rename failed");
        unlink(tmp);
        return st;
    }
    fsync_dir(dir);
    return DC_STATUS_OK;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    path_of(p, sizeof p, dir, name);
    return access(p, F_OK) == 0;
}

int sdc_results_traces_path(const char *dir, char *path, size_t size, sdc_compress *how)
{
    int zst = exists(dir, SDC_TRACES_FILE_ZSTD);
    snprintf(path, size, "%s/%s", dir, zst ? SDC_TRACES_FILE_ZSTD : SDC_TRACES_FILE);
    if (how)
        *how = zst ? SDC_COMPRESS_ZSTD : SDC_COMPRESS_NONE;
    return zst || access(path, F_OK) == 0;
}

/* ---- resume ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The instance id of one line, or NULL when it is not a whole record. */
static char *line_instance(const char *s, size_t n)
{
    json_t *o = json_loadb(s, n, 0, NULL);
    if (!o)
        return NULL;
    json_t *id = json_object_get(o, "instance_id");
    char *r = json_is_string(id) ? dc_strdup(json_string_value(id)) : NULL;
    json_decref(o);
    return r;
}

typedef struct group {
    char *id;
    size_t count;
    size_t end; /* offset after its last line */
} group;

/* Groups the whole lines of text by consecutive instance id. Stops at a
 * torn or unreadable line. */
static dc_status scan_groups(const char *text, size_t len, group **out, size_t *n_out)
{
    group *g = NULL;
    size_t n = 0;
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        if (!nl)
            break; /* torn last line */
        size_t l = (size_t)(nl - (text + off));
        char *id = line_instance(text + off, l);
        if (!id)
            break;
        if (n && !strcmp(g[n - 1].id, id)) {
            dc_free(id);
        } else {
            group *ng = dc_reallocarray(g, n + 1, sizeof *ng);
            if (!ng) {
                dc_free(id);
                break;
            }
            g = ng;
            g[n++] = (group){id, 0, 0};
        }
        g[n - 1].count++;
        off += l + 1;
        g[n - 1].end = off;
    }
    *out = g;
    *n_out = n;
    return DC_STATUS_OK;
}

static void groups_free(group *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dc_free(g[i].id);
    dc_free(g);
}

static int in_sorted(char **v, size_t n, const char *id)
{
    return n && bsearch(&id, v, n, sizeof *v, cmp_str) != NULL;
}

static dc_status truncate_file(const char *path, size_t len, dc_error *err)
{
    if (truncate(path, (off_t)len) != 0 && errno != ENOENT)
        return io_error(err, path, "cannot truncate");
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return DC_STATUS_OK;
}

static dc_status recover(sdc_results *r, size_t expected, dc_error *err)
{
    char pp[4096], tp[4096];
    path_of(pp, sizeof pp, r->dir, "predictions.jsonl");
    path_of(tp, sizeof tp, r->dir, "traces.jsonl");
    size_t plen = 0, tlen = 0;
    char *ptext = dc_read_file(pp, &plen);
    char *ttext = dc_read_file(tp, &tlen);
    group *pg = NULL, *tg = NULL;
    size_t npg = 0, ntg = 0;
    dc_status st = DC_STATUS_OK;
    if (ptext)
        scan_groups(ptext, plen, &pg, &npg);
    if (ttext)
        scan_groups(ttext, tlen, &tg, &ntg);
    /* finished instances: a prefix of whole groups of `expected` predictions */
    size_t keep = 0, pend = 0;
    while (keep < npg && pg[keep].count == expected) {
        pend = pg[keep].end;
        keep++;
    }
    r->done = dc_calloc(keep ? keep : 1, sizeof *r->done);
    if (!r->done) {
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < keep; i++) {
        r->done[i] = pg[i].id;
        pg[i].id = NULL;
    }
    r->n_done = keep;
    qsort(r->done, r->n_done, sizeof *r->done, cmp_str);
    size_t tend = 0;
    for (size_t i = 0; i < ntg && in_sorted(r->done, r->n_done, tg[i].id); i++)
        tend = tg[i].end;
    if (ptext && pend < plen && (st = truncate_file(pp, pend, err)) != DC_STATUS_OK)
        goto out;
    if (ttext && tend < tlen && (st = truncate_file(tp, tend, err)) != DC_STATUS_OK)
        goto out;
out:
    groups_free(pg, npg);
    groups_free(tg, ntg);
    dc_free(ptext);
    dc_free(ttext);
    return st;
}

/* ---- open / append / close ---- */

static char *fingerprint_of(const char *dir)
{
    char p[4096];
    path_of(p, sizeof p, dir, "run.json");
    json_t *o = json_load_file(p, 0, NULL);
    if (!o)
        return NULL;
    json_t *f = json_object_get(o, "fingerprint");
    char *r = json_is_string(f) ? dc_strdup(json_string_value(f)) : dc_strdup("");
    json_decref(o);
    return r;
}

dc_status sdc_results_open(const char *dir, const char *run_json, const char *fingerprint,
                           size_t expected, sdc_open_mode mode, sdc_results **out, dc_error *err)
{
    *out = NULL;
    dc_status st = mkdirs(dir, err);
    if (st != DC_STATUS_OK)
        return st;
    int has_run = 0;
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++)
        has_run |= exists(dir, run_files[i]);
    if (has_run && mode == SDC_OPEN_NEW)
        return dc_error_set(err, DC_STATUS_EXISTS,
                            "%s already holds a run; --resume continues it, --force replaces it, "
                            "or choose another --out",
                            dir);
    if (has_run && mode == SDC_OPEN_RESUME) {
        char *fp = fingerprint_of(dir);
        int same = fp && !strcmp(fp, fingerprint);
        dc_free(fp);
        if (!same)
            return dc_error_set(err, DC_STATUS_EXISTS,
                                "%s holds a different run (its run.json has another model, data, "
                                "seed or DeepConf settings); --force replaces it",
                                dir);
    }
    if (has_run && mode == SDC_OPEN_FORCE)
        for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
            char p[4096];
            path_of(p, sizeof p, dir, run_files[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                return io_error(err, p, "cannot remove");
        }
    sdc_results *r = dc_calloc(1, sizeof *r);
    if (!r || !(r->dir = dc_strdup(dir))) {
        dc_free(r);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    r->fd_traces = r->fd_preds = -1;
    if (has_run && mode == SDC_OPEN_RESUME)
        st = recover(r, expected, err);
    else
        st = sdc_results_write_file(dir, "run.json", run_json, err);
    char p[4096];
    if (st == DC_STATUS_OK) {
        path_of(p, sizeof p, dir, "traces.jsonl");
        r->fd_traces = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (r->fd_traces < 0)
            st = io_error(err, p, "cannot open");
    }
    if (st == DC_STATUS_OK) {
        path_of(p, sizeof p, dir, "predictions.jsonl");
        r->fd_preds = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (r->fd_preds < 0)
            st = io_error(err, p, "cannot open");
    }
    if (st != DC_STATUS_OK) {
        sdc_results_close(r);
        return st;
    }
    fsync_dir(dir);
    *out = r;
    return DC_STATUS_OK;
}

int sdc_results_done(const sdc_results *r, const char *id)
{
    return in_sorted(r->done, r->n_done, id);
}

size_t sdc_results_done_count(const sdc_results *r)
{
    return r->n_done;
}

static dc_status append_one(int fd, const char *dir, const char *name, const char *text, size_t n,
                            off_t *before, dc_error *err)
{
    char p[4096];
    path_of(p, sizeof p, dir, name);
    struct stat s;
    if (fstat(fd, &s) != 0)
        return io_error(err, p, "cannot stat");
    *before = s.st_size;
    if (write_all(fd, text, n) != 0 || fsync(fd) != 0) {
        dc_status st = io_error(err, p, "write failed; the records written before are intact");
        if (ftruncate(fd, *before) == 0)
            fsync(fd);
        return st;
    }
    return DC_STATUS_OK;
}

dc_status sdc_results_append(sdc_results *r, const char *traces, size_t traces_len,
                             const char *predictions, size_t predictions_len, dc_error *err)
{
    off_t t0, p0;
    dc_status st = append_one(r->fd_traces, r->dir, "traces.jsonl", traces, traces_len, &t0, err);
    if (st != DC_STATUS_OK)
        return st;
    st = append_one(r->fd_preds, r->dir, "predictions.jsonl", predictions, predictions_len, &p0,
                    err);
    if (st != DC_STATUS_OK && ftruncate(r->fd_traces, t0) == 0)
        fsync(r->fd_traces);
    return st;
}

void sdc_results_close(sdc_results *r)
{
    if (!r)
        return;
    if (r->fd_traces >= 0)
        close(r->fd_traces);
    if (r->fd_preds >= 0)
        close(r->fd_preds);
    for (size_t i = 0; i < r->n_done; i++)
        dc_free(r->done[i]);
    dc_free(r->done);
    dc_free(r->dir);
    dc_free(r);
}
