#!/usr/bin/env python3
"""
stack-cluster.py -- writes the cluster.json through which the `hourglass` CLI
reaches a Docker Swarm stack (deploy/docker-stack.yml) from INSIDE its overlay
network: no control port is published, so the CLI runs in a container
attached to the network, and every instance is listed by its task's address
in that network. Run it on a manager node after `docker stack deploy` and
after every scale or restart (a new task has a new address).

    deploy/stack-cluster.py [--stack NAME] [--out DIR] [--keys DIR] [--ingest-key PATH]

--stack: the stack name (default hourglass); --out: directory of
cluster.json (default deploy/docker/stack); --keys: the key directory of
deploy/make-link-keys.sh as the CLI container sees it (a bind mount), when
the stack runs CurveZMQ (deploy/docker-stack.secure.yml): the collector's
public key, each service's control key and the operator's key from it;
--ingest-key (older): only the collector's
public key as the CLI container sees it (a bind mount), when the links run
CurveZMQ (deploy/docker-stack.secure.yml). Then:

    docker run --rm --network NAME_hourglass --user $(id -u) -v DIR:/cluster:ro \\
        hourglass:local /bin/hourglass stats --cluster /cluster

Prints one line per instance and the `docker run` prefix to use. Tasks on
every node are listed (a manager knows them all). Standard library only;
needs the docker CLI.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# the services of deploy/docker-stack.yml, in cluster.json's order; the
# control port of each is read from its --control= argument
ORDER = ["collector", "cleanser", "deid", "indexer", "analytics"]
INGEST_PORT = 5550


def docker(*args):
    p = subprocess.run(["docker"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("stack-cluster: docker %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def control_port(spec):
    """The port of --control=tcp://0.0.0.0:PORT in a task's container spec."""
    for a in (spec.get("Command") or []) + (spec.get("Args") or []):
        if a.startswith("--control="):
            return int(a.rsplit(":", 1)[1])
    return None


def address(task, network_id):
    """The task's IPv4 address in the stack's network, None if it has none."""
    for att in task.get("NetworksAttachments") or []:
        if att["Network"]["ID"] == network_id:
            for a in att.get("Addresses") or []:
                return a.split("/", 1)[0]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", default="hourglass")
    ap.add_argument("--out", default=os.path.join(HERE, "docker", "stack"))
    ap.add_argument("--ingest-key", default="")
    ap.add_argument("--keys", default="",
                    help="the CurveZMQ key directory as the CLI container sees it "
                         "(make-link-keys.sh's): ingest, control and operator keys from it")
    a = ap.parse_args()
    network = a.stack + "_hourglass"
    net_id = docker("network", "inspect", "-f", "{{.Id}}", network).strip()
    sids = docker("service", "ls", "-q", "--filter",
                  "label=com.docker.stack.namespace=" + a.stack).split()
    if not sids:
        sys.exit("stack-cluster: no service in stack '%s' (docker stack deploy first, or "
                 "give --stack)" % a.stack)
    services = {s["ID"]: s for s in json.loads(docker("service", "inspect", *sids))}
    tids = docker("stack", "ps", "-q", "--filter", "desired-state=running", a.stack).split()
    tasks = json.loads(docker("inspect", "--type", "task", *tids)) if tids else []
    procs = []
    for t in tasks:
        svc = services.get(t["ServiceID"])
        if svc is None or t["Status"]["State"] != "running":
            continue
        name = svc["Spec"]["Name"][len(a.stack) + 1:]
        kind = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
        port = control_port(t["Spec"]["ContainerSpec"])
        ip = address(t, net_id)
        if kind not in ORDER or port is None or ip is None:
            print("stack-cluster: task %s of %s has no control endpoint; left out"
                  % (t["ID"][:12], name), file=sys.stderr)
            continue
        # a replica's task slot K is the volume slot it claims (HOURGLASS_SLOT
        # in docker-stack.yml): instance cleanser-K, as it names itself in its
        # answers, logs and metrics
        replicated = "Replicated" in svc["Spec"]["Mode"] and kind in ("cleanser", "deid")
        procs.append({"name": "%s-%d" % (name, t["Slot"]) if replicated else name,
                      "service": kind, "control": "tcp://%s:%d" % (ip, port), "pid": 0,
                      "args": []})
    if not any(p["service"] == "collector" for p in procs):
        sys.exit("stack-cluster: the collector of stack '%s' is not running" % a.stack)
    procs.sort(key=lambda p: (ORDER.index(p["service"]), p["name"]))
    out = {"ingest": "tcp://collector:%d" % INGEST_PORT, "processes": procs}
    if a.keys:
        # every control socket is CURVE (its service's key); the CLI calls
        # them with the operator's key
        out["ingest_key"] = a.keys + "/collector.pub"
        out["operator_key"] = a.keys + "/operator.key"
        for p in procs:
            p["control_key"] = "%s/%s.pub" % (a.keys, p["service"])
    if a.ingest_key:
        out["ingest_key"] = a.ingest_key
    os.makedirs(a.out, exist_ok=True)
    os.chmod(a.out, 0o755)          # the CLI container runs as uid 10001
    path = os.path.join(a.out, "cluster.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    for p in procs:
        print("%-14s %-10s %s" % (p["name"], p["service"], p["control"]))
    print("wrote %s (%d instances); run the CLI as\n  docker run --rm --network %s "
          "--user $(id -u) -v %s:/cluster:ro IMAGE /bin/hourglass COMMAND --cluster /cluster"
          % (path, len(procs), network, os.path.abspath(a.out)))


if __name__ == "__main__":
    main()
