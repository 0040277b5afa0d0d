"""
test_malformed.py -- hostile and broken partner input against a real cluster:
every bad payload is accepted by the collector, quarantined by the cleanser
with a reason that names the problem, reported by `hourglass push` with exit
status 1, and no service crashes; a valid file still goes through afterwards
and re-pushing identical bytes is a duplicate.
"""
import hashlib
import os
import random

import pytest

import hg

PARTNER = "mal-partner"
LOINC_A1C = "http://loinc.org|4548-4"

VALID_FHIR = b"""{"resourceType": "Bundle", "type": "collection", "entry": [
 {"resource": {"resourceType": "Patient", "id": "pat-1",
   "name": [{"family": "Quixwell", "given": ["Ottoline"]}], "birthDate": "1971-03-04",
   "gender": "female",
   "address": [{"line": ["17 Larkspur Lane"], "city": "Springfield", "state": "IL",
                "postalCode": "62704"}]}},
 {"resource": {"resourceType": "Observation", "id": "obs-1", "status": "final",
   "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4",
                        "display": "Hemoglobin A1c"}]},
   "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": "2021-05-06",
   "valueQuantity": {"value": 6.1, "unit": "%"}}}
]}
"""


def batch_message_id(partner, path, data):
    """The CLI's default batch id: file name + 8-byte BLAKE2b of the content."""
    return "%s/%s-%s" % (partner, os.path.basename(path),
                         hashlib.blake2b(data, digest_size=8).hexdigest())


def malformed_cases():
    """(name, format, bytes, key words the reason must contain (lowercase), location words)."""
    rnd = random.Random(20240229)
    msh = b"MSH|^~\\&|LAB|GH|HG|HG|20210101120000||ORU^R01|MSG0001|P|2.5.1\r"
    pid = b"PID|1||MRN4411^^^GH^MR||Doe^Jane||19800202|F\r"
    obr = b"OBR|1|||4548-4^HbA1c^LN|||20210101\r"
    big_obx = (b"OBX|1|TX|4548-4^HbA1c^LN||" + b"A" * (50 * 1024 * 1024) + b"|%|||||F\r")
    return [
        ("truncated.json", "fhir",
         b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
         b'{"resourceType": "Patient", "id": "p',
         ["invalid json", "truncated"]),
        ("no-msh.hl7", "hl7v2",
         b"PID|1||MRN77^^^GH^MR||Roe^Richard||19650505|M\r"
         b"OBX|1|NM|4548-4^HbA1c^LN||6.1|%|||||F\r",
         ["msh"]),
        ("huge-obx.hl7", "hl7v2", msh + pid + obr + big_obx,
         ["obx-5", "52428800", "max_field_bytes"]),
        ("garbage-as-fhir.bin", "fhir", rnd.randbytes(4096), ["invalid json"]),
        ("garbage-as-hl7.bin", "hl7v2", rnd.randbytes(4096), ["msh"]),
        ("image.dcm", "dicom", b"\0" * 128 + b"DICM" + rnd.randbytes(2048),
         ["truncated", "declares", "remain"]),
        ("claim.x12", "x12", b"ISA*00*          *00*          *ZZ*SENDER~" + rnd.randbytes(512),
         ["format 'x12' is not supported", "fhir", "hl7v2", "dicom"]),
    ]


def test_malformed_inputs_are_quarantined_and_nothing_crashes(make_cluster, tmp_path):
    c = make_cluster("mal")
    c.up("--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none")
    cases = malformed_cases()
    expected_ids = {}
    for name, fmt, data, words in cases:
        path = str(tmp_path / name)
        with open(path, "wb") as f:
            f.write(data)
        mid = batch_message_id(PARTNER, path, data)
        expected_ids[mid] = (name, fmt, data, words, path)

        r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner", PARTNER,
                   "--wait", 60, path, timeout=180)
        assert r.rc == 1, "push of %s must exit 1: %r" % (name, r)
        # a clear message: the file, and the reason naming the problem
        line = [ln for ln in r.out.splitlines() if ln.startswith(path + ":")]
        assert len(line) == 1, "no per-file line for %s: %r" % (name, r)
        assert "0 records, 1 rejected: " in line[0], r
        for w in words:
            assert w in line[0].lower(), "push message for %s lacks %r: %r" % (name, w, line[0])
        assert "rejected: 1 records or messages quarantined in 1 batches" in r.out, r
        if fmt == "x12":
            assert "format 'x12' is not one the pipeline parses" in r.err, r

    # every bad payload: exactly one quarantine entry, reason naming the problem
    q = c.quarantine()
    assert q["count"] == len(cases) == len(q["entries"]), q
    by_id = {}
    for e in q["entries"]:
        assert e["message_id"] not in by_id, "two entries for %s" % e["message_id"]
        by_id[e["message_id"]] = e
    assert set(by_id) == set(expected_ids)
    for mid, (name, fmt, data, words, path) in expected_ids.items():
        e = by_id[mid]
        assert e["service"] == "cleanser", e
        assert e["partner"] == PARTNER and e["format"] == fmt, e
        assert e["payload_bytes"] == len(data), (name, e["payload_bytes"], len(data))
        assert e["location"], "empty location for %s" % name
        for w in words:
            assert w in e["reason"].lower(), "reason for %s lacks %r: %r" % (name, w, e["reason"])
        # excerpts are bounded (the 50 MB field must not be copied around)
        assert len(e["excerpt"]) <= 256, (name, len(e["excerpt"]))
    huge = by_id[batch_message_id(PARTNER, str(tmp_path / "huge-obx.hl7"), cases[2][2])]
    assert "OBX" in huge["location"] and "MSG0001" in huge["location"], huge["location"]

    # no service crashed
    st = c.status()
    assert st.rc == 0, st
    assert st.json()["healthy"] is True
    assert all(s["state"] == "healthy" for s in st.json()["services"]), st.out
    stats = c.wait_drained(deadline_s=60)
    assert all(v["up"] for v in stats.values()), stats
    assert hg.counters(stats, "collector", "received") == len(cases)
    assert hg.counters(stats, "cleanser", "received") == len(cases)
    assert hg.counters(stats, "cleanser", "quarantined") == len(cases)
    assert hg.counters(stats, "cleanser", "parsed") == 0
    assert hg.indexed_total(stats) == 0

    # a valid FHIR file still goes through
    good = str(tmp_path / "good.json")
    with open(good, "wb") as f:
        f.write(VALID_FHIR)
    r = c.push([good], "fhir", PARTNER)
    assert r.rc == 0, r
    assert r.json() == {"files": 1, "accepted": 1, "duplicates": 0, "refused": 0,
                        "undelivered": 0, "pending": 0, "records": 2, "rejected": 0}, r
    stats = c.wait_drained(deadline_s=60)
    assert hg.indexed_total(stats) == 2, stats
    counted, raw = c.count(LOINC_A1C)
    assert counted == {"patients": 1, "records": 1, "suppressed": False}, raw
    key = c.key()
    pseud = hg.patient_pseudonym(key, PARTNER, "pat-1")
    shifted = hg.shift_date("2021-05-06", hg.dateshift_days(key, pseud))
    assert c.count(LOINC_A1C, shifted, shifted)[0]["records"] == 1
    day_before = hg.shift_date(shifted, -1)
    assert c.count(LOINC_A1C, None, day_before)[0] == {"patients": 0, "records": 0,
                                                       "suppressed": False}

    # re-pushing identical bytes is a duplicate: nothing new anywhere
    for path, fmt, rc in ((good, "fhir", 0), (str(tmp_path / "truncated.json"), "fhir", 1)):
        r = c.push([path], fmt, PARTNER)
        assert r.rc == rc, r
        js = r.json()
        assert (js["files"], js["accepted"], js["duplicates"], js["refused"],
                js["undelivered"], js["pending"]) == (1, 0, 1, 0, 0, 0), r
    stats = c.wait_drained(deadline_s=60)
    assert hg.counters(stats, "collector", "received") == len(cases) + 1
    assert hg.counters(stats, "collector", "duplicates") == 2
    assert hg.indexed_total(stats) == 2
    assert c.quarantine()["count"] == len(cases)
    assert c.count(LOINC_A1C)[0] == {"patients": 1, "records": 1, "suppressed": False}
    assert c.status().rc == 0


FUZZ_DIR = os.path.join(hg.HERE, "..", "..", "..", "shared", "data", "hl7v2_nhapi_fuzz_badinputs",
                        "BadInputs")


def test_known_parser_crashers_get_an_outcome_and_crash_nothing(make_cluster):
    """Inputs that crashed or hung another HL7 parser (nHapi's fuzz corpus, when
    /work/shared/data is present): each gets an outcome, no service dies."""
    if not os.path.isdir(FUZZ_DIR):
        pytest.skip("no shared fuzz corpus at %s" % os.path.normpath(FUZZ_DIR))
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(FUZZ_DIR) for f in fs)
    assert len(files) > 10, files
    c = make_cluster("fuzz")
    c.up("--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none")
    r = c.push(files, "hl7v2", "fuzz-partner", wait=120, timeout=240)
    js = r.json()
    ids = set()
    for f in files:
        with open(f, "rb") as fh:
            ids.add(batch_message_id("fuzz-partner", f, fh.read()))
    distinct = len(ids)
    assert js["files"] == len(files), r
    assert js["accepted"] == distinct and js["accepted"] + js["duplicates"] == len(files), r
    assert (js["refused"], js["undelivered"], js["pending"]) == (0, 0, 0), r
    assert r.rc == (1 if js["rejected"] else 0), r
    assert js["rejected"] > 0, "the bad-input corpus produced no rejection at all: %r" % r
    st = c.status()
    assert st.rc == 0 and st.json()["healthy"] is True, st
    stats = c.wait_drained(deadline_s=60)
    assert hg.counters(stats, "cleanser", "received") == distinct
    assert hg.counters(stats, "cleanser", "parsed") == js["records"]
    assert hg.counters(stats, "cleanser", "quarantined") == js["rejected"]
    q = c.quarantine()
    assert q["count"] == js["rejected"] + hg.counters(stats, "deid", "rejected"), q["count"]
    for e in q["entries"]:
        assert e["reason"].strip() and e["location"].strip(), e
