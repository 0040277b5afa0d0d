hg_unit_test(test_simulate
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_simulate.c
    LIBS hg_simulate hg_cleanse)
