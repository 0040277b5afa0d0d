"""
test_api.py -- analytics' HTTP/JSON API and its audit trail (issue 14,
docs/analytics.md "The HTTP API", docs/security.md "Analysts and the audit
trail") on a live cluster of two shards: bearer tokens from `hourglass
cluster add-analyst` (401 without one, nothing answered or recorded), POST
/v1/query answering what `hourglass query run` answers, GET /v1/codes with
suppressed counts, GET /v1/openapi.yaml serving docs/openapi.yaml, errors as
JSON with the right status, `hourglass audit list|verify`, and a store
tampered with (entries changed, deleted, inserted, appended) that verify
must name. A shard down is a 503.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

import hg

PATIENTS = 60
SEED = 1414
SHARDS = 2
MIN_CELL = 3
ROUND_TO = 10  # analytics' round_to default: every count shown is a multiple of it


def released(n):
    """A count as analytics releases it to role aggregate: rounded half up to a
    multiple of ROUND_TO, never to 0 (disclose.c hg_disclose_round)."""
    r = n // ROUND_TO * ROUND_TO
    r += ROUND_TO if n - r >= (ROUND_TO + 1) // 2 else 0
    return r or ROUND_TO
COND = "http://hl7.org/fhir/sid/icd-10-cm"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    sim = str(base / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, 0)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--shards", str(SHARDS), "--min-cell", str(MIN_CELL), "--heartbeat-ms", "200",
             "--compression", "none")
        hg.push_partners(c, sim, truth)
        c.wait_drained(deadline_s=180)
        r = hg.run("cluster", "add-analyst", "alice", "--dir", c.dir, "--json")
        assert r.rc == 0, r
        alice = r.json()
        yield {"cluster": c, "truth": truth, "base": base, "alice": alice,
               "url": c.cluster_json()["analytics_http"]}
    finally:
        c.teardown()


def http(run, method, path, body=None, token=None, headers=None, raw=None):
    """(status, headers, parsed JSON or text) of one request to the API."""
    status, hdrs, text = hg.http_request(run["url"] + path, method, body, token, headers, raw)
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text.decode()


def query_run(run, doc):
    path = os.path.join(str(run["base"]), "q.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    r = hg.run("query", "run", "--cluster", run["cluster"].dir, "--file", path, "--json")
    assert r.rc == 0, r
    return r.json()


def audit(run, *args):
    r = hg.run("audit", "list", "--cluster", run["cluster"].dir, "--json", *args)
    assert r.rc == 0, r
    return r.json()


def verify(run, *args):
    r = hg.run("audit", "verify", "--cluster", run["cluster"].dir, "--json", *args)
    assert r.rc in (0, 1), r
    v = r.json()
    assert (r.rc == 0) == v["intact"], r
    return v


def without_id(answer):
    return {k: v for k, v in answer.items() if k != "audit_id"}


def test_no_token_no_answer(run):
    before = len(audit(run)["entries"])
    doc = {"cohort": {"all": [{"prefix": COND + "|E"}]}}
    for token, hdrs in ((None, None), ("0" * 64, None), (run["alice"]["token"] + "0", None),
                        (None, {"Authorization": "Basic " + run["alice"]["token"]}),
                        ("", None)):
        for method, path, body in (("POST", "/v1/query", doc),
                                   ("GET", "/v1/codes?prefix=E1", None)):
            status, h, ans = http(run, method, path, body, token=token, headers=hdrs)
            assert status == 401, (token, path, ans)
            assert set(ans) == {"error"} and "bearer token" in ans["error"], ans
            assert h["WWW-Authenticate"].startswith("Bearer"), dict(h)
    # refused before anything was asked: nothing answered, nothing recorded
    assert len(audit(run)["entries"]) == before


def test_query_over_http_equals_query_run(run):
    conds = sorted(c for c in run["truth"]["codes"] if c.startswith(COND + "|"))
    docs = [
        {"cohort": {"all": [{"prefix": COND + "|E"}]}, "by": ["sex"]},
        {"cohort": {"any": [{"code": c} for c in conds[:3]]}, "by": ["sex", "age_group"]},
        {"cohort": {"all": [{"code": conds[0]}]},
         "measure": {"kind": "top", "of": "condition", "n": 5}},
        {"measure": {"kind": "prevalence", "per": 1000}, "cohort": {"all": [{"code": conds[1]}]}},
    ]
    ids = []
    for doc in docs:
        status, h, got = http(run, "POST", "/v1/query", doc, token=run["alice"]["token"])
        assert status == 200, got
        assert h["Content-Type"] == "application/json"
        want = query_run(run, doc)
        assert without_id(got) == without_id(want), (doc, got, want)
        assert want["audit_id"] == got["audit_id"] + 1
        ids += [got["audit_id"], want["audit_id"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # every number of 1..min_cell is withheld in the answers given
    entries = {e["id"]: e for e in audit(run)["entries"]}
    for i in ids:
        e = entries[i]
        assert e["answer"]["audit_id"] == i
        assert e["analyst"] == ("alice" if i in ids[0::2] else "control")
        assert e["via"] == ("http" if i in ids[0::2] else "control")
        assert e["epsilon"] == 0
        n = json.dumps(e["answer"]).count('"suppressed": true')
        assert e["suppressed"] == n
    assert sum(entries[i]["suppressed"] for i in ids) > 0, "no cell suppressed: test too weak"


def test_codes_prefix(run):
    truth = run["truth"]["codes"]
    token = run["alice"]["token"]
    status, _, got = http(run, "GET", "/v1/codes?prefix=" + urllib.request.quote(COND + "|"),
                          token=token)
    assert status == 200, got
    want = sorted(c for c in truth if c.startswith(COND + "|"))
    assert [c["code"] for c in got["codes"]] == want
    assert got["truncated"] is False and got["shards"] == SHARDS and got["audit_id"] >= 1
    shown = suppressed = 0
    for c in got["codes"]:
        n = truth[c["code"]]["patients"]
        if 1 <= n <= MIN_CELL:
            assert c["suppressed"] is True and c["patients"] is None and c["records"] is None
            suppressed += 1
        else:
            assert c["suppressed"] is False and c["patients"] == released(n), (c, n)
            assert c["records"] == released(truth[c["code"]]["records"])
            shown += 1
    assert shown and suppressed, "both kinds needed for the test to mean something"
    # a code prefix in every system, and a limit
    some = want[0].split("|", 1)[1][:2]
    status, _, got = http(run, "GET", "/v1/codes?prefix=%s&limit=1" % some, token=token)
    assert status == 200, got
    under = sorted(c for c in truth if c.split("|", 1)[1].startswith(some))
    assert [c["code"] for c in got["codes"]] == under[:1]
    assert got["truncated"] is (len(under) > 1)
    status, _, got = http(run, "GET", "/v1/codes?prefix=NO-SUCH-CODE", token=token)
    assert status == 200 and got["codes"] == [] and got["truncated"] is False
    for bad in ("/v1/codes", "/v1/codes?prefix=", "/v1/codes?prefix=E1&limit=0",
                "/v1/codes?prefix=E1&limit=x", "/v1/codes?prefix=" + "E" * 300):
        status, _, err = http(run, "GET", bad, token=token)
        assert status == 400 and set(err) == {"error"}, (bad, err)
    assert "prefix" in http(run, "GET", "/v1/codes", token=token)[2]["error"]


def test_openapi_served(run):
    status, h, text = http(run, "GET", "/v1/openapi.yaml")
    assert status == 200 and h["Content-Type"] == "application/yaml"
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        assert text == f.read()


def test_errors_are_json_with_the_right_status(run):
    token = run["alice"]["token"]
    cases = [
        ("GET", "/v1/nothing", None, None, 404, "no such endpoint"),
        ("GET", "/index.html", None, None, 404, "no such endpoint"),
        ("GET", "/v1/query", None, None, 405, "use POST"),
        ("POST", "/v1/codes", {}, None, 405, "use GET"),
        ("PUT", "/v1/openapi.yaml", {}, None, 405, "use GET"),
        ("POST", "/v1/query", None, b"", 400, "empty body"),
        ("POST", "/v1/query", None, b"{not json", 400, ""),
        ("POST", "/v1/query", {"by": ["shoe_size"]}, None, 400, "by"),
        ("POST", "/v1/query", {"measure": {"kind": "distribution"}}, None, 400, "measure"),
        ("POST", "/v1/query", None, b"{" + b" " * 300000 + b"}", 413, "exceeds the limit"),
    ]
    for method, path, body, raw, want, words in cases:
        status, h, err = http(run, method, path, body, token=token, raw=raw)
        assert status == want, (method, path, status, err)
        assert isinstance(err, dict) and set(err) == {"error"} and words in err["error"], err
        if want == 405:
            assert h["Allow"] in ("GET", "POST")
    status, _, err = http(run, "POST", "/v1/query", {}, token=token,
                          headers={"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in err["error"], err


def test_add_analyst_tokens(run):
    c = run["cluster"]
    r = hg.run("cluster", "add-analyst", "bob", "--role", "dp", "--dir", c.dir, "--json")
    assert r.rc == 0, r
    bob = r.json()
    assert set(bob) == {"analyst", "token"} and bob["analyst"] == "bob"
    assert len(bob["token"]) >= 32 and bob["token"] != run["alice"]["token"]
    # the file holds hashes only, and is the analysts' alone
    path = os.path.join(c.dir, "keys", "analysts")
    with open(path) as f:
        text = f.read()
    assert bob["token"] not in text and run["alice"]["token"] not in text
    assert " bob dp\n" in text and " alice aggregate\n" in text
    assert os.stat(path).st_mode & 0o077 == 0
    # usable at once (analytics re-read the file), known by name and role
    status, _, got = http(run, "POST", "/v1/query", {"cohort": {"all": [{"prefix": COND + "|"}]}},
                          token=bob["token"])
    assert status == 200, got
    e = audit(run, "--analyst", "bob")["entries"]
    assert [(x["analyst"], x["role"], x["id"]) for x in e] == [("bob", "dp", got["audit_id"])]
    for bad, why in ((["bob"], "exists already"), (["x y"], "analyst name"),
                     (["eve", "--role", "root"], "--role")):
        r = hg.run("cluster", "add-analyst", *bad, "--dir", c.dir, "--json")
        assert r.rc != 0 and why in r.err, r
    # a human line without --json
    r = hg.run("cluster", "add-analyst", "carol", "--dir", c.dir)
    assert r.rc == 0 and "token" in r.out and run["url"] in r.out, r


def test_audit_list_filters(run):
    everything = audit(run)
    entries = everything["entries"]
    assert everything["truncated"] is False
    assert [e["id"] for e in entries] == list(range(1, len(entries) + 1))
    assert {e["analyst"] for e in entries} >= {"alice", "control"}
    alice = audit(run, "--analyst", "alice")["entries"]
    assert alice and all(e["analyst"] == "alice" for e in alice)
    assert audit(run, "--since", "2999-01-01")["entries"] == []
    mid = entries[len(entries) // 2]
    since = audit(run, "--since", str(mid["time_us"] // 1000000))["entries"]
    assert since and all(e["time_us"] >= mid["time_us"] // 1000000 * 1000000 for e in since)
    assert since[-1]["id"] == entries[-1]["id"]
    two = audit(run, "--limit", "2")
    assert len(two["entries"]) == 2 and two["truncated"] is True
    r = hg.run("audit", "list", "--cluster", run["cluster"].dir, "--since", "yesterday")
    assert r.rc == 2 and "--since" in r.err, r
    # a refused query is recorded with its reason
    http(run, "POST", "/v1/query", {"by": ["shoe_size"]}, token=run["alice"]["token"])
    last = audit(run)["entries"][-1]
    assert last["error"].startswith("by[0]") and last["answer"] is None, last
    assert last["request"] == {"by": ["shoe_size"]}
    r = hg.run("audit", "list", "--cluster", run["cluster"].dir)
    assert r.rc == 0 and "alice (aggregate) via http" in r.out, r
    v = verify(run)
    assert v["intact"] and v["entries"] == last["id"]
    head_id, head_hash = v["head"].split(":")
    assert int(head_id) == last["id"] and len(head_hash) == 64
    r = hg.run("audit", "verify", "--cluster", run["cluster"].dir, "--anchor", v["head"])
    assert r.rc == 0 and "intact" in r.out, r
    for bad in ("12", "x:" + head_hash, "%s:%s" % (head_id, head_hash[:-2])):
        r = hg.run("audit", "verify", "--cluster", run["cluster"].dir, "--anchor", bad)
        assert r.rc == 2 and "--anchor" in r.err, r


def _analytics_pid(c):
    return [p for n, p in c.pids_from_file().items() if n.startswith("analytics")][0]


def _stop_analytics(c):
    pid = _analytics_pid(c)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split()[2] == "Z"


def _tamper(store, *args):
    tool = os.path.join(hg.bin_dir(), "hg-audit-tamper")
    r = subprocess.run([tool, store, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)


def test_audit_tampering_is_found(run):
    c = run["cluster"]
    before = verify(run)
    n, anchor = before["entries"], before["head"]
    assert n >= 6
    store = os.path.join(c.dir, "data", "analytics-0")
    pristine = os.path.join(str(run["base"]), "analytics-pristine")
    _stop_analytics(c)
    shutil.copytree(store, pristine)
    cases = [
        (("change", "3"), 3, "entry 3 was changed"),
        (("change", str(n)), n, "entry %d (the last) was changed" % n),
        (("delete", "2"), 2, "entry 2 is missing"),
        (("delete", str(n)), n, "entry %d is missing" % n),
        (("insert", "4"), 5, "inserted"),
        (("append",), n + 1, "entry %d comes after the last one" % (n + 1)),
    ]
    try:
        for args, bad_id, words in cases:
            shutil.rmtree(store)
            shutil.copytree(pristine, store)
            _tamper(store, *args)
            c.up("--timeout", "30")
            v = verify(run)
            assert not v["intact"], (args, v)
            assert v["bad_id"] == bad_id and words in v["problem"], (args, v)
            r = hg.run("audit", "verify", "--cluster", c.dir)
            assert r.rc == 1 and ("BROKEN at entry %d" % bad_id) in r.out, r
            _stop_analytics(c)
        # a rewrite of the chain from entry 3 on, head included: consistent in itself,
        # found only against the head kept from before
        shutil.rmtree(store)
        shutil.copytree(pristine, store)
        _tamper(store, "rewrite", "3")
        c.up("--timeout", "30")
        assert verify(run)["intact"]
        v = verify(run, "--anchor", anchor)
        assert not v["intact"] and v["bad_id"] == n, v
        assert "no longer hashes to the head kept" in v["problem"], v
        # an anchor past the end: entries were deleted
        v = verify(run, "--anchor", "%d:%s" % (n + 5, anchor.split(":")[1]))
        assert not v["intact"] and "were deleted" in v["problem"], v
        _stop_analytics(c)
    finally:
        if os.path.isdir(pristine):
            shutil.rmtree(store, ignore_errors=True)
            shutil.copytree(pristine, store)
        c.up("--timeout", "30")
    v = verify(run)
    assert v["intact"] and v["entries"] == n
    # and the chain goes on from where it was
    status, _, got = http(run, "POST", "/v1/query", {"cohort": {"all": [{"prefix": COND + "|E"}]}},
                          token=run["alice"]["token"])
    assert status == 200 and got["audit_id"] == n + 1, got
    assert verify(run)["intact"]


def test_shard_down_is_503(run):
    c = run["cluster"]
    c.kill9("indexer-1")
    try:
        status, _, err = http(run, "POST", "/v1/query", {"cohort": {"all": [{"prefix": COND + "|E"}]}},
                              token=run["alice"]["token"])
        assert status == 503 and "shard 1" in err["error"], (status, err)
        status, _, err = http(run, "GET", "/v1/codes?prefix=E", token=run["alice"]["token"])
        assert status == 503 and "shard" in err["error"], (status, err)
    finally:
        c.up("--timeout", "60")
    status, _, got = http(run, "GET", "/v1/codes?prefix=E", token=run["alice"]["token"])
    assert status == 200, got
    assert verify(run)["intact"]


# ---- HTTPS, and the options that configure the API ------------------------------

def _self_signed(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert, key)."""
    assert shutil.which("openssl"), "openssl CLI missing: run deploy/install-deps.sh"
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_https_and_options(tmp_path):
    """analytics alone (its one shard never answers): HTTPS only with
    analytics_tls_cert/_key, a plain client gets no answer; bad options stop
    it at start saying which."""
    import http.client
    import ssl
    cert, key = _self_signed(tmp_path)
    analysts = tmp_path / "analysts"
    token = "a" * 64
    analysts.write_text("%s alice dp\n" % token)
    port = _free_port()
    runtime = ["--data-dir", str(tmp_path / "data"), "--control", "ipc://%s/ctl" % tmp_path,
               "--indexers", "tcp://127.0.0.1:%d" % _free_port(), "--shard-timeout-ms", "300"]
    api = ["--http", "127.0.0.1:%d" % port, "--http-tokens", str(analysts)]
    argv = [os.path.join(hg.bin_dir(), "hourglass-analytics"), *runtime, *api,
            "--analytics-tls-cert", str(cert), "--analytics-tls-key", str(key)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
                conn.request("GET", "/v1/openapi.yaml")
                r = conn.getresponse()
                assert r.status == 200 and r.read().startswith(b"openapi: 3")
                break
            except (ConnectionRefusedError, ssl.SSLError):
                assert time.monotonic() < deadline and p.poll() is None, p.stdout.read()
                time.sleep(0.1)
        conn.request("POST", "/v1/query", b"{}", {"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/json"})
        r = conn.getresponse()
        err = json.loads(r.read())
        assert r.status == 503 and "did not answer" in err["error"], err
        conn.request("POST", "/v1/query", b"{}", {"Authorization": "Bearer " + "b" * 64})
        r = conn.getresponse()
        assert r.status == 401, r.read()
        r.read()
        conn.close()
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with pytest.raises((http.client.HTTPException, OSError)):
            plain.request("GET", "/v1/openapi.yaml")
            plain.getresponse()
        plain.close()
    finally:
        p.terminate()
        p.wait(timeout=20)
    cases = [
        (api + ["--analytics-tls-cert", str(cert)],
         "analytics_tls_cert is set but analytics_tls_key is not"),
        (["--analytics-tls-cert", str(cert), "--analytics-tls-key", str(key)],
         "need http"),
        (["--http", "127.0.0.1:%d" % port], "http_tokens is not"),
        (["--http", "nowhere", "--http-tokens", str(analysts)], "is not IPv4:PORT"),
        (["--http", "127.0.0.1:%d" % port, "--http-tokens", str(tmp_path / "none")],
         "cannot read"),
    ]
    for extra, words in cases:
        r = hg.run_binary("hourglass-analytics", *runtime, *extra, timeout=30)
        assert r.rc != 0 and words in (r.out + r.err), (extra, r)
