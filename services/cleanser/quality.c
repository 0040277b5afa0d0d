/*
 * quality.c -- per-partner data-quality figures.
 */
#include "quality.h"

#include "fhir.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HG_Q_MAX_PARTNERS 256
#define HG_Q_MAX_REASONS 64
#define HG_Q_MAX_FLAGS 32
#define HG_Q_EXAMPLES 3

typedef struct {
    char reason[256];
    uint64_t count;
    char examples[HG_Q_EXAMPLES][320];
    int n_examples;
} reason_t;

typedef struct {
    char flag[HG_IGNORE_KIND_MAX];
    uint64_t count;
} flag_t;

typedef struct {
    char name[128];
    uint64_t messages, records, rejected, ignored, complete, flagged;
    reason_t reasons[HG_Q_MAX_REASONS];
    int n_reasons;
    flag_t flags[HG_Q_MAX_FLAGS];
    int n_flags;
    flag_t ignored_kinds[HG_QUALITY_IGNORED_KINDS];
    int n_ignored_kinds;
} partner_t;

struct hg_quality {
    partner_t *partners[HG_Q_MAX_PARTNERS];
    size_t n;
};

hg_quality_t *
hg_quality_new (void)
{
    return calloc (1, sizeof (hg_quality_t));
}

void
hg_quality_destroy (hg_quality_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    for (size_t i = 0; i < (*self_p)->n; i++) {
        free ((*self_p)->partners[i]);
    }
    free (*self_p);
    *self_p = NULL;
}

static partner_t *
s_partner (hg_quality_t *self, const char *name, int create)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp (self->partners[i]->name, name) == 0) {
            return self->partners[i];
        }
    }
    if (!create || self->n == HG_Q_MAX_PARTNERS) {
        return NULL;
    }
    partner_t *p = calloc (1, sizeof (*p));
    if (!p) {
        return NULL;
    }
    snprintf (p->name, sizeof (p->name), "%s", name);
    self->partners[self->n++] = p;
    return p;
}

/* True for characters that make a digit run part of a name (PID-3, ADT^A01). */
static int
s_name_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '^' || c == '_'
           || c == '.' || c == '/' || c == '[';
}

void
hg_quality_reason_class (const char *reason, char *out, size_t size)
{
    const char *p = reason;
    /* a leading "<Type>/<id>: " or "line N: " names the instance, not the mistake */
    const char *colon = strstr (p, ": ");
    if (colon && colon - p < 120) {
        const char *slash = memchr (p, '/', (size_t) (colon - p));
        bool resource = slash && slash > p && p[0] >= 'A' && p[0] <= 'Z'
                        && !memchr (p, ' ', (size_t) (colon - p));
        bool line = strncmp (p, "line ", 5) == 0;
        if (resource || line) {
            p = colon + 2;
        }
        else if (strncmp (p, "row ", 4) == 0) {
            /* "row N column X: ..." keeps the column, which is the mistake */
            const char *q = p + 4;
            while (*q >= '0' && *q <= '9') {
                q++;
            }
            p = *q == ' ' ? q + 1 : p;
        }
    }
    size_t o = 0;
    int quoted = 0;
    char prev = ' ';
    for (; *p && o + 6 < size; p++) {
        if (*p == '\'') {
            if (!quoted) {
                memcpy (out + o, "'\xe2\x80\xa6'", 5); /* '…' */
                o += 5;
            }
            quoted = !quoted;
        }
        else if (quoted) {
            continue;
        }
        else if (*p >= '0' && *p <= '9' && !s_name_char (prev)) {
            const char *q = p;
            while (q[1] >= '0' && q[1] <= '9') {
                q++;
            }
            if (s_name_char (q[1])) {
                out[o++] = *p; /* part of a name after all, e.g. 2023-... */
            }
            else {
                out[o++] = 'N';
                p = q;
            }
        }
        else if (*p >= '0' && *p <= '9') {
            /* a digit run glued to a name (A99, PID-3) is part of that name */
            while (*p >= '0' && *p <= '9' && o + 6 < size) {
                out[o++] = *p++;
            }
            p--;
        }
        else {
            out[o++] = *p;
        }
        prev = *p;
    }
    out[o < size ? o : size - 1] = '\0';
}

int
hg_quality_complete (const Hourglass__Record *rec)
{
    if (hg_str_empty (rec->patient_ref)) {
        return 0;
    }
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS) {
        return rec->demographics && !hg_str_empty (rec->demographics->birth_date)
               && !hg_str_empty (rec->demographics->sex);
    }
    if (rec->n_codes == 0 || hg_str_empty (rec->effective)) {
        return 0;
    }
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
        return rec->value_case != HOURGLASS__RECORD__VALUE__NOT_SET;
    }
    return 1;
}

/* Adds count to the partner's figure for flag name (a new entry when there
 * is room). */
static void
s_flag_add (partner_t *p, const char *name, uint64_t count)
{
    flag_t *f = NULL;
    for (int k = 0; k < p->n_flags && !f; k++) {
        f = strcmp (p->flags[k].flag, name) == 0 ? &p->flags[k] : NULL;
    }
    if (!f && p->n_flags < HG_Q_MAX_FLAGS) {
        f = &p->flags[p->n_flags++];
        snprintf (f->flag, sizeof (f->flag), "%s", name);
    }
    if (f) {
        f->count += count;
    }
}

void
hg_quality_message (hg_quality_t *self, const char *partner, const char *message_id,
                    Hourglass__Record *const *records, size_t n_records,
                    const hg_reject_t *rejects, size_t n_rejects, size_t ignored,
                    const char *const *flags, size_t n_flags, size_t flagged)
{
    partner_t *p = s_partner (self, partner, 1);
    if (!p) {
        return;
    }
    p->messages++;
    p->records += n_records;
    p->rejected += n_rejects;
    p->ignored += ignored;
    p->flagged += flagged;
    uint64_t unlinked = 0;
    for (size_t i = 0; i < n_records; i++) {
        p->complete += (uint64_t) hg_quality_complete (records[i]);
        unlinked += hg_fhir_record_unlinked (records[i]);
    }
    if (unlinked) {
        s_flag_add (p, HG_FHIR_FLAG_UNLINKED, unlinked);
    }
    for (size_t i = 0; i < n_rejects; i++) {
        char cls[256];
        hg_quality_reason_class (rejects[i].reason, cls, sizeof (cls));
        reason_t *r = NULL;
        for (int k = 0; k < p->n_reasons && !r; k++) {
            r = strcmp (p->reasons[k].reason, cls) == 0 ? &p->reasons[k] : NULL;
        }
        if (!r && p->n_reasons < HG_Q_MAX_REASONS) {
            r = &p->reasons[p->n_reasons++];
            snprintf (r->reason, sizeof (r->reason), "%s", cls);
        }
        if (!r) {
            continue; /* beyond the reasons we keep: still counted in rejected */
        }
        r->count++;
        if (r->n_examples < HG_Q_EXAMPLES) {
            snprintf (r->examples[r->n_examples++], sizeof (r->examples[0]),
                      "%.120s at %.80s: %.110s", message_id, rejects[i].location,
                      rejects[i].reason);
        }
    }
    for (size_t i = 0; flags && i < n_flags; i++) {
        s_flag_add (p, flags[i], 1);
    }
}

static flag_t *
s_ignored_find (partner_t *p, const char *name, bool create)
{
    for (int k = 0; k < p->n_ignored_kinds; k++) {
        if (strcmp (p->ignored_kinds[k].flag, name) == 0) {
            return &p->ignored_kinds[k];
        }
    }
    if (!create || p->n_ignored_kinds == HG_QUALITY_IGNORED_KINDS) {
        return NULL;
    }
    flag_t *f = &p->ignored_kinds[p->n_ignored_kinds++];
    snprintf (f->flag, sizeof (f->flag), "%s", name);
    f->count = 0;
    return f;
}

/* Adds count to the ignored kind name of p; past the kinds kept (the last
 * slot is kept for them), to "other". */
static void
s_ignored_add (partner_t *p, const char *name, uint64_t count)
{
    bool room = p->n_ignored_kinds < HG_QUALITY_IGNORED_KINDS - 1;
    flag_t *f = s_ignored_find (p, name, room || strcmp (name, "other") == 0);
    if (!f) {
        f = s_ignored_find (p, "other", true);
    }
    if (f) {
        f->count += count;
    }
}

void
hg_quality_ignored (hg_quality_t *self, const char *partner, const hg_ignored_t *kinds, size_t n)
{
    partner_t *p = s_partner (self, partner, 1);
    for (size_t i = 0; p && i < n; i++) {
        s_ignored_add (p, kinds[i].kind, kinds[i].count);
    }
}

void
hg_quality_replayed (hg_quality_t *self, const char *partner, uint64_t records_before,
                     uint64_t records_after, uint64_t rejects_before, uint64_t rejects_after)
{
    partner_t *p = s_partner (self, partner, 1);
    if (!p) {
        return;
    }
    p->records = p->records - (records_before < p->records ? records_before : p->records)
                 + records_after;
    p->rejected = p->rejected - (rejects_before < p->rejected ? rejects_before : p->rejected)
                  + rejects_after;
}

int
hg_quality_load (hg_quality_t *self, const uint8_t *data, size_t len)
{
    Hourglass__PartnerQuality *q = hourglass__partner_quality__unpack (NULL, len, data);
    if (!q) {
        return -1;
    }
    /* a restore is a merge into empty figures */
    partner_t *p = s_partner (self, q->partner, 1);
    if (p) {
        char name[sizeof (p->name)];
        memcpy (name, p->name, sizeof (name));
        memset (p, 0, sizeof (*p));
        memcpy (p->name, name, sizeof (name));
    }
    hourglass__partner_quality__free_unpacked (q, NULL);
    return p ? hg_quality_merge (self, data, len) : -1;
}

int
hg_quality_merge (hg_quality_t *self, const uint8_t *data, size_t len)
{
    Hourglass__PartnerQuality *q = hourglass__partner_quality__unpack (NULL, len, data);
    if (!q) {
        return -1;
    }
    partner_t *p = s_partner (self, q->partner, 1);
    if (p) {
        p->messages += q->messages;
        p->records += q->records;
        p->rejected += q->rejected;
        p->ignored += q->ignored;
        p->complete += q->complete;
        p->flagged += q->flagged;
        for (size_t i = 0; i < q->n_reasons; i++) {
            reason_t *r = NULL;
            for (int k = 0; k < p->n_reasons && !r; k++) {
                if (strcmp (p->reasons[k].reason, q->reasons[i]->reason) == 0) {
                    r = &p->reasons[k];
                }
            }
            if (!r && p->n_reasons < HG_Q_MAX_REASONS) {
                r = &p->reasons[p->n_reasons++];
                memset (r, 0, sizeof (*r));
                snprintf (r->reason, sizeof (r->reason), "%s", q->reasons[i]->reason);
            }
            if (!r) {
                continue;
            }
            r->count += q->reasons[i]->count;
            for (size_t e = 0; e < q->reasons[i]->n_examples && r->n_examples < HG_Q_EXAMPLES;
                 e++) {
                snprintf (r->examples[r->n_examples++], sizeof (r->examples[0]), "%s",
                          q->reasons[i]->examples[e]);
            }
        }
        for (size_t i = 0; i < q->n_flags; i++) {
            flag_t *f = NULL;
            for (int k = 0; k < p->n_flags && !f; k++) {
                if (strcmp (p->flags[k].flag, q->flags[i]->flag) == 0) {
                    f = &p->flags[k];
                }
            }
            if (!f && p->n_flags < HG_Q_MAX_FLAGS) {
                f = &p->flags[p->n_flags++];
                snprintf (f->flag, sizeof (f->flag), "%s", q->flags[i]->flag);
                f->count = 0;
            }
            if (f) {
                f->count += q->flags[i]->count;
            }
        }
        for (size_t i = 0; i < q->n_ignored_kinds; i++) {
            s_ignored_add (p, q->ignored_kinds[i]->flag, q->ignored_kinds[i]->count);
        }
    }
    hourglass__partner_quality__free_unpacked (q, NULL);
    return p ? 0 : -1;
}

size_t
hg_quality_pack (const hg_quality_t *self, const char *partner, uint8_t **out)
{
    partner_t *p = s_partner ((hg_quality_t *) self, partner, 0);
    if (!p) {
        return 0;
    }
    Hourglass__PartnerQuality q = HOURGLASS__PARTNER_QUALITY__INIT;
    Hourglass__ReasonCount rc[HG_Q_MAX_REASONS], *rcp[HG_Q_MAX_REASONS];
    char *ex[HG_Q_MAX_REASONS][HG_Q_EXAMPLES];
    Hourglass__FlagCount fc[HG_Q_MAX_FLAGS], *fcp[HG_Q_MAX_FLAGS];
    q.partner = p->name;
    q.messages = p->messages;
    q.records = p->records;
    q.rejected = p->rejected;
    q.ignored = p->ignored;
    q.complete = p->complete;
    q.flagged = p->flagged;
    for (int i = 0; i < p->n_reasons; i++) {
        hourglass__reason_count__init (&rc[i]);
        rc[i].reason = p->reasons[i].reason;
        rc[i].count = p->reasons[i].count;
        for (int e = 0; e < p->reasons[i].n_examples; e++) {
            ex[i][e] = p->reasons[i].examples[e];
        }
        rc[i].n_examples = (size_t) p->reasons[i].n_examples;
        rc[i].examples = ex[i];
        rcp[i] = &rc[i];
    }
    q.n_reasons = (size_t) p->n_reasons;
    q.reasons = rcp;
    for (int i = 0; i < p->n_flags; i++) {
        hourglass__flag_count__init (&fc[i]);
        fc[i].flag = (char *) p->flags[i].flag;
        fc[i].count = p->flags[i].count;
        fcp[i] = &fc[i];
    }
    q.n_flags = (size_t) p->n_flags;
    q.flags = fcp;
    Hourglass__FlagCount ic[HG_QUALITY_IGNORED_KINDS], *icp[HG_QUALITY_IGNORED_KINDS];
    for (int i = 0; i < p->n_ignored_kinds; i++) {
        hourglass__flag_count__init (&ic[i]);
        ic[i].flag = (char *) p->ignored_kinds[i].flag;
        ic[i].count = p->ignored_kinds[i].count;
        icp[i] = &ic[i];
    }
    q.n_ignored_kinds = (size_t) p->n_ignored_kinds;
    q.ignored_kinds = icp;
    size_t len = hourglass__partner_quality__get_packed_size (&q);
    *out = malloc (len ? len : 1);
    if (!*out) {
        return 0;
    }
    hourglass__partner_quality__pack (&q, *out);
    return len;
}

size_t
hg_quality_partners (const hg_quality_t *self, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n && n < max; i++) {
        names[n++] = self->partners[i]->name;
    }
    return n;
}
