# Fuzz targets of the collector's MLLP framing / HL7 ACKs and of the
# FHIR-over-HTTP tokens file parser (see tests/fuzz/README.md), by
# hg_fuzz_target (tests/CMakeLists.txt).
set(HG_COLLECTOR_DIR ${CMAKE_SOURCE_DIR}/services/collector)
if(NOT TARGET hg_fhir_http)
    include(${HG_COLLECTOR_DIR}/fhir_http.cmake)
endif()

hg_fuzz_target(mllp LIBS hg_mllp DIRS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/mllp
    SOURCES ${HG_COLLECTOR_DIR}/mllp.c)
hg_fuzz_target(tokens LIBS hg_http_tokens DIRS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/tokens
    SOURCES ${HG_COLLECTOR_DIR}/tokens.c)
foreach(t fuzz_mllp fuzz_tokens)
    if(TARGET ${t})
        target_include_directories(${t} PRIVATE ${HG_COLLECTOR_DIR})
    endif()
endforeach()
