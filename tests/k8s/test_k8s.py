"""
test_k8s.py -- the Kubernetes manifests of deploy/k8s, offline (issue 16,
point 3). Every document validates (strict) against the Kubernetes schemas;
every pod meets the "restricted" Pod Security Standard and what a platform
team asks for (read-only root, no service-account token, startup probes,
topology spread, requests and limits, a PodDisruptionBudget and a
NetworkPolicy for each workload, default deny); every flag given to a
service is an option the built binary knows; the shard count is one value.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
VENV = os.environ.get("HG_VENV", os.path.join(ROOT, ".venv"))
VALIDATE = os.path.join(VENV, "bin", "kubernetes-validate")
KUBE_VERSION = "1.30.0"
WORKLOADS = ("StatefulSet", "Deployment", "DaemonSet", "Job", "CronJob")
ALLOWED_VOLUMES = {"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected",
                   "downwardAPI", "ephemeral", "csi"}


def _is_patch(path):
    """secure/<service>.yaml: a strategic-merge patch of the base StatefulSet."""
    return os.path.dirname(path) == os.path.join(K8S, "secure") and \
        os.path.basename(path)[:-5] in SERVICES


SERVICES = ("collector", "cleanser", "deid", "indexer", "analytics")


def _files(patches=False):
    files = sorted(glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True))
    return [f for f in files if not os.path.basename(f).startswith("kustomization")
            and _is_patch(f) == patches]


def _docs(files=None):
    out = []
    for f in files or _files():
        with open(f) as fh:
            for d in yaml.safe_load_all(fh):
                if d:
                    out.append((os.path.relpath(f, K8S), d))
    return out


def _pod_spec(doc):
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"], spec["template"]["metadata"].get("labels", {})


def _workloads():
    return [(f, d) for f, d in _docs() if d["kind"] in WORKLOADS]


def _patches():
    return _docs(_files(patches=True))


def test_schemas_strict():
    assert os.access(VALIDATE, os.X_OK), (
        "%s missing: deploy/python-tools.sh installs kubernetes-validate" % VALIDATE)
    files = _files()
    assert len(files) >= 8, files
    r = subprocess.run([VALIDATE, "--strict", "--quiet", "-k", KUBE_VERSION, *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_restricted_pod_security():
    """The checks of the "restricted" profile (kubernetes.io/docs/concepts/security/
    pod-security-standards), plus a read-only root filesystem."""
    assert _workloads()
    for f, d in _workloads():
        spec, _ = _pod_spec(d)
        where = "%s %s/%s" % (f, d["kind"], d["metadata"]["name"])
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), where
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, where
        assert psc.get("runAsUser", 1) != 0, where
        for v in spec.get("volumes", []):
            kinds = set(v) - {"name"}
            assert kinds <= ALLOWED_VOLUMES, "%s: volume %s" % (where, v)
        containers = spec.get("initContainers", []) + spec["containers"]
        for c in containers:
            cw = "%s container %s" % (where, c["name"])
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, cw
            assert sc.get("privileged", False) is False, cw
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], cw
            assert not set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}, cw
            assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, cw
            assert sc.get("runAsUser", psc.get("runAsUser", 1)) != 0, cw
            seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {}))
            assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), cw
            assert sc.get("readOnlyRootFilesystem") is True, cw
            for p in c.get("ports", []):
                assert "hostPort" not in p, cw
            res = c.get("resources", {})
            assert res.get("requests") and res.get("limits", {}).get("memory"), cw


def test_namespace_enforces_restricted():
    ns = [d for _, d in _docs() if d["kind"] == "Namespace"]
    assert ns and ns[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_accounts_without_tokens():
    accounts = {d["metadata"]["name"]: d for _, d in _docs() if d["kind"] == "ServiceAccount"}
    for f, d in _workloads():
        spec, _ = _pod_spec(d)
        where = "%s %s" % (f, d["metadata"]["name"])
        assert spec.get("automountServiceAccountToken") is False, where
        sa = spec.get("serviceAccountName")
        assert sa in accounts, "%s: its own ServiceAccount, not default" % where
        assert accounts[sa].get("automountServiceAccountToken") is False, sa


def test_probes_spread_and_disruption_budgets():
    pdbs = [d for _, d in _docs() if d["kind"] == "PodDisruptionBudget"]
    for f, d in _workloads():
        if d["kind"] in ("Job", "CronJob"):
            continue
        spec, labels = _pod_spec(d)
        where = "%s %s" % (f, d["metadata"]["name"])
        c = spec["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in c, "%s: %s" % (where, probe)
        keys = {t["topologyKey"] for t in spec.get("topologySpreadConstraints", [])}
        assert "kubernetes.io/hostname" in keys, where
        covering = [p for p in pdbs
                    if all(labels.get(k) == v
                           for k, v in p["spec"]["selector"]["matchLabels"].items())]
        assert len(covering) == 1, "%s: one PodDisruptionBudget, got %d" % (where, len(covering))
        budget = covering[0]["spec"]
        # never minAvailable = replicas: that blocks every node drain
        assert "maxUnavailable" in budget or budget.get("minAvailable", 0) < d["spec"]["replicas"]


def _selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_network_policies():
    """Default deny; each workload has its own policy; the data hops are allowed only
    from the stage that consumes them."""
    pols = [d for _, d in _docs() if d["kind"] == "NetworkPolicy"]
    deny = [p for p in pols if p["spec"]["podSelector"] == {}]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny[0]["spec"].get("ingress") and not deny[0]["spec"].get("egress")
    by_comp = {}
    for p in pols:
        comp = p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        if comp:
            by_comp[comp] = p
    for f, d in _workloads():
        _, labels = _pod_spec(d)
        assert labels["app.kubernetes.io/component"] in by_comp, f

    def ingress_from(comp, port):
        """Components allowed to reach comp's port (None: from anywhere)."""
        allowed = set()
        for rule in by_comp[comp]["spec"].get("ingress", []):
            if not any(p["port"] == port for p in rule.get("ports", [])):
                continue
            if not rule.get("from"):
                return None
            for peer in rule["from"]:
                c = peer.get("podSelector", {}).get("matchLabels", {}).get(
                    "app.kubernetes.io/component")
                if c:
                    allowed.add(c)
        return allowed
    assert ingress_from("collector", 5550) is None          # partners
    assert ingress_from("collector", 5551) == {"cleanser"}
    assert ingress_from("cleanser", 5561) == {"deid"}
    assert ingress_from("deid", 5571) == {"indexer"}
    assert ingress_from("indexer", 5582) == {"analytics", "cli"}
    assert ingress_from("deid", 5572) == {"cli"}
    assert ingress_from("analytics", 5592) == {"cli"}
    # nothing but the ingest and MLLP (HTTPS in secure/) from outside
    for comp in ("cleanser", "deid", "indexer", "analytics"):
        for rule in by_comp[comp]["spec"].get("ingress", []):
            assert rule.get("from"), comp


def test_partner_entry():
    svcs = {d["metadata"]["name"]: d for _, d in _docs() if d["kind"] == "Service"}
    entry = svcs["collector-partners"]["spec"]
    assert {p["port"] for p in entry["ports"]} <= {5550, 2575, 8443}
    assert _selects({"matchLabels": entry["selector"]},
                    {"app.kubernetes.io/name": "hourglass", "app.kubernetes.io/component":
                     "collector"})
    for name, s in svcs.items():
        if name != "collector-partners":
            assert s["spec"].get("type", "ClusterIP") == "ClusterIP", name


def _known_options(binary):
    path = os.path.join(os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin")),
                        binary)
    assert os.access(path, os.X_OK), "build first: %s" % path
    r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    return set(re.findall(r"^\s+(--[a-z0-9-]+)", r.stdout + r.stderr, re.M))


def _check_env(where, binary, known, env):
    for e in env:
        if e["name"].startswith("HOURGLASS_"):
            flag = "--" + e["name"][len("HOURGLASS_"):].lower().replace("_", "-")
            assert flag in known, "%s: %s has no option %s (env %s)" % (
                where, binary, flag, e["name"])


def test_flags_are_options_the_services_know():
    known = {}
    for f, d in _workloads():
        spec, _ = _pod_spec(d)
        for c in spec["containers"]:
            binary = os.path.basename(c["command"][0])
            if binary == "hourglass":
                continue
            known[d["metadata"]["name"]] = k = _known_options(binary)
            assert len(k) > 10, binary
            for a in c.get("args", []):
                flag = a.split("=", 1)[0]
                assert flag in k, "%s: %s has no option %s" % (f, binary, flag)
            _check_env(f, binary, k, c.get("env", []))
    for f, d in _patches():
        for c in d["spec"]["template"]["spec"]["containers"]:
            _check_env(f, "hourglass-" + c["name"], known[d["metadata"]["name"]],
                       c.get("env", []))


def test_secure_variant():
    """secure/ patches every service: its key and allow-lists from the Secret,
    probes that authenticate, an init container as restricted as the rest."""
    patches = {d["metadata"]["name"]: (f, d) for f, d in _patches()}
    assert set(patches) == set(SERVICES), patches.keys()
    for name, (f, d) in patches.items():
        spec = d["spec"]["template"]["spec"]
        c = spec["containers"][0]
        env = {e["name"] for e in c["env"]}
        assert {"HOURGLASS_CURVE_KEY", "HOURGLASS_CONTROL_ALLOW"} <= env, f
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            cmd = c[probe]["exec"]["command"]
            assert "--key" in cmd and "--server-key" in cmd, (f, probe)
        for ic in spec["initContainers"]:
            sc = ic["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True, f
            assert sc["capabilities"]["drop"] == ["ALL"], f
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", f
            assert sc["readOnlyRootFilesystem"] is True, f
        secrets = [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v]
        # replicas also hold the drain key, for their preStop hook
        want = ["hourglass-links"] + (["hourglass-drain"] if name in REPLICAS else [])
        assert secrets == want, f
        if name in REPLICAS:
            cmd = c["lifecycle"]["preStop"]["exec"]["command"]
            assert cmd[cmd.index("--key") + 1] == "/run/secrets/links/drain.key", f
            assert cmd[cmd.index("--server-key") + 1] == "/run/secrets/links/%s.pub" % name, f
    # no service pod holds the operator's secret key: only the CLI Job
    for f, d in _docs():
        if d["kind"] in WORKLOADS and d["metadata"]["name"] != "hourglass-cli":
            spec, _ = _pod_spec(d)
            assert "hourglass-operator" not in str(spec.get("volumes", [])), f


def _verdict_wiring(sets):
    """The collector's MLLP ACKs wait for the cleansers' verdicts: --mllp with
    --mllp-verdict-from naming every cleanser pod's control port through the
    headless Service (dns+tcp://, as the links find their upstreams); without it
    an ACK would be AA once journalled, whatever the cleanser then quarantines."""
    args = sets["collector"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(a.startswith("--mllp=") for a in args), args
    cleanser = sets["cleanser"]["spec"]["template"]["spec"]["containers"][0]
    port = [p["containerPort"] for p in cleanser["ports"] if p["name"] == "control"][0]
    assert "--control=tcp://0.0.0.0:%d" % port in cleanser["args"], cleanser["args"]
    want = "--mllp-verdict-from=dns+tcp://%s:%d" % (sets["cleanser"]["spec"]["serviceName"],
                                                     port)
    assert want in args, args


def test_mllp_acks_wait_for_the_cleansers_verdict():
    sets = {d["metadata"]["name"]: d for _, d in _workloads() if d["kind"] == "StatefulSet"}
    _verdict_wiring(sets)
    svcs = {d["metadata"]["name"]: d for _, d in _docs() if d["kind"] == "Service"}
    headless = svcs[sets["cleanser"]["spec"]["serviceName"]]["spec"]
    assert headless.get("clusterIP") == "None", headless    # one address per pod
    # the collector may reach the cleansers' control port (the network policy)
    pols = {d["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component"): d
            for _, d in _docs() if d["kind"] == "NetworkPolicy"}
    rules = [r for r in pols["cleanser"]["spec"]["ingress"]
             if any(p["port"] == 5562 for p in r.get("ports", []))]
    assert any(peer.get("podSelector", {}).get("matchLabels", {}).get(
        "app.kubernetes.io/component") == "collector" for r in rules for peer in r["from"]), rules
    # under CurveZMQ: the cleansers' public key (their control sockets use their key)
    patches = {d["metadata"]["name"]: d for _, d in _patches()}
    env = {e["name"]: e.get("value") for e in
           patches["collector"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    cenv = {e["name"]: e.get("value") for e in
            patches["cleanser"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HOURGLASS_MLLP_VERDICT_KEYS"] == cenv["HOURGLASS_CURVE_KEY"][:-4] + ".pub", env


REPLICAS = ("cleanser", "deid")


def test_replicas_drain_before_they_stop():
    """cleanser and deid pods run `hourglass drain` on their own control port in
    preStop, with a timeout and hold that fit the grace period and flags the
    built CLI knows; the other services are not replicas and have no hook."""
    known = _known_options("hourglass") | set(re.findall(
        r"^\s+(--[a-z0-9-]+)", subprocess.run(
            [os.path.join(os.environ.get("HOURGLASS_BIN", os.path.join(ROOT, "build", "bin")),
                          "hourglass"), "drain", "--help"],
            capture_output=True, text=True, timeout=10).stdout, re.M))
    for f, d in _workloads():
        name = d["metadata"]["name"]
        spec, _ = _pod_spec(d)
        c = spec["containers"][0]
        hook = c.get("lifecycle", {}).get("preStop")
        if name not in REPLICAS:
            assert not hook, "%s: %s is not a replica to drain" % (f, name)
            continue
        cmd = hook["exec"]["command"]
        assert cmd[:2] == ["/bin/hourglass", "drain"], (f, cmd)
        port = [p["containerPort"] for p in c["ports"] if p["name"] == "control"][0]
        assert cmd[cmd.index("--control") + 1] == "tcp://127.0.0.1:%d" % port, (f, cmd)
        for a in cmd[2:]:
            if a.startswith("--"):
                assert a in known, "%s: hourglass drain has no option %s" % (f, a)
        budget = int(cmd[cmd.index("--timeout") + 1]) + int(cmd[cmd.index("--hold") + 1])
        assert budget + 10 <= spec["terminationGracePeriodSeconds"], (f, budget)


def test_shard_count_is_one_value():
    """--shards, --indexer-shards and analytics' --shards are written =SHARDS and
    filled from the indexer StatefulSet's replicas by the kustomization."""
    args = {}
    for _, d in _workloads():
        spec, _ = _pod_spec(d)
        args[d["metadata"]["name"]] = spec["containers"][0].get("args", [])
    assert "--shards=SHARDS" in args["indexer"]
    assert "--indexer-shards=SHARDS" in args["deid"]
    assert "--shards=SHARDS" in args["analytics"]
    assert any("{shard}" in a for a in args["analytics"] if a.startswith("--indexers="))
    for name, a in args.items():
        assert not [x for x in a if re.match(r"--(indexer-)?shards=\d", x)], name


def _kustomize():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None, "no kubectl here"
    r = subprocess.run([kubectl, "version", "--client", "-o", "yaml"], capture_output=True,
                       text=True, timeout=30)
    m = re.search(r"kustomizeVersion: v(\d+)", r.stdout)
    if not m or int(m.group(1)) < 5:
        return None, "kubectl's kustomize is older than v5"
    return kubectl, ""


@pytest.mark.parametrize("variant", ["", "secure"])
def test_rendered_kustomization(tmp_path, variant):
    kubectl, why = _kustomize()
    if not kubectl:
        pytest.skip("rendering the kustomization needs kubectl with kustomize >= 5: " + why)
    r = subprocess.run([kubectl, "kustomize", os.path.join(K8S, variant)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    sets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    shards = sets["indexer"]["spec"]["replicas"]
    assert "--shards=%d" % shards in sets["indexer"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--indexer-shards=%d" % shards in sets["deid"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shards=%d" % shards in sets["analytics"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "SHARDS" not in r.stdout
    _verdict_wiring(sets)
    if variant == "secure":
        env = {e["name"]: e.get("value")
               for e in sets["collector"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["HOURGLASS_MLLP_VERDICT_KEYS"] == "/run/secrets/links/cleanser.pub", env
    out = tmp_path / "rendered.yaml"
    out.write_text(r.stdout)
    v = subprocess.run([VALIDATE, "--strict", "--quiet", "-k", KUBE_VERSION, str(out)],
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stdout + v.stderr
