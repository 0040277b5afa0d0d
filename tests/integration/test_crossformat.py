"""
test_crossformat.py -- one partner sends the same lab results twice: as HL7 v2
ORU^R01 over ZeroMQ push (patient = PID-3 MRN) and as FHIR (a transaction
Bundle whose Patients carry the MRN among their identifiers, references by
urn:uuid, Patient/<id>, conditional Patient?identifier= and logical
Reference.identifier; and a bulk export whose Patient.ndjson arrives in a
payload of its own before Observation.ndjson). Every lab is indexed once: the
count per code equals the number of distinct labs, not twice that. A FHIR lab
whose Patient is unknown is still indexed, and counted as not linked to an
MRN in the partner's quality report.
"""
import json
import os

import hg

PARTNER = "valley-lab"
MRN_SYS = "urn:oid:2.16.840.1.113883.19.5"
GLUCOSE = "http://loinc.org|2345-7"
HBA1C = "http://loinc.org|4548-4"
CHOLESTEROL = "http://loinc.org|2093-3"

# (MRN, sex, birth, [(loinc, local date-time, HL7 value, HL7 unit, FHIR value, FHIR unit)])
# Times are local to the sender (-05:00, stated in MSH-7); HL7 glucose of the
# first patient is in mmol/L, FHIR's in mg/dL (5.3 * 18 = 95.4).
PATIENTS = [
    ("VL-1001", "F", "19700201", [("2345-7", "202103041030", "5.3", "mmol/L", 95.4, "mg/dL"),
                                  ("4548-4", "202103041030", "6.1", "%", 6.1, "%")]),
    ("VL-1002", "M", "19650317", [("2345-7", "202103050800", "99", "mg/dL", 99, "mg/dL"),
                                  ("4548-4", "202103050800", "7.2", "%", 7.2, "%")]),
    ("VL-1003", "F", "19811224", [("2345-7", "202103060915", "101", "mg/dL", 101, "mg/dL")]),
    # its FHIR Patient and Observations come as two NDJSON payloads
    ("VL-1004", "M", "19590630", [("2345-7", "202103071100", "88", "mg/dL", 88, "mg/dL"),
                                  ("4548-4", "202103071100", "5.6", "%", 5.6, "%")]),
]


def _hl7():
    msgs = []
    for i, (mrn, sex, birth, labs) in enumerate(PATIENTS):
        segs = ["MSH|^~\\&|LIS|VALLEY LAB|HG|HG|20210308120000-0500||ORU^R01|VL%04d|P|2.5.1" % i,
                "PID|1||999-00-%04d^^^SSA^SS~%s^^^VALLEY^MR||Doe^Pat%d||%s|%s" % (i, mrn, i, birth,
                                                                                sex),
                "OBR|1||ORD-%d|24323-8^Metabolic panel^LN" % i]
        for k, (loinc, when, value, unit, _, _) in enumerate(labs):
            # a local code first, LOINC as the alternate identifier; OBX-14 without zone
            segs.append("OBX|%d|NM|L%s^Lab test^L^%s^Lab test^LN||%s|%s|||||F|||%s"
                        % (k + 1, loinc, loinc, value, unit, when))
        msgs.append("\r".join(segs) + "\r")
    return "".join(msgs).encode()


def _iso(when):
    """HL7 local time -> FHIR dateTime with the sender's offset."""
    return "%s-%s-%sT%s:%s:00-05:00" % (when[0:4], when[4:6], when[6:8], when[8:10], when[10:12])


def _patient(pid, i):
    mrn, sex, birth, _ = PATIENTS[i]
    return {"resourceType": "Patient", "id": pid,
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-00-%04d" % i},
                           {"type": {"coding": [{
                               "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                               "code": "MR"}]},
                            "system": MRN_SYS, "value": mrn}],
            "gender": "female" if sex == "F" else "male",
            "birthDate": "%s-%s-%s" % (birth[0:4], birth[4:6], birth[6:8])}


def _observation(oid, subject, lab, utc=False):
    loinc, when, _, _, value, unit = lab
    eff = _iso(when)
    if utc:   # the same instant written in UTC
        hh = int(when[8:10]) + 5
        eff = "%s-%s-%sT%02d:%s:00Z" % (when[0:4], when[4:6], when[6:8], hh, when[10:12])
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc},
                                {"system": "http://valley-lab.example/codes", "code": "L" + loinc}]},
            "subject": subject, "effectiveDateTime": eff,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def _bundle():
    p1, p2, p3 = PATIENTS[0], PATIENTS[1], PATIENTS[2]
    entries = [
        # the Observation before its Patient entry
        {"resource": _observation("o-1a", {"reference": "urn:uuid:aa01"}, p1[3][0], utc=True)},
        {"fullUrl": "urn:uuid:aa01", "resource": _patient("fhir-pat-1", 0)},
        {"fullUrl": "urn:uuid:aa02", "resource": _patient("fhir-pat-2", 1)},
        {"resource": _observation("o-1b", {"identifier": {"system": MRN_SYS, "value": p1[0]}},
                                  p1[3][1])},
        {"resource": _observation("o-2a", {"reference": "Patient/fhir-pat-2"}, p2[3][0])},
        {"resource": _observation("o-2b", {"reference": "urn:uuid:aa02"}, p2[3][1])},
        {"resource": _observation(
            "o-3a", {"reference": "Patient?identifier=%s|%s" % (MRN_SYS, p3[0])}, p3[3][0])},
        # a lab of a patient this partner never sent: indexed, not linked
        {"resource": {"resourceType": "Observation", "id": "o-ghost", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
                      "subject": {"reference": "Patient/ghost-9"},
                      "effectiveDateTime": "2021-03-04T10:30:00-05:00",
                      "valueQuantity": {"value": 180, "unit": "mg/dL"}}},
    ]
    for e in entries:
        e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def _ndjson(resources):
    return ("\n".join(json.dumps(r) for r in resources) + "\n").encode()


def _write(tmp_path, name, data):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _push(c, path, fmt, records):
    r = c.push([path], fmt, PARTNER, wait=60, timeout=120)
    assert r.rc == 0, r
    js = r.json()
    assert (js["accepted"], js["records"], js["rejected"]) == (1, records, 0), r
    return js


def _quality(c, partner):
    r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json")
    assert r.rc == 0, r
    return r.json()


def test_same_labs_from_hl7_and_fhir_count_once(make_cluster, tmp_path):
    c = make_cluster("xformat")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    n_labs = sum(len(p[3]) for p in PATIENTS)

    # HL7 first: every lab and every patient once
    _push(c, _write(tmp_path, "labs.hl7", _hl7()), "hl7v2", len(PATIENTS) + n_labs)
    stats = c.wait_drained(deadline_s=60)
    assert hg.indexed_total(stats) == len(PATIENTS) + n_labs, stats
    assert c.count(GLUCOSE)[0] == {"patients": 4, "records": 4, "suppressed": False}
    assert c.count(HBA1C)[0] == {"patients": 3, "records": 3, "suppressed": False}

    # the same labs as FHIR: 2 Patients + 5 labs + the ghost's lab
    _push(c, _write(tmp_path, "labs.json", _bundle()), "fhir", 8)
    # a bulk export: Patient.ndjson, then (another payload) Observation.ndjson
    p4 = PATIENTS[3]
    _push(c, _write(tmp_path, "Patient.ndjson", _ndjson([_patient("nd-pat-4", 3)])), "fhir", 1)
    obs = [_observation("nd-o-%d" % k, {"reference": "Patient/nd-pat-4"}, lab)
           for k, lab in enumerate(p4[3])]
    _push(c, _write(tmp_path, "Observation.ndjson", _ndjson(obs)), "fhir", len(obs))
    stats = c.wait_drained(deadline_s=60)

    # one record per distinct lab and patient: only the ghost's lab is new
    assert hg.indexed_total(stats) == len(PATIENTS) + n_labs + 1, stats
    dups = hg.counters(stats, "indexer", "duplicate_records")
    assert dups == 3 + n_labs, stats    # 3 FHIR Patients and every lab again
    assert c.count(GLUCOSE)[0] == {"patients": 4, "records": 4, "suppressed": False}
    assert c.count(HBA1C)[0] == {"patients": 3, "records": 3, "suppressed": False}
    # the lab whose Patient is unknown is not lost
    assert c.count(CHOLESTEROL)[0] == {"patients": 1, "records": 1, "suppressed": False}

    # linking through the cleanser's table (Patient in an earlier payload)
    assert hg.counters(stats, "cleanser", "patient_relinked") == len(obs), stats
    assert hg.counters(stats, "cleanser", "patient_unlinked") == 1, stats
    q = _quality(c, PARTNER)
    assert q["flags"].get("patient.unlinked") == 1, q

    # re-sending the FHIR Bundle changes nothing anywhere
    r = hg.run("push", "--cluster", c.dir, "--format", "fhir", "--partner", PARTNER, "--wait",
               60, "--json", str(tmp_path / "labs.json"))
    assert r.rc == 0 and r.json()["duplicates"] == 1, r
    assert hg.indexed_total(c.wait_drained(deadline_s=60)) == len(PATIENTS) + n_labs + 1


def test_bulk_export_patients_link_later_files(make_cluster, tmp_path):
    """A real bulk export (Synthea, ../shared/data when present): Patient.ndjson
    then Condition.ndjson, pushed together; every Condition is linked to its
    Patient's MR identifier through the cleanser's link table."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                       "data", "synthea-bulk-10")
    patients = os.path.join(src, "Patient.000.ndjson")
    conditions = os.path.join(src, "Condition.000.ndjson")
    if not (os.path.exists(patients) and os.path.exists(conditions)):
        import pytest
        pytest.skip("%s not present" % src)
    n_cond = sum(1 for line in open(conditions) if line.strip())
    n_pat = sum(1 for line in open(patients) if line.strip())
    c = make_cluster("bulk")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    r = c.push([patients, conditions], "fhir", "synthea", wait=120, timeout=240)
    assert r.rc == 0, r
    assert (r.json()["records"], r.json()["rejected"]) == (n_pat + n_cond, 0), r
    stats = c.wait_drained(deadline_s=120)
    assert hg.counters(stats, "cleanser", "patient_relinked") == n_cond, stats
    assert hg.counters(stats, "cleanser", "patient_unlinked") == 0, stats
    q = _quality(c, "synthea")
    assert "patient.unlinked" not in q["flags"], q


def test_many_patients_then_their_labs(make_cluster, tmp_path):
    """300 Patients and their 300 labs as two NDJSON payloads of one push: every
    lab is linked to its Patient's MRN (whether the cleanser takes both payloads
    in one round or two) and counts once with the same labs sent as HL7."""
    n = 300
    c = make_cluster("many")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    pats, obs, hl7 = [], [], []
    for i in range(n):
        mrn = "BX-%05d" % i
        pats.append({"resourceType": "Patient", "id": "bulk-%05d" % i,
                     "identifier": [{"type": {"coding": [{
                         "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                         "code": "MR"}]}, "value": mrn}]})
        obs.append({"resourceType": "Observation", "id": "bo-%05d" % i, "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
                    "subject": {"reference": "Patient/bulk-%05d" % i},
                    "effectiveDateTime": "2021-04-01T08:00:00Z",
                    "valueQuantity": {"value": 150 + i % 50, "unit": "mg/dL"}})
        hl7.append("MSH|^~\\&|LIS|LAB|HG|HG|20210401090000+0000||ORU^R01|BX%05d|P|2.5.1\r"
                   "PID|1||%s^^^LAB^MR\r"
                   "OBX|1|NM|2093-3^Cholesterol^LN||%d|mg/dL|||||F|||202104010800\r"
                   % (i, mrn, 150 + i % 50))
    pp = _write(tmp_path, "Patient.ndjson", _ndjson(pats))
    po = _write(tmp_path, "Observation.ndjson", _ndjson(obs))
    r = c.push([pp, po], "fhir", "bulk-lab", wait=120, timeout=240)
    assert r.rc == 0 and r.json()["records"] == 2 * n, r
    ph = _write(tmp_path, "labs.hl7", "".join(hl7).encode())
    r = c.push([ph], "hl7v2", "bulk-lab", wait=120, timeout=240)
    assert r.rc == 0 and r.json()["records"] == 2 * n, r
    stats = c.wait_drained(deadline_s=120)
    assert hg.counters(stats, "cleanser", "patient_relinked") == n, stats
    assert hg.counters(stats, "cleanser", "patient_unlinked") == 0, stats
    # HL7 PIDs carry no birth date or sex, FHIR Patients neither: one record each
    assert hg.indexed_total(stats) == 2 * n, stats
    assert c.count(CHOLESTEROL)[0] == {"patients": n, "records": n, "suppressed": False}
