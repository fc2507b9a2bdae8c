# A private etcd for a test script (sourced, after require.sh).
#
# start_etcd DIR starts /usr/bin/etcd as a one-member cluster on two free loopback ports (client
# and peer), its data and log under DIR, waits until it is healthy and exports ETCD_ENDPOINT
# ("127.0.0.1:PORT") and ETCD_PID; start_etcd DIR ADDR also serves clients on ADDR (an address in
# a test's own network namespace) and exports ETCD_ENDPOINT as ADDR:PORT. stop_etcd stops it. The
# etcd a Debian install may run on 2379 is never used nor touched. Without etcd and etcdctl the
# script skips (in CI it fails).

# free_loopback_ports N: N distinct TCP ports the kernel just gave out on 127.0.0.1 (bound to port
# 0, then released). Another process could take one before etcd binds it; start_etcd retries.
free_loopback_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# etcd_healthy ENDPOINT: etcd answers and its one member has a leader.
etcd_healthy() {
  ETCDCTL_API=3 etcdctl --endpoints "$1" --dial-timeout 1s --command-timeout 1s endpoint health \
    >/dev/null 2>&1
}

start_etcd() {
  local dir=$1 extra=${2:-} attempt client peer pid i urls endpoint
  require_tools etcd etcdctl python3
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    read -r client peer < <(free_loopback_ports 2)
    urls="http://127.0.0.1:$client" endpoint="127.0.0.1:$client"
    [ -z "$extra" ] || urls="$urls,http://$extra:$client" endpoint="$extra:$client"
    rm -rf "$dir/etcd.data"
    # etcd reads ETCD_* variables as flags: start it without ours (or a caller's).
    env $(env | sed -n 's/^\(ETCD_[A-Za-z0-9_]*\)=.*/-u \1/p') etcd --name acd-test \
      --data-dir "$dir/etcd.data" \
      --listen-client-urls "$urls" --advertise-client-urls "http://$endpoint" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "acd-test=http://127.0.0.1:$peer" --initial-cluster-state new \
      --logger zap --log-level warn >"$dir/etcd.log" 2>&1 &
    pid=$!
    for i in $(seq 150); do  # up to ~15 s on a loaded machine
      if etcd_healthy "$endpoint"; then
        export ETCD_ENDPOINT="$endpoint" ETCD_PID=$pid
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "etcd did not become healthy on $endpoint (attempt $attempt); its log ends:"
    tail -5 "$dir/etcd.log"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "FAIL: could not start etcd"
  return 1
}

# stop_etcd: stops the etcd start_etcd started (SIGTERM, then SIGKILL after 5 s); harmless twice.
stop_etcd() {
  local i
  [ -n "${ETCD_PID:-}" ] || return 0
  kill -CONT "$ETCD_PID" 2>/dev/null || true  # a test may have paused it
  kill "$ETCD_PID" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$ETCD_PID" 2>/dev/null || true
  wait "$ETCD_PID" 2>/dev/null || true
  unset ETCD_PID ETCD_ENDPOINT
}
