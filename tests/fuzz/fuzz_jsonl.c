/* fuzz_jsonl.c - libFuzzer target: the loaders on a .jsonl file. */
#include "fuzz_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load("fuzz.jsonl", data, size);
    return 0;
}
