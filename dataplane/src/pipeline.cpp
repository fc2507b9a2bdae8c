#include "acd/dataplane/pipeline.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstring>

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

// ---------------------------------------------------------------------------------------------
// Reply cache.

ReplyCache::ReplyCache(std::uint32_t clients, std::uint32_t per_client)
    : per_client_(std::max<std::uint32_t>(per_client, 1)),
      entries_(static_cast<std::size_t>(clients) * per_client_),
      highest_(clients, 0) {}

ReplyCache::Lookup ReplyCache::find(std::uint32_t slot, std::uint64_t seq,
                                    std::span<const std::uint8_t>& reply) {
  if (seq + per_client_ <= highest_[slot]) {
    return Lookup::Stale;  // older than the window: it may have been answered, we cannot tell
  }
  Entry& e = entry(slot, seq);
  if (e.seq == seq && e.state == 2) {
    reply = std::span<const std::uint8_t>(e.bytes, e.length);
    return Lookup::Answered;
  }
  if (e.seq == seq && e.state == 1) {
    return Lookup::Pending;
  }
  return Lookup::New;
}

void ReplyCache::mark_pending(std::uint32_t slot, std::uint64_t seq) {
  Entry& e = entry(slot, seq);
  e.seq = seq;
  e.state = 1;
  e.length = 0;
  highest_[slot] = std::max(highest_[slot], seq);
}

void ReplyCache::store(std::uint32_t slot, std::uint64_t seq,
                       std::span<const std::uint8_t> message) {
  Entry& e = entry(slot, seq);
  e.seq = seq;
  e.state = 2;
  e.length = static_cast<std::uint16_t>(std::min(message.size(), kMaxReply));
  std::memcpy(e.bytes, message.data(), e.length);
  highest_[slot] = std::max(highest_[slot], seq);
}

void ReplyCache::reset(std::uint32_t slot) {
  std::fill_n(
      entries_.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(slot) * per_client_),
      per_client_, Entry{});
  highest_[slot] = 0;
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
      agent_desktop_(agent_numbers_.size(), kNone),
      rx_(config.burst),
      pending_(64),
      tx_(64) {
  clients_.reserve(config.max_clients);
  last_input_ = clock.now();
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

}  // namespace

bool IoStage::translate(std::uint32_t slot, const Message& m, Input& input) {
  using router::EventType;
  input.client_slot = slot;
  input.request_seq = m.seq;
  input.request_type = m.type;
  router::Event& e = input.event;
  switch (m.type) {
    case wire::Type::Register: {
      wire::Ack ack{m.seq, 0, {}};
      reply(slot, m.seq, wire::Type::Ack, &ack, sizeof(ack));
      return false;
    }
    case wire::Type::RouteRequest: {
      const auto r = body_of<wire::RouteRequest>(m);
      e.type = EventType::RouteRequest;
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
    case wire::Type::AgentEvent: {
      auto r = body_of<wire::AgentEvent>(m);
      if (r.kind == wire::AgentEventKind::SignIn) {
        auto it = std::find(agent_numbers_.begin(), agent_numbers_.end(), r.agent_number);
        SignInJob job;
        std::memcpy(job.password, r.password, sizeof(job.password));
        wipe(r.password, sizeof(r.password));
        if (it == agent_numbers_.end() || verifier_ == nullptr) {
          wipe(job.password, sizeof(job.password));
          reply_error(slot, m.seq,
                      it == agent_numbers_.end()
                          ? static_cast<std::uint16_t>(router::Status::NoSuchAgent)
                          : static_cast<std::uint16_t>(wire::WireError::SignInUnavailable),
                      true);
          return false;
        }
        job.number = r.agent_number;
        job.agent = static_cast<router::AgentIndex>(it - agent_numbers_.begin());
        job.client_slot = slot;
        job.request_seq = m.seq;
        job.device = r.device;
        if (!verifier_->submit(job)) {
          counters_.bump(Counter::ring_full);
          reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
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
      break;
  }
  counters_.bump(Counter::drop_bad_type);  // a message only acd sends
  reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::BadType), false);
  return false;
}

void IoStage::reply_error(std::uint32_t slot, std::uint64_t seq, std::uint16_t reason, bool cache) {
  wire::Error err{seq, reason, {}};
  if (cache) {
    reply(slot, seq, wire::Type::Error, &err, sizeof(err));
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
                    const void* body, std::size_t size) {
  std::uint8_t bytes[ReplyCache::kMaxReply + sizeof(wire::MessageHeader)];
  const wire::MessageHeader mh{type, static_cast<std::uint16_t>(sizeof(mh) + size), 0, 0};
  std::memcpy(bytes, &mh, sizeof(mh));
  std::memcpy(bytes + sizeof(mh), body, size);
  const std::span<const std::uint8_t> message(bytes, sizeof(mh) + size);
  cache_.store(slot, request_seq, message);
  append(slot, message);
}

void IoStage::append(std::uint32_t slot, std::span<const std::uint8_t> message) {
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
  if (p != nullptr && p->length + message.size() > p->bytes.size()) {
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

void IoStage::flush() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < pending_used_; ++i) {
    Pending& p = pending_[i];
    const Client& c = clients_[p.slot];
    const wire::DatagramHeader h{
        wire::kMagic, wire::kVersion, p.count, static_cast<std::uint16_t>(p.length), c.id, 0};
    std::memcpy(p.bytes.data(), &h, sizeof(h));
    tx_[n++] = Datagram{c.endpoint, std::span<const std::uint8_t>(p.bytes.data(), p.length)};
    counters_.bump(Counter::tx_messages, p.count);
  }
  if (n > 0) {
    const std::size_t sent = port_.send(std::span<const Datagram>(tx_.data(), n));
    counters_.bump(Counter::tx_datagrams, sent);
    counters_.bump(Counter::tx_failed, n - sent);
  }
  pending_used_ = 0;
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
  const bool command = o.client_slot == kControlClient;
  if (o.end) {
    if (command) {
      // An operator command: its result goes back to the control thread, not to the network.
      if (swap_ != nullptr && o.request_seq == swap_ticket_) {
        if (o.command_result == CommandResult::Done) {
          std::swap(agent_numbers_, swap_->agent_numbers);
          agent_desktop_.resize(agent_numbers_.size(), kNone);
        }
        swap_ = nullptr;
      }
      if (control_ != nullptr) {
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
      if (!answered_) {
        wire::Ack ack{o.request_seq, failure_, {}};
        reply(o.client_slot, o.request_seq, wire::Type::Ack, &ack, sizeof(ack));
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
  const bool asked =
      o.client_slot != kNone && !answered_ && d.call == o.request_call &&
      (o.request_type == wire::Type::RouteRequest || o.request_type == wire::Type::OutboundRequest);
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
      if (d.type != DecisionType::Queued && d.agent < agent_desktop_.size() &&
          agent_desktop_[d.agent] != kNone) {
        const wire::Offer offer{d.call, d.agent, d.queue, 0};
        send_message(agent_desktop_[d.agent], wire::Type::Offer, 0, &offer, sizeof(offer));
      }
      break;
    case DecisionType::Overflowed:
      to_owner(0);
      if (d.action != router::OverflowAction::ToQueue) {
        call_owner_.erase(d.call);
      }
      break;
    case DecisionType::Rejected:
    case DecisionType::OutboundFailed:
      to_owner(0);
      call_owner_.erase(d.call);
      break;
    case DecisionType::CallEnded:
      call_owner_.erase(d.call);
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

// ---------------------------------------------------------------------------------------------
// Workers.

std::size_t Worker::poll() {
  auto route = [&](Input& input) {
    io_.sequencer().stamp(input);
    router_.apply(input, [&](const Output& o) { io_.handle(o); });
    return true;
  };
  std::size_t work = io_.receive(route);
  work += io_.collect_sign_ins(route);
  work += io_.collect_control(route);
  io_.maybe_tick(route);
  io_.flush();
  if (publisher_ != nullptr) {
    publisher_->maybe_publish(router_.engine(), router_.config_tag());
  }
  return work;
}

SplitWorker::SplitWorker(router::Engine& engine, IoStage& io, int io_cpu, int router_cpu,
                         StatePublisher* publisher, EngineLatency* latency, RingGauges* gauges)
    : router_(engine), io_(io), publisher_(publisher), gauges_(gauges) {
  router_.set_latency(latency);
  if (gauges_ != nullptr) {
    gauges_->to_router.capacity.store(inputs_.write_available(), std::memory_order_relaxed);
    gauges_->to_io.capacity.store(outputs_.write_available(), std::memory_order_relaxed);
  }
  router_thread_ = std::thread([this, router_cpu] { router_loop(router_cpu); });
  io_thread_ = std::thread([this, io_cpu] { io_loop(io_cpu); });
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
  pin_to_cpu(cpu);
  auto push = [&](Input& input) {
    if (inputs_.write_available() == 0) {
      ring_full_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    io_.sequencer().stamp(input);
    inputs_.push(input);
    return true;
  };
  while (!stop_.load(std::memory_order_acquire)) {
    std::size_t work = io_.receive(push);
    work += io_.collect_sign_ins(push);
    work += io_.collect_control(push);
    io_.maybe_tick(push);
    if (gauges_ != nullptr) {
      gauges_->to_io.sample(outputs_.read_available());
    }
    work += outputs_.consume_all([&](const Output& o) { io_.handle(o); });
    io_.flush();
    if (work == 0) {
      std::this_thread::yield();
    }
  }
}

void SplitWorker::router_loop(int cpu) {
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
