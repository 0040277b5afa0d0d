/*
 * fuzz_dicom.c -- libFuzzer target for hg_dicom_parse (see README.md).
 */
#include "fuzz_parser.h"

static bool
s_study_ok (const Hourglass__Record *rec)
{
    return *rec->patient_ref && rec->text;
}

HG_FUZZ_PARSER_TARGET ("dicom", s_study_ok)
