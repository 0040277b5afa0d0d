"""
hg.py -- helpers for the Hourglass integration tests: run the real
`hourglass` CLI, drive a local cluster, recompute pseudonyms and date shifts
from the de-identification key, read simulator ground truth.

Standard library only. The binaries are found through the environment:

    HOURGLASS_BIN   directory holding `hourglass` and the hourglass-* services
                    (ctest sets it to <build>/bin)
    HOURGLASS_CLI   optional: explicit path of the `hourglass` CLI binary
"""
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

# Every Cluster that is up; conftest prints their logs when a test fails.
ACTIVE_CLUSTERS = []


def bin_dir():
    d = os.environ.get("HOURGLASS_BIN")
    if d:
        return d
    return os.path.normpath(os.path.join(HERE, "..", "..", "build", "bin"))


def cli_path():
    return os.environ.get("HOURGLASS_CLI") or os.path.join(bin_dir(), "hourglass")


def cli_env():
    env = dict(os.environ)
    env["HOURGLASS_BIN_DIR"] = bin_dir()
    env.pop("HOURGLASS_CLUSTER", None)
    env.pop("HOURGLASS_PARTNER", None)
    return env


class Result:
    """Outcome of one CLI run: rc, stdout/stderr as text (invalid UTF-8 replaced)."""

    def __init__(self, args, rc, out, err, seconds):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err
        self.seconds = seconds

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("not JSON from %s: %s\nstdout: %r\nstderr: %r"
                                 % (" ".join(self.args), e, self.out[:2000], self.err[:2000]))

    def __repr__(self):
        return "Result(%s -> rc=%d, out=%r, err=%r)" % (" ".join(self.args), self.rc,
                                                        self.out[:800], self.err[:800])


def run(*args, timeout=120, check=False):
    """Runs `hourglass ARGS...`; returns a Result. check=True asserts rc 0."""
    argv = [cli_path()] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
                       timeout=timeout)
    r = Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)
    if check:
        assert r.rc == 0, r
    return r


def run_binary(name, *args, timeout=60):
    """Runs the service binary bin_dir()/name with ARGS; returns a Result."""
    argv = [os.path.join(bin_dir(), name)] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
                       timeout=timeout)
    return Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def popen(*args):
    """Starts `hourglass ARGS...` in the background (stdout/stderr piped)."""
    argv = [cli_path()] + [str(a) for a in args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env())


def _is_our_service(pid):
    """True when pid is alive and runs an hourglass-* service binary."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
        with open("/proc/%d/stat" % pid, "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return b"hourglass-" in cmd and state != b"Z"


def services_under(path):
    """Pids of running hourglass-<service> processes whose arguments name a
    path under path."""
    path = os.path.abspath(str(path))
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"hourglass-" in os.path.basename(argv[0]) and \
                any(a.startswith(path.encode()) or (b"=" + path.encode()) in a for a in argv):
            pids.append(int(d))
    return pids


class Cluster:
    """A local cluster under dir, driven through the real CLI."""

    def __init__(self, dir):
        self.dir = str(dir)
        self.up_args = []

    # ---- lifecycle --------------------------------------------------------

    def up(self, *opts, timeout=90):
        if self not in ACTIVE_CLUSTERS:
            ACTIVE_CLUSTERS.append(self)
        r = run("cluster", "up", "--dir", self.dir, *opts, timeout=timeout)
        dups = self.duplicate_endpoints()
        assert not dups, ("cluster up (cli/cluster.c s_layout/s_free_port) gave one port to "
                          "several bound endpoints: %s; %r" % (dups, r))
        assert r.rc == 0, "cluster up failed: %r" % r
        return r

    def duplicate_endpoints(self):
        """{endpoint: [owner, ...]} of endpoints that more than one socket binds."""
        try:
            procs = self.cluster_json()["processes"]
        except (OSError, ValueError, KeyError):
            return {}
        owners = {}
        for p in procs:
            owners.setdefault(p["control"], []).append(p["name"] + " --control")
            a = p.get("args", [])
            for i in range(0, len(a) - 1, 2):
                if a[i] in ("--ingest", "--deliver"):
                    owners.setdefault(a[i + 1], []).append(p["name"] + " " + a[i])
        return {ep: o for ep, o in owners.items() if len(o) > 1}

    def down(self):
        r = run("cluster", "down", "--dir", self.dir, timeout=60)
        return r

    def teardown(self):
        """cluster down, then SIGKILL anything of ours still running. Never raises."""
        try:
            self.down()
        except Exception:  # noqa: BLE001 -- teardown must go on
            pass
        for name, pid in self.pids_from_file(all_entries=True).items():
            if pid > 0 and _is_our_service(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # and any service of this cluster cluster.json does not name (a
        # `cluster up` that timed out, a restart the file missed): a process
        # left running would connect to whatever later binds its upstream's
        # port and take another cluster's work
        for pid in services_under(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self in ACTIVE_CLUSTERS:
            ACTIVE_CLUSTERS.remove(self)

    def cluster_json(self):
        with open(os.path.join(self.dir, "cluster.json")) as f:
            return json.load(f)

    def pids_from_file(self, all_entries=False):
        try:
            procs = self.cluster_json()["processes"]
        except (OSError, ValueError, KeyError):
            return {}
        return {p["name"]: int(p.get("pid", 0)) for p in procs
                if all_entries or int(p.get("pid", 0)) > 0}

    def kill9(self, *names):
        """SIGKILLs the named instances (pids from cluster.json); waits until gone."""
        pids = self.pids_from_file()
        killed = []
        for n in names:
            pid = pids[n]
            assert _is_our_service(pid), "%s (pid %d) is not running" % (n, pid)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        deadline = time.monotonic() + 10
        while any(_is_our_service(p) for p in killed) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(_is_our_service(p) for p in killed), "SIGKILLed services still alive"
        return killed

    def status(self):
        return run("cluster", "status", "--dir", self.dir, "--json", timeout=60)

    # ---- client commands --------------------------------------------------

    def push(self, files, fmt, partner, wait=180, timeout=300):
        r = run("push", "--cluster", self.dir, "--format", fmt, "--partner", partner,
                "--wait", wait, "--json", *files, timeout=timeout)
        return r

    def stats(self, allow_down=False):
        """Counters of every instance. allow_down: a dead instance shows "up": false
        instead of failing."""
        r = run("stats", "--cluster", self.dir, "--json", timeout=60)
        if not allow_down:
            assert r.rc == 0, "stats failed (a service is down?): %r" % r
        return r.json()["services"]

    def count(self, code, frm=None, to=None):
        """code: "SYSTEM|CODE", or a list of them for a cohort."""
        codes = [code] if isinstance(code, str) else code
        args = ["query", "count", "--cluster", self.dir, "--json"]
        for c in codes:
            args += ["--code", c]
        if frm:
            args += ["--from", frm]
        if to:
            args += ["--to", to]
        r = run(*args, timeout=60)
        assert r.rc == 0, "query failed: %r" % r
        return r.json(), r.out

    def quarantine(self):
        r = run("quarantine", "list", "--cluster", self.dir, "--json", "--limit", 100000,
                timeout=60)
        assert r.rc == 0, "quarantine list failed: %r" % r
        return r.json()

    def key(self):
        with open(os.path.join(self.dir, "keys", "deid.key"), "rb") as f:
            key = f.read()
        assert len(key) == 32, "deid.key is %d bytes, not 32" % len(key)
        return key

    # ---- waiting ----------------------------------------------------------

    def wait_drained(self, deadline_s=120, stable_polls=3, interval=0.25):
        """Polls stats until every outbox is empty, every accepted push has been
        taken by a cleanser, and the indexers' `indexed` total has stopped
        changing for stable_polls polls. Returns the last stats."""
        deadline = time.monotonic() + deadline_s
        last_total, stable, s = None, 0, None
        while time.monotonic() < deadline:
            s = self.stats()
            depth = sum(v.get("outbox_depth", 0) for v in s.values())
            taken = sum(v.get("received", 0) for v in s.values() if v["service"] == "cleanser")
            accepted = sum(v.get("received", 0) for v in s.values()
                           if v["service"] == "collector")
            total = indexed_total(s)
            if depth == 0 and taken >= accepted and total == last_total:
                stable += 1
                if stable >= stable_polls:
                    return s
            else:
                stable = 0
            last_total = total
            time.sleep(interval)
        raise AssertionError("pipeline did not drain within %ss; last stats: %s"
                             % (deadline_s, json.dumps(s, indent=1)))

    # ---- diagnostics ------------------------------------------------------

    def log_tails(self, n_bytes=3000):
        out = []
        logs = os.path.join(self.dir, "logs")
        try:
            names = sorted(os.listdir(logs))
        except OSError:
            return "(no logs in %s)" % logs
        for name in names:
            path = os.path.join(logs, name)
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    size = f.tell()
                    f.seek(max(0, size - n_bytes))
                    tail = f.read().decode("utf-8", "replace")
            except OSError as e:
                tail = "(unreadable: %s)" % e
            out.append("--- tail of %s ---\n%s" % (path, tail))
        return "\n".join(out)


def mllp_send(address, msg):
    """Sends one HL7 message in an MLLP frame to address ("host:port") and
    returns the raw ACK frame (the independent client is test_mllp.py's)."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"\x0b" + msg + b"\x1c\x0d")
        buf = b""
        while b"\x1c\x0d" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed before the ACK"
            buf += chunk
    return buf


def http_request(url, method, body=None, token=None, headers=None, raw=None, timeout=60):
    """(status, headers, body bytes) of one HTTP request; body is sent as JSON
    (raw: these bytes instead), token as a bearer token. Error statuses are
    returned, not raised."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def indexed_total(stats):
    return sum(v.get("indexed", 0) for v in stats.values() if v["service"] == "indexer")


def counters(stats, service, name):
    return sum(v.get(name, 0) for v in stats.values() if v["service"] == service)


# ---- pseudonyms and date shifts (services/deid/pseudonym.h) ---------------

def pseudonym(key, domain, partner, ident):
    data = domain.encode() + b"\0" + partner.encode() + b"\0" + ident.encode()
    return hashlib.blake2b(data, key=key, digest_size=16).hexdigest()


def patient_pseudonym(key, partner, patient_ref):
    return pseudonym(key, "patient", partner, patient_ref)


def dateshift_days(key, pseud):
    d = hashlib.blake2b(b"dateshift\0" + pseud.encode(), key=key, digest_size=16).digest()
    v = int.from_bytes(d[:4], "little")
    r = v % 730
    return r - 365 if r < 365 else r - 364


def shard_of(pseud, shards):
    """common/record.c hg_shard_of: first 8 hex digits, big-endian, mod shards."""
    if shards <= 1:
        return 0
    return int(pseud[:8], 16) % shards


def shift_date(iso_day, days):
    d = datetime.date.fromisoformat(iso_day[:10])
    return (d + datetime.timedelta(days=days)).isoformat()


# ---- simulator -------------------------------------------------------------

def shifted_timelines(key, truth):
    """{(partner, ref): [(shifted day or None, code)]} from the simulator's facts:
    each patient's events with the de-identifier's date shift applied."""
    out = {}
    for partner, ref, code, day in truth["facts"]:
        shift = dateshift_days(key, patient_pseudonym(key, partner, ref))
        out.setdefault((partner, ref), []).append((shift_date(day, shift) if day else None, code))
    return out


def simulate(out, patients, seed, invalid, per_file=None, timeout=300):
    extra = ["--per-file", per_file] if per_file else []
    r = run("simulate", "--out", out, "--patients", patients, "--seed", seed,
            "--invalid", invalid, *extra, timeout=timeout)
    assert r.rc == 0, "simulate failed: %r" % r
    with open(os.path.join(str(out), "truth.json")) as f:
        truth = json.load(f)
    return truth


def partner_files(out, truth):
    """[(partner, format, [absolute paths])] in a stable order."""
    res = []
    for name in sorted(truth["partners"]):
        p = truth["partners"][name]
        res.append((name, p["format"], [os.path.join(str(out), f) for f in p["files"]]))
    return res


def _patients_with(key, facts, code, frm=None, to=None):
    """({(partner, ref)}, records) of facts with code whose shifted date is in
    [frm, to] (undated facts only when there is no bound)."""
    pats, recs = set(), 0
    for partner, ref, c, day in facts:
        if c != code:
            continue
        if frm or to:
            if not day:
                continue
            sd = shift_date(day, dateshift_days(key, patient_pseudonym(key, partner, ref)))
            if (frm and sd < frm) or (to and sd > to):
                continue
        pats.add((partner, ref))
        recs += 1
    return pats, recs


def expected_counts(key, facts, code, frm=None, to=None):
    """(patients, records) of facts with code whose shifted date is in [frm, to]."""
    pats, recs = _patients_with(key, facts, code, frm, to)
    return len(pats), recs


def expected_cohort(key, facts, codes, frm=None, to=None):
    """Patients carrying every one of codes, each with a shifted date in
    [frm, to] when a bound is given."""
    have = _patients_with(key, facts, codes[0], frm, to)[0]
    for code in codes[1:]:
        have &= _patients_with(key, facts, code, frm, to)[0]
    return len(have)


def push_partners(cluster, sim_dir, truth, wait=180):
    """Pushes each partner's files with its format; returns [(partner, fmt, files, Result)]."""
    pushes = []
    for partner, fmt, files in partner_files(sim_dir, truth):
        r = cluster.push(files, fmt, partner, wait=wait, timeout=wait + 120)
        pushes.append((partner, fmt, files, r))
    return pushes


def scan_files(root_dirs, needles, bounded=True, ignore_case=False):
    """Returns {needle: set(files)} for every needle (bytes) found in the raw bytes of
    any file under root_dirs. A needle matches only where it is not glued to a
    longer run of the same character class (so '1234' in '912345' does not count;
    keeps chance hits in hex pseudonyms and numbers away). bounded=False: any
    occurrence counts -- for needles too distinctive to occur by chance, since in
    a packed protobuf a string's length byte or the next field's tag is often a
    letter ('J' is field 9's tag) and would hide a bounded match. ignore_case:
    'ZYXWQUOR' counts for b'Zyxwquor' (parsers upper-case codes)."""
    import re
    pats = {}
    for n in needles:
        m = n.lower() if ignore_case else n
        pats[n] = (m, re.compile(b"(?<![0-9A-Za-z])" + re.escape(m) + b"(?![0-9A-Za-z])")
                   if bounded else None)
    found = {}
    for root in root_dirs:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if ignore_case:
                    data = data.lower()
                for n, (m, p) in pats.items():
                    if m in data and (p is None or p.search(data)):
                        found.setdefault(n, set()).add(path)
    return found


# ---- /metrics of a CLI-started cluster -------------------------------------

SERVICES = ("collector", "cleanser", "deid", "indexer", "analytics")


def metrics_pages(cluster):
    """{instance: (/metrics body, /health body)} of every instance of a cluster
    started by `cluster up` (each serves them on loopback, its URL in
    cluster.json)."""
    import urllib.request
    pages = {}
    for p in cluster.cluster_json()["processes"]:
        got = []
        for page in ("metrics", "health"):
            with urllib.request.urlopen(p["metrics"] + "/" + page, timeout=30) as r:
                got.append(r.read())
        pages[p["name"]] = tuple(got)
    return pages
