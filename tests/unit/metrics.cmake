hg_unit_test(test_metrics
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_metrics.c
    LIBS hgcommon)
