#!/usr/bin/env bash
# Two real sites on loopback: acdd "north" (site 1) and acdd "south" (site 2), each listing the
# other as an active peer. Each sees the other's summaries (`acdctl site status`); north, with no
# ready agent for cards, overflows a call to south ("sites"), and south routes it to its agent;
# a call that visited north is never sent back there (south queues it although its own rule would
# send a call from elsewhere to north, and north refuses it outright); a SiteSummary from a
# client that is not a site is refused (NotPermitted, counted) and changes nothing. Then south
# requires ACDP/2 and north's summaries still reach it, sealed, as its configured site client.
# Finally both sites require ACDP/2 and a call overflowed at north is handed to south over sealed
# sessions end to end (the switch's request, both sites' summaries, the gateway's hand-over).
# Usage: sites_e2e.sh ACDD ACDCTL LOADGEN SEAL_RELAY
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 relay=$4
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
require_tools python3
source "$here/../etcd_lib.sh"  # free_loopback_ports
work=$(mktemp -d)
chmod 755 "$work"
pid_north= pid_south=
stop_all() {
  kill -9 ${pid_north:-} ${pid_south:-} 2>/dev/null || true
  wait ${pid_north:-} ${pid_south:-} 2>/dev/null || true
}
trap 'stop_all; rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  for s in north south; do
    echo "--- $s stderr:"; tail -20 "$work/$s/err" 2>/dev/null || true
    echo "--- $s stdout:"; tail -10 "$work/$s/out" 2>/dev/null || true
  done
  exit 1
}
probe() { python3 "$here/acdp_probe.py" "$@"; }
ctl() {  # ctl SITE ARGS...
  local s=$1; shift
  "$acdctl" --socket "$work/$s/ctl.sock" "$@"
}
# soon SITE PATTERN ARGS...: acdctl's answer shows PATTERN within 5 s.
soon() {
  local s=$1 pattern=$2 i out=""; shift 2
  for i in $(seq 100); do
    out=$(ctl "$s" "$@" 2>&1) || true
    grep -q -- "$pattern" <<<"$out" && return 0
    sleep 0.05
  done
  fail "acdctl $* at $s did not show '$pattern' within 5 s: $out"
}
metric() {  # metric SITE NAME: the value of an unlabelled sample (0 when absent)
  local port
  port=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/$1/out" | head -1)
  python3 - "$port" "$2" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(int(float(line.split()[1])))
        break
else:
    print(0)
EOF
}

read -r PORT_north PORT_south < <(free_loopback_ports 2)
# write_config SITE NUMBER PORT PEER PEER_NUMBER PEER_PORT FIRST_AGENT [EXTRA]
write_config() {
  mkdir -p "$work/$1"
  cat >"$work/$1/acd.toml" <<TOML
skills = ["cards"]
max_site_hops = 2
[dataplane]
listen = "127.0.0.1:$3"
[control]
socket = "$work/$1/ctl.sock"
credentials = "$work/$1/credentials"
[metrics]
listen = "127.0.0.1:0"
[site]
name = "$1"
role = "active"
number = $2
summaries_per_second = 10
summary_max_age_s = 2
[[sites]]
name = "$4"
role = "active"
number = $5
dataplane = ["127.0.0.1:$6"]
${8:-}
[[queue]]
name = "cards"
skills = { cards = 1 }
ring_timeout_s = 600
expected_aht_s = 60
  [[queue.overflow]]
  when = "queue_length"
  threshold = 0
  action = "sites"
[[agent_group]]
first_id = $7
count = 1
skills = { cards = 1 }
TOML
  echo "demo-$7" | "$acdctl" agent passwd "$7" --credentials "$work/$1/credentials" --cost minimal >/dev/null ||
    fail "passwd at $1"
}
stop_sites() {  # both sites stop, for a start with new configurations
  kill -TERM "$pid_north" "$pid_south"
  wait "$pid_north" "$pid_south" 2>/dev/null || true
  pid_north= pid_south=
  rm -f "$work/north/ctl.sock" "$work/south/ctl.sock"
  : >"$work/north/out"
  : >"$work/south/out"
}
start_site() {  # start_site SITE
  "$acdd" --config "$work/$1/acd.toml" >>"$work/$1/out" 2>>"$work/$1/err" &
  eval "pid_$1=\$!"
  for _ in $(seq 100); do [ -S "$work/$1/ctl.sock" ] && grep -qs "metrics on" "$work/$1/out" && break; sleep 0.05; done
  for _ in $(seq 50); do ctl "$1" status >/dev/null 2>&1 && return 0; sleep 0.1; done
  ctl "$1" status >"$work/$1/status.err" 2>&1 || fail "acdd $1 did not start: $(cat "$work/$1/status.err")"
}
write_config north 1 "$PORT_north" south 2 "$PORT_south" 2000
write_config south 2 "$PORT_south" north 1 "$PORT_north" 1000
for s in north south; do
  "$acdd" --check-config "$work/$s/acd.toml" >/dev/null || fail "$s's configuration"
done
start_site north
start_site south
grep -q "sending site summaries" "$work/north/err" || fail "north sends no summaries"

# One cards agent at each site, signed in and ready (the load generator's desktop, one call each).
"$loadgen" --target "127.0.0.1:$PORT_north" --rate 2 --duration 0.5 --agents 1 --first-agent 2000 \
  --queue 0 --talk-ms 1 >/dev/null 2>&1 || fail "loadgen at north"
"$loadgen" --target "127.0.0.1:$PORT_south" --rate 2 --duration 0.5 --agents 1 --first-agent 1000 \
  --queue 0 --talk-ms 1 >/dev/null 2>&1 || fail "loadgen at south"
soon north '"Ready": 1' --json status
soon south '"Ready": 1' --json status

# Each site shows the other's summary of cards, fresh and accepting (both staff it).
soon north '"accepts": true' --json site status
soon south '"accepts": true' --json site status
ctl north site status | grep -q "south" || fail "north's site status does not list south"
kept_south=$(ctl south --json site status | sed -n 's/.*"summaries_kept": \([0-9]*\).*/\1/p')
[ "${kept_south:-0}" -gt 0 ] || fail "south kept no summary of north's"

# North's agent takes a call (it rings for ten minutes): north has no ready agent for cards.
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 7001) || fail "route at north: $out"
grep -q "result=1" <<<"$out" || fail "north's first call did not go to its agent: $out"
soon north '"Reserved": 1' --json status
soon south '"ready_agents": 0' --json site status  # north's new summary reached south

# The next call at north overflows to south (result 3, action 1 site, target index 0 = south),
# one hop, visited = north (bit 1).
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 7002) || fail "overflow at north: $out"
grep -q "result=3 action=1 status=0 agent=1 agent_number=2 target=0" <<<"$out" ||
  fail "north did not overflow the call to south: $out"
# The gateway hands it to south: routed to south's agent 1000.
out=$(probe "127.0.0.1:$PORT_south" 601 site site-route 0 7002 1 2) || fail "south: $out"
grep -q "result=1 .*agent_number=1000" <<<"$out" || fail "south did not route the call to agent 1000: $out"
soon south '"Reserved": 1' --json status
soon north '"ready_agents": 0' --json site status

# South has no ready agent now. A call from elsewhere (visited: site 5) would go to north...
out=$(probe "127.0.0.1:$PORT_south" 601 site site-route 0 7003 1 32) || fail "south: $out"
grep -q "result=3 action=1 status=0 agent=2 agent_number=36 target=0" <<<"$out" ||
  fail "south did not overflow a call from site 5 to north: $out"
# ... but the next call from north stays at south (queued): it never comes back.
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 7004) || fail "overflow at north: $out"
grep -q "result=3 action=1 .*agent_number=2 target=0" <<<"$out" || fail "north: $out"
out=$(probe "127.0.0.1:$PORT_south" 601 site site-route 0 7004 1 2) || fail "south: $out"
grep -q "result=2" <<<"$out" || fail "south sent a call that visited north elsewhere: $out"
# And north refuses one that visited it (the engine's BadField, 7).
out=$(probe "127.0.0.1:$PORT_north" 502 site site-route 0 7005 2 6) || fail "north: $out"
grep -q "answer=error reason=7$" <<<"$out" || fail "north took back a call that visited it: $out"

# A switch forging a summary of south's at north (south "accepting" with 50 ready agents):
# refused NotPermitted (1010), counted, and north's view of south unchanged.
not_permitted() { ctl "$1" --json status | sed -n 's/.*"refused_not_permitted": \([0-9]*\).*/\1/p'; }
before_refused=$(not_permitted north)
out=$(probe "127.0.0.1:$PORT_north" 503 switch summary 2 cards 50 0) || fail "forged: $out"
grep -q "answer=error reason=1010" <<<"$out" || fail "north took a switch's SiteSummary: $out"
for _ in $(seq 60); do
  after_refused=$(not_permitted north)
  [ "$after_refused" -gt "$before_refused" ] && break
  sleep 0.05
done
[ "$after_refused" -gt "$before_refused" ] ||
  fail "the refusal was not counted ($before_refused -> $after_refused)"
sleep 0.3
ctl north --json site status | grep -q '"ready_agents": 50' && fail "north shows the forged summary"
# A call at north still overflows as before (south's real summary decides).
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 7006) || fail "overflow at north: $out"
grep -q "result=3 action=1 status=0 agent=1 agent_number=2 target=0" <<<"$out" ||
  fail "north's overflow changed after the forged summary: $out"

# ACDP/2: south requires it; north is its configured client of role site (north's key), and
# north seals its summaries to south with south's key ([[sites]] public_key).
for s in north south; do
  "$acdctl" key generate --out "$work/$s/node.key" >"$work/$s/key.out" || fail "key for $s"
  sed -n 's/^public key: //p' "$work/$s/key.out" >"$work/$s/pub"
  [ -s "$work/$s/pub" ] || fail "no public key for $s"
done
"$loadgen" --write-keys "$work/lg" --agents 1 --first-agent 1000 >/dev/null || fail "--write-keys"
stop_sites
write_config north 1 "$PORT_north" south 2 "$PORT_south" 2000 \
  "public_key = \"$(cat "$work/south/pub")\""
cat >>"$work/north/acd.toml" <<TOML
[security]
key_file = "$work/north/node.key"
TOML
write_config south 2 "$PORT_south" north 1 "$PORT_north" 1000
cat >>"$work/south/acd.toml" <<TOML
[security]
mode = "required"
key_file = "$work/south/node.key"
[[clients]]
name = "site-north"
role = "site"
public_key = "$(cat "$work/north/pub")"
TOML
cat "$work/lg/clients.toml" >>"$work/south/acd.toml"
for s in north south; do
  "$acdd" --check-config "$work/$s/acd.toml" >/dev/null || fail "$s's secure configuration"
done
start_site south
start_site north
grep -q "ACDP/2 required" "$work/south/out" || fail "south does not require ACDP/2"
grep -q "sending site summaries.*ACDP/2" "$work/north/err" || fail "north does not seal its summaries"
"$loadgen" --target "127.0.0.1:$PORT_south" --rate 2 --duration 0.5 --agents 1 --first-agent 1000 \
  --queue 0 --talk-ms 1 --keys-dir "$work/lg" --server-key "$work/south/pub" >/dev/null 2>&1 ||
  fail "loadgen at south over ACDP/2"
soon south '"Ready": 1' --json status
# North's sealed summaries reach south (nobody is signed in at north now, so they say "not
# accepting"; what counts is that south takes them, fresh).
soon south '"fresh": true' --json site status
[ "$(metric north acd_site_summary_sessions_total)" -ge 1 ] || fail "north made no ACDP/2 session"
[ "$(metric north acd_site_summary_refused_total)" = 0 ] || fail "south refused north's summaries"
# South's clear-text summaries reach north (north requires nothing): it accepts.
soon north '"accepts": true' --json site status
# North, no agent signed in, overflows a cards call to south over what it learnt.
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 8001) || fail "overflow at north: $out"
grep -q "result=3 action=1 status=0 agent=1 agent_number=2 target=0" <<<"$out" ||
  fail "north did not overflow to south: $out"
echo "ok: two sites exchange summaries (ACDP/1 and ACDP/2), overflow a call one way, never back"

# Both sites require ACDP/2: a call overflowed at north is handed to south end to end over sealed
# sessions only. North's switch (a probe with its own key) asks north; north answers "overflow to
# south" on what south's sealed summaries told it; the gateway (a probe of role site, south's
# client) hands the call to south, which routes it to its agent. Clear text is answered by neither.
probe_key() {  # probe_key NAME: work/probe/NAME.key, its public half in work/probe/NAME.pub
  mkdir -p "$work/probe"
  "$acdctl" key generate --out "$work/probe/$1.key" >"$work/probe/$1.out" || fail "key $1"
  sed -n 's/^public key: //p' "$work/probe/$1.out" >"$work/probe/$1.pub"
}
probe_key switch
probe_key gateway
sealed() {  # sealed SITE ARGS...: acdp_probe.py over ACDP/2 to SITE
  local s=$1; shift
  local key=$1; shift
  eval "local port=\$PORT_$s"
  python3 "$here/acdp_probe.py" --seal "$relay" "$work/probe/$key.key" "$work/$s/pub" \
    "127.0.0.1:$port" "$@"
}
stop_sites
# required_config SITE NUMBER PORT PEER PEER_NUMBER PEER_PORT FIRST_AGENT NAME:ROLE:PUBFILE...:
# SITE requires ACDP/2, seals to PEER, and knows the clients given.
required_config() {
  local s=$1 c name role pub
  write_config "$1" "$2" "$3" "$4" "$5" "$6" "$7" "public_key = \"$(cat "$work/$4/pub")\""
  shift 7
  printf '[security]\nmode = "required"\nkey_file = "%s"\n' "$work/$s/node.key" >>"$work/$s/acd.toml"
  for c in "$@"; do
    IFS=: read -r name role pub <<<"$c"
    printf '[[clients]]\nname = "%s"\nrole = "%s"\npublic_key = "%s"\n' "$name" "$role" \
      "$(cat "$pub")" >>"$work/$s/acd.toml"
  done
}
required_config north 1 "$PORT_north" south 2 "$PORT_south" 2000 \
  "switch-probe:switch:$work/probe/switch.pub" "site-south:site:$work/south/pub"
required_config south 2 "$PORT_south" north 1 "$PORT_north" 1000 \
  "site-north:site:$work/north/pub" "gateway-probe:site:$work/probe/gateway.pub"
cat "$work/lg/clients.toml" >>"$work/south/acd.toml"
for s in north south; do
  "$acdd" --check-config "$work/$s/acd.toml" >/dev/null || fail "$s's sealed configuration"
done
start_site south
start_site north
for s in north south; do
  grep -q "ACDP/2 required" "$work/$s/out" || fail "$s does not require ACDP/2"
  grep -q "sending site summaries.*ACDP/2" "$work/$s/err" || fail "$s does not seal its summaries"
done
"$loadgen" --target "127.0.0.1:$PORT_south" --rate 2 --duration 0.5 --agents 1 --first-agent 1000 \
  --queue 0 --talk-ms 1 --keys-dir "$work/lg" --server-key "$work/south/pub" >/dev/null 2>&1 ||
  fail "loadgen at south over ACDP/2"
soon south '"Ready": 1' --json status
# South's summaries reach north sealed: north sees south accepting cards.
soon north '"accepts": true' --json site status
[ "$(metric south acd_site_summary_refused_total)" = 0 ] || fail "north refused south's summaries"
# Clear text is answered by neither site.
out=$(probe "127.0.0.1:$PORT_north" 501 switch route 0 9000) &&
  fail "north answered a clear-text RouteRequest: $out"
out=$(probe "127.0.0.1:$PORT_south" 601 site site-route 0 9000 1 2) &&
  fail "south answered a clear-text SiteRouteRequest: $out"
# North's switch, sealed: the call overflows to south (target 0), one hop, visited north.
out=$(sealed north switch 501 switch route 0 9001) || fail "sealed route at north: $out"
grep -q "result=3 action=1 status=0 agent=1 agent_number=2 target=0" <<<"$out" ||
  fail "north did not overflow the sealed call to south: $out"
# The gateway hands it to south, sealed: routed to south's agent 1000.
out=$(sealed south gateway 601 site site-route 0 9001 1 2) || fail "sealed hand-over at south: $out"
grep -q "result=1 .*agent_number=1000" <<<"$out" ||
  fail "south did not route the sealed hand-over to agent 1000: $out"
soon south '"Reserved": 1' --json status
# A hand-over of a call that visited south is refused there, sealed as well (BadField, 7).
out=$(sealed south gateway 601 site site-route 0 9002 2 6) || fail "sealed at south: $out"
grep -q "answer=error reason=7$" <<<"$out" || fail "south took back a call that visited it: $out"
echo "ok: with ACDP/2 required at both sites, a call overflowed at north is handed to south and" \
     "routed there, sealed end to end"
