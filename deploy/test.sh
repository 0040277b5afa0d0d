#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, fuzz-corpus
# replay, integration clusters) through ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/deploy/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 900 "$@"
