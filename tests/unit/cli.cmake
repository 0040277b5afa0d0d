# Unit tests of the CLI's option parser (cli/opts.c).
hg_unit_test(test_opts SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_opts.c LIBS hg_cli_opts)
