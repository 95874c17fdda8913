/* fuzz_json.c - libFuzzer target: the loaders on a .json file. */
#include "fuzz_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load("fuzz.json", data, size);
    return 0;
}
