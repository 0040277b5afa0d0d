hg_unit_test(test_quality
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_quality.c
    LIBS hg_cleanse)
