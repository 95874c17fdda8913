# Tests of the backend layer (dc_backend, llama.cpp, Hub downloads, demo
# models). Model tests make the tiny demo model themselves
# (`safety-deepconf model mkdemo --shape tiny`); nothing is downloaded.

sdc_add_test(NAME test_backend_util SOURCES unit/test_backend_util.c LABELS unit)

if(SDC_HAVE_LLAMA)
    sdc_add_test(NAME test_backend_llama SOURCES integration/test_backend_llama.c
                 LABELS model TIMEOUT 240 LIBS PkgConfig::CURL)
    add_dependencies(test_backend_llama safety-deepconf)
    # mkdemo / info / usage through the program (a tiny model: milliseconds).
    sdc_add_test(NAME test_cli_model SOURCES integration/test_cli_model.c LABELS unit TIMEOUT 120)
    add_dependencies(test_cli_model safety-deepconf)
endif()

# `model pull` against a Hub stand-in served by a thread of the test on
# 127.0.0.1 (milliseconds; no network needed).
sdc_add_test(NAME test_hf_pull SOURCES integration/test_hf_pull.c integration/hub_server.c
             LABELS unit TIMEOUT 120 LIBS Threads::Threads)
add_dependencies(test_hf_pull safety-deepconf)
