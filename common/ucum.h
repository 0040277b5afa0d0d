/*
 * ucum.h -- a UCUM syntax checker (pure).
 *
 * The Unified Code for Units of Measure (https://ucum.org/ucum, section 2,
 * "Syntax Rules", case-sensitive form) as a grammar:
 *
 *   main-term   = "/" term | term
 *   term        = component | term "." component | term "/" component
 *   component   = annotatable [annotation] | annotation | factor
 *               | "(" term ")"
 *   annotatable = simple-unit [exponent]
 *   simple-unit = atom | prefix metric-atom
 *   exponent    = ["+" | "-"] digits
 *   factor      = digits
 *   annotation  = "{" characters 33..126 but "{" and "}" "}"
 *
 * Atoms and prefixes come from a table of UCUM's base units, the SI-derived
 * and the clinical units laboratories report (metric ones take the 20 SI
 * prefixes Y Z E P T G M k h da d c m u n p f a z y), the special atoms 10*
 * and 10^ ("10*3/uL"), bracketed atoms ([iU], [IU], [pH], [ppm], [in_i],
 * [lb_av], [degF], [HPF], ...) and m[Hg], m[H2O] ("mm[Hg]"). The table is
 * not all of UCUM's atoms: a unit built from one it lacks is refused (false
 * negatives, never false positives).
 *
 * Annotations are free text (a partner can write anything between the
 * braces): hg_ucum_check drops them. An annotation that is the whole of a
 * component means 1 (UCUM 2.4 rule 15), so "{cells}/uL" becomes "1/uL",
 * "mg{creat}" "mg", "mL/min/{1.73_m2}" "mL/min" and "{score}" "1".
 */
#ifndef HG_UCUM_H
#define HG_UCUM_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Longest unit checked, in bytes; a longer one is refused. */
#define HG_UCUM_MAX 64

/* Checks unit (leading and trailing blanks ignored; inner blanks are not
 * UCUM) against the grammar above and writes the unit without its
 * annotations to out (HG_UCUM_MAX + 1 bytes, never longer than the unit).
 * The micro sign (U+00B5) and Greek mu (U+03BC) are accepted as the prefix
 * u and written as u. Returns 0, with out "" for an empty or NULL unit, or
 * HG_EINVAL with err saying what is wrong and at which byte, without
 * quoting the unit (it may be anything a partner wrote); out is then "". */
int hg_ucum_check (const char *unit, char out[HG_UCUM_MAX + 1], hg_err_t *err);

/* True when unit passes hg_ucum_check. */
bool hg_ucum_valid (const char *unit);

#endif
