"""
test_mllp.py -- HL7 v2 over MLLP, driven by an independent client written
here with Python's standard library: every message is answered with an ACK
carrying its control id, AA only once journalled; re-sends are idempotent; a
message without MSH gets AR with an ERR segment and is kept in quarantine;
frames split across TCP writes and several frames in one write both work;
and the records arrive with exact counts.
"""
import socket
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
    def __init__(self, address):
        host, port = address.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
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

    # no MSH: AR with an ERR segment saying what was wrong; kept in quarantine
    cl.send_raw(START + b"PID|1||MRN-9^^^CL^MR||Roe^Rick\rOBX|1|NM|2345-7||99\r" + END)
    ack = cl.read_ack()
    assert ack["MSA"][1] == "AR", ack
    assert "ERR" in ack and "no MSH" in ack["ERR"][-1], ack
    cl.close()

    c.wait_drained()
    stats = c.stats()
    assert hg.counters(stats, "collector", "mllp_acked") == 6, stats
    assert hg.counters(stats, "collector", "mllp_nacked") == 1, stats
    assert hg.counters(stats, "collector", "duplicates") == 1, stats
    got, _ = c.count("http://loinc.org|2345-7")
    assert (got["patients"], got["records"]) == (5, 5), got
    q = c.quarantine()
    assert q["count"] == 1 and "no MSH segment" in q["entries"][0]["reason"], q
    assert q["entries"][0]["partner"] == "mllp", q


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
    assert r.rc == 0, r
    assert r.json() == {"files": len(files), "accepted": n_msgs, "rejected": 0,
                        "unanswered": 0}, r
    c.wait_drained()
    icd = sorted({f[2] for f in truth["facts"] if "icd-10-cm" in f[2]})
    assert icd
    for code in icd:
        want = truth["codes"][code]
        got, _ = c.count(code)
        assert (got["patients"], got["records"]) == (want["patients"], want["records"]), code
    # the hospital's invalid messages were journalled, then quarantined with reasons
    q = c.quarantine()
    assert q["count"] >= 1 and all(e["partner"] == "mllp" for e in q["entries"]), q
