// The bridge's core against a scripted Kamailio (evapi JSON events) and a scripted acdd (ACDP
// replies): the mapping table and the per-call state machine of sip/DESIGN.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "acd/router/types.hpp"
#include "acd/sip/bridge.hpp"
#include "acd/sip/metrics.hpp"
#include "acd/sip/netstring.hpp"

namespace {

namespace wire = acd::dataplane::wire;
using acd::sip::Bridge;
using acd::sip::CallState;
using acd::sip::Counter;
using nlohmann::json;

constexpr std::uint64_t kMs = 1'000'000;

acd::sip::BridgeConfig config() {
  acd::sip::BridgeConfig c;
  c.domain = "agents.example";
  c.overflow_domain = "gw.example";
  c.ring_s = 12;
  c.services = {{"5000", 3, 2, false}, {"5001", 4, 0, true}};
  c.agent_uris[2002] = "sip:desk2002@10.0.0.9";
  c.heartbeat_ms = 0;  // on only where a test looks at it
  return c;
}

// Plays both peers around one Bridge.
class Harness {
 public:
  Harness() : bridge(config()) {
    bridge.connected(0);
    const auto r = bridge.take_requests();
    EXPECT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::Type::Register);
    ack(r[0].seq);
    EXPECT_TRUE(bridge.registered());
  }

  void event(const json& j, std::uint64_t now = 0) { bridge.on_event(j.dump(), now); }
  void invite(const std::string& callid, json extra = json::object(), std::uint32_t tindex = 7) {
    json j = {{"event", "invite"}, {"callid", callid},  {"tindex", tindex},
              {"tlabel", 99},      {"service", "5000"}, {"queue", ""},
              {"priority", ""},    {"tier", ""},        {"language", ""}};
    j.update(extra);
    event(j);
  }
  // The one request the bridge sent since the last look.
  acd::sip::Request one_request() {
    auto r = bridge.take_requests();
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? acd::sip::Request{} : r[0];
  }
  // The one command the bridge sent since the last look.
  json one_command() {
    auto c = bridge.take_commands();
    EXPECT_EQ(c.size(), 1u);
    return c.empty() ? json() : json::parse(c[0]);
  }
  template <typename Body>
  static Body body(const acd::sip::Request& r) {
    Body b{};
    EXPECT_EQ(r.body.size(), sizeof(Body));
    if (r.body.size() == sizeof(Body)) {  // no request: a failure above, not a crash
      std::memcpy(&b, r.body.data(), sizeof(Body));
    }
    return b;
  }
  template <typename Body>
  void deliver(wire::Type type, const Body& b, std::uint64_t now = 0) {
    bridge.on_message(acd::dataplane::Message{type, 1, reinterpret_cast<const std::uint8_t*>(&b)},
                      now);
  }
  void ack(std::uint64_t seq, std::uint16_t status = 0) {
    wire::Ack a{};
    a.reply_to = seq;
    a.status = status;
    deliver(wire::Type::Ack, a);
  }
  void respond(std::uint64_t reply_to, std::uint64_t call_id, wire::RouteResult result,
               std::uint64_t agent = 0, std::uint8_t action = 0, std::uint32_t target = 0) {
    wire::RouteResponse r{};
    r.reply_to = reply_to;
    r.call_id = call_id;
    r.result = result;
    r.agent_number = agent;
    r.agent = static_cast<std::uint32_t>(agent % 1000);  // the agent's index in this script
    r.action = action;
    r.target = target;
    r.position = 4;
    r.ewt_ms = 30'500;
    deliver(wire::Type::RouteResponse, r);
  }
  // INVITE → RouteRequest → agent: the call rings at `agent`; returns the RouteRequest.
  wire::RouteRequest ring(const std::string& callid, std::uint64_t agent) {
    invite(callid);
    const auto rq = one_request();
    const auto rr = body<wire::RouteRequest>(rq);
    respond(rq.seq, rr.call_id, wire::RouteResult::Agent, agent);
    (void)one_command();
    return rr;
  }
  void expect_call_event(std::uint64_t call_id, wire::CallEventKind kind) {
    const auto r = one_request();
    EXPECT_EQ(r.type, wire::Type::CallEvent);
    const auto e = body<wire::CallEvent>(r);
    EXPECT_EQ(e.call_id, call_id);
    EXPECT_EQ(e.kind, kind);
    ack(r.seq);
  }

  Bridge bridge;
};

// An INVITE to a service number becomes a RouteRequest for its queue, with the headers' fields.
TEST(SipBridge, InviteToServiceIsRouteRequestWithHeaderFields) {
  Harness h;
  h.invite("c1@x", {{"priority", "9"}, {"tier", "2"}, {"language", "3"}});
  const auto rq = h.one_request();
  ASSERT_EQ(rq.type, wire::Type::RouteRequest);
  const auto rr = Harness::body<wire::RouteRequest>(rq);
  EXPECT_NE(rr.call_id, 0u);
  EXPECT_EQ(rr.queue, 3u);
  EXPECT_EQ(rr.priority, 9);
  EXPECT_EQ(rr.tier, 2);
  EXPECT_EQ(rr.language, 3);
  EXPECT_EQ(rr.media, 0);
  EXPECT_TRUE(h.bridge.take_commands().empty());  // the INVITE waits, suspended
  ASSERT_NE(h.bridge.find("c1@x"), nullptr);
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Routing);
}

// Without headers: the service's priority, tier 0, no language; X-ACD-Queue only where allowed.
TEST(SipBridge, DefaultsAndQueueHeader) {
  Harness h;
  h.invite("c1@x", {{"queue", "8"}});  // service 5000 does not let the header choose
  auto rr = Harness::body<wire::RouteRequest>(h.one_request());
  EXPECT_EQ(rr.queue, 3u);
  EXPECT_EQ(rr.priority, 2);
  EXPECT_EQ(rr.tier, 0);
  EXPECT_EQ(rr.language, 0xFFFF);
  h.invite("c2@x", {{"service", "5001"}, {"queue", "8"}});
  rr = Harness::body<wire::RouteRequest>(h.one_request());
  EXPECT_EQ(rr.queue, 8u);
}

// No such service, or a bad header: a final reply at once, nothing sent to acd, no call kept.
TEST(SipBridge, BadInviteIsAnsweredAndChangesNothing) {
  Harness h;
  const struct {
    json extra;
    int code;
    const char* reason;
  } cases[] = {
      {{{"service", "9999"}}, 404, "No Such Service"},
      {{{"priority", "16"}}, 400, "Bad X-ACD-Priority"},
      {{{"priority", "-1"}}, 400, "Bad X-ACD-Priority"},
      {{{"tier", "4"}}, 400, "Bad X-ACD-Tier"},
      {{{"language", "65535"}}, 400, "Bad X-ACD-Language"},
      {{{"service", "5001"}, {"queue", "x1"}}, 400, "Bad X-ACD-Queue"},
  };
  for (const auto& c : cases) {
    h.invite("bad@x", c.extra, 5);
    const json cmd = h.one_command();
    EXPECT_EQ(cmd["action"], "reply") << c.extra.dump();
    EXPECT_EQ(cmd["code"], c.code) << c.extra.dump();
    EXPECT_EQ(cmd["reason"], c.reason);
    EXPECT_EQ(cmd["tindex"], 5);
    EXPECT_EQ(cmd["tlabel"], 99);
    EXPECT_TRUE(h.bridge.take_requests().empty());
    EXPECT_EQ(h.bridge.calls(), 0u);
  }
  EXPECT_EQ(h.bridge.count(Counter::refused), std::size(cases));
}

// Not JSON, no callid, an unknown event or call: counted, nothing sent, nothing kept.
TEST(SipBridge, GarbageEventsAreCounted) {
  Harness h;
  h.bridge.on_event("{not json", 0);
  h.bridge.on_event("[1,2]", 0);
  h.event({{"event", "bye"}});
  h.event({{"event", "invite"}, {"callid", "c@x"}, {"tindex", "x"}, {"tlabel", 1}});
  h.event({{"event", "bye"}, {"callid", "nobody@x"}});
  EXPECT_EQ(h.bridge.count(Counter::bad_events), 4u);
  EXPECT_EQ(h.bridge.count(Counter::ignored), 1u);
  EXPECT_TRUE(h.bridge.take_requests().empty());
  EXPECT_TRUE(h.bridge.take_commands().empty());
  EXPECT_EQ(h.bridge.calls(), 0u);
}

// Agent found: relay to sip:<agent ID>@domain through usrloc, or to the agent's fixed URI.
TEST(SipBridge, AgentDecisionRelaysToTheAgent) {
  Harness h;
  h.invite("c1@x");
  auto rq = h.one_request();
  h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, wire::RouteResult::Agent, 1001);
  json cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "relay");
  EXPECT_EQ(cmd["uri"], "sip:1001@agents.example");
  EXPECT_EQ(cmd["lookup"], 1);
  EXPECT_EQ(cmd["ring_s"], 12);
  EXPECT_EQ(cmd["tindex"], 7);
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Ringing);

  h.invite("c2@x");
  rq = h.one_request();
  h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, wire::RouteResult::Agent, 2002);
  cmd = h.one_command();
  EXPECT_EQ(cmd["uri"], "sip:desk2002@10.0.0.9");
  EXPECT_EQ(cmd["lookup"], 0);
}

// The whole life of an answered call: answered on the 200, released on the BYE, then forgotten.
TEST(SipBridge, AnsweredThenReleased) {
  Harness h;
  const auto rr = h.ring("c1@x", 1001);
  h.event({{"event", "answered"}, {"callid", "c1@x"}});
  h.expect_call_event(rr.call_id, wire::CallEventKind::Answered);
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Talking);
  h.event({{"event", "answered"}, {"callid", "c1@x"}});  // a 200 retransmitted: nothing more
  EXPECT_TRUE(h.bridge.take_requests().empty());
  h.event({{"event", "bye"}, {"callid", "c1@x"}});
  h.expect_call_event(rr.call_id, wire::CallEventKind::Released);
  EXPECT_EQ(h.bridge.calls(), 0u);
  EXPECT_EQ(h.bridge.count(Counter::answered), 1u);
  EXPECT_EQ(h.bridge.count(Counter::released), 1u);
}

// Kamailio goes silent on a call (it lost the transaction, or the dialog): a call ringing past
// ring_s + 30 s is abandoned in acd, one talking past max_call_s released; both are forgotten.
TEST(SipBridge, CallsKamailioWentSilentOnAreAgedOut) {
  Harness h;
  constexpr std::uint64_t kS = 1'000'000'000;
  const auto ringing = h.ring("ringing@x", 1001);  // at t = 0; ring_s = 12
  const auto talking = h.ring("talking@x", 1002);
  h.event({{"event", "answered"}, {"callid", "talking@x"}}, 0);
  h.expect_call_event(talking.call_id, wire::CallEventKind::Answered);
  h.bridge.tick(41 * kS);  // 12 + 30 s not yet over
  EXPECT_EQ(h.bridge.calls(), 2u);
  h.bridge.tick(43 * kS);
  h.expect_call_event(ringing.call_id, wire::CallEventKind::Abandoned);
  EXPECT_EQ(h.bridge.find("ringing@x"), nullptr);
  EXPECT_NE(h.bridge.find("talking@x"), nullptr);
  h.bridge.tick(86'399 * kS);
  EXPECT_TRUE(h.bridge.take_requests().empty());
  h.bridge.tick(86'401 * kS);
  h.expect_call_event(talking.call_id, wire::CallEventKind::Released);
  EXPECT_EQ(h.bridge.calls(), 0u);
  EXPECT_EQ(h.bridge.count(Counter::aged_out), 2u);
}

// Queued: 182 with position and EWT; the transaction is suspended again; acd's later decision
// (reply_to 0) relays to the agent.
TEST(SipBridge, QueuedThenLaterAgent) {
  Harness h;
  h.invite("c1@x");
  const auto rq = h.one_request();
  const auto id = Harness::body<wire::RouteRequest>(rq).call_id;
  h.respond(rq.seq, id, wire::RouteResult::Queued);
  json cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "queued");
  EXPECT_EQ(cmd["position"], 4);
  EXPECT_EQ(cmd["ewt_s"], 31);
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Queued);
  // acd decides before Kamailio says the INVITE is suspended again: kept until it is.
  h.respond(0, id, wire::RouteResult::Agent, 1001);
  EXPECT_TRUE(h.bridge.take_commands().empty());
  h.event({{"event", "suspended"}, {"callid", "c1@x"}, {"tindex", 7}, {"tlabel", 100}});
  cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "relay");
  EXPECT_EQ(cmd["tlabel"], 100);
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Ringing);
}

// CANCEL while queued: abandoned to acd, 487 to the suspended INVITE; while ringing: abandoned
// only (Kamailio cancels the agent's leg itself).
TEST(SipBridge, CancelIsAbandoned) {
  Harness h;
  h.invite("q@x");
  const auto rq = h.one_request();
  const auto id = Harness::body<wire::RouteRequest>(rq).call_id;
  h.respond(rq.seq, id, wire::RouteResult::Queued);
  (void)h.one_command();
  h.event({{"event", "suspended"}, {"callid", "q@x"}, {"tindex", 7}, {"tlabel", 99}});
  h.event({{"event", "cancel"}, {"callid", "q@x"}});
  h.expect_call_event(id, wire::CallEventKind::Abandoned);
  const json cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "reply");
  EXPECT_EQ(cmd["code"], 487);
  EXPECT_EQ(h.bridge.find("q@x"), nullptr);

  const auto rr = h.ring("r@x", 1001);
  h.event({{"event", "cancel"}, {"callid", "r@x"}});
  h.expect_call_event(rr.call_id, wire::CallEventKind::Abandoned);
  EXPECT_TRUE(h.bridge.take_commands().empty());
  EXPECT_EQ(h.bridge.count(Counter::abandoned), 2u);
}

// The agent's leg fails: the bridge reports it (RingNoAnswer, the agent rung and the cause) and
// the INVITE waits for acd's next decision, which goes to another agent; a decision that arrives
// while the agent still rings (acd's ring timeout came first) waits for the leg to fail, and
// then nothing is reported.
TEST(SipBridge, AgentFailureIsReportedAndAcdRoutesAgain) {
  Harness h;
  const auto rr = h.ring("c1@x", 1001);
  h.event({{"event", "agent_failed"},
           {"callid", "c1@x"},
           {"tindex", 7},
           {"tlabel", 99},
           {"code", 486}});
  EXPECT_EQ(h.bridge.find("c1@x")->state, CallState::Rerouting);
  EXPECT_TRUE(h.bridge.take_commands().empty());
  const auto rq = h.one_request();
  ASSERT_EQ(rq.type, wire::Type::RingNoAnswer);
  const auto rna = Harness::body<wire::RingNoAnswer>(rq);
  EXPECT_EQ(rna.call_id, rr.call_id);
  EXPECT_EQ(rna.agent, 1u);
  EXPECT_EQ(rna.cause, wire::NoAnswerCause::Busy);
  h.ack(rq.seq);
  EXPECT_EQ(h.bridge.waiting(), 0u);
  h.respond(0, rr.call_id, wire::RouteResult::Agent, 1002);
  json cmd = h.one_command();
  EXPECT_EQ(cmd["uri"], "sip:1002@agents.example");

  h.respond(0, rr.call_id, wire::RouteResult::Agent, 1003);  // acd's ring timeout came first
  EXPECT_TRUE(h.bridge.take_commands().empty());
  h.event({{"event", "agent_failed"},
           {"callid", "c1@x"},
           {"tindex", 7},
           {"tlabel", 99},
           {"code", 408}});
  cmd = h.one_command();
  EXPECT_EQ(cmd["uri"], "sip:1003@agents.example");
  EXPECT_TRUE(h.bridge.take_requests().empty());
  EXPECT_EQ(h.bridge.count(Counter::agent_failed), 2u);
  EXPECT_EQ(h.bridge.count(Counter::ring_no_answer), 1u);

  // A phone that rings out (408) or is not registered (480): causes NoAnswer and Unreachable.
  h.event({{"event", "agent_failed"},
           {"callid", "c1@x"},
           {"tindex", 7},
           {"tlabel", 99},
           {"code", 408}});
  auto report = Harness::body<wire::RingNoAnswer>(h.one_request());
  EXPECT_EQ(report.cause, wire::NoAnswerCause::NoAnswer);
  EXPECT_EQ(report.agent, 3u);
  h.respond(0, rr.call_id, wire::RouteResult::Agent, 1004);
  (void)h.one_command();
  h.event({{"event", "agent_failed"},
           {"callid", "c1@x"},
           {"tindex", 7},
           {"tlabel", 99},
           {"code", 480}});
  report = Harness::body<wire::RingNoAnswer>(h.one_request());
  EXPECT_EQ(report.cause, wire::NoAnswerCause::Unreachable);
  EXPECT_EQ(report.agent, 4u);
}

// Overflow actions and rejection: each its SIP answer, and the call is forgotten.
TEST(SipBridge, OverflowAndRejection) {
  Harness h;
  const struct {
    wire::RouteResult result;
    std::uint8_t action;
    const char* cmd_action;
    int code;
    const char* uri;
  } cases[] = {
      {wire::RouteResult::Overflow, 1, "relay", 0, "sip:7100@gw.example"},
      {wire::RouteResult::Overflow, 2, "relay", 0, "sip:7100@gw.example"},
      {wire::RouteResult::Overflow, 5, "relay", 0, "sip:7100@gw.example"},
      {wire::RouteResult::Overflow, 3, "reply", 480, nullptr},
      {wire::RouteResult::Overflow, 6, "reply", 480, nullptr},
      {wire::RouteResult::Overflow, 4, "reply", 486, nullptr},
      {wire::RouteResult::Rejected, 0, "reply", 503, nullptr},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string callid = "o" + std::to_string(n++) + "@x";
    h.invite(callid);
    const auto rq = h.one_request();
    h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, c.result, 0, c.action, 7100);
    const json cmd = h.one_command();
    EXPECT_EQ(cmd["action"], c.cmd_action) << int(c.action);
    if (c.uri != nullptr) {
      EXPECT_EQ(cmd["uri"], c.uri);
      EXPECT_EQ(cmd["lookup"], 0);
      EXPECT_EQ(cmd["ring_s"], 0);
    } else {
      EXPECT_EQ(cmd["code"], c.code) << int(c.action);
    }
    EXPECT_EQ(h.bridge.find(callid), nullptr);
  }
  // Overflow action 0 (to another queue of acd): the call stays, queued.
  h.invite("o-queue@x");
  const auto rq = h.one_request();
  h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, wire::RouteResult::Overflow);
  EXPECT_EQ(h.one_command()["action"], "queued");
}

// An unanswered request is sent again with the same seq; a RouteRequest given up is 503; the
// second answer to a retransmitted request is not applied twice.
TEST(SipBridge, RetransmitsThenGivesUp) {
  Harness h;
  h.invite("c1@x");
  const auto first = h.one_request();
  h.bridge.tick(100 * kMs);
  EXPECT_TRUE(h.bridge.take_requests().empty());
  for (std::uint32_t i = 1; i <= 10; ++i) {
    h.bridge.tick(i * 200 * kMs);
    const auto again = h.one_request();
    EXPECT_EQ(again.seq, first.seq);
    EXPECT_EQ(again.body, first.body);
  }
  EXPECT_TRUE(h.bridge.take_commands().empty());
  h.bridge.tick(11 * 200 * kMs);
  EXPECT_TRUE(h.bridge.take_requests().empty());
  const json cmd = h.one_command();
  EXPECT_EQ(cmd["code"], 503);
  EXPECT_EQ(h.bridge.calls(), 0u);
  EXPECT_EQ(h.bridge.count(Counter::retransmits), 10u);

  h.invite("c2@x");
  const auto rq = h.one_request();
  const auto id = Harness::body<wire::RouteRequest>(rq).call_id;
  h.respond(rq.seq, id, wire::RouteResult::Queued);
  (void)h.one_command();
  h.event({{"event", "suspended"}, {"callid", "c2@x"}, {"tindex", 7}, {"tlabel", 99}});
  h.respond(rq.seq, id, wire::RouteResult::Agent, 1001);  // a late duplicate of the first answer
  EXPECT_TRUE(h.bridge.take_commands().empty());
}

// An Error to a RouteRequest: 503 with acd's reason in X-ACD-Status.
TEST(SipBridge, ErrorToRouteRequestIs503) {
  Harness h;
  h.invite("c1@x");
  const auto rq = h.one_request();
  wire::Error e{};
  e.reply_to = rq.seq;
  e.reason = 1010;
  h.deliver(wire::Type::Error, e);
  const json cmd = h.one_command();
  EXPECT_EQ(cmd["code"], 503);
  EXPECT_EQ(cmd["status"], 1010);
  EXPECT_EQ(h.bridge.calls(), 0u);
}

// A standby's Error NotPrimary decides nothing: the call is not answered 503, the request waits
// (the shell is told once to move to the other node) and, after the move, goes again with its own
// seq; the new primary's answer is applied to the held INVITE.
TEST(SipBridge, NotPrimaryKeepsTheRequestUntilThePrimaryAnswers) {
  Harness h;
  h.invite("np@x");
  const auto rq = h.one_request();
  const auto call_id = Harness::body<wire::RouteRequest>(rq).call_id;
  EXPECT_FALSE(h.bridge.take_not_primary());
  wire::Error e{};
  e.reply_to = rq.seq;
  e.reason = static_cast<std::uint16_t>(wire::WireError::NotPrimary);
  h.deliver(wire::Type::Error, e);
  EXPECT_TRUE(h.bridge.take_commands().empty());  // no 503
  EXPECT_EQ(h.bridge.calls(), 1u);
  EXPECT_EQ(h.bridge.waiting(), 1u);
  EXPECT_EQ(h.bridge.count(Counter::not_primary), 1u);
  EXPECT_EQ(h.bridge.count(Counter::acd_errors), 0u);
  EXPECT_TRUE(h.bridge.take_not_primary());
  EXPECT_FALSE(h.bridge.take_not_primary());  // once
  // A NotPrimary for a request no longer waiting asks for no move.
  e.reply_to = rq.seq + 100;
  h.deliver(wire::Type::Error, e);
  EXPECT_FALSE(h.bridge.take_not_primary());

  h.bridge.failed_over(1000 * kMs);
  EXPECT_EQ(h.bridge.count(Counter::failovers), 1u);
  auto r = h.bridge.take_requests();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, wire::Type::Register);
  h.ack(r[0].seq);
  // The waiting RouteRequest goes again (same seq) at the next retry, with its retries anew.
  h.bridge.tick(1000 * kMs + 200 * kMs);
  r = h.bridge.take_requests();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seq, rq.seq);
  EXPECT_EQ(r[0].body, rq.body);
  h.respond(rq.seq, call_id, wire::RouteResult::Agent, 1001);
  EXPECT_EQ(h.one_command()["action"], "relay");
  EXPECT_EQ(h.bridge.waiting(), 0u);
}

// A new ACDP session (acdd restarted, or a standby took over): the calls whose INVITE waits for
// acd's decision are asked for again with their first RouteRequest; a ringing call is not.
TEST(SipBridge, NewSessionAsksAgainForWaitingCalls) {
  Harness h;
  h.invite("q@x");
  const auto rq = h.one_request();
  const auto queued = Harness::body<wire::RouteRequest>(rq);
  h.respond(rq.seq, queued.call_id, wire::RouteResult::Queued);
  (void)h.one_command();
  h.event({{"event", "suspended"}, {"callid", "q@x"}, {"tindex", 7}, {"tlabel", 100}});
  (void)h.ring("r@x", 1001);

  h.bridge.connected(5000 * kMs);
  auto r = h.bridge.take_requests();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type, wire::Type::Register);
  h.ack(r[0].seq);
  EXPECT_EQ(r[1].type, wire::Type::RouteRequest);
  EXPECT_EQ(r[1].body, rq.body);  // the same call ID, queue and fields
  EXPECT_EQ(h.bridge.count(Counter::resyncs), 1u);
  // The new node knew nothing of it: its decision is applied to the held INVITE.
  h.respond(r[1].seq, queued.call_id, wire::RouteResult::Agent, 1002);
  const json cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "relay");
  EXPECT_EQ(cmd["tlabel"], 100);
  EXPECT_EQ(h.bridge.find("q@x")->state, CallState::Ringing);
  EXPECT_EQ(h.bridge.waiting(), 0u);

  // A node that still holds the call answers DuplicateCall: the call goes on waiting.
  h.invite("w@x");
  const auto rq2 = h.one_request();
  const auto id2 = Harness::body<wire::RouteRequest>(rq2).call_id;
  h.respond(rq2.seq, id2, wire::RouteResult::Queued);
  (void)h.one_command();
  h.event({{"event", "suspended"}, {"callid", "w@x"}, {"tindex", 8}, {"tlabel", 101}});
  h.bridge.connected(6000 * kMs);
  r = h.bridge.take_requests();
  ASSERT_EQ(r.size(), 2u);
  h.ack(r[0].seq);
  wire::Error e{};
  e.reply_to = r[1].seq;
  e.reason = static_cast<std::uint16_t>(acd::router::Status::DuplicateCall);
  h.deliver(wire::Type::Error, e);
  EXPECT_TRUE(h.bridge.take_commands().empty());
  ASSERT_NE(h.bridge.find("w@x"), nullptr);
  EXPECT_EQ(h.bridge.find("w@x")->state, CallState::Queued);
  EXPECT_EQ(h.bridge.find("w@x")->suspended, true);
  // ... and its later decision is applied as any.
  h.respond(0, id2, wire::RouteResult::Agent, 1001);
  EXPECT_EQ(h.one_command()["action"], "relay");
}

// A RingNoAnswer acd refuses UnknownCall (it restarted and lost the call while the agent rang):
// the call is asked for anew, not left held.
TEST(SipBridge, RingNoAnswerForACallAcdLostAsksAgain) {
  Harness h;
  const auto rr = h.ring("c@x", 1001);
  h.event({{"event", "agent_failed"},
           {"callid", "c@x"},
           {"tindex", 7},
           {"tlabel", 102},
           {"code", 486}});
  const auto rna = h.one_request();
  ASSERT_EQ(rna.type, wire::Type::RingNoAnswer);
  wire::Error e{};
  e.reply_to = rna.seq;
  e.reason = static_cast<std::uint16_t>(acd::router::Status::UnknownCall);
  h.deliver(wire::Type::Error, e);
  EXPECT_TRUE(h.bridge.take_commands().empty());  // no 503: still held
  const auto again = h.one_request();
  ASSERT_EQ(again.type, wire::Type::RouteRequest);
  EXPECT_EQ(Harness::body<wire::RouteRequest>(again).call_id, rr.call_id);
  h.respond(again.seq, rr.call_id, wire::RouteResult::Queued);
  const json cmd = h.one_command();
  EXPECT_EQ(cmd["action"], "queued");
  EXPECT_EQ(cmd["tlabel"], 102);
}

// Heartbeats: one every heartbeat_ms, a request waiting until acd echoes it (an unanswered one
// is what makes the shell renew the session).
TEST(SipBridge, HeartbeatEverySecondUntilEchoed) {
  acd::sip::BridgeConfig c = config();
  c.heartbeat_ms = 1000;
  Bridge b(c);
  b.tick(500 * kMs);
  EXPECT_TRUE(b.take_requests().empty());
  b.tick(1000 * kMs);
  auto r = b.take_requests();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, wire::Type::Heartbeat);
  EXPECT_EQ(b.waiting(), 1u);
  EXPECT_EQ(b.waiting_since(), 1000 * kMs);  // the shell's silence is measured from here
  wire::Heartbeat echo{};
  const auto bytes = reinterpret_cast<const std::uint8_t*>(&echo);
  b.on_message(acd::dataplane::Message{wire::Type::Heartbeat, 0, bytes}, 1100 * kMs);
  EXPECT_EQ(b.waiting(), 1u);  // a takeover announcement (seq 0) is no echo
  b.on_message(acd::dataplane::Message{wire::Type::Heartbeat, r[0].seq, bytes}, 1100 * kMs);
  EXPECT_EQ(b.waiting(), 0u);
  EXPECT_EQ(b.waiting_since(), 0u);
  b.tick(1900 * kMs);
  EXPECT_TRUE(b.take_requests().empty());
  b.tick(2000 * kMs);
  r = b.take_requests();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, wire::Type::Heartbeat);
  // Not echoed: sent again like any request, and no second one beside it.
  b.tick(3200 * kMs);
  r = b.take_requests();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(b.waiting(), 1u);
}

// Handshake retries: a second give or take a quarter, spread over the whole range.
TEST(SipBridge, HandshakeRetriesAreJittered) {
  constexpr std::uint64_t kS = 1'000'000'000;
  EXPECT_EQ(acd::sip::jittered(kS, 0), 750 * kMs);
  EXPECT_EQ(acd::sip::jittered(kS, 500'000'000), 1250 * kMs);
  std::uint64_t low = kS * 2, high = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::uint64_t d = acd::sip::jittered(kS, i * 4'294'967u);
    EXPECT_GE(d, 750 * kMs);
    EXPECT_LE(d, 1250 * kMs);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_LT(low, 800 * kMs);
  EXPECT_GT(high, 1200 * kMs);
}

// Netstrings: framing both ways, split across reads, and a broken frame is an error for good.
// Kamailio's evapi reads its socket 32 KiB at a time and drops a read that ends inside a frame's
// length or before its ','. The bridge writes commands only while less than one read of them is
// unconfirmed; Kamailio confirms each one it read ("done", with the command's seq).
TEST(SipBridge, EvapiWindowHoldsCommandsUntilKamailioConfirms) {
  Harness h;
  constexpr int kCalls = 300;  // about 60 KiB of relay commands
  for (int i = 0; i < kCalls; ++i) {
    const std::string callid = "w" + std::to_string(i) + "@x";
    h.invite(callid);
    const auto rq = h.one_request();
    h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, wire::RouteResult::Agent,
              1001);
  }
  std::vector<json> written;  // in the order the bridge wrote them
  std::size_t unconfirmed = 0;
  const auto take = [&] {
    for (const std::string& c : h.bridge.take_commands()) {
      unconfirmed += acd::sip::netstring(c).size();
      written.push_back(json::parse(c));
    }
    EXPECT_LE(unconfirmed, Bridge::kEvapiWindow);
    EXPECT_LT(unconfirmed, 32767u);  // one evapi read
    EXPECT_EQ(h.bridge.evapi_unconfirmed_bytes(), unconfirmed);
  };
  take();
  const std::size_t first = written.size();
  ASSERT_GT(first, 10u);
  ASSERT_LT(first, static_cast<std::size_t>(kCalls));
  EXPECT_EQ(h.bridge.evapi_commands_held(), kCalls - first);
  take();  // nothing confirmed: nothing more
  EXPECT_EQ(written.size(), first);

  // A "done" for a seq never written, or without one, confirms nothing.
  h.event({{"event", "done"}, {"seq", 999999}});
  h.event({{"event", "done"}});
  EXPECT_EQ(h.bridge.count(Counter::bad_events), 1u);
  take();
  EXPECT_EQ(written.size(), first);

  // Kamailio confirms as it reads (up to a seq: everything before it too); all go out in order.
  std::size_t confirmed = 0;
  while (confirmed < written.size()) {
    confirmed = std::min(written.size(), confirmed + 7);
    h.event({{"event", "done"}, {"seq", written[confirmed - 1]["seq"]}});
    unconfirmed = 0;
    for (std::size_t i = confirmed; i < written.size(); ++i) {
      unconfirmed += acd::sip::netstring(written[i].dump()).size();
    }
    take();
  }
  ASSERT_EQ(written.size(), static_cast<std::size_t>(kCalls));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(written[i]["seq"], i + 1);
    EXPECT_EQ(written[i]["callid"], "w" + std::to_string(i) + "@x");
  }
  EXPECT_EQ(h.bridge.evapi_commands_held(), 0u);
  EXPECT_EQ(h.bridge.evapi_unconfirmed_bytes(), 0u);
  EXPECT_EQ(h.bridge.count(Counter::evapi_unconfirmed), 0u);
}

// No "done" for 2 s (a Kamailio configuration without them, or one lost): the window opens again,
// counted, rather than hold every later call. A new evapi connection starts with an open window.
TEST(SipBridge, EvapiWindowReopensWhenKamailioConfirmsNothing) {
  Harness h;
  for (int i = 0; i < 200; ++i) {
    h.invite("s" + std::to_string(i) + "@x");
    const auto rq = h.one_request();
    h.respond(rq.seq, Harness::body<wire::RouteRequest>(rq).call_id, wire::RouteResult::Queued);
  }
  const std::size_t first = h.bridge.take_commands().size();
  ASSERT_LT(first, 200u);
  h.bridge.tick(1'000 * kMs);
  h.bridge.tick(2'900 * kMs);
  EXPECT_TRUE(h.bridge.take_commands().empty());
  h.bridge.tick(3'000 * kMs);
  EXPECT_EQ(h.bridge.count(Counter::evapi_unconfirmed), 1u);
  const std::size_t second = h.bridge.take_commands().size();
  EXPECT_GT(second, 0u);
  h.bridge.evapi_connected();
  EXPECT_EQ(h.bridge.evapi_unconfirmed_bytes(), 0u);
  EXPECT_EQ(first + second + h.bridge.take_commands().size() + h.bridge.evapi_commands_held(),
            200u);
}

TEST(SipNetstring, Framing) {
  EXPECT_EQ(acd::sip::netstring("{}"), "2:{},");
  acd::sip::NetstringReader r(16);
  std::string out;
  r.feed("5:hel");
  EXPECT_EQ(r.next(out), acd::sip::NetstringReader::Status::NeedMore);
  r.feed("lo,0:,3:abc,");
  EXPECT_EQ(r.next(out), acd::sip::NetstringReader::Status::Payload);
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(r.next(out), acd::sip::NetstringReader::Status::Payload);
  EXPECT_EQ(out, "");
  EXPECT_EQ(r.next(out), acd::sip::NetstringReader::Status::Payload);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(r.next(out), acd::sip::NetstringReader::Status::NeedMore);
  for (const char* bad : {"3:abcd", "x:", "17:", ":a,", "1234567890"}) {
    acd::sip::NetstringReader b(16);
    b.feed(bad);
    EXPECT_EQ(b.next(out), acd::sip::NetstringReader::Status::Error) << bad;
    EXPECT_EQ(b.next(out), acd::sip::NetstringReader::Status::Error) << bad;
    EXPECT_FALSE(b.error().empty());
  }
}

}  // namespace

namespace {

// The value of one sample line `name value` (or `name{labels} value`) in an exposition; -1 if
// the line is missing.
long long sample_of(const std::string& text, const std::string& name) {
  const std::string at = "\n" + name + " ";
  const std::size_t p = text.find(at);
  return p == std::string::npos ? -1 : std::stoll(text.substr(p + at.size()));
}

}  // namespace

// The metrics say how many calls the bridge follows, how many INVITEs wait suspended for its
// command, its counters by outcome and the shell's reconnects, in Prometheus text.
TEST(SipBridgeMetrics, CallsSuspendedTransactionsCountersAndReconnects) {
  Harness h;
  h.invite("routing@x");  // suspended, waiting for acd
  (void)h.one_request();
  const auto rr = h.ring("ringing@x", 1001);     // relayed: Kamailio holds it no more
  h.invite("nowhere@x", {{"service", "4999"}});  // refused at once
  (void)h.one_command();
  acd::sip::ShellCounters shell;
  shell.evapi_connects = 4;
  shell.evapi_losses = 3;
  shell.acdp_sessions = 2;
  shell.evapi_up = true;
  std::string text = "\n" + acd::sip::render_metrics(h.bridge, shell);
  EXPECT_EQ(sample_of(text, "acd_sip_calls"), 2);
  EXPECT_EQ(sample_of(text, "acd_sip_suspended_transactions"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_calls_by_state{state=\"routing\"}"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_calls_by_state{state=\"ringing\"}"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_invites_total"), 3);
  EXPECT_EQ(sample_of(text, "acd_sip_refused_total"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_routed_agent_total"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_acd_errors_total"), 0);
  EXPECT_EQ(sample_of(text, "acd_sip_evapi_reconnects_total"), 3);
  EXPECT_EQ(sample_of(text, "acd_sip_evapi_up"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_acdp_sessions_total"), 2);
  EXPECT_EQ(sample_of(text, "acd_sip_acdp_registered"), 1);
  EXPECT_NE(text.find("# TYPE acd_sip_abandoned_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE acd_sip_suspended_transactions gauge\n"), std::string::npos);

  // An Error from acd is counted; the answered call leaves the ringing state.
  wire::Error e{};
  e.reply_to = 999;
  e.reason = 1012;
  h.deliver(wire::Type::Error, e);
  h.event({{"event", "answered"}, {"callid", "ringing@x"}});
  h.expect_call_event(rr.call_id, wire::CallEventKind::Answered);
  text = "\n" + acd::sip::render_metrics(h.bridge, shell);
  EXPECT_EQ(sample_of(text, "acd_sip_acd_errors_total"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_calls_by_state{state=\"talking\"}"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_calls_by_state{state=\"ringing\"}"), 0);
}

// acd's answer time (RouteRequest sent to RouteResponse) and Kamailio's read time (command
// written to its done) go into their histograms; a retransmitted answer is not counted twice.
TEST(SipBridgeMetrics, DecisionAndEvapiLatencyHistograms) {
  Harness h;
  h.bridge.on_event(json({{"event", "invite"}, {"callid", "c1@x"}, {"tindex", 1}, {"tlabel", 2},
                          {"service", "5000"}}).dump(),
                    10 * kMs);
  const auto rq = h.one_request();
  wire::RouteResponse r{};
  r.reply_to = rq.seq;
  r.call_id = Harness::body<wire::RouteRequest>(rq).call_id;
  r.result = wire::RouteResult::Agent;
  r.agent_number = 1001;
  h.deliver(wire::Type::RouteResponse, r, 10 * kMs + 450'000);  // 450 us later
  h.deliver(wire::Type::RouteResponse, r, 10 * kMs + 900'000);  // the same answer again
  const auto& d = h.bridge.decision_latency();
  EXPECT_EQ(d.count, 1u);
  EXPECT_EQ(d.sum_ns, 450'000u);
  EXPECT_EQ(d.buckets[6], 1u);  // (400, 500] us
  const auto c = h.bridge.take_commands(20 * kMs);
  ASSERT_EQ(c.size(), 1u);
  const auto seq = json::parse(c[0])["seq"].get<std::uint32_t>();
  h.bridge.on_event(json({{"event", "done"}, {"seq", seq}}).dump(), 20 * kMs + 1'200'000);
  const auto& e = h.bridge.evapi_latency();
  EXPECT_EQ(e.count, 1u);
  EXPECT_EQ(e.buckets[9], 1u);  // (1, 1.5] ms
  const std::string text = "\n" + acd::sip::render_metrics(h.bridge, acd::sip::ShellCounters{});
  EXPECT_EQ(sample_of(text, "acd_sip_decision_seconds_bucket{le=\"0.000400\"}"), 0);
  EXPECT_EQ(sample_of(text, "acd_sip_decision_seconds_bucket{le=\"0.000500\"}"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_decision_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_decision_seconds_count"), 1);
  EXPECT_EQ(sample_of(text, "acd_sip_evapi_command_seconds_bucket{le=\"0.001000\"}"), 0);
  EXPECT_EQ(sample_of(text, "acd_sip_evapi_command_seconds_bucket{le=\"0.001500\"}"), 1);
  EXPECT_NE(text.find("# TYPE acd_sip_decision_seconds histogram\n"), std::string::npos);
}

// The endpoint answers GET /metrics only; a request is whole at its empty line.
TEST(SipBridgeMetrics, HttpAnswers) {
  const std::string ok = acd::sip::http_answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "a 1\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 4), "a 1\n");
  EXPECT_EQ(acd::sip::http_answer("GET /metrics?x=1 HTTP/1.0\r\n\r\n", "").rfind("HTTP/1.1 200", 0),
            0u);
  EXPECT_EQ(acd::sip::http_answer("GET / HTTP/1.1\r\n\r\n", "").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(acd::sip::http_answer("POST /metrics HTTP/1.1\r\n\r\n", "").rfind("HTTP/1.1 400", 0),
            0u);
  EXPECT_EQ(acd::sip::http_answer("garbage", "").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(acd::sip::http_answer("", "").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_FALSE(acd::sip::http_request_complete("GET /metrics HTTP/1.1\r\n"));
  EXPECT_TRUE(acd::sip::http_request_complete("GET /metrics HTTP/1.1\r\n\r\n"));
}
