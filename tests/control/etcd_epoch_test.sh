#!/usr/bin/env bash
# The epoch fence against a real etcd: starts a private etcd (tests/etcd_lib.sh), runs the
# GoogleTest cases of control_etcd_epoch_test against it (ETCD_ENDPOINT, ETCD_PID: one case pauses
# it), stops it. Usage: etcd_epoch_test.sh TEST_BINARY [GTEST FLAGS...]
set -euo pipefail
binary=$1
shift
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../etcd_lib.sh"
work=$(mktemp -d)
trap 'stop_etcd; rm -rf "$work"' EXIT
start_etcd "$work"
"$binary" "$@"
