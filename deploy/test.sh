#!/usr/bin/env bash
# Installs what is missing, builds, fuzzes every parser briefly (libFuzzer,
# 10 s per target), then runs every test (unit, fuzz-corpus replay,
# integration clusters, the docker-compose deployment, a benchmark smoke
# run) through ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/deploy/build.sh"
if [ -z "${HG_SKIP_FUZZ:-}" ]; then
    "$root/deploy/fuzz.sh" "${HG_FUZZ_SECONDS:-10}"
fi
cd "$root/build"
ctest --output-on-failure --timeout 900 "$@"
