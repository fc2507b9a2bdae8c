# acdd --backend dpdk and acd-dpdk-loadgen over a net_memif link (sourced by
# bench/dpdk_e2e_bench.sh and tests/dataplane/e2e_dpdk_memif.sh). Two processes, each its own EAL
# without hugepages (--no-huge, --no-shconf, a file prefix of its own); the memif control socket is
# a file in the caller's work directory, so nothing leaves the machine and nothing clashes with
# another run. acdd is the memif server (10.78.0.1:7070, MAC 02:00:00:00:00:01), the generator the
# client (10.78.0.2:9000, MAC 02:00:00:00:00:02): the addresses exist only on this link.
# Needs: $acdd, $gen (paths), $work (a private directory).

memif_vdev() {  # ROLE MAC
  echo "--vdev=net_memif0,role=$1,socket=$work/memif.sock,socket-abstract=no,mac=$2"
}
memif_eal() {  # CPU NAME
  echo "--no-huge --no-pci -m 256 --no-shconf --file-prefix acd-$2-$$ -l $1 --log-level=lib.eal:error"
}

# memif_start_acdd CPU [acdd options...]: acdd's poll loop on CPU; sets acdd_pid. Fails if acdd
# dies or its memif socket does not appear within 10 s.
memif_start_acdd() {
  local cpu=$1
  shift
  rm -f "$work/memif.sock"
  "$acdd" --backend dpdk --listen 10.78.0.1:7070 --cores "$cpu" \
    --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 \
    --dpdk-args "$(memif_eal "$cpu" acdd) $(memif_vdev server 02:00:00:00:00:01)" "$@" \
    >"$work/acdd.out" 2>"$work/acdd.err" &
  acdd_pid=$!
  local i
  for i in $(seq 100); do
    [ -S "$work/memif.sock" ] && return 0
    kill -0 "$acdd_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "acdd did not start on memif:"
  cat "$work/acdd.err"
  return 1
}

# memif_stop_acdd: SIGTERM; fails unless acdd exits 0 with no call left in its engine.
memif_stop_acdd() {
  local rc=0
  kill -TERM "$acdd_pid"
  wait "$acdd_pid" || rc=$?
  acdd_pid=
  if [ "$rc" != 0 ] || ! grep -q "calls in engine=0" "$work/acdd.err"; then
    echo "acdd exited with status $rc:"
    tail -5 "$work/acdd.err"
    return 1
  fi
}

# memif_gen CPU [generator options...]: the generator's JSON report on stdout.
memif_gen() {
  local cpu=$1
  shift
  timeout 300 "$gen" --dpdk-args "$(memif_eal "$cpu" gen) $(memif_vdev client 02:00:00:00:00:02)" \
    --local 10.78.0.2:9000 --target 10.78.0.1:7070 --target-mac 02:00:00:00:00:01 --json "$@" \
    2>"$work/gen.err"
}
