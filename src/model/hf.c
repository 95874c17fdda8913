/* hf.c - models and dataset files from the Hugging Face Hub into the Hub's cache layout. */
#include "deepconf/dc_hf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/sha256.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"
#define HF_JSON_MAX (64u << 20) /* API replies larger than this are refused */
#define HF_PATH_MAX 4096

dc_hf_params dc_hf_default_params(void)
{
    dc_hf_params p;
    memset(&p, 0, sizeof p);
    p.revision = "main";
    p.connect_timeout_s = 10;
    p.low_speed_time_s = 60;
    return p;
}

void dc_hf_result_clear(dc_hf_result *r)
{
    if (!r)
        return;
    dc_free(r->path);
    memset(r, 0, sizeof *r);
}

/* ---- references ---- */

int dc_hf_is_path(const char *spec)
{
    size_t n = strlen(spec);
    if (spec[0] == '/' || spec[0] == '~' || !strncmp(spec, "./", 2) || !strncmp(spec, "../", 3))
        return 1;
    /* owner/repo/file.gguf is a reference; a bare or deeper .gguf path is a file. */
    if (n > 5 && !strcasecmp(spec + n - 5, ".gguf")) {
        size_t slashes = 0;
        for (const char *p = spec; *p; p++)
            slashes += *p == '/';
        return slashes != 2 || access(spec, F_OK) == 0;
    }
    return 0;
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return !(n >= 2 && strstr(s, "..") && (size_t)(strstr(s, "..") - s) < n);
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return 1;
    return 0;
}

dc_status dc_hf_parse_ref(const char *spec, dc_hf_ref *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    const char *slash = strchr(spec, '/');
    if (!slash)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "'%s' is neither a .gguf path nor a Hub id (owner/repo[:QUANT])", spec);
    const char *colon = strchr(slash, ':');
    const char *slash2 = strchr(slash + 1, '/');
    size_t owner_n = (size_t)(slash - spec);
    const char *repo = slash + 1;
    size_t repo_n = slash2  ? (size_t)(slash2 - repo)
                    : colon ? (size_t)(colon - repo)
                            : strlen(repo);
    if (!name_ok(spec, owner_n) || !name_ok(repo, repo_n))
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "'%s': owner and repo may hold letters, digits, '-', '_' and '.'",
                            spec);
    if (slash2 && colon)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "'%s': give a file or a quant, not both",
                            spec);
    snprintf(out->repo, sizeof out->repo, "%.*s/%.*s", (int)owner_n, spec, (int)repo_n, repo);
    /* A base model id means its GGUF repo, as Qwen publishes them. */
    if (!contains_ci(out->repo, "gguf"))
        strncat(out->repo, "-GGUF", sizeof out->repo - strlen(out->repo) - 1);
    if (slash2) {
        const char *f = slash2 + 1;
        if (!*f || strstr(f, "..") || strlen(f) >= sizeof out->file)
            return dc_error_set(err, DC_STATUS_INVALID_ARG, "'%s': bad file name", spec);
        snprintf(out->file, sizeof out->file, "%s", f);
    }
    if (colon) {
        const char *q = colon + 1;
        if (!*q || strlen(q) >= sizeof out->quant)
            return dc_error_set(err, DC_STATUS_INVALID_ARG, "'%s': empty or long quant", spec);
        for (const char *c = q; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                return dc_error_set(err, DC_STATUS_INVALID_ARG, "'%s': bad quant", spec);
        snprintf(out->quant, sizeof out->quant, "%s", q);
    } else {
        snprintf(out->quant, sizeof out->quant, "Q8_0");
    }
    return DC_STATUS_OK;
}

/* ---- paths ---- */

dc_status dc_hf_cache_dir(const dc_hf_params *p, char *buf, size_t size)
{
    const char *home = p && p->home ? p->home : getenv("HF_HOME");
    const char *hub = p && p->home ? NULL : getenv("HF_HUB_CACHE");
    int n;
    if (hub && *hub) {
        n = snprintf(buf, size, "%s", hub);
    } else if (home && *home) {
        n = snprintf(buf, size, "%s/hub", home);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *h = getenv("HOME");
        if (xdg && *xdg)
            n = snprintf(buf, size, "%s/huggingface/hub", xdg);
        else
            n = snprintf(buf, size, "%s/.cache/huggingface/hub", h && *h ? h : ".");
    }
    return n < 0 || (size_t)n >= size ? DC_STATUS_LIMIT : DC_STATUS_OK;
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Writes text to path through path.tmp and rename. */
static int write_atomic(const char *path, const char *text)
{
    char tmp[HF_PATH_MAX + 1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

dc_status dc_sha256_file(const char *path, char hex[65], dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    sdc_sha256 s;
    sdc_sha256_init(&s);
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sdc_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return dc_error_set(err, DC_STATUS_IO, "%s: read error", path);
    sdc_sha256_final(&s, hex);
    return DC_STATUS_OK;
}

/* ---- HTTP ---- */

typedef struct http {
    const dc_hf_params *p;
    const char *endpoint;
    const char *token;
} http;

static size_t to_buf(char *data, size_t size, size_t n, void *user)
{
    sdc_buf *b = user;
    return sdc_buf_append(b, data, size * n) == DC_STATUS_OK ? size * n : 0;
}

static struct curl_slist *auth_headers(const http *h, const char *accept)
{
    struct curl_slist *hd = NULL;
    if (accept)
        hd = curl_slist_append(hd, accept);
    if (h->token && *h->token) {
        char line[1024];
        snprintf(line, sizeof line, "Authorization: Bearer %s", h->token);
        hd = curl_slist_append(hd, line);
    }
    return hd;
}

static void curl_common(CURL *c, const http *h)
{
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->p->connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->p->low_speed_time_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "safety-deepconf");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

/* The message of an error reply: the Hub answers {"error": "..."}. */
static void reply_message(const sdc_buf *b, char *msg, size_t size)
{
    msg[0] = '\0';
    if (!b->len)
        return;
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
    if (e)
        snprintf(msg, size, ": %s", e);
    json_decref(j);
}

/* GET url into a JSON value. *unreachable = 1 when no server answered. */
static dc_status get_json(const http *h, const char *url, const char *what, json_t **out,
                          int *unreachable, dc_error *err)
{
    *out = NULL;
    *unreachable = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return dc_error_set(err, DC_STATUS_NOMEM, "curl_easy_init failed");
    sdc_buf b;
    sdc_buf_init(&b, HF_JSON_MAX);
    struct curl_slist *hd = auth_headers(h, "Accept: application/json");
    curl_common(c, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    dc_status st = DC_STATUS_OK;
    if (rc != CURLE_OK) {
        *unreachable = code == 0;
        st = dc_error_set(err, b.st == DC_STATUS_LIMIT ? DC_STATUS_LIMIT : DC_STATUS_NETWORK,
                          "%s: %s (%s)", what, curl_easy_strerror(rc), url);
    } else if (code != 200) {
        char msg[256];
        reply_message(&b, msg, sizeof msg);
        const char *hint = code == 401 || code == 403
                               ? " (gated or private: set HF_TOKEN to a token with access)"
                           : code == 404 ? " (no such repository or revision)"
                                         : "";
        st = dc_error_set(err, DC_STATUS_HTTP, "%s: HTTP %ld%s%s (%s)", what, code, msg, hint, url);
    } else {
        json_error_t je;
        *out = json_loadb(b.data ? b.data : "", b.len, 0, &je);
        if (!*out)
            st = dc_error_set(err, DC_STATUS_PROTOCOL, "%s: the reply is not JSON: %s (%s)", what,
                              je.text, url);
    }
    sdc_buf_free(&b);
    return st;
}

/* ---- choosing the file ---- */

typedef struct hub_file {
    const char *path;
    uint64_t size;
    const char *sha256; /* lfs.oid, or NULL */
    const char *oid;    /* git blob id */
} hub_file;

/* quant occurs in name as a whole token: not followed by a letter, digit
 * or '_' (so Q4_K does not pick Q4_K_M). */
static int name_has_quant(const char *name, const char *quant)
{
    size_t n = strlen(quant);
    for (const char *p = name; *p; p++) {
        if (strncasecmp(p, quant, n) != 0)
            continue;
        char before = p == name ? '-' : p[-1];
        char after = p[n];
        if (!isalnum((unsigned char)before) && !isalnum((unsigned char)after) && after != '_')
            return 1;
    }
    return 0;
}

static int is_gguf(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && !strcasecmp(path + n - 5, ".gguf");
}

/* "a.gguf, b.gguf" into buf: the GGUF files, or every file when all. */
static void list_ggufs(const hub_file *f, size_t n, int all, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < size; i++) {
        if (!all && !is_gguf(f[i].path))
            continue;
        int k = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", f[i].path);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (!buf[0])
        snprintf(buf, size, all ? "no files" : "no .gguf files");
}

static dc_status pick_file(const dc_hf_ref *ref, const hub_file *f, size_t n, size_t *out,
                           dc_error *err)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        if (ref->file[0]) {
            if (!strcmp(f[i].path, ref->file)) {
                best = (long)i;
                break;
            }
            continue;
        }
        if (!is_gguf(f[i].path) || !name_has_quant(f[i].path, ref->quant))
            continue;
        /* Prefer whole files to shards, then the shortest name. */
        int split = strstr(f[i].path, "-of-") != NULL;
        if (best < 0 || (!split && strstr(f[best].path, "-of-")) ||
            (split == (strstr(f[best].path, "-of-") != NULL) &&
             strlen(f[i].path) < strlen(f[best].path)))
            best = (long)i;
    }
    if (best < 0) {
        char avail[2048];
        list_ggufs(f, n, ref->file[0] && !is_gguf(ref->file), avail, sizeof avail);
        if (ref->file[0])
            return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s has no file %s; it has: %s",
                                ref->repo, ref->file, avail);
        return dc_error_set(err, DC_STATUS_NOT_FOUND,
                            "%s has no .gguf file for quant %s; it has: %s", ref->repo, ref->quant,
                            avail);
    }
    if (is_gguf(f[best].path) && strstr(f[best].path, "-of-"))
        return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                            "%s: %s is one shard of a split GGUF; split models are not supported",
                            ref->repo, f[best].path);
    *out = (size_t)best;
    return DC_STATUS_OK;
}

/* ---- the cache ---- */

typedef struct repo_paths {
    char dir[HF_PATH_MAX]; /* .../hub/models--Owner--Repo or datasets--Owner--Repo */
} repo_paths;

/* The Hub's word for a kind of repo: API paths and cache folders use it. */
static const char *repo_kind(dc_hf_repo_type type)
{
    return type == DC_HF_REPO_DATASET ? "datasets" : "models";
}

static dc_status repo_dir(const dc_hf_params *p, dc_hf_repo_type type, const char *repo,
                          repo_paths *rp, dc_error *err)
{
    char hub[HF_PATH_MAX];
    if (dc_hf_cache_dir(p, hub, sizeof hub) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_LIMIT, "the cache path is too long");
    char folder[600];
    snprintf(folder, sizeof folder, "%s--%s", repo_kind(type), repo);
    char *s = strchr(folder, '/');
    if (s) {
        memmove(s + 2, s + 1, strlen(s + 1) + 1);
        s[0] = '-';
        s[1] = '-';
    }
    int n = snprintf(rp->dir, sizeof rp->dir, "%s/%s", hub, folder);
    if (n < 0 || (size_t)n >= sizeof rp->dir)
        return dc_error_set(err, DC_STATUS_LIMIT, "the cache path is too long");
    return DC_STATUS_OK;
}

static int read_ref(const repo_paths *rp, const char *revision, char commit[64])
{
    if (is_hex(revision, 40)) {
        snprintf(commit, 64, "%s", revision);
        return 1;
    }
    char path[HF_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/refs/%s", rp->dir, revision);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char line[128] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || !is_hex(line, 40))
        return 0;
    memcpy(commit, line, 41); /* 40 hex digits and the NUL */
    return 1;
}

static uint64_t file_size(const char *path, int *exists)
{
    struct stat sb;
    *exists = stat(path, &sb) == 0;
    return *exists ? (uint64_t)sb.st_size : 0;
}

/* Looks for the quant's file in snapshots/<ref's commit>/. On a miss err
 * says what the cache holds. */
static dc_status from_cache(const dc_hf_ref *ref, const dc_hf_params *p, const repo_paths *rp,
                            dc_hf_result *out, dc_error *err)
{
    char commit[64];
    if (!read_ref(rp, p->revision, commit))
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s@%s is not in the cache (%s)", ref->repo,
                            p->revision, rp->dir);
    char snap[HF_PATH_MAX + 128];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", rp->dir, commit);
    if (ref->file[0] && strchr(ref->file, '/')) { /* a file in a sub-folder */
        char path[HF_PATH_MAX + 700];
        snprintf(path, sizeof path, "%s/%s", snap, ref->file);
        int ex;
        out->size = file_size(path, &ex);
        if (!ex)
            return dc_error_set(err, DC_STATUS_NOT_FOUND, "cache: %s@%s has no %s (%s)", ref->repo,
                                p->revision, ref->file, snap);
        out->path = dc_strdup(path);
        if (!out->path)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        snprintf(out->commit, sizeof out->commit, "%s", commit);
        snprintf(out->file, sizeof out->file, "%s", ref->file);
        out->from_cache = 1;
        return DC_STATUS_OK;
    }
    /* The snapshot's files, as hub_file entries for pick_file. */
    char names[64][256];
    hub_file files[64];
    size_t n = 0;
    DIR *d = opendir(snap);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 64) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(names[n], sizeof names[n], "%s", e->d_name);
            files[n] = (hub_file){names[n], 0, NULL, NULL};
            n++;
        }
        closedir(d);
    }
    size_t k;
    dc_status st = pick_file(ref, files, n, &k, err);
    if (st != DC_STATUS_OK) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "cache: %s", msg);
    }
    char path[HF_PATH_MAX + 700];
    snprintf(path, sizeof path, "%s/%s", snap, files[k].path);
    int ex;
    out->size = file_size(path, &ex);
    if (!ex)
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "cache: %s is a broken link", path);
    out->path = dc_strdup(path);
    if (!out->path)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    snprintf(out->commit, sizeof out->commit, "%s", commit);
    snprintf(out->file, sizeof out->file, "%s", files[k].path);
    out->from_cache = 1;
    return DC_STATUS_OK;
}

/* ---- downloading ---- */

typedef struct dl {
    FILE *f;
    const dc_hf_params *p;
    uint64_t base, total;
    int aborted;
    int write_error;
} dl;

static size_t to_file(char *data, size_t size, size_t n, void *user)
{
    dl *d = user;
    size_t k = fwrite(data, size, n, d->f);
    if (k != n)
        d->write_error = errno ? errno : EIO;
    return k * size;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    dl *d = user;
    uint64_t total = d->total ? d->total : (dltotal > 0 ? d->base + (uint64_t)dltotal : 0);
    if (d->p->progress && !d->p->progress(d->p->progress_user, d->base + (uint64_t)dlnow, total)) {
        d->aborted = 1;
        return 1;
    }
    return 0;
}

/* Downloads url into part (resuming what is there). */
static dc_status download(const http *h, const char *url, const char *part, uint64_t expect,
                          uint64_t *resumed, dc_error *err)
{
    int ex;
    uint64_t have = file_size(part, &ex);
    if (expect && have > expect) {
        remove(part);
        have = 0;
    }
    *resumed = have;
    if (expect && have == expect)
        return DC_STATUS_OK;
    dl d = {NULL, h->p, have, expect, 0, 0};
    d.f = fopen(part, have ? "ab" : "wb");
    if (!d.f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", part, strerror(errno));
    CURL *c = curl_easy_init();
    if (!c) {
        fclose(d.f);
        return dc_error_set(err, DC_STATUS_NOMEM, "curl_easy_init failed");
    }
    struct curl_slist *hd = auth_headers(h, NULL);
    curl_common(c, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    if (have)
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    int close_err = fclose(d.f) != 0;
    if (d.write_error || close_err)
        return dc_error_set(err, d.write_error == ENOSPC ? DC_STATUS_NO_SPACE : DC_STATUS_IO,
                            "%s: write failed: %s", part,
                            strerror(d.write_error ? d.write_error : errno));
    if (d.aborted)
        return dc_error_set(err, DC_STATUS_CANCELLED, "download cancelled (%s kept for a resume)",
                            part);
    if (rc == CURLE_RANGE_ERROR || (have && code == 416)) {
        /* The server cannot resume: start again from zero once. */
        remove(part);
        return dc_error_set(err, DC_STATUS_PROTOCOL, "the server refused to resume %s", url);
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        return dc_error_set(err, DC_STATUS_HTTP, "download: HTTP %ld%s (%s)", code,
                            code == 401 || code == 403 ? " (set HF_TOKEN)" : "", url);
    if (rc != CURLE_OK)
        return dc_error_set(err, DC_STATUS_NETWORK,
                            "download interrupted: %s (%s; run again to resume from %s)",
                            curl_easy_strerror(rc), url, part);
    return DC_STATUS_OK;
}

/* Links snapshots/<commit>/<file> to ../../blobs/<blob> (one more ../
 * per directory in file), atomically. */
static dc_status link_snapshot(const repo_paths *rp, const char *commit, const char *file,
                               const char *blob, char *out, size_t size, dc_error *err)
{
    char path[HF_PATH_MAX + 700];
    snprintf(path, sizeof path, "%s/snapshots/%s/%s", rp->dir, commit, file);
    char dir[sizeof path];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (sdc_mkdirs(dir, 0755) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", dir, strerror(errno));
    char target[1024] = "../../";
    for (const char *c = file; *c; c++)
        if (*c == '/')
            strncat(target, "../", sizeof target - strlen(target) - 1);
    strncat(target, "blobs/", sizeof target - strlen(target) - 1);
    strncat(target, blob, sizeof target - strlen(target) - 1);
    char tmp[sizeof path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    remove(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return dc_error_set(err, DC_STATUS_IO, "%s: cannot link to the blob: %s", path,
                            strerror(e));
    }
    snprintf(out, size, "%s", path);
    return DC_STATUS_OK;
}

static dc_status parse_files(json_t *tree, hub_file **out, size_t *n, dc_error *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(tree))
        return dc_error_set(err, DC_STATUS_PROTOCOL, "file list: expected a JSON array");
    hub_file *f = dc_calloc(json_array_size(tree) + 1, sizeof *f);
    if (!f)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    size_t i;
    json_t *it;
    json_array_foreach(tree, i, it)
    {
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *path = json_string_value(json_object_get(it, "path"));
        if (!type || strcmp(type, "file") || !path || strstr(path, "..") || path[0] == '/')
            continue;
        hub_file *h = &f[(*n)++];
        h->path = path;
        json_t *lfs = json_object_get(it, "lfs");
        json_t *sz = json_object_get(lfs ? lfs : it, "size");
        h->size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : 0;
        h->oid = json_string_value(json_object_get(it, "oid"));
        h->sha256 = lfs ? json_string_value(json_object_get(lfs, "oid")) : NULL;
        if (h->sha256 && !is_hex(h->sha256, 64))
            h->sha256 = NULL;
        if (h->oid && !is_hex(h->oid, 40) && !is_hex(h->oid, 64))
            h->oid = NULL;
    }
    *out = f;
    return DC_STATUS_OK;
}

static void url_of(char *buf, size_t size, const char *endpoint, const char *fmt1, const char *a,
                   const char *fmt2, const char *b)
{
    snprintf(buf, size, "%s%s%s%s%s", endpoint, fmt1, a, fmt2, b ? b : "");
}

/* The steps of a pull once the repo and the file (or quant) are known:
 * cache, revision, file list, download, snapshot link and ref. */
static dc_status pull_ref(const dc_hf_ref *which, dc_hf_repo_type type, dc_hf_params p,
                          dc_hf_result *out, dc_error *err)
{
    const dc_hf_ref ref = *which;
    const char *kind = repo_kind(type);
    dc_status st;
    for (const char *c = p.revision; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
            return dc_error_set(err, DC_STATUS_INVALID_ARG, "bad revision '%s'", p.revision);
    repo_paths rp;
    st = repo_dir(&p, type, ref.repo, &rp, err);
    if (st != DC_STATUS_OK)
        return st;
    const char *off = getenv("HF_HUB_OFFLINE");
    if (p.offline || (off && (!strcmp(off, "1") || !strcasecmp(off, "true")))) {
        st = from_cache(&ref, &p, &rp, out, err);
        if (st == DC_STATUS_NOT_FOUND) {
            char msg[DC_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return dc_error_set(err, st, "offline, and %s", msg);
        }
        return st;
    }

    char endpoint[1024];
    const char *ep = p.endpoint ? p.endpoint : getenv("HF_ENDPOINT");
    snprintf(endpoint, sizeof endpoint, "%s", ep && *ep ? ep : HF_DEFAULT_ENDPOINT);
    size_t el = strlen(endpoint);
    while (el && endpoint[el - 1] == '/')
        endpoint[--el] = '\0';
    const char *tok = p.token ? p.token : getenv("HF_TOKEN");
    http h = {&p, endpoint, tok};
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* 1. the revision's commit */
    char url[4096];
    char revpath[512], api[32];
    snprintf(revpath, sizeof revpath, "/revision/%s", p.revision);
    snprintf(api, sizeof api, "/api/%s/", kind);
    url_of(url, sizeof url, endpoint, api, ref.repo, revpath, NULL);
    json_t *j = NULL;
    int unreachable = 0;
    st = get_json(&h, url, "repository lookup", &j, &unreachable, err);
    if (st != DC_STATUS_OK) {
        if (unreachable) {
            dc_error cerr = {0};
            if (from_cache(&ref, &p, &rp, out, &cerr) == DC_STATUS_OK)
                return DC_STATUS_OK; /* the Hub is out of reach; the cache has it */
            char msg[DC_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return dc_error_set(err, DC_STATUS_NETWORK, "%s; and %s", msg, cerr.msg);
        }
        return st;
    }
    const char *sha = json_string_value(json_object_get(j, "sha"));
    if (!sha || !is_hex(sha, 40)) {
        json_decref(j);
        return dc_error_set(err, DC_STATUS_PROTOCOL, "repository lookup: no commit \"sha\" (%s)",
                            url);
    }
    snprintf(out->commit, sizeof out->commit, "%s", sha);
    json_decref(j);

    /* 2. its files */
    char treepath[256];
    snprintf(treepath, sizeof treepath, "/tree/%s?recursive=1", out->commit);
    url_of(url, sizeof url, endpoint, api, ref.repo, treepath, NULL);
    st = get_json(&h, url, "file list", &j, &unreachable, err);
    if (st != DC_STATUS_OK)
        return st;
    hub_file *files;
    size_t nf;
    st = parse_files(j, &files, &nf, err);
    size_t k = 0;
    if (st == DC_STATUS_OK)
        st = pick_file(&ref, files, nf, &k, err);
    if (st != DC_STATUS_OK) {
        dc_free(files);
        json_decref(j);
        return st;
    }
    hub_file hf = files[k];
    snprintf(out->file, sizeof out->file, "%s", hf.path);
    out->size = hf.size;
    if (hf.sha256)
        snprintf(out->sha256, sizeof out->sha256, "%s", hf.sha256);
    char blob_name[80];
    snprintf(blob_name, sizeof blob_name, "%s",
             hf.sha256 ? hf.sha256
             : hf.oid  ? hf.oid
                       : out->commit);
    int have_oid = hf.sha256 || hf.oid;
    dc_free(files);

    /* 3. the blob, unless the cache has it */
    char blobs[HF_PATH_MAX + 16], blob[HF_PATH_MAX + 100], part[HF_PATH_MAX + 120];
    snprintf(blobs, sizeof blobs, "%s/blobs", rp.dir);
    if (sdc_mkdirs(blobs, 0755) != 0) {
        json_decref(j);
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", blobs, strerror(errno));
    }
    /* Without an oid the blob is named by commit and file, never shared. */
    if (!have_oid) {
        char *c = blob_name + strlen(blob_name);
        snprintf(c, sizeof blob_name - strlen(blob_name), "-%zu", strlen(out->file));
    }
    snprintf(blob, sizeof blob, "%s/%s", blobs, blob_name);
    snprintf(part, sizeof part, "%s.incomplete", blob);
    int ex;
    uint64_t bsize = file_size(blob, &ex);
    out->from_cache = ex && (!hf.size || bsize == hf.size);
    if (!out->from_cache) {
        char file_url[4096 + 600];
        /* Models resolve at /REPO/..., datasets at /datasets/REPO/... */
        snprintf(file_url, sizeof file_url, "%s%s/%s/resolve/%s/%s", endpoint,
                 type == DC_HF_REPO_DATASET ? "/datasets" : "", ref.repo, out->commit, out->file);
        st = download(&h, file_url, part, hf.size, &out->resumed_from, err);
        if (st == DC_STATUS_PROTOCOL) /* could not resume: once more from zero */
            st = download(&h, file_url, part, hf.size, &out->resumed_from, err);
        if (st == DC_STATUS_OK) {
            uint64_t got = file_size(part, &ex);
            if (hf.size && got != hf.size) {
                st = dc_error_set(err, DC_STATUS_CHECKSUM,
                                  "%s: got %llu bytes, the Hub lists %llu; the partial file is "
                                  "deleted",
                                  out->file, (unsigned long long)got, (unsigned long long)hf.size);
                remove(part);
            }
            out->size = got;
        }
        if (st == DC_STATUS_OK && out->sha256[0]) {
            char hex[65];
            st = dc_sha256_file(part, hex, err);
            if (st == DC_STATUS_OK && strcmp(hex, out->sha256) != 0) {
                st = dc_error_set(err, DC_STATUS_CHECKSUM,
                                  "%s: sha256 %s, the Hub lists %s; the download is deleted",
                                  out->file, hex, out->sha256);
                remove(part);
            }
        }
        if (st == DC_STATUS_OK) {
            int fd = open(part, O_RDONLY);
            if (fd >= 0) {
                fsync(fd);
                close(fd);
            }
            if (rename(part, blob) != 0)
                st = dc_error_set(err, DC_STATUS_IO, "%s: %s", blob, strerror(errno));
        }
    }
    json_decref(j);
    if (st != DC_STATUS_OK)
        return st;

    /* 4. snapshot link and ref */
    char path[HF_PATH_MAX + 700];
    st = link_snapshot(&rp, out->commit, out->file, blob_name, path, sizeof path, err);
    if (st != DC_STATUS_OK)
        return st;
    if (strcmp(p.revision, out->commit) != 0) {
        char refs[HF_PATH_MAX + 16], refp[HF_PATH_MAX + 600];
        snprintf(refs, sizeof refs, "%s/refs", rp.dir);
        snprintf(refp, sizeof refp, "%s/%s", refs, p.revision);
        if (sdc_mkdirs(refs, 0755) != 0 || write_atomic(refp, out->commit) != 0)
            return dc_error_set(err, DC_STATUS_IO, "%s: cannot write the ref: %s", refp,
                                strerror(errno));
    }
    out->path = dc_strdup(path);
    return out->path ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

dc_status dc_hf_pull(const char *spec, const dc_hf_params *params, dc_hf_result *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    dc_hf_params p = params ? *params : dc_hf_default_params();
    if (!p.revision || !*p.revision)
        p.revision = "main";
    if (!spec || !*spec)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no model given");
    if (dc_hf_is_path(spec)) {
        int ex;
        out->size = file_size(spec, &ex);
        if (!ex)
            return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s: no such file", spec);
        out->path = dc_strdup(spec);
        out->from_cache = 1;
        return out->path ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    dc_hf_ref ref;
    dc_status st = dc_hf_parse_ref(spec, &ref, err);
    if (st != DC_STATUS_OK)
        return st;
    return pull_ref(&ref, DC_HF_REPO_MODEL, p, out, err);
}

dc_status dc_hf_pull_file(dc_hf_repo_type type, const char *repo, const char *path,
                          const dc_hf_params *params, dc_hf_result *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    dc_hf_params p = params ? *params : dc_hf_default_params();
    if (!p.revision || !*p.revision)
        p.revision = "main";
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || strchr(slash + 1, '/') || !name_ok(repo, (size_t)(slash - repo)) ||
        !name_ok(slash + 1, strlen(slash + 1)))
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "'%s' is not a Hub repo (owner/name of letters, digits, '-', '_', '.')",
                            repo ? repo : "");
    dc_hf_ref ref;
    memset(&ref, 0, sizeof ref);
    if (!path || !*path || path[0] == '/' || strstr(path, "..") || strlen(path) >= sizeof ref.file)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "%s: bad file name '%s'", repo,
                            path ? path : "");
    snprintf(ref.repo, sizeof ref.repo, "%s", repo);
    snprintf(ref.file, sizeof ref.file, "%s", path);
    return pull_ref(&ref, type, p, out, err);
}
