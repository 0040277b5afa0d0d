"""
hgdocker.py -- what the container deployment tests share (test_stack.py,
test_compose.py): running commands, telling whether Docker is
usable, free host ports, and checking a drained deployment's counts against
the simulator's truth.json. Standard library only.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")


def bin_dir():
    d = os.environ.get("HOURGLASS_BIN")
    return d if d else os.path.join(ROOT, "build", "bin")


def cli():
    return os.path.join(bin_dir(), "hourglass")


def sh(argv, timeout=300, env=None, check=False):
    """Runs argv; returns CompletedProcess with text .out and .err."""
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    if check:
        assert p.returncode == 0, "%s -> rc=%d\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in argv), p.returncode, p.out[-3000:], p.err[-3000:])
    return p


def docker_unusable(need_compose=False):
    """None when the docker CLI reaches a daemon (and docker-compose exists
    if need_compose), else why not."""
    if not shutil.which("docker"):
        return "docker is not installed"
    if need_compose and not shutil.which("docker-compose"):
        return "docker-compose is not installed"
    try:
        p = sh(["docker", "info"], timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "docker info failed: %s" % e
    if p.returncode != 0:
        return "docker info failed (no daemon or no permission): %s" % p.err.strip()[:300]
    return None


def free_ports(n):
    """n free host ports, below the kernel's ephemeral range (32768-60999)."""
    ports = []
    while len(ports) < n:
        port = 20000 + (uuid.uuid4().int % (32768 - 20000))
        if port in ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("0.0.0.0", port))
            ports.append(port)
        except OSError:
            pass
        finally:
            s.close()
    return ports


def counter(stats, service, name):
    """Sum of one counter over every instance of a service in `stats --json`."""
    return sum(v.get(name, 0) for v in stats.values() if v["service"] == service)


def expected_codes(truth):
    return {code: {"patients": v["patients"], "records": v["records"], "suppressed": False}
            for code, v in truth["codes"].items()}


def check_counts(truth, stats, count, quarantined):
    """Every record indexed exactly once, none rejected, every code's count
    (count(code) -> `query count --json` answer) equal to the truth, and the
    quarantine (quarantined() -> its count) holding exactly the invalid ones."""
    distinct = truth["records"]["distinct"]
    assert counter(stats, "indexer", "indexed") == distinct, json.dumps(stats, indent=1)
    assert counter(stats, "indexer", "rejected") == 0, stats
    want = expected_codes(truth)
    got = count(sorted(want))
    wrong = {c: (got.get(c), w) for c, w in want.items() if got.get(c) != w}
    assert not wrong, "counts wrong for %d of %d codes: %s" % (
        len(wrong), len(want), dict(list(wrong.items())[:10]))
    assert quarantined() == truth["quarantined"]


def wait_drained(stats, deadline_s=240, stable_polls=4, interval=0.5):
    """Polls stats() (`stats --json` services, allowing down instances) until
    every instance is up, every outbox empty, every accepted batch taken by a
    cleanser, and the indexers' `indexed` total unchanged for stable_polls.
    Returns the last stats."""
    deadline = time.monotonic() + deadline_s
    last, stable, s = None, 0, None
    while time.monotonic() < deadline:
        s = stats()
        up = all(v.get("up") for v in s.values())
        depth = sum(v.get("outbox_depth", 0) for v in s.values())
        taken = counter(s, "cleanser", "received")
        accepted = counter(s, "collector", "received")
        total = counter(s, "indexer", "indexed")
        if up and depth == 0 and taken >= accepted and total == last:
            stable += 1
            if stable >= stable_polls:
                return s
        else:
            stable = 0
        last = total
        time.sleep(interval)
    raise AssertionError("pipeline did not drain within %ss; last stats: %s"
                         % (deadline_s, json.dumps(s, indent=1)))


def check_push(result, n_files):
    """One `push --json` run: (rc, stdout, stderr). Every file accepted (or a
    duplicate of a batch resent after a failure), none refused or lost."""
    rc, out, err = result
    try:
        js = json.loads(out)
    except ValueError:
        raise AssertionError("push gave no JSON: rc=%d %r %r" % (rc, out, err))
    assert js["files"] == n_files, js
    assert js["accepted"] + js["duplicates"] == n_files, (js, err)
    assert (js["refused"], js["undelivered"], js["pending"]) == (0, 0, 0), (js, err)
    assert rc == (1 if js["rejected"] else 0), (rc, js, err)
    return js


def push_jobs(truth, chunks):
    """The simulated feed as about `chunks` (partner, format, [files]) jobs,
    partners interleaved; file paths relative to the simulation directory."""
    per_partner = []
    for name in sorted(truth["partners"]):
        p = truth["partners"][name]
        per_partner.append((name, p["format"], list(p["files"])))
    n_files = sum(len(f) for _, _, f in per_partner)
    size = max(1, n_files // chunks)
    queues = [[(name, fmt, files[i:i + size]) for i in range(0, len(files), size)]
              for name, fmt, files in per_partner]
    jobs = []
    while any(queues):
        for q in queues:
            if q:
                jobs.append(q.pop(0))
    return jobs
