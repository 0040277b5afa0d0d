/*
 * simulate.c -- deterministic partner-feed generator with ground truth.
 *
 * Every patient belongs to one partner. Each valid record the feeds carry is
 * accounted for in truth.json exactly as the pipeline will see it: one fact
 * per (record, code) with the record's local date, distinct-record counts
 * (a patient's demographics count once: the PID of the ADT and of the ORU
 * are identical and de-duplicate), per-code patient and record counts, and
 * every identifying value written, for leak scans.
 */
#include "simulate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "util.h"

/* ---- vocabulary (ours) --------------------------------------------------- */

static const char *s_given[] = {
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella",
    "William", "Mia", "Benjamin", "Charlotte", "Lucas", "Amelia", "Henry", "Harper",
    "Theodore", "Evelyn", "Jack", "Abigail", "Levi", "Emily", "Alexander", "Ella",
    "Jackson", "Elizabeth", "Mateo", "Camila", "Daniel", "Luna", "Michael", "Sofia",
    "Mason", "Avery", "Sebastian", "Mila", "Ethan", "Aria", "Logan", "Scarlett", "Owen",
    "Penelope", "Samuel", "Layla", "Jacob", "Chloe", "Asher", "Victoria", "Aiden",
    "Madison", "John", "Eleanor", "Joseph", "Grace", "Wyatt", "Nora", "David", "Riley",
    "Leo"};
static const char *s_family[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz",
    "Edwards", "Collins", "Reyes"};
static const char *s_streets[] = {
    "Oak Street", "Maple Avenue", "Cedar Lane", "Pine Road", "Elm Street", "Birch Drive",
    "Walnut Court", "Spruce Way", "Willow Street", "Chestnut Avenue", "Aspen Lane",
    "Hickory Road", "Sycamore Drive", "Magnolia Court", "Juniper Way", "Laurel Street",
    "Poplar Avenue", "Cypress Lane", "Dogwood Road", "Hawthorn Drive", "Linden Court",
    "Redwood Way", "Sequoia Street", "Alder Avenue", "Beech Lane", "Holly Road",
    "Ivy Drive", "Mulberry Court", "Orchard Way", "Meadow Street", "River Road",
    "Lake Avenue", "Hill Street", "Park Lane", "Forest Drive", "Sunset Boulevard",
    "Highland Avenue", "Valley Road", "Church Street", "Mill Lane"};
static const struct {
    const char *city, *state, *zip;
} s_cities[] = {
    {"Springfield", "IL", "62704"}, {"Madison", "WI", "53703"}, {"Columbus", "OH", "43215"},
    {"Albany", "NY", "12207"},      {"Austin", "TX", "78701"},  {"Denver", "CO", "80202"},
    {"Portland", "OR", "97205"},    {"Raleigh", "NC", "27601"}, {"Boise", "ID", "83702"},
    {"Salem", "MA", "01970"},       {"Trenton", "NJ", "08608"}, {"Dover", "DE", "19901"},
    {"Helena", "MT", "59601"},      {"Pierre", "SD", "57501"},  {"Topeka", "KS", "66603"},
    {"Lincoln", "NE", "68508"},     {"Phoenix", "AZ", "85004"}, {"Atlanta", "GA", "30303"},
    {"Nashville", "TN", "37203"},   {"Richmond", "VA", "23219"}, {"Hartford", "CT", "06103"},
    {"Concord", "NH", "03301"},     {"Montpelier", "VT", "05602"}, {"Augusta", "ME", "04330"},
    {"Cheyenne", "WY", "82001"},    {"Bismarck", "ND", "58501"}, {"Juneau", "AK", "99801"},
    {"Honolulu", "HI", "96813"},    {"Tucson", "AZ", "85701"},  {"Reno", "NV", "89501"}};
static const struct {
    const char *code, *display, *unit;
    double lo, hi;
    int decimals;
} s_labs[] = {
    {"4548-4", "Hemoglobin A1c", "%", 4.5, 11.0, 1},
    {"2345-7", "Glucose", "mg/dL", 65, 260, 0},
    {"2160-0", "Creatinine", "mg/dL", 0.5, 2.5, 2},
    {"2093-3", "Cholesterol total", "mg/dL", 120, 300, 0},
    {"718-7", "Hemoglobin", "g/dL", 9, 18, 1},
    {"6690-2", "Leukocytes", "10*3/uL", 3, 14, 1},
    {"2951-2", "Sodium", "mmol/L", 130, 150, 0},
    {"2823-3", "Potassium", "mmol/L", 3.2, 5.4, 1}};
static const struct {
    const char *snomed, *snomed_display, *icd, *icd_display;
} s_conditions[] = {
    {"44054006", "Diabetes mellitus type 2", "E11.9",
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

enum { P_HOSPITAL = 0, P_LAB = 1, P_CLINIC = 2, N_PARTNERS = 3 };
static const char *s_partner_names[] = {"general-hospital", "city-lab", "clinic-fhir"};
static const char *s_partner_formats[] = {"hl7v2", "fhir", "fhir"};

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

/* ---- ground truth ----------------------------------------------------------- */

typedef struct {
    char key[128];          /* "system|code" */
    uint64_t records;
    uint64_t patients;
    long last_patient;      /* patients are generated in order */
} code_t;

typedef struct {
    FILE *facts;            /* temporary: one JSON array per fact */
    size_t n_facts;
    code_t *codes;
    size_t n_codes, cap_codes;
    uint64_t distinct, by_kind[4];   /* demographics, encounter, condition, lab */
    unsigned quarantined;
    FILE *phi[7];           /* temporary string lists */
    size_t n_phi[7];
} truth_t;

enum { PHI_NAMES, PHI_MRNS, PHI_SSNS, PHI_PHONES, PHI_STREETS, PHI_BIRTH, PHI_IDS };
static const char *s_phi_keys[] = {"names", "mrns", "ssns", "phones", "streets",
                                   "birth_dates", "fhir_ids"};
enum { K_DEMO, K_ENC, K_COND, K_LAB };

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
        t->cap_codes = t->cap_codes ? t->cap_codes * 2 : 64;
        t->codes = realloc (t->codes, t->cap_codes * sizeof (*t->codes));
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
    char mrn[16], ssn[16], phone[16], uuid[40];
    const char *given, *family, *street_name, *city, *state, *zip;
    char street[64];
    int by, bm, bd;          /* birth date */
    char sex;                /* 'M' / 'F' */
} patient_t;

typedef struct {
    int y, mo, d, h, mi;
} when_t;

static void
s_patient (rng_t *r, long i, patient_t *p)
{
    memset (p, 0, sizeof (*p));
    p->index = i;
    p->partner = (int) (i % N_PARTNERS);
    snprintf (p->mrn, sizeof (p->mrn), "MRN%08ld", 10000000L + i * 7919L % 89999999L);
    snprintf (p->ssn, sizeof (p->ssn), "9%02u-%02u-%04u", s_below (r, 100), 10 + s_below (r, 90),
              1000 + s_below (r, 9000));
    snprintf (p->phone, sizeof (p->phone), "555-%03u-%04u", 200 + s_below (r, 800),
              s_below (r, 10000));
    uint64_t a = s_next (r), b = s_next (r);
    snprintf (p->uuid, sizeof (p->uuid), "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64
              "-%012" PRIx64, a >> 32, (a >> 16) & 0xffff, a & 0xfff, (b >> 48) & 0xfff,
              b & (uint64_t) 0xffffffffffff);
    p->given = s_given[s_below (r, N (s_given))];
    p->family = s_family[s_below (r, N (s_family))];
    p->street_name = s_streets[s_below (r, N (s_streets))];
    snprintf (p->street, sizeof (p->street), "%u %s", 1 + s_below (r, 9899), p->street_name);
    unsigned c = s_below (r, N (s_cities));
    p->city = s_cities[c].city;
    p->state = s_cities[c].state;
    p->zip = s_cities[c].zip;
    int age = 1 + (int) s_below (r, 100);      /* as of 2025: some are over 89 */
    p->by = 2025 - age;
    p->bm = 1 + (int) s_below (r, 12);
    p->bd = 1 + (int) s_below (r, 28);
    p->sex = s_below (r, 2) ? 'F' : 'M';
}

/* A date-time between max(2015-01-01, the day after birth) and 2024-12-31,
 * 09:00-14:59 so that no offset used here crosses midnight in UTC. */
static when_t
s_event (rng_t *r, const patient_t *p)
{
    int64_t lo = 16436;     /* 2015-01-01 */
    int64_t hi = 20088;     /* 2024-12-31 */
    /* days since epoch of the day after birth */
    int64_t birth = 0;
    {
        int y = p->by, m = p->bm;
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + p->bd - 1;
        birth = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    }
    if (birth + 1 > lo) {
        lo = birth + 1;
    }
    if (lo > hi) {
        lo = hi;
    }
    int64_t day = lo + (int64_t) s_below (r, (unsigned) (hi - lo + 1));
    when_t w;
    hg_date_from_days (day, &w.y, &w.mo, &w.d);
    w.h = 9 + (int) s_below (r, 6);
    w.mi = (int) s_below (r, 60);
    return w;
}

/* Each record of a patient gets its own minute so no two are identical. */
static when_t
s_at (when_t base, int k)
{
    base.mi = (base.mi + k) % 60;
    return base;
}

static void
s_day (when_t w, char out[11])
{
    snprintf (out, 11, "%04d-%02d-%02d", w.y, w.mo, w.d);
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

static void
s_value (rng_t *r, unsigned lab, char *out, size_t size)
{
    snprintf (out, size, "%.*f", s_labs[lab].decimals, s_uniform (r, s_labs[lab].lo, s_labs[lab].hi));
}

/* ---- FHIR ----------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    bool bundle;
    int entries;
    const char *subject;    /* "Patient/<id>" or "urn:uuid:<id>" */
} fhir_out_t;

static void
s_fhir_begin (fhir_out_t *o, const char *full_url)
{
    if (o->bundle) {
        fprintf (o->f, "%s\n  {\"fullUrl\": \"%s\", \"resource\": ", o->entries ? "," : "",
                 full_url);
    }
    o->entries++;
}

static void
s_fhir_end (fhir_out_t *o)
{
    fputs (o->bundle ? "}" : "\n", o->f);
}

static void
s_fhir_patient (truth_t *t, fhir_out_t *o, const patient_t *p)
{
    char url[64];
    snprintf (url, sizeof (url), "urn:uuid:%s", p->uuid);
    s_fhir_begin (o, url);
    fprintf (o->f,
             "{\"resourceType\": \"Patient\", \"id\": \"%s\", \"identifier\": [{\"system\": "
             "\"urn:oid:2.16.840.1.113883.19.5\", \"type\": {\"coding\": [{\"system\": "
             "\"http://terminology.hl7.org/CodeSystem/v2-0203\", \"code\": \"MR\"}]}, \"value\": "
             "\"%s\"}, {\"system\": \"http://hl7.org/fhir/sid/us-ssn\", \"type\": {\"coding\": "
             "[{\"system\": \"http://terminology.hl7.org/CodeSystem/v2-0203\", \"code\": \"SS\"}]}, "
             "\"value\": \"%s\"}], \"name\": [{\"use\": \"official\", \"family\": \"%s\", "
             "\"given\": [\"%s\"]}], \"telecom\": [{\"system\": \"phone\", \"value\": \"%s\", "
             "\"use\": \"home\"}], \"gender\": \"%s\", \"birthDate\": \"%04d-%02d-%02d\", "
             "\"address\": [{\"line\": [\"%s\"], \"city\": \"%s\", \"state\": \"%s\", "
             "\"postalCode\": \"%s\", \"country\": \"US\"}]}",
             p->uuid, p->mrn, p->ssn, p->family, p->given, p->phone,
             p->sex == 'F' ? "female" : "male", p->by, p->bm, p->bd, p->street, p->city,
             p->state, p->zip);
    s_fhir_end (o);
    s_record (t, K_DEMO, p->partner, p->uuid, p->index, "", NULL, NULL, 0);
}

static void
s_fhir_observation (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w,
                    int k)
{
    unsigned lab = s_below (r, N (s_labs));
    char dt[40], value[32], day[11], url[64];
    s_fhir_dt (w, dt, sizeof (dt));
    s_day (w, day);
    s_value (r, lab, value, sizeof (value));
    snprintf (url, sizeof (url), "urn:uuid:%s-o%d", p->uuid, k);
    s_fhir_begin (o, url);
    fprintf (o->f,
             "{\"resourceType\": \"Observation\", \"id\": \"%s-o%d\", \"status\": \"final\", "
             "\"category\": [{\"coding\": [{\"system\": "
             "\"http://terminology.hl7.org/CodeSystem/observation-category\", \"code\": "
             "\"laboratory\"}]}], \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", "
             "\"display\": \"%s\"}]}, \"subject\": {\"reference\": \"%s\"}, "
             "\"effectiveDateTime\": \"%s\", \"valueQuantity\": {\"value\": %s, \"unit\": \"%s\", "
             "\"system\": \"http://unitsofmeasure.org\", \"code\": \"%s\"}}",
             p->uuid, k, SYS_LOINC, s_labs[lab].code, s_labs[lab].display, o->subject, dt, value,
             s_labs[lab].unit, s_labs[lab].unit);
    s_fhir_end (o);
    const char *systems[] = {SYS_LOINC};
    const char *codes[] = {s_labs[lab].code};
    s_record (t, K_LAB, p->partner, p->uuid, p->index, day, systems, codes, 1);
}

static void
s_fhir_condition (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w, int k)
{
    unsigned c = s_below (r, N (s_conditions));
    char dt[40], day[11], url[64];
    s_fhir_dt (w, dt, sizeof (dt));
    s_day (w, day);
    snprintf (url, sizeof (url), "urn:uuid:%s-c%d", p->uuid, k);
    s_fhir_begin (o, url);
    fprintf (o->f,
             "{\"resourceType\": \"Condition\", \"id\": \"%s-c%d\", \"clinicalStatus\": "
             "{\"coding\": [{\"system\": "
             "\"http://terminology.hl7.org/CodeSystem/condition-clinical\", \"code\": "
             "\"active\"}]}, \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", "
             "\"display\": \"%s\"}]}, \"subject\": {\"reference\": \"%s\"}, "
             "\"onsetDateTime\": \"%s\"}",
             p->uuid, k, SYS_SNOMED, s_conditions[c].snomed, s_conditions[c].snomed_display,
             o->subject, dt);
    s_fhir_end (o);
    const char *systems[] = {SYS_SNOMED};
    const char *codes[] = {s_conditions[c].snomed};
    s_record (t, K_COND, p->partner, p->uuid, p->index, day, systems, codes, 1);
}

static void
s_fhir_encounter (truth_t *t, rng_t *r, fhir_out_t *o, const patient_t *p, when_t w, int k)
{
    unsigned cl = s_below (r, N (s_classes));
    unsigned ty = s_below (r, N (s_encounter_types));
    char start[40], end[40], day[11], url[64];
    s_fhir_dt (w, start, sizeof (start));
    when_t e = w;
    e.h += 1;
    s_fhir_dt (e, end, sizeof (end));
    s_day (w, day);
    snprintf (url, sizeof (url), "urn:uuid:%s-e%d", p->uuid, k);
    s_fhir_begin (o, url);
    fprintf (o->f,
             "{\"resourceType\": \"Encounter\", \"id\": \"%s-e%d\", \"status\": \"finished\", "
             "\"class\": {\"system\": \"%s\", \"code\": \"%s\", \"display\": \"%s\"}, "
             "\"type\": [{\"coding\": [{\"system\": \"%s\", \"code\": \"%s\", \"display\": "
             "\"%s\"}]}], \"subject\": {\"reference\": \"%s\"}, \"period\": {\"start\": \"%s\", "
             "\"end\": \"%s\"}}",
             p->uuid, k, SYS_ACT, s_classes[cl].act, s_classes[cl].display, SYS_SNOMED,
             s_encounter_types[ty].code, s_encounter_types[ty].display, o->subject, start, end);
    s_fhir_end (o);
    const char *systems[] = {SYS_ACT, SYS_SNOMED};
    const char *codes[] = {s_classes[cl].act, s_encounter_types[ty].code};
    s_record (t, K_ENC, p->partner, p->uuid, p->index, day, systems, codes, 2);
}

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
    for (int i = 0; i < n_obs; i++, k++) {
        s_fhir_observation (t, r, o, p, s_at (base, k), k);
    }
    for (int i = 0; i < n_cond; i++, k++) {
        s_fhir_condition (t, r, o, p, s_at (base, k), k);
    }
    for (int i = 0; i < n_enc; i++, k++) {
        s_fhir_encounter (t, r, o, p, s_at (base, k), k);
    }
}

/* ---- HL7 v2 ----------------------------------------------------------------------- */

static void
s_pid (FILE *f, const patient_t *p)
{
    fprintf (f,
             "PID|1||%s^^^GH^MR||%s^%s||%04d%02d%02d|%c|||%s^^%s^%s^%s^USA||%s||||||%s\r",
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

static void
s_hl7_patient_feed (truth_t *t, rng_t *r, FILE *f, const patient_t *p, unsigned *control)
{
    when_t base = s_event (r, p);
    char dt[16], day[11], ctl[32];
    /* ADT^A01: demographics, encounter, 1-3 diagnoses */
    snprintf (ctl, sizeof (ctl), "GH%08u", (*control)++);
    s_msh (f, "ADT^A01", ctl, base);
    s_hl7_dt (base, dt, sizeof (dt));
    fprintf (f, "EVN|A01|%s\r", dt);
    s_pid (f, p);
    s_record (t, K_DEMO, p->partner, p->mrn, p->index, "", NULL, NULL, 0);
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
    }
    s_day (base, day);
    {
        const char *systems[] = {SYS_ACT};
        const char *codes[] = {s_classes[cl].act};
        s_record (t, K_ENC, p->partner, p->mrn, p->index, day, systems, codes, 1);
    }
    int n_dg = 1 + (int) s_below (r, 3), k = 1;
    for (int i = 0; i < n_dg; i++, k++) {
        unsigned c = s_below (r, N (s_conditions));
        when_t w = s_at (base, k);
        s_hl7_dt (w, dt, sizeof (dt));
        s_day (w, day);
        fprintf (f, "DG1|%d||%s^%s^I10||%s|A\r", i + 1, s_conditions[c].icd,
                 s_conditions[c].icd_display, dt);
        const char *systems[] = {SYS_ICD10};
        const char *codes[] = {s_conditions[c].icd};
        s_record (t, K_COND, p->partner, p->mrn, p->index, day, systems, codes, 1);
    }
    /* ORU^R01: the same PID (de-duplicates), 2-6 results */
    when_t obr = s_at (base, k++);
    snprintf (ctl, sizeof (ctl), "GH%08u", (*control)++);
    s_msh (f, "ORU^R01", ctl, obr);
    s_pid (f, p);
    s_hl7_dt (obr, dt, sizeof (dt));
    fprintf (f, "OBR|1||ORD%07ld|24323-8^Comprehensive metabolic panel^LN|||%s\r", p->index, dt);
    int n_obx = 2 + (int) s_below (r, 5);
    for (int i = 0; i < n_obx; i++, k++) {
        unsigned lab = s_below (r, N (s_labs));
        char value[32];
        s_value (r, lab, value, sizeof (value));
        when_t w = s_at (base, k);
        s_hl7_dt (w, dt, sizeof (dt));
        s_day (w, day);
        double v = atof (value);
        const char *flag = v > s_labs[lab].hi * 0.85 ? "H" : v < s_labs[lab].lo * 1.1 ? "L" : "N";
        fprintf (f, "OBX|%d|NM|%s^%s^LN||%s|%s|%.*f-%.*f|%s|||F|||%s\r", i + 1, s_labs[lab].code,
                 s_labs[lab].display, value, s_labs[lab].unit, s_labs[lab].decimals,
                 s_labs[lab].lo, s_labs[lab].decimals, s_labs[lab].hi * 0.85, flag, dt);
        const char *systems[] = {SYS_LOINC};
        const char *codes[] = {s_labs[lab].code};
        s_record (t, K_LAB, p->partner, p->mrn, p->index, day, systems, codes, 1);
    }
}

/* ---- invalid items: each yields exactly one quarantine entry, no record ---------- */

static void
s_invalid (truth_t *t, int which, FILE *f, const patient_t *p, unsigned *control)
{
    char ctl[32];
    switch (which % 5) {
    case 0:   /* FHIR NDJSON: impossible date */
        fprintf (f, "{\"resourceType\": \"Observation\", \"id\": \"bad-date-%d\", \"status\": "
                    "\"final\", \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"4548-4\"}]}, "
                    "\"subject\": {\"reference\": \"Patient/%s\"}, \"effectiveDateTime\": "
                    "\"2021-13-45\", \"valueQuantity\": {\"value\": 6.1, \"unit\": \"%%\"}}\n",
                 which, SYS_LOINC, p->uuid);
        break;
    case 1:   /* HL7: ORU whose PID-3 is empty */
        snprintf (ctl, sizeof (ctl), "GHBAD%05u", (*control)++);
        fprintf (f, "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5\r"
                    "PID|1||||%s^%s||19700101|F\r"
                    "OBX|1|NM|2345-7^Glucose^LN||99|mg/dL|||||F|||202103041015\r",
                 ctl, p->family, p->given);
        break;
    case 2:   /* FHIR NDJSON: no subject */
        fprintf (f, "{\"resourceType\": \"Observation\", \"id\": \"no-subject-%d\", \"status\": "
                    "\"final\", \"code\": {\"coding\": [{\"system\": \"%s\", \"code\": \"2345-7\"}]}, "
                    "\"effectiveDateTime\": \"2021-03-04\", \"valueQuantity\": {\"value\": 99, "
                    "\"unit\": \"mg/dL\"}}\n",
                 which, SYS_LOINC);
        break;
    case 3:   /* HL7: unsupported message type */
        snprintf (ctl, sizeof (ctl), "GHBAD%05u", (*control)++);
        fprintf (f, "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|20210304101500||ADT^A99|%s|P|2.5\r",
                 ctl);
        s_pid (f, p);
        break;
    default:  /* FHIR NDJSON: truncated JSON */
        fprintf (f, "{\"resourceType\": \"Observation\", \"id\": \"truncated-%d\", \"code\": "
                    "{\"coding\": [{\"system\": \"%s\"\n",
                 which, SYS_LOINC);
        break;
    }
    t->quarantined++;
}

static bool
s_invalid_is_hl7 (int which)
{
    return which % 5 == 1 || which % 5 == 3;
}

/* ---- files -------------------------------------------------------------------------- */

typedef struct {
    FILE *list;            /* JSON array body of the partner's files */
    size_t n_files;
    unsigned patients;
} partner_out_t;

static FILE *
s_open (const char *out_dir, partner_out_t *po, int partner, const char *name, hg_err_t *err)
{
    char rel[256], path[4096];
    snprintf (rel, sizeof (rel), "%s/%s/%s", s_partner_names[partner],
              s_partner_formats[partner], name);
    snprintf (path, sizeof (path), "%s/%s", out_dir, rel);
    FILE *f = fopen (path, "w");
    if (!f) {
        hg_err_set (err, HG_EIO, "cannot create %s: %s", path, strerror (errno));
        return NULL;
    }
    fprintf (po->list, "%s\"%s\"", po->n_files++ ? ", " : "", rel);
    return f;
}

static void
s_copy (FILE *from, FILE *to)
{
    rewind (from);
    char buf[65536];
    size_t n;
    while ((n = fread (buf, 1, sizeof (buf), from)) > 0) {
        fwrite (buf, 1, n, to);
    }
}

void
hg_simulate_opts_default (hg_simulate_opts_t *opts)
{
    opts->out_dir = NULL;
    opts->patients = 100;
    opts->seed = 1;
    opts->invalid = 0;
    opts->per_file = 50;
}

int
hg_simulate_run (const hg_simulate_opts_t *opts, hg_err_t *err)
{
    if (!opts->out_dir || !*opts->out_dir || opts->per_file == 0) {
        return hg_err_set (err, HG_EINVAL, "an output directory and per_file >= 1 are required");
    }
    for (int p = 0; p < N_PARTNERS; p++) {
        char dir[4096];
        snprintf (dir, sizeof (dir), "%s/%s/%s", opts->out_dir, s_partner_names[p],
                  s_partner_formats[p]);
        if (hg_mkdirs (dir, 0755, err) < 0) {
            return HG_EIO;
        }
    }
    truth_t t;
    memset (&t, 0, sizeof (t));
    t.facts = tmpfile ();
    for (int i = 0; i < 7; i++) {
        t.phi[i] = tmpfile ();
    }
    partner_out_t po[N_PARTNERS];
    memset (po, 0, sizeof (po));
    for (int i = 0; i < N_PARTNERS; i++) {
        po[i].list = tmpfile ();
    }
    rng_t r = {opts->seed * 0x9e3779b97f4a7c15ULL + 12345};
    FILE *cur[2] = {NULL, NULL};          /* open HL7 and NDJSON files */
    unsigned in_cur[2] = {0, 0}, file_no[2] = {0, 0}, control = 1;
    unsigned invalid_left = opts->invalid, invalid_no = 0;
    int rc = 0;
    for (long i = 0; i < (long) opts->patients && rc == 0; i++) {
        patient_t p;
        s_patient (&r, i, &p);
        po[p.partner].patients++;
        char birth[16];
        s_phi (&t, PHI_NAMES, p.given);
        s_phi (&t, PHI_NAMES, p.family);
        s_phi (&t, PHI_MRNS, p.mrn);
        s_phi (&t, PHI_SSNS, p.ssn);
        s_phi (&t, PHI_PHONES, p.phone);
        s_phi (&t, PHI_STREETS, p.street);
        snprintf (birth, sizeof (birth), "%04d-%02d-%02d", p.by, p.bm, p.bd);
        s_phi (&t, PHI_BIRTH, birth);
        snprintf (birth, sizeof (birth), "%04d%02d%02d", p.by, p.bm, p.bd);
        s_phi (&t, PHI_BIRTH, birth);
        if (p.partner != P_HOSPITAL) {
            s_phi (&t, PHI_IDS, p.uuid);
        }
        if (p.partner == P_CLINIC) {
            char name[64];
            snprintf (name, sizeof (name), "patient-%06ld.json", i);
            FILE *f = s_open (opts->out_dir, &po[P_CLINIC], P_CLINIC, name, err);
            if (!f) {
                rc = HG_EIO;
                break;
            }
            fprintf (f, "{\"resourceType\": \"Bundle\", \"type\": \"collection\", \"entry\": [");
            fhir_out_t o = {f, true, 0, NULL};
            s_fhir_patient_feed (&t, &r, &o, &p);
            fprintf (f, "\n]}\n");
            fclose (f);
            continue;
        }
        int k = p.partner == P_HOSPITAL ? 0 : 1;
        if (!cur[k]) {
            char name[64];
            snprintf (name, sizeof (name), "batch-%05u.%s", file_no[k]++, k ? "ndjson" : "hl7");
            cur[k] = s_open (opts->out_dir, &po[p.partner], p.partner, name, err);
            if (!cur[k]) {
                rc = HG_EIO;
                break;
            }
        }
        if (k == 0) {
            s_hl7_patient_feed (&t, &r, cur[k], &p, &control);
        }
        else {
            fhir_out_t o = {cur[k], false, 0, NULL};
            s_fhir_patient_feed (&t, &r, &o, &p);
        }
        /* spread invalid items: one after a patient of the matching format */
        if (invalid_left > 0 && s_invalid_is_hl7 ((int) invalid_no) == (k == 0)) {
            s_invalid (&t, (int) invalid_no++, cur[k], &p, &control);
            invalid_left--;
        }
        if (++in_cur[k] >= opts->per_file) {
            fclose (cur[k]);
            cur[k] = NULL;
            in_cur[k] = 0;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (cur[k]) {
            fclose (cur[k]);
        }
    }
    if (rc == 0 && invalid_left > 0) {
        rc = hg_err_set (err, HG_EINVAL,
                         "only %u of %u invalid items fit: use more patients (each needs a "
                         "patient of a matching format)", opts->invalid - invalid_left,
                         opts->invalid);
    }
    if (rc == 0) {
        char path[4096];
        snprintf (path, sizeof (path), "%s/truth.json", opts->out_dir);
        FILE *f = fopen (path, "w");
        if (!f) {
            rc = hg_err_set (err, HG_EIO, "cannot create %s: %s", path, strerror (errno));
        }
        else {
            fprintf (f, "{\"seed\": %" PRIu64 ", \"patients\": %u,\n \"partners\": {", opts->seed,
                     opts->patients);
            for (int p = 0; p < N_PARTNERS; p++) {
                fprintf (f, "%s\n  \"%s\": {\"format\": \"%s\", \"patients\": %u, \"files\": [",
                         p ? "," : "", s_partner_names[p], s_partner_formats[p], po[p].patients);
                s_copy (po[p].list, f);
                fprintf (f, "]}");
            }
            fprintf (f, "},\n \"quarantined\": %u,\n \"records\": {\"distinct\": %" PRIu64
                        ", \"by_kind\": {\"demographics\": %" PRIu64 ", \"encounter\": %" PRIu64
                        ", \"condition\": %" PRIu64 ", \"lab-observation\": %" PRIu64 "}},\n"
                        " \"codes\": {",
                     t.quarantined, t.distinct, t.by_kind[K_DEMO], t.by_kind[K_ENC],
                     t.by_kind[K_COND], t.by_kind[K_LAB]);
            for (size_t i = 0; i < t.n_codes; i++) {
                fprintf (f, "%s\n  \"%s\": {\"patients\": %" PRIu64 ", \"records\": %" PRIu64 "}",
                         i ? "," : "", t.codes[i].key, t.codes[i].patients, t.codes[i].records);
            }
            fprintf (f, "},\n \"facts\": [");
            s_copy (t.facts, f);
            fprintf (f, "],\n \"phi\": {");
            for (int i = 0; i < 7; i++) {
                fprintf (f, "%s\n  \"%s\": [", i ? "," : "", s_phi_keys[i]);
                s_copy (t.phi[i], f);
                fprintf (f, "]");
            }
            fprintf (f, "}}\n");
            if (fclose (f) != 0) {
                rc = hg_err_set (err, HG_EIO, "cannot write %s", path);
            }
        }
    }
    fclose (t.facts);
    for (int i = 0; i < 7; i++) {
        fclose (t.phi[i]);
    }
    for (int i = 0; i < N_PARTNERS; i++) {
        fclose (po[i].list);
    }
    free (t.codes);
    return rc;
}

static int
s_usage (FILE *out)
{
    fprintf (out,
             "usage: hourglass simulate --out DIR [--patients N] [--seed S] [--invalid N]\n"
             "                          [--per-file N]\n"
             "Writes realistic, identifying partner feeds (HL7 v2 from general-hospital, FHIR\n"
             "NDJSON from city-lab, FHIR Bundles from clinic-fhir) and DIR/truth.json, the\n"
             "ground truth: distinct records, patients and records per code, every fact, every\n"
             "identifying value. --invalid N adds N items that must each be quarantined.\n");
    return out == stderr ? 2 : 0;
}

int
hg_simulate_main (int argc, char **argv)
{
    hg_simulate_opts_t o;
    hg_simulate_opts_default (&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--help") == 0) {
            return s_usage (stdout);
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "hourglass simulate: %s needs a value\n", a);
            return s_usage (stderr);
        }
        const char *v = argv[++i];
        char *end = NULL;
        unsigned long long n = strtoull (v, &end, 10);
        bool numeric = end && *end == '\0' && *v;
        if (strcmp (a, "--out") == 0) {
            o.out_dir = v;
            continue;
        }
        if (!numeric) {
            fprintf (stderr, "hourglass simulate: %s wants a number, got '%s'\n", a, v);
            return 2;
        }
        if (strcmp (a, "--patients") == 0 && n <= 10000000) {
            o.patients = (unsigned) n;
        }
        else if (strcmp (a, "--seed") == 0) {
            o.seed = n;
        }
        else if (strcmp (a, "--invalid") == 0 && n <= 100000) {
            o.invalid = (unsigned) n;
        }
        else if (strcmp (a, "--per-file") == 0 && n >= 1 && n <= 1000000) {
            o.per_file = (unsigned) n;
        }
        else {
            fprintf (stderr, "hourglass simulate: bad option %s %s\n", a, v);
            return s_usage (stderr);
        }
    }
    if (!o.out_dir) {
        fprintf (stderr, "hourglass simulate: --out DIR is required\n");
        return s_usage (stderr);
    }
    hg_err_t err = {0};
    if (hg_simulate_run (&o, &err) < 0) {
        fprintf (stderr, "hourglass simulate: %s\n", err.msg);
        return 1;
    }
    printf ("simulated %u patients (seed %" PRIu64 ", %u invalid items) in %s\n", o.patients,
            o.seed, o.invalid, o.out_dir);
    return 0;
}
