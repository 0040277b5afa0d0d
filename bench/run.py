#!/usr/bin/env python3
"""End-to-end benchmark of a local Hourglass cluster, with durability on.

Simulates partner feeds, measures this machine's raw limits with the same
libraries (hourglass-limits: ZeroMQ PUSH/PULL, RocksDB synced batches), starts
a cluster, pushes every feed as fast as the collector accepts it, and reports
records/s and MB/s from first push to last record indexed, push-to-indexed
latency percentiles (from the indexer's histogram), peak memory (VmHWM) and
CPU per record of every service and of the pushing clients, each figure next
to the raw limit. For comparing builds by CPU per record (which a shared
machine disturbs far less than throughput) see bench/cpu.py.

Writes RESULTS/bench.json, RESULTS/bench.md and RESULTS/bench.svg.

    bench/run.py [--patients N] [--cleansers N] [--deids N] [--shards N]
                 [--notes] [--results DIR] [--smoke]

--notes adds a progress note with planted PHI per patient (`hourglass simulate
--notes`: an HL7 MDM^T02 and an NTE, a FHIR DocumentReference or
DiagnosticReport), which the de-identifier scrubs: the rate with notes in the
feed next to the rate without.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin"))
HG = os.path.join(BIN, "hourglass")
BUCKETS = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000, 10000, float("inf")]


def run(*args, check=True):
    r = subprocess.run([HG, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench: hourglass {' '.join(args)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    return r


def stats(cluster):
    r = run("stats", "--cluster", cluster, "--json", check=False)
    try:
        return json.loads(r.stdout)["services"]
    except (ValueError, KeyError):
        return {}


def proc_usage(pid):
    """(peak RSS bytes, CPU seconds) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return hwm, (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, StopIteration, IndexError):
        return 0, 0.0


def percentile(hist, q):
    """Upper bound (ms) of the bucket holding quantile q of a histogram."""
    total = sum(hist)
    if total == 0:
        return None
    seen = 0
    for bound, n in zip(BUCKETS, hist):
        seen += n
        if seen >= q * total:
            return bound
    return BUCKETS[-1]


def latency_hist(services):
    hist = [0] * len(BUCKETS)
    for s in services.values():
        if s.get("service") != "indexer":
            continue
        for i, b in enumerate(BUCKETS):
            key = "latency_le_inf" if b == float("inf") else f"latency_le_{b}"
            hist[i] += s.get(key, 0)
    return hist


def svg(samples, hist, path):
    """Throughput over time and latency distribution, as a plain SVG."""
    w, h, pad = 720, 260, 40
    rates = []
    for (t0, n0), (t1, n1) in zip(samples, samples[1:]):
        if t1 > t0:
            rates.append(((t0 + t1) / 2, (n1 - n0) / (t1 - t0)))
    tmax = max([t for t, _ in rates] + [1e-9])
    rmax = max([r for _, r in rates] + [1])
    pts = " ".join(f"{pad + t / tmax * (w - 2 * pad):.1f},{h - pad - r / rmax * (h - 2 * pad):.1f}"
                   for t, r in rates)
    hmax = max(hist + [1])
    bw = (w - 2 * pad) / len(hist)
    bars = "".join(
        f'<rect x="{pad + i * bw + 2:.1f}" y="{2 * h - pad - n / hmax * (h - 2 * pad):.1f}" '
        f'width="{bw - 4:.1f}" height="{n / hmax * (h - 2 * pad):.1f}" fill="#4a7"/>'
        f'<text x="{pad + i * bw + bw / 2:.1f}" y="{2 * h - pad + 14}" font-size="9" '
        f'text-anchor="middle">{"≤" + str(b) if b != float("inf") else ">10s"}</text>'
        for i, (b, n) in enumerate(zip(BUCKETS, hist)))
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{2 * h}" '
                f'font-family="sans-serif">'
                f'<text x="{pad}" y="20" font-size="13">records indexed per second over time '
                f'(peak {rmax:,.0f}/s, {tmax:.1f} s)</text>'
                f'<polyline fill="none" stroke="#27c" stroke-width="2" points="{pts}"/>'
                f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>'
                f'<text x="{pad}" y="{h + 20}" font-size="13">push-to-indexed latency '
                f'(envelopes per bucket, ms)</text>{bars}</svg>')


def run_cluster(a, cluster, jobs, expected, rate=0.0):
    """One cluster run: push every job (paced to `rate` batches/s in total when
    > 0), sample until every record is indexed. Returns the measurements."""
    if os.path.exists(cluster):
        shutil.rmtree(cluster)
    run("cluster", "up", "--dir", cluster, "--cleansers", str(a.cleansers), "--deids",
        str(a.deids), "--shards", str(a.shards), "--sync", os.environ.get("BENCH_SYNC", "true"))
    procs = json.load(open(os.path.join(cluster, "cluster.json")))["processes"]
    cpu0 = {p["name"]: proc_usage(p["pid"])[1] for p in procs}
    samples, done = [], threading.Event()
    t_start = time.monotonic()
    wall_start = time.time()

    def sampler():
        while not done.is_set():
            s = stats(cluster)
            n = sum(v.get("indexed", 0) for v in s.values() if v.get("service") == "indexer")
            samples.append((time.monotonic() - t_start, n))
            if n >= expected:
                done.set()
            time.sleep(0.1)

    th = threading.Thread(target=sampler)
    th.start()
    total_files = sum(len(f) for _, _, f in jobs)
    pushers = []
    for partner, fmt, files in jobs:
        pace = ["--rate", f"{rate * len(files) / total_files:.3f}"] if rate > 0 else []
        pushers.append(subprocess.Popen([HG, "push", "--cluster", cluster, "--partner", partner,
                                         "--format", fmt, "--wait", "0", *pace, *files],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    push_cpu = 0.0
    for p in pushers:
        _, status, ru = os.wait4(p.pid, 0)    # reaps it: its rusage is the client's CPU
        p.returncode = os.waitstatus_to_exitcode(status)
        push_cpu += ru.ru_utime + ru.ru_stime
    done.wait(timeout=900)
    done.set()
    th.join()
    services = stats(cluster)
    usage = {p["name"]: proc_usage(p["pid"]) for p in procs}
    run("cluster", "down", "--dir", cluster)
    by_service = {}
    for p in procs:
        by_service[p["service"]] = (by_service.get(p["service"], 0.0)
                                    + usage[p["name"]][1] - cpu0.get(p["name"], 0))
    # the run ends at the last indexer commit (the sampler sees it up to
    # 0.1 s later); each stage's wall time split into processing rounds and
    # committing them (fsync included), per instance
    last = max((v.get("last_commit_unix_ms", 0) for v in services.values()
                if v.get("service") == "indexer"), default=0)
    elapsed = last / 1e3 - wall_start if last else (samples[-1][0] if samples else 0)
    stages = {}
    for name, v in sorted(services.items()):
        if v.get("commits") and elapsed > 0:
            stages[name] = {"commits": v["commits"],
                            "process_share": round(v.get("process_us", 0) / 1e6 / elapsed, 3),
                            "commit_share": round(v.get("commit_us", 0) / 1e6 / elapsed, 3)}
    return {
        "samples": samples,
        "elapsed": elapsed,
        "stages": stages,
        "indexed": samples[-1][1] if samples else 0,
        "hist": latency_hist(services),
        "usage": usage,
        "cpu_total": sum(usage[n][1] - cpu0.get(n, 0) for n in usage),
        "cpu_by_service": by_service,
        "cpu_push": push_cpu,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=15000)
    ap.add_argument("--cleansers", type=int, default=1)
    ap.add_argument("--deids", type=int, default=1)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--per-file", type=int, default=20)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--notes", action="store_true",
                    help="a note with planted PHI per patient in the feed (scrubbed by deid)")
    ap.add_argument("--smoke", action="store_true", help="tiny run that checks the bench works")
    a = ap.parse_args()
    if a.smoke:
        a.patients, a.per_file = 60, 10
    os.makedirs(a.results, exist_ok=True)
    work = tempfile.mkdtemp(prefix="hourglass-bench-")
    feeds, cluster = os.path.join(work, "feeds"), os.path.join(work, "cluster")
    try:
        run("simulate", "--out", feeds, "--patients", str(a.patients), "--seed", "42",
            "--per-file", str(a.per_file), *(["--notes"] if a.notes else []))
        truth = json.load(open(os.path.join(feeds, "truth.json")))
        jobs = []
        for partner, p in truth["partners"].items():
            files = [os.path.join(feeds, f) for f in p["files"]]
            jobs.append((partner, p["format"], files))
        all_files = [f for _, _, fs in jobs for f in fs]
        total_bytes = sum(os.path.getsize(f) for f in all_files)
        mean_bytes = max(1, total_bytes // max(1, len(all_files)))
        expected = truth["records"]["distinct"]

        limits = json.loads(subprocess.run(
            [os.path.join(BIN, "hourglass-limits"), "--bytes", str(mean_bytes),
             "--messages", "20000" if a.smoke else "200000"],
            capture_output=True, text=True, check=True).stdout)

        m = run_cluster(a, cluster, jobs, expected)
        elapsed, indexed, hist = m["elapsed"], m["indexed"], m["hist"]
        usage, cpu_total, samples = m["usage"], m["cpu_total"], m["samples"]
        # the same feed again, paced at half the rate just measured
        half_rate = len(all_files) / elapsed / 2 if elapsed else 0
        half = run_cluster(a, cluster, jobs, expected, rate=half_rate) if half_rate else None
        rps = indexed / elapsed if elapsed else 0
        envelopes_ps = len(all_files) / elapsed if elapsed else 0
        result = {
            "patients": a.patients, "notes": a.notes,
            "note_records": truth["records"]["by_kind"].get("note", 0),
            "files": len(all_files), "bytes": total_bytes,
            "mean_message_bytes": mean_bytes, "records_expected": expected,
            "records_indexed": indexed, "seconds": round(elapsed, 3),
            "records_per_s": round(rps), "mb_per_s": round(total_bytes / 1e6 / elapsed, 2) if elapsed else 0,
            "latency_ms": {"p50": percentile(hist, 0.5), "p99": percentile(hist, 0.99),
                           "p999": percentile(hist, 0.999)},
            "latency_histogram": dict(zip([str(b) for b in BUCKETS], hist)),
            "peak_rss_mb": {n: round(u[0] / 1e6, 1) for n, u in usage.items()},
            "cpu_us_per_record": round(cpu_total * 1e6 / indexed, 1) if indexed else None,
            # per service (all instances of it), and the pushing clients apart:
            # on a real deployment they run on the partners' machines
            "cpu_us_per_record_by_service": {
                k: round(v * 1e6 / indexed, 1) for k, v in m["cpu_by_service"].items()
            } if indexed else None,
            "push_client_cpu_us_per_record": round(m["cpu_push"] * 1e6 / indexed, 1)
            if indexed else None,
            "limits": limits,
            "ratios": {
                "messages_vs_zmq": round(envelopes_ps / limits["zmq_push_pull_msgs_per_s"], 4),
                "records_vs_rocksdb_synced_writes":
                    round(rps / limits["rocksdb_synced_writes_per_s"], 4),
            },
            "layout": {"cleansers": a.cleansers, "deids": a.deids, "shards": a.shards},
            "stage_time_shares": m["stages"],
        }
        if half:
            hh = half["hist"]
            result["half_load"] = {
                "batches_per_s": round(half_rate, 1),
                "records_per_s": round(half["indexed"] / half["elapsed"]) if half["elapsed"] else 0,
                "records_indexed": half["indexed"],
                "latency_ms": {"p50": percentile(hh, 0.5), "p99": percentile(hh, 0.99),
                               "p999": percentile(hh, 0.999)},
                "latency_histogram": dict(zip([str(b) for b in BUCKETS], hh)),
                "stage_time_shares": half["stages"],
            }
        json.dump(result, open(os.path.join(a.results, "bench.json"), "w"), indent=2)
        svg(samples, hist, os.path.join(a.results, "bench.svg"))
        lat = result["latency_ms"]
        md = (f"| figure | Hourglass | raw limit | ratio |\n|---|---|---|---|\n"
              f"| messages/s (mean {mean_bytes} B) | {envelopes_ps:,.0f} | ZeroMQ PUSH/PULL "
              f"{limits['zmq_push_pull_msgs_per_s']:,.0f} | {result['ratios']['messages_vs_zmq']:.3f} |\n"
              f"| records/s end to end | {rps:,.0f} | RocksDB synced batched writes "
              f"{limits['rocksdb_synced_writes_per_s']:,.0f} | "
              f"{result['ratios']['records_vs_rocksdb_synced_writes']:.3f} |\n"
              f"| MB/s | {result['mb_per_s']} | ZeroMQ {limits['zmq_mb_per_s']} | |\n"
              f"| latency p50 / p99 / p999 (ms, bucket bound) | {lat['p50']} / {lat['p99']} / "
              f"{lat['p999']} | | |\n"
              f"| CPU per record (µs, all services) | {result['cpu_us_per_record']} | | |\n"
              f"| CPU per record by service (µs) | "
              + ", ".join(f"{k} {v}" for k, v in (result["cpu_us_per_record_by_service"] or {}).items())
              + f"; pushing clients {result['push_client_cpu_us_per_record']} | | |\n"
              f"| peak RSS (MB) | " + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mb"].items())
              + " | | |\n"
              f"| share of the run processing / committing, commits | "
              + ", ".join(f"{k} {v['process_share']:.2f} / {v['commit_share']:.2f}, {v['commits']}"
                          for k, v in m["stages"].items())
              + " | | |\n")
        if half:
            hl = result["half_load"]["latency_ms"]
            md += (f"| latency at half load ({result['half_load']['records_per_s']:,} records/s) "
                   f"p50 / p99 / p999 (ms) | {hl['p50']} / {hl['p99']} / {hl['p999']} | | |\n"
                   f"| half load: share processing / committing, commits | "
                   + ", ".join(f"{k} {v['process_share']:.2f} / {v['commit_share']:.2f}, "
                               f"{v['commits']}" for k, v in half["stages"].items())
                   + " | | |\n")
        open(os.path.join(a.results, "bench.md"), "w").write(md)
        print(md)
        print(f"records indexed {indexed} of {expected} in {elapsed:.2f} s; "
              f"results in {a.results}/bench.{{json,md,svg}}")
        if indexed != expected or (half and half["indexed"] != expected):
            sys.exit(f"bench: indexed {indexed} records (half-load run: "
                     f"{half['indexed'] if half else '-'}), expected {expected}")
    finally:
        if os.path.exists(os.path.join(cluster, "cluster.json")):
            subprocess.run([HG, "cluster", "down", "--dir", cluster], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
