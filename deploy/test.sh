#!/usr/bin/env bash
# Installs what is missing, builds, fuzzes every parser briefly (libFuzzer,
# 10 s per target), runs the unit tests again under AddressSanitizer + UBSan
# (build-asan/, only the unit tests and what they link), then runs every test
# (unit, fuzz-corpus replay, the format and docs checks, integration clusters,
# the docker-compose deployment, a benchmark smoke run) through ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/deploy/build.sh"
"$root/deploy/python-tools.sh"   # PyPI tools in .venv (kubernetes-validate, ...)
if [ -z "${HG_SKIP_FUZZ:-}" ]; then
    "$root/deploy/fuzz.sh" "${HG_FUZZ_SECONDS:-10}"
fi
# any sanitizer report fails the test that made it (leaks included)
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DHG_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j"$(nproc)" --target unit_tests >/dev/null
(cd "$root/build-asan" &&
    ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest -L unit --output-on-failure --timeout 300)
cd "$root/build"
ctest --output-on-failure --timeout 900 "$@"
