/* hf.c - models and dataset files from the Hugging Face Hub into the Hub's cache layout:
 * references, the choice of the file, and the steps of a pull. The Hub's API and downloads
 * are hf_http.c, the cache layout hf_cache.c, SHA-256 hf_sha256.c. */
#include "deepconf/dc_hf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "model/hf_int.h"
#include "util/fs.h"
#include "util/sha256.h"

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

int hf_is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- choosing the file ---- */

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
static void list_ggufs(const hf_file *f, size_t n, int all, char *buf, size_t size)
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

dc_status hf_pick_file(const dc_hf_ref *ref, const hf_file *f, size_t n, size_t *out, dc_error *err)
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

static dc_status parse_files(json_t *tree, hf_file **out, size_t *n, dc_error *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(tree))
        return dc_error_set(err, DC_STATUS_PROTOCOL, "file list: expected a JSON array");
    hf_file *f = dc_calloc(json_array_size(tree) + 1, sizeof *f);
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
        hf_file *h = &f[(*n)++];
        h->path = path;
        json_t *lfs = json_object_get(it, "lfs");
        json_t *sz = json_object_get(lfs ? lfs : it, "size");
        h->size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : 0;
        h->oid = json_string_value(json_object_get(it, "oid"));
        h->sha256 = lfs ? json_string_value(json_object_get(lfs, "oid")) : NULL;
        if (h->sha256 && !hf_is_hex(h->sha256, 64))
            h->sha256 = NULL;
        if (h->oid && !hf_is_hex(h->oid, 40) && !hf_is_hex(h->oid, 64))
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

/* ---- the steps of a pull ---- */

/* --offline, or HF_HUB_OFFLINE=1 (or true) as the Hub's own tools read it. */
static int hub_offline(const dc_hf_params *p)
{
    const char *off = getenv("HF_HUB_OFFLINE");
    return p->offline || (off && (!strcmp(off, "1") || !strcasecmp(off, "true")));
}

static dc_status pull_offline(const dc_hf_ref *ref, const dc_hf_params *p, const hf_repo_paths *rp,
                              dc_hf_result *out, dc_error *err)
{
    dc_status st = hf_from_cache(ref, p, rp, out, err);
    if (st == DC_STATUS_NOT_FOUND) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return dc_error_set(err, st, "offline, and %s", msg);
    }
    return st;
}

/* The Hub's base URL without a trailing '/': the params', HF_ENDPOINT's, or huggingface.co. */
static void hub_endpoint(const dc_hf_params *p, char *buf, size_t size)
{
    const char *ep = p->endpoint ? p->endpoint : getenv("HF_ENDPOINT");
    snprintf(buf, size, "%s", ep && *ep ? ep : HF_DEFAULT_ENDPOINT);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '/')
        buf[--n] = '\0';
}

/* The revision's commit into out->commit. When no server answers and the cache has the file,
 * *served is 1 and out is the cached file. */
static dc_status resolve_commit(const hf_http *h, const char *api, const dc_hf_ref *ref,
                                const hf_repo_paths *rp, dc_hf_result *out, int *served,
                                dc_error *err)
{
    char url[4096], revpath[512];
    snprintf(revpath, sizeof revpath, "/revision/%s", h->p->revision);
    url_of(url, sizeof url, h->endpoint, api, ref->repo, revpath, NULL);
    json_t *j = NULL;
    int unreachable = 0;
    *served = 0;
    dc_status st = hf_get_json(h, url, "repository lookup", &j, &unreachable, err);
    if (st != DC_STATUS_OK) {
        if (unreachable) {
            dc_error cerr = {0};
            if (hf_from_cache(ref, h->p, rp, out, &cerr) == DC_STATUS_OK) {
                *served = 1; /* the Hub is out of reach; the cache has it */
                return DC_STATUS_OK;
            }
            char msg[DC_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return dc_error_set(err, DC_STATUS_NETWORK, "%s; and %s", msg, cerr.msg);
        }
        return st;
    }
    const char *sha = json_string_value(json_object_get(j, "sha"));
    if (!sha || !hf_is_hex(sha, 40)) {
        json_decref(j);
        return dc_error_set(err, DC_STATUS_PROTOCOL, "repository lookup: no commit \"sha\" (%s)",
                            url);
    }
    snprintf(out->commit, sizeof out->commit, "%s", sha);
    json_decref(j);
    return DC_STATUS_OK;
}

/* The file to fetch and the blob that holds it. */
typedef struct blob_ref {
    char name[80]; /* the sha256, the git oid, or (no oid) commit-<length of the file name> */
    uint64_t size; /* the Hub's size; 0 when it gave none */
} blob_ref;

/* Lists the commit's files and picks the one asked for: out->file, size and sha256. */
static dc_status pick_remote(const hf_http *h, const char *api, const dc_hf_ref *ref,
                             dc_hf_result *out, blob_ref *blob, dc_error *err)
{
    char url[4096], treepath[256];
    snprintf(treepath, sizeof treepath, "/tree/%s?recursive=1", out->commit);
    url_of(url, sizeof url, h->endpoint, api, ref->repo, treepath, NULL);
    json_t *j = NULL;
    int unreachable = 0;
    dc_status st = hf_get_json(h, url, "file list", &j, &unreachable, err);
    if (st != DC_STATUS_OK)
        return st;
    hf_file *files;
    size_t nf, k = 0;
    st = parse_files(j, &files, &nf, err);
    if (st == DC_STATUS_OK)
        st = hf_pick_file(ref, files, nf, &k, err);
    if (st == DC_STATUS_OK) {
        hf_file hf = files[k];
        snprintf(out->file, sizeof out->file, "%s", hf.path);
        out->size = hf.size;
        blob->size = hf.size;
        if (hf.sha256)
            snprintf(out->sha256, sizeof out->sha256, "%s", hf.sha256);
        snprintf(blob->name, sizeof blob->name, "%s",
                 hf.sha256 ? hf.sha256
                 : hf.oid  ? hf.oid
                           : out->commit);
        /* Without an oid the blob is named by commit and file, never shared. */
        if (!hf.sha256 && !hf.oid) {
            size_t n = strlen(blob->name);
            snprintf(blob->name + n, sizeof blob->name - n, "-%zu", strlen(out->file));
        }
    }
    dc_free(files);
    json_decref(j);
    return st;
}

/* A finished download must have the Hub's size and sha256; a wrong one is deleted. */
static dc_status check_download(const char *part, const blob_ref *blob, dc_hf_result *out,
                                dc_error *err)
{
    int ex;
    uint64_t got = hf_file_size(part, &ex);
    out->size = got;
    if (blob->size && got != blob->size) {
        remove(part);
        return dc_error_set(err, DC_STATUS_CHECKSUM,
                            "%s: got %llu bytes, the Hub lists %llu; the partial file is deleted",
                            out->file, (unsigned long long)got, (unsigned long long)blob->size);
    }
    if (!out->sha256[0])
        return DC_STATUS_OK;
    char hex[65];
    dc_status st = dc_sha256_file(part, hex, err);
    if (st == DC_STATUS_OK && strcmp(hex, out->sha256) != 0) {
        st = dc_error_set(err, DC_STATUS_CHECKSUM,
                          "%s: sha256 %s, the Hub lists %s; the download is deleted", out->file,
                          hex, out->sha256);
        remove(part);
    }
    return st;
}

/* Fetches the blob into blobs/, unless the cache has it: download (resumed from
 * blobs/<name>.incomplete), check, then rename into place. */
static dc_status fetch_blob(const hf_http *h, dc_hf_repo_type type, const dc_hf_ref *ref,
                            const hf_repo_paths *rp, const blob_ref *blob, dc_hf_result *out,
                            dc_error *err)
{
    char blobs[HF_PATH_MAX + 16], path[HF_PATH_MAX + 100], part[HF_PATH_MAX + 120];
    snprintf(blobs, sizeof blobs, "%s/blobs", rp->dir);
    if (dc_mkdirs(blobs, 0755) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", blobs, strerror(errno));
    snprintf(path, sizeof path, "%s/%s", blobs, blob->name);
    snprintf(part, sizeof part, "%s.incomplete", path);
    int ex;
    uint64_t have = hf_file_size(path, &ex);
    out->from_cache = ex && (!blob->size || have == blob->size);
    if (out->from_cache)
        return DC_STATUS_OK;
    char url[4096 + 600];
    /* Models resolve at /REPO/..., datasets at /datasets/REPO/... */
    snprintf(url, sizeof url, "%s%s/%s/resolve/%s/%s", h->endpoint,
             type == DC_HF_REPO_DATASET ? "/datasets" : "", ref->repo, out->commit, out->file);
    dc_status st = hf_download(h, url, part, blob->size, &out->resumed_from, err);
    if (st == DC_STATUS_PROTOCOL) /* could not resume: once more from zero */
        st = hf_download(h, url, part, blob->size, &out->resumed_from, err);
    if (st == DC_STATUS_OK)
        st = check_download(part, blob, out, err);
    if (st != DC_STATUS_OK)
        return st;
    int fd = open(part, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(part, path) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    return DC_STATUS_OK;
}

/* snapshots/<commit>/<file> -> the blob, refs/<revision> -> the commit, out->path. */
static dc_status link_blob(const hf_repo_paths *rp, const char *revision, const blob_ref *blob,
                           dc_hf_result *out, dc_error *err)
{
    char path[HF_PATH_MAX + 700];
    dc_status st = hf_link_snapshot(rp, out->commit, out->file, blob->name, path, sizeof path, err);
    if (st != DC_STATUS_OK)
        return st;
    if (strcmp(revision, out->commit) != 0 &&
        (st = hf_write_ref(rp, revision, out->commit, err)) != DC_STATUS_OK)
        return st;
    out->path = dc_strdup(path);
    return out->path ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

/* A pull once the repo and the file (or quant) are known: cache, revision, file list,
 * download, snapshot link and ref. */
static dc_status pull_ref(const dc_hf_ref *which, dc_hf_repo_type type, dc_hf_params p,
                          dc_hf_result *out, dc_error *err)
{
    const dc_hf_ref ref = *which;
    for (const char *c = p.revision; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
            return dc_error_set(err, DC_STATUS_INVALID_ARG, "bad revision '%s'", p.revision);
    hf_repo_paths rp;
    dc_status st = hf_repo_dir(&p, type, ref.repo, &rp, err);
    if (st != DC_STATUS_OK)
        return st;
    if (hub_offline(&p))
        return pull_offline(&ref, &p, &rp, out, err);
    char endpoint[1024], api[32];
    hub_endpoint(&p, endpoint, sizeof endpoint);
    hf_http h = {&p, endpoint, p.token ? p.token : getenv("HF_TOKEN")};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(api, sizeof api, "/api/%s/", hf_repo_kind(type));
    int served = 0;
    st = resolve_commit(&h, api, &ref, &rp, out, &served, err);
    if (st != DC_STATUS_OK || served)
        return st;
    blob_ref blob;
    memset(&blob, 0, sizeof blob);
    if ((st = pick_remote(&h, api, &ref, out, &blob, err)) != DC_STATUS_OK ||
        (st = fetch_blob(&h, type, &ref, &rp, &blob, out, err)) != DC_STATUS_OK)
        return st;
    return link_blob(&rp, p.revision, &blob, out, err);
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
        out->size = hf_file_size(spec, &ex);
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
