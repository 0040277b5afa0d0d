# Unit tests of the partner-feed simulator (cli/simulate.c).
# test_simulate: determinism, truth.json consistency, invalid items, errors, CLI.
hg_unit_test(test_simulate SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_simulate.c
             LIBS hg_simulate)

# test_simulate_parse: the same source built against the cleanser's parsers and hg_cleanse;
# parses every generated file and checks the truth against what they produce.
if(TARGET hg_cleanse)
    hg_unit_test(test_simulate_parse SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_simulate.c
                 LIBS hg_simulate hg_cleanse)
    target_compile_definitions(test_simulate_parse PRIVATE HG_SIMULATE_PARSE=1)
endif()
