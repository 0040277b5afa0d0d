#!/usr/bin/env bash
# Creates the de-identification key for a container deployment: 32 random
# bytes, mode 0600, owned by the image's user (uid/gid 10001), so the deid
# containers can read it through a read-only bind mount and the deid accepts
# it (it refuses a key file that group or others may read).
#
#   deploy/make-keys.sh [--rotate] [KEY_FILE]     (default deploy/keys/deid.key)
#
# An existing key is never replaced, except with --rotate, which first keeps
# the old one as KEY_FILE.<UTC time>. Rotating changes EVERY pseudonym and
# date shift: read "Key generation and rotation" in docs/operations.md first.
# Back the key up somewhere safe: without it, nothing new can be linked to
# the patients already indexed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HG_UID=10001
HG_GID=10001
rotate=0
key=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rotate) rotate=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "make-keys.sh: unknown option $1" >&2; exit 2 ;;
        *) key="$1"; shift ;;
    esac
done
if [ -z "$key" ]; then
    key="$root/deploy/keys/deid.key"
    mkdir -p "$root/deploy/keys"
    # never commit a key
    [ -f "$root/deploy/keys/.gitignore" ] || printf '*\n' >"$root/deploy/keys/.gitignore"
fi
dir="$(dirname "$key")"
mkdir -p "$dir"

if [ -e "$key" ] && [ "$rotate" = 0 ]; then
    size="$(stat -c %s "$key")"
    if [ -d "$key" ] || [ "$size" != 32 ]; then
        echo "make-keys.sh: $key exists but is not a 32-byte key file (a directory left by" \
             "a bind mount of a missing file?); move it away and run again" >&2
        exit 1
    fi
    echo "make-keys.sh: keeping the existing key $key"
else
    if [ -e "$key" ]; then
        backup="$key.$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$key" "$backup"
        echo "make-keys.sh: old key kept as $backup"
    fi
    tmp="$(mktemp "$dir/.deid.key.XXXXXX")"
    head -c 32 /dev/urandom >"$tmp"
    chmod 0600 "$tmp"
    mv "$tmp" "$key"
    echo "make-keys.sh: created $key (32 bytes, mode 0600)"
fi

chmod 0600 "$key"
if [ "$(id -u)" = 0 ]; then
    chown "$HG_UID:$HG_GID" "$key"
elif [ "$(stat -c %u "$key")" != "$HG_UID" ]; then
    echo "make-keys.sh: warning: $key is owned by uid $(stat -c %u "$key"), not $HG_UID;" \
         "the deid containers cannot read it. Run: sudo chown $HG_UID:$HG_GID $key" >&2
fi
