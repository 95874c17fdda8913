/* hf_int.h - pieces of the Hugging Face Hub client shared by its files
 * (internal): hf.c (references, the choice of the file, the steps of a
 * pull), hf_http.c (the Hub's API and downloads over curl), hf_cache.c (the
 * Hub's cache layout). */
#ifndef SDC_MODEL_HF_INT_H
#define SDC_MODEL_HF_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_hf.h"
#include "deepconf/dc_status.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"
#define HF_JSON_MAX (64u << 20) /* API replies larger than this are refused */
#define HF_PATH_MAX 4096

/* ---- references and the choice of the file (hf.c) ---- */

/* 1 when s is exactly n hex digits. */
int hf_is_hex(const char *s, size_t n);

/* A file of a repo, as the Hub lists it; the strings are borrowed from the listing. */
typedef struct hf_file {
    const char *path;
    uint64_t size;
    const char *sha256; /* lfs.oid, or NULL */
    const char *oid;    /* git blob id */
} hf_file;

/* The file ref names (ref->file), or the best .gguf for ref->quant: whole files before
 * shards, then the shortest name. NOT_FOUND (err lists what there is), UNSUPPORTED (a
 * shard of a split GGUF). */
dc_status hf_pick_file(const dc_hf_ref *ref, const hf_file *f, size_t n, size_t *out,
                       dc_error *err);

/* ---- the cache (hf_cache.c) ---- */

typedef struct hf_repo_paths {
    char dir[HF_PATH_MAX]; /* .../hub/models--Owner--Repo or datasets--Owner--Repo */
} hf_repo_paths;

/* The Hub's word for a kind of repo: API paths and cache folders use it. */
const char *hf_repo_kind(dc_hf_repo_type type);
/* The repo's cache folder. LIMIT when the path is too long. */
dc_status hf_repo_dir(const dc_hf_params *p, dc_hf_repo_type type, const char *repo,
                      hf_repo_paths *rp, dc_error *err);
/* The size of path; *exists 0 (and 0 returned) when there is no such file. */
uint64_t hf_file_size(const char *path, int *exists);
/* Looks for the quant's file in snapshots/<ref's commit>/. On a miss err
 * says what the cache holds. */
dc_status hf_from_cache(const dc_hf_ref *ref, const dc_hf_params *p, const hf_repo_paths *rp,
                        dc_hf_result *out, dc_error *err);
/* Links snapshots/<commit>/<file> to ../../blobs/<blob> (one more ../
 * per directory in file), atomically; the link's path into out. */
dc_status hf_link_snapshot(const hf_repo_paths *rp, const char *commit, const char *file,
                           const char *blob, char *out, size_t size, dc_error *err);
/* refs/<revision> holds commit (written through a temporary file and rename). */
dc_status hf_write_ref(const hf_repo_paths *rp, const char *revision, const char *commit,
                       dc_error *err);

/* ---- HTTP (hf_http.c) ---- */

typedef struct hf_http {
    const dc_hf_params *p;
    const char *endpoint; /* without a trailing '/' */
    const char *token;    /* NULL or "": none */
} hf_http;

/* GET url into a JSON value (caller frees with json_decref). *unreachable = 1 when no
 * server answered. what names the call in messages. */
dc_status hf_get_json(const hf_http *h, const char *url, const char *what, json_t **out,
                      int *unreachable, dc_error *err);
/* Downloads url into part, resuming what is there (*resumed: its size). expect: the
 * size the Hub lists, 0 unknown. PROTOCOL when the server refused to resume (part is
 * deleted: try once more), CANCELLED by the progress callback (part kept). */
dc_status hf_download(const hf_http *h, const char *url, const char *part, uint64_t expect,
                      uint64_t *resumed, dc_error *err);

#endif
