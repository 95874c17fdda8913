# Tests of the OpenAI-compatible backend (issue 4).
sdc_add_test(NAME test_openai_parse SOURCES unit/test_openai_parse.c LABELS unit TIMEOUT 60)
# The fault-injection server on 127.0.0.1 answers in milliseconds (one case
# waits for a 1 s Retry-After): fast enough for the unit label.
sdc_add_test(NAME test_openai_faults
             SOURCES integration/test_openai_faults.c integration/fault_server.c
             LABELS unit TIMEOUT 120 LIBS Threads::Threads)
# A real llama-server (from the llama.cpp build) with the tiny demo model.
if(SDC_LLAMA_BIN_DIR AND EXISTS ${SDC_LLAMA_BIN_DIR}/llama-server)
    sdc_add_test(NAME test_openai_server
                 SOURCES integration/test_openai_server.c integration/run_cmd.c
                 LABELS server TIMEOUT 120 LIBS PkgConfig::CURL)
endif()

# bench/openai_vs_embedded.sh builds this on demand (not part of `all`).
if(SDC_HAVE_LLAMA)
    add_executable(bench_openai_vs_embedded EXCLUDE_FROM_ALL
                   ${PROJECT_SOURCE_DIR}/bench/openai_vs_embedded.c)
    target_compile_options(bench_openai_vs_embedded PRIVATE ${SDC_WARNINGS})
    target_link_libraries(bench_openai_vs_embedded PRIVATE safety_deepconf)
    set_target_properties(bench_openai_vs_embedded PROPERTIES
                          RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()
