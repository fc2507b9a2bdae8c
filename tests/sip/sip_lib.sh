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
# The bridge's /metrics are read with curl and awk: a look takes milliseconds, where a Python
# start-up takes most of a second on a loaded two-core machine, and the SIP scripts' timings (a
# call talking while callers queue behind it) have no room for that.
metrics_text() {  # metrics_text: the bridge's /metrics, once
  curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics"
}
bridge_metric() {  # bridge_metric NAME: one sample of the bridge's /metrics
  # awk reads to the end: leaving early would break curl's pipe, and pipefail would fail the
  # look (and a script's plain assignment with it) although the sample was found.
  metrics_text | awk -v name="$1" '$1 == name && !found { print $2; found = 1 } END { exit !found }'
}
bridge_calls_in() {  # bridge_calls_in STATE: calls the bridge follows in STATE (routing, queued, ringing, ...)
  bridge_metric "acd_sip_calls_by_state{state=\"$1\"}"
}
# wait_metric NAME VALUE [SECONDS]: polls the bridge's /metrics every 20 ms until sample NAME
# equals VALUE; false after SECONDS (default 5).
wait_metric() {
  local limit=$(($(date +%s%3N) + ${3:-5} * 1000))
  while :; do
    [ "$(bridge_metric "$1" 2>/dev/null)" = "$2" ] && return 0
    [ "$(date +%s%3N)" -gt "$limit" ] && return 1
    sleep 0.02
  done
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
