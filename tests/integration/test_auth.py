"""
test_auth.py -- CurveZMQ: a --secure cluster encrypts and authenticates every
link and partner ingest. Partners are known by their key: an unknown key is
refused and logged with nothing stored, a partner cannot push as another,
and a registered partner's data flows with exact counts.
"""
import json
import os

import hg


def _scan_collector_store(cluster):
    """Bytes of every file of the collector's store."""
    data = b""
    root = os.path.join(cluster.dir, "data", "collector-0")
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                data += fh.read()
    return data


def test_partner_keys_and_secure_links(make_cluster, tmp_path):
    sim = tmp_path / "sim"
    truth = hg.simulate(sim, 45, 11, 0)
    c = make_cluster("secure")
    c.up("--secure", "--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none")
    cj = c.cluster_json()
    assert cj["ingest_key"].endswith("collector-0.pub"), cj
    for p in cj["processes"]:
        assert "--curve-key" in p["args"], p

    lab = [(n, fmt, files) for n, fmt, files in hg.partner_files(sim, truth)
           if n == "city-lab"][0]
    _, fmt, files = lab
    marker = os.path.basename(files[0]).encode()

    # no key at all: the CLI refuses before sending
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner", "city-lab",
               "--wait", 5, *files)
    assert r.rc != 0 and "requires CurveZMQ" in r.err, r

    # an unknown key: the handshake is refused, nothing delivered, the refusal logged
    stranger = str(tmp_path / "stranger")
    assert hg.run("keygen", "--out", stranger).rc == 0
    assert oct(os.stat(stranger + ".key").st_mode & 0o777) == "0o600"
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--key", stranger + ".key",
               "--wait", 2, "--json", files[0], timeout=60)
    assert r.rc == 1, r
    assert r.json()["undelivered"] == 1 and r.json()["accepted"] == 0, r
    stats = c.stats()
    assert hg.counters(stats, "collector", "auth_refused") >= 1, stats
    assert hg.counters(stats, "collector", "received") == 0, stats
    with open(os.path.join(c.dir, "logs", "collector-0.log")) as f:
        log = f.read()
    assert "event=auth_refused" in log and "key_fingerprint=" in log, log[-2000:]
    assert marker not in _scan_collector_store(c), "a refused push left bytes in the journal"

    # a registered partner cannot push as another partner
    r = hg.run("cluster", "add-partner", "city-lab", "--dir", c.dir)
    assert r.rc == 0, r
    key = os.path.join(c.dir, "keys", "partners", "city-lab.key")
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--key", key, "--partner",
               "general-hospital", "--wait", 5, "--json", files[0], timeout=60)
    assert r.rc == 1 and r.json()["refused"] == 1, r
    assert "authenticates you as partner 'city-lab'" in r.err, r
    assert hg.counters(c.stats(), "collector", "received") == 0

    # the registered partner, named by its key: everything flows, counts exact
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--key", key, "--wait", 60,
               "--json", *files, timeout=180)
    assert r.rc == 0 and r.json()["accepted"] == len(files), r
    c.wait_drained()
    lab_facts = [f for f in truth["facts"] if f[0] == "city-lab"]
    codes = sorted({f[2] for f in lab_facts})
    assert codes
    for code in codes:
        got, _ = c.count(code)
        want_p, want_r = hg.expected_counts(c.key(), lab_facts, code)
        assert (got["patients"], got["records"]) == (want_p, want_r), (code, got)


def test_plain_cluster_rejects_partner_keys_option(tmp_path):
    """partners without curve_key is a start-up error with a clear message."""
    allow = tmp_path / "partners.allow"
    allow.write_text("# none\n")
    r = hg.run_binary("hourglass-collector", "--data-dir", str(tmp_path / "d"),
                      "--control", "tcp://127.0.0.1:*", "--ingest", "tcp://127.0.0.1:*",
                      "--deliver", "tcp://127.0.0.1:*", "--partners", str(allow), timeout=20)
    assert r.rc == 2 and "partners needs curve_key" in r.err, r
