/* fuzz_refusal.c - libFuzzer target: refusal detector and verdict parser on any text. */
#include <stddef.h>
#include <stdint.h>

#include "safety/sdc_classify.h"
#include "safety/sdc_refusal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sdc_refusal *det;
    if (!det && sdc_refusal_new(NULL, &det, NULL) != DC_STATUS_OK)
        __builtin_trap();
    sdc_refusal_result r;
    if (sdc_refusal_classify(det, (const char *)data, size, &r) != DC_STATUS_OK)
        __builtin_trap();
    if (r.kind != SDC_REFUSAL_NONE && r.kind != SDC_REFUSAL_FULL && r.kind != SDC_REFUSAL_PARTIAL)
        __builtin_trap();
    sdc_verdict v = sdc_classify_parse((const char *)data, size);
    if (v != SDC_VERDICT_SAFE && v != SDC_VERDICT_UNSAFE && v != SDC_VERDICT_UNKNOWN)
        __builtin_trap();
    return 0;
}
