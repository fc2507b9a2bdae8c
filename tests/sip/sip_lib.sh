# Helpers of the SIP end-to-end scripts (sourced): the processes they started, free ports, and the
# bridge's /metrics. Globals used: pids (the script's processes), work (its directory; Kamailio's
# pid file is work/kamailio.pid), metrics_port (the bridge's metrics endpoint).

sip_stop_started() {  # every process the script started, by its own ID: TERM, then KILL after 2 s
  # Kamailio's workers are its main process's children: a main process killed with -9 would
  # leave them running, so they are listed first and any still alive at the end go too.
  local p workers=()
  for p in "${pids[@]}"; do workers+=($(pgrep -P "$p" 2>/dev/null || true)); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -s "$work/kamailio.pid" ] && kill "$(cat "$work/kamailio.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    { kill -9 "$p" && wait "$p"; } 2>/dev/null || true
  done
  for p in "${workers[@]}"; do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = kamailio ] && kill -9 "$p" 2>/dev/null || true
  done
}
free_port() {  # a UDP+TCP port free on 127.0.0.1 now
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
bridge_metric() {  # bridge_metric NAME: one sample of the bridge's /metrics
  python3 - "$metrics_port" "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
print(next(l.split(" ")[1] for l in text.splitlines() if l.split(" ")[0] == sys.argv[2]))
PY
}
bridge_calls_in() {  # bridge_calls_in STATE: calls the bridge follows in STATE (routing, queued, ringing, ...)
  python3 - "$metrics_port" "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
key = 'acd_sip_calls_by_state{state="%s"}' % sys.argv[2]
print(next(l.split(" ")[1] for l in text.splitlines() if l.startswith(key)))
PY
}
# wait_metric NAME VALUE [SECONDS]: polls the bridge's /metrics every 20 ms (one process: no start-up
# time between two looks) until sample NAME equals VALUE; false after SECONDS (default 5).
wait_metric() {
  python3 - "$metrics_port" "$1" "$2" "${3:-5}" <<'PY'
import sys, time, urllib.request
port, name, want, limit = sys.argv[1], sys.argv[2], sys.argv[3], time.monotonic() + float(sys.argv[4])
while True:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
    if any(l.split(" ")[0] == name and l.split(" ")[1] == want for l in text.splitlines()):
        sys.exit(0)
    if time.monotonic() > limit:
        sys.exit(1)
    time.sleep(0.02)
PY
}
queued_calls() {  # queued_calls: calls the bridge holds queued (suspended INVITEs after a 182)
  bridge_calls_in queued
}
# two_callers_queued PREFIX: two callers (SIPp, caller.xml) dial 5000 from first_port and
# second_port, 0.3 s apart; their messages go to work/PREFIXfirst.msg and PREFIXsecond.msg. Sets
# first_pid and second_pid; returns once the bridge holds both queued with their INVITEs
# suspended, or fails (the script's fail) when it does not within 5 s.
two_callers_queued() {
  local prefix=$1 who port_var
  for who in first second; do
    port_var=${who}_port
    sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" -default_behaviors all,-abortunexp -s 5000 -d 500 \
      -i 127.0.0.1 -p "${!port_var}" -m 1 -timeout 60s -timeout_error -trace_msg \
      -message_file "$work/$prefix$who.msg" >"$work/$prefix$who.out" 2>"$work/$prefix$who.err" </dev/null &
    pids+=($!)
    eval "${who}_pid=$!"
    sleep 0.3
  done
  for _ in $(seq 50); do
    [ "$(queued_calls)" = 2 ] && [ "$(bridge_metric acd_sip_suspended_transactions)" = 2 ] && return 0
    sleep 0.1
  done
  fail "two callers are not queued in the bridge: $(queued_calls)"
}
# start_kamailio [ARG...]: Kamailio with the shipped sip/kamailio.cfg on sip_port (SIP, UDP) and
# evapi_port (evapi), in work/run, its output in work/kamailio.out and .err; ARGs are added (e.g.
# -A ACD_ACK_WAIT_S=2).
start_kamailio() {
  mkdir -p "$work/run"
  kamailio -f "$here/../../sip/kamailio.cfg" -A "SIP_LISTEN=udp:127.0.0.1:$sip_port" \
    -A "EVAPI_BIND=\"127.0.0.1:$evapi_port\"" "$@" -DD -E -Y "$work/run" -P "$work/kamailio.pid" \
    -w "$work/run" >"$work/kamailio.out" 2>"$work/kamailio.err" &
  pids+=($!)
}
