/*
 * audit_tamper.c -- a test-only tool that tampers with analytics' audit
 * trail the way someone holding the store might, so that
 * tests/integration/test_api.py can check `hourglass audit verify` names
 * the entry (services/analytics/audit.h has the key layout). Built only
 * with the tests (build/bin/hg-audit-tamper); analytics must be stopped
 * (RocksDB locks its store).
 *
 *   hg-audit-tamper STORE change ID    rewrites entry ID's analyst (same key)
 *   hg-audit-tamper STORE delete ID    removes entry ID
 *   hg-audit-tamper STORE insert ID    adds a forged entry between ID and ID+1
 *   hg-audit-tamper STORE append       adds a well-chained entry after the last,
 *                                      the head left as it was
 *   hg-audit-tamper STORE rewrite ID   changes entry ID and recomputes every hash
 *                                      after it and the head (only an anchor kept
 *                                      elsewhere finds this)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "store.h"

static int
s_get_entry (hg_store_t *st, uint64_t id, Hourglass__AuditEntry **e)
{
    unsigned char key[HG_AUDIT_KEY_BYTES];
    hg_audit_key (id, key);
    char *val = NULL;
    size_t len = 0;
    hg_err_t err = {0};
    if (hg_store_get (st, key, sizeof (key), &val, &len, &err) < 0) {
        fprintf (stderr, "hg-audit-tamper: entry %" PRIu64 ": %s\n", id, err.msg);
        return -1;
    }
    *e = hourglass__audit_entry__unpack (NULL, len, (const uint8_t *) val);
    free (val);
    return *e ? 0 : -1;
}

static int
s_put (hg_store_t *st, const void *key, size_t klen, const Hourglass__AuditEntry *e)
{
    size_t len = hourglass__audit_entry__get_packed_size (e);
    uint8_t *buf = malloc (len ? len : 1);
    hourglass__audit_entry__pack (e, buf);
    hg_err_t err = {0};
    int rc = hg_store_put (st, key, klen, buf, len, &err);
    free (buf);
    if (rc < 0) {
        fprintf (stderr, "hg-audit-tamper: %s\n", err.msg);
    }
    return rc;
}

/* Entry id changed, then it and every later entry sealed again in order,
 * the head last: a chain as consistent as the original. */
static int
s_rewrite (hg_store_t *st, uint64_t id)
{
    hg_audit_head_t head = {0}, next;
    hg_err_t err = {0};
    Hourglass__AuditEntry *e = NULL;
    if (id > 1) {
        if (s_get_entry (st, id - 1, &e) < 0) {
            return -1;
        }
        /* the head as it was after id - 1: that entry's stored bytes' hash */
        size_t len = hourglass__audit_entry__get_packed_size (e);
        uint8_t *buf = malloc (len ? len : 1);
        hourglass__audit_entry__pack (e, buf);
        hourglass__audit_entry__free_unpacked (e, NULL);
        head.last_id = id - 1;
        crypto_generichash (head.last_hash, HG_AUDIT_HASH_BYTES, buf, len, NULL, 0);
        free (buf);
    }
    for (uint64_t k = id;; k++) {
        unsigned char key[HG_AUDIT_KEY_BYTES];
        hg_audit_key (k, key);
        if (!hg_store_exists (st, key, sizeof (key))) {
            break;
        }
        if (s_get_entry (st, k, &e) < 0) {
            return -1;
        }
        Hourglass__AuditEntry copy = *e; /* sealed; e keeps what it owns */
        if (k == id) {
            copy.analyst = (char *) "mallory";
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = hg_audit_seal (&head, &copy, &buf, &len, &next, &err);
        hourglass__audit_entry__free_unpacked (e, NULL);
        if (rc < 0 || hg_store_put (st, key, sizeof (key), buf, len, &err) < 0) {
            free (buf);
            return -1;
        }
        free (buf);
        head = next;
    }
    unsigned char hv[HG_AUDIT_HEAD_BYTES];
    hg_audit_head_pack (&head, hv);
    return hg_store_put (st, HG_AUDIT_HEAD_KEY, strlen (HG_AUDIT_HEAD_KEY), hv, sizeof (hv),
                         &err);
}

int
main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr,
                 "usage: hg-audit-tamper STORE change|delete|insert|rewrite ID | append\n");
        return 2;
    }
    const char *op = argv[2];
    uint64_t id = argc > 3 ? strtoull (argv[3], NULL, 10) : 0;
    hg_store_opts_t opts = {.sync = true};
    hg_err_t err = {0};
    hg_store_t *st = hg_store_open (argv[1], &opts, &err);
    if (!st) {
        fprintf (stderr, "hg-audit-tamper: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    unsigned char key[HG_AUDIT_KEY_BYTES + 1];
    Hourglass__AuditEntry *e = NULL;
    if (strcmp (op, "change") == 0 && s_get_entry (st, id, &e) == 0) {
        Hourglass__AuditEntry copy = *e;
        copy.analyst = (char *) "mallory";
        hg_audit_key (id, key);
        rc = s_put (st, key, HG_AUDIT_KEY_BYTES, &copy) < 0;
    }
    else if (strcmp (op, "delete") == 0) {
        hg_store_batch_t *wb = hg_store_batch_new ();
        hg_audit_key (id, key);
        hg_store_batch_delete (wb, key, HG_AUDIT_KEY_BYTES);
        rc = hg_store_write (st, wb, true, &err) < 0;
        hg_store_batch_destroy (&wb);
    }
    else if (strcmp (op, "insert") == 0 && s_get_entry (st, id, &e) == 0) {
        hg_audit_key (id, key);
        key[HG_AUDIT_KEY_BYTES] = 0x01; /* sorts between id and id + 1 */
        Hourglass__AuditEntry copy = *e;
        copy.request = (char *) "{\"forged\": true}";
        rc = s_put (st, key, sizeof (key), &copy) < 0;
    }
    else if (strcmp (op, "rewrite") == 0) {
        rc = s_rewrite (st, id) < 0;
    }
    else if (strcmp (op, "append") == 0) {
        char *val = NULL;
        size_t len = 0;
        hg_audit_head_t head;
        if (hg_store_get (st, HG_AUDIT_HEAD_KEY, strlen (HG_AUDIT_HEAD_KEY), &val, &len, &err)
                == 0
            && hg_audit_head_parse (val, len, &head, &err) == 0) {
            Hourglass__AuditEntry f = HOURGLASS__AUDIT_ENTRY__INIT;
            f.analyst = (char *) "mallory";
            f.role = (char *) "aggregate";
            f.via = (char *) "http";
            f.request = (char *) "{\"forged\": true}";
            uint8_t *buf = NULL;
            size_t blen = 0;
            hg_audit_head_t next;
            if (hg_audit_seal (&head, &f, &buf, &blen, &next, &err) == 0) {
                hg_audit_key (next.last_id, key);
                rc = hg_store_put (st, key, HG_AUDIT_KEY_BYTES, buf, blen, &err) < 0;
            }
            free (buf);
        }
        free (val);
    }
    if (rc) {
        fprintf (stderr, "hg-audit-tamper: %s %s failed %s\n", op, argc > 3 ? argv[3] : "",
                 err.msg);
    }
    if (e) {
        hourglass__audit_entry__free_unpacked (e, NULL);
    }
    hg_store_close (&st);
    return rc;
}
