"""
test_progress.py -- the CLI on a terminal and against stages that are down
(issue 16.5): `push` of many files draws one progress line in place on a
terminal (files, records, MB/s, ETA; a pseudo-terminal here) and nothing of
it with --json or into pipes; it names the stage it waits for when one is
down; `stats` and `query` against a stopped cluster fail naming what is down
(the time bound below is only a hang guard); `cluster up` on an existing
cluster with other options names them instead of ignoring them.
"""
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

import hg

PROGRESS = re.compile(r"push: (\d+)/(\d+) files, (\d+) records, ([\d.]+) MB/s, "
                      r"(ETA (\d+ s|--)|outcomes \d+/\d+)")


def _run_in_pty(argv, timeout=120):
    """Runs argv with stdout and stderr on one pseudo-terminal; (rc, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                         env=hg.cli_env(), close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:   # EIO: the other side closed
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    rc = p.wait(timeout=10)
    os.close(master)
    return rc, out.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("progress")
    truth = hg.simulate(str(base / "sim"), 120, 77, 0, per_file=2)
    c = hg.Cluster(base / "c")
    c.up("--heartbeat-ms", "100", "--min-cell", "0", "--compression", "none")
    yield c, str(base / "sim"), truth
    c.teardown()


def _files(sim, truth):
    partner, fmt, files = hg.partner_files(sim, truth)[0]
    return partner, fmt, files


def test_progress_line_on_a_terminal(cluster):
    c, sim, truth = cluster
    partner, fmt, files = _files(sim, truth)
    assert len(files) >= 20
    rc, out = _run_in_pty([hg.cli_path(), "push", "--cluster", c.dir, "--format", fmt,
                           "--partner", partner, "--rate", "10", *files])
    assert rc == 0, out
    # one line redrawn in place: every state after a carriage return, none on its own line
    states = [s for s in re.split(r"[\r\n]", out) if s.startswith("push: ")]
    assert len(states) >= 3, out
    for s in states:
        assert PROGRESS.match(s.replace("\x1b[K", "")), repr(s)
    assert "\r" in out and "\x1b[K" in out, repr(out[:400])
    first, last = PROGRESS.match(states[0]), PROGRESS.match(states[-1].replace("\x1b[K", ""))
    assert int(first.group(2)) == len(files) and int(last.group(1)) == len(files), out
    assert int(last.group(3)) > 0, out        # records parsed, from the cleansers' outcomes
    # records are counted while files still go out
    assert any(PROGRESS.match(s).group(5).startswith("ETA") and int(PROGRESS.match(s).group(3))
               for s in (x.replace("\x1b[K", "") for x in states)), out
    assert any("ETA " in s and "ETA --" not in s for s in states), out
    # the summary follows on its own lines
    assert re.search(r"\naccepted: %d batches" % len(files), out.replace("\r", "")), out


def test_no_progress_with_json_or_into_pipes(cluster):
    c, sim, truth = cluster
    partner, fmt, files = _files(sim, truth)
    # --json on a terminal: the JSON object and nothing else
    rc, out = _run_in_pty([hg.cli_path(), "push", "--cluster", c.dir, "--format", fmt,
                           "--partner", partner, "--json", *files])
    assert rc == 0, out
    assert "\r" not in out.replace("\r\n", "\n") and "push: " not in out, repr(out[:400])
    assert hg.json.loads(out)["duplicates"] == len(files), out
    # into pipes: no progress either
    r = hg.run("push", "--cluster", c.dir, "--format", fmt, "--partner", partner, *files)
    assert r.rc == 0, r
    assert "\r" not in r.out + r.err and "push: " not in r.out + r.err, r


def test_push_names_the_stage_it_waits_for(cluster, tmp_path):
    c, sim, truth = cluster
    partner, fmt, files = _files(sim, truth)
    fresh = tmp_path / "new.json"
    fresh.write_text(open(files[0]).read().replace('"id"', '"id" ', 1))

    def first_wait_line(argv):
        p = hg.popen(*argv)
        t0 = time.monotonic()
        line = ""
        try:
            while time.monotonic() - t0 < 10:    # a hang guard, not a performance check
                r, _, _ = select.select([p.stderr], [], [], 0.5)
                if r:
                    line = p.stderr.readline().decode("utf-8", "replace")
                    if "waiting for" in line or not line:
                        break
        finally:
            p.kill()
            p.wait()
        return line

    c.kill9("cleanser-0")
    try:
        line = first_wait_line(["push", "--cluster", c.dir, "--format", fmt, "--partner",
                                partner, "--wait", "60", str(fresh)])
        assert line.startswith("hourglass push: waiting for the cleansers' outcomes: "
                               "cleanser-0 is down: not running"), line
        c.kill9("collector-0")
        line = first_wait_line(["push", "--cluster", c.dir, "--format", fmt, "--partner",
                                partner, "--wait", "60", str(fresh)])
        assert line.startswith("hourglass push: waiting for the collector: collector-0 is "
                               "down: not running"), line
    finally:
        c.up()


def test_stats_and_query_name_what_is_down(cluster):
    c, _, _ = cluster
    c.down()
    try:
        r = hg.run("stats", "--cluster", c.dir, timeout=30)
        assert r.rc == 1, r
        for name in ("collector-0", "cleanser-0", "deid-0", "indexer-0", "analytics-0"):
            assert "hourglass stats: %s: down: not running" % name in r.err, r
            assert re.search(r"^%s\s+DOWN$" % name, r.out, re.M), r
        assert "5 of 5 instances down" in r.err, r
        assert r.seconds < 10, r    # a hang guard only
        r = hg.run("query", "count", "--cluster", c.dir, "--code", "http://loinc.org|4548-4",
                   timeout=30)
        assert r.rc == 1 and "analytics-0 is down: not running" in r.err, r
        assert "indexer-0 is down: not running" in r.err and "every shard" in r.err, r
        assert r.seconds < 10, r
        # one shard down, the rest up: the query names that shard
        c.up()
        c.kill9("indexer-0")
        r = hg.run("query", "run", "--cluster", c.dir, "--file", "/dev/null", timeout=30)
        assert r.rc == 1 and "indexer-0 is down: not running" in r.err, r
        assert "analytics-0 is down" not in r.err, r
    finally:
        c.up()


def test_cluster_up_names_options_that_differ(cluster):
    c, _, _ = cluster
    r = hg.run("cluster", "up", "--dir", c.dir, "--cleansers", "2", "--min-cell", "5",
               "--heartbeat-ms", "100", timeout=60)
    assert r.rc == 1, r
    assert "--cleansers 1 (given 2)" in r.err and "--min-cell 0 (given 5)" in r.err, r
    assert "heartbeat" not in r.err, r       # given as it was: not a difference
    # the same options, or none: started as it is
    r = hg.run("cluster", "up", "--dir", c.dir, "--heartbeat-ms", "100", "--min-cell", "0",
               timeout=60)
    assert r.rc == 0 and "(0 started)" in r.out, r
