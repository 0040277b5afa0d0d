#!/usr/bin/env python3
"""CPU per record of every stage, on a fixed feed, for comparing builds.

Wall-clock throughput on a shared two-core machine moves with whatever else
runs; the CPU time a process spends per record moves much less. This pushes
one simulated feed (fixed seed) through a fresh local cluster, waits until
every record is indexed, and reads each service's CPU time (user + system,
all threads, from /proc) and the pushing clients' (rusage). With several
--bin directories the builds run interleaved (A B A B ...), so load from
other users of the machine falls on both alike. Prints, per build, the
median and minimum over --runs of CPU µs per record for each service, the
pushing clients and the total, and the records/s of the run.

    bench/cpu.py [--patients N] [--runs N] [--shards N] [--cleansers N]
                 [--deids N] [--bin DIR ...] [--notes] [--json FILE]

--bin defaults to $HOURGLASS_BIN (else build/bin). --keep-feed DIR reuses or
keeps the simulated feed there. --perf PREFIX records call graphs of every
service during the first run of each build (perf report -i PREFIX.<k>).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def hg(bin_dir, *args, check=True):
    env = dict(os.environ, HOURGLASS_BIN_DIR=bin_dir)
    r = subprocess.run([os.path.join(bin_dir, "hourglass"), *args], capture_output=True,
                       text=True, env=env)
    if check and r.returncode != 0:
        sys.exit(f"cpu: hourglass {' '.join(args)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    return r


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def indexed(bin_dir, cluster):
    """Records indexed, and the wall clock (s) of the last indexer commit (0
    when the build does not report it)."""
    r = hg(bin_dir, "stats", "--cluster", cluster, "--json", check=False)
    try:
        s = json.loads(r.stdout)["services"]
    except (ValueError, KeyError):
        return 0, 0
    idx = [v for v in s.values() if v.get("service") == "indexer"]
    return (sum(v.get("indexed", 0) for v in idx),
            max((v.get("last_commit_unix_ms", 0) for v in idx), default=0) / 1e3)


def one_run(a, bin_dir, jobs, expected, work, perf_out=None):
    cluster = os.path.join(work, "cluster")
    if os.path.exists(cluster):
        shutil.rmtree(cluster)
    hg(bin_dir, "cluster", "up", "--dir", cluster, "--cleansers", str(a.cleansers), "--deids",
       str(a.deids), "--shards", str(a.shards), "--sync", "true")
    try:
        procs = json.load(open(os.path.join(cluster, "cluster.json")))["processes"]
        cpu0 = {p["name"]: cpu_seconds(p["pid"]) for p in procs}
        rec = None
        if perf_out:
            # sampled call graphs of every service (not the pushing clients)
            cg = os.environ.get("HG_PERF_CALLGRAPH", "fp")
            rec = subprocess.Popen(["perf", "record", "-F", "1999", "--call-graph", cg, "-o",
                                    perf_out, "-p",
                                    ",".join(str(p["pid"]) for p in procs)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        t0, wall0 = time.monotonic(), time.time()
        env = dict(os.environ, HOURGLASS_BIN_DIR=bin_dir)
        pushers = [subprocess.Popen([os.path.join(bin_dir, "hourglass"), "push", "--cluster",
                                     cluster, "--partner", partner, "--format", fmt, "--wait",
                                     "0", *files], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env)
                   for partner, fmt, files in jobs]
        push_cpu = 0.0
        for p in pushers:
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            push_cpu += ru.ru_utime + ru.ru_stime
        n = last = 0
        deadline = time.monotonic() + 900
        while n < expected and time.monotonic() < deadline:
            n, last = indexed(bin_dir, cluster)
            if n < expected:
                time.sleep(0.05)
        # from the first push to the last indexer commit (older builds: until seen)
        elapsed = last - wall0 if last else time.monotonic() - t0
        cpu = {}
        for p in procs:
            svc = p["service"]
            cpu[svc] = cpu.get(svc, 0.0) + cpu_seconds(p["pid"]) - cpu0[p["name"]]
        cpu["push"] = push_cpu
        if rec:
            rec.send_signal(2)
            rec.wait()
        return {"indexed": n, "seconds": elapsed, "cpu": cpu}
    finally:
        hg(bin_dir, "cluster", "down", "--dir", cluster, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=3000)
    ap.add_argument("--per-file", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--cleansers", type=int, default=1)
    ap.add_argument("--deids", type=int, default=1)
    ap.add_argument("--bin", action="append")
    ap.add_argument("--notes", action="store_true",
                    help="a progress note with planted PHI per patient (simulate --notes), "
                         "which the de-identifier scrubs")
    ap.add_argument("--keep-feed")
    ap.add_argument("--json")
    ap.add_argument("--perf", help="perf record the services during the first run of each "
                    "build into PREFIX.<build index> (needs perf)")
    a = ap.parse_args()
    bins = a.bin or [os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin"))]
    work = tempfile.mkdtemp(prefix="hourglass-cpu-")
    feeds = a.keep_feed or os.path.join(work, "feeds")
    try:
        if not os.path.exists(os.path.join(feeds, "truth.json")):
            hg(bins[0], "simulate", "--out", feeds, "--patients", str(a.patients), "--seed",
               "42", "--per-file", str(a.per_file), *(["--notes"] if a.notes else []))
        truth = json.load(open(os.path.join(feeds, "truth.json")))
        jobs = [(partner, p["format"], [os.path.join(feeds, f) for f in p["files"]])
                for partner, p in truth["partners"].items()]
        expected = truth["records"]["distinct"]
        results = {b: [] for b in bins}
        for r in range(a.runs):
            for b in bins:
                perf_out = None
                if a.perf and r == 0:
                    perf_out = f"{a.perf}.{bins.index(b)}"
                m = one_run(a, b, jobs, expected, work, perf_out)
                if m["indexed"] != expected:
                    sys.exit(f"cpu: {b}: indexed {m['indexed']} of {expected}")
                results[b].append(m)
                us = {k: round(v * 1e6 / expected, 1) for k, v in m["cpu"].items()}
                print(f"run {r + 1} {b}: {expected / m['seconds']:,.0f} records/s, "
                      f"µs/record {us} total {sum(us.values()):.1f}", flush=True)
        summary = {}
        for b, ms in results.items():
            names = list(ms[0]["cpu"])
            per = {k: [m["cpu"][k] * 1e6 / expected for m in ms] for k in names}
            tot = [sum(m["cpu"].values()) * 1e6 / expected for m in ms]
            rps = [expected / m["seconds"] for m in ms]
            summary[b] = {
                "records": expected,
                "us_per_record_median": {k: round(statistics.median(v), 1) for k, v in per.items()},
                "us_per_record_min": {k: round(min(v), 1) for k, v in per.items()},
                "total_median": round(statistics.median(tot), 1),
                "total_min": round(min(tot), 1),
                "records_per_s_median": round(statistics.median(rps)),
                "records_per_s_max": round(max(rps)),
            }
        names = list(next(iter(summary.values()))["us_per_record_median"])
        print("\n| build | " + " | ".join(names) + " | total | records/s |")
        print("|---|" + "---|" * (len(names) + 2))
        for b, s in summary.items():
            med, mn = s["us_per_record_median"], s["us_per_record_min"]
            print(f"| {b} | " + " | ".join(f"{med[k]} ({mn[k]})" for k in names)
                  + f" | {s['total_median']} ({s['total_min']}) | "
                  f"{s['records_per_s_median']:,} ({s['records_per_s_max']:,}) |")
        print("\nµs of CPU per record: median over runs (minimum); records/s: median (max)")
        if a.json:
            json.dump(summary, open(a.json, "w"), indent=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
