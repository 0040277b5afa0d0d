# Fuzz targets of the cleanser's parsers and the indexer's batch walk (see
# tests/fuzz/README.md), by hg_fuzz_target (tests/CMakeLists.txt).
set(HG_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(HG_SHARED_DATA_DIR ${CMAKE_SOURCE_DIR}/../shared/data)
set(HG_CLEANSER_DIR ${CMAKE_SOURCE_DIR}/services/cleanser)

# The parser targets share one harness (fuzz_parser.h) that parses through
# the cleanser's parser table, so the table and every parser are compiled in.
set(HG_FUZZ_PARSER_SOURCES)
foreach(src batch parsekit codesys formats fhir hl7v2 json csv vcf dicom)
    list(APPEND HG_FUZZ_PARSER_SOURCES ${HG_CLEANSER_DIR}/${src}.c)
endforeach()
# The corpus of each, plus the real samples (valid and deliberately broken)
# that are present.
set(HG_FUZZ_SAMPLES_hl7v2 hl7v2_nhapi_fuzz_badinputs)
set(HG_FUZZ_SAMPLES_csv csv_synthea_dbt_27pt)
set(HG_FUZZ_SAMPLES_vcf vcf_htslib_tests vcf_bcftools_tests vcf_validator_v41_v42)
set(HG_FUZZ_SAMPLES_dicom dicom_pydicom_testfiles)
foreach(fmt fhir hl7v2 csv vcf dicom)
    set(dirs ${HG_FUZZ_DIR}/corpus/${fmt})
    foreach(sub ${HG_FUZZ_SAMPLES_${fmt}})
        if(EXISTS ${HG_SHARED_DATA_DIR}/${sub})
            list(APPEND dirs ${HG_SHARED_DATA_DIR}/${sub})
        endif()
    endforeach()
    hg_fuzz_target(${fmt} LIBS hg_parsers DIRS ${dirs} SOURCES ${HG_FUZZ_PARSER_SOURCES})
endforeach()

# Differential target of the FHIR parser's JSON reader against json-c.
hg_fuzz_target(json LIBS hg_cleanse DIRS ${HG_FUZZ_DIR}/corpus/json ${HG_FUZZ_DIR}/corpus/fhir
    SOURCES ${HG_CLEANSER_DIR}/json.c)

# Differential target of the indexer's walk over packed record batches
# (hg_record_batch_next) against protobuf-c's unpacking.
hg_fuzz_target(record_batch LIBS hgcommon DIRS ${HG_FUZZ_DIR}/corpus/record_batch
    SOURCES ${CMAKE_SOURCE_DIR}/common/record_batch.c)
