/*
 * query.h -- the analytics query document: its parser and plan, the
 * evaluation of one patient into mergeable partial aggregates, and the
 * answer built from the merged partials with small-cell suppression (pure:
 * no I/O; docs/analytics.md is the user's description).
 *
 * The document (a contract shared by the CLI, the HTTP API and the tests):
 *   { "cohort":  { "all": [CRITERION...], "any": [...], "none": [...],
 *                  "sex": ["female", ...], "age": {"from": 40, "to": 64} },
 *     "by":      ["sex" | "age_group" | "state" | "year" | "month" | "encounter_class"],
 *     "measure": {"kind": "patients" | "records" | "distribution" | "series"
 *                         | "prevalence" | "top", ...},
 *     "as_of":   "YYYY-MM-DD" (the date ages are taken at; default: today) }
 *   CRITERION = { "code" | "codes" | "prefix", "from", "to",
 *                 "value": {"gte", "lt"}, "min_count",
 *                 "after": {"criterion": K, "min_days", "max_days"} }
 *
 * Flow: analytics parses the document (hg_query_parse; errors name the
 * field) and sends its text to every shard; a shard parses it again, feeds
 * each candidate patient's demographics and timeline to
 * hg_query_eval_patient, and returns the partial table (hg_qpart_t: key ->
 * patients, records, denominator). Partials add across shards because a
 * patient lives on one shard; hg_query_answer suppresses and writes the
 * answer JSON.
 */
#ifndef HG_QUERY_H
#define HG_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "disclose.h"
#include "err.h"

#define HG_QUERY_CRIT_MAX 16  /* criteria of all + any + none */
#define HG_QUERY_CODES_MAX 64 /* codes of one criterion */
#define HG_QUERY_BY_MAX 6
#define HG_QUERY_BINS_MAX 65 /* bin edges */
#define HG_QUERY_TOP_MAX 1000
#define HG_QUERY_DOC_MAX (256 * 1024)

/* The system of encounter classes (an encounter record carries its class as
 * a code of this system). */
#define HG_QUERY_SYS_ACT "http://terminology.hl7.org/CodeSystem/v3-ActCode"

typedef enum {
    HG_QM_PATIENTS,
    HG_QM_RECORDS,
    HG_QM_DISTRIBUTION,
    HG_QM_SERIES,
    HG_QM_PREVALENCE,
    HG_QM_TOP,
} hg_qmeasure_t;

typedef enum {
    HG_QBY_SEX,
    HG_QBY_AGE_GROUP,
    HG_QBY_STATE,
    HG_QBY_YEAR,
    HG_QBY_MONTH,
    HG_QBY_ENCOUNTER_CLASS,
} hg_qby_t;

typedef struct {
    const char *system, *code;
} hg_qcode_t;

typedef struct {
    hg_qcode_t codes[HG_QUERY_CODES_MAX];
    size_t n_codes;
    bool prefix; /* codes[0].code is a prefix of the codes matched */
    bool has_from, has_to;
    int32_t from, to; /* days since 1970-01-01, inclusive */
    bool has_gte, has_lt;
    double gte, lt;
    uint32_t min_count; /* >= 1 */
    int after;          /* index into the all list, -1: none */
    int32_t min_days, max_days;
    bool has_max_days;
} hg_qcrit_t;

typedef struct {
    /* crit[0..n_all) all, then n_any any, then n_none none */
    hg_qcrit_t crit[HG_QUERY_CRIT_MAX];
    size_t n_all, n_any, n_none;
    unsigned sexes; /* bit per HG_QSEX_*; 0: any */
    bool has_age;
    int age_from, age_to;
    int ref_year; /* ages are ref_year - birth year */
    hg_qby_t by[HG_QUERY_BY_MAX];
    size_t n_by;
    hg_qmeasure_t kind;
    hg_qcode_t mcode; /* distribution, series */
    double bins[HG_QUERY_BINS_MAX];
    size_t n_bins;  /* edges */
    bool per_year;  /* series interval */
    bool incidence; /* series: first occurrence only */
    double per;     /* prevalence */
    int of_kind;    /* top, records: a Hourglass RecordKind, 0: any (records) */
    uint32_t top_n;
    bool has_window; /* the cohort's window: earliest from .. latest to */
    bool win_has_from, win_has_to;
    int32_t win_from, win_to;
} hg_query_t;

enum { HG_QSEX_FEMALE = 1, HG_QSEX_MALE = 2, HG_QSEX_OTHER = 4, HG_QSEX_UNKNOWN = 8 };

/* Parses the document text[0..len) into q (strings in arena). ref_year is
 * the year ages are taken at unless the document gives "as_of". -1 with
 * err naming the field ("cohort.all[1].value.gte must be a number") on a
 * bad document. */
int hg_query_parse (const char *text, size_t len, int ref_year, hg_arena_t *arena, hg_query_t *q,
                    hg_err_t *err);

/* Name of a measure kind and of a stratum, as the document spells them. */
const char *hg_query_kind_name (hg_qmeasure_t kind);
const char *hg_query_by_name (hg_qby_t by);

/* ---- one patient ------------------------------------------------------------ */

typedef struct {
    bool known;     /* has demographics */
    char sex[8];    /* "female", "male", "other", "unknown" or "" */
    int birth_year; /* 0: over 89 (suppressed) or unknown */
    char state[4];  /* "" when not kept */
} hg_qpatient_t;

typedef struct {
    bool dated;
    int32_t day; /* days since 1970-01-01 */
    int kind;    /* Hourglass RecordKind */
    bool has_value;
    double value;
    const hg_qcode_t *codes;
    size_t n_codes;
} hg_qevent_t;

/* The partial aggregates: key -> counts. */
typedef struct hg_qpart hg_qpart_t;
typedef struct {
    const char *key;
    size_t key_len;
    uint64_t patients, records, denominator;
} hg_qcell_t;

hg_qpart_t *hg_qpart_new (void);
void hg_qpart_destroy (hg_qpart_t **self_p);
/* Adds counts to key (merging a shard's partial). -1 when out of memory. */
int hg_qpart_add (hg_qpart_t *self, const char *key, size_t len, uint64_t patients,
                  uint64_t records, uint64_t denominator);
/* The cells, in no order; *n their number (valid until the next add). */
const hg_qcell_t *hg_qpart_cells (const hg_qpart_t *self, size_t *n);
/* The evaluation's side: hg_qpart_next starts the next patient; touch adds
 * records to key and counts the current patient there once. */
void hg_qpart_next (hg_qpart_t *self);
int hg_qpart_touch (hg_qpart_t *self, const char *key, size_t len, uint64_t records);

/* Evaluates one patient (events sorted by day, undated ones anywhere) and
 * adds what it contributes to part: once per cell. -1 on out of memory. */
int hg_query_eval_patient (const hg_query_t *q, const hg_qpatient_t *p, const hg_qevent_t *ev,
                           size_t n, hg_qpart_t *part);

/* Prevalence: counts p in the denominators when it passes the cohort's
 * sex and age filters (every patient of the shard is offered). */
int hg_query_eval_population (const hg_query_t *q, const hg_qpatient_t *p, hg_qpart_t *part);

/* ---- pieces of the evaluation, for a shard that answers from its bitmaps
 * and columns (services/indexer/query_bitmap.c) instead of timelines ---- */

#define HG_QUERY_KEY_MAX 1200 /* bytes of a partial's key */

/* Whether p passes the cohort's sex and age filters. */
bool hg_query_demographics_pass (const hg_query_t *q, const hg_qpatient_t *p);
/* Whether an event dated day (when dated) with value (when has_value)
 * passes c's date range and value predicate (its codes aside). */
bool hg_query_crit_accepts (const hg_qcrit_t *c, bool dated, int32_t day, bool has_value,
                            double value);
/* Whether such an event is in the cohort's window (records before it are
 * not counted). */
bool hg_query_in_window (const hg_query_t *q, bool dated, int32_t day);
/* The key of p's cell (the patient strata only) into key
 * (HG_QUERY_KEY_MAX); 0 when the query has no strata. */
size_t hg_query_patient_cell_key (const hg_query_t *q, const hg_qpatient_t *p, char *key);
/* The key of the cell of p's record of kind dated day (the patient strata
 * and year or month; not encounter_class: no codes) into key; 0 when none
 * (no strata, or undated and a stratum is the record's date). */
size_t hg_query_record_cell_key (const hg_query_t *q, const hg_qpatient_t *p, int kind,
                                 bool dated, int32_t day, char *key);
/* The key of a series period of day into key; its length. */
size_t hg_query_series_key (const hg_query_t *q, int32_t day, char key[12]);
/* Whether a stratum is the event's (year, month, encounter_class). */
bool hg_query_event_strata (const hg_query_t *q);

/* Whether a code of system|code matches criterion c. */
bool hg_query_code_matches (const hg_qcrit_t *c, const hg_qcode_t *code);

/* The age group ("40-49", "90+", "unknown") of p at q's ref_year. */
const char *hg_query_age_group (const hg_query_t *q, const hg_qpatient_t *p, char buf[16]);

/* ---- the answer --------------------------------------------------------------- */

/* The answer JSON of the merged partials, every number released under
 * pol for who (disclose.h: threshold, complementary suppression and
 * rounding for role aggregate, noise for role dp; pol->min_cell 0 and role
 * aggregate: the exact answer); in arena; stats (may be NULL) says what was
 * withheld. NULL when out of memory, or for role dp when
 * hg_query_dp_sensitivity refuses q. */
typedef struct {
    unsigned suppressed;    /* numbers released as null */
    unsigned complementary; /* of them, to protect others */
} hg_answer_stats_t;
char *hg_query_answer (const hg_query_t *q, const hg_qpart_t *merged,
                       const hg_disclose_policy_t *pol, const hg_analyst_t *who, unsigned shards,
                       hg_answer_stats_t *stats, hg_arena_t *arena);

/* Role dp: how many released counts one patient can change by one (the L1
 * sensitivity the noise is scaled to), or -1 with err for a query dp does
 * not answer (records, series and top counts, strata of records). */
int hg_query_dp_sensitivity (const hg_query_t *q, unsigned *sensitivity, hg_err_t *err);

#endif
