// The bridge's per-call state machine: evapi events in, ACDP requests and Kamailio commands out
// (sip/DESIGN.md, "Mapping" and "State per call").
#include "acd/sip/bridge.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "acd/router/types.hpp"

namespace acd::sip {

namespace wire = dataplane::wire;
using nlohmann::json;

const char* to_string(CallState s) {
  switch (s) {
    case CallState::Routing:
      return "routing";
    case CallState::Queued:
      return "queued";
    case CallState::Ringing:
      return "ringing";
    case CallState::Rerouting:
      return "rerouting";
    case CallState::Talking:
      return "talking";
  }
  return "?";
}

namespace {

// A field as text: strings as they are, integers in decimal; nullopt if absent or another type.
std::optional<std::string> text(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) {
    return std::nullopt;
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_number_unsigned()) {
    return std::to_string(it->get<std::uint64_t>());
  }
  return std::nullopt;
}

// A decimal number in [0, max]; nullopt otherwise (empty, sign, junk, too big).
std::optional<std::uint64_t> number(std::string_view s, std::uint64_t max) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > max) {
    return std::nullopt;
  }
  return v;
}

// What a failed agent leg's SIP status tells acd (docs/protocol.md, RingNoAnswer).
wire::NoAnswerCause no_answer_cause(std::uint32_t code) {
  switch (code) {
    case 408:  // the ring timer (ring_s), or the phone's own timeout
      return wire::NoAnswerCause::NoAnswer;
    case 486:
    case 600:
      return wire::NoAnswerCause::Busy;
    case 403:
    case 603:
      return wire::NoAnswerCause::Rejected;
    default:  // 404, 410, 480 (no registered phone), 5xx, ...
      return wire::NoAnswerCause::Unreachable;
  }
}

std::optional<std::uint32_t> u32_field(const json& j, const char* key) {
  const auto t = text(j, key);
  if (!t) {
    return std::nullopt;
  }
  const auto v = number(*t, 0xFFFFFFFFu);
  if (!v) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*v);
}

}  // namespace

void Latency::add(std::uint64_t ns) {
  std::size_t i = 0;
  while (i < kBoundsUs.size() && ns > std::uint64_t{kBoundsUs[i]} * 1000) {
    ++i;
  }
  ++buckets[i];
  ++count;
  sum_ns += ns;
}

Bridge::Bridge(BridgeConfig config) : config_(std::move(config)) {}

template <typename Body>
void Bridge::send(wire::Type type, const Body& body, std::uint64_t now_ns, std::uint64_t call_id) {
  const std::uint64_t seq = next_seq_++;
  std::vector<std::uint8_t> bytes(sizeof(Body));
  std::memcpy(bytes.data(), &body, sizeof(Body));
  pending_[seq] = Pending{type, bytes, now_ns, 0, now_ns, call_id};
  requests_.push_back(Request{type, seq, std::move(bytes)});
}

void Bridge::connected(std::uint64_t now_ns) {
  registered_ = false;
  wire::Register r{};
  r.role = static_cast<std::uint32_t>(wire::Role::Switch);
  r.nonce = now_ns;
  send(wire::Type::Register, r, now_ns);
  register_seq_ = next_seq_ - 1;
  // Requests of the old session go on (the same seq); RouteRequests get their full retries anew.
  for (auto& [seq, p] : pending_) {
    p.tries = 0;
    p.first_ns = now_ns;
  }
  for (auto& [sip, call] : by_sip_) {
    const bool waits = call.state == CallState::Queued || call.state == CallState::Rerouting;
    if (waits && !has_pending_route_request(call.call_id)) {
      resync(call, now_ns);
    }
  }
}

void Bridge::failed_over(std::uint64_t now_ns) {
  bump(Counter::failovers);
  connected(now_ns);
}

std::uint64_t Bridge::waiting_since() const {
  std::uint64_t oldest = 0;
  for (const auto& [seq, p] : pending_) {
    if (oldest == 0 || p.first_ns < oldest) {
      oldest = p.first_ns;
    }
  }
  return oldest;
}

bool Bridge::has_pending_route_request(std::uint64_t call_id) const {
  for (const auto& [seq, p] : pending_) {
    if (p.type == wire::Type::RouteRequest && p.call_id == call_id) {
      return true;
    }
  }
  return false;
}

void Bridge::resync(Call& call, std::uint64_t now_ns) {
  bump(Counter::resyncs);
  send(wire::Type::RouteRequest, call.request, now_ns, call.call_id);
  pending_[next_seq_ - 1].resync = true;
}

const Service* Bridge::service_of(std::string_view number) const {
  for (const Service& s : config_.services) {
    if (s.number == number) {
      return &s;
    }
  }
  return nullptr;
}

const Bridge::Call* Bridge::find(std::string_view sip_call_id) const {
  const auto it = by_sip_.find(std::string(sip_call_id));
  return it == by_sip_.end() ? nullptr : &it->second;
}

Bridge::Call* Bridge::by_call_id(std::uint64_t call_id) {
  const auto it = sip_of_.find(call_id);
  if (it == sip_of_.end()) {
    return nullptr;
  }
  const auto c = by_sip_.find(it->second);
  return c == by_sip_.end() ? nullptr : &c->second;
}

void Bridge::forget(Call& call) {
  sip_of_.erase(call.call_id);
  by_sip_.erase(call.sip_call_id);  // `call` is gone after this
}

// ---- the evapi window ----

// {"cmd": "continue", "seq", "callid", "tindex", "tlabel", "action", ...extra}: a command for the
// call's suspended transaction.
void Bridge::command(const Call& call, const char* action, const json& extra) {
  json j = {{"cmd", "continue"},     {"seq", next_command_seq_}, {"callid", call.sip_call_id},
            {"tindex", call.tindex}, {"tlabel", call.tlabel},    {"action", action}};
  j.update(extra);
  commands_.push_back(Command{next_command_seq_, j.dump()});
  next_command_seq_ = next_command_seq_ >= 999'999'999 ? 1 : next_command_seq_ + 1;
}

// Kamailio read every command up to `seq` (its event route answers each with "done").
void Bridge::confirmed(std::uint32_t seq, std::uint64_t now_ns) {
  const auto it = std::find_if(unconfirmed_.begin(), unconfirmed_.end(),
                               [&](const Unconfirmed& u) { return u.seq == seq; });
  if (it == unconfirmed_.end()) {
    return;  // an old one (before a reconnection, or after the window reopened), or not ours
  }
  for (auto u = unconfirmed_.begin(); u != it + 1; ++u) {
    unconfirmed_bytes_ -= u->bytes;
  }
  if (it->written_ns != 0 && now_ns >= it->written_ns) {
    evapi_latency_.add(now_ns - it->written_ns);
  }
  unconfirmed_.erase(unconfirmed_.begin(), it + 1);
}

void Bridge::evapi_connected() {
  unconfirmed_.clear();
  unconfirmed_bytes_ = 0;
  stalled_seq_ = 0;
}

// ---- commands to Kamailio ----

void Bridge::reply(Call& call, int code, std::string_view reason, std::uint16_t status) {
  command(call, "reply", {{"code", code}, {"reason", reason}, {"status", status}});
  call.suspended = false;
}

void Bridge::relay(Call& call, const std::string& uri, bool lookup, std::uint32_t ring_s) {
  command(call, "relay", {{"uri", uri}, {"lookup", lookup ? 1 : 0}, {"ring_s", ring_s}});
  call.suspended = false;
}

// ---- evapi events ----

void Bridge::on_event(std::string_view text_in, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  const json event = json::parse(text_in, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    bump(Counter::bad_events);
    return;
  }
  const auto name = text(event, "event");
  if (name && *name == "done") {
    if (const auto seq = u32_field(event, "seq"); seq && *seq != 0) {
      confirmed(*seq, now_ns);
    } else {
      bump(Counter::bad_events);
    }
    return;
  }
  const auto callid = text(event, "callid");
  if (!name || !callid || callid->empty()) {
    bump(Counter::bad_events);
    return;
  }
  if (*name == "invite") {
    on_invite(event, now_ns);
    return;
  }
  const auto it = by_sip_.find(*callid);
  if (it == by_sip_.end()) {
    bump(Counter::ignored);
    return;
  }
  Call& call = it->second;
  if (*name == "suspended" || *name == "agent_failed") {
    const auto tindex = u32_field(event, "tindex");
    const auto tlabel = u32_field(event, "tlabel");
    if (!tindex || !tlabel) {
      bump(Counter::bad_events);
      return;
    }
    const bool fits =
        *name == "suspended" ? call.state == CallState::Queued : call.state == CallState::Ringing;
    if (!fits || call.suspended) {
      bump(Counter::ignored);
      return;
    }
    call.tindex = *tindex;
    call.tlabel = *tlabel;
    call.suspended = true;
    if (*name == "agent_failed") {
      bump(Counter::agent_failed);
      call.state = CallState::Rerouting;
      if (!call.has_pending_decision) {
        // acd re-routes at once (its later RouteResponse is applied as any decision). When a
        // decision is already here, acd's own ring timeout was first: nothing to report.
        wire::RingNoAnswer rna{};
        rna.call_id = call.call_id;
        rna.agent = call.agent;
        rna.cause = no_answer_cause(u32_field(event, "code").value_or(0));
        bump(Counter::ring_no_answer);
        send(wire::Type::RingNoAnswer, rna, now_ns, call.call_id);
      }
    }
    if (call.has_pending_decision) {
      call.has_pending_decision = false;
      apply_decision(call, call.pending_decision);
    }
  } else if (*name == "answered") {
    if (call.state != CallState::Ringing) {
      bump(Counter::ignored);
      return;
    }
    call.state = CallState::Talking;
    call.since_ns = now_ns;
    bump(Counter::answered);
    call_event(call, wire::CallEventKind::Answered, now_ns);
  } else if (*name == "bye") {
    if (call.state != CallState::Talking) {
      bump(Counter::ignored);
      return;
    }
    bump(Counter::released);
    call_event(call, wire::CallEventKind::Released, now_ns);
    forget(call);
  } else if (*name == "cancel") {
    if (call.state == CallState::Talking) {
      bump(Counter::ignored);
      return;
    }
    bump(Counter::abandoned);
    call_event(call, wire::CallEventKind::Abandoned, now_ns);
    if (call.suspended) {
      reply(call, 487, "Request Terminated", 0);
    }
    forget(call);
  } else {
    bump(Counter::bad_events);
  }
}

void Bridge::on_invite(const json& event, std::uint64_t now_ns) {
  bump(Counter::invites);
  const auto callid = text(event, "callid");
  const auto tindex = u32_field(event, "tindex");
  const auto tlabel = u32_field(event, "tlabel");
  if (!tindex || !tlabel) {
    bump(Counter::bad_events);  // nothing to resume: Kamailio's own timer ends the transaction
    return;
  }
  if (by_sip_.count(*callid) != 0) {
    bump(Counter::ignored);
    return;
  }
  Call call;
  call.sip_call_id = *callid;
  call.tindex = *tindex;
  call.tlabel = *tlabel;
  call.suspended = true;
  const auto field = [&](const char* key) { return text(event, key).value_or(""); };

  // Refusals need no call in acd: the INVITE is answered at once.
  const auto refuse = [&](int code, const char* reason) {
    bump(Counter::refused);
    reply(call, code, reason, 0);
  };
  const Service* service = service_of(field("service"));
  if (service == nullptr) {
    return refuse(404, "No Such Service");
  }
  wire::RouteRequest rr{};
  rr.queue = service->queue;
  rr.priority = service->priority;
  rr.language = 0xFFFF;
  if (const std::string q = field("queue"); !q.empty() && service->queue_header) {
    const auto v = number(q, 0xFFFFFFFEu);
    if (!v) {
      return refuse(400, "Bad X-ACD-Queue");
    }
    rr.queue = static_cast<std::uint32_t>(*v);
  }
  if (const std::string p = field("priority"); !p.empty()) {
    const auto v = number(p, 15);
    if (!v) {
      return refuse(400, "Bad X-ACD-Priority");
    }
    rr.priority = static_cast<std::uint8_t>(*v);
  }
  if (const std::string t = field("tier"); !t.empty()) {
    const auto v = number(t, 3);
    if (!v) {
      return refuse(400, "Bad X-ACD-Tier");
    }
    rr.tier = static_cast<std::uint8_t>(*v);
  }
  if (const std::string l = field("language"); !l.empty()) {
    const auto v = number(l, 0xFFFE);
    if (!v) {
      return refuse(400, "Bad X-ACD-Language");
    }
    rr.language = static_cast<std::uint16_t>(*v);
  }
  call.call_id = next_call_id_++;
  rr.call_id = call.call_id;
  call.request = rr;
  sip_of_[call.call_id] = call.sip_call_id;
  const std::uint64_t id = call.call_id;
  by_sip_.emplace(call.sip_call_id, std::move(call));
  send(wire::Type::RouteRequest, rr, now_ns, id);
}

void Bridge::call_event(Call& call, wire::CallEventKind kind, std::uint64_t now_ns) {
  wire::CallEvent e{};
  e.call_id = call.call_id;
  e.kind = kind;
  send(wire::Type::CallEvent, e, now_ns);
}

// ---- acd's decisions ----

void Bridge::apply_decision(Call& call, const wire::RouteResponse& r) {
  if (call.state == CallState::Talking) {
    bump(Counter::ignored);
    return;
  }
  if (!call.suspended) {
    // The agent still rings, or the 182 is on its way: applied once the transaction is
    // suspended again (agent_failed, suspended). The newest decision wins.
    call.pending_decision = r;
    call.has_pending_decision = true;
    return;
  }
  const bool to_queue = r.result == wire::RouteResult::Queued ||
                        (r.result == wire::RouteResult::Overflow && r.action == 0);
  if (r.result == wire::RouteResult::Agent) {
    bump(Counter::routed_agent);
    call.agent_number = r.agent_number;
    call.agent = r.agent;
    const auto fixed = config_.agent_uris.find(r.agent_number);
    if (fixed != config_.agent_uris.end()) {
      relay(call, fixed->second, false, config_.ring_s);
    } else {
      relay(call, "sip:" + std::to_string(r.agent_number) + "@" + config_.domain, true,
            config_.ring_s);
    }
    call.state = CallState::Ringing;
    call.since_ns = now_ns_;
  } else if (to_queue) {
    bump(Counter::queued);
    const bool unknown = r.ewt_ms == 0xFFFFFFFFu;
    command(call, "queued",
            {{"position", r.position},
             {"ewt_s", unknown ? -1 : static_cast<int>((r.ewt_ms + 999) / 1000)}});
    call.suspended = false;
    call.state = CallState::Queued;
  } else if (r.result == wire::RouteResult::Overflow) {
    bump(Counter::overflowed);
    switch (r.action) {
      case 1:  // site
      case 2:  // IVR
      case 5:  // announcement
        relay(call, "sip:" + std::to_string(r.target) + "@" + config_.overflow_domain, false, 0);
        break;
      case 3:  // callback
      case 6:  // callback keeping the caller's place
        reply(call, 480, "Callback Scheduled", r.status);
        break;
      default:  // 4 busy, and anything newer than this bridge
        reply(call, 486, "Busy Here", r.status);
        break;
    }
    forget(call);
  } else {
    bump(Counter::rejected);
    reply(call, 503, "Service Unavailable", r.status);
    forget(call);
  }
}

void Bridge::on_message(const dataplane::Message& m, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  switch (m.type) {
    case wire::Type::Heartbeat:
      // The echo of ours (same seq); acd's takeover announcement (seq 0) names no request.
      if (m.seq != 0 && m.seq == heartbeat_seq_) {
        pending_.erase(m.seq);
        heartbeat_seq_ = 0;
      }
      return;
    case wire::Type::Ack: {
      const auto a = m.as<wire::Ack>();
      if (pending_.erase(a.reply_to) == 0) {
        return;  // an answer to a retransmission already answered
      }
      if (a.status != 0) {
        bump(Counter::acd_errors);
      }
      if (a.reply_to == register_seq_ && a.status == 0) {
        registered_ = true;
      }
      return;
    }
    case wire::Type::Error: {
      const auto e = m.as<wire::Error>();
      if (e.reason == static_cast<std::uint16_t>(wire::WireError::NotPrimary)) {
        // A standby of a pair: nothing was decided. The request stays waiting (sent again, to
        // the primary once the shell has moved there), and no call is refused for it.
        bump(Counter::not_primary);
        if (pending_.count(e.reply_to) != 0) {
          not_primary_ = true;
        }
        return;
      }
      bump(Counter::acd_errors);
      const auto it = pending_.find(e.reply_to);
      if (it == pending_.end()) {
        return;
      }
      const Pending p = it->second;
      pending_.erase(it);
      const auto status = [&](router::Status s) {
        return e.reason == static_cast<std::uint16_t>(s);
      };
      if (p.type == wire::Type::RouteRequest && p.resync && status(router::Status::DuplicateCall)) {
        return;  // the node still holds the call: its decision comes as usual
      }
      if (p.type == wire::Type::RingNoAnswer && status(router::Status::UnknownCall)) {
        // acd no longer knows the call (it restarted without it): asked anew, as a new call.
        if (Call* call = by_call_id(p.call_id);
            call != nullptr && call->state == CallState::Rerouting && call->suspended &&
            !has_pending_route_request(call->call_id)) {
          resync(*call, now_ns);
        }
        return;
      }
      if (p.type == wire::Type::RouteRequest) {
        if (Call* call = by_call_id(p.call_id); call != nullptr && call->suspended) {
          bump(Counter::rejected);
          reply(*call, 503, "Service Unavailable", e.reason);
          forget(*call);
        }
      }
      return;
    }
    case wire::Type::RouteResponse: {
      const auto r = m.as<wire::RouteResponse>();
      if (r.reply_to != 0) {
        const auto p = pending_.find(r.reply_to);
        if (p == pending_.end()) {
          return;  // the same answer again (a retransmission's)
        }
        if (p->second.type == wire::Type::RouteRequest && now_ns >= p->second.first_ns) {
          decision_latency_.add(now_ns - p->second.first_ns);
        }
        pending_.erase(p);
      }
      Call* call = by_call_id(r.call_id);
      if (call == nullptr) {
        bump(Counter::ignored);
        return;
      }
      apply_decision(*call, r);
      return;
    }
    default:
      return;  // heartbeats (takeover announcements) and what a switch never gets
  }
}

void Bridge::age_out(std::uint64_t now_ns) {
  const std::uint64_t ring_ns = std::uint64_t{config_.ring_s} * 1'000'000'000 + kRingGraceNs;
  const std::uint64_t talk_ns = std::uint64_t{config_.max_call_s} * 1'000'000'000;
  std::vector<std::string> gone;
  for (auto& [sip, call] : by_sip_) {
    const std::uint64_t age = now_ns > call.since_ns ? now_ns - call.since_ns : 0;
    if (call.state == CallState::Ringing && age > ring_ns) {
      // No reply, failure or CANCEL came for the agent's leg: Kamailio lost the transaction.
      call_event(call, wire::CallEventKind::Abandoned, now_ns);
      gone.push_back(sip);
    } else if (call.state == CallState::Talking && age > talk_ns) {
      call_event(call, wire::CallEventKind::Released, now_ns);
      gone.push_back(sip);
    }
  }
  for (const std::string& sip : gone) {
    bump(Counter::aged_out);
    forget(by_sip_.at(sip));
  }
}

void Bridge::tick(std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (now_ns - last_age_check_ns_ >= 1'000'000'000) {
    last_age_check_ns_ = now_ns;
    age_out(now_ns);
  }
  // Kamailio confirms every command it reads. When the oldest one stays unconfirmed for 2 s (a
  // configuration that sends no "done", or a "done" lost), the window opens again rather than
  // hold every later call: counted, as the commands written meanwhile may have been lost.
  if (unconfirmed_.empty()) {
    stalled_seq_ = 0;
  } else if (stalled_seq_ != unconfirmed_.front().seq) {
    stalled_seq_ = unconfirmed_.front().seq;
    stalled_since_ns_ = now_ns;
  } else if (now_ns - stalled_since_ns_ >= 2'000'000'000) {
    bump(Counter::evapi_unconfirmed);
    evapi_connected();
  }
  const std::uint64_t retry_ns = std::uint64_t{config_.retry_ms} * 1'000'000;
  const std::uint64_t heartbeat_ns = std::uint64_t{config_.heartbeat_ms} * 1'000'000;
  if (heartbeat_ns != 0 && heartbeat_seq_ == 0 && now_ns - last_heartbeat_ns_ >= heartbeat_ns) {
    // Unanswered, it keeps a request waiting: the shell's silence check renews the session.
    wire::Heartbeat h{};
    h.sent_ns = now_ns;
    send(wire::Type::Heartbeat, h, now_ns);
    heartbeat_seq_ = next_seq_ - 1;
    last_heartbeat_ns_ = now_ns;
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now_ns - p.sent_ns < retry_ns) {
      ++it;
      continue;
    }
    if (p.tries >= config_.retries && p.type != wire::Type::Register) {
      if (it->first == heartbeat_seq_) {
        heartbeat_seq_ = 0;
      }
      if (p.type == wire::Type::RouteRequest) {
        if (Call* call = by_call_id(p.call_id); call != nullptr && call->suspended) {
          bump(Counter::rejected);
          reply(*call, 503, "Service Unavailable", 0);
          forget(*call);
        }
      }
      it = pending_.erase(it);
      continue;
    }
    ++p.tries;
    p.sent_ns = now_ns;
    bump(Counter::retransmits);
    requests_.push_back(Request{p.type, it->first, p.body});
    ++it;
  }
}

std::size_t Bridge::calls_in(CallState s) const {
  std::size_t n = 0;
  for (const auto& [id, call] : by_sip_) {
    n += call.state == s ? 1 : 0;
  }
  return n;
}

std::size_t Bridge::suspended() const {
  std::size_t n = 0;
  for (const auto& [id, call] : by_sip_) {
    n += call.suspended ? 1 : 0;
  }
  return n;
}

std::vector<std::string> Bridge::take_commands(std::uint64_t now_ns) {
  std::vector<std::string> out;
  while (!commands_.empty()) {
    const std::size_t length = commands_.front().text.size();
    const std::size_t bytes = std::to_string(length).size() + length + 2;  // "LEN:" ... ","
    if (!unconfirmed_.empty() && unconfirmed_bytes_ + bytes > kEvapiWindow) {
      break;  // one command always goes when none waits: it fits one evapi read alone
    }
    unconfirmed_.push_back(Unconfirmed{commands_.front().seq, bytes, now_ns});
    unconfirmed_bytes_ += bytes;
    out.push_back(std::move(commands_.front().text));
    commands_.pop_front();
  }
  return out;
}
std::vector<Request> Bridge::take_requests() {
  return std::exchange(requests_, {});
}

}  // namespace acd::sip
