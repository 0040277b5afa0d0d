"""
test_scale.py -- replicas that share a volume (option slots, as `cluster up`
and the compose file run cleansers and de-identifiers): a replica that dies
and is not restarted leaves records it acknowledged in its outbox; a live
replica adopts them, and nothing is lost or indexed twice.

The de-identifiers are paused (SIGSTOP) while the feed goes in, so the
cleansers' outboxes hold the whole feed; cleanser-1 is then SIGKILLed and
left dead, the de-identifiers resumed. Every record must still be indexed
exactly once -- cleanser-1's only through adoption by cleanser-0 -- and the
dead replica's store must be gone (moved, not copied), and the partners'
quality figures merged. Restarting the dead replica afterwards gives it a
fresh slot and changes no count.
"""
import os
import signal
import time

import hg

PATIENTS = 300
SEED = 4242
INVALID = 3


def _live_stats(c, names_down):
    s = c.stats(allow_down=True)
    for n, v in s.items():
        assert v["up"] or n in names_down, "%s is down: %s" % (n, s)
    return s


def _wait(c, what, pred, names_down=(), deadline_s=120):
    deadline = time.monotonic() + deadline_s
    s = None
    while time.monotonic() < deadline:
        s = _live_stats(c, names_down)
        if pred(s):
            return s
        time.sleep(0.25)
    raise AssertionError("%s not reached within %d s; stats: %s" % (what, deadline_s, s))


def _check_counts(c, truth, stats):
    assert hg.indexed_total(stats) == truth["records"]["distinct"], stats
    wrong = {}
    for code, v in sorted(truth["codes"].items()):
        got, _ = c.count(code)
        if got != {"patients": v["patients"], "records": v["records"], "suppressed": False}:
            wrong[code] = (got, v)
    assert not wrong, "wrong counts for %d of %d codes: %s" % (
        len(wrong), len(truth["codes"]), dict(list(wrong.items())[:10]))


def test_dead_replica_outbox_is_adopted(make_cluster, tmp_path):
    sim = str(tmp_path / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, INVALID, per_file=10)
    c = make_cluster("scale")
    c.up("--cleansers", "2", "--deids", "2", "--shards", "2", "--min-cell", "0",
         "--heartbeat-ms", "100", "--compression", "none")
    pids = c.pids_from_file()
    deids = [pids["deid-0"], pids["deid-1"]]
    for pid in deids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for partner, fmt, files, r in hg.push_partners(c, sim, truth, wait=120):
            js = r.json()
            assert js["accepted"] == len(files), r
        # both cleansers took part of the feed and hold its results
        s = _wait(c, "feed cleansed", lambda s: s["collector-0"].get("outbox_depth", 1) == 0
                  and s["cleanser-1"].get("outbox_depth", 0) > 0,
                  names_down=("deid-0", "deid-1"))
        orphaned = s["cleanser-1"]["outbox_depth"]
        c.kill9("cleanser-1")
    finally:
        for pid in deids:
            os.kill(pid, signal.SIGCONT)

    data = os.path.join(c.dir, "data")
    s = _wait(c, "adoption and drain",
              lambda s: s["cleanser-0"].get("adopted", 0) == orphaned
              and sum(v.get("outbox_depth", 0) for v in s.values() if v["up"]) == 0
              and hg.indexed_total(s) == truth["records"]["distinct"],
              names_down=("cleanser-1",))
    assert not os.path.exists(os.path.join(data, "cleanser-1")), os.listdir(data)
    assert os.path.exists(os.path.join(data, "cleanser-0", "CURRENT"))
    time.sleep(1)    # anything counted twice would arrive now
    s = _live_stats(c, ("cleanser-1",))
    _check_counts(c, truth, s)
    assert hg.counters(s, "indexer", "rejected") == 0
    # what cleanser-1 counted moved with its outbox
    assert hg.counters(s, "cleanser", "received") == sum(
        len(f) for _, _, f in hg.partner_files(sim, truth)), s

    # the dead replica comes back: a fresh slot 1, the same counts, and the
    # quarantine it kept (adopted by cleanser-0) listed once
    r = hg.run("cluster", "up", "--dir", c.dir, timeout=90)
    assert r.rc == 0 and "(1 started)" in r.out, r
    s = c.wait_drained(deadline_s=60)
    assert s["cleanser-1"].get("received", 0) == 0, s["cleanser-1"]
    _check_counts(c, truth, s)
    assert c.quarantine()["count"] == truth["quarantined"]
    # the partners' quality figures were merged on adoption, not overwritten
    for partner, fmt, files in hg.partner_files(sim, truth):
        q = hg.run("quality", "--cluster", c.dir, "--partner", partner, "--json").json()
        assert q["messages"] == len(files), (partner, q)
