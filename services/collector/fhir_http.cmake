# FHIR over HTTP for the collector (libmicrohttpd threads hand requests to
# the collector thread; see fhir_http.h) and its bearer-token table
# (tokens.h). Included by the collector's CMakeLists.txt and by
# tests/unit/fhir_http.cmake, whichever comes first.
if(NOT TARGET hg_fhir_http)
    add_library(hg_http_tokens STATIC ${CMAKE_CURRENT_LIST_DIR}/tokens.c)
    target_link_libraries(hg_http_tokens PUBLIC hgcommon)
    target_include_directories(hg_http_tokens PUBLIC ${CMAKE_CURRENT_LIST_DIR})
    add_library(hg_fhir_http STATIC ${CMAKE_CURRENT_LIST_DIR}/fhir_http.c)
    target_link_libraries(hg_fhir_http PUBLIC hg_http_tokens hgcommon)
    target_include_directories(hg_fhir_http PUBLIC ${CMAKE_CURRENT_LIST_DIR})
endif()
