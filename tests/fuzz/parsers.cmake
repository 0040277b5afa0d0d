# Fuzz targets of the cleanser's parsers (see tests/fuzz/README.md).
# Always: replay executables that feed the corpus to the target under ctest.
# With -DHG_FUZZ=ON and clang: real libFuzzer binaries as well.
set(HG_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(HG_SHARED_DATA_DIR ${CMAKE_SOURCE_DIR}/../shared/data)

foreach(fmt fhir hl7v2)
    add_executable(fuzz_${fmt}_replay ${HG_FUZZ_DIR}/fuzz_${fmt}.c ${HG_FUZZ_DIR}/fuzz_replay.c)
    target_link_libraries(fuzz_${fmt}_replay hg_cleanse)
    set_target_properties(fuzz_${fmt}_replay PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    set(dirs ${HG_FUZZ_DIR}/corpus/${fmt})
    if(fmt STREQUAL "hl7v2" AND EXISTS ${HG_SHARED_DATA_DIR}/hl7v2_nhapi_fuzz_badinputs)
        list(APPEND dirs ${HG_SHARED_DATA_DIR}/hl7v2_nhapi_fuzz_badinputs)
    endif()
    add_test(NAME fuzz.${fmt}_replay COMMAND fuzz_${fmt}_replay ${dirs})
    set_tests_properties(fuzz.${fmt}_replay PROPERTIES LABELS fuzz TIMEOUT 300)

    if(HG_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
        # the parser sources are compiled into the target so that they carry
        # the coverage instrumentation libFuzzer needs (the FHIR parser maps
        # HL7 coding system names with the HL7 parser's table, and parses with
        # our JSON reader first)
        set(sources ${CMAKE_SOURCE_DIR}/services/cleanser/${fmt}.c)
        if(fmt STREQUAL "fhir")
            list(APPEND sources ${CMAKE_SOURCE_DIR}/services/cleanser/hl7v2.c
                                ${CMAKE_SOURCE_DIR}/services/cleanser/json.c)
        endif()
        add_executable(fuzz_${fmt} ${HG_FUZZ_DIR}/fuzz_${fmt}.c ${sources})
        target_compile_options(fuzz_${fmt} PRIVATE -fsanitize=fuzzer,address,undefined
                               -fno-omit-frame-pointer)
        target_link_options(fuzz_${fmt} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_include_directories(fuzz_${fmt} PRIVATE ${CMAKE_SOURCE_DIR}/services/cleanser)
        target_link_libraries(fuzz_${fmt} hgcommon)
        set_target_properties(fuzz_${fmt} PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    endif()
endforeach()

# Differential target of the FHIR parser's JSON reader against json-c.
add_executable(fuzz_json_replay ${HG_FUZZ_DIR}/fuzz_json.c ${HG_FUZZ_DIR}/fuzz_replay.c)
target_link_libraries(fuzz_json_replay hg_cleanse)
set_target_properties(fuzz_json_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME fuzz.json_replay
         COMMAND fuzz_json_replay ${HG_FUZZ_DIR}/corpus/json ${HG_FUZZ_DIR}/corpus/fhir)
set_tests_properties(fuzz.json_replay PROPERTIES LABELS fuzz TIMEOUT 300)
if(HG_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_json ${HG_FUZZ_DIR}/fuzz_json.c
        ${CMAKE_SOURCE_DIR}/services/cleanser/json.c)
    target_compile_options(fuzz_json PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer)
    target_link_options(fuzz_json PRIVATE -fsanitize=fuzzer,address,undefined)
    target_include_directories(fuzz_json PRIVATE ${CMAKE_SOURCE_DIR}/services/cleanser)
    target_link_libraries(fuzz_json hgcommon)
    set_target_properties(fuzz_json PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()

# Differential target of the indexer's walk over packed record batches
# (hg_record_batch_next) against protobuf-c's unpacking.
add_executable(fuzz_record_batch_replay ${HG_FUZZ_DIR}/fuzz_record_batch.c
    ${HG_FUZZ_DIR}/fuzz_replay.c)
target_link_libraries(fuzz_record_batch_replay hgcommon)
set_target_properties(fuzz_record_batch_replay PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME fuzz.record_batch_replay
         COMMAND fuzz_record_batch_replay ${HG_FUZZ_DIR}/corpus/record_batch)
set_tests_properties(fuzz.record_batch_replay PROPERTIES LABELS fuzz TIMEOUT 300)
if(HG_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    # record.c compiled in for coverage; the target's copy takes precedence
    # over the archive member of hgcommon
    add_executable(fuzz_record_batch ${HG_FUZZ_DIR}/fuzz_record_batch.c
        ${CMAKE_SOURCE_DIR}/common/record.c)
    target_compile_options(fuzz_record_batch PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer)
    target_link_options(fuzz_record_batch PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_record_batch hgcommon)
    set_target_properties(fuzz_record_batch PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
