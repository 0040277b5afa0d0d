# Fuzz target of record standardisation (services/cleanser/normalize.c).
# Always: a replay executable that feeds the corpus to the target under
# ctest. With -DHG_FUZZ=ON and clang: a real libFuzzer binary as well.
if(NOT TARGET hg_normalize)
    include(${CMAKE_SOURCE_DIR}/services/cleanser/normalize.cmake)
endif()
set(HG_NORMALIZE_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

add_executable(fuzz_normalize_replay ${HG_NORMALIZE_FUZZ_DIR}/fuzz_normalize.c
    ${HG_NORMALIZE_FUZZ_DIR}/fuzz_replay.c)
target_link_libraries(fuzz_normalize_replay hg_normalize)
set_target_properties(fuzz_normalize_replay PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME fuzz.normalize_replay
         COMMAND fuzz_normalize_replay ${HG_NORMALIZE_FUZZ_DIR}/corpus/normalize)
set_tests_properties(fuzz.normalize_replay PROPERTIES LABELS fuzz TIMEOUT 300)

if(HG_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    # normalize.c is compiled into the target so it carries the coverage
    # instrumentation libFuzzer needs
    add_executable(fuzz_normalize ${HG_NORMALIZE_FUZZ_DIR}/fuzz_normalize.c
        ${CMAKE_SOURCE_DIR}/services/cleanser/normalize.c)
    target_compile_options(fuzz_normalize PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer)
    target_link_options(fuzz_normalize PRIVATE -fsanitize=fuzzer,address,undefined)
    target_include_directories(fuzz_normalize PRIVATE ${CMAKE_SOURCE_DIR}/services/cleanser)
    target_link_libraries(fuzz_normalize hgcommon)
    set_target_properties(fuzz_normalize PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
