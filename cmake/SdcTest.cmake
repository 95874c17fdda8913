# sdc_add_test(NAME <name> SOURCES <files...> LABELS <unit|model|server|slow...>
#              [ARGS <args...>] [TIMEOUT <s>] [LIBS <targets...>])
# One executable per module, linked with cmocka and the library, run by
# CTest in its own process with the given labels. Tests find their data
# through the SDC_TEST_DATA and SDC_BINARY environment variables.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

function(sdc_add_test)
    cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LABELS;ARGS;LIBS" ${ARGN})
    if(NOT T_LABELS)
        message(FATAL_ERROR "sdc_add_test(${T_NAME}): LABELS is required")
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_compile_options(${T_NAME} PRIVATE ${SDC_WARNINGS})
    target_link_libraries(${T_NAME} PRIVATE safety_deepconf PkgConfig::CMOCKA PkgConfig::JANSSON
                          ${T_LIBS})
    target_compile_definitions(${T_NAME} PRIVATE SDC_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
                               SDC_BINARY_PATH="$<TARGET_FILE:safety-deepconf>")
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
        ENVIRONMENT "SDC_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data;SDC_BINARY=$<TARGET_FILE:safety-deepconf>;SDC_LLAMA_BIN_DIR=${SDC_LLAMA_BIN_DIR};SDC_LLAMA_SHARE_DIR=${SDC_LLAMA_SHARE_DIR}")
endfunction()
