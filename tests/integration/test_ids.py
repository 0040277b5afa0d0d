"""
test_ids.py -- partner-chosen ids never pass the de-identifier and never
reach a log in clear (issue 11, path 1). Files named like Synthea's
(Given123_Family456_<uuid>.json) pushed with the default batch id (built
from the file name), an explicit --batch-id, HL7 v2 with an MRN as MSH-10
over ZeroMQ and over MLLP, and FHIR over HTTP with an X-Batch-Id: after the
run the raw bytes of every file under the deid, indexer and analytics data
directories (--compression none) and of every log file hold none of the
planted strings, while the collector and cleanser stores (pre-deid) do.
Past the cleanser a message is its keyed pseudonym ("<pseudonym>#<shard>"
in the indexers' de-dup markers); the cleanser logs each quarantine as
`fingerprint=<12 hex>`, and `hourglass fingerprint` gives the same value.
Pushing the same files again is idempotent.
"""
import glob
import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.request

import hg

UUID = "5f0c2a9e-8d41-4b7e-9c3a-1e2f3a4b5c6d"
GOOD = "Jane123_Roe456_%s.json" % UUID
EDGE = "Ann321_Lee654_%s.json" % UUID     # a record the de-identifier quarantines
BAD = "Jane123_Roe456_%s-bad.hl7" % UUID
HL7 = "Mary789_Poe012_%s.hl7" % UUID
BATCH_ID = "MRN55443322-20240301T101500"   # a sender's date-time and MRN
MSH10 = "MRN99887766"                     # in a file pushed over ZeroMQ
MSH10_MLLP = "MRN66778899"
MSH10_BAD = "MRN11223344"                 # in a message the cleanser quarantines
HTTP_BATCH = "Doe_John_19800101"
TOKENS = "tok-ids-0123456789abcdef clinic-http\n"
PARTNER = "synthea"

NEEDLES = [b"Jane123", b"Roe456", b"Ann321", b"Lee654", b"Mary789", b"Poe012", UUID.encode(), BATCH_ID.encode(),
           MSH10.encode(), MSH10_MLLP.encode(), MSH10_BAD.encode(), HTTP_BATCH.encode()]


def _bundle(pid, value):
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:%s" % pid,
         "resource": {"resourceType": "Patient", "id": pid, "gender": "female",
                      "birthDate": "1970-01-01"}},
        {"resource": {"resourceType": "Observation", "id": pid + "-o", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                      "subject": {"reference": "urn:uuid:%s" % pid},
                      "effectiveDateTime": "2021-03-01T10:00:00Z",
                      "valueQuantity": {"value": value, "unit": "mg/dL"}}}]}).encode()


def _edge_dates(pid):
    """A patient's observations dated 0001-01-01 and 9999-12-31: whatever its shift,
    one of them cannot be date-shifted, and the de-identifier quarantines it."""
    obs = [{"resource": {"resourceType": "Observation", "id": "%s-o%d" % (pid, i),
                         "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                         "subject": {"reference": "urn:uuid:%s" % pid},
                         "effectiveDateTime": day,
                         "valueQuantity": {"value": 90, "unit": "mg/dL"}}}
           for i, day in enumerate(["0001-01-01", "9999-12-31"])]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:%s" % pid,
         "resource": {"resourceType": "Patient", "id": pid, "gender": "male"}}] + obs}).encode()


def _hl7(ctl, mrn, value, kind="ORU^R01"):
    return ("MSH|^~\\&|LIS|CITYLAB|HOURGLASS|HG|20210304101500||%s|%s|P|2.5\r"
            "PID|1||%s^^^CL^MR||Doe^Jane||19700101|F\r"
            "OBR|1|||24323-8^Panel^LN|||20210304\r"
            "OBX|1|NM|2345-7^Glucose^LN||%s|mg/dL|70-99|N|||F|||20210304101500\r"
            % (kind, ctl, mrn, value)).encode()


def _default_batch_id(path, data):
    """push's default batch id: the file name + 8-byte BLAKE2b of the content."""
    return "%s-%s" % (os.path.basename(path), hashlib.blake2b(data, digest_size=8).hexdigest())


def _fingerprint(key, message_id):
    """common/fingerprint.h"""
    return hashlib.blake2b(message_id.encode(), key=key, digest_size=16).hexdigest()[:12]


def _dirs(c, *patterns):
    out = []
    for p in patterns:
        out += sorted(d for d in glob.glob(os.path.join(c.dir, "data", p)) if os.path.isdir(d))
    return out


def test_partner_ids_stop_at_the_cleanser(make_cluster, tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    files = {GOOD: _bundle("pat-ids-1", 101), BAD: _hl7(MSH10_BAD, "CL-7", 99, "XYZ^Q01"),
             HL7: _hl7(MSH10, "CL-8", 120), "explicit.json": _bundle("pat-ids-2", 88),
             EDGE: _edge_dates("pat-ids-4")}
    for name, data in files.items():
        (feed / name).write_bytes(data)
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    c = make_cluster("ids")
    c.up("--cleansers", "1", "--deids", "1", "--shards", "2", "--min-cell", "0",
         "--heartbeat-ms", "200", "--compression", "none", "--http-tokens", str(tokens))

    fhir = [str(feed / GOOD), str(feed / EDGE)]
    r = c.push(fhir, "fhir", PARTNER)
    assert r.json()["accepted"] == 2, r
    r = hg.run("push", "--cluster", c.dir, "--format", "fhir", "--partner", PARTNER,
               "--batch-id", BATCH_ID, "--wait", 120, "--json", str(feed / "explicit.json"),
               timeout=200)
    assert r.rc == 0 and r.json()["accepted"] == 1, r
    hl7 = [str(feed / HL7), str(feed / BAD)]
    r = c.push(hl7, "hl7v2", PARTNER)
    assert r.json()["accepted"] == 2 and r.json()["rejected"] == 1, r
    ack = hg.mllp_send(c.cluster_json()["mllp"], _hl7(MSH10_MLLP, "CL-9", 130))
    assert b"MSA|AA|" + MSH10_MLLP.encode() in ack, ack
    req = urllib.request.Request("http://%s/fhir" % c.cluster_json()["http"],
                                 data=_bundle("pat-ids-3", 77), method="POST",
                                 headers={"Content-Type": "application/fhir+json",
                                          "Authorization": "Bearer tok-ids-0123456789abcdef",
                                          "X-Batch-Id": HTTP_BATCH})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 202
    stats = c.wait_drained(deadline_s=120)
    indexed = hg.indexed_total(stats)
    # a patient and an observation in each of 5 good messages, the edge one's patient and
    # the observation that could be shifted; the other is in the deid's quarantine
    assert hg.counters(stats, "deid", "rejected") == 1, stats
    assert indexed == 12, stats
    deid_q = [e for e in c.quarantine()["entries"] if e["service"] == "deid"]
    edge_id = "%s/%s" % (PARTNER, _default_batch_id(str(feed / EDGE), files[EDGE]))
    assert [e["message_id"] for e in deid_q] == [hg.pseudonym(c.key(), "message", PARTNER,
                                                             edge_id)], deid_q

    # the same files again: duplicates at the collector, nothing new behind it
    r = c.push(hl7, "hl7v2", PARTNER)
    assert r.json()["duplicates"] == 2 and r.json()["accepted"] == 0, r
    r = hg.run("push", "--cluster", c.dir, "--format", "fhir", "--partner", PARTNER,
               "--wait", 60, "--json", *fhir, timeout=120)
    assert r.json()["duplicates"] == 2 and r.json()["accepted"] == 0, r
    ack = hg.mllp_send(c.cluster_json()["mllp"], _hl7(MSH10_MLLP, "CL-9", 130))
    assert b"MSA|AA|" + MSH10_MLLP.encode() in ack, ack
    stats = c.wait_drained(deadline_s=60)
    assert hg.indexed_total(stats) == indexed, stats

    # operators match the cleanser's quarantine line with the CLI
    bad_id = "%s/%s" % (PARTNER, _default_batch_id(str(feed / BAD), files[BAD]))
    r = hg.run("fingerprint", "--cluster", c.dir, "--partner", PARTNER,
               _default_batch_id(str(feed / BAD), files[BAD]), "mllp/" + MSH10_MLLP, check=True)
    lines = [l.split(" ", 1) for l in r.out.splitlines()]
    assert [l[1] for l in lines] == [bad_id, PARTNER + "/mllp/" + MSH10_MLLP], r
    with open(os.path.join(c.dir, "keys", "fingerprint.key"), "rb") as f:
        fkey = f.read()
    assert os.stat(os.path.join(c.dir, "keys", "fingerprint.key")).st_mode & 0o077 == 0
    assert lines[0][0] == _fingerprint(fkey, bad_id), (r, bad_id)
    r2 = hg.run("fingerprint", "--cluster", c.dir, "mllp/" + MSH10_MLLP, check=True)
    assert r2.out.split() == [_fingerprint(fkey, "mllp/" + MSH10_MLLP), "mllp/" + MSH10_MLLP]
    logs = {}
    for path in glob.glob(os.path.join(c.dir, "logs", "*.log")):
        with open(path, "rb") as f:
            logs[os.path.basename(path)] = f.read()
    cleanser_log = b"".join(v for k, v in logs.items() if k.startswith("cleanser"))
    assert b"event=quarantined fingerprint=" + lines[0][0].encode() in cleanser_log, \
        cleanser_log[-3000:]
    deid_log = b"".join(v for k, v in logs.items() if k.startswith("deid"))
    want = "event=record_not_deidentified fingerprint=%s " % _fingerprint(fkey, edge_id)
    assert want.encode() in deid_log, deid_log[-3000:]
    # the deid logs the fingerprint, never the pseudonym: logs do not link the two
    assert hg.pseudonym(c.key(), "message", PARTNER, edge_id).encode() not in deid_log

    key = c.key()
    # past the cleanser a message is its pseudonym: the indexers' markers show it
    pseud = hg.pseudonym(key, "message", PARTNER, "%s/%s" % (PARTNER, BATCH_ID))
    r = c.down()
    assert r.rc == 0, r
    behind = _dirs(c, "deid-*", "indexer-*", "analytics-*")
    assert len(behind) == 4, behind
    found = hg.scan_files(behind, NEEDLES)
    assert not found, "partner-chosen ids behind the de-identifier: %s" % found
    found = hg.scan_files([os.path.join(c.dir, "logs")], NEEDLES)
    assert not found, "partner-chosen ids in logs: %s" % found
    seen = hg.scan_files(_dirs(c, "indexer-*"), [pseud.encode()])
    assert seen, "the indexers hold no marker of message pseudonym %s" % pseud

    # the twin: the stores before the boundary hold them, so the scan can see them
    before = hg.scan_files(_dirs(c, "collector-*", "cleanser-*"), NEEDLES)
    assert set(before) == set(NEEDLES), sorted(set(NEEDLES) - set(before))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fingerprint_key_beside_the_store_and_checked(tmp_path):
    """Without fingerprint_key a service makes fingerprint.key (32 bytes, 0600) in the
    directory holding its store, and keeps it; a key others may read stops the start."""
    store = tmp_path / "v" / "analytics-0"
    key = tmp_path / "v" / "fingerprint.key"
    args = ["--data-dir", str(store), "--indexers", "tcp://127.0.0.1:%d" % _free_port()]
    r = hg.run_binary("hourglass-analytics", "--help")
    assert r.rc == 0 and "--fingerprint-key" in r.out, r
    first = None
    for _ in range(2):
        p = subprocess.Popen([os.path.join(hg.bin_dir(), "hourglass-analytics"), *args,
                              "--control", "tcp://127.0.0.1:%d" % _free_port()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not (key.exists() and key.stat().st_size == 32) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            p.terminate()
            p.wait(timeout=20)
        assert key.stat().st_mode & 0o777 == 0o600
        if first is None:
            first = key.read_bytes()
        assert key.read_bytes() == first    # the same key on the next start
    key.chmod(0o644)
    r = hg.run_binary("hourglass-analytics", *args, "--control",
                      "tcp://127.0.0.1:%d" % _free_port(), timeout=30)
    assert r.rc != 0 and "has mode 0644; it must be 0600" in r.err, r
