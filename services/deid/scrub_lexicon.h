/*
 * scrub_lexicon.h -- reads the scrubber's per-deployment lexicon files (the
 * partner's facility names, ward codes, staff directory). The I/O half of
 * the lexicon; hg_scrub_lexicon_add (scrub.h) is the pure half.
 *
 * File format: UTF-8 text, one phrase a line, "TYPE<TAB or spaces>PHRASE"
 * with TYPE one of NAME, LOCATION, ID, ... (scrub.h); a line without a known
 * type is a phrase of the file's default type; '#' starts a comment line;
 * blank lines are skipped.
 */
#ifndef HG_SCRUB_LEXICON_H
#define HG_SCRUB_LEXICON_H

#include "scrub.h"

/* Adds every phrase of the file at path to lex, with default_type for
 * lines that name no type. Returns 0, or a negative HG_E* with err naming
 * the file and line ("lexicon.txt:12: ..."). */
int hg_scrub_lexicon_load (hg_scrub_lexicon_t *lex, const char *path,
                           hg_scrub_type_t default_type, hg_err_t *err);

/* hg_scrub_lexicon_load of every file of paths, a comma-separated list
 * ("" or NULL: none), in order: the de-identifier's option scrub_lexicons
 * and `hourglass scrub --lexicon`. Stops at the first file that fails. */
int hg_scrub_lexicon_load_list (hg_scrub_lexicon_t *lex, const char *paths,
                                hg_scrub_type_t default_type, hg_err_t *err);

#endif
