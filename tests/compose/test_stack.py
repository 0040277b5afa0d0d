"""
test_stack.py -- deploy/docker-stack.yml on a single-node Docker Swarm: build
the FROM-scratch image from the build directory (deploy/build-images.sh),
validate the stack file (`docker stack config`), `docker swarm init` (only if
this node is in no swarm: a swarm the test did not create is never touched,
the test is skipped), label the node for every placement constraint, `docker
stack deploy` under a unique name, and then:
- every service's replicas healthy; only the collector's ingest port
  published (host mode), no control or metrics port; every service dnsrr;
  the deid key a secret of mode 0400 owned by uid 10001;
- push half of a simulated feed with the real CLI running INSIDE the overlay
  network (`docker run --network <stack>_hourglass`, cluster.json from
  deploy/stack-cluster.py), scale the cleansers to 3, push the rest: the new
  replica takes work, and the deids reach it through dnsrr discovery (else
  its outbox would never drain);
- every record indexed exactly once, every code count equal to the
  simulator's truth, the quarantine exactly the invalid items;
- `docker stack rm`, wait until its containers and network are gone, remove
  its volumes;
- the same with deploy/docker-stack.secure.yml on top (every key file a
  secret, CurveZMQ on every link): partners push with their own keys, an
  unknown key is refused with nothing stored, every count equals the truth;
- `docker swarm leave --force` if the test created the swarm.

Skipped, with the reason printed, when Docker is not usable or the node is
already part of a swarm. Needs HOURGLASS_BIN=<build>/bin (ctest sets it).
"""
import concurrent.futures
import json
import os
import time
import uuid

import pytest

from hgdocker import (DEPLOY, bin_dir, check_counts, check_mllp_unauthenticated,
                      check_mllp_verdicts, check_push, cli, counter, docker_unusable,
                      free_ports, push_jobs, sh, wait_drained)

STACK_FILE = os.path.join(DEPLOY, "docker-stack.yml")
SECURE_FILE = os.path.join(DEPLOY, "docker-stack.secure.yml")
STACK_CLUSTER = os.path.join(DEPLOY, "stack-cluster.py")
SERVICES = ["collector", "cleanser", "deid", "indexer-0", "indexer-1", "analytics"]
LABELS = ["collector", "cleanser", "deid", "indexer-0", "indexer-1", "analytics"]

PATIENTS = 120
INVALID = 4
SEED = 777
PER_FILE = 5
CHUNKS = 12           # in-network `push` runs (each one `docker run`)
HEARTBEAT_MS = 250

_T0 = time.monotonic()


def _log(msg):
    print("[stack %6.1fs] %s" % (time.monotonic() - _T0, msg), flush=True)


def swarm_state():
    p = sh(["docker", "info", "-f", "{{.Swarm.LocalNodeState}}"], timeout=30, check=True)
    return p.out.strip()


class Stack:
    """One stack of the Hourglass image on a swarm this test created."""

    def __init__(self, tmp):
        suffix = uuid.uuid4().hex[:8]
        self.name = "hgst" + suffix
        self.image_repo = "hourglass-stack-" + suffix
        self.image = self.image_repo + ":local"
        self.image_tags = [self.image, self.image_repo + ":" + suffix]
        self.tmp = str(tmp)
        self.key = os.path.join(self.tmp, "keys", "deid.key")
        self.cluster_dir = os.path.join(self.tmp, "cluster")
        self.sim = os.path.join(self.tmp, "sim")
        self.network = self.name + "_hourglass"
        self.ingest_port, self.mllp_port = free_ports(2)
        self.env = dict(os.environ)
        self.env.update({
            "HOURGLASS_IMAGE": self.image,
            "HOURGLASS_KEY_FILE": self.key,
            "HOURGLASS_MIN_CELL": "0",
            "HOURGLASS_HEARTBEAT_MS": str(HEARTBEAT_MS),
            "HOURGLASS_INGEST_PORT": str(self.ingest_port),
            "HOURGLASS_MLLP_PORT": str(self.mllp_port),
            "HOURGLASS_CLEANSERS": "2",
            "HOURGLASS_DEIDS": "2",
            "HOURGLASS_REVISION": suffix,
        })
        self.files = [STACK_FILE]
        self.links = None
        self.swarm_created = False
        self.deployed = False
        self.images_built = False

    def secure_stack(self):
        """The next deployment is a new stack with docker-stack.secure.yml on
        top: CurveZMQ on every link, every key file a secret."""
        assert not self.deployed
        self.name += "s"
        self.network = self.name + "_hourglass"
        self.cluster_dir += "-secure"
        self.files = [STACK_FILE, SECURE_FILE]
        self.links = os.path.join(self.tmp, "keys", "links")
        self.env.update({"HOURGLASS_LINK_KEYS": self.links, "HOURGLASS_STACK": self.name,
                         "HOURGLASS_CLI": cli()})
        sh([os.path.join(DEPLOY, "make-link-keys.sh"), "--dir", self.links], env=self.env,
           check=True)

    def add_partner(self, name):
        """A partner key pair, allowed at the collector; returns the path of its
        secret key in the CLI container."""
        sh([os.path.join(DEPLOY, "make-link-keys.sh"), "--dir", self.links, "--partner", name],
           env=self.env, check=True)
        return "/links/partners/%s.key" % name

    # ---- lifecycle ----------------------------------------------------------

    def build_image(self):
        build = os.path.dirname(os.path.abspath(bin_dir()))
        self.images_built = True
        p = sh([os.path.join(DEPLOY, "build-images.sh"), "--no-key", "--image", self.image_repo,
                build], env=self.env, timeout=600)
        assert p.returncode == 0, "build-images.sh failed:\n%s\n%s" % (p.out, p.err)
        _log(p.out.strip().splitlines()[-1])
        sh([os.path.join(DEPLOY, "make-keys.sh"), self.key], check=True)

    def init_swarm(self):
        # swarm init creates docker_gwbridge if there is none; leave removes it not
        gw = sh(["docker", "network", "inspect", "docker_gwbridge"])
        self.gwbridge_before = gw.returncode == 0
        p = sh(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=120)
        assert p.returncode == 0, "docker swarm init failed: %s" % p.err
        self.swarm_created = True
        node = sh(["docker", "node", "ls", "-q"], check=True).out.split()
        assert len(node) == 1, node
        args = []
        for label in LABELS:
            args += ["--label-add", "hourglass.%s=true" % label]
        sh(["docker", "node", "update"] + args + [node[0]], check=True)

    def deploy(self):
        self.deployed = True
        files = [a for f in self.files for a in ("-c", f)]
        p = sh(["docker", "stack", "deploy"] + files + [self.name], env=self.env, timeout=300)
        assert p.returncode == 0, "docker stack deploy failed: %s %s" % (p.out, p.err)
        # Swarm ignores (with this warning) options it does not support
        assert "unsupported" not in (p.out + p.err).lower(), p.out + p.err

    def service(self, short):
        return "%s_%s" % (self.name, short)

    def scale(self, short, n):
        sh(["docker", "service", "scale", "-d", "%s=%d" % (self.service(short), n)], check=True)

    def containers(self):
        p = sh(["docker", "ps", "-a", "-q", "--filter",
                "label=com.docker.stack.namespace=" + self.name], check=True)
        return p.out.split()

    def remove(self):
        """docker stack rm, wait for its containers and network to go, then
        its volumes. Returns what is left (empty when clean)."""
        sh(["docker", "stack", "rm", self.name], timeout=120)
        deadline = time.monotonic() + 90
        left = None
        while time.monotonic() < deadline:
            nets = sh(["docker", "network", "ls", "-q", "--filter",
                       "name=" + self.network]).out.split()
            left = self.containers() + nets
            if not left:
                break
            time.sleep(1)
        vols = sh(["docker", "volume", "ls", "-q", "--filter",
                   "label=com.docker.stack.namespace=" + self.name]).out.split()
        if vols:
            sh(["docker", "volume", "rm"] + vols, timeout=120)
        vols = sh(["docker", "volume", "ls", "-q", "--filter",
                   "label=com.docker.stack.namespace=" + self.name]).out.split()
        return (left or []) + vols

    def teardown(self, failed):
        """Logs on failure, stack rm, image rm, swarm leave. Never raises."""
        try:
            if self.deployed:
                if failed:
                    for s in SERVICES:
                        p = sh(["docker", "service", "logs", "--no-trunc", "--tail", "60",
                                self.service(s)], timeout=60)
                        print("---- docker service logs %s ----\n%s%s"
                              % (s, p.out[-8000:], p.err[-8000:]))
                left = self.remove()
                if left:
                    print("teardown: still there after docker stack rm: %s" % left)
        except Exception as e:  # noqa: BLE001 -- teardown goes on
            print("teardown: docker stack rm failed: %s" % e)
        if self.images_built:
            try:
                sh(["docker", "rmi", "-f"] + self.image_tags, timeout=120)
            except Exception as e:  # noqa: BLE001
                print("teardown: docker rmi failed: %s" % e)
        if self.swarm_created:
            try:
                p = sh(["docker", "swarm", "leave", "--force"], timeout=120)
                print("teardown: docker swarm leave --force: %s" % (p.out + p.err).strip())
                if not self.gwbridge_before:
                    # often refused ("active endpoints": moby/moby#37018) until
                    # the daemon restarts; harmless, reused by the next init
                    p = sh(["docker", "network", "rm", "docker_gwbridge"], timeout=60)
                    print("teardown: docker network rm docker_gwbridge: %s"
                          % (p.out + p.err).strip())
            except Exception as e:  # noqa: BLE001
                print("teardown: docker swarm leave failed: %s" % e)

    # ---- the CLI inside the overlay network -----------------------------------

    def hg(self, *args, timeout=300):
        """`hourglass ARGS` in a container on the stack's network, with the
        cluster directory at /cluster and the simulation at /sim."""
        argv = ["docker", "run", "--rm", "--network", self.network, "--read-only",
                "--cap-drop", "ALL", "-v", self.cluster_dir + ":/cluster:ro"]
        if os.path.isdir(self.sim):
            argv += ["-v", self.sim + ":/sim:ro"]
        if self.links:
            argv += ["-v", self.links + ":/links:ro"]
        # as the invoking user, who owns the feeds and the partners' keys
        argv += ["--user", str(os.getuid())]
        p = sh(argv + [self.image, "/bin/hourglass"] + list(args), timeout=timeout)
        return p.returncode, p.out, p.err

    def write_cluster_json(self):
        key = ["--keys", "/links"] if self.links else []
        p = sh(["/usr/bin/python3", STACK_CLUSTER, "--stack", self.name, "--out",
                self.cluster_dir] + key, check=True)
        with open(os.path.join(self.cluster_dir, "cluster.json")) as f:
            c = json.load(f)
        assert c["ingest"] == "tcp://collector:5550", c
        assert c.get("ingest_key", "") == ("/links/collector.pub" if key else ""), c
        self.instances = [q["name"] for q in c["processes"]]
        return p.out

    def stats(self, allow_down=False):
        rc, out, err = self.hg("stats", "--cluster", "/cluster", "--json", timeout=60)
        if not allow_down:
            assert rc == 0, "stats failed (a service is down?): %s %s" % (out, err)
        return json.loads(out)["services"]

    def counts(self, codes):
        def one(code):
            rc, out, err = self.hg("query", "count", "--cluster", "/cluster", "--code", code,
                                   "--json", timeout=60)
            assert rc == 0, "query failed: %s %s" % (out, err)
            return code, json.loads(out)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return dict(pool.map(one, codes))

    def quarantine_count(self):
        rc, out, err = self.hg("quarantine", "list", "--cluster", "/cluster", "--json",
                               "--limit", "100000", timeout=60)
        assert rc == 0, "quarantine list failed: %s %s" % (out, err)
        return json.loads(out)["count"]

    def push(self, partner, fmt, files, key=None):
        who = ["--key", key] if key else ["--partner", partner]
        r = self.hg("push", "--cluster", "/cluster", *who, "--format", fmt, "--wait", "240",
                    "--json", *["/sim/" + f for f in files], timeout=300)
        return check_push(r, len(files))

    # ---- waiting ----------------------------------------------------------------

    def replicas(self):
        """{service: 'running/desired'} of the stack (running counts a task
        only once its healthcheck passed)."""
        p = sh(["docker", "service", "ls", "--filter", "label=com.docker.stack.namespace="
                + self.name, "--format", "{{.Name}} {{.Replicas}}"], check=True)
        return dict(line.split()[:2] for line in p.out.splitlines() if line.strip())

    def wait_healthy(self, want, deadline_s=150):
        """Every service at its wanted replica count and every container of
        the stack healthy; then a fresh cluster.json, with every instance up
        in `stats` run inside the network."""
        deadline = time.monotonic() + deadline_s
        state = {}
        while time.monotonic() < deadline:
            reps = self.replicas()
            state = {"replicas": reps}
            if reps == {self.service(s): "%d/%d" % (n, n) for s, n in want.items()}:
                cids = sh(["docker", "ps", "-q", "--filter", "label=com.docker.stack.namespace="
                           + self.name]).out.split()
                health = sh(["docker", "inspect", "-f", "{{.State.Health.Status}}"] + cids).out
                state["health"] = health.split()
                if len(cids) == sum(want.values()) and set(health.split()) == {"healthy"}:
                    self.write_cluster_json()
                    s = self.stats(allow_down=True)
                    state["down"] = [n for n, v in s.items() if not v.get("up")]
                    if not state["down"] and len(s) == len(cids):
                        return s
            time.sleep(1)
        raise AssertionError("stack not healthy within %ds: %s" % (deadline_s, state))


def validate_stack_files(env, files):
    """`docker stack config` (client side, no swarm needed) where this Docker
    has it, else docker-compose's parser; returns the resolved file."""
    if sh(["docker", "stack", "config", "--help"]).returncode == 0:
        p = sh(["docker", "stack", "config"] + [a for f in files for a in ("-c", f)], env=env)
        assert p.returncode == 0, "docker stack config rejects %s: %s" % (files, p.err)
    else:
        p = sh(["docker-compose"] + [a for f in files for a in ("-f", f)] + ["config"], env=env)
        assert p.returncode == 0, "docker-compose config rejects %s: %s" % (files, p.err)
    return p.out


def check_published(stack):
    """Only the collector's ingest and MLLP ports are published (host mode); every
    service resolves each task (dnsrr); the deid key is a 0400 secret."""
    ids = sh(["docker", "service", "ls", "-q", "--filter",
              "label=com.docker.stack.namespace=" + stack.name], check=True).out.split()
    published = {}
    for svc in json.loads(sh(["docker", "service", "inspect"] + ids, check=True).out):
        name = svc["Spec"]["Name"]
        spec = svc["Spec"].get("EndpointSpec") or {}
        assert spec.get("Mode") == "dnsrr", (name, spec)
        for p in (svc.get("Endpoint") or {}).get("Ports") or []:
            published.setdefault(name, []).append(
                (p["TargetPort"], p["PublishedPort"], p["PublishMode"]))
        secrets = {s["File"]["Name"]: (s["File"]["UID"], s["File"]["GID"], s["File"]["Mode"])
                   for s in svc["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []}
        assert set(secrets.values()) <= {("10001", "10001", 0o400)}, (name, secrets)
        if name == stack.service("deid"):
            assert "deid.key" in secrets, secrets
        if stack.links and name != stack.service("analytics"):
            # its own key pair (and for a server its allow-list)
            assert "links/%s.key" % name.split("_", 1)[1].split("-")[0] in secrets, secrets
    published = {k: sorted(v) for k, v in published.items()}
    assert published == {stack.service("collector"): [(2575, stack.mllp_port, "host"),
                                                       (5550, stack.ingest_port, "host")]}, \
        published
    # and on the host: no container of the stack has any other port bound
    ports = sh(["docker", "ps", "--filter", "label=com.docker.stack.namespace=" + stack.name,
                "--format", "{{.Names}}|{{.Ports}}"], check=True).out.split("\n")
    bound = {n.split(".")[0]: p for n, p in (x.split("|", 1) for x in ports if x)
             if p.strip()}
    assert list(bound) == [stack.service("collector")], bound
    assert all(":%d->5550/tcp" % stack.ingest_port in b or ":%d->2575/tcp" % stack.mllp_port in b
               for b in bound[stack.service("collector")].split(", ")), bound


@pytest.fixture
def stack(tmp_path, request):
    why = docker_unusable()
    if not why:
        state = swarm_state()
        if state != "inactive":
            why = ("this node is already in a swarm (LocalNodeState %s) the test did not "
                   "create; it is left alone" % state)
    if why:
        print("SKIP compose.stack: " + why)
        pytest.skip(why)
    assert os.access(cli(), os.X_OK), (
        "hourglass CLI not found at %s: build first and set HOURGLASS_BIN=<build>/bin" % cli())
    s = Stack(tmp_path)
    failed_before = request.session.testsfailed
    yield s
    s.teardown(failed=request.session.testsfailed > failed_before)


def test_stack_deploys_pushes_scales_and_is_removed(stack):
    for files in ([STACK_FILE], [STACK_FILE, SECURE_FILE]):
        config = validate_stack_files(stack.env, files)
        for key in ("mem_limit", "pids_limit", "memswap_limit", "security_opt"):
            assert key not in config, key
    _log("building image %s from %s" % (stack.image, bin_dir()))
    stack.build_image()
    stack.init_swarm()
    _log("single-node swarm initialised")
    stack.deploy()
    want = {"collector": 1, "cleanser": 2, "deid": 2, "indexer-0": 1, "indexer-1": 1,
            "analytics": 1}
    stack.wait_healthy(want)
    _log("stack %s: all %d tasks healthy" % (stack.name, sum(want.values())))
    check_published(stack)

    r = sh([cli(), "simulate", "--out", stack.sim, "--patients", PATIENTS, "--seed", SEED,
            "--invalid", INVALID, "--per-file", PER_FILE], timeout=300, check=True)
    _log(r.out.strip())
    with open(os.path.join(stack.sim, "truth.json")) as f:
        truth = json.load(f)
    jobs = push_jobs(truth, CHUNKS)
    half = len(jobs) // 2
    for partner, fmt, files in jobs[:half]:
        stack.push(partner, fmt, files)
    _log("pushed %d of %d jobs; scaling the cleansers to 3" % (half, len(jobs)))

    stack.scale("cleanser", 3)
    want["cleanser"] = 3
    stack.wait_healthy(want)
    assert "cleanser-3" in stack.instances, stack.instances
    for partner, fmt, files in jobs[half:]:
        stack.push(partner, fmt, files)
    _log("pushed all %d jobs" % len(jobs))

    stats = wait_drained(lambda: stack.stats(allow_down=True))
    _log("drained: indexed %d" % counter(stats, "indexer", "indexed"))
    # the replica added by the scale took work, and what it passed on reached
    # the indexers: the deids found it through the service name (dnsrr)
    assert stats["cleanser-3"].get("received", 0) > 0, stats["cleanser-3"]
    # one name: the CLI's is the one the instance gives itself
    for name in ("cleanser-1", "cleanser-2", "cleanser-3", "deid-1", "deid-2"):
        assert stats[name]["up"], stats
    check_counts(truth, stats, stack.counts, stack.quarantine_count)
    _log("every count equals the truth (%d codes, %d records)"
         % (len(truth["codes"]), truth["records"]["distinct"]))
    # MLLP from the host: the ACK waits for the verdict of the cleanser task that
    # parsed it (the collector resolves dns+tcp://cleanser:5562 to every task)
    check_mllp_verdicts("127.0.0.1", stack.mllp_port, stack.name)
    _log("MLLP: AA once parsed, AE with the cleanser's ERR when quarantined")

    left = stack.remove()
    assert not left, "left after docker stack rm: %s" % left
    stack.deployed = False
    _log("stack removed: no container, network or volume left")
    secure_stack(stack, truth, jobs)


def secure_stack(stack, truth, jobs):
    """The stack again, with docker-stack.secure.yml: partners push with their
    own keys, an unknown key is refused with nothing stored, and every count
    equals the truth."""
    stack.secure_stack()
    keys = {name: stack.add_partner(name) for name in truth["partners"]}
    stack.deploy()
    want = {"collector": 1, "cleanser": 2, "deid": 2, "indexer-0": 1, "indexer-1": 1,
            "analytics": 1}
    stack.wait_healthy(want)
    _log("secure stack %s: all %d tasks healthy" % (stack.name, sum(want.values())))
    check_published(stack)

    rogue = os.path.join(stack.links, "rogue")
    sh([cli(), "keygen", "--out", rogue], check=True)
    partner, fmt, files = jobs[0]
    rc, out, err = stack.hg("push", "--cluster", "/cluster", "--key", "/links/rogue.key",
                            "--format", fmt, "--wait", "5", "--json", "/sim/" + files[0])
    assert rc != 0 and json.loads(out)["undelivered"] == 1, (rc, out, err)
    s = stack.stats()
    assert s["collector"].get("auth_refused", 0) >= 1, s["collector"]
    assert s["collector"].get("received", 0) == 0, s["collector"]

    for partner, fmt, files in jobs:
        stack.push(partner, fmt, files, key=keys[partner])
    stats = wait_drained(lambda: stack.stats(allow_down=True))
    check_counts(truth, stats, stack.counts, stack.quarantine_count)
    _log("secure stack: every count equals the truth")
    # plain MLLP has no partner identity under CurveZMQ: AR, nothing stored
    check_mllp_unauthenticated("127.0.0.1", stack.mllp_port, stack.name)
    _log("secure stack: MLLP without a client certificate is refused (AR)")
    left = stack.remove()
    assert not left, "left after docker stack rm: %s" % left
    stack.deployed = False
