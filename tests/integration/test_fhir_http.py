"""
test_fhir_http.py -- FHIR over HTTP through a real cluster, with Python's
urllib as the independent client: 202 + OperationOutcome only once
journalled, a re-POST is idempotent (200), bearer tokens name the partner,
a wrong token is refused (401) with nothing stored, NDJSON is accepted, and
the records are counted exactly.
"""
import json
import urllib.error
import urllib.request

import hg

TOKENS = "# token partner\ntok-clinic-0123456789abcdef clinic-http\ntok-lab-0123456789abcdefgh lab-http\n"


def _bundle(pid, values):
    entries = [{"fullUrl": "urn:uuid:%s" % pid,
                "resource": {"resourceType": "Patient", "id": pid, "gender": "female",
                             "birthDate": "1970-01-01"}}]
    for i, v in enumerate(values):
        entries.append({"resource": {
            "resourceType": "Observation", "id": "%s-o%d" % (pid, i), "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "urn:uuid:%s" % pid},
            "effectiveDateTime": "2021-03-0%dT10:00:00Z" % (i + 1),
            "valueQuantity": {"value": v, "unit": "mg/dL"}}})
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def _post(url, body, token, ctype="application/fhir+json"):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": ctype,
                                          "Authorization": "Bearer %s" % token})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_fhir_over_http(make_cluster, tmp_path):
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    c = make_cluster("http")
    c.up("--http-tokens", str(tokens), "--min-cell", "0", "--heartbeat-ms", "200")
    url = "http://%s/fhir" % c.cluster_json()["http"]

    status, oo = _post(url, _bundle("pat-1", [95, 101]), "tok-clinic-0123456789abcdef")
    assert status == 202, oo
    assert oo["resourceType"] == "OperationOutcome", oo
    assert "accepted as clinic-http/" in oo["issue"][0]["diagnostics"], oo

    status, oo = _post(url, _bundle("pat-1", [95, 101]), "tok-clinic-0123456789abcdef")
    assert status == 200 and "already accepted" in oo["issue"][0]["diagnostics"], oo

    status, oo = _post(url, _bundle("pat-9", [77]), "not-a-token-000000000000")
    assert status == 401 and oo["issue"][0]["code"] == "login", oo

    ndjson = b"\n".join(json.dumps(r).encode() for r in [
        {"resourceType": "Patient", "id": "pat-2", "gender": "male", "birthDate": "1980-01-01"},
        {"resourceType": "Observation", "id": "pat-2-o", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
         "subject": {"reference": "Patient/pat-2"}, "effectiveDateTime": "2021-04-01",
         "valueQuantity": {"value": 88, "unit": "mg/dL"}}]) + b"\n"
    status, oo = _post(url, ndjson, "tok-lab-0123456789abcdefgh", "application/fhir+ndjson")
    assert status == 202 and "lab-http/" in oo["issue"][0]["diagnostics"], oo

    c.wait_drained()
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (2, 3), got
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == 2, stats
    assert hg.counters(stats, "collector", "duplicates") == 1, stats
