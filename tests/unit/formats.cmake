# Unit tests of the CSV, VCF and DICOM parsers (services/cleanser/formats.cmake).
if(TARGET hg_cleanse_formats)
    foreach(t test_csv test_vcf test_dicom)
        hg_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c LIBS hg_cleanse_formats)
        # real public samples, used when present (the test checks at run time)
        target_compile_definitions(${t} PRIVATE HG_SHARED_DATA="${CMAKE_SOURCE_DIR}/../shared/data")
    endforeach()
endif()
