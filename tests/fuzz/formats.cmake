# Fuzz targets of the CSV, VCF and DICOM parsers (see tests/fuzz/README.md),
# by hg_fuzz_target (tests/CMakeLists.txt).
if(TARGET hg_cleanse_formats)
    set(HG_FORMATS_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
    set(HG_FORMATS_SHARED ${CMAKE_SOURCE_DIR}/../shared/data)

    foreach(fmt csv vcf dicom)
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
        hg_fuzz_target(${fmt} LIBS hg_cleanse_formats DIRS ${dirs}
            SOURCES ${CMAKE_SOURCE_DIR}/services/cleanser/batch.c ${CMAKE_SOURCE_DIR}/services/cleanser/parsekit.c ${CMAKE_SOURCE_DIR}/services/cleanser/codesys.c
                    ${CMAKE_SOURCE_DIR}/services/cleanser/${fmt}.c)
    endforeach()
endif()
