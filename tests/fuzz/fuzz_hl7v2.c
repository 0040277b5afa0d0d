/*
 * fuzz_hl7v2.c -- libFuzzer target for hg_hl7v2_parse (see README.md).
 */
#include "fuzz_parser.h"

HG_FUZZ_PARSER_TARGET ("hl7v2", NULL)
