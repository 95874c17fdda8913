/* fuzz_loader.h - shared body of the loader fuzzers: one input, every mode. */
#ifndef SDC_FUZZ_LOADER_H
#define SDC_FUZZ_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "safety/sdc_dataset.h"

/* Loads data as name, detected and as generic, failing and skipping, with
 * a small field cap so that the caps are reached too. Any crash, leak or
 * undefined behaviour is a finding; errors are expected. */
static void fuzz_load(const char *name, const uint8_t *data, size_t size)
{
    for (int mode = 0; mode < 4; mode++) {
        sdc_load_params p = sdc_load_default_params();
        p.skip_bad_rows = mode & 1;
        p.max_field_bytes = 256;
        p.max_rows = 1000;
        if (mode & 2) {
            p.benchmark = SDC_BENCHMARK_GENERIC;
            p.unsafe_values = "1,bad";
        }
        sdc_dataset *ds = NULL;
        dc_error err = {DC_STATUS_OK, ""};
        dc_status st = sdc_dataset_load_buffer(name, (const char *)data, size, &p, &ds, &err);
        if (st == DC_STATUS_OK) {
            sdc_select_params s = sdc_select_default_params();
            s.shuffle = 1;
            s.stratify = 1;
            s.num_instances = 3;
            s.seed = size;
            sdc_dataset_select(ds, &s, &err);
            sdc_dataset_free(ds);
        } else if (ds || !err.msg[0] || !memchr(err.msg, '\0', sizeof err.msg)) {
            __builtin_trap(); /* an error must say why and leave no list */
        }
    }
}

#endif
