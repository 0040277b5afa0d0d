"""
test_phi.py -- no identifying value reaches the stores behind the
de-identifier. After a pipeline run and `cluster down`, the raw bytes of
every file under DIR/data/deid-*, indexer-* and analytics-* (RocksDB with
--compression none, so stored strings are visible) are searched for every
name, MRN, SSN, phone number, street, birth date (ISO and HL7 forms) and
FHIR resource id the simulator put into the feed. The same scan over the
collector and cleanser stores, which legitimately hold the raw feed, must
find most of them: that proves the scan can see stored strings at all.
"""
import glob
import os

import pytest

import hg

PATIENTS = 100
SEED = 777
INVALID = 3


def _needles(truth):
    """{category: set(bytes)} of the identifying strings of the feed."""
    phi = truth["phi"]
    cats = {
        "names": {n for n in phi["names"] if len(n) > 3},
        "mrns": set(phi["mrns"]),
        "ssns": set(phi["ssns"]),
        "phones": set(phi["phones"]),
        "streets": set(phi["streets"]),
        "birth_dates": set(phi["birth_dates"]),
        "birth_dates_hl7": {d.replace("-", "") for d in phi["birth_dates"] if len(d) == 10},
        "fhir_ids": set(phi["fhir_ids"]),
    }
    return {k: {s.encode() for s in v if s} for k, v in cats.items()}


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    base = tmp_path_factory.mktemp("phi")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, INVALID)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--cleansers", "1", "--deids", "1", "--shards", "2", "--min-cell", "0",
             "--heartbeat-ms", "200", "--compression", "none")
        hg.push_partners(c, sim, truth)
        stats = c.wait_drained(deadline_s=180)
        assert hg.indexed_total(stats) == truth["records"]["distinct"]
        # queries leave an audit trail in analytics: ask about every code
        for code in sorted(truth["codes"])[:20]:
            c.count(code)
        key = c.key()
        r = c.down()
        assert r.rc == 0, r
        yield {"cluster": c, "truth": truth, "key": key}
    finally:
        c.teardown()


def _dirs(c, *patterns):
    out = []
    for p in patterns:
        # stores are directories; deid-K.lock files hold replicas' slots
        out += sorted(d for d in glob.glob(os.path.join(c.dir, "data", p)) if os.path.isdir(d))
    return out


def test_no_phi_behind_the_deidentifier(stopped):
    c, truth, key = stopped["cluster"], stopped["truth"], stopped["key"]
    dirs = _dirs(c, "deid-*", "indexer-*", "analytics-*")
    assert len(dirs) == 4, dirs
    n_files = sum(len(fs) for d in dirs for _, _, fs in os.walk(d))
    assert n_files > 0
    needles = _needles(truth)
    for cat, ns in needles.items():
        assert ns, "truth has no %s: the scan would prove nothing" % cat
    everything = set().union(*needles.values())
    found = hg.scan_files(dirs, everything)
    # A birth date may coincide with some patient's legitimately stored
    # (shifted) clinical date. Such a date only counts as a leak where it is
    # stored as Demographics.birth_date (protobuf field 3, length 10).
    shifted = set()
    for partner, ref, _, day in truth["facts"]:
        if day:
            pseud = hg.patient_pseudonym(key, partner, ref)
            shifted.add(hg.shift_date(day, hg.dateshift_days(key, pseud)).encode())
    coincidences = {n for n in needles["birth_dates"] if n in found and n in shifted}
    if coincidences:
        strict = hg.scan_files(dirs, {b"\x1a\x0a" + n for n in coincidences})
        for n in coincidences:
            if b"\x1a\x0a" + n not in strict:
                del found[n]
    leaks = {}
    for cat, ns in needles.items():
        hits = {n.decode(): sorted(os.path.relpath(p, c.dir) for p in found[n])
                for n in ns if n in found}
        if hits:
            leaks[cat] = hits
    assert not leaks, "PHI found behind the de-identifier: %s" % {
        k: dict(list(v.items())[:5]) for k, v in leaks.items()}


def test_scan_sees_phi_in_the_raw_stores(stopped):
    """Positive control: the collector and cleanser keep the raw feed."""
    c, truth = stopped["cluster"], stopped["truth"]
    dirs = _dirs(c, "collector-*", "cleanser-*")
    needles = _needles(truth)
    found = hg.scan_files(dirs, set().union(*needles.values()))
    # birth dates come in two forms (ISO from FHIR, YYYYMMDD from HL7): one
    # patient's date is seen when either form is
    iso = {n for n in needles["birth_dates"] if b"-" in n}
    seen_dates = {n for n in iso if n in found or n.replace(b"-", b"") in found}
    report = {"birth_dates": (len(seen_dates), len(iso))}
    for cat, ns in needles.items():
        if cat not in ("birth_dates", "birth_dates_hl7"):
            report[cat] = (sum(1 for n in ns if n in found), len(ns))
    low = {cat: v for cat, v in report.items() if v[0] < 0.9 * v[1]}
    assert not low, "control scan found too few of: %s (all: %s)" % (low, report)
