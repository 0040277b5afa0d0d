#!/usr/bin/env python3
"""MLLP ACK latency with and without the verdict wait (issue 12, point 2).

Starts a local cluster (durability on: synced commits), then sends MESSAGES
HL7 v2 ORU^R01 messages one at a time over MLLP, as an interface engine does
(send, wait for the ACK, send the next), and times each send-to-ACK. Two runs
on fresh clusters:

  journal   mllp_verdict_timeout_ms 0: AA once journalled (collector commit)
  verdict   the default: AA/AE once the cleanser has parsed it (journal, hand-off
            to the cleanser, its synced commit, the collector's next OUTCOME ask)

Reports p50/p99/max per run and the difference; writes RESULTS/mllp_ack.json.

    bench/mllp_ack.py [--messages N] [--results DIR]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin"))
HG = os.path.join(BIN, "hourglass")
START, END = b"\x0b", b"\x1c\x0d"


def run(*args, env=None):
    r = subprocess.run([HG, *[str(a) for a in args]], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("mllp_ack: hourglass %s failed (%d):\n%s%s"
                 % (" ".join(map(str, args)), r.returncode, r.stderr, r.stdout))
    return r


def message(i):
    return ("MSH|^~\\&|LIS|LAB|HOURGLASS|HG|20210304101500||ORU^R01|B-%d|P|2.5\r"
            "PID|1||MRN-%d^^^CL^MR||Doe^Jane||19700101|F\r"
            "OBR|1|||24323-8^Panel^LN|||20210304\r"
            "OBX|1|NM|2345-7^Glucose^LN||%d|mg/dL|70-99|N|||F|||20210304101500\r"
            % (i, i, 70 + i % 50)).encode()


def read_ack(sock, buf):
    while END not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("mllp_ack: connection closed before the ACK")
        buf += chunk
    frame, rest = buf.split(END, 1)
    return frame, rest


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p / 100.0 * (len(sorted_ms) - 1))))]


def one_run(name, n, env_extra):
    work = tempfile.mkdtemp(prefix="hg-mllp-ack-")
    env = dict(os.environ, HOURGLASS_BIN_DIR=BIN, **env_extra)
    cluster = os.path.join(work, "cluster")
    run("cluster", "up", "--dir", cluster, "--min-cell", "0", env=env)
    try:
        with open(os.path.join(cluster, "cluster.json")) as f:
            host, port = json.load(f)["mllp"].split(":")
        sock = socket.create_connection((host, int(port)), timeout=30)
        buf, lat, codes = b"", [], {}
        for i in range(n):
            t0 = time.perf_counter()
            sock.sendall(START + message(i) + END)
            frame, buf = read_ack(sock, buf)
            lat.append((time.perf_counter() - t0) * 1000.0)
            code = frame.split(b"\rMSA|", 1)[1][:2].decode()
            codes[code] = codes.get(code, 0) + 1
        sock.close()
    finally:
        run("cluster", "down", "--dir", cluster, env=env)
    lat.sort()
    res = {"run": name, "messages": n, "codes": codes, "p50_ms": round(pct(lat, 50), 2),
           "p99_ms": round(pct(lat, 99), 2), "max_ms": round(lat[-1], 2),
           "mean_ms": round(sum(lat) / n, 2)}
    print("%-8s n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms codes=%s"
          % (name, n, res["p50_ms"], res["p99_ms"], res["max_ms"], codes))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()
    journal = one_run("journal", a.messages, {"HOURGLASS_MLLP_VERDICT_TIMEOUT_MS": "0"})
    verdict = one_run("verdict", a.messages, {})
    added = {k: round(verdict[k] - journal[k], 2) for k in ("p50_ms", "p99_ms", "mean_ms")}
    print("the wait adds p50 %.2f ms, p99 %.2f ms" % (added["p50_ms"], added["p99_ms"]))
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "mllp_ack.json"), "w") as f:
        json.dump({"journal": journal, "verdict": verdict, "added": added}, f, indent=2)


if __name__ == "__main__":
    main()
