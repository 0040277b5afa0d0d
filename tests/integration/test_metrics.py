"""
test_metrics.py -- what operators scrape (issue 16, point 1). A local cluster
(two cleansers, two indexer shards) serves /metrics and /health on loopback,
one URL per instance listed in cluster.json; after a push, every page passes
Debian's `promtool check metrics` (HELP and TYPE, base units, _total
counters), the numbers agree with `hourglass stats`, every counter a source
file counts is in the catalogue of common/metrics.c, per-partner series name
the partners that pushed, the shipped alert rules pass `promtool test rules`,
and every Grafana panel queries metrics that exist.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

import hg

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROMTOOL = shutil.which("promtool")


def _promtool(*args, stdin=None):
    assert PROMTOOL, "promtool missing: deploy/install-deps.sh installs Debian's prometheus"
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """{instance: (service, exposition text)} of a cluster after a push."""
    base = tmp_path_factory.mktemp("metrics")
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--cleansers", "2", "--shards", "2", "--min-cell", "0")
        truth = hg.simulate(base / "sim", "40", "7", "4")
        pushes = hg.push_partners(c, base / "sim", truth)
        assert all(r.rc in (0, 1) for _, _, _, r in pushes), pushes  # 1: some quarantined
        c.wait_drained()
        stats = c.stats()
        pages = {}
        for p in c.cluster_json()["processes"]:
            url = p.get("metrics", "")
            assert url.startswith("http://127.0.0.1:"), (
                "cluster up must serve %s's metrics on loopback and list the URL: %r" % (p["name"], p))
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                assert r.status == 200
            with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
                pages[p["name"]] = (p["service"], r.read().decode())
        yield pages, stats, truth
    finally:
        c.teardown()


def _samples(text, name):
    """[(labels dict, value)] of the samples of metric name."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^%s\{(.*)\} (\S+)$" % re.escape(name), line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            out.append((labels, float(m.group(2))))
    return out


def test_promtool_accepts_every_page(scraped):
    pages, _, _ = scraped
    assert {s for s, _ in pages.values()} == {"collector", "cleanser", "deid", "indexer",
                                              "analytics"}
    for name, (service, text) in pages.items():
        r = _promtool("check", "metrics", stdin=text.encode())
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (
            "promtool check metrics refused %s: %s%s" % (name, r.stdout.decode(),
                                                          r.stderr.decode()))
        assert _samples(text, "hourglass_build_info"), name
        assert _samples(text, "process_resident_memory_bytes")[0][1] > 0, name
        assert _samples(text, "process_open_fds")[0][1] > 0, name
        assert "_us" not in text and "latency_ms" not in text, name


def test_numbers_agree_with_stats(scraped):
    pages, stats, _ = scraped
    indexed = sum(v for _, (s, t) in pages.items() if s == "indexer"
                  for _, v in _samples(t, "hourglass_indexed_total"))
    assert indexed == hg.indexed_total(stats) > 0
    parsed = sum(v for _, (s, t) in pages.items() if s == "cleanser"
                 for _, v in _samples(t, "hourglass_parsed_total"))
    assert parsed == hg.counters(stats, "cleanser", "parsed")
    # the histogram counts one observation per indexed envelope, all buckets present
    for name, (service, text) in pages.items():
        if service != "indexer":
            continue
        buckets = _samples(text, "hourglass_latency_seconds_bucket")
        assert [b["le"] for b, _ in buckets][-1] == "+Inf" and len(buckets) == 14, name
        values = [v for _, v in buckets]
        assert values == sorted(values), "buckets must be cumulative: %s" % name


def test_per_partner_series(scraped):
    pages, _, truth = scraped
    collector = [t for s, t in pages.values() if s == "collector"][0]
    received = {l["partner"]: v for l, v in _samples(collector, "hourglass_partner_received_total")}
    assert set(received) == set(truth["partners"]), received
    total = sum(v for _, v in _samples(collector, "hourglass_received_total"))
    assert sum(received.values()) == total > 0
    quarantined = {}
    for s, t in pages.values():
        if s == "cleanser":
            for l, v in _samples(t, "hourglass_partner_quarantined_total"):
                quarantined[l["partner"]] = quarantined.get(l["partner"], 0) + v
    assert quarantined and set(quarantined) <= set(truth["partners"])


def _catalogue():
    src = open(os.path.join(ROOT, "common", "metrics.c")).read()
    body = src[src.index("s_catalogue[] = {"):src.index("/* Gauges the runtime publishes")]
    return set(re.findall(r'^\s+\{"([a-z_0-9]+)", "', body, re.M))


def test_every_counted_counter_is_catalogued():
    """A counter a source file counts but the catalogue does not describe would be
    exposed with a placeholder HELP; this lists them."""
    counted = set()
    for path in glob.glob(os.path.join(ROOT, "services", "*", "*.c")) + \
            glob.glob(os.path.join(ROOT, "common", "*.c")):
        text = open(path).read()
        counted |= set(re.findall(r'hg_service_counter \(\s*\w+,\s*"([a-z_0-9]+)"\)', text))
        # the collector's admission verdicts name their counter
        counted |= set(re.findall(r's_(?:verdict|reject) \([^;]*"([a-z_0-9]+)"\)', text))
    counted = {c for c in counted if not c.startswith("latency_")}
    assert len(counted) > 20, counted
    missing = counted - _catalogue()
    assert not missing, "add these to s_catalogue in common/metrics.c: %s" % sorted(missing)


def test_alert_rules():
    rules = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
    r = _promtool("check", "rules", rules)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    tests = os.path.join(ROOT, "deploy", "prometheus", "alerts_test.yml")
    r = _promtool("test", "rules", tests)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    # every alert has a test case
    alerts = set(re.findall(r"^\s+- alert: (\w+)", open(rules).read(), re.M))
    tested = set(re.findall(r"alertname: (\w+)", open(tests).read()))
    assert alerts and alerts <= tested, "alerts without a promtool test: %s" % (alerts - tested)


def test_scrape_config():
    """prometheus.yml parses, with its rule file where the container mounts it."""
    src = open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")).read()
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml"), d)
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write(src.replace("/etc/prometheus/alerts.yml", os.path.join(d, "alerts.yml")))
        r = _promtool("check", "config", os.path.join(d, "prometheus.yml"))
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert "dns_sd_configs" in src and "static_configs" not in src


def test_grafana_queries_existing_metrics(scraped):
    pages, _, _ = scraped
    exposed = set()
    for _, text in pages.values():
        for line in text.splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
            if m and not line.startswith("#"):
                exposed.add(m.group(1))
    dash = json.load(open(os.path.join(ROOT, "deploy", "grafana", "hourglass.json")))
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            if "expr" in o:
                exprs.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(dash)
    assert exprs
    for e in exprs:
        names = set(re.findall(r"\b((?:hourglass|process)_[a-z_0-9]+)", e))
        assert names or e.startswith("up{"), e  # up: made by Prometheus itself
        missing = names - exposed
        assert not missing, "Grafana panel %r queries metrics nobody exposes: %s" % (e, missing)
