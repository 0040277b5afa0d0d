# De-identifier pure rules: key file, pseudonyms, date shift, record policy, quarantine reasons.
hg_unit_test(test_deid SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_deid.c LIBS hg_deid hg_parsekit)
