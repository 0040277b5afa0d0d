#!/usr/bin/env bash
# Installs the Debian packages Hourglass needs to build, run and test.
# Idempotent: installs only what is missing. Must run as root (or via sudo).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
    librocksdb-dev libsodium-dev libjson-c-dev libcmocka-dev libmicrohttpd-dev
    libgnutls28-dev libhts-dev
    python3 python3-zmq python3-pytest python3-venv python3-yaml
    procps openssl
    gdb               # test_quality_adopt.py: kills a replica between its commit and its ack
    clang-format
    prometheus        # promtool: checks the metrics pages, alert rules and scrape config
    chromium python3-websocket  # headless Chromium for the web-page tests (tests/browser)
    fonts-dejavu-core # a font for the pages' screenshots
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Only promtool is wanted from the prometheus package: keep its server from
# being started (it would listen on every interface) while packages install.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
fi
status=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [ -n "$own_policy" ]; then
    $SUDO rm -f "$policy"
fi
exit "$status"
