/* hf_cache.c - the Hugging Face Hub's cache layout: <hub>/models--O--N/{blobs,snapshots,refs},
 * shared with the Hub's own tools. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/hf_int.h"
#include "util/fs.h"

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

/* ---- the cache ---- */

const char *hf_repo_kind(dc_hf_repo_type type)
{
    return type == DC_HF_REPO_DATASET ? "datasets" : "models";
}

dc_status hf_repo_dir(const dc_hf_params *p, dc_hf_repo_type type, const char *repo,
                      hf_repo_paths *rp, dc_error *err)
{
    char hub[HF_PATH_MAX];
    if (dc_hf_cache_dir(p, hub, sizeof hub) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_LIMIT, "the cache path is too long");
    char folder[600];
    snprintf(folder, sizeof folder, "%s--%s", hf_repo_kind(type), repo);
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

static int read_ref(const hf_repo_paths *rp, const char *revision, char commit[64])
{
    if (hf_is_hex(revision, 40)) {
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
    if (!ok || !hf_is_hex(line, 40))
        return 0;
    memcpy(commit, line, 41); /* 40 hex digits and the NUL */
    return 1;
}

uint64_t hf_file_size(const char *path, int *exists)
{
    struct stat sb;
    *exists = stat(path, &sb) == 0;
    return *exists ? (uint64_t)sb.st_size : 0;
}

dc_status hf_from_cache(const dc_hf_ref *ref, const dc_hf_params *p, const hf_repo_paths *rp,
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
        out->size = hf_file_size(path, &ex);
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
    /* The snapshot's files, as hf_file entries for hf_pick_file. */
    char names[64][256];
    hf_file files[64];
    size_t n = 0;
    DIR *d = opendir(snap);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 64) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(names[n], sizeof names[n], "%s", e->d_name);
            files[n] = (hf_file){names[n], 0, NULL, NULL};
            n++;
        }
        closedir(d);
    }
    size_t k;
    dc_status st = hf_pick_file(ref, files, n, &k, err);
    if (st != DC_STATUS_OK) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "cache: %s", msg);
    }
    char path[HF_PATH_MAX + 700];
    snprintf(path, sizeof path, "%s/%s", snap, files[k].path);
    int ex;
    out->size = hf_file_size(path, &ex);
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

dc_status hf_link_snapshot(const hf_repo_paths *rp, const char *commit, const char *file,
                           const char *blob, char *out, size_t size, dc_error *err)
{
    char path[HF_PATH_MAX + 700];
    snprintf(path, sizeof path, "%s/snapshots/%s/%s", rp->dir, commit, file);
    char dir[sizeof path];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (dc_mkdirs(dir, 0755) != 0)
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

dc_status hf_write_ref(const hf_repo_paths *rp, const char *revision, const char *commit,
                       dc_error *err)
{
    char refs[HF_PATH_MAX + 16], refp[HF_PATH_MAX + 600];
    snprintf(refs, sizeof refs, "%s/refs", rp->dir);
    snprintf(refp, sizeof refp, "%s/%s", refs, revision);
    if (dc_mkdirs(refs, 0755) != 0 || write_atomic(refp, commit) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: cannot write the ref: %s", refp,
                            strerror(errno));
    return DC_STATUS_OK;
}
