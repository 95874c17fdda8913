# Tests of the guard-model judges (issue 10). Included from tests/CMakeLists.txt.
sdc_add_test(NAME test_judge SOURCES unit/test_judge.c LABELS unit TIMEOUT 60)
