/* dc_hf.h - models and dataset files from the Hugging Face Hub, in the
 * Hub's cache layout.
 *
 * A model reference is one of
 *   - a path to a .gguf file (used as is),
 *   - "Owner/Model" of a Qwen3 base repo: Qwen/Qwen3-0.6B means the
 *     official Qwen/Qwen3-0.6B-GGUF at Q8_0,
 *   - "owner/repo-GGUF[:QUANT]" as llama.cpp's -hf takes it (QUANT
 *     default Q8_0; Q4_K_M etc. pick the matching .gguf file).
 *
 * Downloads go through libcurl from $HF_ENDPOINT (default
 * https://huggingface.co) with $HF_TOKEN, into
 * $HF_HOME/hub/models--Owner--Repo/ (default ~/.cache/huggingface) as the
 * huggingface_hub library lays it out: blobs/<sha256>, refs/<revision>
 * holding the commit, snapshots/<commit>/<file> a relative link to the
 * blob, so other tools (huggingface-cli, llama.cpp, vLLM) share files.
 * An interrupted download resumes from blobs/<sha256>.incomplete; the
 * size and sha256 the Hub lists are verified before the blob is renamed
 * into place. The library never prints: progress goes to a callback. */
#ifndef DC_HF_H
#define DC_HF_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_hf_ref {
    char repo[256]; /* "Qwen/Qwen3-0.6B-GGUF" */
    char quant[64]; /* "Q8_0" */
    char file[512]; /* an exact file name, when the reference gave one; else "" */
} dc_hf_ref;

/* 1 when spec names a file (ends in .gguf, or starts with '/', './',
 * '../' or '~'), 0 when it reads as a Hub reference. */
int dc_hf_is_path(const char *spec);

/* Parses a Hub reference. INVALID_ARG (with what is wrong) for a text
 * that is not owner/repo[:QUANT] or owner/repo/FILE.gguf. */
dc_status dc_hf_parse_ref(const char *spec, dc_hf_ref *out, dc_error *err);

/* The kind of a Hub repo: API paths (/api/models, /api/datasets), file
 * URLs (/REPO/resolve/..., /datasets/REPO/resolve/...) and cache folders
 * (models--O--R, datasets--O--R) differ by it. */
typedef enum dc_hf_repo_type {
    DC_HF_REPO_MODEL = 0,
    DC_HF_REPO_DATASET = 1,
} dc_hf_repo_type;

typedef struct dc_hf_params {
    const char *endpoint; /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;    /* NULL: $HF_TOKEN (none when unset) */
    /* NULL: $HF_HUB_CACHE as the hub folder itself, else $HF_HOME/hub, else
       $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. Given: home/hub. */
    const char *home;
    const char *revision;   /* default "main" */
    int offline;            /* 1: only the cache (also when $HF_HUB_OFFLINE=1) */
    long connect_timeout_s; /* default 10 */
    long low_speed_time_s;  /* abort when under 1 KiB/s this long; default 60 */
    /* Progress of the download; total 0 when unknown. Return 0 to abort
       (CANCELLED; the partial file stays for a resume). NULL: none. */
    int (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
} dc_hf_params;

dc_hf_params dc_hf_default_params(void);

/* What dc_hf_pull did. */
typedef struct dc_hf_result {
    char *path; /* snapshots/<commit>/<file>; caller frees with dc_free */
    char commit[64];
    char file[512];
    uint64_t size;
    char sha256[65];       /* "" when the Hub gave none */
    int from_cache;        /* 1: nothing downloaded */
    uint64_t resumed_from; /* bytes already there when the download resumed */
} dc_hf_result;

/* Makes the model of spec available locally and returns its path: a
 * path is checked and returned; a Hub reference is looked up in the
 * cache, then (unless offline) on the Hub: the revision's commit, the
 * repo's file list, the file for the quant, the download. Errors:
 * NETWORK (unreachable: also says whether the cache has the repo), HTTP
 * (401/403: token; 404: no such repo, revision or file), NOT_FOUND (no
 * file for the quant; err lists the quants and files there are),
 * CHECKSUM (size or sha256 differ; the bad blob is deleted), IO,
 * NO_SPACE, CANCELLED, PROTOCOL (a reply that is not the Hub's JSON).
 * out->path: caller frees with dc_free (also via dc_hf_result_clear). */
dc_status dc_hf_pull(const char *spec, const dc_hf_params *params, dc_hf_result *out,
                     dc_error *err);

/* The same for one file of any repo: path in repo (e.g.
 * "data/0124/toxic-chat_annotation_test.csv") at params->revision, into
 * the cache folder of its kind. The errors of dc_hf_pull; NOT_FOUND
 * lists the repo's files when it lacks path; INVALID_ARG for a repo that
 * is not owner/name or a path with "..". out->path: caller frees with
 * dc_free (also via dc_hf_result_clear). */
dc_status dc_hf_pull_file(dc_hf_repo_type type, const char *repo, const char *path,
                          const dc_hf_params *params, dc_hf_result *out, dc_error *err);

void dc_hf_result_clear(dc_hf_result *r);

/* The hub cache folder ($HF_HUB_CACHE, $HF_HOME/hub or the default) into
 * buf. LIMIT when it does not fit. */
dc_status dc_hf_cache_dir(const dc_hf_params *params, char *buf, size_t size);

/* Lowercase hex SHA-256 of a file into hex (65 bytes). IO. */
dc_status dc_sha256_file(const char *path, char hex[65], dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DC_HF_H */
