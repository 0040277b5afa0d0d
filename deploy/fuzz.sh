#!/usr/bin/env bash
# A short, bounded libFuzzer run of every parser's fuzz target (CI runs it
# with the default 10 s each). Installs clang when missing, builds the
# targets with ASan/UBSan in build-fuzz/, fuzzes a scratch copy of each seed
# corpus, and fails on the first crash, leak or sanitizer report.
#
#   deploy/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-10}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: installing clang" >&2
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
# libFuzzer and the sanitizer runtimes are a separate package on Debian 12
# (libclang-rt-<version>-dev, only recommended by clang)
probe="$(mktemp -d)"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void) d; (void) n; return 0; }\n' \
    >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    ver="$(clang -dumpversion | cut -d. -f1)"
    echo "fuzz: installing libclang-rt-$ver-dev (libFuzzer, sanitizer runtimes)" >&2
    $SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$ver-dev" >/dev/null
fi
rm -rf "$probe"
CC=clang cmake -S "$root" -B "$root/build-fuzz" -DHG_FUZZ=ON -DHG_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for src in "$root"/tests/fuzz/fuzz_*.c; do
    name="$(basename "$src" .c)"
    [ "$name" = "fuzz_replay" ] && continue
    targets+=("$name")
done
cmake --build "$root/build-fuzz" -j"$(nproc)" --target "${targets[@]}" >/dev/null
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    fmt="${t#fuzz_}"
    mkdir -p "$scratch/$fmt"
    cp -r "$root/tests/fuzz/corpus/$fmt/." "$scratch/$fmt/" 2>/dev/null || true
    (cd "$scratch" && "$root/build-fuzz/tests/$t" "$scratch/$fmt" -max_total_time="$seconds" \
        -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>"$scratch/$t.log") || {
        tail -40 "$scratch/$t.log" >&2
        echo "fuzz: $t FAILED (crash input in $scratch)" >&2
        trap - EXIT
        exit 1
    }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $t ran ${seconds}s, $runs inputs, no crash"
done
