#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/thread_name.hpp"

#include <pthread.h>
#include <sched.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>

namespace acd::dataplane {

std::string_view describe(CommandResult r) {
  static constexpr std::string_view kTexts[] = {
#define ACD_X(name, text) text,
      ACD_COMMAND_RESULT_LIST(ACD_X)
#undef ACD_X
  };
  return kTexts[static_cast<std::size_t>(r)];
}

using router::Decision;
using router::DecisionType;
using router::kNone;

router::Micros SteadyClock::now() {
  return static_cast<router::Micros>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
}

bool pin_to_cpu(int cpu) {
  if (cpu < 0) {
    return false;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

int make_realtime(std::thread::native_handle_type thread, int priority) {
  if (priority < sched_get_priority_min(SCHED_FIFO) ||
      priority > sched_get_priority_max(SCHED_FIFO)) {
    return EINVAL;
  }
  sched_param param{};
  param.sched_priority = priority;
  return pthread_setschedparam(thread, SCHED_FIFO | SCHED_RESET_ON_FORK, &param);
}

// ---------------------------------------------------------------------------------------------
// Reply cache.

ReplyCache::ReplyCache(std::uint32_t clients, std::uint32_t per_client)
    : per_client_(std::max<std::uint32_t>(per_client, 1)),
      entries_(static_cast<std::size_t>(clients) * per_client_),
      highest_(clients, 0),
      generation_(clients, 0) {}

ReplyCache::Lookup ReplyCache::find(std::uint32_t slot, std::uint64_t seq,
                                    std::span<const std::uint8_t>& reply) {
  if (seq + per_client_ <= highest_[slot]) {
    return Lookup::Stale;  // older than the window: it may have been answered, we cannot tell
  }
  Entry& e = entry(slot, seq);
  if (e.seq == seq && (e.state == kAnswered || e.state == kAnsweredHere)) {
    reply = std::span<const std::uint8_t>(e.bytes, e.length);
    return Lookup::Answered;
  }
  if (e.seq == seq && e.state == kPending) {
    return Lookup::Pending;
  }
  return Lookup::New;
}

void ReplyCache::mark_pending(std::uint32_t slot, std::uint64_t seq) {
  Entry& e = entry(slot, seq);
  e.seq = seq;
  e.state = kPending;
  e.length = 0;
  highest_[slot] = std::max(highest_[slot], seq);
}

void ReplyCache::store(std::uint32_t slot, std::uint64_t seq, std::span<const std::uint8_t> message,
                       bool replicated) {
  Entry& e = entry(slot, seq);
  highest_[slot] = std::max(highest_[slot], seq);
  if (!replicated && e.state == kAnswered && e.seq != seq) {
    // A reply the log made stays: a standby, which never sees an answer given only here, holds
    // it too, and the two nodes' images stay the same. The answer leaves uncached; a
    // retransmission of its request is answered the same way again.
    return;
  }
  e.seq = seq;
  e.state = replicated ? kAnswered : kAnsweredHere;
  e.length = static_cast<std::uint16_t>(std::min(message.size(), kMaxReply));
  std::memcpy(e.bytes, message.data(), e.length);
}

void ReplyCache::reset(std::uint32_t slot) {
  if (++generation_[slot] == 0) {
    // After 2^32 resets of one slot an entry of generation 0 would count again: clear them all
    // this once (the only sweep of a window, 80 bytes × per_client).
    std::fill_n(entries_.begin() +
                    static_cast<std::ptrdiff_t>(static_cast<std::size_t>(slot) * per_client_),
                per_client_, Entry{});
  }
  highest_[slot] = 0;
}

void ReplyCache::restore_highest(std::uint32_t slot, std::uint64_t seq) {
  highest_[slot] = seq;
}

void ReplyCache::forget(std::uint32_t slot, std::uint64_t seq) {
  Entry& e = entry(slot, seq);
  if (e.seq == seq) {
    e.state = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// IoStage.

IoStage::IoStage(Port& port, Clock& clock, AsyncVerifier* verifier,
                 std::vector<router::AgentNumber> agent_numbers, const DataplaneConfig& config)
    : port_(port),
      sequencer_(clock),
      clock_(clock),
      verifier_(verifier),
      agent_numbers_(std::move(agent_numbers)),
      config_(config),
      cache_(config.max_clients, config.reply_cache_per_client),
      client_ids_(config.max_clients),
      call_owner_(config.max_calls),
      call_agent_(config.max_calls),
      agent_desktop_(agent_numbers_.size(), kNone),
      token_generation_(agent_numbers_.size(), 0),
      rx_(config.burst),
      pending_(64),
      tx_(64),
      held_(std::max<std::size_t>(config.held_datagrams, 128)),
      released_(64) {
  clients_.reserve(config.max_clients);
  last_input_ = clock.now();
  index_agents();
}

bool IoStage::sign_in_waits(const Message& m) const {
  if (m.type != wire::Type::AgentEvent || config_.signin_burst == 0 || verifier_ == nullptr) {
    return false;
  }
  const auto e = m.as<wire::AgentEvent>();
  if (e.kind != wire::AgentEventKind::SignIn || (e.flags & wire::kSignInWithToken) != 0) {
    return false;  // a token's check is one hash here, no verifier job: at once
  }
  return waiting_count_ != 0 || sign_ins_this_cycle_ >= config_.signin_burst;
}

bool IoStage::park_sign_in(std::uint32_t slot, const Message& m) {
  if (waiting_sign_ins_.empty()) {
    waiting_sign_ins_.resize(std::max<std::uint32_t>(config_.max_clients, 1));  // once
  }
  if (waiting_count_ == waiting_sign_ins_.size()) {
    return false;
  }
  WaitingSignIn& w = waiting_sign_ins_[(waiting_head_ + waiting_count_) % waiting_sign_ins_.size()];
  w.slot = slot;
  w.nonce = clients_[slot].nonce;
  w.seq = m.seq;
  std::memcpy(w.body.data(), m.body, w.body.size());
  ++waiting_count_;
  cache_.mark_pending(slot, m.seq);  // its retransmissions are dropped while it waits
  counters_.bump(Counter::signins_deferred);
  return true;
}

std::size_t IoStage::take_waiting_sign_ins() {
  std::size_t taken = 0;
  while (waiting_count_ != 0 &&
         (config_.signin_burst == 0 || sign_ins_this_cycle_ < config_.signin_burst)) {
    WaitingSignIn& w = waiting_sign_ins_[waiting_head_];
    waiting_head_ = (waiting_head_ + 1) % waiting_sign_ins_.size();
    --waiting_count_;
    ++taken;
    const Client& c = clients_[w.slot];
    if (c.registered && c.nonce == w.nonce) {
      // As if it had just arrived: translate() submits it or answers it (Overloaded uncached).
      cache_.forget(w.slot, w.seq);
      ++sign_ins_this_cycle_;
      Input unused;
      const Message m{wire::Type::AgentEvent, w.seq, w.body.data()};
      (void)translate(w.slot, m, unused);  // a password sign-in is never an input here
    }
    wipe(w.body.data(), w.body.size());
  }
  return taken;
}

void IoStage::index_agents() {
  router::IdMap index(agent_numbers_.size());
  for (std::size_t i = 0; i < agent_numbers_.size(); ++i) {
    if (index.find(agent_numbers_[i]) == router::IdMap::kMissing) {  // the first of a repeat
      index.insert(agent_numbers_[i], static_cast<std::uint32_t>(i));
    }
  }
  agent_index_ = std::move(index);
}

std::uint32_t IoStage::client_slot(std::uint32_t client_id, const Endpoint& from,
                                   bool /*registering*/) {
  if (client_id == 0) {
    return kNone;
  }
  const std::uint32_t slot = client_ids_.find(client_id);
  if (slot != router::IdMap::kMissing) {
    return slot;
  }
  if (clients_.size() == config_.max_clients) {
    return kNone;
  }
  const auto created = static_cast<std::uint32_t>(clients_.size());
  clients_.push_back(Client{client_id, from, false});  // within the reserved capacity
  client_ids_.insert(client_id, created);
  return created;
}

namespace {

template <typename Body>
Body body_of(const Message& m) {
  return m.as<Body>();
}

void translate_route_request(const wire::RouteRequest& r, router::Event& e) {
  e.type = router::EventType::RouteRequest;
  e.call = r.call_id;
  e.queue = r.queue;
  e.media = static_cast<router::Media>(r.media);
  e.priority = r.priority;
  e.tier = r.tier;
  e.verification = r.verification;
  e.language = r.language;
  e.skill_count = r.skill_count;
  for (unsigned i = 0; i < r.skill_count; ++i) {
    e.skills[i] = router::SkillRequirement{r.skills[i].skill, r.skills[i].min_level, 0};
  }
}

}  // namespace

bool IoStage::translate(std::uint32_t slot, const Message& m, Input& input) {
  using router::EventType;
  input.client_slot = slot;
  input.request_seq = m.seq;
  input.request_type = m.type;
  router::Event& e = input.event;
  switch (m.type) {
    case wire::Type::Register: {
      // Answered here, not through the log: a retransmitted Register is answered the same way by
      // whichever node gets it.
      wire::Ack ack{m.seq, 0, 0, 0};
      reply(slot, m.seq, wire::Type::Ack, &ack, sizeof(ack), false);
      return false;
    }
    case wire::Type::RouteRequest:
      translate_route_request(body_of<wire::RouteRequest>(m), e);
      return true;
    case wire::Type::SiteRouteRequest: {
      // A RouteRequest that carries where the call has been (router/DESIGN.md "Inter-site
      // overflow"): the engine never sends it back to one of those sites.
      const auto r = body_of<wire::SiteRouteRequest>(m);
      translate_route_request(r.request, e);
      e.reason = r.hops;
      e.number = r.visited;
      return true;
    }
    case wire::Type::SiteSummary: {
      const auto r = body_of<wire::SiteSummary>(m);
      router::SiteSummaryFields f;
      f.site = r.site;
      f.flags = (r.flags & wire::kSiteAcceptsOverflow) != 0 ? router::kSiteAccepts : 0;
      f.sl_permille = r.sl_permille;
      f.queue_key = r.queue_key;
      f.seq = r.summary_seq;
      f.ready_agents = r.ready_agents;
      f.ewt_ms = r.ewt_ms;
      f.load_permille = r.load_permille;
      e = router::site_summary_event(0, f);  // the sequencer stamps the time
      return true;
    }
    case wire::Type::OfferResult: {
      const auto r = body_of<wire::OfferResult>(m);
      e.type = r.accepted != 0 ? EventType::CallAnswered : EventType::OfferRejected;
      e.call = r.call_id;
      return true;
    }
    case wire::Type::CallEvent: {
      const auto r = body_of<wire::CallEvent>(m);
      static constexpr EventType kTypes[] = {EventType::CallAnswered, EventType::CallHeld,
                                             EventType::CallRetrieved, EventType::CallReleased,
                                             EventType::CallAbandoned};
      e.type = kTypes[static_cast<unsigned>(r.kind) - 1];
      e.call = r.call_id;
      return true;
    }
    case wire::Type::RingNoAnswer: {
      // The engine takes it as a declined offer of this very agent (router/DESIGN.md): the
      // role check saw the call at that agent, and the engine checks again in its own order.
      static_assert(static_cast<std::uint16_t>(wire::NoAnswerCause::NoAnswer) ==
                    router::kNoAnswerRangOut);
      const auto r = body_of<wire::RingNoAnswer>(m);
      e.type = EventType::OfferRejected;
      e.call = r.call_id;
      e.agent = r.agent;
      e.reason = static_cast<std::uint16_t>(r.cause);
      return true;
    }
    case wire::Type::AgentEvent: {
      auto r = body_of<wire::AgentEvent>(m);
      if (r.kind == wire::AgentEventKind::SignIn) {
        const router::AgentIndex agent = agent_index(r.agent_number);
        if ((r.flags & wire::kSignInWithToken) != 0 && agent != kNoAgent) {
          return sign_in_with_token(slot, m, r, agent, input);
        }
        SignInJob job;
        std::memcpy(job.password, r.password, sizeof(job.password));
        wipe(r.password, sizeof(r.password));
        if (agent == kNoAgent || verifier_ == nullptr) {
          wipe(job.password, sizeof(job.password));
          audit_agent(AgentAuditEvent::What::SignInRefused, r.agent_number, slot, r.device);
          reply_error(slot, m.seq,
                      agent == kNoAgent
                          ? static_cast<std::uint16_t>(router::Status::NoSuchAgent)
                          : static_cast<std::uint16_t>(wire::WireError::SignInUnavailable),
                      true, false);
          return false;
        }
        ++sign_ins_this_cycle_;
        job.number = r.agent_number;
        job.agent = agent;
        job.client_slot = slot;
        job.request_seq = m.seq;
        job.device = r.device;
        if (!verifier_->submit(job)) {
          // Uncached, with the turn this desktop is to come back at (docs/protocol.md): a
          // shift's refused sign-ins return spread over the time the pool needs, instead of
          // hammering this thread with retries that are refused again.
          counters_.bump(Counter::ring_full);
          wire::Error err{m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), {}};
          const std::uint32_t retry_after =
              verifier_->retry_after_ms(static_cast<std::uint64_t>(clock_.now()));
          std::memcpy(err.detail, &retry_after, sizeof(retry_after));  // little-endian host
          send_message(slot, wire::Type::Error, 0, &err, sizeof(err));
          return false;
        }
        cache_.mark_pending(slot, m.seq);
        return false;
      }
      static constexpr EventType kTypes[] = {EventType::AgentSignIn, EventType::AgentSignOut,
                                             EventType::AgentReady,  EventType::AgentNotReady,
                                             EventType::WrapUpDone,  EventType::ForceReady,
                                             EventType::ForceLogout};
      e.type = kTypes[static_cast<unsigned>(r.kind) - 1];
      e.agent = r.agent;
      e.reason = r.reason;
      e.device = r.device;
      if (r.kind == wire::AgentEventKind::SignOut || r.kind == wire::AgentEventKind::ForceLogout) {
        audit_agent(r.kind == wire::AgentEventKind::SignOut ? AgentAuditEvent::What::SignOut
                                                            : AgentAuditEvent::What::ForceLogout,
                    r.agent < agent_numbers_.size() ? agent_numbers_[r.agent] : 0, slot, r.device);
      }
      return true;
    }
    case wire::Type::TransferRequest: {
      const auto r = body_of<wire::TransferRequest>(m);
      e.call = r.call_id;
      switch (r.kind) {
        case wire::TransferKind::ToQueue:
          e.type = EventType::TransferToQueue;
          e.queue = r.target;
          break;
        case wire::TransferKind::ToAgent:
          e.type = EventType::TransferToAgent;
          e.agent = r.target;
          break;
        case wire::TransferKind::ToAgentId:
          e.type = EventType::TransferToAgentId;
          e.number = r.agent_number;
          break;
      }
      return true;
    }
    case wire::Type::OutboundRequest: {
      const auto r = body_of<wire::OutboundRequest>(m);
      e.call = r.call_id;
      e.media = static_cast<router::Media>(r.media);
      if (r.kind == wire::OutboundKind::ByQueue) {
        e.type = EventType::OutboundToQueue;
        e.queue = r.queue;
      } else {
        e.type = EventType::OutboundToAgentId;
        e.number = r.agent_number;
      }
      return true;
    }
    case wire::Type::Heartbeat:
    case wire::Type::RouteResponse:
    case wire::Type::Offer:
    case wire::Type::Ack:
    case wire::Type::Error:
    case wire::Type::SessionToken:
    case wire::Type::OperationReport:  // answered before translation (report_operation)
    case wire::Type::PasswordChange:   // answered before translation (change_password)
      break;
  }
  counters_.bump(Counter::drop_bad_type);  // a message only acd sends
  reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::BadType), false);
  return false;
}

void IoStage::audit_agent(AgentAuditEvent::What what, router::AgentNumber agent, std::uint32_t slot,
                          std::uint64_t device) noexcept {
  if (audit_ == nullptr) {
    return;
  }
  AgentAuditEvent event;
  event.what = what;
  event.agent = agent;
  event.client_id = slot < clients_.size() ? clients_[slot].id : 0;
  event.device = device;
  audit_->on_agent_event(event);
}

void IoStage::audit_client(std::uint32_t slot, ClientAuditEvent event) noexcept {
  if (audit_ == nullptr || slot >= clients_.size()) {
    return;
  }
  event.client_id = clients_[slot].id;
  event.address = clients_[slot].endpoint.address;
  event.port = ntohs(clients_[slot].endpoint.port);
  audit_->on_client_event(event);
}

void IoStage::reply_error(std::uint32_t slot, std::uint64_t seq, std::uint16_t reason, bool cache,
                          bool replicated) {
  wire::Error err{seq, reason, {}};
  if (cache) {
    reply(slot, seq, wire::Type::Error, &err, sizeof(err), replicated);
  } else {
    send_message(slot, wire::Type::Error, 0, &err, sizeof(err));
  }
}

void IoStage::send_message(std::uint32_t slot, wire::Type type, std::uint64_t seq, const void* body,
                           std::size_t size) {
  std::uint8_t bytes[ReplyCache::kMaxReply + sizeof(wire::MessageHeader)];
  const wire::MessageHeader mh{type, static_cast<std::uint16_t>(sizeof(mh) + size), 0, seq};
  std::memcpy(bytes, &mh, sizeof(mh));
  std::memcpy(bytes + sizeof(mh), body, size);
  append(slot, std::span<const std::uint8_t>(bytes, sizeof(mh) + size));
}

// A reply to a request: remembered for retransmissions, then sent.
void IoStage::reply(std::uint32_t slot, std::uint64_t request_seq, wire::Type type,
                    const void* body, std::size_t size, bool replicated) {
  std::uint8_t bytes[ReplyCache::kMaxReply + sizeof(wire::MessageHeader)];
  const wire::MessageHeader mh{type, static_cast<std::uint16_t>(sizeof(mh) + size), 0, 0};
  std::memcpy(bytes, &mh, sizeof(mh));
  std::memcpy(bytes + sizeof(mh), body, size);
  const std::span<const std::uint8_t> message(bytes, sizeof(mh) + size);
  cache_.store(slot, request_seq, message, replicated);
  append(slot, message);
}

void IoStage::append(std::uint32_t slot, std::span<const std::uint8_t> message) {
  if (replaying_) {
    return;  // a replayed record's replies are cached (reply()) but were sent by the node that
             // wrote it
  }
  if (slot >= clients_.size()) {
    counters_.bump(Counter::unroutable_replies);
    return;
  }
  Pending* p = nullptr;
  for (std::size_t i = 0; i < pending_used_; ++i) {
    if (pending_[i].slot == slot) {
      p = &pending_[i];
      break;
    }
  }
  if (p != nullptr && p->length + message.size() > pending_capacity_) {
    flush();
    p = nullptr;
  }
  if (p == nullptr) {
    if (pending_used_ == pending_.size()) {
      flush();
    }
    p = &pending_[pending_used_++];
    p->slot = slot;
    p->length = sizeof(wire::DatagramHeader);
    p->count = 0;
  }
  std::memcpy(p->bytes.data() + p->length, message.data(), message.size());
  p->length += message.size();
  ++p->count;
  if (p->count == wire::kMaxMessages) {
    flush();
  }
}

std::size_t IoStage::assemble_pending() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < pending_used_; ++i) {
    Pending& p = pending_[i];
    const Client& c = clients_[p.slot];
    const wire::DatagramHeader h{
        wire::kMagic, wire::kVersion, p.count, static_cast<std::uint16_t>(p.length), c.id, epoch_};
    std::memcpy(p.bytes.data(), &h, sizeof(h));
    tx_[n++] = Datagram{c.endpoint, std::span<const std::uint8_t>(p.bytes.data(), p.length)};
    counters_.bump(Counter::tx_messages, p.count);
  }
  pending_used_ = 0;
  return n;
}

std::size_t IoStage::announce_primary() {
  flush();  // anything already built goes the gated way
  const wire::Heartbeat announcement{0, 0};
  std::size_t told = 0;
  for (std::uint32_t slot = 0; slot < clients_.size(); ++slot) {
    if (!clients_[slot].registered) {
      continue;
    }
    if (pending_used_ == pending_.size()) {
      send_now(tx_.data(), assemble_pending());
    }
    send_message(slot, wire::Type::Heartbeat, 0, &announcement, sizeof(announcement));
    ++told;
  }
  send_now(tx_.data(), assemble_pending());
  return told;
}

void IoStage::flush() {
  const std::size_t n = assemble_pending();
  if (shipper_ == nullptr) {
    send_now(tx_.data(), n);
    return;
  }
  // Output gating: these replies may have been caused by any input stamped so far; they leave
  // once the log (standby, journal) has acknowledged the last of those.
  const std::uint64_t caused_by = sequencer_.next() - 1;
  if (held_count_ == 0 && shipper_->released_through() >= caused_by) {
    send_now(tx_.data(), n);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (held_count_ == held_.size()) {
      release_held();  // full: whatever the log allows leaves; the rest is counted and dropped
      if (held_count_ == held_.size()) {
        counters_.bump(Counter::tx_failed);
        continue;
      }
    }
    Held& h = held_[(held_head_ + held_count_++) % held_.size()];
    h.to = tx_[i].peer;
    h.after_seq = caused_by;
    h.length = static_cast<std::uint16_t>(tx_[i].payload.size());
    std::memcpy(h.bytes.data(), tx_[i].payload.data(), h.length);
  }
  release_held();
}

void IoStage::set_security(SessionLayer* layer) {
  security_ = layer;
  if (layer != nullptr) {
    layer->set_epoch(epoch_);
    scratch_.assign(wire::kMaxDatagram, 0);
    sealed_.resize(64);
    pending_capacity_ = wire::kMaxSendDatagram - SessionLayer::kSealGrowth;
  } else {
    pending_capacity_ = wire::kMaxSendDatagram;
  }
}

std::span<const std::uint8_t> IoStage::admit(const Datagram& d) {
  if (security_ == nullptr) {
    return d.payload;
  }
  return security_->admit(d, scratch_);
}

void IoStage::send_handshakes() {
  if (security_ == nullptr) {
    return;
  }
  // Handshake answers leave as they are (they are not sealed) and are not gated: they carry no
  // decision.
  const std::size_t n = security_->collect(released_);
  if (n > 0) {
    const std::size_t sent = port_.send(std::span<const Datagram>(released_.data(), n));
    counters_.bump(Counter::tx_datagrams, sent);
    counters_.bump(Counter::tx_failed, n - sent);
  }
}

void IoStage::send_now(const Datagram* datagrams, std::size_t n) {
  if (security_ != nullptr) {
    // Sealed just before they leave, so each session's counters go out in order.
    for (std::size_t at = 0; at < n; at += sealed_.size()) {
      const std::size_t chunk = std::min(n - at, sealed_.size());
      const std::size_t ready =
          security_->seal(std::span<const Datagram>(datagrams + at, chunk), sealed_);
      if (ready > 0) {
        const std::size_t sent = port_.send(std::span<const Datagram>(sealed_.data(), ready));
        counters_.bump(Counter::tx_datagrams, sent);
        counters_.bump(Counter::tx_failed, ready - sent);
      }
      counters_.bump(Counter::tx_failed, chunk - ready);
    }
    return;
  }
  if (n > 0) {
    const std::size_t sent = port_.send(std::span<const Datagram>(datagrams, n));
    counters_.bump(Counter::tx_datagrams, sent);
    counters_.bump(Counter::tx_failed, n - sent);
  }
}

void IoStage::release_held() {
  if (held_count_ == 0) {
    return;
  }
  const std::uint64_t released = shipper_->released_through();
  while (held_count_ > 0 && held_[held_head_].after_seq <= released) {
    std::size_t n = 0;
    while (n < released_.size() && held_count_ > 0 && held_[held_head_].after_seq <= released) {
      const Held& h = held_[held_head_];
      released_[n++] = Datagram{h.to, std::span<const std::uint8_t>(h.bytes.data(), h.length)};
      held_head_ = (held_head_ + 1) % held_.size();
      --held_count_;
    }
    send_now(released_.data(), n);
  }
}

void IoStage::send_route_response(std::uint32_t slot, std::uint64_t reply_to, const Decision& d) {
  wire::RouteResponse r{};
  r.reply_to = reply_to;
  r.call_id = d.call;
  r.status = static_cast<std::uint16_t>(d.status);
  r.agent = d.agent;
  r.queue = d.queue;
  switch (d.type) {
    case DecisionType::Offer:
    case DecisionType::OutboundReserved:
      r.result = wire::RouteResult::Agent;
      r.agent_number = d.number;
      break;
    case DecisionType::Queued:
      r.result = wire::RouteResult::Queued;
      r.position = d.position;
      r.ewt_ms = d.ewt_ms;
      break;
    case DecisionType::Overflowed:
      r.result = wire::RouteResult::Overflow;
      r.action = static_cast<std::uint8_t>(d.action);
      r.target = d.target;
      if (d.action == router::OverflowAction::ToSite) {
        // What the next site's SiteRouteRequest carries (docs/protocol.md).
        r.agent = d.reason;
        r.agent_number = d.number;
      }
      break;
    default:
      r.result = wire::RouteResult::Rejected;
      break;
  }
  if (reply_to != 0) {
    reply(slot, reply_to, wire::Type::RouteResponse, &r, sizeof(r));
  } else {
    send_message(slot, wire::Type::RouteResponse, 0, &r, sizeof(r));
  }
}

void IoStage::handle(const Output& o) {
  if (o.client_slot == kImageClient) {
    // The capture's own tick may fire timers: those decisions go out like any other.
    if (o.end) {
      finish_image(o.input_seq);
    } else {
      Output tick = o;
      tick.client_slot = kNone;
      handle_decision(tick);
    }
    return;
  }
  const bool command = o.client_slot == kControlClient;
  if (o.end) {
    if (command) {
      // An operator command: its result goes back to the control thread, not to the network.
      if (swap_ != nullptr && o.request_seq == swap_ticket_) {
        if (o.command_result == CommandResult::Done) {
          std::swap(agent_numbers_, swap_->agent_numbers);
          index_agents();  // a reload's one allocation here, beside the engine's swap
          agent_desktop_.resize(agent_numbers_.size(), kNone);
          token_generation_.resize(agent_numbers_.size(), 0);
        }
        swap_ = nullptr;
      }
      if (reload_tag_ != nullptr && o.input_seq == reload_seq_) {
        if (o.command_result == CommandResult::Done) {
          config_tag_ = reload_tag_;  // what images carry from here on
        }
        reload_tag_ = nullptr;
      }
      if (control_ != nullptr && !replaying_) {
        command_reply_.ticket = o.request_seq;
        command_reply_.engine_status = static_cast<router::Status>(failure_);
        command_reply_.result = o.command_result != CommandResult::Done ? o.command_result
                                : failure_ != 0                         ? CommandResult::Refused
                                                                        : CommandResult::Done;
        control_->post(command_reply_);
      }
      command_reply_.count = 0;
      command_reply_.truncated = false;
    } else if (o.client_slot != kNone) {
      counters_.bump(Counter::decisions);
      // A sign-in the engine took (no Error) binds its client to the agent, and its Ack tells
      // the desktop the agent's index.
      const bool signed_in = o.request_event == router::EventType::AgentSignIn && !answered_ &&
                             o.client_slot < clients_.size() &&
                             o.request_agent < agent_desktop_.size();
      if (signed_in) {
        bind_agent(o.client_slot, o.request_agent);
      }
      const bool must_change = signed_in && (o.request_reason & kSignInMustChange) != 0;
      if (!answered_) {
        const wire::Ack ack{o.request_seq, failure_,
                            must_change ? wire::kAckMustChangePassword : std::uint16_t{0},
                            signed_in ? o.request_agent : 0};
        reply(o.client_slot, o.request_seq, wire::Type::Ack, &ack, sizeof(ack));
      }
      // No token for a secret that must be replaced: the next sign-in asks for the new password.
      if (signed_in && !must_change && !replaying_) {
        send_token(o.client_slot, o.request_seq, o.request_agent);
      }
    }
    answered_ = false;
    failure_ = 0;
    return;
  }
  if (command && o.preview) {
    // Not a decision taken: it goes back to the operator only.
    if (command_reply_.count < command_reply_.decisions.size()) {
      command_reply_.decisions[command_reply_.count++] = o.decision;
    } else {
      command_reply_.truncated = true;
    }
    return;
  }
  if (command) {
    const DecisionType t = o.decision.type;
    if (failure_ == 0 && (t == DecisionType::Error || t == DecisionType::TransferFailed ||
                          t == DecisionType::OutboundFailed)) {
      failure_ = static_cast<std::uint16_t>(o.decision.status);
    }
    if (t == DecisionType::Error) {
      return;  // the command's own refusal: nothing to tell the network
    }
  }
  // Decisions a command causes (an agent made ready takes a waiting call) reach the call's switch
  // and the agent's desktop like any other.
  handle_decision(o);
}

void IoStage::handle_decision(const Output& o) {
  const Decision& d = o.decision;
  const bool asked = o.client_slot != kNone && !answered_ && d.call == o.request_call &&
                     (o.request_type == wire::Type::RouteRequest ||
                      o.request_type == wire::Type::SiteRouteRequest ||
                      o.request_type == wire::Type::OutboundRequest);
  auto to_owner = [&](std::uint64_t reply_to) {
    if (asked) {
      send_route_response(o.client_slot, o.request_seq, d);
      answered_ = true;
      return;
    }
    const std::uint32_t owner = call_owner_.find(d.call);
    if (owner != router::IdMap::kMissing) {
      send_route_response(owner, reply_to, d);
    }
  };
  switch (d.type) {
    case DecisionType::Offer:
    case DecisionType::OutboundReserved:
    case DecisionType::Queued:
      if (asked && call_owner_.find(d.call) == router::IdMap::kMissing &&
          call_owner_.size() < config_.max_calls) {
        call_owner_.insert(d.call, o.client_slot);
      }
      to_owner(0);
      // Where the call is: what a desktop may act on (roles.hpp).
      call_agent_.erase(d.call);
      if (d.type != DecisionType::Queued && call_agent_.size() < config_.max_calls) {
        call_agent_.insert(d.call, d.agent);
      }
      if (d.type != DecisionType::Queued && d.agent < agent_desktop_.size() &&
          agent_desktop_[d.agent] != kNone) {
        const wire::Offer offer{d.call, d.agent, d.queue, 0};
        send_message(agent_desktop_[d.agent], wire::Type::Offer, 0, &offer, sizeof(offer));
      }
      break;
    case DecisionType::Overflowed:
      to_owner(0);
      call_agent_.erase(d.call);
      // A call moved to another queue, or whose caller keeps their place for a callback, stays
      // in the engine: its switch hears of it again (the callback's Offer is its cue to dial).
      if (d.action != router::OverflowAction::ToQueue &&
          d.action != router::OverflowAction::CallbackKeepPlace) {
        call_owner_.erase(d.call);
      }
      break;
    case DecisionType::Rejected:
    case DecisionType::OutboundFailed:
      to_owner(0);
      call_owner_.erase(d.call);
      call_agent_.erase(d.call);
      break;
    case DecisionType::RingNoAnswer:
      call_agent_.erase(d.call);  // back in its queue (or offered again: an Offer follows)
      break;
    case DecisionType::CallEnded:
      call_owner_.erase(d.call);
      call_agent_.erase(d.call);
      break;
    case DecisionType::AgentStateChanged:
      if (d.state == router::AgentState::LoggedOut) {
        const std::uint32_t desk =
            d.agent < agent_desktop_.size() ? agent_desktop_[d.agent] : kNone;
        if (o.request_event == router::EventType::AgentSignIn && desk != kNone &&
            desk != o.client_slot) {
          // A desk move (a token sign-in from another desktop took the agent): the old desktop
          // is told, unasked (reply_to 0; not cached: a node that takes over does not repeat it).
          // Its next message for the agent is refused AgentMoved, here and on any node that
          // applied the move from the log.
          if (desk < clients_.size()) {
            clients_[desk].moved_agent = d.agent;
          }
          counters_.bump(Counter::desk_moves);
          const wire::Error moved{0, static_cast<std::uint16_t>(wire::WireError::AgentMoved), {}};
          send_message(desk, wire::Type::Error, 0, &moved, sizeof(moved));
        }
        unbind_agent(d.agent);  // signed out, forced out: its desktop acts for nobody now
        // ... and the day's session tokens end with it, on every node that applies the log.
        if (d.agent < token_generation_.size()) {
          ++token_generation_[d.agent];
        }
      }
      break;
    case DecisionType::Error:
      if (o.client_slot != kNone && !answered_) {
        reply_error(o.client_slot, o.request_seq, static_cast<std::uint16_t>(d.status), true);
        answered_ = true;
      }
      break;
    case DecisionType::TransferFailed:
      if (failure_ == 0) {
        failure_ = static_cast<std::uint16_t>(d.status);
      }
      break;
    default:
      break;
  }
}

std::size_t IoStage::refuse_as_standby() {
  send_handshakes();  // a standby makes sessions too: clients keep one with each node
  const std::size_t n = port_.receive(rx_);
  for (std::size_t i = 0; i < n; ++i) {
    const Datagram& d = rx_[i];
    counters_.bump(Counter::rx_datagrams);
    const std::span<const std::uint8_t> payload = admit(d);
    if (payload.empty()) {
      continue;  // ACDP/2: a handshake, or dropped (counted by the layer)
    }
    wire::DatagramHeader header;
    if (check_header(payload, header) != HeaderCheck::Ok) {
      counters_.bump(Counter::drop_bad_magic);
      continue;
    }
    // Known clients only (the log made them known): a standby allocates nothing for strangers.
    const std::uint32_t slot = client_ids_.find(header.client_id);
    if (slot == router::IdMap::kMissing) {
      counters_.bump(Counter::drop_not_registered);
      continue;
    }
    for_each_message(
        payload, header,
        [&](const Message& m) {
          wire::Error err{m.seq, static_cast<std::uint16_t>(wire::WireError::NotPrimary), {}};
          std::memcpy(err.detail, &primary_.address, 4);
          std::memcpy(err.detail + 4, &primary_.port, 2);
          // To the address it came from: the client may be trying this node from anywhere.
          Client& c = clients_[slot];
          const Endpoint registered = c.endpoint;
          c.endpoint = d.peer;
          send_message(slot, wire::Type::Error, 0, &err, sizeof(err));
          flush();  // now, while the endpoint is the sender's (a standby has no shipper: no gating)
          c.endpoint = registered;
        },
        [](std::uint64_t, wire::WireError) {});
    if (security_ != nullptr) {
      wipe(scratch_.data(), payload.size());
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The sequenced log: records out (stamp, registrations), records in (replay), node images.

void IoStage::set_shipper(LogShipper* shipper) {
  shipper_ = shipper;
}

void IoStage::stamp(Input& input) {
  const bool reload = std::holds_alternative<Reconfigure>(input.command) ||
                      std::holds_alternative<SwapEngine>(input.command);
  std::span<const std::uint8_t> config;
  if (reload && input.config_tag != nullptr) {
    config = input.config_tag->log_payload;
  }
  // A configuration too large for one record: every piece but the last in ConfigChunk records at
  // the seqs right before the reload's (a follower keeps them and applies the whole at the
  // ConfigChange, like this node). Taken even without a shipper, so the numbering is the same.
  std::size_t last_piece = 0;
  if (config.size() > kMaxConfigPayload) {
    last_piece = (reload_records(config.size()) - 1) * kMaxConfigPayload;
    for (std::size_t at = 0; at < last_piece; at += kMaxConfigPayload) {
      const std::uint64_t seq = sequencer_.take();
      if (shipper_ == nullptr) {
        continue;
      }
      LogRecord c;
      c.kind = RecordKind::ConfigChunk;
      c.client_id = kControlClientId;
      c.config_total = static_cast<std::uint32_t>(config.size());
      c.config_offset = static_cast<std::uint32_t>(at);
      c.config = config.subspan(at, kMaxConfigPayload);
      chunk_bytes_.resize(kMaxLogRecord + kMaxConfigPayload);
      const std::size_t n = encode_record(c, chunk_bytes_);
      shipper_->append(seq, std::span<const std::uint8_t>(chunk_bytes_.data(), n));
    }
    chunk_bytes_ = {};
  }
  sequencer_.stamp(input);
  if (reload) {
    reload_tag_ = input.config_tag;
    reload_seq_ = input.seq;
  }
  if (shipper_ == nullptr) {
    return;
  }
  LogRecord r;
  r.event = input.event;
  r.request_seq = input.request_seq;
  r.request_type = input.request_type;
  const std::uint32_t slot = input.client_slot;
  r.client_id = slot == kControlClient   ? kControlClientId
                : slot < clients_.size() ? clients_[slot].id
                                         : kNoClientId;
  if (reload) {
    // A reload: the record carries the configuration (its last piece), and a follower applies it
    // here, in the same place of the sequence. An image follows, so that a restart replays little.
    r.kind = RecordKind::ConfigChange;
    r.config = config.subspan(last_piece);
    r.config_total = last_piece != 0 ? static_cast<std::uint32_t>(config.size()) : 0;
    image_wanted_ = true;
    // Rare and large: encoded into a buffer of its own (the one allocation of a reload here).
    std::vector<std::uint8_t> bytes(kMaxLogRecord + r.config.size());
    const std::size_t n = encode_record(r, bytes);
    shipper_->append(input.seq, std::span<const std::uint8_t>(bytes.data(), n));
    return;
  } else if (!std::holds_alternative<ApplyEvent>(input.command)) {
    // A preview or a capture changes nothing but the time: a tick, for whoever replays it.
    r.event = router::Event{};
    r.event.time = input.event.time;
    r.client_id = kNoClientId;
    r.request_seq = 0;
    r.request_type = wire::Type::Heartbeat;
  }
  log_record(input.seq, r);
}

void IoStage::log_record(std::uint64_t seq, const LogRecord& record) {
  std::array<std::uint8_t, kMaxLogRecord> bytes;
  const std::size_t n = encode_record(record, bytes);
  shipper_->append(seq, std::span<const std::uint8_t>(bytes.data(), n));
}

bool IoStage::register_client(std::uint32_t slot, std::uint64_t nonce, const Endpoint& from,
                              wire::Role role) {
  const Client& c = clients_[slot];
  if (c.registered && c.nonce == nonce && c.endpoint == from && c.role == role) {
    return true;  // nothing changes: nothing to log
  }
  if (shipper_ != nullptr) {
    if (!shipper_->has_room()) {
      return false;
    }
    LogRecord r;
    r.kind = RecordKind::Register;
    r.client_id = c.id;
    r.nonce = nonce;
    r.endpoint = from;
    r.role = role;
    log_record(sequencer_.take(), r);
  }
  apply_registration(slot, nonce, from, role);
  ClientAuditEvent registered;
  registered.what = ClientAuditEvent::What::Registered;
  registered.role = role;
  audit_client(slot, registered);
  return true;
}

void IoStage::report_operation(std::uint32_t slot, const Message& m) {
  LogRecord r;
  r.kind = RecordKind::Operation;
  r.client_id = clients_[slot].id;
  r.request_seq = m.seq;
  r.operation = m.as<wire::OperationReport>();
  const router::AgentIndex agent = clients_[slot].agent;
  r.agent_number = agent < agent_numbers_.size() ? agent_numbers_[agent] : 0;
  r.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  std::uint64_t seq = 0;
  if (shipper_ != nullptr) {
    if (!shipper_->has_room()) {
      counters_.bump(Counter::ring_full);
      reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
      return;
    }
    seq = sequencer_.take();
    log_record(seq, r);
  }
  apply_operation(slot, seq, r);
}

namespace {

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void IoStage::change_password(std::uint32_t slot, const Message& m) {
  auto refuse = [&](wire::WireError why) {
    counters_.bump(Counter::password_change_refused);
    reply_error(slot, m.seq, static_cast<std::uint16_t>(why), true, false);
  };
  // Passwords only inside an authenticated session: one seen in clear text is refused (and is to
  // be treated as disclosed).
  if (security_ == nullptr) {
    refuse(wire::WireError::PasswordChangeRefused);
    return;
  }
  if (verifier_ == nullptr) {
    refuse(wire::WireError::PasswordChangeUnavailable);
    return;
  }
  const router::AgentIndex agent = clients_[slot].agent;  // bound: the role check saw to it
  SignInJob job;
  job.task = VerifierTask::PasswordChange;
  job.number = agent_numbers_[agent];
  job.agent = agent;
  job.client_slot = slot;
  job.request_seq = m.seq;
  // Straight from the datagram's plaintext (wiped after the datagram) into the job: no other copy.
  std::memcpy(job.password, m.body + offsetof(wire::PasswordChange, old_password),
              sizeof(job.password));
  std::memcpy(job.new_password, m.body + offsetof(wire::PasswordChange, new_password),
              sizeof(job.new_password));
  if (!verifier_->submit(job)) {  // wipes the job's copies
    counters_.bump(Counter::ring_full);
    reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
    return;
  }
  cache_.mark_pending(slot, m.seq);
}

void IoStage::finish_password_change(const SignInResult& r) {
  const std::uint32_t slot = r.client_slot;
  if (r.change != ChangeOutcome::Changed) {
    counters_.bump(Counter::password_change_refused);
    const wire::WireError why = r.change == ChangeOutcome::Policy ? wire::WireError::PasswordPolicy
                                : r.change == ChangeOutcome::Refused
                                    ? wire::WireError::PasswordChangeRefused
                                    : wire::WireError::PasswordChangeUnavailable;
    // A wrong old password is an answer (cached); the others may pass with a retry.
    const bool cache = r.change == ChangeOutcome::Refused;
    if (!cache) {
      cache_.forget(slot, r.request_seq);
    }
    reply_error(slot, r.request_seq, static_cast<std::uint16_t>(why), cache, false);
    return;
  }
  LogRecord rec;
  rec.kind = RecordKind::CredentialChange;
  rec.client_id = slot < clients_.size() ? clients_[slot].id : kNoClientId;
  rec.request_seq = r.request_seq;
  rec.agent_number = r.number;
  rec.wall_ms = wall_now_ms();
  rec.credential = CredentialChangeKind::Password;
  rec.credential_hash = std::string_view(r.hash, strnlen(r.hash, sizeof(r.hash)));
  rec.credential_replaces = r.replaced;
  if (!credential_room()) {
    // Nothing is stored before the record is logged: the old password stays, and the retry is
    // checked afresh.
    counters_.bump(Counter::ring_full);
    cache_.forget(slot, r.request_seq);
    reply_error(slot, r.request_seq, static_cast<std::uint16_t>(wire::WireError::Overloaded),
                false);
    return;
  }
  if (shipper_ != nullptr) {
    log_record(sequencer_.take(), rec);
  }
  apply_credential_change(slot, rec);
}

bool IoStage::credential_room() const {
  return (shipper_ == nullptr || shipper_->has_room()) &&
         (credentials_ == nullptr || credentials_->has_room());
}

bool IoStage::log_enrolment_spent(const SignInResult& r) {
  LogRecord rec;
  rec.kind = RecordKind::CredentialChange;
  rec.client_id = kNoClientId;
  rec.agent_number = r.number;
  rec.wall_ms = wall_now_ms();
  rec.credential = CredentialChangeKind::EnrolmentSpent;
  rec.credential_hash = std::string_view(r.hash, strnlen(r.hash, sizeof(r.hash)));
  if (!credential_room()) {
    return false;
  }
  if (shipper_ != nullptr) {
    log_record(sequencer_.take(), rec);
  }
  apply_credential_change(kNone, rec);
  return true;
}

void IoStage::apply_credential_change(std::uint32_t slot, const LogRecord& record) {
  // A password is always argon2id; a spent enrolment code's hash may be a generated code's.
  const bool valid = record.credential == CredentialChangeKind::Password
                         ? valid_argon2id_string(record.credential_hash)
                         : valid_credential_hash(record.credential_hash);
  if (!valid) {
    counters_.bump(Counter::credential_change_refused);
    return;  // never written by a primary: nothing of it is applied
  }
  const bool password = record.credential == CredentialChangeKind::Password;
  // A primary answers its own change once it is stored; a replaying node caches the Ack now.
  const bool answer_later =
      credentials_ != nullptr && password && !replaying_ && slot < clients_.size();
  if (credentials_ != nullptr) {
    CredentialWrite w;
    w.kind = record.credential;
    w.number = record.agent_number;
    w.replaces = record.credential_replaces;
    const std::size_t n = std::min(record.credential_hash.size(), sizeof(w.hash) - 1);
    std::memcpy(w.hash, record.credential_hash.data(), n);
    w.answer = answer_later;
    w.client_slot = slot;
    w.request_seq = record.request_seq;
    w.agent = slot < clients_.size() ? clients_[slot].agent : router::kNone;
    // Room was checked before logging; a replayed record waits for room (it is in the log).
    credentials_->submit_waiting(w);
  }
  if (!password) {
    counters_.bump(Counter::enrolments_spent);
    return;
  }
  counters_.bump(Counter::password_changes);
  // Tokens minted under the old password are refused from here on, on every node alike.
  apply_token_revoke(record.agent_number);
  if (slot < clients_.size() && !answer_later) {
    const wire::Ack ack{record.request_seq, 0, 0, 0};
    reply(slot, record.request_seq, wire::Type::Ack, &ack, sizeof(ack));
    if (!replaying_ && clients_[slot].agent != router::kNone &&
        agent_numbers_[clients_[slot].agent] == record.agent_number) {
      send_token(slot, record.request_seq, clients_[slot].agent);  // of the new generation
    }
  }
}

std::size_t IoStage::collect_credential_writes() {
  if (credentials_ == nullptr) {
    return 0;
  }
  return credentials_->collect([&](const CredentialWriteDone& d) {
    const std::uint32_t slot = d.client_slot;
    if (slot >= clients_.size()) {
      return;
    }
    if (d.outcome == ApplyOutcome::Kept || d.outcome == ApplyOutcome::Refused) {
      // An administrator's reset overtook it (or the agent left the file): not this password.
      counters_.bump(Counter::password_change_refused);
      cache_.forget(slot, d.request_seq);
      reply_error(slot, d.request_seq,
                  static_cast<std::uint16_t>(wire::WireError::PasswordChangeUnavailable), false);
      return;
    }
    const wire::Ack ack{d.request_seq, 0, 0, 0};
    reply(slot, d.request_seq, wire::Type::Ack, &ack, sizeof(ack));
    if (clients_[slot].agent == d.agent && d.agent != router::kNone) {
      send_token(slot, d.request_seq, d.agent);  // the day's token under the new generation
    }
  });
}

bool IoStage::sign_in_with_token(std::uint32_t slot, const Message& m, wire::AgentEvent& event,
                                 router::AgentIndex agent, Input& input) {
  wire::TokenProof proof;
  std::memcpy(&proof, event.password, sizeof(proof));
  wipe(event.password, sizeof(event.password));
  auto refuse = [&](Counter why) {
    wipe(&proof, sizeof(proof));
    counters_.bump(why);
    audit_agent(AgentAuditEvent::What::SignInRefused, event.agent_number, slot, event.device);
    reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::TokenRefused), true,
                false);
    return false;
  };
  // Only inside an authenticated session of a configured desktop: a token seen in clear text, or
  // from any other role, is refused whatever it holds.
  if (tokens_ == nullptr || security_ == nullptr || clients_[slot].role != wire::Role::Desktop) {
    return refuse(Counter::token_refused_path);
  }
  switch (
      tokens_->check(event.agent_number, proof, token_generation_[agent], wall_->unix_seconds())) {
    case TokenCheck::Valid:
      break;
    case TokenCheck::Expired:
      return refuse(Counter::token_refused_expired);
    case TokenCheck::Revoked:
      return refuse(Counter::token_refused_revoked);
    case TokenCheck::TooLong:
    case TokenCheck::Forged:
    case TokenCheck::Malformed:
      return refuse(Counter::token_refused_forged);
  }
  wipe(&proof, sizeof(proof));
  counters_.bump(Counter::token_sign_ins);
  audit_agent(AgentAuditEvent::What::SignIn, event.agent_number, slot, event.device);
  if (agent_desktop_[agent] == slot) {
    // Still signed in from this very client (it restarted, or this node took over): nothing for
    // the engine; the Ack names the agent again, as the first sign-in's did, answered here (a
    // retransmission to the other node gets its own), with the day's token.
    const wire::Ack ack{m.seq, 0, 0, agent};
    reply(slot, m.seq, wire::Type::Ack, &ack, sizeof(ack), false);
    send_token(slot, m.seq, agent);
    return false;
  }
  // The same input a password sign-in's verified result becomes (collect_sign_ins), except that a
  // token may move the agent from another desktop (docs/protocol.md "Desk move"): the engine
  // decides, logged with the input, so a standby decides the same.
  input.event.type = router::EventType::AgentSignIn;
  input.event.agent = agent;
  input.event.device = event.device;
  input.event.reason = router::kSignInMovesDesk;
  return true;
}

void IoStage::send_token(std::uint32_t slot, std::uint64_t seq, router::AgentIndex agent) {
  // To an ACDP/2 desktop only, never in clear text; not cached (docs/protocol.md).
  if (tokens_ == nullptr || security_ == nullptr || slot >= clients_.size() ||
      clients_[slot].role != wire::Role::Desktop || agent >= token_generation_.size()) {
    return;
  }
  wire::SessionToken token{};
  token.reply_to = seq;
  token.agent_number = agent_numbers_[agent];
  token.proof = tokens_->mint(token.agent_number, token_generation_[agent], wall_->unix_seconds());
  send_message(slot, wire::Type::SessionToken, seq, &token, sizeof(token));
  wipe(&token, sizeof(token));
  counters_.bump(Counter::tokens_minted);
}

void IoStage::resend_token(std::uint32_t slot, const Message& m,
                           std::span<const std::uint8_t> cached) {
  const bool sign_in = m.type == wire::Type::AgentEvent &&
                       m.as<wire::AgentEvent>().kind == wire::AgentEventKind::SignIn;
  const bool change = m.type == wire::Type::PasswordChange;
  if (tokens_ == nullptr || (!sign_in && !change) ||
      cached.size() != sizeof(wire::MessageHeader) + sizeof(wire::Ack)) {
    return;
  }
  wire::MessageHeader mh;
  wire::Ack ack;
  std::memcpy(&mh, cached.data(), sizeof(mh));
  std::memcpy(&ack, cached.data() + sizeof(mh), sizeof(ack));
  const router::AgentIndex agent = clients_[slot].agent;
  if (mh.type != wire::Type::Ack || ack.status != 0 || agent == router::kNone) {
    return;
  }
  if (change) {
    // The change's Ack names no agent: the token is for the agent the message names, while this
    // client is still bound to it (the same generation as the first answer's token).
    router::AgentNumber named = 0;  // read alone: the message's passwords stay where they are
    std::memcpy(&named, m.body + offsetof(wire::PasswordChange, agent_number), sizeof(named));
    if (agent_numbers_[agent] == named) {
      send_token(slot, m.seq, agent);
    }
    return;
  }
  if ((ack.flags & wire::kAckMustChangePassword) == 0 && agent == ack.agent) {
    send_token(slot, m.seq, agent);
  }
}

void IoStage::revoke_tokens(const ControlRequest& request) {
  ControlReply answer;
  answer.ticket = request.ticket;
  const router::AgentNumber number = request.event.number;
  if (number == 0 ||
      std::find(agent_numbers_.begin(), agent_numbers_.end(), number) == agent_numbers_.end()) {
    answer.result = CommandResult::Refused;
    answer.engine_status = router::Status::NoSuchAgent;
    control_->post(answer);
    return;
  }
  if (shipper_ != nullptr) {
    if (!shipper_->has_room()) {
      answer.result = CommandResult::Overloaded;
      control_->post(answer);
      return;
    }
    LogRecord r;
    r.kind = RecordKind::TokenRevoke;
    r.client_id = kControlClientId;
    r.agent_number = number;
    r.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    log_record(sequencer_.take(), r);
  }
  apply_token_revoke(number);
  control_->post(answer);
}

void IoStage::apply_token_revoke(router::AgentNumber agent) {
  const auto it = std::find(agent_numbers_.begin(), agent_numbers_.end(), agent);
  if (it == agent_numbers_.end()) {
    return;  // an agent this node's configuration lacks: it has no tokens here
  }
  ++token_generation_[static_cast<std::size_t>(it - agent_numbers_.begin())];
  counters_.bump(Counter::tokens_revoked);
}

void IoStage::apply_operation(std::uint32_t slot, std::uint64_t seq, const LogRecord& record) {
  if (audit_ != nullptr) {
    OperationAuditEvent event;
    event.report = record.operation;
    event.agent = record.agent_number;
    event.client_id = record.client_id;
    event.log_seq = seq;
    event.wall_ms = record.wall_ms;
    audit_->on_operation(event);
  }
  counters_.bump(Counter::operations_reported);
  const wire::Ack ack{record.request_seq, 0, 0, 0};
  reply(slot, record.request_seq, wire::Type::Ack, &ack, sizeof(ack));
}

void IoStage::apply_registration(std::uint32_t slot, std::uint64_t nonce, const Endpoint& from,
                                 wire::Role role) {
  Client& c = clients_[slot];
  if (!c.registered || nonce != c.nonce) {
    cache_.reset(slot);  // a (re)started client numbers its messages afresh
  }
  c.endpoint = from;
  c.registered = true;
  c.nonce = nonce;
  // The one place a client's role is set. A restarted desktop keeps its agent: the agent is
  // still signed in.
  c.role = role;
}

std::size_t IoStage::collect_export_position() {
  if (export_positions_ == nullptr) {
    return 0;
  }
  const ExportPosition offered = export_positions_->take_latest();
  if (offered > export_wanted_) {
    export_wanted_ = offered;
  }
  if (shipper_ == nullptr || standby_ || export_wanted_ <= export_logged_ ||
      !shipper_->has_room()) {
    return 0;  // kept: a later cycle logs it once the log has room
  }
  LogRecord r;
  r.kind = RecordKind::ExportPosition;
  r.client_id = kNoClientId;
  r.export_position = export_wanted_;
  log_record(sequencer_.take(), r);
  export_logged_ = export_wanted_;
  counters_.bump(Counter::export_positions_logged);
  return 1;
}

void IoStage::poll_log() {
  if (shipper_ == nullptr) {
    return;
  }
  ship_waiting_image();
  shipper_->poll();
  release_held();
}

void IoStage::finish_image(std::uint64_t seq) {
  if (!capturing_) {
    return;
  }
  capturing_ = false;
  if (!capturing_image_) {
    if (shipper_ != nullptr && !replaying_) {
      shipper_->on_hash(seq, engine_hash_);
    }
    return;
  }
  NodeImage image;
  image.seq = seq;
  image.engine = std::move(engine_image_);
  image.session = save_session();
  if (config_tag_ != nullptr) {
    image.config = config_tag_->log_payload;
  }
  engine_image_ = {};
  if (shipper_ == nullptr || replaying_) {
    return;
  }
  if (history_states_ != nullptr && !standby_ && history_states_->wanted() == seq) {
    waiting_image_ = std::move(image);  // until the history thread's state at seq, or the wait
    waiting_since_ = clock_.now();
    ship_waiting_image();               // it may be there already
    return;
  }
  shipper_->on_image(std::move(image));
}

void IoStage::ship_waiting_image() {
  if (!waiting_image_) {
    return;
  }
  NodeImage& image = *waiting_image_;
  const auto answer = history_states_->take(image.seq, image.history);
  if (answer == HistoryStateChannel::Answer::None && !standby_ &&
      clock_.now() - waiting_since_ < history_wait_) {
    return;  // a later cycle
  }
  counters_.bump(answer == HistoryStateChannel::Answer::Ready ? Counter::images_with_history
                                                              : Counter::images_without_history);
  history_states_->request(0);
  NodeImage out = std::move(image);
  waiting_image_.reset();
  shipper_->on_image(std::move(out));
}

IoStage::Replay IoStage::replay(std::uint64_t seq, std::span<const std::uint8_t> bytes,
                                RouterStage& router) {
  LogRecord r;
  if (!decode_record(bytes, r)) {
    return Replay::Malformed;
  }
  if (seq != sequencer_.next()) {
    return Replay::OutOfOrder;
  }
  if (r.kind == RecordKind::ConfigChange) {
    return replay_reload(seq, r, router);
  }
  if (r.kind == RecordKind::ConfigChunk) {
    if (!config_pieces_.chunk(seq, r)) {
      return Replay::Malformed;  // continues no piece before it: the log has a hole
    }
    sequencer_.take();
    return Replay::Applied;
  }
  if (r.kind == RecordKind::ExportPosition) {
    // Nothing here to change: the history thread reads it from the journal. Kept, so that a
    // promoted standby never logs a position below its old primary's.
    sequencer_.take();
    export_logged_ = std::max(export_logged_, r.export_position);
    return Replay::Applied;
  }
  std::uint32_t slot = kNone;
  if (r.client_id == kControlClientId) {
    slot = kControlClient;
  } else if (r.client_id != kNoClientId) {
    slot = client_slot(r.client_id, r.endpoint, false);
    if (slot == kNone) {
      return Replay::Malformed;  // more clients than this node has room for
    }
  }
  if (r.kind == RecordKind::Register) {
    sequencer_.take();
    apply_registration(slot, r.nonce, r.endpoint, r.role);
    return Replay::Applied;
  }
  if (r.kind == RecordKind::TokenRevoke) {
    sequencer_.take();
    apply_token_revoke(r.agent_number);
    return Replay::Applied;
  }
  if (r.kind == RecordKind::CredentialChange) {
    sequencer_.take();
    replaying_ = true;
    apply_credential_change(slot, r);
    replaying_ = false;
    return Replay::Applied;
  }
  if (r.kind == RecordKind::Operation) {
    if (slot >= clients_.size()) {
      return Replay::Malformed;  // a report names its desktop
    }
    sequencer_.take();
    replaying_ = true;
    apply_operation(slot, seq, r);
    replaying_ = false;
    return Replay::Applied;
  }
  Input input;
  input.seq = seq;
  input.event = r.event;
  input.client_slot = slot;
  input.request_seq = r.request_seq;
  input.request_type = r.request_type;
  if (slot < clients_.size()) {
    cache_.mark_pending(slot, r.request_seq);  // a sign-in binds its client at its end (handle)
  }
  replaying_ = true;
  router.apply(input, [&](const Output& o) { handle(o); });
  replaying_ = false;
  sequencer_.resume(seq + 1);
  last_input_ = r.event.time;
  return Replay::Applied;
}

namespace {

// Whether a logged reload fits the agent list of the engine it is replayed on, as it fitted the
// engine of the node that logged it: an in-place reload names the running agents (same numbers
// at the same indices), a structural one extends them (the running ones first, by index).
bool same_agent_list(const Command& command, const router::Engine& running) {
  const std::uint32_t n = running.agent_count();
  if (const auto* in_place = std::get_if<Reconfigure>(&command)) {
    const auto& agents = in_place->config->agents;
    if (agents.size() != n) {
      return false;
    }
    for (router::AgentIndex a = 0; a < n; ++a) {
      if (agents[a].number != running.agent_number(a)) {
        return false;
      }
    }
    return true;
  }
  if (const auto* swap = std::get_if<SwapEngine>(&command)) {
    const router::Engine& next = *swap->swap->engine;
    if (next.agent_count() < n) {
      return false;
    }
    for (router::AgentIndex a = 0; a < n; ++a) {
      if (next.agent_number(a) != running.agent_number(a)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

IoStage::Replay IoStage::replay_reload(std::uint64_t seq, const LogRecord& r, RouterStage& router) {
  Input input;
  const ConfigTag* tag = nullptr;
  std::string why;
  const std::span<const std::uint8_t> config = config_pieces_.complete(seq, r);
  const bool prepared = replayer_ != nullptr && !config.empty() &&
                        replayer_->prepare(config, false, input.command, tag, why);
  config_pieces_.release();
  if (!prepared) {
    return Replay::ConfigChange;
  }
  if (!same_agent_list(input.command, router.engine())) {
    // The node that logged this reload ran other agents, or the same in another order: this
    // node's engine did not start from the configuration the log began under (a journal
    // replayed on a configuration file edited since). Applying it, or refusing it as the
    // primary's engine would have, would go on from a different state: nothing is applied.
    replayer_->finish(false);
    return Replay::ConfigChange;
  }
  input.seq = seq;
  input.event.time = r.event.time;
  input.client_slot = kControlClient;
  input.request_type = wire::Type::AgentEvent;
  input.config_tag = tag;
  if (const auto* swap = std::get_if<SwapEngine>(&input.command)) {
    swap_ticket_ = 0;
    swap_ = swap->swap;
  }
  reload_tag_ = tag;
  reload_seq_ = seq;
  bool applied = false;
  replaying_ = true;
  router.apply(input, [&](const Output& o) {
    if (o.end) {
      applied = o.command_result == CommandResult::Done;
    }
    handle(o);
  });
  replaying_ = false;
  replayer_->finish(applied);
  sequencer_.resume(seq + 1);
  last_input_ = r.event.time;
  return Replay::Applied;
}

bool IoStage::restore_image(const NodeImage& image, router::Engine& engine, std::string& why) {
  if (image.config.empty()) {
    if (!engine.restore(image.engine)) {
      why = "the engine image does not fit this node's configuration";
      return false;
    }
    if (!restore_session(image.session)) {
      why = "the session does not fit this node's sizes";
      return false;
    }
    return true;
  }
  Command command;
  const ConfigTag* tag = nullptr;
  if (replayer_ == nullptr) {
    why = "it was taken under a reloaded configuration and nothing here can apply one";
    return false;
  }
  if (!replayer_->prepare(image.config, true, command, tag, why)) {
    return false;
  }
  EngineSwap& swap = *std::get<SwapEngine>(command).swap;
  if (!swap.engine->restore(image.engine)) {
    replayer_->finish(false);
    why = "the engine image does not fit the configuration it names";
    return false;
  }
  // The session's desktops are counted by the new configuration's agents.
  std::swap(agent_numbers_, swap.agent_numbers);
  std::vector<std::uint32_t> desktops(agent_numbers_.size(), kNone);
  std::swap(agent_desktop_, desktops);
  index_agents();
  if (!restore_session(image.session)) {
    std::swap(agent_numbers_, swap.agent_numbers);
    index_agents();
    std::swap(agent_desktop_, desktops);
    replayer_->finish(false);
    why = "the session does not fit this node's sizes";
    return false;
  }
  std::swap(engine, *swap.engine);
  config_tag_ = tag;
  replayer_->finish(true);
  return true;
}

// Session image: u64 next_seq; clients by ID (id, registered, role, nonce, endpoint, reply
// window); call owners by call ID; the agent each call is at, by call ID; each agent's desktop
// client ID (0: none), which is also each client's bound agent; each agent's token generation.
std::vector<std::uint8_t> IoStage::save_session() const {
  std::vector<std::uint8_t> out;
  ByteWriter w(out);
  w.u64(sequencer_.next());
  std::vector<std::uint32_t> order(clients_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return clients_[a].id < clients_[b].id; });
  w.u32(static_cast<std::uint32_t>(order.size()));
  for (const std::uint32_t slot : order) {
    const Client& c = clients_[slot];
    w.u32(c.id);
    w.u8(c.registered ? 1 : 0);
    w.u8(static_cast<std::uint8_t>(c.role));
    w.u64(c.nonce);
    w.u32(c.endpoint.address);
    w.u16(c.endpoint.port);
    // The window's top as the log made it: answers given here only (a Register's) do not count.
    std::uint64_t highest = 0;
    std::uint32_t answered = 0;
    cache_.for_each_answered(slot, [&](std::uint64_t seq, std::span<const std::uint8_t>) {
      highest = std::max(highest, seq);
      ++answered;
    });
    w.u64(highest);
    w.u32(answered);
    cache_.for_each_answered(slot, [&](std::uint64_t seq, std::span<const std::uint8_t> reply) {
      w.u64(seq);
      w.u16(static_cast<std::uint16_t>(reply.size()));
      w.bytes(reply);
    });
  }
  std::vector<std::pair<router::CallId, std::uint32_t>> owners;
  for (const auto& slot : call_owner_.slots()) {
    if (slot.key != 0 && slot.value != router::IdMap::kMissing && slot.value < clients_.size()) {
      owners.emplace_back(slot.key, clients_[slot.value].id);
    }
  }
  std::sort(owners.begin(), owners.end());
  w.u32(static_cast<std::uint32_t>(owners.size()));
  for (const auto& [call, client] : owners) {
    w.u64(call);
    w.u32(client);
  }
  std::vector<std::pair<router::CallId, router::AgentIndex>> at_agent;
  for (const auto& slot : call_agent_.slots()) {
    if (slot.key != 0 && slot.value != router::IdMap::kMissing) {
      at_agent.emplace_back(slot.key, slot.value);
    }
  }
  std::sort(at_agent.begin(), at_agent.end());
  w.u32(static_cast<std::uint32_t>(at_agent.size()));
  for (const auto& [call, agent] : at_agent) {
    w.u64(call);
    w.u32(agent);
  }
  w.u32(static_cast<std::uint32_t>(agent_desktop_.size()));
  for (const std::uint32_t slot : agent_desktop_) {
    w.u32(slot < clients_.size() ? clients_[slot].id : kNoClientId);
  }
  for (std::size_t a = 0; a < agent_desktop_.size(); ++a) {
    w.u32(a < token_generation_.size() ? token_generation_[a] : 0);
  }
  // Desktops a desk move took their agent from (client ID, agent), in client order.
  std::vector<std::pair<std::uint32_t, router::AgentIndex>> moved;
  for (const Client& c : clients_) {
    if (c.moved_agent != kNone) {
      moved.emplace_back(c.id, c.moved_agent);
    }
  }
  std::sort(moved.begin(), moved.end());
  w.u32(static_cast<std::uint32_t>(moved.size()));
  for (const auto& [client, agent] : moved) {
    w.u32(client);
    w.u32(agent);
  }
  return out;
}

bool IoStage::restore_session(std::span<const std::uint8_t> image) {
  ByteReader r(image);
  const std::uint64_t next = r.u64();
  const std::uint32_t count = r.u32();
  if (!r.ok() || count > config_.max_clients) {
    return false;
  }
  // Read everything first; change nothing until the whole image proved sound.
  struct Entry {
    std::uint64_t seq;
    std::span<const std::uint8_t> reply;
  };
  struct SavedClient {
    Client client;
    std::uint64_t highest;
    std::vector<Entry> entries;
  };
  std::vector<SavedClient> saved(count);
  for (SavedClient& sc : saved) {
    sc.client.id = r.u32();
    sc.client.registered = r.u8() != 0;
    const std::uint8_t role = r.u8();
    if (role > wire::kMaxRole) {
      return false;
    }
    sc.client.role = static_cast<wire::Role>(role);
    sc.client.nonce = r.u64();
    sc.client.endpoint.address = r.u32();
    sc.client.endpoint.port = r.u16();
    sc.highest = r.u64();
    const std::uint32_t answered = r.u32();
    if (!r.ok() || answered > config_.reply_cache_per_client || sc.client.id == 0) {
      return false;
    }
    sc.entries.resize(answered);
    for (Entry& e : sc.entries) {
      e.seq = r.u64();
      e.reply = r.bytes(r.u16());
      if (e.reply.size() > ReplyCache::kMaxReply) {
        return false;
      }
    }
  }
  const std::uint32_t owner_count = r.u32();
  if (!r.ok() || owner_count > config_.max_calls) {
    return false;
  }
  std::vector<std::pair<router::CallId, std::uint32_t>> owners(owner_count);
  for (auto& [call, client] : owners) {
    call = r.u64();
    client = r.u32();
  }
  const std::uint32_t at_agent_count = r.u32();
  if (!r.ok() || at_agent_count > config_.max_calls) {
    return false;
  }
  std::vector<std::pair<router::CallId, router::AgentIndex>> at_agent(at_agent_count);
  for (auto& [call, agent] : at_agent) {
    call = r.u64();
    agent = r.u32();
    if (call == 0 || agent >= agent_desktop_.size()) {
      return false;
    }
  }
  const std::uint32_t agents = r.u32();
  if (!r.ok() || agents != agent_desktop_.size()) {
    return false;
  }
  std::vector<std::uint32_t> desktops(agents);
  for (std::uint32_t& d : desktops) {
    d = r.u32();
  }
  // Token generations, one per agent; an image written before they existed ends here (all 0).
  std::vector<std::uint32_t> generations(agents, 0);
  if (r.ok() && !r.at_end()) {
    for (std::uint32_t& g : generations) {
      g = r.u32();
    }
  }
  // Desktops moved away from their agent; an image written before they were kept ends here.
  std::vector<std::pair<std::uint32_t, router::AgentIndex>> moved;
  if (r.ok() && !r.at_end()) {
    const std::uint32_t moved_count = r.u32();
    if (!r.ok() || moved_count > count) {
      return false;
    }
    moved.resize(moved_count);
    for (auto& [client, agent] : moved) {
      client = r.u32();
      agent = r.u32();
      if (agent >= agents) {
        return false;
      }
    }
  }
  if (!r.ok() || !r.at_end()) {
    return false;
  }
  {
    // One client, one agent.
    std::vector<std::uint32_t> bound;
    std::copy_if(desktops.begin(), desktops.end(), std::back_inserter(bound),
                 [](std::uint32_t id) { return id != kNoClientId; });
    std::sort(bound.begin(), bound.end());
    if (std::adjacent_find(bound.begin(), bound.end()) != bound.end()) {
      return false;
    }
  }

  clients_.clear();
  client_ids_ = router::IdMap(config_.max_clients);
  for (std::uint32_t slot = 0; slot < config_.max_clients; ++slot) {
    cache_.reset(slot);
  }
  for (const SavedClient& sc : saved) {
    const auto slot = static_cast<std::uint32_t>(clients_.size());
    clients_.push_back(sc.client);
    client_ids_.insert(sc.client.id, slot);
    for (const Entry& e : sc.entries) {
      cache_.store(slot, e.seq, e.reply);
    }
    cache_.restore_highest(slot, sc.highest);
  }
  call_owner_ = router::IdMap(config_.max_calls);
  for (const auto& [call, client] : owners) {
    const std::uint32_t slot = client_ids_.find(client);
    if (slot != router::IdMap::kMissing) {
      call_owner_.insert(call, slot);
    }
  }
  call_agent_ = router::IdMap(config_.max_calls);
  for (const auto& [call, agent] : at_agent) {
    if (call_agent_.find(call) == router::IdMap::kMissing) {
      call_agent_.insert(call, agent);
    }
  }
  for (std::size_t a = 0; a < desktops.size(); ++a) {
    const std::uint32_t slot =
        desktops[a] == kNoClientId ? router::IdMap::kMissing : client_ids_.find(desktops[a]);
    agent_desktop_[a] = slot == router::IdMap::kMissing ? kNone : slot;
    if (agent_desktop_[a] != kNone) {
      clients_[slot].agent = static_cast<router::AgentIndex>(a);
    }
  }
  for (const auto& [client, agent] : moved) {
    const std::uint32_t slot = client_ids_.find(client);
    if (slot != router::IdMap::kMissing && clients_[slot].agent == kNone) {
      clients_[slot].moved_agent = agent;
    }
  }
  token_generation_ = std::move(generations);
  sequencer_.resume(next);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Workers.

std::size_t Worker::poll() {
  auto route = [&](Input& input) {
    if (!io_.can_stamp()) {
      return false;
    }
    io_.stamp(input);
    router_.apply(input, [&](const Output& o) { io_.handle(o); });
    return true;
  };
  std::size_t work = io_.receive(route);
  work += io_.collect_sign_ins(route);
  work += io_.collect_credential_writes();
  work += io_.collect_control(route);
  work += io_.collect_export_position();
  io_.maybe_tick(route);
  io_.flush();
  io_.poll_log();
  if (publisher_ != nullptr) {
    publisher_->maybe_publish(router_.engine(), router_.config_tag());
  }
  return work;
}

SplitWorker::SplitWorker(router::Engine& engine, IoStage& io, int io_cpu, int router_cpu,
                         StatePublisher* publisher, EngineLatency* latency, RingGauges* gauges)
    : router_(engine, io.config_tag()), io_(io), publisher_(publisher), gauges_(gauges) {
  router_.set_latency(latency);
  if (gauges_ != nullptr) {
    gauges_->to_router.capacity.store(inputs_.write_available(), std::memory_order_relaxed);
    gauges_->to_io.capacity.store(outputs_.write_available(), std::memory_order_relaxed);
  }
  router_thread_ = std::thread([this, router_cpu] { router_loop(router_cpu); });
  io_thread_ = std::thread([this, io_cpu] { io_loop(io_cpu); });
}

int SplitWorker::make_io_realtime(int priority) {
  return make_realtime(io_thread_.native_handle(), priority);
}

SplitWorker::~SplitWorker() {
  stop();
}

void SplitWorker::stop() {
  stop_.store(true, std::memory_order_release);
  if (io_thread_.joinable()) {
    io_thread_.join();
  }
  if (router_thread_.joinable()) {
    router_thread_.join();
  }
}

void SplitWorker::io_loop(int cpu) {
  name_this_thread("acd-io");
  pin_to_cpu(cpu);
  auto push = [&](Input& input) {
    if (inputs_.write_available() == 0) {
      ring_full_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (!io_.can_stamp()) {
      return false;
    }
    io_.stamp(input);
    inputs_.push(input);
    return true;
  };
  while (!stop_.load(std::memory_order_acquire)) {
    std::size_t work = io_.receive(push);
    work += io_.collect_sign_ins(push);
    work += io_.collect_credential_writes();
    work += io_.collect_control(push);
    work += io_.collect_export_position();
    io_.maybe_tick(push);
    if (gauges_ != nullptr) {
      gauges_->to_io.sample(outputs_.read_available());
    }
    work += outputs_.consume_all([&](const Output& o) { io_.handle(o); });
    io_.flush();
    io_.poll_log();
    if (work == 0) {
      std::this_thread::yield();
    }
  }
}

void SplitWorker::router_loop(int cpu) {
  name_this_thread("acd-router");
  pin_to_cpu(cpu);
  std::array<Input, 32> batch;
  while (!stop_.load(std::memory_order_acquire)) {
    if (gauges_ != nullptr) {
      gauges_->to_router.sample(inputs_.read_available());
    }
    const std::size_t n = inputs_.pop(batch.data(), batch.size());
    for (std::size_t i = 0; i < n; ++i) {
      router_.apply(batch[i], [&](const Output& o) {
        while (!outputs_.push(o)) {  // never drop a decision: wait for the IO core to drain
          if (stop_.load(std::memory_order_acquire)) {
            return;
          }
          std::this_thread::yield();
        }
      });
    }
    if (publisher_ != nullptr) {
      publisher_->maybe_publish(router_.engine(), router_.config_tag());
    }
    if (n == 0) {
      std::this_thread::yield();
    }
  }
}

}  // namespace acd::dataplane
