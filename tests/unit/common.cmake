# Unit tests of the shared library (common/) and the services' pure logic
# (indexer key layout, analytics suppression).
hg_unit_test(test_format SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_format.c LIBS hgcommon)
hg_unit_test(test_outq SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_outq.c LIBS hgcommon)
hg_unit_test(test_link SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_link.c LIBS hgcommon)
hg_unit_test(test_slot SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_slot.c LIBS hgcommon)
hg_unit_test(test_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c LIBS hgcommon)
hg_unit_test(test_config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config.c LIBS hgcommon)
hg_unit_test(test_date SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_date.c LIBS hgcommon)
hg_unit_test(test_record SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_record.c LIBS hg_parsekit)
hg_unit_test(test_index SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_index.c LIBS hg_index hg_parsekit)
hg_unit_test(test_suppress SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_suppress.c LIBS hg_analytics)
