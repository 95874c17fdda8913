# Tests of the guard-model judges (issue 10). Included from tests/CMakeLists.txt.
sdc_add_test(NAME test_judge SOURCES unit/test_judge.c LABELS unit TIMEOUT 60)
# The openai path against the stand-in server on 127.0.0.1 (milliseconds).
sdc_add_test(NAME test_judge_openai
             SOURCES integration/test_judge_openai.c integration/fault_server.c integration/run_cmd.c
             LABELS unit TIMEOUT 120 LIBS Threads::Threads)
add_dependencies(test_judge_openai safety-deepconf)
# In-process on the tiny random-weights Qwen3 demo model (seconds).
if(SDC_HAVE_LLAMA)
    sdc_add_test(NAME test_judge_model
                 SOURCES integration/test_judge_model.c integration/run_cmd.c
                         integration/fault_server.c
                 LABELS model TIMEOUT 240 LIBS Threads::Threads)
    add_dependencies(test_judge_model safety-deepconf)
endif()
