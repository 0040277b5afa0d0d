"""
conftest.py -- shared fixtures of the Hourglass integration tests.

Every cluster is registered in hg.ACTIVE_CLUSTERS while it is up; when a test
fails (in setup or call), the tail of each of its DIR/logs/*.log is attached
to the failure report. Clusters are torn down in fixture finalizers (cluster
down, then SIGKILL of any leftover pid from cluster.json) even on failure.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hg  # noqa: E402


def pytest_configure(config):
    cli = hg.cli_path()
    if not os.access(cli, os.X_OK):
        raise pytest.UsageError(
            "hourglass CLI not found at %s: build first (cmake --build <build>) and set "
            "HOURGLASS_BIN=<build>/bin" % cli)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for c in list(hg.ACTIVE_CLUSTERS):
            rep.sections.append(("hourglass logs of %s" % c.dir, c.log_tails()))


@pytest.fixture
def make_cluster(tmp_path):
    """Factory: make_cluster(name) -> hg.Cluster under tmp_path; torn down after the test."""
    made = []

    def make(name="cluster"):
        c = hg.Cluster(tmp_path / name)
        made.append(c)
        return c

    yield make
    for c in made:
        c.teardown()
