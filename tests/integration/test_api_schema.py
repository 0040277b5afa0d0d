"""
test_api_schema.py -- schemathesis (PyPI, from the .venv deploy/python-tools.sh
builds) runs the project's own OpenAPI description, docs/openapi.yaml,
against a live analytics API: property-based requests from the schema (and
requests that break it), every response checked against what the file
promises -- status codes, content types, headers, response schemas, no 5xx
but the documented 503/504, schema-invalid requests refused. A lean budget:
a few examples per operation, a minute at most.

Not checked: positive_data_acceptance (that every schema-valid document is
answered). The query document has rules a JSON schema does not express (an
"after" naming an earlier criterion, bins in ascending order, a measure's
fields by its kind), and analytics refuses what breaks them with a 400
naming the field, which is what test_api.py checks.
"""
import os
import re
import subprocess

import pytest

import hg

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV = os.environ.get("HG_VENV", os.path.join(ROOT, ".venv"))
SCHEMATHESIS = os.path.join(VENV, "bin", "schemathesis")
SPEC = os.path.join(ROOT, "docs", "openapi.yaml")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    assert os.access(SCHEMATHESIS, os.X_OK), (
        "%s missing: deploy/python-tools.sh installs schemathesis" % SCHEMATHESIS)
    base = tmp_path_factory.mktemp("api_schema")
    sim = str(base / "sim")
    truth = hg.simulate(sim, 30, 77, 0)
    c = hg.Cluster(base / "cluster")
    try:
        c.up("--shards", "2", "--min-cell", "3", "--heartbeat-ms", "200", "--compression",
             "none", "--sync", "false")
        hg.push_partners(c, sim, truth)
        c.wait_drained(deadline_s=120)
        r = hg.run("cluster", "add-analyst", "schemathesis", "--dir", c.dir, "--json")
        assert r.rc == 0, r
        yield {"cluster": c, "url": c.cluster_json()["analytics_http"],
               "token": r.json()["token"], "base": base}
    finally:
        c.teardown()


def test_schemathesis(api):
    cmd = [SCHEMATHESIS, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", SPEC, "--url", api["url"],
           "-H", "Authorization: Bearer " + api["token"],
           "--checks", "all", "--exclude-checks", "positive_data_acceptance",
           "--max-examples", "10", "--seed", "1414", "--workers", "1", "--max-time", "40",
           "--request-timeout", "20"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(api["base"]),
                       env=dict(os.environ, SCHEMATHESIS_TELEMETRY="false", NO_COLOR="1"))
    tail = r.stdout[-6000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    # no failure (a warning that many generated documents were refused is fine:
    # see above)
    assert not re.search(r"\d+ (failures?|errors?) ", r.stdout), tail
    assert "No issues found" in r.stdout or " warning" in r.stdout, tail
    # it did test every operation (a schema it could not read tests none)
    assert "Tested: 3" in r.stdout, tail
    # and analytics survived it, its audit trail intact
    v = hg.run("audit", "verify", "--cluster", api["cluster"].dir, "--json")
    assert v.rc == 0 and v.json()["intact"] and v.json()["entries"] > 10, v
