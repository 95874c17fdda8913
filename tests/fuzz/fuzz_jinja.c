/* fuzz_jinja.c - libFuzzer target: the chat-template renderer on any
 * template text, with a fixed conversation; it must answer or fail with a
 * message, within its step and memory limits, never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char ctx[] =
        "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\","
        " \"content\": \"Q <think>x</think>\\n\"}, {\"role\": \"assistant\", \"content\":"
        " \"A\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]}],"
        " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
        " \"tools\": [{\"name\": \"f\"}]}";
    char *t = malloc(size + 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    t[size] = '\0';
    char *out = NULL;
    size_t n = 0;
    dc_error err = {0};
    dc_status st = dc_jinja_render(t, ctx, &out, &n, &err);
    if (st == DC_STATUS_OK && (!out || strlen(out) > n))
        __builtin_trap();
    if (st != DC_STATUS_OK && (out || !err.msg[0]))
        __builtin_trap();
    dc_free(out);
    free(t);
    return 0;
}
