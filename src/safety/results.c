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
#include <zstd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/lines.h"

/* zstd's level for the traces: -3 measured 140 bytes per token on the
 * topk layout, -19 116 at many times the time (docs/performance.md). */
#define TRACES_ZSTD_LEVEL 3

static const char *const run_files[] = {"run.json",          "traces.jsonl", "traces.jsonl.zst",
                                        "predictions.jsonl", "summary.json", "summary.txt",
                                        "report.html"};

struct sdc_results {
    char *dir;
    int fd_traces, fd_preds;
    const char *traces_name; /* SDC_TRACES_FILE or SDC_TRACES_FILE_ZSTD */
    ZSTD_CCtx *cctx;         /* zstd: one frame per append; NULL: plain */
    char *frame;             /* the frame being written */
    size_t frame_cap;
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
    long long end; /* offset after its last line */
} group;

/* Groups the whole lines of path (plain, or zstd frames) by consecutive
 * instance id. Stops at a torn or unreadable line, or a zstd frame cut
 * short (an interrupted write: resume cuts it); a missing file has no
 * groups. IO, or PARSE for a zstd frame that does not decode, naming the
 * file. In a zstd file a group ends where a frame does: a group that ends
 * inside a frame (which the writer never makes) ends where its frame
 * starts, so that a cut keeps whole frames. */
static dc_status scan_groups(const char *path, group **out, size_t *n_out, dc_error *err)
{
    *out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? DC_STATUS_OK : io_error(err, path, "cannot open");
    group *g = NULL;
    size_t n = 0;
    dc_lines lr;
    dc_lines_init(&lr, f, 0);
    dc_status st, rs = DC_STATUS_OK;
    while ((st = dc_lines_next(&lr)) == DC_STATUS_OK && !lr.torn) {
        char *id = line_instance(lr.line.data ? lr.line.data : "", lr.line.len);
        if (!id) {
            /* a bad line; but a damaged zstd frame gives its lines before its
               checksum fails, and is an error */
            if (lr.zstd && (st = dc_lines_finish_frame(&lr)) != DC_STATUS_OK)
                rs = dc_error_set(err, st, "%s: %s", path, lr.msg);
            break;
        }
        if (n && !strcmp(g[n - 1].id, id)) {
            dc_free(id);
        } else {
            group *ng = dc_reallocarray(g, n + 1, sizeof *ng);
            if (!ng) {
                dc_free(id);
                rs = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
                break;
            }
            g = ng;
            g[n++] = (group){id, 0, 0};
        }
        g[n - 1].count++;
        dc_lines_pos at = dc_lines_tell(&lr);
        g[n - 1].end = at.offset;
        if (at.offset < 0) {
            rs = dc_error_set(err, DC_STATUS_IO, "%s: cannot tell the read position", path);
            break;
        }
    }
    if (rs == DC_STATUS_OK && st != DC_STATUS_OK && st != DC_STATUS_NOT_FOUND)
        rs = dc_error_set(err, st, "%s: %s", path, *lr.msg ? lr.msg : dc_strerror(st));
    dc_lines_free(&lr);
    fclose(f);
    *out = g;
    *n_out = n;
    return rs;
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

/* Cuts path to len bytes when it is longer (a missing file stays missing). */
static dc_status truncate_file(const char *path, long long len, dc_error *err)
{
    struct stat s;
    if (stat(path, &s) != 0 || s.st_size <= len)
        return DC_STATUS_OK;
    if (truncate(path, (off_t)len) != 0)
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
    path_of(tp, sizeof tp, r->dir, r->traces_name);
    group *pg = NULL, *tg = NULL;
    size_t npg = 0, ntg = 0;
    dc_status st = scan_groups(pp, &pg, &npg, err);
    if (st == DC_STATUS_OK)
        st = scan_groups(tp, &tg, &ntg, err);
    if (st != DC_STATUS_OK)
        goto out;
    /* finished instances: a prefix of whole groups of `expected` predictions */
    size_t keep = 0;
    long long pend = 0;
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
    long long tend = 0;
    for (size_t i = 0; i < ntg && in_sorted(r->done, r->n_done, tg[i].id); i++)
        tend = tg[i].end;
    if ((st = truncate_file(pp, pend, err)) != DC_STATUS_OK)
        goto out;
    st = truncate_file(tp, tend, err);
out:
    groups_free(pg, npg);
    groups_free(tg, ntg);
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

/* How the traces are written: as the file a resumed run already has, else
 * as run_json's output.compress says. */
static dc_status traces_storage(const char *dir, const char *run_json, int resume,
                                sdc_compress *how, dc_error *err)
{
    int zst = resume && exists(dir, SDC_TRACES_FILE_ZSTD);
    int plain = resume && exists(dir, SDC_TRACES_FILE);
    if (zst && plain)
        return dc_error_set(err, DC_STATUS_EXISTS,
                            "%s holds both %s and %s; remove the one that is not the run's", dir,
                            SDC_TRACES_FILE, SDC_TRACES_FILE_ZSTD);
    sdc_run_facts f;
    (void)sdc_run_facts_parse(run_json, &f, NULL); /* not JSON: the default */
    *how = zst ? SDC_COMPRESS_ZSTD : plain ? SDC_COMPRESS_NONE : f.compress;
    return DC_STATUS_OK;
}

static dc_status zstd_writer(sdc_results *r, dc_error *err)
{
    r->cctx = ZSTD_createCCtx();
    if (!r->cctx)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    size_t e = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_compressionLevel, TRACES_ZSTD_LEVEL);
    if (!ZSTD_isError(e))
        e = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(e))
        return dc_error_set(err, DC_STATUS_UNSUPPORTED, "libzstd: %s", ZSTD_getErrorName(e));
    return DC_STATUS_OK;
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
                                "seed, DeepConf or refusal-detector settings); --force replaces "
                                "it",
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
    int resume = has_run && mode == SDC_OPEN_RESUME;
    sdc_compress how = SDC_COMPRESS_ZSTD;
    st = traces_storage(dir, run_json, resume, &how, err);
    r->traces_name = how == SDC_COMPRESS_ZSTD ? SDC_TRACES_FILE_ZSTD : SDC_TRACES_FILE;
    if (st == DC_STATUS_OK && how == SDC_COMPRESS_ZSTD)
        st = zstd_writer(r, err);
    if (st == DC_STATUS_OK)
        st = resume ? recover(r, expected, err)
                    : sdc_results_write_file(dir, "run.json", run_json, err);
    char p[4096];
    if (st == DC_STATUS_OK) {
        path_of(p, sizeof p, dir, r->traces_name);
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

/* traces as one zstd frame in r->frame; its length in *n. */
static dc_status compress_frame(sdc_results *r, const char *traces, size_t len, size_t *n,
                                dc_error *err)
{
    size_t bound = ZSTD_compressBound(len);
    if (bound > r->frame_cap) {
        char *f = dc_realloc(r->frame, bound);
        if (!f)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        r->frame = f;
        r->frame_cap = bound;
    }
    *n = ZSTD_compress2(r->cctx, r->frame, r->frame_cap, traces, len);
    if (ZSTD_isError(*n))
        return dc_error_set(err, DC_STATUS_NOMEM, "%s/%s: cannot compress: %s", r->dir,
                            r->traces_name, ZSTD_getErrorName(*n));
    return DC_STATUS_OK;
}

dc_status sdc_results_append(sdc_results *r, const char *traces, size_t traces_len,
                             const char *predictions, size_t predictions_len, dc_error *err)
{
    off_t t0, p0;
    dc_status st = DC_STATUS_OK;
    if (r->cctx && traces_len) {
        st = compress_frame(r, traces, traces_len, &traces_len, err);
        traces = r->frame;
    }
    if (st == DC_STATUS_OK)
        st = append_one(r->fd_traces, r->dir, r->traces_name, traces, traces_len, &t0, err);
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
    ZSTD_freeCCtx(r->cctx);
    dc_free(r->frame);
    for (size_t i = 0; i < r->n_done; i++)
        dc_free(r->done[i]);
    dc_free(r->done);
    dc_free(r->dir);
    dc_free(r);
}
