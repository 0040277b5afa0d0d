"""
test_analytics.py -- the analytics engine (issue 13, docs/analytics.md) on a
cluster of two indexer shards: `hourglass query run` answers compared with
the simulator's facts, dates shifted per patient with the de-identification
key as the de-identifier does. Measures: patients (all / any / none,
after, min_count, by year), records, series (incidence), prevalence, top;
an error naming the field.
"""
import collections
import datetime
import json
import os

import pytest

import hg

PATIENTS = 90
SEED = 1313
SHARDS = 2
COND = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("analytics")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, 0)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--shards", str(SHARDS), "--min-cell", "0", "--heartbeat-ms", "200",
             "--compression", "none")
        hg.push_partners(c, sim, truth)
        c.wait_drained(deadline_s=180)
        yield {"cluster": c, "truth": truth, "key": c.key(), "base": base}
    finally:
        c.teardown()


def query(run, doc, cluster=None, ok=True):
    path = os.path.join(str(run["base"]), "q.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    r = hg.run("query", "run", "--cluster", (cluster or run["cluster"]).dir, "--file", path,
               "--json", timeout=60)
    if ok:
        assert r.rc == 0, r
        return r.json()
    return r


def timelines(run):
    return hg.shifted_timelines(run["key"], run["truth"])


def codes_of(run, system):
    n = collections.Counter(c for c in run["truth"]["codes"] if c.startswith(system + "|"))
    return sorted(n)


def test_patients_all_any_none(run):
    tl = timelines(run)
    conds = codes_of(run, COND)
    assert len(conds) >= 3
    a, b, c = conds[:3]
    has = {p: {code for _, code in ev} for p, ev in tl.items()}
    got = query(run, {"cohort": {"all": [{"code": a}], "any": [{"code": b}, {"code": c}],
                                 "none": [{"code": b}]}})
    assert got["patients"] == sum(1 for s in has.values()
                                  if a in s and (b in s or c in s) and b not in s)
    got = query(run, {"cohort": {"all": [{"code": a}], "none": [{"code": b}]}})
    assert got["patients"] == sum(1 for s in has.values() if a in s and b not in s) > 0
    assert got["shards"] == SHARDS and got["suppressed"] is False


def test_prefix_and_min_count(run):
    tl = timelines(run)
    letters = sorted({c.split("|")[1][:1] for c in codes_of(run, COND)})

    def want(prefix, n):
        return sum(1 for ev in tl.values()
                   if sum(1 for _, code in ev if code.startswith(COND + "|" + prefix)) >= n)
    # the letter most patients have two records under (ICD-10 chapters)
    letter = max(letters, key=lambda x: want(x, 2))
    for n in (1, 2):
        got = query(run, {"cohort": {"all": [{"prefix": COND + "|" + letter, "min_count": n}]}})
        assert got["patients"] == want(letter, n) > 0, (letter, n)


def test_after_is_exact(run):
    """Relative windows are exact: both dates carry the same patient shift."""
    tl = timelines(run)
    conds = codes_of(run, COND)
    enc = codes_of(run, hg_sys_act())[0]
    doc = {"cohort": {"all": [{"code": enc},
                              {"prefix": COND + "|", "after": {"criterion": 0, "min_days": 0,
                                                               "max_days": 30}}]}}
    want = 0
    for ev in tl.values():
        e_days = [d for d, code in ev if code == enc and d]
        c_days = [d for d, code in ev if code.startswith(COND + "|") and d]
        if any(0 <= (day(c) - day(e)).days <= 30 for c in c_days for e in e_days):
            want += 1
    got = query(run, doc)
    assert got["patients"] == want > 0
    assert conds
    # the simulator dates a patient's visit on one day: 1..30 days after it
    # nobody, although every date moved by up to a year
    doc["cohort"]["all"][1]["after"]["min_days"] = 1
    assert query(run, doc)["patients"] == 0


def hg_sys_act():
    return "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def day(s):
    return datetime.date.fromisoformat(s)


def test_records_window_and_by_year(run):
    """Records before the cohort's window are not counted; by year counts a
    patient once per year."""
    tl = timelines(run)
    code = codes_of(run, COND)[0]
    frm, to = "2018-01-01", "2021-12-31"
    doc = {"cohort": {"all": [{"code": code, "from": frm, "to": to}]}, "by": ["year"],
           "measure": {"kind": "records"}}
    got = query(run, doc)
    cohort = [p for p, ev in tl.items() if any(d and frm <= d <= to and c == code for d, c in ev)]
    recs = [(p, d) for p in cohort for d, c in tl[p] if d and frm <= d <= to]
    assert got["patients"] == len(cohort) > 0
    assert got["records"] == len(recs)
    years = collections.defaultdict(lambda: [set(), 0])
    for p, d in recs:
        years[d[:4]][0].add(p)
        years[d[:4]][1] += 1
    assert {c["year"]: (c["patients"], c["records"]) for c in got["cells"]} == \
        {y: (len(v[0]), v[1]) for y, v in years.items()}


def test_series_incidence(run):
    tl = timelines(run)
    code = codes_of(run, COND)[0]
    got = query(run, {"cohort": {"all": [{"code": code}]},
                      "measure": {"kind": "series", "code": code, "interval": "year",
                                  "incidence": True}})
    first = collections.Counter()
    for ev in tl.values():
        days = sorted(d for d, c in ev if c == code and d)
        if days:
            first[days[0][:4]] += 1
    assert {s["period"]: s["patients"] for s in got["series"]} == dict(first)


def test_prevalence_and_top(run):
    tl = timelines(run)
    code = codes_of(run, COND)[0]
    got = query(run, {"cohort": {"all": [{"code": code}]},
                      "measure": {"kind": "prevalence", "per": 1000}})
    n = sum(1 for ev in tl.values() if any(c == code for _, c in ev))
    assert got["patients"] == n
    assert got["denominator"] == PATIENTS
    assert abs(got["rate"] - n * 1000 / PATIENTS) < 1e-9
    got = query(run, {"measure": {"kind": "top", "of": "condition", "n": 1000}})
    per_code = collections.Counter()
    for ev in tl.values():
        for c in {c for _, c in ev if c.startswith(COND + "|")}:
            per_code[c] += 1
    # a condition carries its ICD-10 code and a SNOMED one: compare the ICD-10 ones
    icd = [(t["code"], t["patients"]) for t in got["top"] if t["code"].startswith(COND + "|")]
    assert icd == sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0]))
    top5 = query(run, {"measure": {"kind": "top", "of": "condition", "n": 5}})["top"]
    assert top5 == got["top"][:5]


def test_bad_document_names_the_field(run):
    r = query(run, {"cohort": {"all": [{"code": "nobar", "from": "2020-01-01"}]}}, ok=False)
    assert r.rc == 1 and "cohort.all[0].code" in r.err, r
    r = query(run, {"measure": {"kind": "distribution", "code": "x|y", "bins": [3, 1]}},
              ok=False)
    assert r.rc == 1 and "measure.bins" in r.err, r


def kept_birth_year(key, person_key, birth_date):
    """services/deid/policy.c s_kept_birth_year: the birth date shifted as a year
    (from July 2), a month (from the 15th) and a day; the smallest year; 0 over 89."""
    partner, ref = person_key.split("|", 1)
    shift = hg.dateshift_days(key, hg.patient_pseudonym(key, partner, ref))
    b = day(birth_date)
    years = [(d + datetime.timedelta(days=shift)).year
             for d in (datetime.date(b.year, 7, 2), datetime.date(b.year, b.month, 15), b)]
    today = datetime.date.today()
    age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    return 0 if age > 89 else min(years)


def test_sex_and_age_strata(run):
    """Age from the kept birth year (approximate by a year, as documented); sex and
    the patient counted once per cell."""
    tl = timelines(run)
    people = run["truth"]["people"]
    code = codes_of(run, COND)[0]
    year = datetime.date.today().year
    got = query(run, {"cohort": {"all": [{"code": code}], "sex": ["female"],
                                 "age": {"from": 18, "to": 89}},
                      "by": ["sex", "age_group"]})
    everyone = query(run, {"by": ["sex", "age_group"]})
    want, want_all = collections.Counter(), collections.Counter()
    for (partner, ref), ev in tl.items():
        pk = partner + "|" + ref
        person = people[pk]
        by = kept_birth_year(run["key"], pk, person["birth_date"])
        age = year - by if by else 90
        group = "90+" if age >= 90 else "%d-%d" % (age // 10 * 10, age // 10 * 10 + 9)
        want_all[(person["sex"], group)] += 1
        if person["sex"] == "female" and 18 <= age <= 89 and any(c == code for _, c in ev):
            want[group] += 1
    assert got["patients"] == sum(want.values()) > 0
    assert {c["age_group"]: c["patients"] for c in got["cells"]} == dict(want)
    assert {c["sex"] for c in got["cells"]} == {"female"}
    assert everyone["patients"] == PATIENTS
    assert {(c["sex"], c["age_group"]): c["patients"] for c in everyone["cells"]} == \
        dict(want_all)


def test_distribution_of_a_lab(run):
    truth = run["truth"]
    lab = collections.Counter(v[2] for v in truth["values"]).most_common(1)[0][0]
    vals = sorted(v[4] for v in truth["values"] if v[2] == lab)
    # edges on measured values: bins are [from, to)
    edges = sorted({vals[0], vals[len(vals) // 4], vals[len(vals) // 2],
                    vals[3 * len(vals) // 4], vals[-1] + 1})
    got = query(run, {"measure": {"kind": "distribution", "code": lab, "bins": edges}})
    for i, b in enumerate(got["bins"]):
        inside = [v for v in truth["values"] if v[2] == lab and edges[i] <= v[4] < edges[i + 1]]
        assert (b["records"], b["patients"]) == (len(inside),
                                                 len({(v[0], v[1]) for v in inside})), b
    assert sum(b["records"] for b in got["bins"]) == len(vals)


def test_export_is_deidentified_and_complete(run, tmp_path):
    """hourglass export: every record once (ndjson), one row per code (csv), only
    pseudonyms and shifted dates; no identifier of the feeds in either file; the
    shards count what they exported."""
    c, truth = run["cluster"], run["truth"]
    r = hg.run("export", "--cluster", c.dir, "--format", "ndjson", "--out", tmp_path / "n",
               "--json", "--page", 37, timeout=120)
    assert r.rc == 0, r
    assert r.json()["records"] == truth["records"]["distinct"] and r.json()["shards"] == SHARDS
    with open(r.json()["file"]) as f:
        recs = [json.loads(line) for line in f]
    assert len({x["record_id"] for x in recs}) == len(recs)
    assert all(len(x["patient"]) == 32 for x in recs)
    assert sum(len(x["codes"]) for x in recs) == len(truth["facts"])
    r = hg.run("export", "--cluster", c.dir, "--format", "csv", "--out", tmp_path / "c",
               timeout=120)
    assert r.rc == 0, r
    with open(tmp_path / "c" / "records.csv") as f:
        rows = f.read().splitlines()
    assert rows[0].startswith("patient,record_id,kind,effective,system,code,value")
    coded = [x for x in recs if x["codes"]]
    assert len(rows) - 1 == len(truth["facts"]) + len(recs) - len(coded)
    needles = [v.encode() for k in ("mrns", "ssns", "phones", "streets", "birth_dates")
               for v in truth["phi"][k]]
    found = hg.scan_files([str(tmp_path)], needles)
    assert not found, found
    stats = c.stats()
    assert hg.counters(stats, "indexer", "exported") == 2 * truth["records"]["distinct"]
    r = hg.run("export", "--cluster", c.dir, "--format", "xml", "--out", tmp_path / "x")
    assert r.rc == 2 and "--format must be ndjson or csv" in r.err
