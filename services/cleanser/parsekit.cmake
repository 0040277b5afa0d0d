# What every parser shares: the parse batch (batch.c), spans (parsekit.c) and
# the code-system table (codesys.c). Pure logic, linked by
# the parser libraries (CMakeLists.txt, formats.cmake, normalize.cmake) and by
# the unit tests that build records in a batch.
add_library(hg_parsekit STATIC ${CMAKE_CURRENT_LIST_DIR}/batch.c ${CMAKE_CURRENT_LIST_DIR}/parsekit.c
            ${CMAKE_CURRENT_LIST_DIR}/codesys.c)
target_link_libraries(hg_parsekit PUBLIC hgcommon)
target_include_directories(hg_parsekit PUBLIC ${CMAKE_CURRENT_LIST_DIR})
