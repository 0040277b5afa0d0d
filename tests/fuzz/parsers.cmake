# Fuzz targets of the cleanser's parsers and the indexer's batch walk (see
# tests/fuzz/README.md), by hg_fuzz_target (tests/CMakeLists.txt).
set(HG_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(HG_SHARED_DATA_DIR ${CMAKE_SOURCE_DIR}/../shared/data)
set(HG_CLEANSER_DIR ${CMAKE_SOURCE_DIR}/services/cleanser)

# The FHIR parser maps HL7 coding system names with the HL7 parser's table
# and parses with our JSON reader first: both are compiled in.
hg_fuzz_target(fhir LIBS hg_cleanse DIRS ${HG_FUZZ_DIR}/corpus/fhir
    SOURCES ${HG_CLEANSER_DIR}/batch.c ${HG_CLEANSER_DIR}/parsekit.c ${HG_CLEANSER_DIR}/codesys.c ${HG_CLEANSER_DIR}/fhir.c ${HG_CLEANSER_DIR}/hl7v2.c ${HG_CLEANSER_DIR}/json.c)

set(dirs ${HG_FUZZ_DIR}/corpus/hl7v2)
if(EXISTS ${HG_SHARED_DATA_DIR}/hl7v2_nhapi_fuzz_badinputs)
    list(APPEND dirs ${HG_SHARED_DATA_DIR}/hl7v2_nhapi_fuzz_badinputs)
endif()
hg_fuzz_target(hl7v2 LIBS hg_cleanse DIRS ${dirs} SOURCES ${HG_CLEANSER_DIR}/batch.c ${HG_CLEANSER_DIR}/parsekit.c ${HG_CLEANSER_DIR}/codesys.c ${HG_CLEANSER_DIR}/hl7v2.c)

# Differential target of the FHIR parser's JSON reader against json-c.
hg_fuzz_target(json LIBS hg_cleanse DIRS ${HG_FUZZ_DIR}/corpus/json ${HG_FUZZ_DIR}/corpus/fhir
    SOURCES ${HG_CLEANSER_DIR}/json.c)

# Differential target of the indexer's walk over packed record batches
# (hg_record_batch_next) against protobuf-c's unpacking.
hg_fuzz_target(record_batch LIBS hgcommon DIRS ${HG_FUZZ_DIR}/corpus/record_batch
    SOURCES ${CMAKE_SOURCE_DIR}/common/record.c)
