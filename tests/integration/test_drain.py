"""
test_drain.py -- safe scale-down (issue 16.4): `hourglass drain INSTANCE`
stops a cleanser replica taking work in the middle of a feed and returns
once it holds none (its upstream confirmed, nothing in process, its outbox
delivered). The other replica takes the rest of the feed; every record is
indexed exactly once; the drained replica took nothing after the drain and
its outbox is empty. Stages that are not replicas answer why they cannot be
drained, the last replica taking work is not drained without --force, and
--resume gives it work again. A drain that cannot finish times out, saying
so; a replica stopped while drained has its outbox adopted, and a store no
replica can adopt is counted (hourglass_unadopted_slots).
"""
import os
import re
import shutil
import signal
import threading
import time
import urllib.request

hg_urlopen = urllib.request.urlopen

import hg

PATIENTS = 400
SEED = 1616


def _received(s, name):
    return s[name].get("received", 0)


def test_drain_cleanser_mid_stream(make_cluster, tmp_path):
    sim = str(tmp_path / "sim")
    truth = hg.simulate(sim, PATIENTS, SEED, 0, per_file=5)
    c = make_cluster("drain")
    c.up("--cleansers", "2", "--deids", "2", "--shards", "1", "--min-cell", "0",
         "--heartbeat-ms", "100", "--compression", "none")

    # the feed, paced so that the drain lands in its middle
    pushes = []

    def push_all():
        for partner, fmt, files in hg.partner_files(sim, truth):
            pushes.append(hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner",
                                 partner, "--rate", "40", "--wait", "120", "--json", *files,
                                 timeout=300))

    t = threading.Thread(target=push_all)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = c.stats()
            if _received(s, "cleanser-1") > 0 and _received(s, "cleanser-0") > 0:
                break
            time.sleep(0.1)
        assert t.is_alive(), "the feed ended before the drain: pace it slower"
        d = hg.run("drain", "cleanser-1", "--cluster", c.dir, "--timeout", "60", "--json",
                   timeout=90)
        assert t.is_alive(), "the feed ended during the drain: the drain was not mid-stream"
        after_drain = c.stats()
    finally:
        t.join()
    assert d.rc == 0, d
    js = d.json()
    assert js["instance"] == "cleanser-1" and js["service"] == "cleanser", js
    assert js["drained"] is True and js["timed_out"] is False, js
    assert js["outbox_depth"] == 0 and js["in_process"] == 0, js
    assert js["upstreams"] == 1 and js["upstreams_stopped"] == 1, js
    assert d.err == "", d   # --json: no progress lines

    for r in pushes:
        assert r.rc == 0, r
        assert r.json()["undelivered"] == 0, r
    s = c.wait_drained(deadline_s=120)
    # the drained replica took nothing more; the other one took the rest
    assert s["cleanser-1"]["received"] == after_drain["cleanser-1"]["received"], (after_drain, s)
    assert s["cleanser-1"]["draining"] == 1 and s["cleanser-0"]["draining"] == 0, s
    assert s["cleanser-1"]["outbox_depth"] == 0, s["cleanser-1"]
    assert s["cleanser-0"]["received"] > after_drain["cleanser-0"]["received"], (after_drain, s)
    files = sum(len(f) for _, _, f in hg.partner_files(sim, truth))
    assert s["cleanser-0"]["received"] + s["cleanser-1"]["received"] >= files, s
    # exact counts at the indexer
    time.sleep(0.5)
    s = c.stats()
    assert hg.indexed_total(s) == truth["records"]["distinct"], s
    wrong = {}
    for code, v in sorted(truth["codes"].items()):
        got, _ = c.count(code)
        if got != {"patients": v["patients"], "records": v["records"], "suppressed": False}:
            wrong[code] = (got, v)
    assert not wrong, dict(list(wrong.items())[:5])

    # draining again is idempotent: done at once, a readable summary
    again = hg.run("drain", "cleanser-1", "--cluster", c.dir, "--timeout", "10", timeout=30)
    assert again.rc == 0 and "cleanser-1 drained in" in again.out, again

    # the last replica that takes work is not drained without --force
    last = hg.run("drain", "cleanser-0", "--cluster", c.dir, "--timeout", "10", timeout=30)
    assert last.rc == 1 and "last cleanser that takes work" in last.err, last
    assert c.stats()["cleanser-0"]["draining"] == 0

    # not replicas: each says why, nothing changes
    for name, why in (("collector-0", "entry point"), ("indexer-0", "not a replica"),
                      ("analytics-0", "holds no work")):
        r = hg.run("drain", name, "--cluster", c.dir, "--timeout", "10", timeout=30)
        assert r.rc == 1 and "cannot be drained" in r.err and why in r.err, r
    r = hg.run("drain", "cleanser-9", "--cluster", c.dir, timeout=30)
    assert r.rc == 1 and "no instance 'cleanser-9'" in r.err and "cleanser-1" in r.err, r

    # --control reaches the replica directly (a preStop hook) and checks its name
    ctl = {p["name"]: p["control"] for p in c.cluster_json()["processes"]}
    r = hg.run("drain", "cleanser-0", "--control", ctl["cleanser-1"], timeout=30)
    assert r.rc == 1 and "answers as cleanser-1, not cleanser-0" in r.err, r

    # --resume: it takes work again
    r = hg.run("drain", "cleanser-1", "--cluster", c.dir, "--resume", timeout=30)
    assert r.rc == 0 and "cleanser-1 takes work again" in r.out, r
    assert c.stats()["cleanser-1"]["draining"] == 0

    # a deid replica drains the same way
    r = hg.run("drain", "deid-1", "--cluster", c.dir, "--timeout", "30", "--json", timeout=60)
    assert r.rc == 0 and r.json()["drained"] is True and r.json()["service"] == "deid", r
    hg.run("drain", "deid-1", "--cluster", c.dir, "--resume", timeout=30, check=True)

    # a downstream that takes nothing: the drain times out, saying so
    sim2 = str(tmp_path / "sim2")
    truth2 = hg.simulate(sim2, 30, SEED + 1, 0, per_file=5)
    pids = c.pids_from_file()
    deids = [pids["deid-0"], pids["deid-1"]]
    for pid in deids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for partner, fmt, files in hg.partner_files(sim2, truth2):
            r = c.push(files, fmt, partner, wait=60, timeout=120)
            assert r.rc == 0, r
        s = c.stats(allow_down=True)
        full = max(("cleanser-0", "cleanser-1"), key=lambda n: s[n]["outbox_depth"])
        held = s[full]["outbox_depth"]
        assert held > 0, s
        r = hg.run("drain", full, "--cluster", c.dir, "--timeout", "2", "--json", timeout=30)
        assert r.rc == 1 and "not drained after 2 s (--timeout)" in r.err, r
        js = r.json()
        assert js["timed_out"] is True and js["drained"] is False, js
        assert js["outbox_depth"] == held, (js, held)

        # stopped while drained: the replica sharing its volume adopts its outbox,
        # and the drain says so
        p = hg.popen("drain", full, "--cluster", c.dir, "--timeout", "60", "--json")
        time.sleep(1)
        c.kill9(full)
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, (out, err)
        js = hg.json.loads(out)
        assert js["adopted"] is True and js["outbox_depth"] == held, js
    finally:
        for pid in deids:
            os.kill(pid, signal.SIGCONT)
    other = "cleanser-0" if full == "cleanser-1" else "cleanser-1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = c.stats(allow_down=True)
        if sum(v.get("outbox_depth", 0) for v in s.values() if v["up"]) == 0 and \
                s[other].get("adopted", 0) >= held:
            break
        time.sleep(0.25)
    assert s[other]["adopted"] >= held, s
    assert sum(v.get("outbox_depth", 0) for v in s.values() if v["up"]) == 0, s
    # (sim2 repeats some of the first feed's files, so its new records are not
    # known exactly here; the exact count of a mid-stream drain is checked above)
    assert hg.indexed_total(s) > truth["records"]["distinct"], s

    # a store on the volume that nobody holds and no replica can adopt (damaged):
    # every live replica counts it in hourglass_unadopted_slots (alert
    # HourglassAdoptionFailing), and the others' work goes on
    junk = os.path.join(c.dir, "data", "cleanser-9")
    os.makedirs(junk)
    with open(os.path.join(junk, "CURRENT"), "w") as f:
        f.write("MANIFEST-nothing\n")
    metrics_url = {p["name"]: p["metrics"] for p in c.cluster_json()["processes"]}

    def unadopted(name):
        with hg_urlopen(metrics_url[name] + "/metrics") as r:
            text = r.read().decode()
        m = re.search(r'^hourglass_unadopted_slots\{service="cleanser",instance="%s"\} (\d+)$'
                      % name, text, re.M)
        assert m, text[:3000]
        return int(m.group(1))

    deadline = time.monotonic() + 30
    while unadopted(other) != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert unadopted(other) == 1
    assert os.path.exists(os.path.join(junk, "CURRENT"))   # nothing deleted
    shutil.rmtree(junk)
    deadline = time.monotonic() + 30
    while unadopted(other) != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert unadopted(other) == 0
