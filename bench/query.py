#!/usr/bin/env python3
"""Query latency and index size at scale (issue 5, item 2).

Simulates PATIENTS patients, starts a local cluster with durability on, pushes
every feed, waits until every record is indexed, then times `hourglass query
count` (each query --repeat times, timed inside the CLI: one control round
trip to analytics, which fans out to every shard) for the most frequent codes:
unranged (exact per-code totals), over one year and over one month of
de-identified dates; and cohorts (`query count` with two `--code`: the
patients carrying both) of the three most frequent codes, unranged and over
one year. Reports p50/p99/max per kind of query, the indexer
stores' size on disk per million records (after a flush, lz4), and ingest
throughput of the run.

Writes RESULTS/query.json and RESULTS/query.md.

    bench/query.py [--patients N] [--shards N] [--repeat N] [--results DIR] [--keep]
    bench/query.py --reuse WORKDIR [--repeat N]      # time the queries again on a
                                                     # cluster kept with --keep

About 8.3 records per patient: --patients 120000 gives ~1 M records.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin"))
HG = os.path.join(BIN, "hourglass")


def run(*args, check=True):
    r = subprocess.run([HG, *[str(a) for a in args]], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit("query-bench: hourglass %s failed (%d):\n%s%s"
                 % (" ".join(map(str, args)), r.returncode, r.stderr, r.stdout))
    return r


def stats(cluster):
    return json.loads(run("stats", "--cluster", cluster, "--json").stdout)["services"]


def indexed(s):
    return sum(v.get("indexed", 0) for v in s.values() if v["service"] == "indexer")


def dir_bytes(path):
    total = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            try:
                total += os.path.getsize(os.path.join(dirpath, n))
            except OSError:
                pass
    return total


def timed_count(cluster, code, repeat, frm=None, to=None):
    """(records, latency) of a count; (patients, latency) of a cohort (a list
    of codes)."""
    codes = [code] if isinstance(code, str) else code
    args = ["query", "count", "--cluster", cluster, "--json", "--repeat", repeat]
    for c in codes:
        args += ["--code", c]
    if frm:
        args += ["--from", frm, "--to", to]
    js = json.loads(run(*args).stdout)
    return js["records"] if len(codes) == 1 else js["patients"], js["latency_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=120000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster and feeds")
    ap.add_argument("--reuse", help="a work directory left by --keep: only time the queries")
    ap.add_argument("--feeds", help="simulate the feed into (or reuse it from) this directory "
                    "instead of the work directory (A/B runs on one feed)")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    work = a.reuse or tempfile.mkdtemp(prefix="hourglass-query-")
    a.keep = a.keep or bool(a.reuse)
    feeds, cluster = a.feeds or os.path.join(work, "feeds"), os.path.join(work, "cluster")
    try:
        if a.reuse:
            result = measure(a, feeds, cluster, None)
        else:
            result = ingest_and_measure(a, feeds, cluster)
        write(a, result)
    finally:
        if not a.keep:
            run("cluster", "down", "--dir", cluster, check=False)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept: %s" % work)


def ingest_and_measure(a, feeds, cluster):
    t0 = time.monotonic()
    if not os.path.exists(os.path.join(feeds, "truth.json")):
        run("simulate", "--out", feeds, "--patients", a.patients, "--seed", 7, "--per-file", 50)
    truth = json.load(open(os.path.join(feeds, "truth.json")))
    expected = truth["records"]["distinct"]
    print("simulated %d patients, %d records in %.0f s"
          % (a.patients, expected, time.monotonic() - t0), flush=True)
    run("cluster", "up", "--dir", cluster, "--shards", a.shards, "--min-cell", 0)
    t0 = time.monotonic()
    for partner, p in sorted(truth["partners"].items()):
        files = [os.path.join(feeds, f) for f in p["files"]]
        for i in range(0, len(files), 2000):
            run("push", "--cluster", cluster, "--partner", partner, "--format", p["format"],
                "--wait", 0, *files[i:i + 2000])
    while indexed(stats(cluster)) < expected:
        if time.monotonic() - t0 > 3600:
            sys.exit("query-bench: not indexed within an hour")
        time.sleep(0.5)
    ingest_s = time.monotonic() - t0
    print("indexed %d records in %.0f s (%.0f records/s)"
          % (expected, ingest_s, expected / ingest_s), flush=True)
    # where each instance spent the ingest (see bench/run.py)
    shares = ["%s %.2f / %.2f" % (name, v.get("process_us", 0) / 1e6 / ingest_s,
                                  v.get("commit_us", 0) / 1e6 / ingest_s)
              for name, v in sorted(stats(cluster).items()) if v.get("commits")]
    print("share of the ingest processing / committing: " + ", ".join(shares), flush=True)
    return measure(a, feeds, cluster, expected / ingest_s)


def measure(a, feeds, cluster, ingest_rps):
    truth = json.load(open(os.path.join(feeds, "truth.json")))
    expected = truth["records"]["distinct"]
    run("cluster", "down", "--dir", cluster)    # flushes memtables: sizes on disk
    shards = [d for d in os.listdir(os.path.join(cluster, "data")) if d.startswith("indexer-")]
    a.shards = len(shards)
    store = sum(dir_bytes(os.path.join(cluster, "data", d)) for d in shards)
    run("cluster", "up", "--dir", cluster)
    time.sleep(2)

    codes = sorted(truth["codes"].items(), key=lambda kv: -kv[1]["records"])[:5]
    rows = {"unranged": [], "one year": [], "one month": []}
    for code, v in codes:
        n, lat = timed_count(cluster, code, a.repeat)
        if n != v["records"]:
            sys.exit("query-bench: %s counted %d, truth %d" % (code, n, v["records"]))
        rows["unranged"].append((code, n, lat))
        for kind, frm, to in (("one year", "2021-01-01", "2021-12-31"),
                              ("one month", "2021-06-01", "2021-06-30")):
            n, lat = timed_count(cluster, code, a.repeat, frm, to)
            rows[kind].append((code, n, lat))
    # cohorts: the patients carrying two of the three most frequent codes
    # (a walk of each code's patients; fewer repeats, they take longer)
    rows["cohort, unranged"], rows["cohort, one year"] = [], []
    top = [c for c, _ in codes[:3]]
    for i, x in enumerate(top):
        for y in top[i + 1:]:
            n, lat = timed_count(cluster, [x, y], max(2, a.repeat // 4))
            rows["cohort, unranged"].append((x + " & " + y, n, lat))
            n, lat = timed_count(cluster, [x, y], max(2, a.repeat // 4), "2021-01-01",
                                 "2021-12-31")
            rows["cohort, one year"].append((x + " & " + y, n, lat))
    result = {
        "patients": a.patients, "records": expected, "shards": a.shards,
        "ingest_records_per_s": round(ingest_rps) if ingest_rps else None,
        "indexer_store_bytes": store,
        "indexer_mb_per_million_records": round(store / 1e6 / (expected / 1e6), 1),
        "repeat": a.repeat,
        "queries": {k: [{"code": c, "records": n, "latency_ms": lat} for c, n, lat in r]
                    for k, r in rows.items()},
    }
    return result


def write(a, result):
    rows, expected, store = result["queries"], result["records"], result["indexer_store_bytes"]
    json.dump(result, open(os.path.join(a.results, "query.json"), "w"), indent=2)
    md = ["| query count | matching records (cohorts: patients) | p50 ms | p99 ms | max ms |",
          "|---|---|---|---|---|"]
    for kind, r in rows.items():
        for q in r:
            c, n, lat = q["code"], q["records"], q["latency_ms"]
            md.append("| %s, %s | %d | %.2f | %.2f | %.2f |"
                      % (kind, c, n, lat["p50"], lat["p99"], lat["max"]))
    md.append("")
    md.append("%d records on %d shards; indexer stores %.0f MB = **%.0f MB per million "
              "records**%s." % (
                  expected, result["shards"], store / 1e6,
                  result["indexer_mb_per_million_records"],
                  "; ingest %d records/s" % result["ingest_records_per_s"]
                  if result["ingest_records_per_s"] else ""))
    open(os.path.join(a.results, "query.md"), "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
