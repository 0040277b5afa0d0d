"""
test_control_auth.py -- the control plane answers only those it should
(issue 11, docs/security.md "Control plane").

Under --secure every service's control socket is a CurveZMQ server with an
allow-list whose names carry a role (common/control_acl.c): a client with no
key, an unknown key or a partner's key gets no answer from any control socket
of any service, whatever it asks; the operator key reads health, stats and
quarantine but cannot ask an indexer for counts (only analytics' key may);
analytics still answers counts through the CLI. Without --secure every
control, deliver, ingest and metrics socket listens on 127.0.0.1 only.

Driven with raw ZeroMQ (python3-zmq), so nothing of the CLI's own key
handling can hide a socket that answers anyone.
"""
import json
import os
import random
import re
import socket
import subprocess
import time

import zmq
import zmq.utils.z85

import hg

# ControlRequest.Kind (proto/hourglass.proto)
HEALTH, STATS, COUNT, QUARANTINE_LIST, OUTCOME, QUALITY = range(6)
ALL_KINDS = (HEALTH, STATS, COUNT, QUARANTINE_LIST, OUTCOME, QUALITY)
GLUCOSE = "http://loinc.org|2345-7"


# ---- a few lines of protobuf (no python3-protobuf on the test machines) ------

def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(num, value):
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def request(kind, count_code=GLUCOSE):
    """A packed ControlRequest of kind; COUNT carries a CountQuery of
    count_code ("SYSTEM|CODE"), OUTCOME an OutcomeQuery naming one message."""
    body = _field(1, kind)
    if kind == COUNT:
        system, code = count_code.rsplit("|", 1)
        body += _field(2, _field(1, system.encode()) + _field(2, code.encode()))
    if kind == OUTCOME:
        body += _field(3, _field(1, b"some-message"))
    return body


def parse(buf):
    """{field number: [values]} of one protobuf message (varints as int,
    length-delimited as bytes); enough for ControlReply's ok and error."""
    out, i = {}, 0

    def varint():
        nonlocal i
        shift = v = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(buf):
        tag = varint()
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val = varint()
        elif wt == 2:
            n = varint()
            val = buf[i:i + n]
            i += n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        else:
            val, i = buf[i:i + 4], i + 4
        out.setdefault(num, []).append(val)
    return out


def reply_fields(raw):
    f = parse(raw)
    count = parse(f[6][0]) if 6 in f else {}
    return {"ok": bool(f.get(1, [0])[0]), "error": f.get(2, [b""])[0].decode(),
            "patients": count.get(1, [0])[0], "records": count.get(2, [0])[0],
            "n_counters": len(f.get(5, [])), "quarantine": [parse(q) for q in f.get(7, [])]}


# ---- raw control calls --------------------------------------------------------

def read_key(path):
    """(public, secret) Z85 bytes of an Hourglass NAME.key file."""
    with open(path) as f:
        text = f.read()
    pub = re.search(r"^public = (\S{40})$", text, re.M).group(1)
    sec = re.search(r"^secret = (\S{40})$", text, re.M).group(1)
    return pub.encode(), sec.encode()


def read_pub(path):
    with open(path) as f:
        return f.read().strip().encode()


def ask(ctx, endpoint, kinds, key=None, server_key=None, wait_s=1.5, count_code=GLUCOSE):
    """Sends every request of kinds on one DEALER (CURVE when key is given)
    and returns the replies that came within wait_s (parsed)."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if key:
        s.curve_publickey, s.curve_secretkey = key
        s.curve_serverkey = server_key
    s.connect(endpoint)
    for k in kinds:
        s.send_multipart([b"", request(k, count_code)])
    got = []
    deadline = time.monotonic() + wait_s
    while len(got) < len(kinds):
        left = deadline - time.monotonic()
        if left <= 0 or not s.poll(int(left * 1000)):
            break
        parts = s.recv_multipart()
        got.append(reply_fields(parts[-1]))
    s.close()
    return got


def _partner_data(c, tmp_path):
    """Pushes a small simulated set (with invalid records) as partner
    city-lab; returns (truth, the partner key file)."""
    truth = hg.simulate(tmp_path / "sim", 40, 5, 4)
    assert hg.run("cluster", "add-partner", "city-lab", "--dir", c.dir).rc == 0
    key = os.path.join(c.dir, "keys", "partners", "city-lab.key")
    for name, fmt, files in hg.partner_files(tmp_path / "sim", truth):
        if name == "city-lab":
            r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--key", key, "--wait", 60,
                       "--json", *files, timeout=180)
            assert r.json()["accepted"] == len(files), r  # rc 1: some quarantined
    r = hg.run("push", "--cluster", c.dir, "--format", "fhir", "--key", key, "--wait", 60,
               "--json", _future_patient(tmp_path, truth), timeout=180)
    assert r.json()["accepted"] == 1, r
    c.wait_drained()
    return truth, key


FUTURE_BIRTH = "2091-04-17"


def _future_patient(tmp_path, truth):
    """A FHIR Bundle of one simulated Patient born in FUTURE_BIRTH: valid to
    the cleanser, refused by the de-identifier, whose quarantine entry must
    not hold the value."""
    for name, fmt, files in hg.partner_files(tmp_path / "sim", truth):
        if fmt == "fhir" and files[0].endswith(".json"):
            with open(files[0]) as f:
                bundle = json.load(f)
            bundle["entry"] = [e for e in bundle["entry"]
                               if e["resource"]["resourceType"] == "Patient"][:1]
            bundle["entry"][0]["resource"]["birthDate"] = FUTURE_BIRTH
            path = str(tmp_path / "future-patient.json")
            with open(path, "w") as f:
                json.dump(bundle, f)
            return path
    raise AssertionError("the simulated set has no FHIR Bundle file")


def test_secure_control_plane(make_cluster, tmp_path):
    c = make_cluster("secure")
    c.up("--secure", "--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none",
         "--shards", "2")
    assert os.stat(os.path.join(c.dir, "keys", "operator.key")).st_mode & 0o077 == 0
    truth, partner_key = _partner_data(c, tmp_path)
    procs = c.cluster_json()["processes"]
    assert {p["service"] for p in procs} == {"collector", "cleanser", "deid", "indexer",
                                             "analytics"}
    operator = read_key(os.path.join(c.dir, "keys", "operator.key"))
    stranger_pub, stranger_sec = zmq.curve_keypair()
    partner = read_key(partner_key)
    analytics = read_key(os.path.join(c.dir, "keys", "analytics-0.key"))
    ctx = zmq.Context()
    try:
        for p in procs:
            server = read_pub(p["control_key"])
            # no key, an unknown key, a partner's key: nothing at all, whatever is asked
            assert ask(ctx, p["control"], ALL_KINDS) == [], p["name"]
            assert ask(ctx, p["control"], ALL_KINDS, (stranger_pub, stranger_sec),
                       server) == [], p["name"]
            assert ask(ctx, p["control"], ALL_KINDS, partner, server) == [], p["name"]
            # the operator: health and stats everywhere
            health, stats = ask(ctx, p["control"], [HEALTH, STATS], operator, server,
                                wait_s=5)
            assert health["ok"] and stats["ok"] and stats["n_counters"] > 0, p["name"]
            # analytics' key (allowed on the control plane) reads no stats, no quarantine
            got = ask(ctx, p["control"], [STATS, QUARANTINE_LIST], analytics, server, wait_s=5)
            assert len(got) == 2, (p["name"], got)
            for r in got:
                assert not r["ok"] and "needs role operator" in r["error"], (p["name"], r)

        # the indexers count for analytics only, never for the operator
        lab_facts = [f for f in truth["facts"] if f[0] == "city-lab"]
        code = sorted({f[2] for f in lab_facts})[0]
        want_p, want_r = hg.expected_counts(c.key(), lab_facts, code)
        assert want_p > 0, "nothing to count"
        exact_p = exact_r = 0
        for p in (p for p in procs if p["service"] == "indexer"):
            server = read_pub(p["control_key"])
            [r] = ask(ctx, p["control"], [COUNT], operator, server, wait_s=5, count_code=code)
            assert not r["ok"] and r["patients"] == 0, r
            assert r["error"] == ("COUNT at the indexer needs role analytics; this key's role "
                                  "is operator"), r
            [r] = ask(ctx, p["control"], [COUNT], analytics, server, wait_s=5, count_code=code)
            assert r["ok"], r
            exact_p += r["patients"]
            exact_r += r["records"]
        assert (exact_p, exact_r) == (want_p, want_r)

        # quarantine excerpts: the operator's alone; the deid's hold no input value
        for p in procs:
            if p["service"] not in ("cleanser", "deid"):
                continue
            [r] = ask(ctx, p["control"], [QUARANTINE_LIST], operator,
                      read_pub(p["control_key"]), wait_s=5)
            assert r["ok"], r
            if p["service"] == "deid":
                reasons = [q.get(5, [b""])[0].decode() for q in r["quarantine"]]
                assert any(x.startswith("birth_date '[withheld]' is after") for x in reasons)
                for q in r["quarantine"]:
                    assert not q.get(6) and not q.get(9), q  # no excerpt, no payload key
                    assert FUTURE_BIRTH.encode() not in b"".join(
                        v for vs in q.values() for v in vs if isinstance(v, bytes)), q
    finally:
        ctx.destroy(linger=0)

    # nor anywhere else in the deid's store (compression off: raw bytes)
    scanned = 0
    for root, _, files in os.walk(os.path.join(c.dir, "data")):
        if "/deid-" not in root + "/":
            continue
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert FUTURE_BIRTH.encode() not in fh.read(), os.path.join(root, f)
            scanned += 1
    assert scanned > 0

    # refusals are counted and logged by key fingerprint, never more
    stats = c.stats()
    assert hg.counters(stats, "indexer", "control_refused") >= 2, stats
    assert hg.counters(stats, "indexer", "auth_refused") >= 1, stats
    with open(os.path.join(c.dir, "logs", "indexer-0.log")) as f:
        log = f.read()
    refused = [ln for ln in log.splitlines() if "event=control_refused" in ln]
    fp = operator[0]  # the log names the key by the hex of its first 8 bytes
    fp = zmq.utils.z85.decode(fp)[:8].hex()
    assert any("kind=COUNT role=operator key_fingerprint=%s" % fp in ln for ln in refused), refused
    assert operator[1].decode() not in log

    # the CLI: the operator key by default; analytics answers counts
    got, _ = c.count(code)
    assert (got["patients"], got["records"]) == (want_p, want_r), got
    assert c.quarantine()["count"] >= 1
    # --key: another allowed key with another role; the CLI reports the refusal
    analytics_key = os.path.join(c.dir, "keys", "analytics-0.key")
    for cmd in (["stats"], ["quarantine", "list"], ["drain", "cleanser-0", "--force"]):
        r = hg.run(*cmd, "--cluster", c.dir, "--key", analytics_key)
        assert r.rc == 1 and "needs role operator; this key's role is analytics" in r.err, r
    # a drain is the operator's: with its key the replica drains, and resumes
    r = hg.run("drain", "cleanser-0", "--cluster", c.dir, "--force", "--timeout", "30")
    assert r.rc == 0 and "cleanser-0 drained in" in r.out, r
    r = hg.run("drain", "cleanser-0", "--cluster", c.dir, "--resume")
    assert r.rc == 0 and "takes work again" in r.out, r
    # --key with an unknown key: no answer, and the CLI says why
    stranger = str(tmp_path / "stranger")
    assert hg.run("keygen", "--out", stranger).rc == 0
    collector = [p for p in procs if p["service"] == "collector"][0]
    r = hg.run("health", "--key", stranger + ".key", "--server-key", collector["control_key"],
               "--timeout-ms", 1000, collector["control"])
    assert r.rc == 1 and "no answer" in r.err, r
    r = hg.run("health", "--key", os.path.join(c.dir, "keys", "operator.key"), "--server-key",
               collector["control_key"], collector["control"])
    assert r.rc == 0 and "healthy" in r.out, r
    r = hg.run("health", collector["control"], "--timeout-ms", 1000)
    assert r.rc == 1, r
    r = hg.run("health", "--cluster", c.dir, collector["control"])  # the cluster's keys
    assert r.rc == 0 and "healthy" in r.out, r


def _listening(pids):
    """[(pid, 'a.b.c.d', port)] of the TCP sockets the pids listen on."""
    inodes = {}
    for pid in pids:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m:
                inodes[m.group(1)] = pid
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                col = row.split()
                if col[3] != "0A" or col[9] not in inodes:  # 0A: LISTEN
                    continue
                addr, port = col[1].split(":")
                if len(addr) == 8:
                    ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    ip = "ipv6:" + addr
                out.append((inodes[col[9]], ip, int(port, 16)))
    return out


def _free_ports(n):
    """n ports free now, below the kernel's ephemeral range (as cluster.c picks
    them: an outgoing connection cannot take one before the service binds)."""
    out = []
    while len(out) < n:
        port = random.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        if port not in out:
            out.append(port)
    return out


def test_insecure_cluster_listens_on_loopback_only(make_cluster, tmp_path):
    c = make_cluster("plain")
    c.up("--heartbeat-ms", "200")
    pids = list(c.pids_from_file().values())
    socks = _listening(pids)
    # every service binds at least its control socket
    assert {pid for pid, _, _ in socks} == set(pids), socks
    assert all(ip == "127.0.0.1" for _, ip, _ in socks), socks

    # --metrics PORT: loopback; exposing takes an explicit host part
    ports = _free_ports(3)
    port = ports[0]
    for listen, want in ((str(port), "127.0.0.1"), ("0.0.0.0:%d" % ports[1], "0.0.0.0")):
        proc = subprocess.Popen(
            [os.path.join(hg.bin_dir(), "hourglass-analytics"), "--metrics", listen,
             "--data-dir", str(tmp_path / ("a" + want)), "--control",
             "tcp://127.0.0.1:%d" % ports[2], "--fingerprint-key",
             os.path.join(c.dir, "keys", "fingerprint.key")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            bound = []
            while time.monotonic() < deadline and proc.poll() is None:
                bound = [(ip, p) for _, ip, p in _listening([proc.pid])]
                if (want, int(listen.split(":")[-1])) in bound:
                    break
                time.sleep(0.05)
            assert (want, int(listen.split(":")[-1])) in bound, (bound, proc.poll())
            assert ("127.0.0.1", ports[2]) in bound, bound
        finally:
            proc.terminate()
            proc.wait(10)
