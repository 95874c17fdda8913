/* openai_chunk.c - one reply object of an OpenAI-style server: a whole
 * chat.completion / text_completion, or one streamed chunk of either.
 *
 * The token arrays are read by dc_trace_parse_json() (trace_json.c), which
 * knows both logprob shapes: chat-style logprobs.content[] (OpenAI, vLLM
 * and SGLang chat; llama-server on both endpoints) and the legacy
 * completions arrays with {token: logprob} dicts (vLLM, SGLang, OpenAI
 * completions). A chunk is small, so reading it twice costs little and
 * keeps one parser for both the streamed and the whole form. */
#include "backend/openai_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void oai_chunk_clear(oai_chunk *c)
{
    dc_trace_clear(&c->tokens);
    memset(c, 0, sizeof *c);
    c->prompt_tokens = -1;
}

static void read_error(json_t *root, oai_chunk *out)
{
    json_t *e = json_object_get(root, "error");
    json_t *msg = NULL, *code = NULL;
    if (json_is_object(e)) {
        msg = json_object_get(e, "message");
        code = json_object_get(e, "code");
    } else if (json_is_string(e)) {
        msg = e;
    } else { /* vLLM before 0.6: {"object": "error", "message", "type", "code"} */
        msg = json_object_get(root, "message");
        code = json_object_get(root, "code");
    }
    out->is_error = 1;
    if (json_is_integer(code))
        out->error_code = (int)json_integer_value(code);
    if (json_is_string(msg)) {
        snprintf(out->error_msg, sizeof out->error_msg, "%s", json_string_value(msg));
    } else {
        char *s = json_dumps(e ? e : root, JSON_COMPACT);
        snprintf(out->error_msg, sizeof out->error_msg, "%s", s ? s : "(unprintable error)");
        free(s);
    }
}

static int nonempty_string(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* Text in any of the places the dialects put it. */
static int choice_has_text(json_t *ch)
{
    if (nonempty_string(json_object_get(ch, "text")))
        return 1;
    json_t *m = json_object_get(ch, "message");
    if (!json_is_object(m))
        m = json_object_get(ch, "delta");
    if (!json_is_object(m))
        return 0;
    return nonempty_string(json_object_get(m, "content")) ||
           nonempty_string(json_object_get(m, "reasoning_content")) ||
           nonempty_string(json_object_get(m, "reasoning"));
}

/* logprobs present with token data (not null, not {"content": null}). */
static int has_token_data(json_t *lp, int *legacy)
{
    if (!json_is_object(lp))
        return 0;
    json_t *content = json_object_get(lp, "content");
    if (json_is_array(content)) {
        *legacy = 0;
        return 1;
    }
    if (json_object_get(lp, "tokens") || json_object_get(lp, "token_logprobs")) {
        *legacy = 1;
        return 1;
    }
    return 0;
}

dc_status oai_chunk_parse(const char *json, size_t len, const dc_trace_limits *lim, oai_chunk *out,
                          dc_error *err)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = -1;
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root)
        return dc_error_set(err, DC_STATUS_PARSE, "invalid JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
    dc_status st = DC_STATUS_OK;
    json_t *choices = json_object_get(root, "choices");
    json_t *obj = json_object_get(root, "object");
    if (!json_is_object(root)) {
        st = dc_error_set(err, DC_STATUS_FORMAT, "expected a JSON object");
        goto done;
    }
    if (json_object_get(root, "error") ||
        (json_is_string(obj) && strcmp(json_string_value(obj), "error") == 0)) {
        read_error(root, out);
        goto done;
    }
    json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage) && json_is_integer(json_object_get(usage, "prompt_tokens")))
        out->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
    if (!json_is_array(choices)) {
        st = dc_error_set(err, DC_STATUS_FORMAT, "missing \"choices\": [...]");
        goto done;
    }
    if (json_array_size(choices) == 0) /* the usage chunk that ends a stream */
        goto done;
    json_t *ch = json_array_get(choices, 0);
    if (!json_is_object(ch)) {
        st = dc_error_set(err, DC_STATUS_FORMAT, "choices[0]: expected an object");
        goto done;
    }
    out->has_choice = 1;
    json_t *fr = json_object_get(ch, "finish_reason");
    if (json_is_string(fr))
        snprintf(out->finish_reason, sizeof out->finish_reason, "%s", json_string_value(fr));
    out->has_text = choice_has_text(ch);
    if (!has_token_data(json_object_get(ch, "logprobs"), &out->legacy_dict))
        goto done;
    if (json_array_size(choices) > 1) {
        st = dc_error_set(err, DC_STATUS_FORMAT,
                          "%zu choices in one reply; the backend asks for one (n = 1)",
                          json_array_size(choices));
        goto done;
    }
    dc_trace *ts = NULL;
    size_t n = 0;
    st = dc_trace_parse_json(json, len, "", lim, &ts, &n, err);
    if (st == DC_STATUS_OK && n == 1) {
        out->tokens = ts[0];
        memset(&ts[0], 0, sizeof ts[0]);
    }
    dc_traces_free(ts, n);
done:
    json_decref(root);
    return st;
}
