#include "cleanse.h"

#include <string.h>

#include "fhir.h"
#include "normalize.h"
#include "parsekit.h"
#include "record.h"
#include "util.h"

/* Whether a link of partner's Patient id can be made or looked up. */
static bool
s_linkable (const char *partner, const char *patient_id)
{
    return strlen (partner) + strlen (patient_id) <= HG_CLEANSE_LINK_MAX;
}

/* Step 1a: a link for every FHIR Patient of the payload that the parser
 * linked to an identifier, unless the round has that link already. */
static int
s_links_from_patients (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record **recs,
                       size_t n, hg_cleanse_result_t *out, hg_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const Hourglass__Record *r = recs[i];
        const char *src = r->provenance ? r->provenance->source_record_id : "";
        if (r->kind != HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS || hg_fhir_record_unlinked (r)
            || strncmp (src, "Patient/", 8) != 0 || hg_str_empty (r->patient_ref)) {
            continue;
        }
        /* the parser caps the id in source_record_id at 80 characters:
         * longer ids (not valid FHIR, which allows 64) are not linked */
        const char *id = src + 8;
        if (strlen (id) >= 80 || !s_linkable (ctx->partner, id)) {
            continue;
        }
        const char *known = hg_links_get (ctx->links, ctx->partner, id);
        if (known && strcmp (known, r->patient_ref) == 0) {
            continue;
        }
        if (!out->links) {
            out->links = hg_arena_alloc (a, n * sizeof (*out->links));
        }
        if (!out->links || hg_links_add (ctx->links, ctx->partner, id, r->patient_ref) < 0) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        out->links[out->n_links].patient_id = id;
        out->links[out->n_links].identifier = r->patient_ref;
        out->n_links++;
    }
    return 0;
}

/* The identifier linked to partner's Patient patient_id, copied into a:
 * from the round's links, else from those committed earlier. Returns 0,
 * HG_ENOTFOUND or HG_ENOMEM. */
static int
s_linked_identifier (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, const char *patient_id,
                     char **id)
{
    const char *pending = hg_links_get (ctx->links, ctx->partner, patient_id);
    if (pending) {
        *id = hg_arena_strdup (a, pending);
        return *id ? 0 : HG_ENOMEM;
    }
    if (!ctx->lookup) {
        return HG_ENOTFOUND;
    }
    int rc = ctx->lookup (ctx->lookup_arg, a, ctx->partner, patient_id, id);
    return rc == 0 && !*id ? HG_ENOMEM : rc;
}

/* Step 1b: the identifier of the payload's records still flagged unlinked. */
static int
s_relink (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record **recs, size_t n,
          hg_cleanse_result_t *out, hg_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = recs[i];
        if (!hg_fhir_record_unlinked (r) || !s_linkable (ctx->partner, r->patient_ref)) {
            continue;
        }
        char *id = NULL;
        int rc = s_linked_identifier (ctx, a, r->patient_ref, &id);
        if (rc == HG_ENOTFOUND) {
            continue;
        }
        if (rc < 0) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        r->patient_ref = id;
        if (!hg_parse_drop_flag (a, r, HG_FHIR_FLAG_UNLINKED)) { /* others stay */
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        out->relinked++;
    }
    return 0;
}

/* The payload's demographics records, to check dates against birth and
 * death: looked up per record among those only, with the last match cached
 * (a patient's records usually follow each other). */
typedef struct {
    Hourglass__Record **demo;
    size_t n_demo;
    const Hourglass__Record *last;
} s_patients_t;

static void
s_patients_init (s_patients_t *self, hg_arena_t *a, Hourglass__Record **recs, size_t n)
{
    self->demo = hg_arena_alloc (a, (n ? n : 1) * sizeof (*self->demo));
    self->n_demo = 0;
    self->last = NULL;
    for (size_t i = 0; self->demo && i < n; i++) {
        if (recs[i]->demographics) {
            self->demo[self->n_demo++] = recs[i];
        }
    }
}

/* The demographics record of r's patient in the payload, or NULL. */
static const Hourglass__Record *
s_patients_find (s_patients_t *self, const Hourglass__Record *r)
{
    if (!self->last || strcmp (self->last->patient_ref, r->patient_ref) != 0) {
        self->last = NULL;
        for (size_t j = 0; j < self->n_demo && !self->last; j++) {
            if (strcmp (self->demo[j]->patient_ref, r->patient_ref) == 0) {
                self->last = self->demo[j];
            }
        }
    }
    return self->last;
}

/* Step 2 for one record: normalised, its flags appended as codes. */
static int
s_normalize (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record *r,
             const Hourglass__Record *patient, hg_cleanse_result_t *out, hg_err_t *err)
{
    hg_norm_ctx_t nctx = {.today_days = ctx->today_days};
    const char *birth = patient ? patient->demographics->birth_date : NULL;
    const char *death = patient ? patient->demographics->deceased_date : NULL;
    hg_flag_t flags[HG_NORM_MAX_FLAGS];
    int nf = hg_normalize_record (&nctx, a, r, birth, death, flags, HG_NORM_MAX_FLAGS);
    if (nf < 0) {
        return hg_err_set (err, HG_ENOMEM, "out of memory normalising a record");
    }
    out->unlinked += hg_fhir_record_unlinked (r);
    /* the parser's own flags (an invalid FHIR id, a PatientSex that changed)
     * count like normalisation's; "patient.unlinked" is a data-quality flag,
     * not counted in plausibility */
    size_t parser_flags = 0;
    for (size_t i = 0; i < r->n_flags; i++) {
        if (strcmp (r->flags[i], HG_FHIR_FLAG_UNLINKED) != 0) {
            parser_flags++;
            if (out->n_flag_codes < HG_CLEANSE_FLAG_CODES_MAX) {
                out->flag_codes[out->n_flag_codes++] = r->flags[i];
            }
        }
    }
    if (nf == 0) {
        out->flagged += parser_flags > 0;
        return 0;
    }
    out->flagged++;
    char **all = hg_arena_alloc (a, (r->n_flags + (size_t) nf) * sizeof (char *));
    if (!all) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    if (r->n_flags) {
        memcpy (all, r->flags, r->n_flags * sizeof (char *));
    }
    r->flags = all;
    for (int f = 0; f < nf; f++) {
        r->flags[r->n_flags++] = (char *) flags[f].code;
        if (out->n_flag_codes < HG_CLEANSE_FLAG_CODES_MAX) {
            out->flag_codes[out->n_flag_codes++] = flags[f].code;
        }
    }
    return 0;
}

/* Steps 3 and 4 for one record. */
static int
s_provenance_and_key (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record *r,
                      hg_err_t *err)
{
    if (!r->provenance) {
        r->provenance = hg_provenance_new (a);
    }
    if (!r->provenance) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    r->provenance->partner = (char *) ctx->partner;
    r->provenance->source_message_id = (char *) ctx->message_id;
    if (!*r->provenance->source_format) {
        r->provenance->source_format = (char *) ctx->format;
    }
    if (hg_record_set_content_key (a, r) < 0) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    return 0;
}

/* Step 1c for one DICOM record: its PatientSex against the one the
 * partner's previous DICOM file of the same PatientID gave (HG_CLEANSE_SEX_ID
 * in the links); a different one flags the record HG_CLEANSE_FLAG_SEX_CHANGED.
 * The sex given now is remembered (a new link when it changed or is new). */
static int
s_check_sex (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record *r,
             hg_cleanse_result_t *out, size_t n, hg_err_t *err)
{
    const char *sex = r->demographics ? r->demographics->sex : NULL;
    if (!r->provenance || strcmp (r->provenance->source_format, "dicom") != 0 || !sex || !*sex
        || strcmp (sex, "unknown") == 0 || hg_str_empty (r->patient_ref)) {
        return 0;
    }
    char *key = hg_arena_printf (a, "%s%s", HG_CLEANSE_SEX_ID, r->patient_ref);
    if (!key) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    if (!s_linkable (ctx->partner, key)) {
        return 0;
    }
    char *before = NULL;
    int rc = s_linked_identifier (ctx, a, key, &before);
    if (rc == HG_ENOMEM) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    if (rc == 0 && strcmp (before, sex) == 0) {
        return 0;
    }
    if (rc == 0 && !hg_parse_add_flag (a, r, HG_CLEANSE_FLAG_SEX_CHANGED)) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    if (!out->links) {
        out->links = hg_arena_alloc (a, (n ? n : 1) * sizeof (*out->links));
    }
    if (!out->links || hg_links_add (ctx->links, ctx->partner, key, sex) < 0) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    out->links[out->n_links].patient_id = key;
    out->links[out->n_links].identifier = sex;
    out->n_links++;
    return 0;
}

int
hg_cleanse (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record **recs, size_t n,
            hg_cleanse_result_t *out, hg_err_t *err)
{
    out->links = NULL;
    out->n_links = 0;
    out->n_flag_codes = 0;
    out->flagged = out->relinked = out->unlinked = 0;
    if (ctx->link_patients
        && (s_links_from_patients (ctx, a, recs, n, out, err) < 0
            || s_relink (ctx, a, recs, n, out, err) < 0)) {
        return err->code;
    }
    for (size_t i = 0; ctx->links && i < n; i++) {
        if (s_check_sex (ctx, a, recs[i], out, n, err) < 0) {
            return err->code;
        }
    }
    s_patients_t patients;
    s_patients_init (&patients, a, recs, n);
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = recs[i];
        if (s_normalize (ctx, a, r, s_patients_find (&patients, r), out, err) < 0
            || s_provenance_and_key (ctx, a, r, err) < 0) {
            return err->code;
        }
    }
    return 0;
}
