#!/usr/bin/env bash
# CurveZMQ keys for a container deployment (deploy/docker-compose.secure.yml):
# one key pair per service -- replicas of a service share it -- and the
# allow-list each server uses, so every link between services is encrypted
# and a server talks only to the stage after it:
#
#   collector.allow: cleanser    cleanser.allow: deid    deid.allow: indexer
#   partners.allow:  the partners allowed to push to the collector's ingest
#   control.allow:   who may use the control sockets, by role (docs/security.md
#                    "Control plane"): operator.key (the host CLI's; never
#                    readable by the containers), analytics' key (role analytics:
#                    the indexers count for it alone), collector.pub (role
#                    collector: the cleansers' verdicts for MLLP ACKs),
#                    health.key (role health: the containers' healthchecks,
#                    HEALTH only)
#
#   deploy/make-link-keys.sh [--dir DIR]                 (default deploy/keys/links)
#   deploy/make-link-keys.sh [--dir DIR] --partner NAME  a partner's key pair
#
# Existing keys are kept. --partner writes DIR/partners/NAME.key/.pub (give
# the .key to the partner: `hourglass push --key NAME.key`) and adds the
# public key to partners.allow; then tell the collector to re-read it:
# `docker-compose -f deploy/docker-compose.yml -f deploy/docker-compose.secure.yml
# kill -s HUP collector`. Secret keys are mode 0600, owned by the image's
# user (uid 10001) when run as root. Uses `hourglass keygen` (build/bin, or
# HOURGLASS_CLI).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HG_UID=10001
HG_GID=10001
dir="$root/deploy/keys/links"
partner=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --partner) partner="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "make-link-keys.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
cli="${HOURGLASS_CLI:-$root/build/bin/hourglass}"
if [ ! -x "$cli" ]; then
    cli="$(command -v hourglass || true)"
fi
if [ -z "$cli" ]; then
    echo "make-link-keys.sh: no hourglass CLI (build first, or set HOURGLASS_CLI)" >&2
    exit 1
fi
mkdir -p "$dir"
chmod 0755 "$dir"
[ -f "$root/deploy/keys/.gitignore" ] || { mkdir -p "$root/deploy/keys"; printf '*\n' >"$root/deploy/keys/.gitignore"; }

# keygen PREFIX: a key pair unless one exists; the secret readable by the image's user
keygen() {
    if [ ! -f "$1.key" ]; then
        "$cli" keygen --out "$1" >/dev/null
    fi
    chmod 0600 "$1.key"
    chmod 0644 "$1.pub"
    if [ "$(id -u)" = 0 ]; then
        chown "$HG_UID:$HG_GID" "$1.key"
    fi
}

# the public key (z85) of a .pub file
pub() {
    tr -d ' \n\r' <"$1"
}

if [ -n "$partner" ]; then
    case "$partner" in
        ""|*/*|*" "*) echo "make-link-keys.sh: bad partner name '$partner'" >&2; exit 2 ;;
    esac
    mkdir -p "$dir/partners"
    keygen "$dir/partners/$partner"
    # the partner's secret stays with whoever pushes (the host CLI here)
    [ "$(id -u)" = 0 ] && chown 0:0 "$dir/partners/$partner.key"
    touch "$dir/partners.allow"
    if ! grep -q " $partner\$" "$dir/partners.allow"; then
        echo "$(pub "$dir/partners/$partner.pub") $partner" >>"$dir/partners.allow"
    fi
    echo "make-link-keys.sh: partner $partner: $dir/partners/$partner.key (signal the collector: kill -s HUP)"
    exit 0
fi

for s in collector cleanser deid indexer analytics health; do
    keygen "$dir/$s"
done
# the operator's key stays with the host CLI (compose-cluster.py names it in
# cluster.json): not readable by the image's user
keygen "$dir/operator"
[ "$(id -u)" = 0 ] && chown 0:0 "$dir/operator.key"
# role operator too, for the Kubernetes preStop hook's `hourglass drain` in the
# cleanser and deid pods (Secret hourglass-drain; deploy/k8s/secure): not for
# the compose containers, so not readable by the image's user either
keygen "$dir/drain"
[ "$(id -u)" = 0 ] && chown 0:0 "$dir/drain.key"
# server -> the clients it accepts
allow() {
    printf '# %s: public keys allowed to connect (written by make-link-keys.sh)\n%s %s\n' \
        "$1" "$(pub "$dir/$2.pub")" "$2" >"$dir/$1.allow"
    chmod 0644 "$dir/$1.allow"
}
allow collector cleanser
allow cleanser deid
allow deid indexer
printf '# control sockets: <z85> <role>:<name> (written by make-link-keys.sh)\n%s operator:operator\n%s analytics:analytics\n%s health:healthcheck\n%s operator:drain\n%s collector:collector\n' \
    "$(pub "$dir/operator.pub")" "$(pub "$dir/analytics.pub")" "$(pub "$dir/health.pub")" \
    "$(pub "$dir/drain.pub")" "$(pub "$dir/collector.pub")" \
    >"$dir/control.allow"
chmod 0644 "$dir/control.allow"
[ -f "$dir/partners.allow" ] || printf '# partner public keys: <z85> <partner>\n' >"$dir/partners.allow"
chmod 0644 "$dir/partners.allow"
echo "make-link-keys.sh: link keys in $dir (collector, cleanser, deid, indexer, analytics;" \
     "operator for the CLI, health for healthchecks, drain for preStop hooks)"
