#!/usr/bin/env bash
# Assembles the one minimal root filesystem of the Hourglass image as a tar
# archive: the six binaries (stripped copies), exactly the shared libraries
# `ldd` says they load (the dynamic loader, libc, libzmq, librocksdb, ... and
# their own dependencies), an ld.so.cache, /etc/passwd and /etc/group with the
# unprivileged user `hourglass` (uid/gid 10001), /etc/nsswitch.conf (so
# getaddrinfo resolves compose / Kubernetes service names through the
# container's /etc/hosts and DNS), /tmp (1777) and /data (10001, 0700: the
# mount point of every instance's volume).
#
#   deploy/docker/assemble-rootfs.sh BIN_DIR OUT.tar
#
# Ownership and modes are written into the archive (python3 tarfile, fixed
# mtime), so the script does not need root and the archive is reproducible
# for the same binaries and libraries. `ADD rootfs.tar /` in the Dockerfile
# keeps them.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"      # ldconfig

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN_DIR OUT.tar" >&2
    exit 2
fi
bin_dir="$(cd "$1" && pwd)"
out="$2"
HG_UID=10001
HG_GID=10001
binaries="hourglass hourglass-collector hourglass-cleanser hourglass-deid hourglass-indexer hourglass-analytics"

for b in $binaries; do
    if [ ! -x "$bin_dir/$b" ]; then
        echo "assemble-rootfs: $bin_dir/$b is missing: build every target first" \
             "(cmake --build BUILD_DIR)" >&2
        exit 1
    fi
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/etc" "$stage/tmp" "$stage/data"

# binaries, without debug info (RelWithDebInfo builds are ~5x larger)
for b in $binaries; do
    strip --strip-unneeded -o "$stage/bin/$b" "$bin_dir/$b"
    chmod 0755 "$stage/bin/$b"
done

# every library ldd lists for any binary, at the path the loader found it,
# symlinks resolved (the soname path becomes a regular file)
libs="$(for b in $binaries; do ldd "$bin_dir/$b"; done \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)"
missing="$(for b in $binaries; do ldd "$bin_dir/$b"; done | grep 'not found' || true)"
if [ -n "$missing" ]; then
    echo "assemble-rootfs: unresolved libraries:" >&2
    echo "$missing" >&2
    exit 1
fi
for lib in $libs; do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
done

cat >"$stage/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
hourglass:x:$HG_UID:$HG_GID:hourglass:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$stage/etc/group" <<EOF
root:x:0:
hourglass:x:$HG_GID:
nogroup:x:65534:
EOF
cat >"$stage/etc/nsswitch.conf" <<EOF
passwd: files
group: files
hosts: files dns
EOF

# ld.so.cache, so the loader finds every library whatever its compiled-in
# search path is
dirs="$(for lib in $libs; do dirname "$lib"; done | sort -u)"
printf '%s\n' $dirs >"$stage/etc/ld.so.conf"
ldconfig -r "$stage" -C /etc/ld.so.cache -f /etc/ld.so.conf

/usr/bin/python3 - "$stage" "$out" "$HG_UID" "$HG_GID" <<'EOF'
import os
import sys
import tarfile

stage, out, uid, gid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def fix(ti):
    ti.mtime = 0
    ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, "root", "root"
    name = ti.name[2:] if ti.name.startswith("./") else ti.name
    if name == "data":
        ti.uid, ti.gid, ti.uname, ti.gname = uid, gid, "hourglass", "hourglass"
        ti.mode = 0o700
    elif name == "tmp":
        ti.mode = 0o1777
    elif ti.isdir():
        ti.mode = 0o755
    elif name.startswith("bin/"):
        ti.mode = 0o755
    elif ti.isfile():
        ti.mode = 0o755 if ti.mode & 0o111 else 0o644
    return ti


with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
    for dirpath, dirnames, filenames in os.walk(stage):
        dirnames.sort()
        for n in sorted(dirnames) + sorted(filenames):
            path = os.path.join(dirpath, n)
            tar.add(path, arcname="./" + os.path.relpath(path, stage), recursive=False,
                    filter=fix)
EOF
echo "assemble-rootfs: $(echo "$libs" | wc -l) libraries, 6 binaries -> $out" \
     "($(du -k "$out" | cut -f1) KiB)"
