"""
test_diskfull.py -- a stage whose disk fills refuses work instead of dying,
and resumes by itself once space is freed, with nothing lost and nothing
counted twice (issue 12, point 10).

Each test puts one stage's store on its own small tmpfs (mounted over the
instance's data directory; needs root, as CI runs, else skipped with the
reason) and fills it mid-push:
- the indexer: it stays up, says why in `hourglass health` and `stats`
  (refusing=1), its upstream keeps the rest in its outbox; the tmpfs is then
  grown and the indexer catches up by itself: indexed == the simulator's
  distinct records and every code count is exact;
- a restart on a disk too full to open the store waits for space instead of
  failing, and opens once a filler file is removed;
- the collector: partners get BUSY with a reason saying the disk is full,
  nothing is stored; once space is freed the same push completes and the
  counts are exact.
"""
import os
import subprocess
import threading
import time

import pytest

import hg

PATIENTS = 3000      # ~26 k records: ~15 MB of uncompressed indexer store
SMALL = "10m"        # the indexer's tmpfs: fills mid-feed
BIG = "400m"


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                        path], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def _resize(path, size):
    r = subprocess.run(["mount", "-o", "remount,size=%s" % size, path], capture_output=True,
                       text=True)
    assert r.returncode == 0, "remount %s size=%s: %s" % (path, size, r.stderr)


def _umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


@pytest.fixture
def mounts(make_cluster):
    """Mount points to unmount after the test, once its cluster is torn down
    (make_cluster's finalizer runs after this one's, so kill first)."""
    made = []
    yield made
    for p in reversed(made):
        for pid in hg.services_under(os.path.dirname(os.path.dirname(p))):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        _umount(p)


def _small_store(cluster, instance, size, mounts):
    """Restarts the cluster with instance's store on a tmpfs of size."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    cluster.down()
    path = os.path.join(cluster.dir, "data", instance)
    saved = path + ".saved"
    os.rename(path, saved)
    ok, why = _mount_tmpfs(path, size)
    if not ok:
        os.rename(saved, path)
        pytest.skip("cannot mount a tmpfs here: %s" % why)
    mounts.append(path)
    subprocess.run(["cp", "-a", saved + "/.", path], check=True)
    return path


def _stats_of(cluster, instance):
    return cluster.stats()[instance]


def _wait(pred, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError("timed out waiting for " + what)


def _exact(cluster, truth):
    stats = cluster.wait_drained(deadline_s=180)
    assert hg.indexed_total(stats) == truth["records"]["distinct"], stats
    wrong = {}
    for code, want in sorted(truth["codes"].items()):
        got, _ = cluster.count(code)
        exp = {"patients": want["patients"], "records": want["records"], "suppressed": False}
        if got != exp:
            wrong[code] = (got, exp)
    assert not wrong, wrong
    return stats


def test_indexer_disk_full_then_freed(make_cluster, tmp_path, mounts):
    c = make_cluster("c")
    c.up("--compression", "none", "--min-cell", "0")
    path = _small_store(c, "indexer-0", SMALL, mounts)
    c.up("--compression", "none", "--min-cell", "0")
    truth = hg.simulate(tmp_path / "sim", str(PATIENTS), "31", "0")
    pushes = []
    t = threading.Thread(target=lambda: pushes.extend(hg.push_partners(c, tmp_path / "sim",
                                                                       truth, wait=300)))
    t.start()
    try:
        s = _wait(lambda: (lambda v: v if v.get("refusing") else None)(
            _stats_of(c, "indexer-0")), 180, "the indexer to refuse work on a full disk")
        # alive, and saying why
        h = hg.run("health", c.cluster_json()["processes"][3]["control"])
        assert h.rc == 0, h
        assert "disk" in (h.out + h.err) and "full" in (h.out + h.err), h
        assert s["indexed"] < truth["records"]["distinct"]
        # the rest waits upstream, in the deid's outbox
        _wait(lambda: _stats_of(c, "deid-0")["outbox_depth"] > 0, 60,
              "the deid to hold the records the indexer refused")
        log = open(os.path.join(c.dir, "logs", "indexer-0.log")).read()
        assert "event=disk_full" in log and "event=fatal" not in log, log[-2000:]
        time.sleep(2)   # still refusing, still alive
        assert _stats_of(c, "indexer-0")["refusing"] == 1
        _resize(path, BIG)
        _wait(lambda: not _stats_of(c, "indexer-0").get("refusing"), 60,
              "the indexer to resume once space is freed")
    finally:
        t.join(timeout=400)
    assert all(r.rc == 0 for _, _, _, r in pushes), pushes
    stats = _exact(c, truth)
    assert stats["indexer-0"]["disk_full"] >= 1
    log = open(os.path.join(c.dir, "logs", "indexer-0.log")).read()
    assert "event=disk_space_recovered" in log

    # a restart on a disk with no room to open the store: it waits, then opens
    c.down()
    filler = os.path.join(path, "filler")
    subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M", "count=1000"],
                   capture_output=True)
    assert os.statvfs(path).f_bavail == 0
    up = hg.popen("cluster", "up", "--dir", c.dir, "--timeout", "5")
    up.wait(timeout=120)
    log = open(os.path.join(c.dir, "logs", "indexer-0.log")).read()
    _wait(lambda: "waiting=space" in open(os.path.join(c.dir, "logs", "indexer-0.log")).read(),
          30, "the indexer to wait for space at start")
    os.unlink(filler)
    c.up("--compression", "none", "--min-cell", "0")
    _exact(c, truth)


def test_collector_disk_full_answers_busy(make_cluster, tmp_path, mounts):
    c = make_cluster("c")
    c.up("--compression", "none", "--min-cell", "0")
    path = _small_store(c, "collector-0", "6m", mounts)
    c.up("--compression", "none", "--min-cell", "0")
    truth = hg.simulate(tmp_path / "sim", "1500", "32", "0")
    pushes = []
    t = threading.Thread(target=lambda: pushes.extend(hg.push_partners(c, tmp_path / "sim",
                                                                       truth, wait=300)))
    t.start()
    try:
        _wait(lambda: _stats_of(c, "collector-0").get("refusing"), 180,
              "the collector to refuse pushes on a full disk")
        log = open(os.path.join(c.dir, "logs", "collector-0.log")).read()
        assert "event=disk_full" in log and "event=fatal" not in log
        time.sleep(3)   # partners are answered BUSY meanwhile, and retry
        _resize(path, BIG)
    finally:
        t.join(timeout=400)
    assert all(r.rc == 0 for _, _, _, r in pushes), pushes
    _exact(c, truth)
