"""
test_cli.py -- the `hourglass` command line as a contract: --help on every
command and subcommand prints the usage on stdout and exits 0, --version
works, and usage errors (a malformed number, an unknown option, a missing
value) print why and the usage on stderr and exit 2 -- without a cluster.
"""
import hg

COMMANDS = [
    ["cluster"], ["cluster", "up"], ["cluster", "down"], ["cluster", "status"],
    ["cluster", "add-partner"], ["push"], ["stats"], ["query"], ["query", "count"],
    ["quarantine"], ["quarantine", "list"], ["quality"], ["health"], ["keygen"],
    ["simulate"],
]


def test_help_everywhere():
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            r = hg.run(*cmd, flag)
            assert r.rc == 0, r
            assert r.out.startswith("usage: hourglass " + cmd[0]), r
            assert "needs a value" not in r.out + r.err, r


def test_cluster_up_help():
    r = hg.run("cluster", "up", "--help")
    assert r.rc == 0 and r.err == "", r
    assert r.out.startswith("usage: hourglass cluster up"), r
    for flag in ("--cleansers N", "--secure", "--http-tokens FILE", "--dir DIR"):
        assert flag in r.out, (flag, r)


def test_version():
    r = hg.run("--version")
    assert r.rc == 0 and r.out.startswith("hourglass "), r
    assert len(r.out.split()) == 2 and r.out.split()[1][0].isdigit(), r


def test_usage_errors_exit_2(tmp_path):
    f = tmp_path / "a.json"
    f.write_text("{}")
    cases = [
        (["push", "--format", "fhir", "--wait", "abc", str(f)],
         "--wait wants a whole number"),
        (["push", "--format", "fhir", "--rate", "fast", str(f)], "--rate wants a number"),
        (["push", "--format", "fhir", "--no-such-flag", str(f)],
         "unknown option --no-such-flag"),
        (["push", "--format", "fhir"], "FILE... required"),
        (["cluster", "up", "--cleansers", "many"], "--cleansers wants a whole number"),
        (["cluster", "up", "--shards", "99"], "from 1 to 16"),
        (["cluster", "status", "--dir"], "--dir needs a value"),
        (["cluster", "sideways"], "unknown subcommand 'sideways'"),
        (["query", "count", "--repeat", "0"], "--repeat wants a whole number"),
        (["quarantine", "list", "--limit", "ten"], "--limit wants a whole number"),
        (["health", "tcp://127.0.0.1:1", "--timeout-ms", "soon"],
         "--timeout-ms wants a whole number"),
        (["keygen"], "--out is required"),
    ]
    for args, message in cases:
        r = hg.run(*args)
        assert r.rc == 2, r
        assert message in r.err and "usage: hourglass" in r.err, (message, r)
        assert r.out == "", r
