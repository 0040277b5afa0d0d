# CSV, VCF and DICOM parsers: pure logic, unit-tested and fuzzed
# (tests/unit/formats.cmake, tests/fuzz/formats.cmake).
if(NOT TARGET hg_parsekit)
    include(${CMAKE_CURRENT_LIST_DIR}/parsekit.cmake)
endif()
add_library(hg_cleanse_formats STATIC ${CMAKE_CURRENT_LIST_DIR}/csv.c ${CMAKE_CURRENT_LIST_DIR}/vcf.c ${CMAKE_CURRENT_LIST_DIR}/dicom.c)
target_link_libraries(hg_cleanse_formats PUBLIC hg_parsekit)
target_include_directories(hg_cleanse_formats PUBLIC ${CMAKE_CURRENT_LIST_DIR})
