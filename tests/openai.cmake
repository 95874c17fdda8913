# Tests of the OpenAI-compatible backend (issue 4).
sdc_add_test(NAME test_openai_parse SOURCES unit/test_openai_parse.c LABELS unit TIMEOUT 60)
