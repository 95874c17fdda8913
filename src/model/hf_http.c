/* hf_http.c - the Hugging Face Hub over curl: JSON API calls and resumable downloads. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "model/hf_int.h"
#include "util/buf.h"

/* ---- HTTP ---- */

static size_t to_buf(char *data, size_t size, size_t n, void *user)
{
    dc_buf *b = user;
    return dc_buf_append(b, data, size * n) == DC_STATUS_OK ? size * n : 0;
}

static struct curl_slist *auth_headers(const hf_http *h, const char *accept)
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

static void curl_common(CURL *c, const hf_http *h)
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
static void reply_message(const dc_buf *b, char *msg, size_t size)
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

dc_status hf_get_json(const hf_http *h, const char *url, const char *what, json_t **out,
                      int *unreachable, dc_error *err)
{
    *out = NULL;
    *unreachable = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return dc_error_set(err, DC_STATUS_NOMEM, "curl_easy_init failed");
    dc_buf b;
    dc_buf_init(&b, HF_JSON_MAX);
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
    dc_buf_free(&b);
    return st;
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

dc_status hf_download(const hf_http *h, const char *url, const char *part, uint64_t expect,
                      uint64_t *resumed, dc_error *err)
{
    int ex;
    uint64_t have = hf_file_size(part, &ex);
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
