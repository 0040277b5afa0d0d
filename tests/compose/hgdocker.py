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


# ---- MLLP: the collector's ACK waits for the cleanser's verdict -------------------

def _hl7(ctl, mrn, value):
    return ("MSH|^~\\&|LIS|CITYLAB|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5\r"
            "PID|1||%s^^^CL^MR||Doe^Jane||19700101|F\r"
            "OBR|1|||24323-8^Panel^LN|||20210304\r"
            "OBX|1|NM|2345-7^Glucose^LN||%s|mg/dL|70-99|N|||F|||20210304101500\r"
            % (ctl, mrn, value)).encode()


def _mllp_exchange(sock, msg):
    """Sends one MLLP frame, returns its ACK as {segment name: fields}."""
    sock.sendall(b"\x0b" + msg + b"\x1c\x0d")
    buf = b""
    while b"\x1c\x0d" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "the collector closed the MLLP connection before the ACK"
        buf += chunk
    frame = buf.split(b"\x1c\x0d", 1)[0]
    assert frame.startswith(b"\x0b"), frame
    segs = frame[1:].decode().split("\r")
    return {s.split("|")[0]: s.split("|") for s in segs if s}


def _mllp_connect(host, port, deadline_s):
    """A TCP connection to the published MLLP port, retried until deadline_s (the
    port may take a moment after the service is healthy)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return socket.create_connection((host, port), timeout=30)
        except OSError as e:
            assert time.monotonic() < deadline, "MLLP %s:%d unreachable: %s" % (host, port, e)
            time.sleep(0.5)


def check_mllp_verdicts(host, port, tag, deadline_s=60):
    """An independent MLLP client (standard library): a good message is answered
    AA, one whose numeric OBX-5 is text AE with the cleanser's ERR (OBX^1^5, HL7
    table 0357 code 102): the ACK waited for the verdict of the cleanser that
    parsed it, whichever replica that was (without mllp_verdict_from both would be
    AA, once journalled). Returns the two ACKs. tag makes the control ids unique."""
    sock = _mllp_connect(host, port, deadline_s)
    try:
        good = _mllp_exchange(sock, _hl7("OK-" + tag, "MRN-OK-" + tag, "101"))
        bad = _mllp_exchange(sock, _hl7("BAD-" + tag, "MRN-BAD-" + tag, "high"))
    finally:
        sock.close()
    assert good["MSA"][1:3] == ["AA", "OK-" + tag] and "ERR" not in good, good
    assert bad["MSA"][1:3] == ["AE", "BAD-" + tag], bad
    assert bad["ERR"][2] == "OBX^1^5" and bad["ERR"][3].split("^")[0] == "102", bad
    assert bad["ERR"][3].endswith("^HL70357"), bad
    return good, bad


def check_mllp_unauthenticated(host, port, tag, deadline_s=60):
    """Under CurveZMQ (the secure variants) MLLP without TLS client certificates
    has no partner identity: every message is answered AR "not authenticated" and
    nothing is stored (a partner there needs mllp_tls_cert/key/ca)."""
    sock = _mllp_connect(host, port, deadline_s)
    try:
        ack = _mllp_exchange(sock, _hl7("ANON-" + tag, "MRN-ANON-" + tag, "101"))
    finally:
        sock.close()
    assert ack["MSA"][1:3] == ["AR", "ANON-" + tag], ack
    assert ack["ERR"][8] == "not authenticated", ack
    return ack
