"""
test_pipeline.py -- the whole pipeline on a simulated multi-partner feed:
push every partner's files through a cluster of 2 cleansers, 2
de-identifiers and 2 indexer shards, then check the results against the
simulator's ground truth: records indexed, quarantine, exact counts for every
code, date-range counts recomputed from the de-identification key, shard
placement, idempotent re-push, and small-cell suppression on a second
cluster.
"""
import os
import re
import time

import pytest

import hg

PATIENTS = 150
SEED = 4242
INVALID = 6
SHARDS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, INVALID)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--cleansers", "2", "--deids", "2", "--shards", str(SHARDS), "--min-cell", "0",
             "--heartbeat-ms", "200", "--compression", "none")
        pushes = hg.push_partners(c, sim, truth)
        stats = c.wait_drained(deadline_s=180)
        yield {"cluster": c, "truth": truth, "sim": sim, "pushes": pushes, "stats": stats}
    finally:
        c.teardown()


def test_truth_is_self_consistent(run):
    """Guards the checks below: the facts add up to the per-code truth."""
    truth = run["truth"]
    assert truth["patients"] == PATIENTS
    assert set(truth["partners"]) == {"general-hospital", "city-lab", "clinic-fhir"}
    assert truth["quarantined"] >= INVALID > 0
    agg = {}
    for partner, ref, code, day in truth["facts"]:
        a = agg.setdefault(code, [set(), 0])
        a[0].add((partner, ref))
        a[1] += 1
    got = {code: {"patients": len(a[0]), "records": a[1]} for code, a in agg.items()}
    assert got == truth["codes"]


def test_push_reports(run):
    truth = run["truth"]
    total_records = total_rejected = 0
    for partner, fmt, files, r in run["pushes"]:
        js = r.json()
        assert js["files"] == len(files) > 0, r
        assert (js["accepted"], js["duplicates"], js["refused"], js["undelivered"],
                js["pending"]) == (len(files), 0, 0, 0, 0), r
        assert r.rc == (1 if js["rejected"] else 0), r
        total_records += js["records"]
        total_rejected += js["rejected"]
    # there are invalid items, so some push says so with exit status 1
    assert any(r.rc == 1 for _, _, _, r in run["pushes"])
    stats = run["stats"]
    assert total_records == hg.counters(stats, "cleanser", "parsed")
    assert total_rejected == hg.counters(stats, "cleanser", "quarantined")
    assert total_rejected + hg.counters(stats, "deid", "rejected") == truth["quarantined"]
    n_files = sum(len(p["files"]) for p in truth["partners"].values())
    assert hg.counters(stats, "collector", "received") == n_files
    assert hg.counters(stats, "cleanser", "received") == n_files


def test_indexed_equals_distinct_records(run):
    stats = run["stats"]
    assert all(v["up"] for v in stats.values()), stats
    assert hg.indexed_total(stats) == run["truth"]["records"]["distinct"]
    assert hg.counters(stats, "indexer", "rejected") == 0
    # every parsed record was either de-identified or rejected by deid
    assert hg.counters(stats, "deid", "deidentified") + hg.counters(stats, "deid", "rejected") \
        == hg.counters(stats, "cleanser", "parsed")


def test_stage_time_counters(run):
    """Every stage counts its group commits and the time spent processing
    and committing them, and reports when it last committed (bench/run.py
    reads these); the counts are of rounds, which hold many messages."""
    stats = run["stats"]
    now_ms = time.time() * 1000
    busy = set()
    for name, v in stats.items():
        if v["service"] == "analytics":
            continue
        # a replica that connected after its peer took the whole feed has
        # nothing to count; every service has at least one that worked
        if not v.get("received"):
            continue
        busy.add(v["service"])
        assert 0 < v["commits"] <= v["received"], (name, v)
        assert v["commit_us"] > 0, (name, v)
        assert now_ms - 600_000 < v["last_commit_unix_ms"] <= now_ms, (name, v)
        if v["service"] != "collector":     # it commits outside the consuming loop
            assert v["process_us"] > 0, (name, v)
    assert busy == {"collector", "cleanser", "deid", "indexer"}, busy


def test_quarantine(run):
    q = run["cluster"].quarantine()
    assert q["count"] == len(q["entries"]) == run["truth"]["quarantined"], q
    for e in q["entries"]:
        assert e["reason"].strip(), e
        assert e["location"].strip(), e
        assert e["partner"] in run["truth"]["partners"], e
        if e["service"] == "deid":
            # past the cleanser a message is known by its pseudonym, never the partner's id
            assert re.fullmatch("[0-9a-f]{32}", e["message_id"]), e
        else:
            assert e["message_id"].startswith(e["partner"] + "/"), e


def test_every_code_count_is_exact(run):
    c = run["cluster"]
    wrong = {}
    for code, want in sorted(run["truth"]["codes"].items()):
        got, raw = c.count(code)
        exp = {"patients": want["patients"], "records": want["records"], "suppressed": False}
        if got != exp:
            wrong[code] = (got, exp)
    assert not wrong, "counts differ for %d of %d codes: %s" % (
        len(wrong), len(run["truth"]["codes"]), dict(list(wrong.items())[:10]))
    absent, _ = c.count("http://loinc.org|no-such-code")
    assert absent == {"patients": 0, "records": 0, "suppressed": False}


def _ranges(shifted_days):
    """Three ranges over the sorted shifted dates of a code: lower half, middle, one day."""
    d = sorted(shifted_days)
    n = len(d)
    return [(d[0], d[n // 2]), (d[n // 4], d[(3 * n) // 4]), (d[n // 3], d[n // 3])]


def _per_partner(key, facts, code, frm, to):
    return {p: hg.expected_counts(key, [f for f in facts if f[0] == p], code, frm, to)
            for p in sorted({f[0] for f in facts})}


def test_date_ranges_match_shifted_truth(run):
    c, truth = run["cluster"], run["truth"]
    key = c.key()
    facts = truth["facts"]
    shift = {}
    per_code = {}
    for partner, ref, code, day in facts:
        if not day:
            continue
        p = (partner, ref)
        if p not in shift:
            shift[p] = hg.dateshift_days(key, hg.patient_pseudonym(key, partner, ref))
        assert shift[p] != 0 and -365 <= shift[p] <= 365
        per_code.setdefault(code, []).append(hg.shift_date(day, shift[p]))
    # the three codes with the most distinct dates
    codes = sorted(per_code, key=lambda k: (-len(set(per_code[k])), k))[:3]
    assert len(codes) == 3, per_code.keys()
    strict = 0
    for code in codes:
        total = truth["codes"][code]["records"]
        for frm, to in _ranges(per_code[code]):
            exp_p, exp_r = hg.expected_counts(key, facts, code, frm, to)
            got, raw = c.count(code, frm, to)
            assert got == {"patients": exp_p, "records": exp_r, "suppressed": False}, \
                (code, frm, to, raw, "expected per partner:", _per_partner(key, facts, code,
                                                                           frm, to))
            strict += 0 < exp_r < total
        # every stored day of the code, one day at a time (at most 150 per code)
        days = sorted(set(per_code[code]))
        for day in days[:: max(1, len(days) // 150)]:
            exp_p, exp_r = hg.expected_counts(key, facts, code, day, day)
            got, raw = c.count(code, day, day)
            assert got == {"patients": exp_p, "records": exp_r, "suppressed": False}, \
                (code, day, raw)
        # nothing before the earliest shifted date
        lo = min(per_code[code])
        got, _ = c.count(code, None, hg.shift_date(lo, -1))
        assert got == {"patients": 0, "records": 0, "suppressed": False}, (code, lo)
    assert strict >= 3, "date ranges too coarse to test anything"


def test_cohorts_are_exact(run):
    """Patients carrying every one of two or three codes, across both shards,
    unranged and over a shifted date range, against the simulator's facts."""
    c, truth = run["cluster"], run["truth"]
    key = c.key()
    facts = truth["facts"]
    top = sorted(truth["codes"], key=lambda k: (-truth["codes"][k]["patients"], k))[:5]
    cohorts = [[a, b] for i, a in enumerate(top) for b in top[i + 1:]] + [top[:3]]
    nonempty = 0
    for codes in cohorts:
        exp = hg.expected_cohort(key, facts, codes)
        got, raw = c.count(codes)
        assert got == {"patients": exp, "records": None, "suppressed": False,
                       "codes": len(codes)}, (codes, raw)
        nonempty += exp > 0
        # strictly smaller than the rarest code's patients unless it is a subset
        assert exp <= min(truth["codes"][k]["patients"] for k in codes)
    assert nonempty >= 5, "the cohorts are too sparse to test anything"
    days = sorted(hg.shift_date(d, hg.dateshift_days(key, hg.patient_pseudonym(key, p, r)))
                  for p, r, k, d in facts if d and k in top[:2])
    frm, to = days[len(days) // 4], days[(3 * len(days)) // 4]
    exp = hg.expected_cohort(key, facts, top[:2], frm, to)
    got, raw = c.count(top[:2], frm, to)
    assert got["patients"] == exp, (top[:2], frm, to, raw)
    assert 0 < exp < hg.expected_cohort(key, facts, top[:2])
    got, _ = c.count([top[0], "http://loinc.org|no-such-code"])
    assert got["patients"] == 0


def test_each_patient_on_exactly_one_shard(run):
    """Every patient's pseudonym is in the store of its shard and of no other."""
    c, truth = run["cluster"], run["truth"]
    stats = c.stats()
    per_shard = [stats["indexer-%d" % k].get("indexed", 0) for k in range(SHARDS)]
    assert sum(per_shard) == truth["records"]["distinct"]
    assert all(n > 0 for n in per_shard), per_shard
    key = c.key()
    pseuds = {hg.patient_pseudonym(key, p, ref) for p, ref, _, _ in truth["facts"]}
    roots = [os.path.join(c.dir, "data", "indexer-%d" % k) for k in range(SHARDS)]
    where = {k: hg.scan_files([roots[k]], [s.encode() for s in pseuds]) for k in range(SHARDS)}
    bad = []
    for s in sorted(pseuds):
        on = [k for k in range(SHARDS) if s.encode() in where[k]]
        if on != [hg.shard_of(s, SHARDS)]:
            bad.append((s, on, hg.shard_of(s, SHARDS)))
    assert not bad, "patients not on exactly their shard: %s" % bad[:10]


def test_repush_is_duplicate_and_changes_nothing(run):
    c, truth = run["cluster"], run["truth"]
    partner, fmt, files, first = run["pushes"][0]
    before = c.wait_drained(deadline_s=60)
    sample = sorted(truth["codes"].items(), key=lambda kv: -kv[1]["records"])[:5]
    r = c.push([files[0]], fmt, partner)
    js = r.json()
    assert (js["files"], js["accepted"], js["duplicates"], js["refused"], js["undelivered"],
            js["pending"]) == (1, 0, 1, 0, 0, 0), r
    assert r.rc == (1 if js["rejected"] else 0), r
    after = c.wait_drained(deadline_s=60)
    assert hg.indexed_total(after) == hg.indexed_total(before) == truth["records"]["distinct"]
    assert hg.counters(after, "collector", "duplicates") == \
        hg.counters(before, "collector", "duplicates") + 1
    assert hg.counters(after, "cleanser", "received") == hg.counters(before, "cleanser", "received")
    for code, want in sample:
        got, _ = c.count(code)
        assert got == {"patients": want["patients"], "records": want["records"],
                       "suppressed": False}, code
    assert c.quarantine()["count"] == truth["quarantined"]


def rounded(n, base=10):
    """What analytics shows of a count above min_cell (round_to, default 10: to the
    nearest multiple, halves up, never 0; docs/analytics.md "Disclosure control")."""
    r = n // base * base + (base if n % base >= (base + 1) // 2 else 0)
    return r if n == 0 or r else base


def test_small_cells_are_suppressed(tmp_path_factory):
    """A second cluster with --min-cell 10: 1..10 patients -> suppressed, exact JSON;
    the counts shown rounded to 10."""
    base = tmp_path_factory.mktemp("mincell")
    sim = str(base / "sim")
    truth = hg.simulate(sim, 40, SEED + 1, 0)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--min-cell", "10", "--heartbeat-ms", "200", "--compression", "none")
        pushes = hg.push_partners(c, sim, truth)
        for _, _, files, r in pushes:
            assert r.json()["accepted"] == len(files), r
        stats = c.wait_drained(deadline_s=120)
        assert hg.indexed_total(stats) == truth["records"]["distinct"]
        suppressed = shown = 0
        for code, want in sorted(truth["codes"].items()):
            got, raw = c.count(code)
            if 1 <= want["patients"] <= 10:
                assert raw.strip() == '{"patients": null, "records": null, "suppressed": true}', \
                    (code, want, raw)
                suppressed += 1
            else:
                assert got == {"patients": rounded(want["patients"]),
                               "records": rounded(want["records"]), "suppressed": False}, \
                    (code, want, raw)
                shown += 1
        assert suppressed > 0, "no small cell in the data: the test proves nothing"
        # zero is not a small cell
        got, raw = c.count("http://loinc.org|no-such-code")
        assert raw.strip() == '{"patients": 0, "records": 0, "suppressed": false}', raw
        # a big lab code narrowed to one day is small again
        code, want = max(((k, v) for k, v in truth["codes"].items()
                          if k.startswith("http://loinc.org|")),
                         key=lambda kv: (kv[1]["patients"], kv[0]))
        assert want["patients"] > 10, (code, want)
        key = c.key()
        p, ref, _, day = next(f for f in truth["facts"] if f[2] == code and f[3])
        d = hg.shift_date(day, hg.dateshift_days(key, hg.patient_pseudonym(key, p, ref)))
        exp_p, exp_r = hg.expected_counts(key, truth["facts"], code, d, d)
        assert 1 <= exp_p <= 10, (code, d, exp_p)
        got, raw = c.count(code, d, d)
        assert raw.strip() == '{"patients": null, "records": null, "suppressed": true}', raw
        assert got == {"patients": None, "records": None, "suppressed": True}
        # cohorts are suppressed the same way: every pair of codes, small or not
        facts = truth["facts"]
        codes = sorted(truth["codes"], key=lambda k: (-truth["codes"][k]["patients"], k))[:6]
        small = big = 0
        for i, x in enumerate(codes):
            for y in codes[i + 1:]:
                exp = hg.expected_cohort(key, facts, [x, y])
                got, raw = c.count([x, y])
                if 1 <= exp <= 10:
                    assert raw.strip() == ('{"patients": null, "records": null, '
                                           '"suppressed": true}'), (x, y, exp, raw)
                    small += 1
                else:
                    assert got == {"patients": rounded(exp), "records": None,
                                   "suppressed": False, "codes": 2}, (x, y, exp, raw)
                    big += exp > 10
        assert small > 0 and big > 0, (small, big)
        assert shown > 0, "no code above the minimum cell size"
    finally:
        c.teardown()
