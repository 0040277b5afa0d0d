# Fuzz target of record standardisation (services/cleanser/normalize.c), by
# hg_fuzz_target (tests/CMakeLists.txt).
if(NOT TARGET hg_normalize)
    include(${CMAKE_SOURCE_DIR}/services/cleanser/normalize.cmake)
endif()
hg_fuzz_target(normalize LIBS hg_normalize
    DIRS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/normalize
    SOURCES ${CMAKE_SOURCE_DIR}/services/cleanser/batch.c
            ${CMAKE_SOURCE_DIR}/services/cleanser/parsekit.c
            ${CMAKE_SOURCE_DIR}/services/cleanser/codesys.c
            ${CMAKE_SOURCE_DIR}/services/cleanser/normalize.c)
