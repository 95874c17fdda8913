/* jinja.h - a subset of Jinja2, enough to render the chat templates that
 * GGUF files carry (tokenizer.chat_template) the way Hugging Face's
 * apply_chat_template does: trim_blocks and lstrip_blocks on, the
 * loopcontrols extension, no trailing newline kept. Internal.
 *
 * Supported: {{ }}, {% if/elif/else %}, {% for x in y [if c] %} with loop.*,
 * {% else %} of a for, {% break %}, {% continue %}, {% set x = e %},
 * {% set ns.a = e %}, {% generation %} (no-op), {# #}, whitespace control
 * (- on either side); expressions with literals, lists, dicts, attributes,
 * subscripts and slices, calls, filters, tests, `a if c else b`, and/or/not,
 * comparisons, in, +, -, *, //, %, ~; the globals namespace(), range() and
 * raise_exception(); the string, list and dict methods templates use
 * (startswith, split, strip, get, items, ...). Anything else is an error
 * that names the line, never a guess. */
#ifndef SDC_UTIL_JINJA_H
#define SDC_UTIL_JINJA_H

#include <stddef.h>

#include "deepconf/dc_status.h"

/* Renders tmpl with the variables of the JSON object context_json (e.g.
 * {"messages": [...], "add_generation_prompt": true, "bos_token": "..."}).
 * *out: the text, NUL-terminated (free with dc_free); *out_len its length.
 * DC_STATUS_PARSE for a template this subset cannot read or that fails
 * (raise_exception, an undefined value used), DC_STATUS_LIMIT past the
 * bounds on steps (500,000), memory (64 MiB), range() (100,000 items) or
 * nesting (200), DC_STATUS_INVALID_ARG for a bad context, NOMEM; the
 * message in err. */
dc_status dc_jinja_render(const char *tmpl, const char *context_json, char **out, size_t *out_len,
                          dc_error *err);

#endif
