# Fuzz targets of the CSV, VCF and DICOM parsers (see tests/fuzz/README.md).
# Always: replay executables that feed the corpus to the target under ctest.
# With -DHG_FUZZ=ON and clang: real libFuzzer binaries as well.
if(TARGET hg_cleanse_formats)
    set(HG_FORMATS_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
    set(HG_FORMATS_SHARED ${CMAKE_SOURCE_DIR}/../shared/data)

    foreach(fmt csv vcf dicom)
        add_executable(fuzz_${fmt}_replay ${HG_FORMATS_FUZZ_DIR}/fuzz_${fmt}.c
            ${HG_FORMATS_FUZZ_DIR}/fuzz_replay.c)
        target_link_libraries(fuzz_${fmt}_replay hg_cleanse_formats)
        set_target_properties(fuzz_${fmt}_replay PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
        set(dirs ${HG_FORMATS_FUZZ_DIR}/corpus/${fmt})
        # the real samples (valid and deliberately broken) replay too
        if(fmt STREQUAL "vcf")
            foreach(sub vcf_htslib_tests vcf_bcftools_tests vcf_validator_v41_v42)
                if(EXISTS ${HG_FORMATS_SHARED}/${sub})
                    list(APPEND dirs ${HG_FORMATS_SHARED}/${sub})
                endif()
            endforeach()
        elseif(fmt STREQUAL "dicom" AND EXISTS ${HG_FORMATS_SHARED}/dicom_pydicom_testfiles)
            list(APPEND dirs ${HG_FORMATS_SHARED}/dicom_pydicom_testfiles)
        elseif(fmt STREQUAL "csv" AND EXISTS ${HG_FORMATS_SHARED}/csv_synthea_dbt_27pt)
            list(APPEND dirs ${HG_FORMATS_SHARED}/csv_synthea_dbt_27pt)
        endif()
        add_test(NAME fuzz.${fmt}_replay COMMAND fuzz_${fmt}_replay ${dirs})
        set_tests_properties(fuzz.${fmt}_replay PROPERTIES LABELS fuzz TIMEOUT 300)

        if(HG_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
            # the parser sources are compiled into the target so that they
            # carry the coverage instrumentation libFuzzer needs
            add_executable(fuzz_${fmt} ${HG_FORMATS_FUZZ_DIR}/fuzz_${fmt}.c
                ${CMAKE_SOURCE_DIR}/services/cleanser/${fmt}.c)
            target_compile_options(fuzz_${fmt} PRIVATE -fsanitize=fuzzer,address,undefined
                                   -fno-omit-frame-pointer)
            target_link_options(fuzz_${fmt} PRIVATE -fsanitize=fuzzer,address,undefined)
            target_include_directories(fuzz_${fmt} PRIVATE ${CMAKE_SOURCE_DIR}/services/cleanser)
            target_link_libraries(fuzz_${fmt} hgcommon)
            set_target_properties(fuzz_${fmt} PROPERTIES
                RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
        endif()
    endforeach()
endif()
