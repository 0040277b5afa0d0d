"""
test_mllp.py -- HL7 v2 over MLLP, driven by an independent client written
here with Python's standard library: every message is answered with an ACK
carrying its control id, AA only once journalled and parsed; re-sends are
idempotent on partner + MSH-10 + content (a reused MSH-10 with other content
is stored); a quarantined message gets AE with an ERR (location, table 0357
code, reason); a frame without MSH gets AR and is not stored; frames split
across TCP writes and several frames in one write both work; idle clients
cannot shut a partner out; `push --mllp` survives the collector's kill -9;
and the records arrive with exact counts.
"""
import errno
import os
import signal
import socket
import subprocess
import threading
import time

import hg

START, END = b"\x0b", b"\x1c\x0d"


def _msg(ctl, mrn, value, code="2345-7"):
    return ("MSH|^~\\&|LIS|CITYLAB|HOURGLASS|HG|20210304101500||ORU^R01|%s|P|2.5\r"
            "PID|1||%s^^^CL^MR||Doe^Jane||19700101|F\r"
            "OBR|1|||24323-8^Panel^LN|||20210304\r"
            "OBX|1|NM|%s^Glucose^LN||%s|mg/dL|70-99|N|||F|||20210304101500\r"
            % (ctl, mrn, code, value)).encode()


class MllpClient:
    def __init__(self, address, source=None):
        host, port = address.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_ack(self):
        while END not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before the ACK"
            self.buf += chunk
        frame, self.buf = self.buf.split(END, 1)
        assert frame.startswith(START), frame
        segs = frame[1:].decode().split("\r")
        return {s.split("|")[0]: s.split("|") for s in segs if s}

    def close(self):
        self.sock.close()


def test_mllp_acks_journal_and_counts(make_cluster):
    c = make_cluster("mllp")
    c.up("--min-cell", "0", "--heartbeat-ms", "200", "--compression", "none")
    address = c.cluster_json()["mllp"]
    cl = MllpClient(address)

    # one message: AA, control id echoed, sender/receiver swapped
    cl.send_raw(START + _msg("CTL-1", "MRN-1", 101) + END)
    ack = cl.read_ack()
    assert ack["MSA"][1:3] == ["AA", "CTL-1"], ack
    assert ack["MSH"][2:6] == ["HOURGLASS", "HG", "LIS", "CITYLAB"], ack
    assert ack["MSH"][8] == "ACK^R01^ACK", ack

    # a frame split across writes, then three frames in one write
    m2 = START + _msg("CTL-2", "MRN-2", 102) + END
    cl.send_raw(m2[:17])
    time.sleep(0.2)
    cl.send_raw(m2[17:])
    assert cl.read_ack()["MSA"][1:3] == ["AA", "CTL-2"]
    cl.send_raw(b"".join(START + _msg("CTL-%d" % i, "MRN-%d" % i, 100 + i) + END
                         for i in (3, 4, 5)))
    assert [cl.read_ack()["MSA"][2] for _ in range(3)] == ["CTL-3", "CTL-4", "CTL-5"]

    # a re-send of CTL-1 (lost ACK): AA again, stored once
    cl.send_raw(START + _msg("CTL-1", "MRN-1", 101) + END)
    assert cl.read_ack()["MSA"][1:3] == ["AA", "CTL-1"]

    # no MSH: not HL7, AR with an ERR segment saying what was wrong; not stored
    cl.send_raw(START + b"PID|1||MRN-9^^^CL^MR||Roe^Rick\rOBX|1|NM|2345-7||99\r" + END)
    ack = cl.read_ack()
    assert ack["MSA"][1] == "AR", ack
    assert "ERR" in ack and "no MSH" in ack["ERR"][-1], ack
    assert ack["ERR"][3].startswith("100^"), ack
    cl.close()

    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "mllp_acked") == 6, stats
    assert hg.counters(stats, "collector", "mllp_nacked") == 1, stats
    assert hg.counters(stats, "collector", "duplicates") == 1, stats
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (5, 5), got
    assert hg.counters(stats, "collector", "mllp_junk") == 1, stats
    q = c.quarantine()
    assert q["count"] == 0, q  # the junk frame never reached the cleanser


def test_our_mllp_client_with_ground_truth(make_cluster, tmp_path):
    """`hourglass push --mllp` sends the simulator's hospital feed message by message;
    every message is acknowledged AA once journalled (bad ones are quarantined later by
    the cleanser), and the ICD-10 counts (only the hospital codes in ICD-10) equal the
    ground truth."""
    sim = tmp_path / "sim"
    truth = hg.simulate(sim, 60, 5, 6)
    c = make_cluster("mllp-own")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    files = [f for n, fmt, fs in hg.partner_files(sim, truth) if n == "general-hospital"
             for f in fs]
    n_msgs = sum(open(f, "rb").read().count(b"MSH|") for f in files)
    r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--mllp", "--json", *files)
    # the hospital's invalid messages are journalled, quarantined, and answered AE
    got = r.json()
    assert got["accepted"] + got["rejected"] == n_msgs, r
    assert (got["files"], got["unanswered"], got["resent"]) == (len(files), 0, 0), r
    assert r.rc == (1 if got["rejected"] else 0), r
    c.wait_drained()
    q = c.quarantine()
    assert len({e["message_id"] for e in q["entries"]}) == got["rejected"], (q, r)
    icd = sorted({f[2] for f in truth["facts"] if "icd-10-cm" in f[2]})
    assert icd
    for code in icd:
        want = truth["codes"][code]
        got, _ = c.count(code)
        assert (got["patients"], got["records"]) == (want["patients"], want["records"]), code
    # the hospital's invalid messages were journalled, then quarantined with reasons
    q = c.quarantine()
    assert q["count"] >= 1 and all(e["partner"] == "mllp" for e in q["entries"]), q


def _bad(ctl, mrn, what):
    """A message the cleanser quarantines: what says how."""
    m = _msg(ctl, mrn, 101).decode()
    if what == "no-msh9":
        m = m.replace("||ORU^R01|", "|||", 1)
    elif what == "no-pid":
        m = "\r".join(s for s in m.split("\r") if not s.startswith("PID")) + "\r"
    elif what == "bad-date":
        m = m.replace("|19700101|", "|19701345|", 1)
    elif what == "nm-text":
        m = m.replace("||101|mg/dL", "||high|mg/dL", 1)
    return m.encode()


def test_reused_control_id_is_not_a_duplicate(make_cluster):
    """Point 1: partner + MSH-10 + content is the key. Two patients' messages under one
    control id are both stored; the same message again is a duplicate."""
    c = make_cluster("mllp-reuse")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    cl = MllpClient(c.cluster_json()["mllp"])
    for mrn, value in (("MRN-A", 90), ("MRN-B", 91), ("MRN-C", 92)):
        cl.send_raw(START + _msg("BATCH-7", mrn, value) + END)
        assert cl.read_ack()["MSA"][1:3] == ["AA", "BATCH-7"]
    cl.send_raw(START + _msg("BATCH-7", "MRN-A", 90) + END)  # a re-send of the first
    assert cl.read_ack()["MSA"][1:3] == ["AA", "BATCH-7"]
    cl.close()
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == 3, stats
    assert hg.counters(stats, "collector", "duplicates") == 1, stats
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (3, 3), got


def test_ack_reflects_the_verdict(make_cluster, monkeypatch):
    """Point 2: AA only once parsed; what the cleanser quarantines gets AE with an ERR
    naming the segment, field and HL7 table 0357 code, and the reason. A verdict that
    does not come within mllp_verdict_timeout_ms is AE "verdict pending"; the resend
    learns it."""
    monkeypatch.setenv("HOURGLASS_MLLP_VERDICT_TIMEOUT_MS", "1000")
    c = make_cluster("mllp-verdict")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    cl = MllpClient(c.cluster_json()["mllp"])
    cl.send_raw(START + _msg("GOOD-1", "MRN-1", 100) + END)
    ack = cl.read_ack()
    assert ack["MSA"][1:3] == ["AA", "GOOD-1"] and "ERR" not in ack, ack
    want = {"no-msh9": ("MSH^1^9", "101", "MSH-9"),
            "no-pid": ("PID^1", "100", "PID segment is missing"),
            "bad-date": ("PID^1^7", "102", "PID-7"),
            "nm-text": ("OBX^1^5", "102", "OBX-5")}
    for i, (what, (loc, code, text)) in enumerate(sorted(want.items())):
        ctl = "BAD-%d" % i
        cl.send_raw(START + _bad(ctl, "MRN-X%d" % i, what) + END)
        ack = cl.read_ack()
        assert ack["MSA"][1:3] == ["AE", ctl], (what, ack)
        assert ack["ERR"][2] == loc, (what, ack)
        assert ack["ERR"][3].split("^")[0] == code, (what, ack)
        assert ack["ERR"][3].endswith("^HL70357") and ack["ERR"][4] == "E", (what, ack)
        assert ack["ERR"][8].startswith(text), (what, ack)
    # enhanced mode (MSH-15 AL): a commit accept once journalled
    enh = _msg("ENH-1", "MRN-2", 100).replace(b"|P|2.5\r", b"|P|2.5|||AL|NE\r", 1)
    cl.send_raw(START + enh + END)
    assert cl.read_ack()["MSA"][1:3] == ["CA", "ENH-1"]
    # the cleanser stopped: no verdict in time, AE 207 saying so; resent later: AA
    pid = c.pids_from_file()["cleanser-0"]
    os.kill(pid, signal.SIGSTOP)
    try:
        cl.send_raw(START + _msg("SLOW-1", "MRN-3", 100) + END)
        ack = cl.read_ack()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert ack["MSA"][1:3] == ["AE", "SLOW-1"], ack
    assert ack["ERR"][3].startswith("207^") and "verdict" in ack["ERR"][8], ack
    c.wait_drained()
    cl.send_raw(START + _msg("SLOW-1", "MRN-3", 100) + END)
    assert cl.read_ack()["MSA"][1:3] == ["AA", "SLOW-1"]
    cl.close()
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "mllp_acked") == 3, stats
    assert hg.counters(stats, "collector", "mllp_nacked") == 5, stats
    assert hg.counters(stats, "collector", "duplicates") == 1, stats


def test_idle_clients_do_not_shut_out_a_partner(make_cluster, monkeypatch):
    """Point 4: 64 idle connections from one address hold only mllp_max_conns_per_addr
    slots; idle ones from many addresses are closed at mllp_idle_ms; a good partner
    gets through either way. Junk frames get AR and only a bounded ring is kept."""
    monkeypatch.setenv("HOURGLASS_MLLP_IDLE_MS", "1500")
    monkeypatch.setenv("HOURGLASS_MLLP_JUNK_KEEP", "4")
    c = make_cluster("mllp-conns")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    address = c.cluster_json()["mllp"]
    host, port = address.split(":")
    idle = [socket.create_connection((host, int(port)), source_address=("127.0.0.2", 0))
            for _ in range(64)]
    time.sleep(0.3)
    good = MllpClient(address)
    good.send_raw(START + _msg("CONN-1", "MRN-1", 100) + END)
    assert good.read_ack()["MSA"][1:3] == ["AA", "CONN-1"]
    good.close()
    # the total: 64 addresses, one idle connection each, fill every slot ...
    for s in idle:
        s.close()
    time.sleep(0.3)
    idle = [socket.create_connection((host, int(port)), source_address=("127.0.1.%d" % i, 0))
            for i in range(1, 65)]
    time.sleep(0.3)
    # ... until the idle deadline frees them
    time.sleep(2.0)
    good = MllpClient(address)
    good.send_raw(START + _msg("CONN-2", "MRN-2", 100) + END)
    assert good.read_ack()["MSA"][1:3] == ["AA", "CONN-2"]
    # 1 MB of random bytes in frames: AR each, not stored, 4 kept
    junk = os.urandom(1 << 20).replace(START, b"x").replace(END[:1], b"y")
    frames = [junk[i:i + 65536] for i in range(0, len(junk), 65536)]
    for f in frames:
        good.send_raw(START + f + END)
        assert good.read_ack()["MSA"][1] == "AR"
    good.close()
    for s in idle:
        s.close()
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "mllp_junk") == len(frames) == 16, stats
    assert hg.counters(stats, "collector", "received") == 2, stats
    assert c.quarantine()["count"] == 0
    n_logged = open(os.path.join(c.dir, "logs", "collector-0.log")).read()
    assert n_logged.count("mllp_idle_closed") >= 64, "idle connections were not closed"
    assert n_logged.count("limit=mllp_max_conns_per_addr") >= 56


def _feed_through_fifo(tmp_path, head, tail):
    """The feed as two files for `push --mllp`: head (a regular file) and tail (a
    FIFO). Push sends one message at a time and reads its next file only once the
    previous one is done, so when open_tail() returns, every message of head has
    had its answer and push waits for the tail: a point mid-push that does not
    depend on timing. write_tail() then feeds the rest and closes the FIFO."""
    f = tmp_path / "head.hl7"
    f.write_bytes(head)
    fifo = str(tmp_path / "tail.hl7")
    os.mkfifo(fifo)

    def open_tail(p, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            try:  # ENXIO while nobody has the FIFO open for reading
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
            assert p.poll() is None, ("push ended before reading the tail",
                                      p.communicate())
            assert time.monotonic() < deadline, "push never reached the tail"
            time.sleep(0.02)

    def write_tail(fd):
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as w:
            w.write(tail)

    return [str(f), fifo], open_tail, write_tail


def _push_mllp(c, files, *extra):
    return subprocess.Popen([hg.cli_path(), "push", "--cluster", c.dir, "--format", "hl7v2",
                             "--mllp", *extra, "--json", *files], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=hg.cli_env())


def _summary(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        p.kill()
    r = hg.Result(p.args, p.returncode, out.decode(), err.decode(), 0)
    return r, r.json()


def test_push_mllp_survives_the_collector_kill9(make_cluster, tmp_path):
    """Point 4: `push --mllp` with the collector killed -9 and restarted mid-push
    reconnects, resends what was not acknowledged, and ends with exact counts. The
    kill comes once the first 50 messages are answered and before the other 350 are
    sent (a FIFO holds them back), so the reconnection and the resend are certain."""
    c = make_cluster("mllp-kill")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    n, head = 400, 50
    msgs = [_msg("K-%d" % i, "MRN-K%d" % i, 100 + i % 50) for i in range(n)]
    files, open_tail, write_tail = _feed_through_fifo(tmp_path, b"".join(msgs[:head]),
                                                      b"".join(msgs[head:]))
    p = _push_mllp(c, files, "--retry", "120")
    fd = open_tail(p)
    c.kill9("collector-0")
    write_tail(fd)  # push finds the connection dead and retries the next message
    r = hg.run("cluster", "up", "--dir", c.dir, timeout=90)
    assert r.rc == 0, r
    res, got = _summary(p, 240)
    assert res.rc == 0, res
    assert got["accepted"] == n and got["rejected"] == 0 and got["unanswered"] == 0, got
    assert got["reconnects"] >= 1 and got["resent"] >= 1, got
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == n, stats
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (n, n), got


def test_push_never_hangs(make_cluster, tmp_path):
    """Point 12: a refused CurveZMQ key, a stopped cleanser and an unreachable collector
    each end `hourglass push` with a message naming what is wrong (the run timeout only
    guards against the hang this test is about)."""
    c = make_cluster("push-hang")
    c.up("--secure", "--min-cell", "0", "--heartbeat-ms", "200")
    files = []
    for i in range(3):
        f = tmp_path / ("m%d.hl7" % i)
        f.write_bytes(_msg("H-%d" % i, "MRN-H%d" % i, 100))
        files.append(str(f))
    stranger = str(tmp_path / "stranger")
    assert hg.run("keygen", "--out", stranger).rc == 0
    r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--key", stranger + ".key",
               "--wait", 600, "--json", *files, timeout=60)
    assert r.rc == 1 and r.json()["undelivered"] == 3, r
    assert "refused this CurveZMQ key" in r.err and "allow-list" in r.err, r

    # a stopped cleanser: delivered, and the outcomes' absence is explained
    assert hg.run("cluster", "add-partner", "lab", "--dir", c.dir).rc == 0
    key = os.path.join(c.dir, "keys", "partners", "lab")
    pid = c.pids_from_file()["cleanser-0"]
    os.kill(pid, signal.SIGSTOP)
    try:
        r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--key", key + ".key",
                   "--wait", 3, "--json", *files, timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.rc == 1 and r.json()["accepted"] == 3 and r.json()["pending"] == 3, r
    assert "the cleanser at tcp://" in r.err and "did not answer" in r.err, r

    # a stopped collector: TCP connects (the kernel's backlog), no handshake ever finishes
    cpid = c.pids_from_file()["collector-0"]
    os.kill(cpid, signal.SIGSTOP)
    try:
        r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--key", key + ".key",
                   "--wait", 600, "--json", *files, timeout=60)
    finally:
        os.kill(cpid, signal.SIGCONT)
    assert r.rc == 1 and r.json()["undelivered"] == 3, r
    assert "finished no handshake" in r.err and "stopped" in r.err, r

    # the collector gone: nothing listens
    c.kill9("collector-0")
    r = hg.run("push", "--cluster", c.dir, "--format", "hl7v2", "--key", key + ".key",
               "--wait", 3, "--json", *files, timeout=60)
    assert r.rc == 1 and r.json()["undelivered"] == 3, r
    assert "cannot reach the collector at tcp://" in r.err, r


def test_idle_http_clients_do_not_shut_out_a_partner(make_cluster, tmp_path, monkeypatch):
    """Point 4, HTTP: 64 idle connections from one address hold http_max_conns_per_addr
    (8) of the 64 slots (the others are closed at once); a partner elsewhere still gets
    202 while they stay open (http_idle_s raised so the deadline does not free them)."""
    from test_fhir_http import TOKENS, _bundle, _post
    monkeypatch.setenv("HOURGLASS_HTTP_IDLE_S", "300")
    tokens = tmp_path / "http.tokens"
    tokens.write_text(TOKENS)
    c = make_cluster("http-conns")
    c.up("--http-tokens", str(tokens), "--min-cell", "0", "--heartbeat-ms", "200")
    address = c.cluster_json()["http"]
    host, port = address.split(":")
    idle = [socket.create_connection((host, int(port)), source_address=("127.0.0.2", 0))
            for _ in range(64)]
    time.sleep(0.5)
    closed = 0
    for s in idle:
        s.settimeout(0.05)
        try:
            closed += s.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
    assert closed == 56, closed
    status, oo = _post("http://%s/fhir" % address, _bundle("pat-c", [95]),
                       "tok-clinic-0123456789abcdef")
    assert status == 202, oo
    for s in idle:
        s.close()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_mllp_over_tls_with_client_certificates(make_cluster, tmp_path, monkeypatch):
    """Point 3: with mllp_tls_cert/key/ca the listener speaks only MLLP over TLS, needs a
    client certificate signed by the CA, and the certificate's common name is the
    partner; a plaintext client or a certificate from elsewhere gets nothing stored."""
    import ssl
    d = str(tmp_path)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out",
             "srv.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
             "subjectAltName=IP:127.0.0.1", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "cli.key", "-out", "cli.csr",
             "-subj", "/CN=lab-tls", cwd=d)
    _openssl("x509", "-req", "-in", "cli.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "cli.pem", "-days", "2", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out",
             "rogue.pem", "-days", "2", "-subj", "/CN=lab-tls", cwd=d)
    monkeypatch.setenv("HOURGLASS_MLLP_TLS_CERT", os.path.join(d, "srv.pem"))
    monkeypatch.setenv("HOURGLASS_MLLP_TLS_KEY", os.path.join(d, "srv.key"))
    monkeypatch.setenv("HOURGLASS_MLLP_TLS_CA", os.path.join(d, "ca.pem"))
    c = make_cluster("mllp-tls")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    host, port = c.cluster_json()["mllp"].split(":")

    def tls_client(cert):
        ctx = ssl.create_default_context(cafile=os.path.join(d, "srv.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
        raw = socket.create_connection((host, int(port)), timeout=10)
        cl = MllpClient.__new__(MllpClient)
        cl.sock, cl.buf = ctx.wrap_socket(raw, server_hostname="127.0.0.1"), b""
        return cl

    cl = tls_client("cli")
    cl.send_raw(START + _msg("TLS-1", "MRN-T1", 100) + END)
    assert cl.read_ack()["MSA"][1:3] == ["AA", "TLS-1"]
    cl.send_raw(START + _bad("TLS-2", "MRN-T2", "nm-text") + END)
    assert cl.read_ack()["MSA"][1:3] == ["AE", "TLS-2"]
    cl.close()
    for cert in (None, "rogue"):  # no client certificate, or one the CA did not sign
        try:
            bad = tls_client(cert)
            bad.send_raw(START + _msg("TLS-X", "MRN-X", 100) + END)
            bad.read_ack()
            raise AssertionError("a client with %s got an ACK" % cert)
        except (ssl.SSLError, OSError, AssertionError) as e:
            assert "got an ACK" not in str(e), e
    plain = MllpClient(c.cluster_json()["mllp"])
    plain.send_raw(START + _msg("TLS-P", "MRN-P", 100) + END)
    plain.sock.settimeout(5)
    got = b""
    try:
        while True:
            chunk = plain.sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    assert b"MSA" not in got, got  # a TLS alert at most, and the connection closed
    plain.close()
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == 2, stats
    q = c.quarantine()
    assert q["count"] >= 1 and {e["partner"] for e in q["entries"]} == {"lab-tls"}, q


def test_push_mllp_collector_gone_for_good(make_cluster, tmp_path):
    """Point 4: a collector killed and not restarted costs `push --mllp` one --retry
    window, then one attempt per message; the summary counts every message. The kill
    comes once the first 20 messages are answered (a FIFO holds back the other 280),
    so exactly 20 are acknowledged; once the collector is back, exactly those 20 are
    indexed: nothing acknowledged is lost, nothing unacknowledged was stored."""
    c = make_cluster("mllp-gone")
    c.up("--min-cell", "0", "--heartbeat-ms", "200")
    n, head = 300, 20
    msgs = [_msg("G-%d" % i, "MRN-G%d" % i, 100) for i in range(n)]
    files, open_tail, write_tail = _feed_through_fifo(tmp_path, b"".join(msgs[:head]),
                                                      b"".join(msgs[head:]))
    p = _push_mllp(c, files, "--retry", "2")
    fd = open_tail(p)
    c.kill9("collector-0")
    write_tail(fd)
    # one --retry window (2 s), then one refused connection per message: 280 windows
    # would be 560 s, beyond the timeout
    res, got = _summary(p, 120)
    assert res.rc == 1, res
    assert got == {"files": 2, "accepted": head, "rejected": 0, "unanswered": n - head,
                   "resent": 0, "reconnects": 0}, got
    assert res.err.count(": no ACK") == n - head, res.err
    r = hg.run("cluster", "up", "--dir", c.dir, timeout=90)
    assert r.rc == 0, r
    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "received") == head, stats
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (head, head), got
