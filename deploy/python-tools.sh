#!/usr/bin/env bash
# The Python tools from PyPI that tests and benchmarks use, in one venv:
# ${HG_VENV:-<repo>/.venv}, pinned in deploy/python-tools.txt. Idempotent:
# installs only when the pins changed. Built on Debian's /usr/bin/python3
# (python3-venv, installed by deploy/install-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${HG_VENV:-$root/.venv}"
pins="$root/deploy/python-tools.txt"
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; then
    exit 0
fi
echo "python-tools: installing $(grep -cv '^\s*\(#\|$\)' "$pins") pinned packages into $venv" >&2
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$pins"
cp "$pins" "$stamp"
