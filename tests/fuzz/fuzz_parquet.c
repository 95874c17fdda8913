/* fuzz_parquet.c - libFuzzer target: the loaders on a .parquet file (the
 * footer's Thrift, page headers, codecs, levels and value encodings). */
#include "fuzz_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load("fuzz.parquet", data, size);
    return 0;
}
