# Record standardisation and validation: pure logic, unit-tested and fuzzed
# (tests/unit/normalize.cmake, tests/fuzz/normalize.cmake).
if(NOT TARGET hg_parsekit)
    include(${CMAKE_CURRENT_LIST_DIR}/parsekit.cmake)
endif()
add_library(hg_normalize STATIC ${CMAKE_CURRENT_LIST_DIR}/normalize.c)
target_link_libraries(hg_normalize PUBLIC hg_parsekit)
target_include_directories(hg_normalize PUBLIC ${CMAKE_CURRENT_LIST_DIR})
