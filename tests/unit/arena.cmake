# The region allocator's block reuse (common/arena.c).
hg_unit_test(test_arena SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_arena.c LIBS hgcommon)
