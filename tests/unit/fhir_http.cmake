if(NOT TARGET hg_fhir_http)
    include(${CMAKE_SOURCE_DIR}/services/collector/fhir_http.cmake)
endif()
hg_unit_test(test_fhir_http
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_fhir_http.c
    LIBS hg_fhir_http)

hg_unit_test(test_tokens
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_tokens.c
    LIBS hg_http_tokens)
