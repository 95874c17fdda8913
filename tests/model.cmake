# Tests of the model layer (src/model: the trainer). The corpus is
# tests/data/train/corpus_small.jsonl (48 conversations); seconds on 2 cores.
if(SDC_HAVE_LLAMA)
    sdc_add_test(NAME test_train SOURCES model/test_train.c LABELS model TIMEOUT 300
                 LIBS sdc_llama)
endif()
if(SDC_HAVE_LLAMA AND EXISTS ${PROJECT_SOURCE_DIR}/models/safety-deepconf-demo.gguf)
    sdc_add_test(NAME test_demo_model SOURCES model/test_demo_model.c LABELS model TIMEOUT 120
                 LIBS sdc_llama)
endif()
# `data corpus` on the shared datasets ($SDC_DATASETS, default
# /work/shared/datasets; skipped without them): deterministic, held out.
sdc_add_test(NAME test_corpus SOURCES unit/test_corpus.c LABELS unit)
