/*
 * simulate.h -- the partner-feed simulator: realistic, identifying HL7 v2
 * and FHIR R4 feeds for three data partners, with their ground truth.
 *
 * Pure generation (files only, no sockets); deterministic: the same options
 * produce byte-identical output (own PRNG, no clock, no rand()). Used by
 * `hourglass simulate`, the tests, the demo and the benchmarks.
 *
 * Patient i belongs to partner i % 3:
 *   OUT/general-hospital/hl7v2/batch-NNNNN.hl7  ADT^A01 + ORU^R01 per patient (ER7, \r)
 *   OUT/city-lab/fhir/batch-NNNNN.ndjson        FHIR NDJSON, one resource per line
 *   OUT/clinic-fhir/fhir/patient-NNNNNN.json    one FHIR Bundle (collection) per patient
 *   OUT/truth.json                              the ground truth:
 *     seed, patients, partners{name: {format, files[], patients}}, quarantined,
 *     records{distinct, by_kind{demographics, encounter, condition, lab-observation}},
 *     codes{"system|code": {patients, records}},
 *     facts[[partner, patient ref, "system|code", "YYYY-MM-DD"]]  one per (record, code),
 *     people{"partner|patient ref": {sex, birth_date, state}}  one per patient,
 *     values[[partner, patient ref, "system|code", "YYYY-MM-DD", value]]  one per lab,
 *     phi{names, mrns, ssns, phones, streets, birth_dates, fhir_ids},
 *     notes[{partner, patient, resource, day, age, upper, dates, planted}] (--notes).
 * A patient's demographics count once (the ADT and ORU PIDs are identical).
 * Every invalid item yields exactly one quarantine entry and no record.
 */
#ifndef HG_SIMULATE_H
#define HG_SIMULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct {
    const char *out_dir; /* created if missing */
    unsigned patients;   /* default 100 */
    uint64_t seed;       /* default 1 */
    unsigned invalid;    /* number of deliberately invalid items, default 0 */
    unsigned per_file;   /* patients per output file, default 50 */
    bool notes;          /* a progress note per patient with planted PHI (default false):
                          * general-hospital an MDM^T02 (OBX TX lines) and an NTE on the
                          * first result, city-lab a DocumentReference (text/plain
                          * attachment), clinic-fhir a DiagnosticReport (conclusion and
                          * presentedForm); truth.json "notes" lists each with its partner,
                          * patient, day, age, dates as written and planted values. The
                          * notes draw from their own generator: the other records are
                          * the same with or without them. */
} hg_simulate_opts_t;

/* Fills opts with the defaults above (out_dir NULL). */
void hg_simulate_opts_default (hg_simulate_opts_t *opts);

/* Writes the feeds and truth.json under opts->out_dir (created if missing;
 * existing files of the same names are overwritten, others left alone).
 * Invalid items are spread over the partners (and so over files) in a fixed
 * rotation of seven kinds; the valid content does not depend on
 * opts->invalid. Returns 0, or a negative HG_E* with err saying what is
 * wrong: HG_EINVAL (no out_dir, per_file 0, invalid items but no patients),
 * HG_EIO (a file could not be created or written), HG_ENOMEM. */
int hg_simulate_run (const hg_simulate_opts_t *opts, hg_err_t *err);

/* `hourglass simulate --out DIR [--patients N] [--seed S] [--invalid N]
 * [--per-file N] [--help]`: parses argv (argv[0] is "simulate"), runs,
 * prints a one-line summary to stdout. Returns the process exit status:
 * 0 ok (and for --help), 2 usage error (message on stderr), 1 failure. */
int hg_simulate_main (int argc, char **argv);

#endif
