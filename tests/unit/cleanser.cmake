# Unit tests of the cleanser's pure parsers (services/cleanser/fhir.c, hl7v2.c, json.c).
foreach(t test_fhir test_hl7v2 test_json)
    hg_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c LIBS hg_cleanse)
    # real public samples, used when present (the test checks at run time)
    target_compile_definitions(${t} PRIVATE HG_SHARED_DATA="${CMAKE_SOURCE_DIR}/../shared/data")
endforeach()
# The cleanser's table of a round's patient links (services/cleanser/links.c).
hg_unit_test(test_patient_links SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_patient_links.c
             LIBS hg_cleanse)
# The cleanser's step after parsing (services/cleanser/cleanse.c) on records built by hand.
hg_unit_test(test_cleanse SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cleanse.c LIBS hg_cleanse)
# The parse batch's record limit and mark/rollback (services/cleanser/batch.c), spans
# and their split semantic (parsekit.c), the code-system table (codesys.c).
foreach(t test_batch test_parsekit test_codesys)
    hg_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c LIBS hg_parsekit)
endforeach()
# The parser table (services/cleanser/formats.c).
if(TARGET hg_parsers)
    hg_unit_test(test_parsers SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_parsers.c
                 LIBS hg_parsers)
endif()
