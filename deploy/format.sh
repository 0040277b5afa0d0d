#!/usr/bin/env bash
# Formats the C sources with clang-format and the checked-in .clang-format.
#
#   deploy/format.sh           formats every tracked .c/.h file in place
#   deploy/format.sh --check   changes nothing; lists the files that differ and
#                              exits 1 when there are any (ctest style.format)
#
# Generated code (proto/*.pb-c.*, build directories) is not tracked, so never
# formatted. The layout is clang-format 14's (Debian 12, deploy/install-deps.sh):
# another version may lay out some lines differently.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: deploy/format.sh [--check]" >&2; exit 2 ;;
esac
if ! command -v clang-format >/dev/null 2>&1; then
    echo "format: clang-format is not installed (deploy/install-deps.sh installs it)" >&2
    exit 2
fi
cd "$root"
mapfile -t files < <(git ls-files -- '*.c' '*.h' | grep -v '\.pb-c\.[ch]$' || true)
if [ "${#files[@]}" -eq 0 ]; then
    echo "format: no tracked .c/.h files found (is $root a git checkout?)" >&2
    exit 2
fi
if [ "$check" -eq 0 ]; then
    clang-format -i --style=file "${files[@]}"
    exit 0
fi
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
differ=0
for f in "${files[@]}"; do
    clang-format --style=file "$f" >"$tmp"
    if ! cmp -s "$f" "$tmp"; then
        echo "$f: $(diff "$f" "$tmp" | grep -c '^<') lines differ from .clang-format"
        differ=$((differ + 1))
    fi
done
if [ "$differ" -gt 0 ]; then
    echo "format: $differ of ${#files[@]} files differ; deploy/format.sh formats them" \
         "($(clang-format --version))" >&2
    exit 1
fi
echo "format: all ${#files[@]} files match .clang-format"
