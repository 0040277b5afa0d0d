"""
test_notes.py -- clinical notes survive the de-identifier, scrubbed (issue 15).

`hourglass simulate --notes` gives every patient a progress note with planted
PHI whose ground truth it writes (truth.json "notes"): the hospital's as an
HL7 MDM^T02 (and an NTE on its first result), the lab's as a FHIR
DocumentReference, the clinic's as a DiagnosticReport. Pushed through one
real cluster (RocksDB with --compression none, so stored strings are
visible), then:

  - every note is in the index (`hourglass export`) with its text kept, and
    none of its planted values (patient and relative names, MRN, street,
    phone, ZIP, clinician) is in it, in any case;
  - each date of the text is the date written shifted by the patient's date
    shift in the same format, and the record's structured date moved by the
    same shift; an age over 89 became 90+;
  - no planted value is in any file of the stores behind the de-identifier
    (deid, indexer), read as raw bytes after `cluster down`, while the
    cleanser's store holds them (the scan sees stored strings);
  - the per-deployment lexicon (deid option scrub_lexicons, set through
    HOURGLASS_SCRUB_LEXICONS) is loaded at start, re-read on SIGHUP, and a
    file that fails to load keeps the lexicon in force.
"""
import datetime
import json
import os
import signal
import time

import pytest

import hg

PATIENTS = 30
SEED = 1515
NOTE_CODE = "http://loinc.org|11506-3"
PARTNER = "general-hospital"


def _shifted_like(written, iso_day, shift, upper):
    """written (as the simulator wrote it) shifted by shift days, same format: a
    numeric date keeps two digits in each part when one had a leading zero
    (docs/scrubber.md)."""
    d = datetime.date.fromisoformat(iso_day) + datetime.timedelta(days=shift)
    if "/" in written:
        pad = written[0] == "0" or written[3] == "0"
        out = ("%02d/%02d/%04d" if pad else "%d/%d/%04d") % (d.month, d.day, d.year)
    else:
        out = "%s %d, %04d" % (d.strftime("%B"), d.day, d.year)
    return out.upper() if upper else out


def _mdm(n, mrn, text):
    """The n-th MDM^T02 of an existing patient with text as its OBX lines (its own
    minute: a note is one fact per patient, code and time)."""
    segs = ["MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|HOURGLASS|HG|20230105101500||MDM^T02|LEX%04d|P|"
            "2.5" % n,
            "PID|1||%s^^^GH^MR" % mrn,
            "TXA|1|PN|TX|2023010510%02d" % n]
    segs += ["OBX|%d|TX|11506-3^Progress note^LN||%s||||||F" % (i + 1, line)
             for i, line in enumerate(text.split("\n"))]
    return ("\r".join(segs) + "\r").encode()


def _export(c, out):
    r = hg.run("export", "--cluster", c.dir, "--format", "ndjson", "--out", out, "--json",
               timeout=120)
    assert r.rc == 0, r
    with open(r.json()["file"]) as f:
        return [json.loads(line) for line in f]


def _stat(c, name):
    return hg.counters(c.stats(), "deid", name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("notes")
    sim = str(base / "sim")
    r = hg.run("simulate", "--out", sim, "--patients", PATIENTS, "--seed", SEED, "--notes",
               "--per-file", 10, timeout=120)
    assert r.rc == 0, r
    with open(os.path.join(sim, "truth.json")) as f:
        truth = json.load(f)
    assert len(truth["notes"]) == PATIENTS
    lexicon = base / "facility.txt"
    lexicon.write_text("# facility names\nLOCATION Fernhallow Infirmary\nID WARD-QX\n")
    os.environ["HOURGLASS_SCRUB_LEXICONS"] = str(lexicon)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--cleansers", "1", "--deids", "1", "--shards", "2", "--heartbeat-ms", "200",
             "--compression", "none")
        del os.environ["HOURGLASS_SCRUB_LEXICONS"]
        hg.push_partners(c, sim, truth)
        stats = c.wait_drained(deadline_s=180)
        assert hg.indexed_total(stats) == truth["records"]["distinct"]
        yield {"cluster": c, "truth": truth, "key": c.key(), "base": base, "lexicon": lexicon}
    finally:
        os.environ.pop("HOURGLASS_SCRUB_LEXICONS", None)
        c.teardown()


def test_notes_indexed_scrubbed_dates_shifted(run):
    c, truth, key = run["cluster"], run["truth"], run["key"]
    recs = _export(c, run["base"] / "export")
    by_patient = {}
    for x in recs:
        if NOTE_CODE in x["codes"]:
            by_patient.setdefault(x["patient"], []).append(x)
    checked = 0
    for note in truth["notes"]:
        pseud = hg.patient_pseudonym(key, note["partner"], note["patient"])
        shift = hg.dateshift_days(key, pseud)
        got = by_patient.get(pseud, [])
        assert len(got) == 1, (note, got)
        x = got[0]
        text = x.get("text", "")
        assert "PROGRESS NOTE" in text.upper() and "METFORMIN 500 MG" in text.upper(), x
        low = text.lower()
        for v in note["planted"]:
            assert v.lower() not in low, (v, text)
        # dates in the text move with the record's structured date
        assert x["effective"][:10] == hg.shift_date(note["day"], shift), (x, note)
        for written, iso in note["dates"]:
            want = _shifted_like(written, iso, shift, note["upper"])
            assert want in text, (want, written, shift, text)
            assert written not in text or want == written, (written, text)
        if note["age"] > 89:
            assert "90+" in text and ("%d y/o" % note["age"]) not in low, text
        checked += 1
    assert checked == PATIENTS
    # the NTE on the hospital's first result: kept with its observation, scrubbed
    ntes = [x for x in recs if "read back" in x.get("text", "")]
    assert len(ntes) == sum(1 for n in truth["notes"] if n["partner"] == PARTNER)
    assert all("Dr. [NAME]" in x["text"] for x in ntes), ntes[:3]
    assert _stat(c, "text_scrubbed") >= 2 * len(ntes) and _stat(c, "text_dropped") == 0


def test_lexicon_loaded_and_reloaded_on_sighup(run):
    c, truth, base, lexicon = run["cluster"], run["truth"], run["base"], run["lexicon"]
    mrn = next(n["patient"] for n in truth["notes"] if n["partner"] == PARTNER)
    deid = [p for p in c.cluster_json()["processes"] if p["name"].startswith("deid")]
    assert len(deid) == 1, deid

    def push_note(n, text):
        path = base / ("lex-%d.hl7" % n)
        path.write_bytes(_mdm(n, mrn, text))
        r = c.push([str(path)], "hl7v2", PARTNER)
        assert r.rc == 0, r
        c.wait_drained(deadline_s=60)

    def texts():
        return [x.get("text", "") for x in _export(c, base / ("exp-%f" % time.time()))]

    # at start: the facility's name and ward code from the file
    push_note(1, "Transferred from fernhallow infirmary, bed WARD-QX.\nzephyrine unit next.")
    t1 = [t for t in texts() if "Transferred from" in t]
    assert t1 == ["Transferred from [LOCATION], bed [ID].\nzephyrine unit next."], t1

    # SIGHUP re-reads the file: the new phrase is scrubbed from then on
    lexicon.write_text("LOCATION Fernhallow Infirmary\nLOCATION zephyrine unit\n")
    os.kill(deid[0]["pid"], signal.SIGHUP)
    deadline = time.monotonic() + 20
    while _stat(c, "scrub_lexicons_reloaded") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stat(c, "scrub_lexicons_reloaded") == 1
    push_note(2, "Moved to the zephyrine unit today.")
    assert "Moved to the [LOCATION] today." in texts()

    # a file that does not load keeps the lexicon in force
    lexicon.write_text("LOCATION " + "x" * 2000 + "\n")
    os.kill(deid[0]["pid"], signal.SIGHUP)
    deadline = time.monotonic() + 20
    while _stat(c, "scrub_lexicons_reload_failed") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stat(c, "scrub_lexicons_reload_failed") == 1
    push_note(3, "Back on the zephyrine unit again.")
    assert "Back on the [LOCATION] again." in texts()


def test_no_planted_value_behind_the_deidentifier(run):
    c, truth = run["cluster"], run["truth"]
    r = c.down()
    assert r.rc == 0, r
    needles = {v.encode() for n in truth["notes"] for v in n["planted"] if len(v) >= 4}
    upper = {v.upper() for v in needles}
    post = [d for p in ("deid-*", "indexer-*")
            for d in sorted(__import__("glob").glob(os.path.join(c.dir, "data", p)))
            if os.path.isdir(d)]
    assert len(post) == 3, post
    found = hg.scan_files(post, needles | upper)
    assert not found, sorted(found)[:10]
    pre = [d for d in __import__("glob").glob(os.path.join(c.dir, "data", "cleanser-*"))
           if os.path.isdir(d)]
    seen = hg.scan_files(pre, needles | upper)
    assert len(seen) >= len(needles) // 2, (len(seen), len(needles))
