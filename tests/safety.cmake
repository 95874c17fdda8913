# Tests of the safety layer (loaders, synthetic benchmark, refusal detector).
# Included from tests/CMakeLists.txt.
#
# Some tests read the real benchmark files beside the checkout
# (../shared/datasets, ../shared/refusal). SDC_SHARED_DIR, from the
# environment at configure time, overrides that location; if the folder
# is missing those tests fail with a message saying so.
if(DEFINED ENV{SDC_SHARED_DIR})
    set(SDC_SHARED_DIR_DEFAULT "$ENV{SDC_SHARED_DIR}")
else()
    get_filename_component(SDC_SHARED_DIR_DEFAULT "${PROJECT_SOURCE_DIR}/../shared" ABSOLUTE)
endif()
set(SDC_SHARED_DIR "${SDC_SHARED_DIR_DEFAULT}" CACHE PATH "shared data folder (datasets, refusal)")

function(sdc_safety_test name)
    sdc_add_test(NAME ${name} SOURCES ${ARGN} LABELS unit)
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
        "SDC_SHARED_DIR=${SDC_SHARED_DIR}" "SDC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

sdc_safety_test(test_refusal unit/test_refusal.c)
sdc_safety_test(test_classify unit/test_classify.c)
sdc_safety_test(test_datasets unit/test_datasets.c)
sdc_safety_test(test_parquet unit/test_parquet.c)
sdc_safety_test(test_synthetic unit/test_synthetic.c)
sdc_safety_test(test_cli_safety unit/test_cli_safety.c)
sdc_safety_test(test_refusal_model unit/test_refusal_model.c)

# Benchmarks by name (data pull, sdc_hub_pull) against a Hub stand-in served
# by a thread of the test on 127.0.0.1 (milliseconds; no network needed).
sdc_add_test(NAME test_hub_datasets SOURCES integration/test_hub_datasets.c
             integration/hub_server.c LABELS unit TIMEOUT 120 LIBS Threads::Threads)
add_dependencies(test_hub_datasets safety-deepconf)
