# Fuzz targets of the service runtime's own parsers: the config file
# (common/config.c) and the CurveZMQ allow-list (common/curve.c), by
# hg_fuzz_target (tests/CMakeLists.txt).
hg_fuzz_target(config LIBS hgcommon DIRS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/config
    SOURCES ${CMAKE_SOURCE_DIR}/common/config.c)
hg_fuzz_target(curve_allow LIBS hgcommon
    DIRS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/curve_allow
    SOURCES ${CMAKE_SOURCE_DIR}/common/curve.c)
