/*
 * simulate.h -- the partner-feed simulator: realistic, identifying HL7 v2
 * and FHIR R4 feeds for three data partners, with their ground truth.
 *
 * Pure generation (files only, no sockets); deterministic: the same options
 * produce byte-identical output. Used by `hourglass simulate`, the tests,
 * the demo and the benchmarks.
 *
 * Output: OUT/general-hospital/hl7v2/batch-NNNNN.hl7  (ADT^A01 + ORU^R01 per patient)
 *         OUT/city-lab/fhir/batch-NNNNN.ndjson        (FHIR NDJSON)
 *         OUT/clinic-fhir/fhir/patient-NNNNNN.json    (one FHIR Bundle per patient)
 *         OUT/truth.json                              (see docs/simulator.md)
 */
#ifndef HG_SIMULATE_H
#define HG_SIMULATE_H

#include <stdint.h>

#include "err.h"

typedef struct {
    const char *out_dir;      /* created if missing */
    unsigned patients;        /* default 100 */
    uint64_t seed;            /* default 1 */
    unsigned invalid;         /* deliberately invalid items, default 0 */
    unsigned per_file;        /* patients per HL7/NDJSON file, default 50 */
} hg_simulate_opts_t;

void hg_simulate_opts_default (hg_simulate_opts_t *opts);

/* Writes the feeds and truth.json; 0 or a negative HG_E* with err. */
int hg_simulate_run (const hg_simulate_opts_t *opts, hg_err_t *err);

/* `hourglass simulate --out DIR [--patients N] [--seed S] [--invalid N]
 * [--per-file N]`; argv[0] is "simulate". Returns the exit status. */
int hg_simulate_main (int argc, char **argv);

#endif
