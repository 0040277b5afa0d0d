"""
test_fhir_http.py -- FHIR over HTTP through a real cluster, with Python's
urllib/http.client as the independent client: 202 + OperationOutcome only
once journalled, a re-POST is idempotent (200), bearer tokens name the
partner, a wrong token is refused (401) with nothing stored, NDJSON is
accepted, and the records are counted exactly. SIGHUP re-reads the tokens
file (a broken one keeps the tokens in force); with http_tls_cert/key the
endpoint speaks only HTTPS (certificates made here with the openssl CLI).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

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


# ---- SIGHUP re-reads the tokens file ------------------------------------------

def _collector(c):
    pids = c.pids_from_file()
    name = [n for n in pids if n.startswith("collector")][0]
    return name, pids[name]


def _sighup(c, counter, deadline_s=15):
    """SIGHUPs the collector and waits until its counter `counter` rises."""
    before = hg.counters(c.stats(), "collector", counter)
    os.kill(_collector(c)[1], signal.SIGHUP)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        stats = c.stats()
        if hg.counters(stats, "collector", counter) > before:
            return stats
        time.sleep(0.05)
    raise AssertionError("collector counter %s did not rise after SIGHUP; stats %s"
                         % (counter, json.dumps(c.stats(), indent=1)))


def _log(c):
    with open(os.path.join(c.dir, "logs", "%s.log" % _collector(c)[0])) as f:
        return f.read()


TOK_CLINIC = "tok-clinic-0123456789abcdef"
TOK_LAB = "tok-lab-0123456789abcdefgh"
TOK_NEW = "tok-newlab-00112233445566778899"


def test_sighup_reloads_tokens(make_cluster, tmp_path):
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    c = make_cluster("reload")
    c.up("--http-tokens", str(tokens), "--min-cell", "0", "--heartbeat-ms", "200")
    url = "http://%s/fhir" % c.cluster_json()["http"]
    accepted = 0

    status, oo = _post(url, _bundle("pat-r0", [90]), TOK_NEW)
    assert status == 401, oo
    status, oo = _post(url, _bundle("pat-r1", [91]), TOK_LAB)
    assert status == 202, oo
    accepted += 1

    # lab-http's token revoked, newlab-http added
    tokens.write_text("# rotated\n%s clinic-http\n%s newlab-http\n" % (TOK_CLINIC, TOK_NEW))
    _sighup(c, "http_tokens_reloaded")
    assert "event=http_tokens_reloaded partners=2" in _log(c)
    status, oo = _post(url, _bundle("pat-r2", [92]), TOK_NEW)
    assert status == 202 and "accepted as newlab-http/" in oo["issue"][0]["diagnostics"], oo
    accepted += 1
    status, oo = _post(url, _bundle("pat-r3", [93]), TOK_LAB)
    assert status == 401 and oo["issue"][0]["code"] == "login", oo

    # a broken file (here: a token too short) keeps the tokens in force
    tokens.write_text("%s clinic-http\nshort newlab-http\n" % TOK_CLINIC)
    stats = _sighup(c, "http_tokens_reload_failed")
    assert hg.counters(stats, "collector", "http_tokens_reloaded") == 1, stats
    log = _log(c)
    assert "event=http_tokens_reload_failed" in log and "line 2: token is shorter" in log, log
    # an emptied file neither opens the endpoint nor locks everyone out
    tokens.write_text("# all gone\n")
    _sighup(c, "http_tokens_reload_failed")
    assert "holds no token" in _log(c)
    status, oo = _post(url, _bundle("pat-r4", [94]), TOK_NEW)
    assert status == 202 and "newlab-http/" in oo["issue"][0]["diagnostics"], oo
    accepted += 1
    status, oo = _post(url, _bundle("pat-r5", [95]), TOK_CLINIC)
    assert status == 202 and "clinic-http/" in oo["issue"][0]["diagnostics"], oo
    accepted += 1
    for tok in (TOK_LAB, "", "tok-unknown-000000000000000"):
        status, oo = _post(url, _bundle("pat-r6", [96]), tok)
        assert status == 401, (tok, oo)

    c.wait_drained()
    got, _ = c.count("http://loinc.org|2345-7")
    # pat-r1, r2, r4, r5: one Observation each; the refused ones stored nothing
    assert (got["patients"], got["records"]) == (accepted, accepted), got
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == accepted, stats
    assert hg.counters(stats, "collector", "http_tokens_reloaded") == 1, stats
    assert hg.counters(stats, "collector", "http_tokens_reload_failed") == 2, stats


# ---- HTTPS ----------------------------------------------------------------------

def _self_signed(tmp_path, name="server", cn="127.0.0.1"):
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert, key)."""
    assert shutil.which("openssl"), "openssl CLI missing: run deploy/install-deps.sh"
    cert, key = tmp_path / ("%s.crt" % name), tmp_path / ("%s.key" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "2", "-subj", "/CN=%s" % cn,
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def _https_post(addr, ctx, body, token):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
    try:
        conn.request("POST", "/fhir", body=body,
                     headers={"Content-Type": "application/fhir+json",
                              "Authorization": "Bearer %s" % token})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_https(make_cluster, tmp_path):
    cert, key = _self_signed(tmp_path)
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    c = make_cluster("https")
    c.up("--http-tokens", str(tokens), "--http-tls-cert", str(cert), "--http-tls-key", str(key),
         "--min-cell", "0", "--heartbeat-ms", "200")
    addr = c.cluster_json()["http"]
    assert "scheme=https" in _log(c)

    ctx = ssl.create_default_context(cafile=str(cert))
    status, oo = _https_post(addr, ctx, _bundle("pat-s1", [101, 102]), TOK_CLINIC)
    assert status == 202 and "accepted as clinic-http/" in oo["issue"][0]["diagnostics"], oo
    status, oo = _https_post(addr, ctx, _bundle("pat-s2", [103]), "not-a-token-000000000000")
    assert status == 401, oo

    # plain HTTP to the HTTPS port: no answer, the handshake fails
    host, port = addr.rsplit(":", 1)
    plain = http.client.HTTPConnection(host, int(port), timeout=30)
    with pytest.raises((http.client.HTTPException, OSError)):
        plain.request("POST", "/fhir", body=_bundle("pat-s3", [104]),
                      headers={"Content-Type": "application/fhir+json",
                               "Authorization": "Bearer %s" % TOK_CLINIC})
        plain.getresponse()
    plain.close()
    # a client that does not trust the certificate refuses to send anything
    other_cert, _ = _self_signed(tmp_path, "other", "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_post(addr, ssl.create_default_context(cafile=str(other_cert)),
                    _bundle("pat-s4", [105]), TOK_CLINIC)

    c.wait_drained()
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (1, 2), got
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == 1, stats


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tls_config_errors(tmp_path):
    """Bad TLS options stop the collector at start with a message naming the problem."""
    cert, key = _self_signed(tmp_path)
    _, other_key = _self_signed(tmp_path, "other", "other")
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("this is not a certificate\n")
    runtime = ["--data-dir", tmp_path / "data", "--control", "ipc://%s/ctl" % tmp_path,
               "--ingest", "ipc://%s/ingest" % tmp_path,
               "--deliver", "ipc://%s/deliver" % tmp_path]
    base = runtime + ["--http", "127.0.0.1:%d" % _free_port(), "--http-tokens", tokens]
    cases = [
        (["--http-tls-cert", cert], "http_tls_cert is set but http_tls_key is not"),
        (["--http-tls-key", key], "http_tls_key is set but http_tls_cert is not"),
        (["--http-tls-cert", cert, "--http-tls-key", other_key],
         "The certificate and the given key do not match"),
        (["--http-tls-cert", not_pem, "--http-tls-key", key], "is not a PEM certificate"),
        (["--http-tls-cert", cert, "--http-tls-key", cert], "is not a PEM private key"),
        (["--http-tls-cert", tmp_path / "missing.crt", "--http-tls-key", key],
         "cannot read http_tls_cert %s" % (tmp_path / "missing.crt")),
    ]
    for extra, message in cases:
        r = hg.run_binary("hourglass-collector", *(base + extra), timeout=30)
        assert r.rc == 2 and message in r.err, (extra, r)
    r = hg.run_binary("hourglass-collector", *runtime, "--http-tls-cert", cert,
                      "--http-tls-key", key, timeout=30)
    assert r.rc == 2 and "http_tls_cert and http_tls_key need http" in r.err, r
