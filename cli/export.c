/*
 * export.c -- `hourglass export --format ndjson|csv --out DIR`: every
 * indexer shard's de-identified records, paged over the control plane
 * (EXPORT, services/indexer/export_shard.c), written for tools that are not
 * ours (docs/analytics.md). Only de-identified fields are written; each
 * shard counts and logs what it exported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "opts.h"
#include "record.h"
#include "util.h"

#define S_PAGE 5000
#define S_MAX_SHARDS 64

static void
s_add_str (json_object *o, const char *key, const char *v)
{
    if (v && *v) {
        json_object_object_add (o, key, json_object_new_string (v));
    }
}

static void
s_ndjson (FILE *f, const Hourglass__Record *r)
{
    json_object *o = json_object_new_object ();
    s_add_str (o, "patient", r->patient_ref);
    s_add_str (o, "record_id", r->record_id);
    s_add_str (o, "kind", hg_record_kind_name (r->kind));
    s_add_str (o, "effective", r->effective);
    s_add_str (o, "effective_end", r->effective_end);
    json_object *codes = json_object_new_array ();
    for (size_t i = 0; i < r->n_codes; i++) {
        char buf[2100];
        snprintf (buf, sizeof (buf), "%s|%s", r->codes[i]->system, r->codes[i]->code);
        json_object_array_add (codes, json_object_new_string (buf));
    }
    json_object_object_add (o, "codes", codes);
    if (r->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && r->quantity) {
        json_object_object_add (o, "value", json_object_new_double (r->quantity->value));
        s_add_str (o, "unit", r->quantity->unit);
        s_add_str (o, "comparator", r->quantity->comparator);
    }
    else if (r->value_case == HOURGLASS__RECORD__VALUE_STRING_VALUE) {
        s_add_str (o, "value_string", r->string_value);
    }
    s_add_str (o, "status", r->status);
    s_add_str (o, "interpretation", r->interpretation);
    s_add_str (o, "text", r->text); /* scrubbed by the de-identifier */
    const Hourglass__Demographics *d = r->demographics;
    if (d) {
        s_add_str (o, "sex", d->sex);
        if (d->birth_year) {
            json_object_object_add (o, "birth_year", json_object_new_int (d->birth_year));
        }
        s_add_str (o, "age_group", d->age_group);
        s_add_str (o, "state", d->state);
        s_add_str (o, "postal_prefix", d->postal_prefix);
    }
    fprintf (f, "%s\n", json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN));
    json_object_put (o);
}

/* One CSV field, quoted when it must be. */
static void
s_csv_field (FILE *f, const char *v, bool last)
{
    v = v ? v : "";
    if (strpbrk (v, ",\"\r\n")) {
        fputc ('"', f);
        for (const char *p = v; *p; p++) {
            if (*p == '"') {
                fputc ('"', f);
            }
            fputc (*p, f);
        }
        fputc ('"', f);
    }
    else {
        fputs (v, f);
    }
    fputc (last ? '\n' : ',', f);
}

#define S_CSV_HEADER                                                                       \
    "patient,record_id,kind,effective,system,code,value,unit,sex,birth_year,state,postal_" \
    "prefix\n"

/* One row per code of the record (one row when it has none). */
static void
s_csv (FILE *f, const Hourglass__Record *r)
{
    const Hourglass__Demographics *d = r->demographics;
    char value[32] = "", year[8] = "";
    if (r->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && r->quantity) {
        snprintf (value, sizeof (value), "%.17g", r->quantity->value);
    }
    if (d && d->birth_year) {
        snprintf (year, sizeof (year), "%d", d->birth_year);
    }
    for (size_t i = 0; i < r->n_codes || (i == 0 && r->n_codes == 0); i++) {
        s_csv_field (f, r->patient_ref, false);
        s_csv_field (f, r->record_id, false);
        s_csv_field (f, hg_record_kind_name (r->kind), false);
        s_csv_field (f, r->effective, false);
        s_csv_field (f, r->n_codes ? r->codes[i]->system : "", false);
        s_csv_field (f, r->n_codes ? r->codes[i]->code : "", false);
        s_csv_field (f, value, false);
        s_csv_field (f, *value ? r->quantity->unit : "", false);
        s_csv_field (f, d ? d->sex : "", false);
        s_csv_field (f, year, false);
        s_csv_field (f, d ? d->state : "", false);
        s_csv_field (f, d ? d->postal_prefix : "", true);
    }
}

/* Pages through one shard; *n records written. */
static int
s_shard (void *zctx, const char *endpoint, FILE *f, bool csv, int page, uint64_t *n)
{
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__EXPORT;
    req.limit = (uint32_t) page;
    uint8_t cursor[64];
    for (;;) {
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        if (hg_control_call (zctx, endpoint, &req, 60000, &rep, &err) < 0) {
            fprintf (stderr, "hourglass export: %s\n", err.msg);
            return -1;
        }
        if (!rep->ok) {
            fprintf (stderr, "hourglass export: %s\n", rep->error);
            hourglass__control_reply__free_unpacked (rep, NULL);
            return -1;
        }
        for (size_t i = 0; i < rep->n_records; i++) {
            Hourglass__Record *r = hourglass__record__unpack (NULL, rep->records[i].len,
                                                              rep->records[i].data);
            if (r) {
                csv ? s_csv (f, r) : s_ndjson (f, r);
                hourglass__record__free_unpacked (r, NULL);
                (*n)++;
            }
        }
        bool more = rep->next.len > 0 && rep->next.len <= sizeof (cursor);
        if (more) {
            memcpy (cursor, rep->next.data, rep->next.len);
            req.after = (ProtobufCBinaryData) {rep->next.len, cursor};
        }
        hourglass__control_reply__free_unpacked (rep, NULL);
        if (!more) {
            return 0;
        }
    }
}

int
hg_cmd_export (int argc, char **argv)
{
    const char *cluster = NULL, *format = NULL, *out = NULL;
    bool json = false;
    int page = S_PAGE;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_REQUIRED ("--format", &format, "ndjson|csv", "the file format"),
        HG_CLI_OPT_REQUIRED ("--out", &out, "DIR", "where records.ndjson or records.csv goes"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_INT ("--page", &page, "N", "records per request to a shard", 1, 10000),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass export",
        .opts = opts,
        .about = "Every indexer shard's de-identified records (pseudonyms, shifted dates, kept\n"
                 "demographics, codes, values). ndjson: one record a line; csv: one row per\n"
                 "code. Each shard counts (`exported`) and logs what it gave.\n",
    };
    hg_cli_args_t args;
    int status = 0;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    hg_cli_args_free (&args);
    bool csv = strcmp (format, "csv") == 0;
    if (!csv && strcmp (format, "ndjson") != 0) {
        return hg_cli_usage_error (&spec, "--format must be ndjson or csv");
    }
    hg_cluster_t c;
    if (hg_cluster_load_for (cluster, &c, "hourglass export") < 0) {
        return 1;
    }
    const char *controls[S_MAX_SHARDS];
    size_t n_shards = hg_cluster_controls (&c, "indexer", controls, S_MAX_SHARDS);
    hg_err_t err;
    char path[4096];
    snprintf (path, sizeof (path), "%s/records.%s", out, csv ? "csv" : "ndjson");
    FILE *f = hg_mkdirs (out, 0700, &err) == 0 ? fopen (path, "w") : NULL;
    if (!f) {
        fprintf (stderr, "hourglass export: cannot write %s\n", path);
        hg_cluster_free (&c);
        return 1;
    }
    if (csv) {
        fputs (S_CSV_HEADER, f);
    }
    void *zctx = zmq_ctx_new ();
    uint64_t n = 0;
    for (size_t i = 0; i < n_shards && status == 0; i++) {
        status = s_shard (zctx, controls[i], f, csv, page, &n) < 0 ? 1 : 0;
    }
    if (fclose (f) != 0) {
        status = 1;
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    if (status == 0 && json) {
        printf ("{\"records\": %llu, \"shards\": %zu, \"file\": ", (unsigned long long) n,
                n_shards);
        hg_json_print_string (path, strlen (path));
        printf ("}\n");
    }
    else if (status == 0) {
        printf ("exported %llu records from %zu shards to %s\n", (unsigned long long) n, n_shards,
                path);
    }
    return status;
}
