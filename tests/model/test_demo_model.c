/* test_demo_model.c - the committed demonstration model: its sha256 is the
 * one scripts/train_demo_model.sh recorded, llama.cpp loads it, and its
 * metadata carries the training record. */
#include "test_common.h"

#include <llama.h>

#include "deepconf/dc_hf.h"

#define DEMO_DIR SDC_TEST_DATA_DIR "/../../models/"

static void test_sha256_matches_record(void **state)
{
    (void)state;
    FILE *f = fopen(DEMO_DIR "safety-deepconf-demo.sha256", "r");
    assert_non_null(f);
    char want[65] = "", name[256] = "";
    assert_int_equal(fscanf(f, "%64s %255s", want, name), 2);
    fclose(f);
    assert_string_equal(name, "safety-deepconf-demo.gguf");
    char got[65];
    dc_error err = {0};
    assert_int_equal(dc_sha256_file(DEMO_DIR "safety-deepconf-demo.gguf", got, &err), DC_STATUS_OK);
    assert_string_equal(got, want);
}

static void test_loads_with_record(void **state)
{
    (void)state;
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(DEMO_DIR "safety-deepconf-demo.gguf", mp);
    assert_non_null(m);
    char buf[512];
    assert_true(llama_model_meta_val_str(m, "general.name", buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "not a Qwen3 release"));
    assert_int_equal(
        llama_model_meta_val_str(m, "safety_deepconf.train.corpus_sha256", buf, sizeof buf), 64);
    assert_true(llama_model_meta_val_str(m, "safety_deepconf.train.recipe", buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "model train"));
    llama_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_matches_record),
        cmocka_unit_test(test_loads_with_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
