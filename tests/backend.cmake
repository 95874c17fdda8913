# Tests of the backend layer (dc_backend, llama.cpp, Hub downloads, demo
# models). Model tests make the tiny demo model themselves
# (`safety-deepconf model mkdemo --shape tiny`); nothing is downloaded.

sdc_add_test(NAME test_backend_util SOURCES unit/test_backend_util.c LABELS unit)

if(SDC_HAVE_LLAMA)
    sdc_add_test(NAME test_backend_llama SOURCES integration/test_backend_llama.c
                 LABELS model TIMEOUT 240 LIBS PkgConfig::CURL)
    add_dependencies(test_backend_llama safety-deepconf)
endif()
