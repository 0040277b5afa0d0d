#!/usr/bin/env python3
"""Analytics query latency per measure kind, side by side with DuckDB (issue 13).

Simulates PATIENTS patients (about 8.3 records each: --patients 120000 is
~1 M records), starts a local cluster of --shards indexer shards with
durability on, pushes every feed, waits until every record is indexed, exports
the de-identified records (`hourglass export --format csv`) and loads them
into DuckDB. Then asks the same questions of both, with realistic criteria (a
code prefix, a value predicate, a temporal `after`, two strata), checks that
the answers agree, and reports p50/p99 of each kind (Hourglass: `query run
--repeat`, one control round trip to analytics fanning out to every shard,
timed in the CLI; DuckDB: the same SQL in-process, data already loaded) with
the ratio, the indexer stores' bytes per million records and the ingest rate.
The same questions are also asked through analytics' HTTP API (issue 14: POST
/v1/query with an analyst's bearer token, one kept-alive connection, timed
in this script): p50/p99 per kind, the answer checked equal to `query run`'s.

DuckDB comes from PyPI, in a venv outside the tree:
    python3 -m venv ~/.venvs/hg-bench && ~/.venvs/hg-bench/bin/pip install duckdb
    ~/.venvs/hg-bench/bin/python bench/analytics.py [--patients N] [--shards N]
        [--repeat N] [--results DIR] [--keep] [--reuse WORKDIR]

Writes RESULTS/analytics.json and RESULTS/analytics.md.
"""
import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from query import ROOT, dir_bytes, indexed, run  # noqa: E402

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
YEAR = time.gmtime().tm_year


def ingest(a, feeds, cluster):
    if not os.path.exists(os.path.join(feeds, "truth.json")):
        run("simulate", "--out", feeds, "--patients", a.patients, "--seed", 13, "--per-file", 50)
    truth = json.load(open(os.path.join(feeds, "truth.json")))
    expected = truth["records"]["distinct"]
    run("cluster", "up", "--dir", cluster, "--shards", a.shards, "--min-cell", 0)
    t0 = time.monotonic()
    for partner, p in sorted(truth["partners"].items()):
        files = [os.path.join(feeds, f) for f in p["files"]]
        for i in range(0, len(files), 2000):
            run("push", "--cluster", cluster, "--partner", partner, "--format", p["format"],
                "--wait", 0, *files[i:i + 2000])
    wait_indexed(cluster, expected, t0)
    rps = expected / (time.monotonic() - t0)
    print("indexed %d records (%.0f records/s)" % (expected, rps), flush=True)
    return truth, rps


def wait_indexed(cluster, expected, t0):
    """Until every record is indexed; a shard busy committing may miss a stats poll."""
    while True:
        r = run("stats", "--cluster", cluster, "--json", check=False)
        try:
            if indexed(json.loads(r.stdout)["services"]) >= expected:
                return
        except (ValueError, KeyError):
            pass
        if time.monotonic() - t0 > 3600:
            sys.exit("analytics-bench: not indexed within an hour")
        time.sleep(0.5)


def age_group_sql():
    age = "(%d - d.birth_year)" % YEAR
    return ("CASE WHEN d.patient IS NULL THEN 'unknown' WHEN d.birth_year IS NULL OR %s >= 90 "
            "THEN '90+' ELSE CAST(%s // 10 * 10 AS VARCHAR) || '-' || "
            "CAST(%s // 10 * 10 + 9 AS VARCHAR) END" % (age, age, age))


def questions(truth, con):
    """[(kind, query document, SQL, answer of the document -> comparable, SQL rows ->
    comparable)]: the same question both ways."""
    icd = sorted((c for c in truth["codes"] if c.startswith(ICD + "|")),
                 key=lambda c: -truth["codes"][c]["patients"])
    cond = icd[0]
    prefix = cond[:len(ICD) + 2]  # the system and the code's first letter
    labs = sorted((c for c in truth["codes"] if c.startswith(LOINC + "|")),
                  key=lambda c: -truth["codes"][c]["records"])
    lab = labs[0]
    lcode = lab.split("|")[1]
    vals = [r[0] for r in con.execute(
        "SELECT value FROM facts WHERE system = ? AND code = ? AND value IS NOT NULL "
        "ORDER BY value", [LOINC, lcode]).fetchall()]
    median = vals[len(vals) // 2]
    edges = sorted({vals[0], vals[len(vals) // 4], median, vals[3 * len(vals) // 4],
                    vals[-1] + 1})
    demo = ("(SELECT patient, any_value(sex) AS sex, any_value(birth_year) AS birth_year "
            "FROM facts WHERE kind = 'demographics' GROUP BY patient)")
    pfx = prefix.split("|")[1]
    cohort = "(SELECT DISTINCT patient FROM facts WHERE system = '%s' AND code LIKE '%s%%')" % (
        ICD, pfx)
    sex = "coalesce(nullif(d.sex, ''), 'unknown')"
    cells = lambda keys, val: lambda ans: sorted(  # noqa: E731
        tuple([c[k] for k in keys] + [c[val]]) for c in ans["cells"])
    rows = lambda rs: sorted(tuple(r) for r in rs)  # noqa: E731
    bins_case = " ".join("WHEN value >= %r AND value < %r THEN %d" % (edges[i], edges[i + 1], i)
                         for i in range(len(edges) - 1))
    ccode = cond.split("|")[1]
    return [
        ("patients (prefix; by sex, age_group)",
         {"cohort": {"all": [{"prefix": prefix}]}, "by": ["sex", "age_group"]},
         "SELECT %s, %s, count(*) FROM %s c LEFT JOIN %s d USING (patient) GROUP BY 1, 2"
         % (sex, age_group_sql(), cohort, demo),
         cells(["sex", "age_group"], "patients"), rows),
        ("patients (value >= median, then the prefix within 180 days)",
         {"cohort": {"all": [{"code": lab, "value": {"gte": median}},
                             {"prefix": prefix, "after": {"criterion": 0, "min_days": 0,
                                                          "max_days": 180}}]}},
         "SELECT count(DISTINCT a.patient) FROM facts a JOIN facts b USING (patient) WHERE "
         "a.system = '%s' AND a.code = '%s' AND a.value >= %r AND b.system = '%s' AND b.code "
         "LIKE '%s%%' AND date_diff('day', a.day, b.day) BETWEEN 0 AND 180"
         % (LOINC, lcode, median, ICD, pfx),
         lambda ans: [(ans["patients"],)], rows),
        ("records (prefix; by sex, year)",
         {"cohort": {"all": [{"prefix": prefix}]}, "by": ["sex", "year"],
          "measure": {"kind": "records"}},
         "SELECT %s, CAST(year(r.day) AS VARCHAR), count(DISTINCT r.patient || r.record_id) FROM %s c JOIN "
         "facts r USING (patient) LEFT JOIN %s d USING (patient) WHERE r.day IS NOT NULL "
         "GROUP BY 1, 2" % (sex, cohort, demo),
         cells(["sex", "year"], "records"), rows),
        ("distribution (a lab in the prefix cohort)",
         {"cohort": {"all": [{"prefix": prefix}]},
          "measure": {"kind": "distribution", "code": lab, "bins": edges}},
         "SELECT b, count(*), count(DISTINCT patient) FROM (SELECT patient, CASE %s END AS b "
         "FROM facts WHERE system = '%s' AND code = '%s' AND patient IN %s) WHERE b IS NOT NULL "
         "GROUP BY b" % (bins_case, LOINC, lcode, cohort),
         lambda ans: sorted((i, b["records"], b["patients"]) for i, b in enumerate(ans["bins"])
                            if b["records"]), rows),
        ("series (incidence per month)",
         {"cohort": {"all": [{"code": cond}]},
          "measure": {"kind": "series", "code": cond, "interval": "month", "incidence": True}},
         "SELECT strftime(f, '%%Y-%%m'), count(*) FROM (SELECT patient, min(day) AS f FROM "
         "facts WHERE system = '%s' AND code = '%s' AND day IS NOT NULL GROUP BY patient) "
         "GROUP BY 1" % (ICD, ccode),
         lambda ans: sorted((s["period"], s["patients"]) for s in ans["series"]), rows),
        ("prevalence (per 1000, by sex)",
         {"cohort": {"all": [{"code": cond}]}, "by": ["sex"],
          "measure": {"kind": "prevalence", "per": 1000}},
         "SELECT %s, count(DISTINCT p.patient) FILTER (WHERE p.patient IN (SELECT patient FROM "
         "facts WHERE system = '%s' AND code = '%s')), count(DISTINCT p.patient) FROM "
         "(SELECT DISTINCT patient FROM facts) p LEFT JOIN %s d USING (patient) GROUP BY 1"
         % (sex, ICD, ccode, demo),
         lambda ans: sorted((c["sex"], c["patients"], c["denominator"]) for c in ans["cells"]),
         rows),
        ("top (20 conditions of patients with the lab >= median)",
         {"cohort": {"all": [{"code": lab, "value": {"gte": median}}]},
          "measure": {"kind": "top", "of": "condition", "n": 20}},
         "SELECT system || '|' || code AS c, count(DISTINCT patient) AS n FROM facts WHERE "
         "kind = 'condition' AND patient IN (SELECT patient FROM facts WHERE system = '%s' AND "
         "code = '%s' AND value >= %r) GROUP BY 1 ORDER BY n DESC, c LIMIT 20"
         % (LOINC, lcode, median),
         lambda ans: [(t["code"], t["patients"]) for t in ans["top"]],
         lambda rs: [tuple(r) for r in rs]),
    ]


def hourglass(cluster, work, doc, repeat):
    path = os.path.join(work, "q.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    ans = json.loads(run("query", "run", "--cluster", cluster, "--file", path, "--json",
                         "--repeat", repeat).stdout)
    return ans, ans["latency_ms"]


def through_http(conn, token, doc, repeat):
    """POST /v1/query repeat times on one connection; the last answer and p50/p99 ms."""
    body = json.dumps(doc).encode()
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    ms, ans = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        conn.request("POST", "/v1/query", body, hdrs)
        resp = conn.getresponse()
        text = resp.read()
        ms.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise RuntimeError("POST /v1/query: %d %s" % (resp.status, text[:300]))
        ans = json.loads(text)
    ms.sort()
    return ans, {"p50": ms[len(ms) // 2], "p99": ms[(len(ms) * 99) // 100]}


def api_connection(cluster):
    """An analyst's token and a connection to the cluster's API."""
    url = json.load(open(os.path.join(cluster, "cluster.json")))["analytics_http"]
    token = json.loads(run("cluster", "add-analyst", "bench-%d" % os.getpid(), "--dir", cluster,
                           "--json").stdout)["token"]
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return token, http.client.HTTPConnection(host, int(port), timeout=60)


def duck(con, sql, repeat):
    ms = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = con.execute(sql).fetchall()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return res, {"p50": ms[len(ms) // 2], "p99": ms[(len(ms) * 99) // 100]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=120000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster and feeds")
    ap.add_argument("--reuse", help="a work directory left by --keep: only ask again")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    work = a.reuse or tempfile.mkdtemp(prefix="hourglass-analytics-")
    feeds, cluster = os.path.join(work, "feeds"), os.path.join(work, "cluster")
    try:
        rps = None
        if a.reuse:
            truth = json.load(open(os.path.join(feeds, "truth.json")))
            run("cluster", "up", "--dir", cluster)  # what is not running
            wait_indexed(cluster, truth["records"]["distinct"], time.monotonic())
        else:
            truth, rps = ingest(a, feeds, cluster)
        run("cluster", "down", "--dir", cluster)  # flushes memtables: sizes on disk
        store = sum(dir_bytes(os.path.join(cluster, "data", d))
                    for d in os.listdir(os.path.join(cluster, "data")) if d.startswith("indexer-"))
        run("cluster", "up", "--dir", cluster)
        time.sleep(2)
        run("export", "--cluster", cluster, "--format", "csv", "--out", os.path.join(work, "x"))
        con = duckdb.connect()
        t0 = time.monotonic()
        con.execute("CREATE TABLE facts AS SELECT *, TRY_CAST(substr(effective, 1, 10) AS DATE) "
                    "AS day FROM read_csv(?, header = true, all_varchar = false, "
                    "types = {'birth_year': 'INTEGER', 'value': 'DOUBLE', 'code': 'VARCHAR', 'effective': 'VARCHAR', "
                    "'state': 'VARCHAR', 'postal_prefix': 'VARCHAR'})",
                    [os.path.join(work, "x", "records.csv")])
        load_s = time.monotonic() - t0
        records = truth["records"]["distinct"]
        result = {"patients": a.patients, "records": records, "shards": a.shards,
                  "ingest_records_per_s": round(rps) if rps else None,
                  "indexer_mb_per_million_records": round(store / 1e6 / (records / 1e6), 1),
                  "duckdb_load_s": round(load_s, 2), "repeat": a.repeat, "kinds": []}
        token, conn = api_connection(cluster)
        for kind, doc, sql, from_ans, from_rows in questions(truth, con):
            ans, hl = hourglass(cluster, work, doc, a.repeat)
            hans, hh = through_http(conn, token, doc, a.repeat)
            res, dl = duck(con, sql, a.repeat)
            same = {k: v for k, v in hans.items() if k != "audit_id"} == \
                {k: v for k, v in ans.items() if k not in ("audit_id", "latency_ms")}
            agree = from_ans(ans) == from_rows(res) and same
            if not agree:
                print("DISAGREE %s:\n hourglass %s\n duckdb    %s"
                      % (kind, from_ans(ans)[:8], from_rows(res)[:8]), flush=True)
            row = {"kind": kind, "hourglass_ms": {"p50": hl["p50"], "p99": hl["p99"]},
                   "http_ms": hh,
                   "duckdb_ms": dl, "ratio_p50": dl["p50"] / hl["p50"] if hl["p50"] else None,
                   "agree": agree}
            print("%-60s hourglass p50 %7.2f p99 %7.2f | http p50 %7.2f p99 %7.2f | duckdb p50 "
                  "%7.2f p99 %7.2f | duckdb/hourglass %.2f %s"
                  % (kind, hl["p50"], hl["p99"], hh["p50"], hh["p99"], dl["p50"], dl["p99"],
                     row["ratio_p50"] or 0, "" if agree else "DISAGREE"), flush=True)
            result["kinds"].append(row)
        write(a, result)
    finally:
        if not a.keep and not a.reuse:
            run("cluster", "down", "--dir", cluster, check=False)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept: %s" % work)


def write(a, result):
    with open(os.path.join(a.results, "analytics.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# Analytics queries: Hourglass and DuckDB", "",
             "%d records (%d patients), %d shards; ingest %s records/s; indexer %.1f MB per "
             "million records; DuckDB load %.1f s; %d repeats per question." % (
                 result["records"], result["patients"], result["shards"],
                 result["ingest_records_per_s"], result["indexer_mb_per_million_records"],
                 result["duckdb_load_s"], result["repeat"]), "",
             "| question | Hourglass p50 / p99 ms | over HTTP p50 / p99 ms | DuckDB p50 / p99 ms "
             "| DuckDB / Hourglass (p50) | answers agree |", "|---|---|---|---|---|---|"]
    for r in result["kinds"]:
        lines.append("| %s | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %s |" % (
            r["kind"], r["hourglass_ms"]["p50"], r["hourglass_ms"]["p99"],
            r["http_ms"]["p50"], r["http_ms"]["p99"],
            r["duckdb_ms"]["p50"], r["duckdb_ms"]["p99"], r["ratio_p50"] or 0,
            "yes" if r["agree"] else "NO"))
    with open(os.path.join(a.results, "analytics.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
