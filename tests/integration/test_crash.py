"""
test_crash.py -- kill -9 services in the middle of a feed, restart them with
`hourglass cluster up` (idempotent: only dead processes), and check that
nothing was lost or counted twice: indexed records, every code count and the
quarantine are exact afterwards.

Round 1 kills cleanser-0 and indexer-0, round 2 (a second feed under other
partner names, on the same cluster) kills deid-0 and collector-0.
"""
import json
import os
import threading
import time

import hg

PATIENTS_1 = 600
PATIENTS_2 = 250
SEED = 9090
INVALID = 4
PER_FILE = 10    # patients per HL7 / NDJSON file: many small batches


class Feeder(threading.Thread):
    """Pushes a simulated feed in the background: each partner's files in small
    chunks, one `hourglass push` after the other (interleaving partners), so the
    feed stays in flight long enough to crash services in the middle of it."""

    def __init__(self, c, sim, truth, suffix, chunks=40):
        super().__init__(daemon=True)
        self.c = c
        self.jobs = []
        per_partner = [(partner + suffix, fmt, files)
                       for partner, fmt, files in hg.partner_files(sim, truth)]
        n_files = sum(len(f) for _, _, f in per_partner)
        size = max(1, n_files // chunks)
        queues = [[(partner, fmt, files[i:i + size]) for i in range(0, len(files), size)]
                  for partner, fmt, files in per_partner]
        while any(queues):
            for q in queues:
                if q:
                    self.jobs.append(q.pop(0))
        self.results = []
        self.error = None
        self.stopped = False
        self.proc = None

    def run(self):
        try:
            for partner, fmt, files in self.jobs:
                if self.stopped:
                    return
                self.proc = hg.popen("push", "--cluster", self.c.dir, "--format", fmt,
                                     "--partner", partner, "--wait", 240, "--json", *files)
                out, err = self.proc.communicate(timeout=300)
                r = hg.Result(self.proc.args, self.proc.returncode,
                              out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), 0)
                self.results.append((partner, files, r))
        except Exception as e:  # noqa: BLE001 -- reported by finish()
            self.error = e

    def stop(self):
        """Stops the feed (test failed): no further push, the current one killed."""
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        self.join(10)

    def finish(self, timeout=300):
        self.join(timeout)
        assert not self.is_alive(), "feed did not finish within %d s" % timeout
        assert self.error is None, self.error
        assert len(self.results) == len(self.jobs)
        for partner, files, r in self.results:
            js = r.json()
            # every batch delivered from the partner's point of view: a batch
            # resent after a crash may come back as a duplicate, never lost
            assert js["files"] == len(files), r
            assert js["accepted"] + js["duplicates"] == len(files), r
            assert (js["refused"], js["undelivered"], js["pending"]) == (0, 0, 0), r
            assert r.rc == (1 if js["rejected"] else 0), r


def _kill_mid_feed(c, feeder, names, baseline):
    """Waits until the indexers have indexed more than baseline while the feed
    still runs, then SIGKILLs names and restarts them with `cluster up`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert feeder.is_alive(), "the feed finished before anything new was indexed"
        if hg.indexed_total(c.stats(allow_down=True)) > baseline:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("nothing indexed within 120 s")
    pushed = len(feeder.results)
    assert pushed < len(feeder.jobs), "feed finished before the kill"
    killed = c.kill9(*names)
    time.sleep(0.5)
    down = c.stats(allow_down=True)
    assert all(not down[n]["up"] for n in names), down
    r = hg.run("cluster", "up", "--dir", c.dir, timeout=90)
    assert r.rc == 0, r
    assert "(%d started)" % len(names) in r.out, r
    pids = c.pids_from_file()
    assert all(pids[n] not in killed for n in names), (pids, killed)
    return pushed


def _check_exact(c, truths, stats):
    distinct = sum(t["records"]["distinct"] for t in truths)
    assert hg.indexed_total(stats) == distinct, stats
    assert hg.counters(stats, "indexer", "rejected") == 0
    want = {}
    for t in truths:
        for code, v in t["codes"].items():
            w = want.setdefault(code, [0, 0])
            w[0] += v["patients"]
            w[1] += v["records"]
    wrong = {}
    for code, (p, r) in sorted(want.items()):
        got, _ = c.count(code)
        if got != {"patients": p, "records": r, "suppressed": False}:
            wrong[code] = (got, p, r)
    assert not wrong, "counts wrong after crashes for %d of %d codes: %s" % (
        len(wrong), len(want), dict(list(wrong.items())[:10]))
    q = c.quarantine()
    assert q["count"] == sum(t["quarantined"] for t in truths), q["count"]
    _check_sets(c, want, distinct)


def _query_run(c, doc):
    path = os.path.join(c.dir, "crash-query.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    r = hg.run("query", "run", "--cluster", c.dir, "--file", path, "--json", timeout=60)
    assert r.rc == 0, r
    return r.json()


def _check_sets(c, want, distinct):
    """The bitmaps and columns the indexers keep in the records' batches (docs/analytics.md)
    are exact after the crashes too: every record once in the record column, each code's
    patients in its bitmaps and, dated, in its column as in its code keys."""
    ans = _query_run(c, {"measure": {"kind": "records"}})
    assert ans["records"] == distinct, ans
    for code, (p, _) in sorted(want.items(), key=lambda kv: -kv[1][0])[:6]:
        ans = _query_run(c, {"cohort": {"all": [{"code": code}]}})
        assert ans["patients"] == p, (code, ans, p)
        dated, _ = c.count(code, frm="1900-01-01")
        ans = _query_run(c, {"cohort": {"all": [{"code": code, "from": "1900-01-01"}]}})
        assert ans["patients"] == dated["patients"], (code, ans, dated)


def test_kill9_mid_feed_loses_nothing(make_cluster, tmp_path):
    sim1, sim2 = str(tmp_path / "sim1"), str(tmp_path / "sim2")
    truth1 = hg.simulate(sim1, PATIENTS_1, SEED, INVALID, per_file=PER_FILE)
    truth2 = hg.simulate(sim2, PATIENTS_2, SEED + 1, INVALID, per_file=PER_FILE)
    n_files = sum(len(p["files"]) for p in truth1["partners"].values())
    assert n_files >= 20, "feed has only %d files: too few batches to crash between" % n_files
    c = make_cluster("crash")
    c.up("--cleansers", "2", "--deids", "2", "--shards", "2", "--min-cell", "0",
         "--heartbeat-ms", "100", "--compression", "none")

    # round 1: cleanser and indexer die mid-feed
    feeder = Feeder(c, sim1, truth1, "")
    feeder.start()
    try:
        _kill_mid_feed(c, feeder, ["cleanser-0", "indexer-0"], 0)
        feeder.finish()
    finally:
        feeder.stop()
    stats = c.wait_drained(deadline_s=120)
    assert all(v["up"] for v in stats.values()), stats
    _check_exact(c, [truth1], stats)

    # round 2: de-identifier and collector die mid-feed (other partner names, so
    # the second feed's patients are new patients)
    baseline = hg.indexed_total(stats)
    feeder = Feeder(c, sim2, truth2, "-r2")
    feeder.start()
    try:
        _kill_mid_feed(c, feeder, ["deid-0", "collector-0"], baseline)
        feeder.finish()
    finally:
        feeder.stop()
    stats = c.wait_drained(deadline_s=120)
    assert all(v["up"] for v in stats.values()), stats
    _check_exact(c, [truth1, truth2], stats)
    assert c.status().rc == 0
