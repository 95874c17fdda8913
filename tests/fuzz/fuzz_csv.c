/* fuzz_csv.c - libFuzzer target: the loaders on a .csv file. */
#include "fuzz_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load("fuzz.csv", data, size);
    return 0;
}
