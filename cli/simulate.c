/*
 * simulate.c -- deterministic partner-feed generator with ground truth.
 *
 * Every patient belongs to one partner. Each valid record the feeds carry is
 * accounted for in truth.json exactly as the pipeline will see it: one fact
 * per (record, code) with the record's local date, distinct-record counts
 * (a patient's demographics count once: the PID of the ADT and of the ORU
 * are identical and de-duplicate), per-code patient and record counts, and
 * every identifying value written, for leak scans.
 *
 * Distinctness: a patient's clinical records all fall on one day, each on
 * its own minute (k = 0..11 added to a base minute, modulo 60), so no two
 * records share (kind, patient, codes, effective time, value).
 */
#include "simulate.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "opts.h"
#include "util.h"

/* ---- vocabulary (ours) --------------------------------------------------- */

/* 30 female then 30 male given names */
static const char *s_given[] = {"Olivia",   "Emma",      "Ava",       "Sophia",    "Isabella",
                                "Mia",      "Charlotte", "Amelia",    "Harper",    "Evelyn",
                                "Abigail",  "Emily",     "Ella",      "Elizabeth", "Camila",
                                "Luna",     "Sofia",     "Avery",     "Mila",      "Aria",
                                "Scarlett", "Penelope",  "Layla",     "Chloe",     "Victoria",
                                "Madison",  "Eleanor",   "Grace",     "Nora",      "Riley",
                                "Liam",     "Noah",      "Elijah",    "James",     "William",
                                "Benjamin", "Lucas",     "Henry",     "Theodore",  "Jack",
                                "Levi",     "Alexander", "Jackson",   "Mateo",     "Daniel",
                                "Michael",  "Mason",     "Sebastian", "Ethan",     "Logan",
                                "Owen",     "Samuel",    "Jacob",     "Asher",     "Aiden",
                                "John",     "Joseph",    "Wyatt",     "David",     "Leo"};
static const char *s_family[] = {"Smith",     "Johnson",  "Williams", "Brown",     "Jones",
                                 "Garcia",    "Miller",   "Davis",    "Rodriguez", "Martinez",
                                 "Hernandez", "Lopez",    "Gonzalez", "Wilson",    "Anderson",
                                 "Thomas",    "Taylor",   "Moore",    "Jackson",   "Martin",
                                 "Lee",       "Perez",    "Thompson", "White",     "Harris",
                                 "Sanchez",   "Clark",    "Ramirez",  "Lewis",     "Robinson",
                                 "Walker",    "Young",    "Allen",    "King",      "Wright",
                                 "Scott",     "Torres",   "Nguyen",   "Hill",      "Flores",
                                 "Green",     "Adams",    "Nelson",   "Baker",     "Hall",
                                 "Rivera",    "Campbell", "Mitchell", "Carter",    "Roberts",
                                 "Gomez",     "Phillips", "Evans",    "Turner",    "Diaz",
                                 "Parker",    "Cruz",     "Edwards",  "Collins",   "Reyes"};
static const char *s_streets[] =
    {"Oak Street",       "Maple Avenue",    "Cedar Lane",     "Pine Road",      "Elm Street",
     "Birch Drive",      "Walnut Court",    "Spruce Way",     "Willow Street",  "Chestnut Avenue",
     "Aspen Lane",       "Hickory Road",    "Sycamore Drive", "Magnolia Court", "Juniper Way",
     "Laurel Street",    "Poplar Avenue",   "Cypress Lane",   "Dogwood Road",   "Hawthorn Drive",
     "Linden Court",     "Redwood Way",     "Sequoia Street", "Alder Avenue",   "Beech Lane",
     "Holly Road",       "Ivy Drive",       "Mulberry Court", "Orchard Way",    "Meadow Street",
     "River Road",       "Lake Avenue",     "Hill Street",    "Park Lane",      "Forest Drive",
     "Sunset Boulevard", "Highland Avenue", "Valley Road",    "Church Street",  "Mill Lane"};
static const struct {
    const char *city, *state, *zip, *area;
} s_cities[] = {{"Springfield", "IL", "62704", "217"}, {"Madison", "WI", "53703", "608"},
                {"Columbus", "OH", "43215", "614"},    {"Albany", "NY", "12207", "518"},
                {"Austin", "TX", "78701", "512"},      {"Denver", "CO", "80202", "303"},
                {"Portland", "OR", "97205", "503"},    {"Raleigh", "NC", "27601", "919"},
                {"Boise", "ID", "83702", "208"},       {"Salem", "MA", "01970", "978"},
                {"Trenton", "NJ", "08608", "609"},     {"Dover", "DE", "19901", "302"},
                {"Helena", "MT", "59601", "406"},      {"Pierre", "SD", "57501", "605"},
                {"Topeka", "KS", "66603", "785"},      {"Lincoln", "NE", "68508", "402"},
                {"Phoenix", "AZ", "85004", "602"},     {"Atlanta", "GA", "30303", "404"},
                {"Nashville", "TN", "37203", "615"},   {"Richmond", "VA", "23219", "804"},
                {"Hartford", "CT", "06103", "860"},    {"Concord", "NH", "03301", "603"},
                {"Montpelier", "VT", "05602", "802"},  {"Augusta", "ME", "04330", "207"},
                {"Cheyenne", "WY", "82001", "307"},    {"Bismarck", "ND", "58501", "701"},
                {"Juneau", "AK", "99801", "907"},      {"Honolulu", "HI", "96813", "808"},
                {"Tucson", "AZ", "85701", "520"},      {"Reno", "NV", "89501", "775"}};
/* Values are drawn from [lo, hi]; [ref_lo, ref_hi] is the normal range. */
static const struct {
    const char *code, *display, *unit;
    double lo, hi, ref_lo, ref_hi;
    int decimals;
} s_labs[] = {{"4548-4", "Hemoglobin A1c", "%", 4.5, 11.0, 4.0, 5.6, 1},
              {"2345-7", "Glucose", "mg/dL", 65, 260, 70, 99, 0},
              {"2160-0", "Creatinine", "mg/dL", 0.5, 2.5, 0.6, 1.3, 2},
              {"2093-3", "Cholesterol total", "mg/dL", 120, 300, 125, 200, 0},
              {"718-7", "Hemoglobin", "g/dL", 9, 18, 12.0, 17.5, 1},
              {"6690-2", "Leukocytes", "10*3/uL", 3, 14, 4.5, 11.0, 1},
              {"2951-2", "Sodium", "mmol/L", 130, 150, 136, 145, 0},
              {"2823-3", "Potassium", "mmol/L", 3.2, 5.4, 3.5, 5.1, 1}};
static const struct {
    const char *snomed, *snomed_display, *icd, *icd_display;
} s_conditions[] =
    {{"44054006", "Diabetes mellitus type 2", "E11.9",
      "Type 2 diabetes mellitus without complications"},
     {"38341003", "Hypertensive disorder", "I10", "Essential (primary) hypertension"},
     {"195967001", "Asthma", "J45.909", "Unspecified asthma, uncomplicated"},
     {"13645005", "Chronic obstructive lung disease", "J44.9",
      "Chronic obstructive pulmonary disease, unspecified"},
     {"55822004", "Hyperlipidemia", "E78.5", "Hyperlipidemia, unspecified"},
     {"35489007", "Depressive disorder", "F32.9", "Major depressive disorder, single episode"},
     {"49436004", "Atrial fibrillation", "I48.91", "Unspecified atrial fibrillation"},
     {"709044004", "Chronic kidney disease", "N18.9", "Chronic kidney disease, unspecified"},
     {"414545008", "Ischemic heart disease", "I25.10",
      "Atherosclerotic heart disease of native coronary artery"},
     {"40055000", "Chronic sinusitis", "J32.9", "Chronic sinusitis, unspecified"}};
static const struct {
    const char *code, *display;
} s_encounter_types[] = {{"185349003", "Encounter for check up"},
                         {"50849002", "Emergency room admission"},
                         {"183452005", "Emergency hospital admission"},
                         {"390906007", "Follow-up encounter"}};
/* HL7 PV1-2 patient class and the v3 ActCode the cleanser maps it to. */
static const struct {
    const char *hl7, *act, *display;
} s_classes[] = {{"I", "IMP", "inpatient encounter"},
                 {"O", "AMB", "ambulatory"},
                 {"E", "EMER", "emergency"}};

#define N(a) (sizeof (a) / sizeof ((a)[0]))
#define SYS_LOINC "http://loinc.org"
#define SYS_SNOMED "http://snomed.info/sct"
#define SYS_ICD10 "http://hl7.org/fhir/sid/icd-10-cm"
#define SYS_ACT "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define SYS_V2_0203 "http://terminology.hl7.org/CodeSystem/v2-0203"
#define SYS_INTERP "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

enum { P_HOSPITAL = 0, P_LAB = 1, P_CLINIC = 2, N_PARTNERS = 3 };
static const char *s_partner_names[] = {"general-hospital", "city-lab", "clinic-fhir"};
static const char *s_partner_formats[] = {"hl7v2", "fhir", "fhir"};

/* Invalid items, in the rotation they are handed out; each is rejected on
 * its own (one quarantine entry, no record) without touching its neighbours. */
enum {
    INV_LAB_BAD_DATE,    /* NDJSON Observation, effectiveDateTime "2021-13-45" */
    INV_HL7_EMPTY_PID3,  /* ORU^R01 whose PID-3 is empty */
    INV_CLINIC_BAD_DATE, /* Bundle entry: Observation with "2021-13-45" */
    INV_LAB_NO_SUBJECT,  /* NDJSON Observation without subject */
    INV_HL7_A99,         /* ADT^A99 (unsupported type) with a valid PID */
    INV_LAB_TRUNCATED,   /* NDJSON line of truncated JSON */
    INV_CLINIC_NO_CODE,  /* Bundle entry: Condition without code */
    N_INV
};
static const int s_inv_partner[N_INV] = {P_LAB,      P_HOSPITAL, P_CLINIC, P_LAB,
                                         P_HOSPITAL, P_LAB,      P_CLINIC};

/* ---- PRNG (splitmix64) ----------------------------------------------------- */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t
s_next (rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned
s_below (rng_t *r, unsigned n)
{
    return (unsigned) (s_next (r) % n);
}

static double
s_uniform (rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double) (s_next (r) >> 11) / 9007199254740992.0);
}

/* A version-4-shaped UUID from the PRNG (36 characters). */
static void
s_uuid (rng_t *r, char *out, size_t size)
{
    uint64_t a = s_next (r), b = s_next (r);
    snprintf (out, size,
              "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%" PRIx64 "%03" PRIx64 "-%012" PRIx64,
              a >> 32, (a >> 16) & 0xffff, a & 0xfff, 8 + ((b >> 62) & 3), (b >> 48) & 0xfff,
              b & (uint64_t) 0xffffffffffff);
}

/* ---- ground truth ----------------------------------------------------------- */

typedef struct {
    char key[128]; /* "system|code" */
    uint64_t records;
    uint64_t patients;
    long last_patient; /* patients are generated in order */
} code_t;

enum { PHI_NAMES, PHI_MRNS, PHI_SSNS, PHI_PHONES, PHI_STREETS, PHI_BIRTH, PHI_IDS, N_PHI };
static const char *s_phi_keys[N_PHI] = {"names",   "mrns",        "ssns",    "phones",
                                        "streets", "birth_dates", "fhir_ids"};
enum { K_DEMO, K_ENC, K_COND, K_LAB, K_NOTE, N_KINDS };

typedef struct {
    FILE *facts; /* temporary: the facts array body */
    uint64_t n_facts;
    code_t *codes;
    size_t n_codes, cap_codes;
    uint64_t distinct, by_kind[N_KINDS];
    unsigned quarantined;
    FILE *phi[N_PHI]; /* temporary: each phi list body */
    FILE *people;     /* temporary: the people object body */
    FILE *values;     /* temporary: the values array body */
    uint64_t n_people, n_values;
    uint64_t n_phi[N_PHI];
    bool given_used[N (s_given)], family_used[N (s_family)];
    bool notes;    /* opts->notes: each patient has a note with planted PHI */
    rng_t note_r;  /* the notes' own generator: the rest does not depend on notes */
    FILE *notes_f; /* temporary: the notes array body */
    uint64_t n_notes;
    bool oom;
} truth_t;

static void
s_phi (truth_t *t, int which, const char *value)
{
    fprintf (t->phi[which], "%s\"%s\"", t->n_phi[which]++ ? ", " : "", value);
}

static code_t *
s_code (truth_t *t, const char *system, const char *code)
{
    char key[128];
    snprintf (key, sizeof (key), "%s|%s", system, code);
    for (size_t i = 0; i < t->n_codes; i++) {
        if (strcmp (t->codes[i].key, key) == 0) {
            return &t->codes[i];
        }
    }
    if (t->n_codes == t->cap_codes) {
        size_t cap = t->cap_codes ? t->cap_codes * 2 : 64;
        code_t *codes = realloc (t->codes, cap * sizeof (*codes));
        if (!codes) {
            t->oom = true;
            return NULL;
        }
        t->codes = codes;
        t->cap_codes = cap;
    }
    code_t *c = &t->codes[t->n_codes++];
    memset (c, 0, sizeof (*c));
    snprintf (c->key, sizeof (c->key), "%s", key);
    c->last_patient = -1;
    return c;
}

/* Accounts one valid record carrying the given (system, code) pairs. */
static void
s_record (truth_t *t, int kind, int partner, const char *patient_ref, long patient,
          const char *day, const char *const *systems, const char *const *codes, int n)
{
    t->distinct++;
    t->by_kind[kind]++;
    for (int i = 0; i < n; i++) {
        code_t *c = s_code (t, systems[i], codes[i]);
        if (!c) {
            return;
        }
        c->records++;
        if (c->last_patient != patient) {
            c->patients++;
            c->last_patient = patient;
        }
        fprintf (t->facts, "%s[\"%s\", \"%s\", \"%s\", \"%s\"]", t->n_facts++ ? ",\n " : "",
                 s_partner_names[partner], patient_ref, c->key, day);
    }
}

/* ---- patients and events ------------------------------------------------------ */

typedef struct {
    long index;
    int partner;
    char mrn[16], ssn[16], phone[16], uuid[48];
    unsigned given_i, family_i;
    const char *given, *family, *city, *state, *zip;
    char street[64];
    int by, bm, bd; /* birth date */
    char sex;       /* 'M' / 'F' */
} patient_t;

/* The truth of patient p's demographics (as the source sent them: the
 * de-identifier shifts the birth date and keeps its year), once. */
static void
s_person (truth_t *t, const patient_t *p)
{
    fprintf (t->people,
             "%s\n  \"%s|%s\": {\"sex\": \"%s\", \"birth_date\": \"%04d-%02d-%02d\", "
             "\"state\": \"%s\"}",
             t->n_people++ ? "," : "", s_partner_names[p->partner], p->mrn,
             p->sex == 'F' ? "female" : "male", p->by, p->bm, p->bd, p->state);
}

/* The truth of a lab value: [partner, patient ref, "system|code", day, value]. */
static void
s_lab_fact (truth_t *t, const patient_t *p, const char *code, const char *day, const char *value)
{
    fprintf (t->values, "%s[\"%s\", \"%s\", \"%s|%s\", \"%s\", %s]", t->n_values++ ? ",\n " : "",
             s_partner_names[p->partner], p->mrn, SYS_LOINC, code, day, value);
}

typedef struct {
    int y, mo, d, h, mi;
} when_t;

static void
s_patient (rng_t *r, long i, patient_t *p)
{
    memset (p, 0, sizeof (*p));
    p->index = i;
    p->partner = (int) (i % N_PARTNERS);
    /* 7919 is prime and does not divide 89999999: unique for every i allowed */
    snprintf (p->mrn, sizeof (p->mrn), "MRN%08ld", 10000000L + i * 7919L % 89999999L);
    snprintf (p->ssn, sizeof (p->ssn), "9%02u-%02u-%04u", s_below (r, 100), 10 + s_below (r, 90),
              1000 + s_below (r, 9000));
    s_uuid (r, p->uuid, sizeof (p->uuid));
    p->sex = s_below (r, 2) ? 'F' : 'M';
    p->given_i = (p->sex == 'F' ? 0 : N (s_given) / 2) + s_below (r, N (s_given) / 2);
    p->family_i = s_below (r, N (s_family));
    p->given = s_given[p->given_i];
    p->family = s_family[p->family_i];
    snprintf (p->street, sizeof (p->street), "%u %s", 1 + s_below (r, 9899),
              s_streets[s_below (r, N (s_streets))]);
    unsigned c = s_below (r, N (s_cities));
    p->city = s_cities[c].city;
    p->state = s_cities[c].state;
    p->zip = s_cities[c].zip;
    /* 555-0100..555-0199: the range reserved for fiction */
    snprintf (p->phone, sizeof (p->phone), "%s-555-01%02u", s_cities[c].area, s_below (r, 100));
    int age = 1 + (int) s_below (r, 100); /* as of 2025: some are over 89 */
    p->by = 2025 - age;
    p->bm = 1 + (int) s_below (r, 12);
    p->bd = 1 + (int) s_below (r, 28);
}

/* A date-time between max(2015-01-01, the day after birth) and 2024-12-31,
 * 09:00-14:59 (records add minutes, never hours). */
static when_t
s_event (rng_t *r, const patient_t *p)
{
    int64_t lo = 16436; /* 2015-01-01 */
    int64_t hi = 20088; /* 2024-12-31 */
    hg_date_t birth;
    memset (&birth, 0, sizeof (birth));
    birth.year = p->by;
    birth.month = p->bm;
    birth.day = p->bd;
    birth.prec = HG_PREC_DAY;
    int64_t after_birth = hg_date_days (&birth) + 1;
    if (after_birth > lo) {
        lo = after_birth;
    }
    if (lo > hi) {
        lo = hi; /* cannot happen: the youngest are born in 2024 before the 29th */
    }
    int64_t day = lo + (int64_t) s_below (r, (unsigned) (hi - lo + 1));
    when_t w;
    hg_date_from_days (day, &w.y, &w.mo, &w.d);
    w.h = 9 + (int) s_below (r, 6);
    w.mi = (int) s_below (r, 60);
    return w;
}

/* The k-th record of a patient: its own minute, so no two records are equal. */
static when_t
s_at (when_t base, int k)
{
    base.mi = (base.mi + k) % 60;
    return base;
}

static void
s_day (when_t w, char out[11])
{
    snprintf (out, 11, "%04u-%02u-%02u", (unsigned) w.y % 10000u, (unsigned) w.mo % 100u,
              (unsigned) w.d % 100u);
}

static void
s_fhir_dt (when_t w, char *out, size_t size)
{
    snprintf (out, size, "%04d-%02d-%02dT%02d:%02d:00-05:00", w.y, w.mo, w.d, w.h, w.mi);
}

static void
s_hl7_dt (when_t w, char *out, size_t size)
{
    snprintf (out, size, "%04d%02d%02d%02d%02d", w.y, w.mo, w.d, w.h, w.mi);
}

/* A lab value as written in the feed, and its abnormal flag. */
static const char *
s_value (rng_t *r, unsigned lab, char *out, size_t size)
{
    double v = s_uniform (r, s_labs[lab].lo, s_labs[lab].hi);
    snprintf (out, size, "%.*f", s_labs[lab].decimals, v);
    v = atof (out);
    return v > s_labs[lab].ref_hi ? "H" : v < s_labs[lab].ref_lo ? "L" : "N";
}

/* ---- FHIR ----------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    bool bundle; /* entries of a Bundle, else NDJSON lines */
    int entries;
    const char *subject; /* "Patient/<id>" or "urn:uuid:<id>" */
} fhir_out_t;

/* Starts a resource: a Bundle entry with fullUrl urn:uuid:<id>, or a line. */
static void
s_fhir_begin (fhir_out_t *o, const char *id)
{
    if (o->bundle) {
        fprintf (o->f,
                 "%s\n  {\"fullUrl\": \"urn:uuid:%s\", \"resource\": ", o->entries ? "," : "",
                 id);
    }
    o->entries++;
}

static void
s_fhir_end (fhir_out_t *o)
{
    fputs (o->bundle ? "}" : "\n", o->f);
}

/* FHIR records name the patient by the Patient's MR identifier, as HL7's
 * PID-3 does (services/cleanser/fhir.h), so truth does too. */
static void
s_fhir_patient (truth_t *t, fhir_out_t *o, const patient_t *p)
{
    s_fhir_begin (o, p->uuid);
    fprintf (o->f,
             "{\"resourceType\": \"Patient\", \"id\": \"%s\", \"identifier\": [{\"system\": "
             "\"urn:oid:2.16.840.1.113883.19.5\", \"type\": {\"coding\": [{\"system\": "
             "\"" SYS_V2_0203 "\", \"code\": \"MR\"}]}, \"value\": \"%s\"}, {\"system\": "
             "\"http://hl7.org/fhir/sid/us-ssn\", \"type\": {\"coding\": [{\"system\": "
             "\"" SYS_V2_0203 "\", \"code\": \"SS\"}]}, \"value\": \"%s\"}], \"name\": "
             "[{\"use\": \"official\", \"family\": \"%s\", \"given\": [\"%s\"]}], \"telecom\": "
             "[{\"system\": \"phone\", \"value\": \"%s\", \"use\": \"home\"}], \"gender\": "
             "\"%s\", \"birthDate\": \"%04d-%02d-%02d\", \"address\": [{\"line\": [\"%s\"], "
             "\"city\": \"%s\", \"state\": \"%s\", \"postalCode\": \"%s\", \"country\": "
             "\"US\"}]}",
             p->uuid, p->mrn, p->ssn, p->family, p->given, p->phone,
             p->sex == 'F' ? "female" : "male", p->by, p->bm, p->bd, p->street, p->city, p->state,
             p->zip);
    s_fhir_end (o);
    s_record (t, K_DEMO, p->partner, p->mrn, p->index, "", NULL, NULL, 0);
    s_person (t, p);
}

static void
s_fhir_observation (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w)
{
    unsigned lab = s_below (r, N (s_labs));
    char id[48], dt[40], value[32], day[11];
    s_uuid (r, id, sizeof (id));
    s_fhir_dt (w, dt, sizeof (dt));
    s_day (w, day);
    const char *flag = s_value (r, lab, value, sizeof (value));
    s_fhir_begin (o, id);
    fprintf (
        o->f,
        "{\"resourceType\": \"Observation\", \"id\": \"%s\", \"status\": \"final\", "
        "\"category\": [{\"coding\": [{\"system\": "
        "\"http://terminology.hl7.org/CodeSystem/observation-category\", \"code\": "
        "\"laboratory\"}]}], \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", "
        "\"display\": \"%s\"}]}, \"subject\": {\"reference\": \"%s\"}, "
        "\"effectiveDateTime\": \"%s\", \"valueQuantity\": {\"value\": %s, \"unit\": \"%s\", "
        "\"system\": \"http://unitsofmeasure.org\", \"code\": \"%s\"}, \"interpretation\": "
        "[{\"coding\": [{\"system\": \"" SYS_INTERP "\", \"code\": \"%s\"}]}], "
        "\"referenceRange\": [{\"low\": {\"value\": %.*f, \"unit\": \"%s\"}, \"high\": "
        "{\"value\": %.*f, \"unit\": \"%s\"}}]}",
        id, SYS_LOINC, s_labs[lab].code, s_labs[lab].display, o->subject, dt, value,
        s_labs[lab].unit, s_labs[lab].unit, flag, s_labs[lab].decimals, s_labs[lab].ref_lo,
        s_labs[lab].unit, s_labs[lab].decimals, s_labs[lab].ref_hi, s_labs[lab].unit);
    s_fhir_end (o);
    const char *systems[] = {SYS_LOINC};
    const char *codes[] = {s_labs[lab].code};
    s_record (t, K_LAB, p->partner, p->mrn, p->index, day, systems, codes, 1);
    s_lab_fact (t, p, s_labs[lab].code, day, value);
}

static void
s_fhir_condition (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w)
{
    unsigned c = s_below (r, N (s_conditions));
    char id[48], dt[40], day[11];
    s_uuid (r, id, sizeof (id));
    s_fhir_dt (w, dt, sizeof (dt));
    s_day (w, day);
    s_fhir_begin (o, id);
    fprintf (o->f,
             "{\"resourceType\": \"Condition\", \"id\": \"%s\", \"clinicalStatus\": "
             "{\"coding\": [{\"system\": "
             "\"http://terminology.hl7.org/CodeSystem/condition-clinical\", \"code\": "
             "\"active\"}]}, \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", "
             "\"display\": \"%s\"}]}, \"subject\": {\"reference\": \"%s\"}, "
             "\"onsetDateTime\": \"%s\"}",
             id, SYS_SNOMED, s_conditions[c].snomed, s_conditions[c].snomed_display, o->subject,
             dt);
    s_fhir_end (o);
    const char *systems[] = {SYS_SNOMED};
    const char *codes[] = {s_conditions[c].snomed};
    s_record (t, K_COND, p->partner, p->mrn, p->index, day, systems, codes, 1);
}

static void
s_fhir_encounter (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w)
{
    unsigned cl = s_below (r, N (s_classes));
    unsigned ty = s_below (r, N (s_encounter_types));
    char id[48], start[40], end[40], day[11];
    s_uuid (r, id, sizeof (id));
    s_fhir_dt (w, start, sizeof (start));
    when_t e = w;
    e.h += 1;
    s_fhir_dt (e, end, sizeof (end));
    s_day (w, day);
    s_fhir_begin (o, id);
    fprintf (o->f,
             "{\"resourceType\": \"Encounter\", \"id\": \"%s\", \"status\": \"finished\", "
             "\"class\": {\"system\": \"%s\", \"code\": \"%s\", \"display\": \"%s\"}, "
             "\"type\": [{\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", \"display\": "
             "\"%s\"}]}], \"subject\": {\"reference\": \"%s\"}, \"period\": {\"start\": \"%s\", "
             "\"end\": \"%s\"}}",
             id, SYS_ACT, s_classes[cl].act, s_classes[cl].display, SYS_SNOMED,
             s_encounter_types[ty].code, s_encounter_types[ty].display, o->subject, start, end);
    s_fhir_end (o);
    const char *systems[] = {SYS_ACT, SYS_SNOMED};
    const char *codes[] = {s_classes[cl].act, s_encounter_types[ty].code};
    s_record (t, K_ENC, p->partner, p->mrn, p->index, day, systems, codes, 2);
}

/* ---- notes with planted PHI ---------------------------------------------------- */

static const char *s_clinicians[] = {"Oakes",     "Brightwater", "Castellano", "Okonkwo",
                                     "Lindqvist", "Haverford",   "Nakamura",   "Abernathy",
                                     "Quillan",   "Deverell",    "Moreau",     "Szymanski"};
static const char *s_relations[] = {"wife", "husband", "daughter", "son", "sister", "brother"};
static const char *s_month_names[] = {"January",   "February", "March",    "April",
                                      "May",       "June",     "July",     "August",
                                      "September", "October",  "November", "December"};

/* A progress note of patient p written on w, its PHI planted, and its
 * ground truth line in t->notes_f: {"partner", "patient", "resource", "day",
 * "age", "upper", "dates": [[as written, ISO day]], "planted": [values]}.
 * Every third note is in capitals. Writes the text (lines joined by '\n',
 * none with an HL7 delimiter or a JSON special) to out. */
static void
s_note_text (truth_t *t, const patient_t *p, when_t w, const char *resource, char *out,
             size_t size)
{
    rng_t *r = &t->note_r;
    const char *rel = s_relations[s_below (r, N (s_relations))];
    const char *rel_given = s_given[s_below (r, N (s_given))];
    const char *clin_given = s_given[s_below (r, N (s_given))];
    const char *clin = s_clinicians[s_below (r, N (s_clinicians))];
    int age = 2025 - p->by;
    bool upper = s_below (r, 3) == 0;
    char numeric[16], written[40], signed_at[24];
    snprintf (numeric, sizeof (numeric), "%02d/%02d/%04d", w.mo, w.d, w.y);
    snprintf (written, sizeof (written), "%s %d, %04d", s_month_names[w.mo - 1], w.d, w.y);
    snprintf (signed_at, sizeof (signed_at), "%s %02d:%02d", numeric, w.h, w.mi);
    int n = snprintf (out, size,
                      "PROGRESS NOTE\n"
                      "Patient: %s %s   MRN: %s\n"
                      "Date of service: %s\n"
                      "HPI: %d y/o %s seen on %s for f/u of HTN and DM2. Lives at %s, %s, %s %s; "
                      "phone %s.\n"
                      "%s %s %s was present and agrees with the plan.\n"
                      "Vitals: BP 132/84, HR 88, SpO2 97%% on RA. Pain 3/10.\n"
                      "Meds: metformin 500 mg PO BID, lisinopril 10 mg daily.\n"
                      "PMH: HTN (2015), hyperlipidemia.\n"
                      "Plan: recheck A1c in 3 months. Follow up with Dr. %s.\n"
                      "Electronically signed by %s %s, MD %s",
                      p->given, p->family, p->mrn, numeric, age, p->sex == 'F' ? "woman" : "man",
                      written, p->street, p->city, p->state, p->zip, p->phone,
                      p->sex == 'F' ? "Her" : "His", rel, rel_given, clin, clin_given, clin,
                      signed_at);
    if (upper) {
        for (int i = 0; i < n && (size_t) i < size; i++) {
            out[i] = (char) toupper ((unsigned char) out[i]);
        }
    }
    char day[11];
    s_day (w, day);
    fprintf (t->notes_f,
             "%s\n  {\"partner\": \"%s\", \"patient\": \"%s\", \"resource\": \"%s\", "
             "\"day\": \"%s\", \"age\": %d, \"upper\": %s, \"dates\": [[\"%s\", \"%s\"], "
             "[\"%s\", \"%s\"]], \"planted\": [\"%s\", \"%s\", \"%s\", \"%s\", \"%s\", \"%s\", "
             "\"%s\", \"%s\", \"%s\"]}",
             t->n_notes++ ? "," : "", s_partner_names[p->partner], p->mrn, resource, day, age,
             upper ? "true" : "false", numeric, day, written, day, p->given, p->family, p->mrn,
             p->street, p->phone, p->zip, rel_given, clin_given, clin);
}

/* Base64 (RFC 4648, padded) of p[0..n) to f. */
static void
s_base64 (FILE *f, const char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *u = (const unsigned char *) p;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) u[i] << 16 | (i + 1 < n ? (uint32_t) u[i + 1] << 8 : 0)
                     | (i + 2 < n ? u[i + 2] : 0);
        char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        fwrite (q, 1, 4, f);
    }
}

#define NOTE_LOINC "11506-3" /* Progress note */

/* The lab's note: a DocumentReference with the text as a text/plain
 * attachment; the clinic's: a DiagnosticReport with a one-line conclusion
 * and the text as its presentedForm. */
static void
s_fhir_note (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w)
{
    char id[48], dt[40], day[11], text[2048];
    bool report = p->partner == P_CLINIC;
    s_uuid (r, id, sizeof (id));
    s_fhir_dt (w, dt, sizeof (dt));
    s_day (w, day);
    s_note_text (t, p, w, report ? "DiagnosticReport" : "DocumentReference", text, sizeof (text));
    s_fhir_begin (o, id);
    if (report) {
        fprintf (o->f,
                 "{\"resourceType\": \"DiagnosticReport\", \"id\": \"%s\", \"status\": "
                 "\"final\", \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\"}]}, "
                 "\"subject\": {\"reference\": \"%s\"}, \"effectiveDateTime\": \"%s\", "
                 "\"conclusion\": \"Stable. Seen by Dr. %s.\", \"presentedForm\": "
                 "[{\"contentType\": \"text/plain; charset=utf-8\", \"data\": \"",
                 id, SYS_LOINC, NOTE_LOINC, o->subject, dt,
                 s_clinicians[p->index % N (s_clinicians)]);
    }
    else {
        fprintf (o->f,
                 "{\"resourceType\": \"DocumentReference\", \"id\": \"%s\", \"status\": "
                 "\"current\", \"type\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\"}]}, "
                 "\"subject\": {\"reference\": \"%s\"}, \"date\": \"%s\", \"content\": "
                 "[{\"attachment\": {\"contentType\": \"text/plain\", \"data\": \"",
                 id, SYS_LOINC, NOTE_LOINC, o->subject, dt);
    }
    s_base64 (o->f, text, strlen (text));
    fputs (report ? "\"}]}" : "\"}}]}", o->f);
    s_fhir_end (o);
    const char *systems[] = {SYS_LOINC};
    const char *codes[] = {NOTE_LOINC};
    s_record (t, report ? K_LAB : K_NOTE, p->partner, p->mrn, p->index, day, systems, codes, 1);
}

/* Patient, 2-6 Observations, 1-3 Conditions, 1-2 Encounters (and a note). */
static void
s_fhir_patient_feed (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p)
{
    char subject[64];
    snprintf (subject, sizeof (subject), o->bundle ? "urn:uuid:%s" : "Patient/%s", p->uuid);
    o->subject = subject;
    s_fhir_patient (t, o, p);
    when_t base = s_event (r, p);
    int k = 0;
    int n_obs = 2 + (int) s_below (r, 5), n_cond = 1 + (int) s_below (r, 3);
    int n_enc = 1 + (int) s_below (r, 2);
    for (int i = 0; i < n_obs; i++) {
        s_fhir_observation (t, r, o, p, s_at (base, k++));
    }
    for (int i = 0; i < n_cond; i++) {
        s_fhir_condition (t, r, o, p, s_at (base, k++));
    }
    for (int i = 0; i < n_enc; i++) {
        s_fhir_encounter (t, r, o, p, s_at (base, k++));
    }
    if (t->notes) {
        rng_t *nr = &t->note_r;
        s_fhir_note (t, nr, o, p, s_at (base, k++));
    }
    o->subject = NULL;
}

/* ---- HL7 v2 ----------------------------------------------------------------------- */

static void
s_pid (FILE *f, const patient_t *p)
{
    fprintf (f, "PID|1||%s^^^GH^MR||%s^%s||%04d%02d%02d|%c|||%s^^%s^%s^%s^USA||%s||||||%s\r",
             p->mrn, p->family, p->given, p->by, p->bm, p->bd, p->sex, p->street, p->city,
             p->state, p->zip, p->phone, p->ssn);
}

static void
s_msh (FILE *f, const char *type, const char *control, when_t w)
{
    char dt[16];
    s_hl7_dt (w, dt, sizeof (dt));
    fprintf (f, "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|%s00||%s|%s|P|2.5\r", dt, type,
             control);
}

typedef struct {
    char prefix[16]; /* "GH" + 6 hex digits of the seed: ids differ across seeds */
    unsigned valid, invalid;
} control_t;

/* The hospital's note: an MDM^T02, each line of the text an OBX TX. */
static void
s_hl7_note (truth_t *t, FILE *f, const patient_t *p, control_t *ctl, when_t w)
{
    char dt[16], day[11], id[40], text[2048];
    snprintf (id, sizeof (id), "%s%08u", ctl->prefix, ++ctl->valid);
    s_msh (f, "MDM^T02", id, w);
    s_pid (f, p);
    s_hl7_dt (w, dt, sizeof (dt));
    s_day (w, day);
    fprintf (f, "PV1|1|O|||||||||||||||||V%07ld\r", p->index);
    fprintf (f, "TXA|1|PN|TX|%s||%s\r", dt, dt);
    s_note_text (t, p, w, "MDM", text, sizeof (text));
    int line = 0;
    for (char *q = text; *q;) {
        size_t n = strcspn (q, "\n");
        fprintf (f, "OBX|%d|TX|" NOTE_LOINC "^Progress note^LN||%.*s||||||F\r", ++line, (int) n,
                 q);
        q += n + (q[n] == '\n');
    }
    const char *systems[] = {SYS_LOINC};
    const char *codes[] = {NOTE_LOINC};
    s_record (t, K_NOTE, p->partner, p->mrn, p->index, day, systems, codes, 1);
}

/* ADT^A01 (PID, PV1, 1-3 DG1) then ORU^R01 (same PID, OBR, 2-6 OBX). */
static void
s_hl7_patient_feed (truth_t *t, rng_t *r, FILE *f, const patient_t *p, control_t *ctl)
{
    when_t base = s_event (r, p);
    char dt[16], day[11], id[40];
    int k = 0;
    snprintf (id, sizeof (id), "%s%08u", ctl->prefix, ++ctl->valid);
    s_msh (f, "ADT^A01", id, base);
    s_hl7_dt (base, dt, sizeof (dt));
    fprintf (f, "EVN|A01|%s\r", dt);
    s_pid (f, p);
    s_record (t, K_DEMO, p->partner, p->mrn, p->index, "", NULL, NULL, 0);
    s_person (t, p);
    unsigned cl = s_below (r, N (s_classes));
    {
        /* PV1 by field number: 2 class, 3 location, 19 visit number, 44 admit */
        char loc[32], visit[32];
        snprintf (loc, sizeof (loc), "WARD^%u^A", 100 + s_below (r, 50));
        snprintf (visit, sizeof (visit), "V%07ld", p->index);
        const char *fields[45] = {0};
        fields[1] = "1";
        fields[2] = s_classes[cl].hl7;
        fields[3] = loc;
        fields[19] = visit;
        fields[44] = dt;
        fputs ("PV1", f);
        for (int i = 1; i <= 44; i++) {
            fprintf (f, "|%s", fields[i] ? fields[i] : "");
        }
        fputs ("\r", f);
        s_day (base, day);
        const char *systems[] = {SYS_ACT};
        const char *codes[] = {s_classes[cl].act};
        s_record (t, K_ENC, p->partner, p->mrn, p->index, day, systems, codes, 1);
        k++;
    }
    int n_dg = 1 + (int) s_below (r, 3);
    for (int i = 0; i < n_dg; i++) {
        unsigned c = s_below (r, N (s_conditions));
        when_t w = s_at (base, k++);
        s_hl7_dt (w, dt, sizeof (dt));
        s_day (w, day);
        fprintf (f, "DG1|%d||%s^%s^I10||%s|A\r", i + 1, s_conditions[c].icd,
                 s_conditions[c].icd_display, dt);
        const char *systems[] = {SYS_ICD10};
        const char *codes[] = {s_conditions[c].icd};
        s_record (t, K_COND, p->partner, p->mrn, p->index, day, systems, codes, 1);
    }
    /* ORU^R01: the same PID (de-duplicates with the ADT's), 2-6 results */
    when_t obr = s_at (base, k++);
    snprintf (id, sizeof (id), "%s%08u", ctl->prefix, ++ctl->valid);
    s_msh (f, "ORU^R01", id, obr);
    s_pid (f, p);
    s_hl7_dt (obr, dt, sizeof (dt));
    fprintf (f, "OBR|1||ORD%07ld|24323-8^Comprehensive metabolic panel^LN|||%s\r", p->index, dt);
    int n_obx = 2 + (int) s_below (r, 5);
    for (int i = 0; i < n_obx; i++) {
        unsigned lab = s_below (r, N (s_labs));
        char value[32];
        const char *flag = s_value (r, lab, value, sizeof (value));
        when_t w = s_at (base, k++);
        s_hl7_dt (w, dt, sizeof (dt));
        s_day (w, day);
        fprintf (f, "OBX|%d|NM|%s^%s^LN||%s|%s|%.*f-%.*f|%s|||F|||%s\r", i + 1, s_labs[lab].code,
                 s_labs[lab].display, value, s_labs[lab].unit, s_labs[lab].decimals,
                 s_labs[lab].ref_lo, s_labs[lab].decimals, s_labs[lab].ref_hi, flag, dt);
        const char *systems[] = {SYS_LOINC};
        const char *codes[] = {s_labs[lab].code};
        s_record (t, K_LAB, p->partner, p->mrn, p->index, day, systems, codes, 1);
        s_lab_fact (t, p, s_labs[lab].code, day, value);
        if (t->notes && i == 0) {
            /* a comment on the first result: the OBX record's text */
            fprintf (f, "NTE|1||Result called to Dr. %s, read back.\r",
                     s_clinicians[p->index % N (s_clinicians)]);
        }
    }
    if (t->notes) {
        s_hl7_note (t, f, p, ctl, s_at (base, k++));
    }
}

/* ---- invalid items ------------------------------------------------------------------ */

/* Writes one invalid item next to patient p's data (same file; inside the
 * Bundle for clinic-fhir). r is the invalid items' own PRNG, so the valid
 * content does not depend on how many invalid items there are. */
static void
s_invalid (truth_t *t, rng_t *r, int kind, FILE *f, bool bundle_has_entries, const patient_t *p,
           control_t *ctl)
{
    char id[48], msg[40];
    s_uuid (r, id, sizeof (id));
    const char *sep = bundle_has_entries ? "," : "";
    switch (kind) {
    case INV_LAB_BAD_DATE:
        fprintf (f,
                 "{\"resourceType\": \"Observation\", \"id\": \"%s\", \"status\": \"final\", "
                 "\"code\": {\"coding\": [{\"system\": \"" SYS_LOINC "\", \"code\": "
                 "\"4548-4\", \"display\": \"Hemoglobin A1c\"}]}, \"subject\": {\"reference\": "
                 "\"Patient/%s\"}, \"effectiveDateTime\": \"2021-13-45\", \"valueQuantity\": "
                 "{\"value\": 6.1, \"unit\": \"%%\", \"system\": \"http://unitsofmeasure.org\", "
                 "\"code\": \"%%\"}}\n",
                 id, p->uuid);
        break;
    case INV_HL7_EMPTY_PID3:
        snprintf (msg, sizeof (msg), "%sBAD%05u", ctl->prefix, ++ctl->invalid);
        fprintf (
            f,
            "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5\r"
            "PID|1||||%s^%s||%04d%02d%02d|%c\r"
            "OBR|1||ORDBAD%05u|24323-8^Comprehensive metabolic panel^LN|||202103041015\r"
            "OBX|1|NM|2345-7^Glucose^LN||99|mg/dL|70-99|N|||F|||202103041015\r",
            msg, p->family, p->given, p->by, p->bm, p->bd, p->sex, ctl->invalid);
        break;
    case INV_CLINIC_BAD_DATE:
        fprintf (f,
                 "%s\n  {\"fullUrl\": \"urn:uuid:%s\", \"resource\": {\"resourceType\": "
                 "\"Observation\", \"id\": \"%s\", \"status\": \"final\", \"code\": "
                 "{\"coding\": [{\"system\": \"" SYS_LOINC "\", \"code\": \"2093-3\", "
                 "\"display\": \"Cholesterol total\"}]}, \"subject\": {\"reference\": "
                 "\"urn:uuid:%s\"}, \"effectiveDateTime\": \"2021-13-45\", \"valueQuantity\": "
                 "{\"value\": 180, \"unit\": \"mg/dL\", \"system\": "
                 "\"http://unitsofmeasure.org\", \"code\": \"mg/dL\"}}}",
                 sep, id, id, p->uuid);
        break;
    case INV_LAB_NO_SUBJECT:
        fprintf (f,
                 "{\"resourceType\": \"Observation\", \"id\": \"%s\", \"status\": \"final\", "
                 "\"code\": {\"coding\": [{\"system\": \"" SYS_LOINC "\", \"code\": "
                 "\"2345-7\", \"display\": \"Glucose\"}]}, \"effectiveDateTime\": "
                 "\"2021-03-04T10:15:00-05:00\", \"valueQuantity\": {\"value\": 99, \"unit\": "
                 "\"mg/dL\", \"system\": \"http://unitsofmeasure.org\", \"code\": "
                 "\"mg/dL\"}}\n",
                 id);
        break;
    case INV_HL7_A99:
        snprintf (msg, sizeof (msg), "%sBAD%05u", ctl->prefix, ++ctl->invalid);
        fprintf (
            f,
            "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|20210304101500||ADT^A99|%s|P|2.5\r"
            "EVN|A99|202103041015\r",
            msg);
        s_pid (f, p);
        break;
    case INV_LAB_TRUNCATED:
        fprintf (f,
                 "{\"resourceType\": \"Observation\", \"id\": \"%s\", \"status\": \"final\", "
                 "\"code\": {\"coding\": [{\"system\": \"" SYS_LOINC "\", \"code\": \"71\n",
                 id);
        break;
    default: /* INV_CLINIC_NO_CODE */
        fprintf (f,
                 "%s\n  {\"fullUrl\": \"urn:uuid:%s\", \"resource\": {\"resourceType\": "
                 "\"Condition\", \"id\": \"%s\", \"clinicalStatus\": {\"coding\": "
                 "[{\"system\": \"http://terminology.hl7.org/CodeSystem/condition-clinical\", "
                 "\"code\": \"active\"}]}, \"subject\": {\"reference\": \"urn:uuid:%s\"}, "
                 "\"onsetDateTime\": \"2021-03-04T10:15:00-05:00\"}}",
                 sep, id, id, p->uuid);
        break;
    }
    t->quarantined++;
}

/* Which invalid items go where: item m of partner P (of k[P]) goes after
 * that partner's patient number m * n[P] / k[P], spreading them evenly. */
typedef struct {
    int *kinds[N_PARTNERS];
    unsigned k[N_PARTNERS], n[N_PARTNERS], next[N_PARTNERS];
} inv_plan_t;

static int
s_plan (inv_plan_t *plan, unsigned patients, unsigned invalid, hg_err_t *err)
{
    memset (plan, 0, sizeof (*plan));
    for (int p = 0; p < N_PARTNERS; p++) {
        plan->n[p] = (patients + N_PARTNERS - 1 - (unsigned) p) / N_PARTNERS;
    }
    if (invalid == 0) {
        return 0;
    }
    if (patients == 0) {
        return hg_err_set (err, HG_EINVAL,
                           "%u invalid items need at least one patient to go with", invalid);
    }
    for (int p = 0; p < N_PARTNERS; p++) {
        plan->kinds[p] = calloc (invalid, sizeof (int));
        if (!plan->kinds[p]) {
            return hg_err_set (err, HG_ENOMEM, "out of memory planning %u invalid items",
                               invalid);
        }
    }
    unsigned pos = 0;
    for (unsigned m = 0; m < invalid; m++) {
        while (plan->n[s_inv_partner[pos % N_INV]] == 0) {
            pos++; /* that partner has no patient: the next kind */
        }
        int kind = (int) (pos++ % N_INV);
        int p = s_inv_partner[kind];
        plan->kinds[p][plan->k[p]++] = kind;
    }
    return 0;
}

static void
s_plan_free (inv_plan_t *plan)
{
    for (int p = 0; p < N_PARTNERS; p++) {
        free (plan->kinds[p]);
        plan->kinds[p] = NULL;
    }
}

/* Next invalid kind to write after partner p's patient number local, or -1. */
static int
s_plan_next (inv_plan_t *plan, int p, unsigned local)
{
    unsigned m = plan->next[p];
    if (m >= plan->k[p] || (uint64_t) m * plan->n[p] / plan->k[p] != local) {
        return -1;
    }
    plan->next[p]++;
    return plan->kinds[p][m];
}

/* ---- files -------------------------------------------------------------------------- */

typedef struct {
    FILE *list; /* JSON array body of the partner's files */
    unsigned n_files;
    unsigned patients;
} partner_out_t;

typedef struct {
    FILE *f;
    char path[4096];
} feed_t;

static int
s_feed_open (feed_t *feed, const char *out_dir, partner_out_t *po, int partner, const char *name,
             hg_err_t *err)
{
    char rel[256];
    snprintf (rel, sizeof (rel), "%s/%s/%s", s_partner_names[partner], s_partner_formats[partner],
              name);
    snprintf (feed->path, sizeof (feed->path), "%s/%s", out_dir, rel);
    feed->f = fopen (feed->path, "w");
    if (!feed->f) {
        return hg_err_set (err, HG_EIO, "cannot create %s: %s", feed->path, strerror (errno));
    }
    fprintf (po->list, "%s\"%s\"", po->n_files++ ? ", " : "", rel);
    return 0;
}

/* Closes an open feed (no-op when closed); HG_EIO when anything failed. */
static int
s_feed_close (feed_t *feed, hg_err_t *err)
{
    if (!feed->f) {
        return 0;
    }
    bool bad = ferror (feed->f) != 0;
    if (fclose (feed->f) != 0) {
        bad = true;
    }
    feed->f = NULL;
    if (bad) {
        return hg_err_set (err, HG_EIO, "cannot write %s: %s (disk full?)", feed->path,
                           strerror (errno));
    }
    return 0;
}

static int
s_copy (FILE *from, FILE *to)
{
    rewind (from);
    char buf[65536];
    size_t n;
    while ((n = fread (buf, 1, sizeof (buf), from)) > 0) {
        if (fwrite (buf, 1, n, to) != n) {
            return -1;
        }
    }
    return ferror (from) ? -1 : 0;
}

static int
s_write_truth (const hg_simulate_opts_t *opts, truth_t *t, partner_out_t *po, hg_err_t *err)
{
    char path[4096];
    snprintf (path, sizeof (path), "%s/truth.json", opts->out_dir);
    FILE *f = fopen (path, "w");
    if (!f) {
        return hg_err_set (err, HG_EIO, "cannot create %s: %s", path, strerror (errno));
    }
    int bad = 0;
    fprintf (f, "{\"seed\": %" PRIu64 ", \"patients\": %u,\n \"partners\": {", opts->seed,
             opts->patients);
    for (int p = 0; p < N_PARTNERS; p++) {
        fprintf (f, "%s\n  \"%s\": {\"format\": \"%s\", \"patients\": %u, \"files\": [",
                 p ? "," : "", s_partner_names[p], s_partner_formats[p], po[p].patients);
        bad |= s_copy (po[p].list, f);
        fprintf (f, "]}");
    }
    fprintf (f,
             "},\n \"quarantined\": %u,\n \"records\": {\"distinct\": %" PRIu64
             ", \"by_kind\": {\"demographics\": %" PRIu64 ", \"encounter\": %" PRIu64
             ", \"condition\": %" PRIu64 ", \"lab-observation\": %" PRIu64 ", \"note\": %" PRIu64
             "}},\n"
             " \"codes\": {",
             t->quarantined, t->distinct, t->by_kind[K_DEMO], t->by_kind[K_ENC],
             t->by_kind[K_COND], t->by_kind[K_LAB], t->by_kind[K_NOTE]);
    for (size_t i = 0; i < t->n_codes; i++) {
        fprintf (f, "%s\n  \"%s\": {\"patients\": %" PRIu64 ", \"records\": %" PRIu64 "}",
                 i ? "," : "", t->codes[i].key, t->codes[i].patients, t->codes[i].records);
    }
    fprintf (f, "},\n \"facts\": [");
    bad |= s_copy (t->facts, f);
    fprintf (f, "],\n \"people\": {");
    bad |= s_copy (t->people, f);
    fprintf (f, "},\n \"values\": [");
    bad |= s_copy (t->values, f);
    fprintf (f, "],\n \"notes\": [");
    bad |= s_copy (t->notes_f, f);
    fprintf (f, "],\n \"phi\": {");
    for (int i = 0; i < N_PHI; i++) {
        fprintf (f, "%s\n  \"%s\": [", i ? "," : "", s_phi_keys[i]);
        if (i == PHI_NAMES) {
            /* each name once, in vocabulary order */
            bool first = true;
            for (size_t g = 0; g < N (s_given); g++) {
                if (t->given_used[g]) {
                    fprintf (f, "%s\"%s\"", first ? "" : ", ", s_given[g]);
                    first = false;
                }
            }
            for (size_t g = 0; g < N (s_family); g++) {
                if (t->family_used[g]) {
                    fprintf (f, "%s\"%s\"", first ? "" : ", ", s_family[g]);
                    first = false;
                }
            }
        }
        else {
            bad |= s_copy (t->phi[i], f);
        }
        fprintf (f, "]");
    }
    fprintf (f, "}}\n");
    if (ferror (f)) {
        bad = -1;
    }
    if (fclose (f) != 0) {
        bad = -1;
    }
    if (bad) {
        return hg_err_set (err, HG_EIO, "cannot write %s: %s (disk full?)", path,
                           strerror (errno));
    }
    return 0;
}

void
hg_simulate_opts_default (hg_simulate_opts_t *opts)
{
    opts->out_dir = NULL;
    opts->patients = 100;
    opts->seed = 1;
    opts->invalid = 0;
    opts->per_file = 50;
    opts->notes = false;
}

typedef struct {
    uint64_t distinct;
    unsigned files;
} summary_t;

/* What s_run's patients are written with: the run's options, truth,
 * partners' outputs, the open HL7 and NDJSON batch files (and how many
 * patients each holds, and the next file number), the invalid-item plan,
 * the generators and the HL7 control ids. */
typedef struct {
    const hg_simulate_opts_t *opts;
    truth_t *t;
    partner_out_t *po;
    feed_t *cur;
    inv_plan_t *plan;
    rng_t *r, *inv_r;
    control_t *ctl;
    unsigned in_cur[2], file_no[2];
} gen_t;

/* Every identifying value of a patient, for the PHI scans of the tests. */
static void
s_truth_phi (truth_t *t, const patient_t *p)
{
    char birth[16];
    t->given_used[p->given_i] = true;
    t->family_used[p->family_i] = true;
    s_phi (t, PHI_MRNS, p->mrn);
    s_phi (t, PHI_SSNS, p->ssn);
    s_phi (t, PHI_PHONES, p->phone);
    s_phi (t, PHI_STREETS, p->street);
    snprintf (birth, sizeof (birth), "%04d-%02d-%02d", p->by, p->bm, p->bd);
    s_phi (t, PHI_BIRTH, birth);
    snprintf (birth, sizeof (birth), "%04d%02d%02d", p->by, p->bm, p->bd);
    s_phi (t, PHI_BIRTH, birth);
    if (p->partner != P_HOSPITAL) {
        s_phi (t, PHI_IDS, p->uuid);
    }
}

/* The clinic sends one FHIR Bundle per patient (patient-<i>.json). */
static int
s_gen_clinic (gen_t *g, long i, patient_t *p, unsigned local, hg_err_t *err)
{
    char name[64], bundle_id[48];
    feed_t bf;
    int kind;
    snprintf (name, sizeof (name), "patient-%06ld.json", i);
    int rc = s_feed_open (&bf, g->opts->out_dir, &g->po[P_CLINIC], P_CLINIC, name, err);
    if (rc < 0) {
        return rc;
    }
    s_uuid (g->r, bundle_id, sizeof (bundle_id));
    fprintf (bf.f,
             "{\"resourceType\": \"Bundle\", \"id\": \"%s\", \"type\": "
             "\"collection\", \"entry\": [",
             bundle_id);
    fhir_out_t o = {bf.f, true, 0, NULL};
    s_fhir_patient_feed (g->t, g->r, &o, p);
    while ((kind = s_plan_next (g->plan, P_CLINIC, local)) >= 0) {
        s_invalid (g->t, g->inv_r, kind, bf.f, true, p, g->ctl);
    }
    fprintf (bf.f, "\n]}\n");
    return s_feed_close (&bf, err);
}

/* One patient: the hospital's HL7 and the lab's NDJSON go into batch files
 * of per_file patients each, the clinic's into a Bundle of its own. */
static int
s_gen_patient (gen_t *g, long i, hg_err_t *err)
{
    patient_t p;
    int kind, rc;
    s_patient (g->r, i, &p);
    unsigned local = g->po[p.partner].patients++;
    s_truth_phi (g->t, &p);
    if (p.partner == P_CLINIC) {
        return s_gen_clinic (g, i, &p, local, err);
    }
    int k = p.partner == P_HOSPITAL ? 0 : 1;
    feed_t *f = &g->cur[k];
    if (!f->f) {
        char name[64];
        snprintf (name, sizeof (name), "batch-%05u.%s", g->file_no[k]++, k ? "ndjson" : "hl7");
        rc = s_feed_open (f, g->opts->out_dir, &g->po[p.partner], p.partner, name, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (k == 0) {
        s_hl7_patient_feed (g->t, g->r, f->f, &p, g->ctl);
    }
    else {
        fhir_out_t o = {f->f, false, 0, NULL};
        s_fhir_patient_feed (g->t, g->r, &o, &p);
    }
    while ((kind = s_plan_next (g->plan, p.partner, local)) >= 0) {
        s_invalid (g->t, g->inv_r, kind, f->f, false, &p, g->ctl);
    }
    if (++g->in_cur[k] >= g->opts->per_file) {
        g->in_cur[k] = 0;
        return s_feed_close (f, err);
    }
    return 0;
}

static int
s_run (const hg_simulate_opts_t *opts, summary_t *sum, hg_err_t *err)
{
    if (!opts || !opts->out_dir || !*opts->out_dir) {
        return hg_err_set (err, HG_EINVAL, "simulate needs an output directory");
    }
    if (opts->per_file == 0) {
        return hg_err_set (err, HG_EINVAL, "per_file must be at least 1 (patients per file)");
    }
    for (int p = 0; p < N_PARTNERS; p++) {
        char dir[4096];
        snprintf (dir, sizeof (dir), "%s/%s/%s", opts->out_dir, s_partner_names[p],
                  s_partner_formats[p]);
        int mrc = hg_mkdirs (dir, 0755, err);
        if (mrc < 0) {
            return mrc;
        }
    }
    int rc = 0;
    truth_t *t = calloc (1, sizeof (truth_t));
    partner_out_t po[N_PARTNERS];
    memset (po, 0, sizeof (po));
    feed_t cur[2]; /* open HL7 and NDJSON batch files */
    memset (cur, 0, sizeof (cur));
    inv_plan_t plan;
    memset (&plan, 0, sizeof (plan));
    if (!t) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    t->facts = tmpfile ();
    t->people = tmpfile ();
    t->values = tmpfile ();
    t->notes_f = tmpfile ();
    t->notes = opts->notes;
    t->note_r.s = opts->seed * 0xbf58476d1ce4e5b9ULL + 777;
    bool tmp_ok = t->facts && t->people && t->values && t->notes_f;
    for (int i = 0; i < N_PHI; i++) {
        t->phi[i] = tmpfile ();
        tmp_ok = tmp_ok && t->phi[i];
    }
    for (int i = 0; i < N_PARTNERS; i++) {
        po[i].list = tmpfile ();
        tmp_ok = tmp_ok && po[i].list;
    }
    if (!tmp_ok) {
        rc = hg_err_set (err, HG_EIO, "cannot create a temporary file (TMPDIR): %s",
                         strerror (errno));
        goto cleanup;
    }
    rc = s_plan (&plan, opts->patients, opts->invalid, err);
    if (rc < 0) {
        goto cleanup;
    }
    rng_t r = {opts->seed * 0x9e3779b97f4a7c15ULL + 12345};
    rng_t inv_r = {opts->seed ^ 0x5851f42d4c957f2dULL};
    control_t ctl;
    memset (&ctl, 0, sizeof (ctl));
    {
        rng_t cr = {opts->seed};
        snprintf (ctl.prefix, sizeof (ctl.prefix), "GH%06" PRIX64, s_next (&cr) & 0xffffff);
    }
    gen_t g = {opts, t, po, cur, &plan, &r, &inv_r, &ctl, {0, 0}, {0, 0}};
    for (long i = 0; i < (long) opts->patients && !t->oom; i++) {
        rc = s_gen_patient (&g, i, err);
        if (rc < 0) {
            goto cleanup;
        }
    }
    for (int k = 0; k < 2; k++) {
        rc = s_feed_close (&cur[k], err);
        if (rc < 0) {
            goto cleanup;
        }
    }
    if (t->oom) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory counting codes");
        goto cleanup;
    }
    rc = s_write_truth (opts, t, po, err);
    if (rc == 0 && sum) {
        sum->distinct = t->distinct;
        sum->files = po[0].n_files + po[1].n_files + po[2].n_files;
    }

cleanup:
    for (int k = 0; k < 2; k++) {
        if (cur[k].f) {
            fclose (cur[k].f);
        }
    }
    s_plan_free (&plan);
    if (t->facts) {
        fclose (t->facts);
    }
    if (t->people) {
        fclose (t->people);
    }
    if (t->values) {
        fclose (t->values);
    }
    if (t->notes_f) {
        fclose (t->notes_f);
    }
    for (int i = 0; i < N_PHI; i++) {
        if (t->phi[i]) {
            fclose (t->phi[i]);
        }
    }
    for (int i = 0; i < N_PARTNERS; i++) {
        if (po[i].list) {
            fclose (po[i].list);
        }
    }
    free (t->codes);
    free (t);
    return rc;
}

int
hg_simulate_run (const hg_simulate_opts_t *opts, hg_err_t *err)
{
    return s_run (opts, NULL, err);
}

/* Strict unsigned decimal within [lo, hi]. */
static bool
s_number (const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!*s) {
        return false;
    }
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') {
            return false;
        }
    }
    errno = 0;
    unsigned long long n = strtoull (s, NULL, 10);
    if (errno == ERANGE || n < lo || n > hi) {
        return false;
    }
    *out = n;
    return true;
}

int
hg_simulate_main (int argc, char **argv)
{
    hg_simulate_opts_t o;
    hg_simulate_opts_default (&o);
    int patients = (int) o.patients, invalid = (int) o.invalid, per_file = (int) o.per_file;
    const char *seed = NULL;
    bool notes = false;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_REQUIRED ("--out", &o.out_dir, "DIR", "directory to write the feeds into"),
        HG_CLI_OPT_INT ("--patients", &patients, "N", "patients (default 100)", 0, 10000000),
        HG_CLI_OPT_STR ("--seed", &seed, "S", "seed of the generator, 0 to 2^64-1 (default 1)"),
        HG_CLI_OPT_INT ("--invalid", &invalid, "N",
                        "items that must each be quarantined (default 0)", 0, 1000000),
        HG_CLI_OPT_INT ("--per-file", &per_file, "N",
                        "patients per HL7 and NDJSON batch file (default 50)", 1, 1000000),
        HG_CLI_OPT_FLAG ("--notes", &notes,
                         "each patient also gets a progress note with planted PHI (HL7 MDM^T02 "
                         "and an NTE, a FHIR DocumentReference or DiagnosticReport); truth.json "
                         "lists each note's planted values and dates"),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass simulate",
        .about = "Writes realistic, identifying partner feeds (HL7 v2 from general-hospital,\n"
                 "FHIR NDJSON from city-lab, FHIR Bundles from clinic-fhir) and DIR/truth.json,\n"
                 "the ground truth: distinct records, patients and records per code, every\n"
                 "fact, every identifying value.",
        .opts = opts,
    };
    int status;
    hg_cli_args_t args;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    hg_cli_args_free (&args);
    if (!*o.out_dir) {
        return hg_cli_usage_error (&spec, "--out needs a directory");
    }
    if (seed && !s_number (seed, 0, UINT64_MAX, &o.seed)) {
        return hg_cli_usage_error (&spec,
                                   "--seed wants a whole number from 0 to %" PRIu64 ", got '%s'",
                                   (uint64_t) UINT64_MAX, seed);
    }
    o.patients = (unsigned) patients;
    o.invalid = (unsigned) invalid;
    o.per_file = (unsigned) per_file;
    o.notes = notes;
    hg_err_t err = {0};
    summary_t sum = {0, 0};
    if (s_run (&o, &sum, &err) < 0) {
        fprintf (stderr, "hourglass simulate: %s\n", err.msg);
        return 1;
    }
    printf ("simulated %u patients (seed %" PRIu64 "): %" PRIu64 " distinct records, %u invalid "
            "items, %u files in %s\n",
            o.patients, o.seed, sum.distinct, o.invalid, sum.files, o.out_dir);
    return 0;
}
