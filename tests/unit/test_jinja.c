/* test_jinja.c - the Jinja2 subset that renders GGUF chat templates: Qwen3's
 * official template, the whitespace rules of apply_chat_template, the
 * expressions templates use, and clear errors for everything else. */
#include "test_common.h"

#include "deepconf/dc_gguf_demo.h"
#include "util/fs.h"
#include "util/jinja.h"

static char *render(const char *tmpl, const char *ctx)
{
    char *out = NULL;
    size_t n = 0;
    dc_error err = {0};
    dc_status st = dc_jinja_render(tmpl, ctx, &out, &n, &err);
    if (st != DC_STATUS_OK)
        fail_msg("render failed: %s\ntemplate: %s", err.msg, tmpl);
    assert_int_equal(strlen(out), n);
    return out;
}

#define assert_renders(tmpl, ctx, want)                                           \
    do {                                                                          \
        char *got_ = render(tmpl, ctx);                                           \
        if (strcmp(got_, want))                                                   \
            fail_msg("template %.60s\n got: [%s]\nwant: [%s]", tmpl, got_, want); \
        dc_free(got_);                                                            \
    } while (0)

/* The error message of a render that must fail, with its status. */
static void assert_fails(const char *tmpl, const char *ctx, dc_status want, const char *msg)
{
    char *out = NULL;
    dc_error err = {0};
    dc_status st = dc_jinja_render(tmpl, ctx, &out, NULL, &err);
    if (st != want || !strstr(err.msg, msg))
        fail_msg("template %s: status %d message '%s', expected %d with '%s'", tmpl, st, err.msg,
                 want, msg);
    assert_null(out);
}

/* Qwen3's official template, as Hugging Face renders it. */
static void test_qwen3_template(void **state)
{
    (void)state;
    const char *t = dc_qwen3_chat_template();
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}],"
                   " \"add_generation_prompt\": true, \"enable_thinking\": false}",
                   "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
                   "<think>\n\n</think>\n\n");
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}],"
                   " \"add_generation_prompt\": true}",
                   "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    /* an earlier turn's reasoning is dropped, the system prompt kept */
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
                   " {\"role\": \"user\", \"content\": \"Q1\"},"
                   " {\"role\": \"assistant\", \"content\": \"<think>\\nR1\\n</think>\\n\\nA1\"},"
                   " {\"role\": \"user\", \"content\": \"Q2\"}],"
                   " \"add_generation_prompt\": true}",
                   "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n"
                   "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n"
                   "<|im_start|>assistant\n");
    /* the last assistant turn after the last query keeps a (here empty) think block */
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"},"
                   " {\"role\": \"assistant\", \"content\": \"A\"}],"
                   " \"add_generation_prompt\": false}",
                   "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
                   "A<|im_end|>\n");
    /* tools: the system block lists them as JSON */
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}],"
                   " \"tools\": [{\"name\": \"f\"}], \"add_generation_prompt\": false}",
                   "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist "
                   "with the user query.\n\nYou are provided with function signatures within "
                   "<tools></tools> XML tags:\n<tools>\n{\"name\": \"f\"}\n</tools>\n\nFor each "
                   "function call, return a json object with function name and arguments within "
                   "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                   "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
                   "<|im_start|>user\nQ<|im_end|>\n");
    /* tool results are grouped into one user turn; an assistant turn that is not
       the last keeps no think block */
    assert_renders(t,
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"},"
                   " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"function\":"
                   " {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]},"
                   " {\"role\": \"tool\", \"content\": \"r1\"},"
                   " {\"role\": \"tool\", \"content\": \"r2\"}]}",
                   "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": "
                   "\"f\", \"arguments\": {\"x\": 1}}\n</tool_call>"
                   "<|im_end|>\n<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n"
                   "<tool_response>\nr2\n</tool_response><|im_end|>\n");
}

/* A template in the style of Llama Guard 3's (tests/data/judges): content as
 * typed parts, a categories dict, excluded_category_keys, the alternation
 * check with raise_exception; plain string content renders no turns. */
static void test_llamaguard3_style(void **state)
{
    (void)state;
    size_t n;
    char *t = dc_read_file(test_data_path("judges/llamaguard3_style_template.jinja"), &n);
    assert_non_null(t);
    const char *parts = "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\","
                        " \"text\": \" Hi \"}]}, {\"role\": \"assistant\", \"content\":"
                        " [{\"type\": \"image\"}, {\"type\": \"text\", \"text\": \"Hello\"}]}]";
    char ctx[1024];
    snprintf(ctx, sizeof ctx, "%s}", parts);
    char *out = render(t, ctx);
    assert_non_null(strstr(out, "in 'Agent' messages"));
    assert_non_null(strstr(out, "S13: Elections.\nS14: Code Interpreter Abuse.\n<END UNSAFE"));
    assert_non_null(strstr(out, "<BEGIN CONVERSATION>\n\nUser: Hi\n\nAgent: Hello\n\n<END "));
    assert_non_null(strstr(out, "LAST Agent message"));
    dc_free(out);
    snprintf(ctx, sizeof ctx, "%s, \"excluded_category_keys\": [\"S14\", \"S2\"]}", parts);
    out = render(t, ctx);
    assert_null(strstr(out, "S14"));
    assert_null(strstr(out, "S2:"));
    assert_non_null(strstr(out, "S1: Violent Crimes.\nS3: Sex Crimes."));
    dc_free(out);
    out = render(t, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
    assert_non_null(strstr(out, "in 'User' messages"));
    assert_non_null(strstr(out, "<BEGIN CONVERSATION>\n\n<END CONVERSATION>"));
    dc_free(out);
    assert_fails(t, "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}]}",
                 DC_STATUS_PARSE, "raised an exception: Conversation roles must alternate");
    dc_free(t);
}

/* trim_blocks, lstrip_blocks, - and + on tags, comments, the final newline. */
static void test_whitespace(void **state)
{
    (void)state;
    const char *ctx = "{\"x\": true}";
    assert_renders("a\n{% if x %}\nb\n{% endif %}\nc", ctx, "a\nb\nc");
    assert_renders("a\n    {% if x %}\n    b\n    {% endif %}\nc", ctx, "a\n    b\nc");
    assert_renders("a  {% if x %}b{% endif %}", ctx, "a  b"); /* not alone on its line */
    assert_renders("a  {%- if x -%}  b  {%- endif %}", ctx, "ab");
    assert_renders("a {{- 'b' -}} \n c", ctx, "abc");
    assert_renders("a {{ 'b' }}\nc", ctx, "a b\nc"); /* no trim after }} */
    assert_renders("a\n  {%+ if x %}b{% endif %}", ctx, "a\n  b");
    assert_renders("a{% if x +%}\nb{% endif %}", ctx, "a\nb");
    assert_renders("a\n  {# note #}\nb", ctx, "a\nb");
    assert_renders("a {#- note -#} b", ctx, "ab");
    assert_renders("line\n", ctx, "line"); /* keep_trailing_newline off */
    assert_renders("line\n\n", ctx, "line\n");
}

static void test_expressions(void **state)
{
    (void)state;
    const char *ctx = "{\"m\": [{\"role\": \"system\", \"content\": \" hi \"},"
                      " {\"role\": \"user\", \"content\": \"a,b,,c\"}], \"n\": 3, \"s\": \"abc\","
                      " \"d\": {\"k\": \"v\", \"z\": 1}, \"nil\": null}";
    assert_renders("{{ m|length }} {{ s|length - 1 }} {{ n * 2 + 1 }} {{ 7 // 2 }} {{ -7 % 3 }}",
                   ctx, "2 2 7 3 2");
    assert_renders("{{ s[::-1] }} {{ s[1:] }} {{ s[-1] }} {{ m[-1].role }} {{ m[0]['role'] }}", ctx,
                   "cba bc c user system");
    assert_renders(
        "{{ m[0].content.strip() }}|{{ m[0].content.lstrip() }}|{{ 'xxhixx'.strip('x') }}", ctx,
        "hi|hi |hi");
    assert_renders("{{ m[1].content.split(',') }} {{ 'a b  c'.split() }} {{ s.split('b')[-1] }}",
                   ctx, "['a', 'b', '', 'c'] ['a', 'b', 'c'] c");
    assert_renders(
        "{{ s.startswith('ab') }} {{ s.endswith('x') }} {{ 'b' in s }} {{ 'q' not in s }}", ctx,
        "True False True True");
    assert_renders("{{ s.upper() }} {{ 'HeLLo wOrld'|lower|title }} {{ s|replace('b', 'XY') }}",
                   ctx, "ABC Hello World aXYc");
    assert_renders("{{ 'x' if n > 2 else 'y' }} {{ 'x' if n > 5 else 'y' }}[{{ 'x' if false }}]",
                   ctx, "x y[]");
    assert_renders("{{ not nil and n == 3 }} {{ nil or 'dflt' }} {{ n != 3 or s }}", ctx,
                   "True dflt abc");
    assert_renders("{{ undefined_thing is defined }} {{ nil is none }} {{ s is string }} "
                   "{{ n is number }} {{ d is mapping }} {{ n is not none }} {{ n is equalto 3 }}",
                   ctx, "False True True True True True True");
    assert_renders("{{ d.get('k') }} {{ d.get('q', 'no') }} {{ d.k }} {{ d['z'] + 1 }}", ctx,
                   "v no v 2");
    assert_renders("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", ctx, "k=v;z=1;");
    assert_renders(
        "{% for k, v in d|items %}{{ k }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}", ctx,
        "kz|kz");
    assert_renders("{{ d|tojson }} {{ [1, 'a', none, true]|tojson }} {{ 'q\"\\n'|tojson }}", ctx,
                   "{\"k\": \"v\", \"z\": 1} [1, \"a\", null, true] \"q\\\"\\n\"");
    assert_renders("{{ {'a': [1, 2]}|tojson(indent=2) }}", ctx,
                   "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
    assert_renders("{{ 'a' ~ n ~ nil }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 'x' 'y' }}", ctx,
                   "a3None abab [1, 2] xy");
    assert_renders("{{ m|selectattr('role', 'equalto', 'user')|list|length }} "
                   "{{ m|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }} "
                   "{{ m|map(attribute='role')|first }} {{ [3, 4]|last }} {{ ['a', 'b']|join }}",
                   ctx, "1 system system 4 ab");
    assert_renders("{{ '-'.join(['a', 1, nil]) }} {{ m|join('+', attribute='role') }} "
                   "{{ [1, 2]|join }}",
                   ctx, "a-1-None system+user 12");
    assert_renders("{{ missing|default('d') }} {{ ''|default('e', true) }} {{ s|default('f') }}",
                   ctx, "d e abc");
    assert_renders("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ '12'|int + 1 }}", ctx,
                   "[0, 1, 2] [1, 3, 5] 13");
    assert_renders("{{ 3 < 4 }} {{ 'b' >= 'a' }} {{ [1, 2] == [1, 2] }} {{ (n + 1) * 2 }}", ctx,
                   "True True True 8");
    assert_renders("{{ nil }} {{ true }} [{{ missing }}]", ctx, "None True []");
    assert_renders(
        "{{ 'a' in missing }} {{ 'a' not in missing }}{% for x in missing %}x{% endfor %}", ctx,
        "False True");
    /* control characters as \u00XX, other bytes (UTF-8) as they are */
    assert_renders("{{ c|tojson }}", "{\"c\": \"a\\u0001\\u00e9\\tb\"}",
                   "\"a\\u0001\xc3\xa9\\tb\"");
}

static void test_statements(void **state)
{
    (void)state;
    const char *ctx = "{\"xs\": [1, 2, 3, 4], \"e\": []}";
    assert_renders("{% for x in xs %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}"
                   "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}|{% endfor %}",
                   ctx, "014F|123|232|341L|");
    assert_renders("{% for x in xs if x is even %}{{ x }}/{{ loop.length }} {% endfor %}", ctx,
                   "2/2 4/2 ");
    assert_renders("{% for x in e %}no{% else %}empty{% endfor %}", ctx, "empty");
    assert_renders("{% for x in xs %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}", ctx,
                   "12");
    assert_renders("{% for x in xs %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}",
                   ctx, "24");
    assert_renders("{% for x in xs %}{% if loop.previtem is defined %}{{ loop.previtem }}"
                   "{% endif %}{% endfor %}",
                   ctx, "123");
    /* a plain set inside a loop does not leave it; a namespace does */
    assert_renders("{% set c = 0 %}{% set ns = namespace(c=0) %}{% for x in xs %}"
                   "{% set c = c + x %}{% set ns.c = ns.c + x %}{% endfor %}{{ c }} {{ ns.c }}",
                   ctx, "0 10");
    assert_renders("{% if xs|length > 9 %}a{% elif xs|length > 3 %}b{% else %}c{% endif %}", ctx,
                   "b");
    assert_renders("{% for a in xs %}{% for b in xs %}{% if b > a %}{% break %}{% endif %}"
                   "{% endfor %}{{ a }}{% endfor %}",
                   ctx, "1234");
    assert_renders("{% generation %}kept{% endgeneration %}", ctx, "kept");
    assert_renders("{% set t = 'a' %}{{ t }}{% set t = t ~ 'b' %}{{ t }}", ctx, "aab");
}

/* Bad templates and contexts: an error naming the line, never a crash. */
static void test_errors(void **state)
{
    (void)state;
    const char *ctx = "{\"messages\": []}";
    assert_fails("a\n{{ raise_exception('Only user and assistant') }}", ctx, DC_STATUS_PARSE,
                 "line 2: the template raised an exception: Only user and assistant");
    assert_fails("{% macro f() %}{% endmacro %}", ctx, DC_STATUS_PARSE,
                 "line 1: the 'macro' statement is not supported");
    assert_fails("{% if true %}x", ctx, DC_STATUS_PARSE, "expected endif, found eof");
    assert_fails("x{% endif %}", ctx, DC_STATUS_PARSE, "'endif' without its opening statement");
    assert_fails("{{ 'abc }}", ctx, DC_STATUS_PARSE, "unterminated string");
    assert_fails("{{ x.y }}", ctx, DC_STATUS_PARSE, "attribute 'y' of an undefined value");
    assert_fails("{{ 1.5 }}", ctx, DC_STATUS_PARSE, "real numbers are not supported");
    assert_fails("{{ [1]|wordcount }}", ctx, DC_STATUS_PARSE,
                 "the filter 'wordcount' is not supported");
    assert_fails("{{ 1 is divisibleby 2 }}", ctx, DC_STATUS_PARSE, "the test 'divisibleby'");
    assert_fails("{{ 'a' + 1 }}", ctx, DC_STATUS_PARSE,
                 "cannot apply '+' to a string and a integer");
    assert_fails("{{ 1 // 0 }}", ctx, DC_STATUS_PARSE, "division by zero");
    assert_fails("{# open", ctx, DC_STATUS_PARSE, "unterminated comment");
    assert_fails("{{ x", ctx, DC_STATUS_PARSE, "expected");
    assert_fails("{% for x in range(100000000) %}{% endfor %}", ctx, DC_STATUS_LIMIT,
                 "range() of over 100000 items");
    assert_fails("{% for x in range(2000) %}{% for y in range(2000) %}{% endfor %}{% endfor %}",
                 ctx, DC_STATUS_LIMIT, "the template ");
    assert_fails("{% break %}", ctx, DC_STATUS_PARSE, "outside a loop");
    assert_fails("x", "[1]", DC_STATUS_INVALID_ARG, "not a JSON object");
    assert_fails("x", "{", DC_STATUS_INVALID_ARG, "context");
    /* deep nesting is refused, not a stack overflow */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ')';
    snprintf(deep + n, sizeof deep - n, " }}");
    assert_fails(deep, ctx, DC_STATUS_LIMIT, "nested too deep");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_template), cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_expressions),    cmocka_unit_test(test_statements),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_llamaguard3_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
