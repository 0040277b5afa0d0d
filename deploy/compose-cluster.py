#!/usr/bin/env python3
"""
compose-cluster.py -- writes the cluster.json through which the host's
`hourglass` CLI reaches a docker-compose deployment: the collector's ingest
port and every container's control port as published on the host, each
under its instance name (cleanser-3). Run it after `up` and after adding or
removing replicas (deploy/compose-replicas.py).

    deploy/compose-cluster.py [--project NAME] [--out DIR]

--project: the compose project (default: $COMPOSE_PROJECT_NAME, else the
name of the directory holding docker-compose.yml, as docker-compose does);
--out: directory of cluster.json (default deploy/docker/cluster).
Prints one line per instance. With deploy/docker-compose.secure.yml the
collector's ingest and every control socket are CurveZMQ: cluster.json then
also names the collector's public key (ingest_key, in the mounted key
directory), which `push --key` uses, each instance's public key
(control_key) and the operator key beside them (operator_key), with which
the CLI calls the control sockets. Standard library only; needs the docker
CLI.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# container port of each service kind's control endpoint (docker-compose.yml)
# Each instance is named as it names itself (instance(): cleanser-3), so the
# CLI, the logs and the metrics use one name.
CONTROL_PORT = {"collector": 5552, "cleanser": 5562, "deid": 5572, "indexer": 5582,
                "analytics": 5592}
INGEST_PORT = 5550


def docker(*args):
    p = subprocess.run(["docker"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("compose-cluster: docker %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def published(c, port):
    """'127.0.0.1:5563' for a published port of container c (docker inspect's
    object), None if not published."""
    ports = c["NetworkSettings"].get("Ports") or {}
    for b in ports.get("%d/tcp" % port) or []:
        addr = b.get("HostIp") or "127.0.0.1"
        if addr in ("0.0.0.0", "::", ""):
            addr = "127.0.0.1"
        if ":" not in addr:
            return "%s:%s" % (addr, b["HostPort"])
    return None


def public_key(c):
    """Host path of a container's public key when its links are CurveZMQ:
    HOURGLASS_CURVE_KEY names <dir>/<x>.key in the container; the .pub beside
    it, through the bind mount of <dir>. None when plaintext."""
    env = c["Config"].get("Env") or []
    key = next((e.split("=", 1)[1] for e in env if e.startswith("HOURGLASS_CURVE_KEY=")), "")
    if not key:
        return None
    for m in c.get("Mounts") or []:
        dest = m.get("Destination", "").rstrip("/")
        if dest and key.startswith(dest + "/"):
            pub = os.path.join(m["Source"], key[len(dest) + 1:])
            return pub[:-4] + ".pub" if pub.endswith(".key") else pub + ".pub"
    sys.exit("compose-cluster: the key %s of %s is not on a bind mount" % (key, c["Name"]))


def instance(c):
    """(service kind, instance name) of a container, from its command and
    environment as the service reads them: --name (HOURGLASS_NAME), and with
    --slots the slot --slot (HOURGLASS_SLOT) it claims, "cleanser-3". The
    same name the instance reports, logs (cleanser/cleanser-3) and labels its
    metrics with; docker-compose.yml names each replica's service so too."""
    cmd = c["Config"].get("Cmd") or []
    env = dict(e.split("=", 1) for e in c["Config"].get("Env") or [] if "=" in e)
    binary = os.path.basename(cmd[0]) if cmd else ""
    kind = binary[len("hourglass-"):] if binary.startswith("hourglass-") else ""

    def opt(name):
        for a in cmd:
            if a.startswith("--%s=" % name):
                return a.split("=", 1)[1]
        return env.get("HOURGLASS_" + name.upper())

    name = opt("name") or "%s-0" % kind
    if int(opt("slots") or 0) > 0 and opt("slot") not in (None, "-1"):
        name = "%s-%s" % (name, opt("slot"))
    return kind, name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=os.environ.get("COMPOSE_PROJECT_NAME")
                    or os.path.basename(HERE))
    ap.add_argument("--out", default=os.path.join(HERE, "docker", "cluster"))
    a = ap.parse_args()
    cids = docker("ps", "-q", "--filter", "label=com.docker.compose.project=" + a.project).split()
    if not cids:
        sys.exit("compose-cluster: no running container of project '%s' (docker-compose up -d "
                 "first, or give --project)" % a.project)
    procs, ingest, ingest_key, operator_key = [], None, None, None
    for c in json.loads(docker("inspect", *cids)):
        labels = c["Config"].get("Labels") or {}
        svc = labels.get("com.docker.compose.service", "")
        kind, name = instance(c)
        if kind not in CONTROL_PORT:
            continue
        control = published(c, CONTROL_PORT[kind])
        if not control:
            print("compose-cluster: %s (%s) publishes no control port; left out"
                  % (svc, c["Id"][:12]), file=sys.stderr)
            continue
        pub = public_key(c)
        if kind == "collector":
            ingest = published(c, INGEST_PORT)
            ingest_key = pub
        proc = {"name": name, "service": kind, "control": "tcp://" + control, "pid": 0,
                "args": []}
        if pub:
            proc["control_key"] = pub
            operator_key = os.path.join(os.path.dirname(pub), "operator.key")
            if not os.path.exists(pub) or not os.path.exists(operator_key):
                sys.exit("compose-cluster: the link keys are missing (%s): make them with "
                         "deploy/make-link-keys.sh --dir %s, then docker-compose up -d again"
                         % (pub if not os.path.exists(pub) else operator_key,
                            os.path.dirname(pub)))
        procs.append(proc)
    if not ingest:
        sys.exit("compose-cluster: the collector's ingest port is not published")
    order = list(CONTROL_PORT)
    procs.sort(key=lambda p: (order.index(p["service"]), p["name"]))
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "cluster.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        out = {"ingest": "tcp://" + ingest, "processes": procs}
        if ingest_key:
            out["ingest_key"] = ingest_key
        if operator_key:
            out["operator_key"] = operator_key
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    for p in procs:
        print("%-14s %-10s %s" % (p["name"], p["service"], p["control"]))
    print("wrote %s (ingest tcp://%s%s, %d instances)" % (
        path, ingest, ", CurveZMQ server key " + ingest_key if ingest_key else "", len(procs)))


if __name__ == "__main__":
    main()
