hg_unit_test(test_mllp
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_mllp.c
    LIBS hg_mllp)

hg_unit_test(test_quota
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_quota.c
    LIBS hg_mllp)

hg_unit_test(test_admission
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_admission.c
    LIBS hg_admission)

hg_unit_test(test_mllp_server
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_mllp_server.c
    LIBS hg_mllp_server)
