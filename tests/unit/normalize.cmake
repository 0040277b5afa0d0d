# Unit tests of record standardisation (services/cleanser/normalize.cmake).
if(NOT TARGET hg_normalize)
    include(${CMAKE_SOURCE_DIR}/services/cleanser/normalize.cmake)
endif()
hg_unit_test(test_normalize SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_normalize.c
             LIBS hg_normalize)
