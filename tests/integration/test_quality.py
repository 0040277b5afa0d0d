"""
test_quality.py -- `hourglass quality`: per-partner figures merged over two
cleanser instances equal the ground truth (records, rejected, conformance),
reasons add up to the rejected count with examples, figures survive a
restart of the cleansers, and the HTML page is written.
"""
import os

import hg


def test_quality_report_matches_truth(make_cluster, tmp_path):
    sim = tmp_path / "sim"
    truth = hg.simulate(sim, 120, 3, 7)
    c = make_cluster("quality")
    c.up("--cleansers", "2", "--min-cell", "0", "--heartbeat-ms", "200")
    hg.push_partners(c, sim, truth)
    c.wait_drained()

    def report(partner):
        r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json")
        assert r.rc == 0, r
        return r.json()

    total_records = total_rejected = 0
    for partner, p in truth["partners"].items():
        q = report(partner)
        assert q["partner"] == partner
        assert q["messages"] == len(p["files"]), q
        assert sum(x["count"] for x in q["top_reasons"]) == q["rejected"], q
        for x in q["top_reasons"]:
            assert x["examples"] and partner in x["examples"][0], x
        want = 100.0 * q["records"] / (q["records"] + q["rejected"]) if q["records"] else 100.0
        assert abs(q["conformance"] - want) < 0.051, q
        assert q["completeness"] == 100.0, q   # simulated records are complete
        total_records += q["records"]
        total_rejected += q["rejected"]
    assert total_rejected == truth["quarantined"]
    # records before de-duplication: the ADT and ORU of a patient both carry its PID
    hospital = truth["partners"]["general-hospital"]["patients"]
    assert total_records == truth["records"]["distinct"] + hospital

    # figures are persisted with the records: a restart of the cleansers keeps them
    before = report("city-lab")
    c.kill9("cleanser-0", "cleanser-1")
    c.up()
    assert report("city-lab") == before

    html = str(tmp_path / "city-lab.html")
    r = hg.run("quality", "--cluster", c.dir, "--partner", "city-lab", "--html", html)
    assert r.rc == 0 and "conformance" in r.out, r
    page = open(html, encoding="utf-8").read()
    assert "<h1>Data quality: city-lab</h1>" in page and "Top rejection reasons" in page
    assert ("%.1f%%" % before["conformance"]) in page

    r = hg.run("quality", "--cluster", c.dir, "--partner", "nobody")
    assert r.rc == 1 and "no data from partner 'nobody'" in r.err, r


def test_flags_are_counted_not_dropped(make_cluster, tmp_path):
    """An implausible value and a bad LOINC check digit are flagged, counted in the
    partner's plausibility, and the records are still indexed (never dropped)."""
    import json
    c = make_cluster("flags")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    lines = [
        {"resourceType": "Patient", "id": "fp1", "gender": "female", "birthDate": "1970-01-01"},
        {"resourceType": "Observation", "id": "o1", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
         "subject": {"reference": "Patient/fp1"}, "effectiveDateTime": "2021-03-01",
         "valueQuantity": {"value": 5000, "unit": "mg/dL"}},
        {"resourceType": "Observation", "id": "o2", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-8"}]},
         "subject": {"reference": "Patient/fp1"}, "effectiveDateTime": "2021-03-02",
         "valueQuantity": {"value": 5.5, "unit": "mmol/L"}},
        {"resourceType": "Observation", "id": "o3", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
         "subject": {"reference": "Patient/fp1"}, "effectiveDateTime": "2021-03-03",
         "valueQuantity": {"value": 5.5, "unit": "mmol/L"}},
        {"resourceType": "Observation", "id": "o4", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
         "subject": {"reference": "Patient/fp1"}, "effectiveDateTime": "1965-03-03",
         "valueQuantity": {"value": 90, "unit": "mg/dL"}},
    ]
    path = tmp_path / "flags.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = hg.run("push", "--cluster", c.dir, "--format", "fhir", "--partner", "flag-lab",
               "--wait", 60, str(path))
    assert r.rc == 0, r
    c.wait_drained()
    q = hg.run("quality", "--cluster", c.dir, "--partner", "flag-lab", "--json").json()
    assert q["records"] == 5 and q["rejected"] == 0, q
    # the birth date comes from the Patient resource of the same payload; the
    # Patient has no identifier, so its 5 records are not linked to an MRN
    # (a data-quality flag, not counted in plausibility)
    assert q["flags"] == {"value.implausible": 1, "code.invalid_check_digit": 1,
                          "date.before_birth": 1, "patient.unlinked": 5}, q
    assert abs(q["plausibility"] - 40.0) < 0.01, q
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (1, 3), got     # flagged, still indexed
