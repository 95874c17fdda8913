/* openai_request.c - what goes over the wire: endpoint URLs, request
 * bodies, the Qwen3 prompt for the completions endpoint, and keeping the
 * API key out of messages. */
#include "backend/openai_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "deepconf/dc_backend_openai.h"
#include "util/jsonw.h"

/* ---- the prompt for /v1/completions ---- */

char *oai_format_qwen3(const char *system, const char *user, int enable_thinking)
{
    dc_buf b;
    dc_buf_init(&b, 0);
    if (system && *system)
        dc_buf_printf(&b, "<|im_start|>system\n%s<|im_end|>\n", system);
    dc_buf_printf(&b, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user ? user : "");
    if (!enable_thinking)
        dc_buf_puts(&b, "<think>\n\n</think>\n\n");
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        return NULL;
    }
    return dc_buf_take(&b);
}

/* ---- request bodies ---- */

static void put_messages(jw *w, const dc_chat *c)
{
    jw_key(w, "messages");
    jw_arr_begin(w);
    if (c->system && *c->system) {
        jw_obj_begin(w);
        jw_kv_str(w, "role", "system");
        jw_kv_str(w, "content", c->system);
        jw_obj_end(w);
    }
    jw_obj_begin(w);
    jw_kv_str(w, "role", "user");
    jw_kv_str(w, "content", c->user);
    jw_obj_end(w);
    jw_arr_end(w);
}

dc_status oai_request_body(const oai_req_spec *spec, const dc_prompt *prompt,
                           const dc_gen_params *gp, uint64_t seed, dc_buf *out, dc_error *err)
{
    int chat_api = spec->api == DC_OPENAI_API_CHAT;
    if (chat_api && !prompt->chat)
        return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                            "the chat endpoint takes chat prompts only; use the completions "
                            "API (model.api) for a %s prompt",
                            prompt->text ? "text" : "token");
    dc_buf_reset(out);
    jw w;
    jw_init(&w, out);
    jw_obj_begin(&w);
    if (spec->model) {
        jw_kv_str(&w, "model", spec->model);
    }
    if (chat_api) {
        put_messages(&w, prompt->chat);
    } else {
        jw_key(&w, "prompt");
        if (prompt->chat) {
            char *text = oai_format_qwen3(prompt->chat->system, prompt->chat->user,
                                          prompt->chat->enable_thinking);
            if (!text)
                return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            jw_str(&w, text);
            dc_free(text);
        } else if (prompt->text) {
            jw_str(&w, prompt->text);
        } else {
            jw_arr_begin(&w);
            for (size_t i = 0; i < prompt->n_tokens; i++)
                jw_int(&w, prompt->tokens[i]);
            jw_arr_end(&w);
        }
    }
    jw_kv_uint(&w, "max_tokens", gp->max_tokens);
    jw_kv_double(&w, "temperature", gp->sampling.temperature);
    jw_kv_double(&w, "top_p", gp->sampling.top_p);
    if (spec->send_top_k_min_p) {
        /* vLLM and SGLang read -1 as "off"; llama-server reads 0 and <= 0 alike. */
        jw_kv_int(&w, "top_k", gp->sampling.top_k > 0 ? gp->sampling.top_k : -1);
        jw_kv_double(&w, "min_p", gp->sampling.min_p);
    }
    jw_kv_uint(&w, "seed", seed & 0xFFFFFFFFu);
    jw_kv_int(&w, "n", 1);
    if (chat_api) {
        jw_kv_bool(&w, "logprobs", 1);
        jw_kv_uint(&w, "top_logprobs", gp->top_logprobs);
        if (spec->send_template_kwargs) {
            jw_key(&w, "chat_template_kwargs");
            jw_obj_begin(&w);
            jw_kv_bool(&w, "enable_thinking", prompt->chat->enable_thinking);
            jw_obj_end(&w);
        }
    } else {
        /* The legacy field: a number, the count of alternatives (0 still
           returns the sampled token's logprob on vLLM and OpenAI). */
        jw_kv_uint(&w, "logprobs", gp->top_logprobs);
    }
    jw_kv_bool(&w, "stream", spec->stream);
    if (spec->stream && spec->send_stream_usage) {
        jw_key(&w, "stream_options");
        jw_obj_begin(&w);
        jw_kv_bool(&w, "include_usage", 1);
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    if (out->st != DC_STATUS_OK)
        return dc_error_set(err, out->st, "building the request body: %s", dc_strerror(out->st));
    return DC_STATUS_OK;
}

/* ---- endpoints ---- */

static int host_is_loopback(const char *h)
{
    if (strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 || strcmp(h, "::1") == 0)
        return 1;
    /* 127.0.0.0/8, dotted quad only (curl normalises other IPv4 forms). */
    unsigned a, b, c, d;
    char tail;
    if (sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
        return a == 127 && b < 256 && c < 256 && d < 256;
    return 0;
}

dc_status oai_endpoint_parse(const char *url, char **base, int *loopback, int *https, dc_error *err)
{
    *base = NULL;
    if (!url || !*url)
        return dc_error_set(err, DC_STATUS_CONFIG, "endpoint: empty URL");
    CURLU *u = curl_url();
    if (!u)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = DC_STATUS_OK;
    char *scheme = NULL, *host = NULL, *user = NULL, *path = NULL, *query = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        st = dc_error_set(err, DC_STATUS_CONFIG,
                          "endpoint \"%.200s\": not a URL (expected http://host:port or "
                          "https://host[/v1])",
                          url);
        goto done;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        st = dc_error_set(err, DC_STATUS_CONFIG,
                          "endpoint \"%.200s\": the scheme must be http "
                          "or https",
                          url);
        goto done;
    }
    if (user) { /* not echoed: the URL holds a secret */
        st = dc_error_set(err, DC_STATUS_CONFIG,
                          "endpoint %zu characters long holds user:password; put the key in "
                          "the environment variable named by api_key_env instead",
                          strlen(url));
        goto done;
    }
    if (query) {
        st = dc_error_set(err, DC_STATUS_CONFIG, "endpoint \"%.200s\": no query string allowed",
                          url);
        goto done;
    }
    *https = strcmp(scheme, "https") == 0;
    *loopback = host && host_is_loopback(host);
    /* Drop the path from the URL, then add it back normalised. */
    size_t plen = path ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    int has_v1 = plen >= 3 && memcmp(path + plen - 3, "/v1", 3) == 0;
    curl_url_set(u, CURLUPART_PATH, "/", 0);
    char *root = NULL;
    if (curl_url_get(u, CURLUPART_URL, &root, 0) != CURLUE_OK) {
        st = dc_error_set(err, DC_STATUS_CONFIG, "endpoint \"%.200s\": not a URL", url);
        goto done;
    }
    size_t rlen = strlen(root);
    while (rlen > 0 && root[rlen - 1] == '/')
        rlen--;
    dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append(&b, root, rlen);
    dc_buf_append(&b, path ? path : "", plen);
    if (!has_v1)
        dc_buf_puts(&b, "/v1");
    curl_free(root);
    if (b.st != DC_STATUS_OK) {
        dc_buf_free(&b);
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        goto done;
    }
    *base = dc_buf_take(&b);
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return st;
}

/* ---- secrets ---- */

void oai_redact(char *s, const char *secret)
{
    static const char mark[] = "[redacted]";
    if (!s || !secret || !*secret)
        return;
    size_t k = strlen(secret);
    for (char *p = strstr(s, secret); p; p = strstr(p, secret)) {
        size_t m = sizeof mark - 1;
        if (m <= k) {
            memcpy(p, mark, m);
            memmove(p + m, p + k, strlen(p + k) + 1);
            p += m;
        } else {
            memset(p, '*', k);
            p += k;
        }
    }
}
