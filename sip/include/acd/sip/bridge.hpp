// The bridge's core: per-call state machine between Kamailio's evapi events and acd's ACDP
// decisions (sip/DESIGN.md has the message formats, the mapping table and the state diagram).
// It owns no socket and no clock: the shell (src/main.cpp) feeds it evapi payloads, ACDP messages
// and the time, and sends what it hands out; the unit tests play both peers.
//
// Thread-safety: one thread. Bad input (not JSON, missing or wrong fields, unknown calls) is
// counted and changes nothing; nothing throws out of it.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/wire.hpp"
#include "acd/sip/bridge_config.hpp"

namespace acd::sip {

enum class CallState : std::uint8_t { Routing, Queued, Ringing, Rerouting, Talking };
const char* to_string(CallState s);

// One ACDP request to send (the shell wraps it in a datagram and seals it).
struct Request {
  dataplane::wire::Type type;
  std::uint64_t seq;
  std::vector<std::uint8_t> body;
};

// Counters, declared once: name, help.
#define ACD_SIP_COUNTERS(X)                                                   \
  X(invites, "INVITEs received from Kamailio")                                \
  X(refused, "INVITEs answered at once: no service, or a bad X-ACD header")   \
  X(routed_agent, "decisions: relay to an agent")                             \
  X(queued, "decisions: queued (182)")                                        \
  X(overflowed, "decisions: overflow (relay out, or a final reply)")          \
  X(rejected, "decisions: rejected by acd, or acd did not answer (503)")      \
  X(answered, "calls answered (CallEvent answered)")                          \
  X(released, "calls released (CallEvent released)")                          \
  X(abandoned, "calls abandoned by the caller (CallEvent abandoned)")         \
  X(agent_failed, "agent legs that failed (busy, no answer, ring timer)")     \
  X(retransmits, "ACDP requests sent again")                                  \
  X(bad_events, "evapi messages that are not JSON or miss a field")           \
  X(ignored, "events for unknown calls, or out of place in the call's state") \
  X(acd_errors, "ACDP Error messages received")                               \
  X(ring_no_answer, "RingNoAnswer reports sent to acd (an agent leg failed)") \
  X(resyncs, "RouteRequests sent again for held calls after a new ACDP session") \
  X(evapi_unconfirmed, "times Kamailio confirmed no evapi command for 2 s: the window reopened") \
  X(aged_out, "calls Kamailio went silent on: ringing past ring_s + 30 s, or talking past max_call_s") \
  X(not_primary, "Errors NotPrimary from acd (a standby of the pair): the request waits for the primary") \
  X(failovers, "switches to the other node of an acd pair (silence, NotPrimary, takeover announcement)")

enum class Counter : std::uint8_t {
#define ACD_X(name, help) name,
  ACD_SIP_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};

// The wait before the next ACDP/2 handshake retry: `every_ns` give or take a quarter, drawn from
// `random` (uniform over 32 bits), so that retries do not keep step with a flood's period and
// miss acdd's cookie replies at every try (acd-loadgen spreads its retries the same way).
inline std::uint64_t jittered(std::uint64_t every_ns, std::uint32_t random) {
  const std::uint64_t spread = every_ns / 2;
  return every_ns - every_ns / 4 + (spread == 0 ? 0 : std::uint64_t{random} % (spread + 1));
}

// Durations in fixed buckets, for the metrics' histograms (upper bounds in microseconds; the last
// bucket holds what is above every bound).
struct Latency {
  static constexpr std::array<std::uint32_t, 18> kBoundsUs{
      50, 100, 150, 200, 300, 400, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000, 20000, 50000, 100000,
      1000000};
  std::array<std::uint64_t, kBoundsUs.size() + 1> buckets{};
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  void add(std::uint64_t ns);
};

class Bridge {
 public:
  explicit Bridge(BridgeConfig config);

  // A new ACDP session (or the first): queues a Register as a switch, and asks acd again about
  // every call whose INVITE waits for acd's decision (queued, or re-routing after the agent's
  // leg failed): acdd may have restarted without them, or another node may have taken over. A
  // node that still holds the call answers DuplicateCall, and the call goes on waiting.
  void connected(std::uint64_t now_ns);
  // The shell moved to the other node of an acd pair (docs/protocol.md "Two nodes"), which has a
  // session: counted, then as connected() (a Register, every waiting request sent again with its
  // own seq and fresh retries, held calls asked for again; the new primary's replicated reply
  // cache and calls answer these with what the old primary decided, or DuplicateCall).
  void failed_over(std::uint64_t now_ns);
  // True once after acd answered a request Error NotPrimary (the node is a standby): the shell
  // moves to the other node. The request is not given up: it waits, and is sent again.
  bool take_not_primary() { return std::exchange(not_primary_, false); }
  // One evapi payload (JSON) from Kamailio.
  void on_event(std::string_view json, std::uint64_t now_ns);
  // One ACDP message from acd (already checked by the codec).
  void on_message(const dataplane::Message& m, std::uint64_t now_ns);
  // Sends again what waits longer than retry_ms; gives up after `retries` (a RouteRequest given
  // up is answered 503).
  void tick(std::uint64_t now_ns);

  // What to send: evapi payloads (JSON, not yet netstrings) and ACDP requests. Emptied by the call.
  // Commands come out in order and only as far as the evapi window allows (kEvapiWindow): the
  // rest wait in the bridge until Kamailio confirms what it read ("done" events).
  // `now_ns`: when they are written (for the evapi round-trip histogram; 0 records nothing).
  std::vector<std::string> take_commands(std::uint64_t now_ns = 0);
  std::vector<Request> take_requests();
  // A new evapi connection: nothing written on the old one is awaited any more.
  void evapi_connected();
  // Bytes of commands written to Kamailio and not confirmed yet; commands held behind the window.
  std::size_t evapi_unconfirmed_bytes() const { return unconfirmed_bytes_; }
  std::size_t evapi_commands_held() const { return commands_.size(); }
  // Kamailio's evapi (5.6) reads its socket 32 KiB at a time and throws away a read that ends
  // inside a frame's length or just before its ',' — and every other frame of that read — so the
  // transactions those commands were for stay suspended. The bridge keeps fewer unconfirmed bytes
  // than one read takes, so every read ends on a frame's end (sip/DESIGN.md, "evapi window").
  static constexpr std::size_t kEvapiWindow = 16384;
  // Requests sent but not answered yet.
  std::size_t waiting() const { return pending_.size(); }
  // When the request waiting longest was first sent (in this session); 0 when none waits. A node
  // is silent when nothing came from it since then, for a while: not merely since the last reply.
  std::uint64_t waiting_since() const;

  // A call by its SIP Call-ID: nullptr if unknown.
  struct Call {
    std::string sip_call_id;
    std::uint64_t call_id = 0;  // ACDP
    CallState state = CallState::Routing;
    std::uint32_t tindex = 0, tlabel = 0;  // the suspended transaction, when there is one
    bool suspended = false;
    std::uint64_t agent_number = 0;
    std::uint32_t agent = 0;            // the agent index of the RouteResponse that rang the agent
    bool has_pending_decision = false;  // a decision that came while the agent still rang
    dataplane::wire::RouteResponse pending_decision{};
    dataplane::wire::RouteRequest request{};  // as first sent: asked again after a new session
    std::uint64_t since_ns = 0;                // when it started ringing, or talking
  };
  // A call left ringing `ring_s` + kRingGraceNs with no word from Kamailio (its transaction is
  // gone: Kamailio's own ring timer would have failed the leg) is abandoned in acd; a call
  // talking longer than `max_call_s` is released. Checked once a second by tick().
  static constexpr std::uint64_t kRingGraceNs = 30'000'000'000;
  const Call* find(std::string_view sip_call_id) const;
  std::size_t calls() const { return by_sip_.size(); }
  // Calls in a state, and calls whose INVITE Kamailio holds suspended now (a scan: for metrics).
  std::size_t calls_in(CallState s) const;
  std::size_t suspended() const;
  bool registered() const { return registered_; }
  std::uint64_t count(Counter c) const { return counters_[static_cast<std::size_t>(c)]; }
  // acd's answer time: a RouteRequest first sent (in this session) to its RouteResponse.
  const Latency& decision_latency() const { return decision_latency_; }
  // Kamailio's read time: a command written to evapi to its "done".
  const Latency& evapi_latency() const { return evapi_latency_; }

 private:
  struct Pending {
    dataplane::wire::Type type;
    std::vector<std::uint8_t> body;
    std::uint64_t sent_ns;
    std::uint32_t tries;
    std::uint64_t first_ns;  // first sent (in this session)
    std::uint64_t call_id;   // RouteRequest, RingNoAnswer: the call
    bool resync = false;     // a RouteRequest sent again after a new session
  };

  void bump(Counter c) { ++counters_[static_cast<std::size_t>(c)]; }
  template <typename Body>
  void send(dataplane::wire::Type type, const Body& body, std::uint64_t now_ns,
            std::uint64_t call_id = 0);
  void on_invite(const nlohmann::json& event, std::uint64_t now_ns);
  void apply_decision(Call& call, const dataplane::wire::RouteResponse& r);
  void call_event(Call& call, dataplane::wire::CallEventKind kind, std::uint64_t now_ns);
  void reply(Call& call, int code, std::string_view reason, std::uint16_t status);
  void relay(Call& call, const std::string& uri, bool lookup, std::uint32_t ring_s);
  void forget(Call& call);
  void command(const Call& call, const char* action, const nlohmann::json& extra);
  void confirmed(std::uint32_t seq, std::uint64_t now_ns);
  void resync(Call& call, std::uint64_t now_ns);
  void age_out(std::uint64_t now_ns);
  bool has_pending_route_request(std::uint64_t call_id) const;
  Call* by_call_id(std::uint64_t call_id);
  const Service* service_of(std::string_view number) const;

  BridgeConfig config_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_call_id_ = 1;
  bool registered_ = false;
  bool not_primary_ = false;
  std::uint64_t register_seq_ = 0;
  std::uint64_t heartbeat_seq_ = 0;           // the Heartbeat waiting for its echo; 0: none
  std::uint64_t last_heartbeat_ns_ = 0;       // when the last one was sent
  std::map<std::uint64_t, Pending> pending_;  // by seq
  std::unordered_map<std::string, Call> by_sip_;
  std::unordered_map<std::uint64_t, std::string> sip_of_;  // ACDP call_id -> SIP Call-ID
  struct Command {
    std::uint32_t seq;
    std::string text;  // the JSON payload
  };
  std::deque<Command> commands_;  // not written yet (behind the window)
  struct Unconfirmed {
    std::uint32_t seq;
    std::size_t bytes;  // as a netstring
    std::uint64_t written_ns;
  };
  std::deque<Unconfirmed> unconfirmed_;  // written, oldest first
  std::size_t unconfirmed_bytes_ = 0;
  std::uint32_t next_command_seq_ = 1;   // 1..999999999, then 1 again (a 32-bit int in Kamailio)
  std::uint32_t stalled_seq_ = 0;        // the oldest unconfirmed command at the last tick
  std::uint64_t stalled_since_ns_ = 0;   // since when it has been the oldest
  std::vector<Request> requests_;
  std::uint64_t counters_[static_cast<std::size_t>(Counter::kCount)]{};
  std::uint64_t now_ns_ = 0;            // the time of the input being handled
  std::uint64_t last_age_check_ns_ = 0;
  Latency decision_latency_;
  Latency evapi_latency_;
};

}  // namespace acd::sip
