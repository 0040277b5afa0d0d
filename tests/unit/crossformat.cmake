# The same fact sent as HL7 v2 and as FHIR: patient linking and equal content
# keys through the cleanser's parsers and its hg_cleanse step (cleanse.h).
hg_unit_test(test_crossformat
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_crossformat.c
    LIBS hg_cleanse hg_normalize)
