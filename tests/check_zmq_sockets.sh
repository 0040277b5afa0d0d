#!/usr/bin/env bash
# Every ZeroMQ socket of the services and the CLI is opened by hg_zsock_new
# (common/zmsg.c), which sets ZMQ_MAXMSGSIZE: a socket opened any other way
# would buffer a peer's frame of any size (docs/security.md "Resource
# exhaustion"). Lists the offending lines and fails when there are any.
cd "$(dirname "$0")/.." || exit 2
found=$(grep -rnE --include='*.c' --include='*.h' 'zmq_socket[[:space:]]*\(' common cli services \
    | grep -v '^common/zmsg\.c:')
if [ -n "$found" ]; then
    echo "open ZeroMQ sockets with hg_zsock_new (common/zmsg.h), not zmq_socket:"
    echo "$found"
    exit 1
fi
echo "every ZeroMQ socket is opened by hg_zsock_new"
