#!/usr/bin/env bash
# Builds the one Hourglass container image FROM scratch out of local files
# (no registry is needed): the six binaries plus exactly the shared libraries
# they load, see deploy/docker/assemble-rootfs.sh and deploy/docker/Dockerfile.
# The service is chosen by the command (/bin/hourglass-<service> ...), see
# deploy/docker-compose.yml.
#
#   deploy/build-images.sh [--image NAME] [--no-key] [BUILD_DIR]
#
# BUILD_DIR   an existing build directory whose bin/ holds every binary; when
#             omitted the project is built into build/ (deploy/build.sh).
# --image     repository name (default hourglass); the image is tagged
#             NAME:local and NAME:<git short hash> (read from .git without
#             running git; HOURGLASS_REVISION overrides it).
# --no-key    do not create deploy/keys/deid.key (see deploy/make-keys.sh).
#
# Prints the image size. Needs a running Docker daemon.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
image=hourglass
build_dir=""
make_key=1
while [ $# -gt 0 ]; do
    case "$1" in
        --image) image="$2"; shift 2 ;;
        --no-key) make_key=0; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-images.sh: unknown option $1" >&2; exit 2 ;;
        *) build_dir="$1"; shift ;;
    esac
done

if [ -z "$build_dir" ]; then
    "$root/deploy/build.sh"
    build_dir="$root/build"
fi
if [ ! -d "$build_dir/bin" ]; then
    echo "build-images.sh: $build_dir/bin does not exist; build first or pass the build dir" >&2
    exit 1
fi
if ! docker info >/dev/null 2>&1; then
    echo "build-images.sh: cannot reach the Docker daemon (docker info failed)" >&2
    exit 1
fi

# The commit, read from .git (HEAD -> ref file or packed-refs); no git command.
revision() {
    if [ -n "${HOURGLASS_REVISION:-}" ]; then
        echo "$HOURGLASS_REVISION"
        return
    fi
    local gitdir="$root/.git" common head ref hash=""
    if [ -f "$gitdir" ]; then       # a worktree: "gitdir: PATH"
        gitdir="$(sed -n 's/^gitdir: //p' "$gitdir")"
        case "$gitdir" in /*) ;; *) gitdir="$root/$gitdir" ;; esac
    fi
    [ -f "$gitdir/HEAD" ] || { echo nogit; return; }
    common="$gitdir"
    if [ -f "$gitdir/commondir" ]; then
        common="$(cat "$gitdir/commondir")"
        case "$common" in /*) ;; *) common="$gitdir/$common" ;; esac
    fi
    head="$(cat "$gitdir/HEAD")"
    case "$head" in
        "ref: "*)
            ref="${head#ref: }"
            if [ -f "$gitdir/$ref" ]; then
                hash="$(cat "$gitdir/$ref")"
            elif [ -f "$common/$ref" ]; then
                hash="$(cat "$common/$ref")"
            elif [ -f "$common/packed-refs" ]; then
                hash="$(awk -v r="$ref" '$2 == r { print $1 }' "$common/packed-refs")"
            fi ;;
        *) hash="$head" ;;
    esac
    if [ -n "$hash" ]; then
        echo "${hash:0:7}"
    else
        echo nocommit
    fi
}
rev="$(revision)"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$root/deploy/docker/Dockerfile" "$ctx/Dockerfile"
"$root/deploy/docker/assemble-rootfs.sh" "$build_dir/bin" "$ctx/rootfs.tar"

# the classic builder is enough (FROM scratch + ADD) and needs no BuildKit
DOCKER_BUILDKIT=0 docker build -q --build-arg "REVISION=$rev" \
    -t "$image:local" -t "$image:$rev" "$ctx" >/dev/null

# smoke: the loader, every library and the CLI work inside the image
if ! docker run --rm "$image:local" /bin/hourglass-deid --help >/dev/null 2>&1; then
    echo "build-images.sh: $image:local does not run (missing library?):" >&2
    docker run --rm "$image:local" /bin/hourglass-deid --help >&2 || true
    exit 1
fi

if [ "$make_key" = 1 ]; then
    "$root/deploy/make-keys.sh"
fi

size="$(docker image inspect -f '{{.Size}}' "$image:local")"
echo "built $image:local and $image:$rev: $((size / 1024 / 1024)) MiB ($size bytes)"
