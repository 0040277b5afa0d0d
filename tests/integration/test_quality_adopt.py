"""
test_quality_adopt.py -- `hourglass quality` across cleanser replicas when one
of them is killed mid-feed and its store adopted by a survivor (common/adopt.c):
every replica keeps its own figures (Q\\0<partner>, Qd\\0...), the CLI merges the
replies of every replica, and the adopted figures are added to the survivor's.
Nothing may be counted twice: not what the dead replica had committed (adopted
with its store), not a message it had committed whose acknowledgement never
reached the collector (redelivered to a survivor, which parses it again). The
report's totals must equal the simulator's truth exactly: messages, records and
rejects per partner, and the cleansers' received counter.
"""
import os
import shutil
import subprocess
import time

import hg

PATIENTS = 240
SEED = 77
INVALID = 9
PER_FILE = 2        # many small messages: the kill lands mid-feed


def _stats(c, down):
    s = c.stats(allow_down=True)
    for n, v in s.items():
        assert v["up"] or n in down, "%s is down: %s" % (n, s)
    return s


def _arm_kill_between_commit_and_ack(c, name):
    """Attaches gdb to the replica with a breakpoint at the acknowledgement of a
    round it has just committed (hg_link_client_ack); when it is hit, the replica
    is SIGKILLed there: its upstream redelivers to a survivor messages whose
    results -- figures included -- are in the dead replica's store, to be adopted.
    Deterministic, unlike a kill at a random moment. Returns (gdb, pid) once armed."""
    gdb = shutil.which("gdb")
    assert gdb, "gdb is missing: deploy/install-deps.sh installs it"
    pid = c.pids_from_file()[name]
    g = subprocess.Popen([gdb, "-nx", "-batch", "-p", str(pid),
                          "-ex", "break hg_link_client_ack", "-ex", "echo ARMED\\n",
                          "-ex", "continue", "-ex", "shell kill -9 %d" % pid],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    while b"ARMED" not in out:
        line = g.stdout.readline()
        assert line, "gdb did not attach: %s" % out.decode(errors="replace")[-3000:]
        out += line
    return g, pid, out


def _push(c, partner, fmt, fs):
    return subprocess.Popen([hg.cli_path(), "push", "--cluster", c.dir, "--format", fmt,
                             "--partner", partner, "--wait", "240", "--json", *fs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=hg.cli_env())


def _check_push(partner, fs, p):
    out, err = p.communicate(timeout=300)
    js = hg.Result([], 0, out.decode(), err.decode(), 0).json()
    # every file accepted and its outcome known (push exits 1 on rejects)
    assert (js["accepted"], js["pending"], js["undelivered"]) == (len(fs), 0, 0), (
        partner, js, err[-2000:])


def test_quality_totals_exact_after_a_replica_is_killed_and_adopted(make_cluster, tmp_path,
                                                                   monkeypatch):
    # no periodic adoption pass during the test: the survivor must adopt the dead
    # store before the first round it consumes after the death, by itself
    monkeypatch.setenv("HOURGLASS_ADOPT_MS", "600000")
    sim = str(tmp_path / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, INVALID, per_file=PER_FILE)
    c = make_cluster("quality-adopt")
    # heartbeats slower than gdb attaching (a replica silent for 3 of them is dead)
    # two replicas: the survivor both adopts the dead store and takes the
    # redelivered round (with three, a third replica may take it while the second
    # adopts: docs/operations.md "Adoption")
    c.up("--cleansers", "2", "--min-cell", "0", "--heartbeat-ms", "1000")
    files = hg.partner_files(sim, truth)
    n_files = sum(len(f) for _, _, f in files)
    # the first half of every partner's files, then the replica's kill armed,
    # then the second half at once: cleanser-1 takes part of it and dies at the
    # ack of its first round
    for partner, fmt, fs in files:
        _check_push(partner, fs[:len(fs) // 2], _push(c, partner, fmt, fs[:len(fs) // 2]))
    g, pid, out = _arm_kill_between_commit_and_ack(c, "cleanser-1")
    pushes = []
    try:
        pushes = [_push(c, partner, fmt, fs[len(fs) // 2:]) for partner, fmt, fs in files]
        out += g.communicate(timeout=120)[0]
        assert b"Breakpoint 1, " in out and b"hg_link_client_ack" in out, out[-3000:]
        assert not os.path.exists("/proc/%d/status" % pid) or \
            "State:\tZ" in open("/proc/%d/status" % pid).read(), "cleanser-1 still alive"
        for (partner, fmt, fs), p in zip(files, pushes):
            _check_push(partner, fs[len(fs) // 2:], p)
    finally:
        g.kill()
        for p in pushes:
            p.kill()

    data = os.path.join(c.dir, "data")
    deadline = time.monotonic() + 120
    while True:
        s = _stats(c, ("cleanser-1",))
        if not os.path.exists(os.path.join(data, "cleanser-1")) \
                and sum(v.get("outbox_depth", 0) for v in s.values() if v["up"]) == 0 \
                and hg.indexed_total(s) == truth["records"]["distinct"]:
            break
        assert time.monotonic() < deadline, "not adopted and drained: %s" % s
        time.sleep(0.25)
    # what the cleansers counted: each message once
    assert hg.counters(s, "cleanser", "received") == n_files, s
    assert hg.counters(s, "cleanser", "quarantined") == truth["quarantined"], s

    # the dead replica comes back on a fresh slot (its store was adopted): every
    # replica answers `hourglass quality` again (one that is down fails the report)
    r = hg.run("cluster", "up", "--dir", c.dir, timeout=90)
    assert r.rc == 0 and "(1 started)" in r.out, r
    s = c.wait_drained(deadline_s=60)
    assert s["cleanser-1"].get("received", 0) == 0, s["cleanser-1"]
    assert hg.counters(s, "cleanser", "received") == n_files, s

    records = rejected = 0
    for partner, fmt, fs in files:
        r = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json")
        assert r.rc == 0, r
        q = r.json()
        assert q["messages"] == len(fs), (partner, q)
        assert sum(x["count"] for x in q["top_reasons"]) == q["rejected"], q
        records += q["records"]
        rejected += q["rejected"]
    assert rejected == truth["quarantined"]
    # records before de-duplication: the ADT and ORU of a patient both carry its PID
    hospital = truth["partners"]["general-hospital"]["patients"]
    assert records == truth["records"]["distinct"] + hospital
