/*
 * fuzz_fhir.c -- libFuzzer target for hg_fhir_parse (see README.md).
 */
#include "fuzz_parser.h"

HG_FUZZ_PARSER_TARGET ("fhir", NULL)
