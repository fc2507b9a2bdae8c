// The deriver's checkpoint (save/restore of its whole state) and its reconfiguration by a reload.
// Encoding: little-endian, field by field, a version first; every container with its count.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "acd/history/deriver.hpp"

namespace acd::history {

namespace {

constexpr std::uint32_t kCheckpointMagic = 0x4B434844;  // "DHCK"
constexpr std::uint8_t kCheckpointVersion = 1;

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
  }
  std::vector<std::uint8_t>& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(get(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  // A count of items each at least `min_bytes` long: refused (0, not ok) if the bytes left
  // cannot hold them, so that a corrupt count never allocates.
  std::uint32_t count(std::size_t min_bytes) {
    const std::uint32_t n = u32();
    if (ok_ && static_cast<std::uint64_t>(n) * min_bytes > in_.size() - at_) {
      ok_ = false;
    }
    return ok_ ? n : 0;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return at_ == in_.size(); }
  void fail() { ok_ = false; }

 private:
  std::uint64_t get(int n) {
    if (!ok_ || in_.size() - at_ < static_cast<std::size_t>(n)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v |= static_cast<std::uint64_t>(in_[at_ + static_cast<std::size_t>(i)]) << (8 * i);
    }
    at_ += static_cast<std::size_t>(n);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

template <typename E>
std::uint32_t raw(E e) {
  return static_cast<std::uint32_t>(e);
}

void put_cdr(Writer& w, const CallDetail& c) {
  w.u64(c.id.seq);
  w.u32(c.id.index);
  w.u64(c.call);
  w.u8(c.outbound ? 1 : 0);
  w.u8(c.verification);
  w.u8(c.priority);
  w.u8(c.tier);
  w.u8(static_cast<std::uint8_t>(c.outcome));
  w.u16(static_cast<std::uint16_t>(c.status));
  w.u8(static_cast<std::uint8_t>(c.overflow_action));
  w.u32(c.overflow_target);
  w.u64(c.arrived);
  w.u64(c.answered);
  w.u64(c.ended);
  w.u32(c.first_queue);
  w.u32(c.last_queue);
  w.u32(c.first_agent);
  w.u32(c.last_agent);
  w.u32(c.offers);
  w.u32(c.ring_no_answers);
  w.u32(c.overflows);
  w.u32(c.transfers);
  w.u32(c.holds);
  w.u64(c.wait_us);
  w.u64(c.talk_us);
  w.u64(c.hold_us);
  w.u64(c.wrap_us);
  w.u8(static_cast<std::uint8_t>(c.wrap));
  w.u16(c.disposition);
  w.u64(c.note);
  w.u32(static_cast<std::uint32_t>(c.path.size()));
  for (const PathStep& s : c.path) {
    w.u64(s.time);
    w.u32(s.queue);
    w.u32(s.agent);
    w.u32(s.target);
    w.u8(static_cast<std::uint8_t>(s.kind));
  }
}

bool get_cdr(Reader& r, CallDetail& c) {
  c.id.seq = r.u64();
  c.id.index = r.u32();
  c.call = r.u64();
  c.outbound = r.u8() != 0;
  c.verification = r.u8();
  c.priority = r.u8();
  c.tier = r.u8();
  const std::uint8_t outcome = r.u8();
  c.status = static_cast<router::Status>(r.u16());
  c.overflow_action = static_cast<router::OverflowAction>(r.u8());
  c.overflow_target = r.u32();
  c.arrived = r.u64();
  c.answered = r.u64();
  c.ended = r.u64();
  c.first_queue = r.u32();
  c.last_queue = r.u32();
  c.first_agent = r.u32();
  c.last_agent = r.u32();
  c.offers = r.u32();
  c.ring_no_answers = r.u32();
  c.overflows = r.u32();
  c.transfers = r.u32();
  c.holds = r.u32();
  c.wait_us = r.u64();
  c.talk_us = r.u64();
  c.hold_us = r.u64();
  c.wrap_us = r.u64();
  const std::uint8_t wrap = r.u8();
  c.disposition = r.u16();
  c.note = r.u64();
  if (outcome >= kCallOutcomeCount || wrap > raw(WrapStatus::Ended)) {
    r.fail();
  }
  c.outcome = static_cast<CallOutcome>(outcome);
  c.wrap = static_cast<WrapStatus>(wrap);
  const std::uint32_t steps = r.count(21);
  c.path.resize(steps);
  for (PathStep& s : c.path) {
    s.time = r.u64();
    s.queue = r.u32();
    s.agent = r.u32();
    s.target = r.u32();
    const std::uint8_t kind = r.u8();
    if (kind > raw(StepKind::Callback)) {
      r.fail();
    }
    s.kind = static_cast<StepKind>(kind);
  }
  return r.ok();
}

void put_queue_row(Writer& w, const QueueInterval& q) {
  w.u64(q.id.seq);
  w.u32(q.id.index);
  w.u64(q.start);
  w.u32(q.queue);
  for (std::uint32_t v : {q.offered, q.answered, q.answered_in_sl, q.abandoned, q.short_abandoned,
                          q.overflowed_out, q.handled}) {
    w.u32(v);
  }
  for (Micros v : {q.wait_answered_us, q.max_wait_us, q.talk_us, q.hold_us, q.wrap_us}) {
    w.u64(v);
  }
}

void get_queue_row(Reader& r, QueueInterval& q) {
  q.id.seq = r.u64();
  q.id.index = r.u32();
  q.start = r.u64();
  q.queue = r.u32();
  for (std::uint32_t* v : {&q.offered, &q.answered, &q.answered_in_sl, &q.abandoned,
                           &q.short_abandoned, &q.overflowed_out, &q.handled}) {
    *v = r.u32();
  }
  for (Micros* v : {&q.wait_answered_us, &q.max_wait_us, &q.talk_us, &q.hold_us, &q.wrap_us}) {
    *v = r.u64();
  }
}

void put_agent_row(Writer& w, const AgentInterval& a) {
  w.u64(a.id.seq);
  w.u32(a.id.index);
  w.u64(a.start);
  w.u32(a.agent);
  w.u32(a.handled);
  w.u32(a.no_answer);
  w.u32(a.transfers_out);
  w.u64(a.talk_us);
  w.u64(a.hold_us);
  w.u64(a.wrap_us);
  for (Micros v : a.state_us) {
    w.u64(v);
  }
  for (Micros v : a.not_ready_us) {
    w.u64(v);
  }
}

void get_agent_row(Reader& r, AgentInterval& a) {
  a.id.seq = r.u64();
  a.id.index = r.u32();
  a.start = r.u64();
  a.agent = r.u32();
  a.handled = r.u32();
  a.no_answer = r.u32();
  a.transfers_out = r.u32();
  a.talk_us = r.u64();
  a.hold_us = r.u64();
  a.wrap_us = r.u64();
  for (Micros& v : a.state_us) {
    v = r.u64();
  }
  for (Micros& v : a.not_ready_us) {
    v = r.u64();
  }
}

}  // namespace

bool Deriver::reconfigure(const router::EngineConfig& next) {
  if (next.agents.size() < agents_.size() || next.queues.size() < qrows_.size()) {
    return false;
  }
  const std::size_t agents = next.agents.size();
  const std::size_t queues = next.queues.size();
  Agent fresh;
  fresh.accounted = interval_start_;
  fresh.open.since = now_;
  agents_.resize(agents, fresh);
  arows_.resize(agents);
  atouched_.resize(agents, 0);
  qrows_.resize(queues);
  qtouched_.resize(queues, 0);
  engine_ = next;
  return true;
}

std::vector<std::uint8_t> Deriver::save() const {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.u32(kCheckpointMagic);
  w.u8(kCheckpointVersion);
  w.u64(config_.interval_us);
  w.u32(config_.short_abandon_ms);
  w.u64(seq_);
  w.u32(index_);
  w.u64(now_);
  w.u64(interval_start_);
  w.u8(started_ ? 1 : 0);
  w.u32(signed_in_);
  w.u32(static_cast<std::uint32_t>(calls_.size()));
  for (const Call& c : calls_) {
    put_cdr(w, c.cdr);
    w.u8(static_cast<std::uint8_t>(c.where));
    w.u32(c.leg_queue);
    w.u64(c.leg_entered);
    w.u8(c.leg_answered ? 1 : 0);
    w.u32(c.agent);
    w.u64(c.task.answered);
    w.u64(c.task.hold_since);
    w.u64(c.task.hold_us);
    w.u8(c.task.held ? 1 : 0);
    w.u32(c.wraps_pending);
    w.u32(c.tasks_ended);
    w.u8(c.outbound_leg ? 1 : 0);
    w.u8(c.used ? 1 : 0);
  }
  w.u32(static_cast<std::uint32_t>(free_.size()));
  for (std::uint32_t f : free_) {
    w.u32(f);
  }
  // The map in call ID order, so that two equal derivers give the same bytes.
  std::vector<std::pair<CallId, std::uint32_t>> live(live_.begin(), live_.end());
  std::sort(live.begin(), live.end());
  w.u32(static_cast<std::uint32_t>(live.size()));
  for (const auto& [id, slot] : live) {
    w.u64(id);
    w.u32(slot);
  }
  w.u32(static_cast<std::uint32_t>(agents_.size()));
  for (const Agent& a : agents_) {
    w.u8(static_cast<std::uint8_t>(a.open.state));
    w.u16(a.open.reason);
    w.u64(a.open.since);
    w.u64(a.accounted);
    w.u32(a.wrap_call);
    w.u64(a.wrap_since);
    w.u32(a.wrap_queue);
    w.u32(a.wrap_task);
  }
  w.u32(static_cast<std::uint32_t>(qrows_.size()));
  for (std::size_t q = 0; q < qrows_.size(); ++q) {
    put_queue_row(w, qrows_[q]);
    w.u8(qtouched_[q]);
  }
  for (std::size_t a = 0; a < arows_.size(); ++a) {
    put_agent_row(w, arows_[a]);
    w.u8(atouched_[a]);
  }
  return out;
}

bool Deriver::restore(std::span<const std::uint8_t> bytes) {
  Reader r(bytes);
  if (r.u32() != kCheckpointMagic || r.u8() != kCheckpointVersion) {
    return false;
  }
  if (r.u64() != config_.interval_us || r.u32() != config_.short_abandon_ms || !r.ok()) {
    return false;
  }
  // Read into a copy; this deriver changes only when every byte was good.
  Deriver next(engine_, config_);
  next.seq_ = r.u64();
  next.index_ = r.u32();
  next.now_ = r.u64();
  next.interval_start_ = r.u64();
  next.started_ = r.u8() != 0;
  next.signed_in_ = r.u32();
  const std::uint32_t calls = r.count(100);
  next.calls_.resize(calls);
  for (Call& c : next.calls_) {
    if (!get_cdr(r, c.cdr)) {
      return false;
    }
    const std::uint8_t where = r.u8();
    if (where > static_cast<std::uint8_t>(Where::Gone)) {
      return false;
    }
    c.where = static_cast<Where>(where);
    c.leg_queue = r.u32();
    c.leg_entered = r.u64();
    c.leg_answered = r.u8() != 0;
    c.agent = r.u32();
    c.task.answered = r.u64();
    c.task.hold_since = r.u64();
    c.task.hold_us = r.u64();
    c.task.held = r.u8() != 0;
    c.wraps_pending = r.u32();
    c.tasks_ended = r.u32();
    c.outbound_leg = r.u8() != 0;
    c.used = r.u8() != 0;
    if ((c.leg_queue != router::kNone && c.leg_queue >= qrows_.size()) ||
        (c.agent != router::kNone && c.agent >= agents_.size())) {
      return false;
    }
  }
  const std::uint32_t frees = r.count(4);
  next.free_.resize(frees);
  for (std::uint32_t& f : next.free_) {
    f = r.u32();
    if (f >= calls) {
      return false;
    }
  }
  const std::uint32_t live = r.count(12);
  for (std::uint32_t i = 0; i < live; ++i) {
    const CallId id = r.u64();
    const std::uint32_t slot = r.u32();
    if (slot >= calls) {
      return false;
    }
    next.live_[id] = slot;
  }
  if (r.u32() != agents_.size()) {
    return false;
  }
  for (Agent& a : next.agents_) {
    const std::uint8_t state = r.u8();
    if (state >= router::kAgentStateCount) {
      return false;
    }
    a.open.state = static_cast<router::AgentState>(state);
    a.open.reason = r.u16();
    a.open.since = r.u64();
    a.accounted = r.u64();
    a.wrap_call = r.u32();
    a.wrap_since = r.u64();
    a.wrap_queue = r.u32();
    a.wrap_task = r.u32();
    if ((a.wrap_call != kNoSlot && a.wrap_call >= calls) ||
        (a.wrap_queue != router::kNone && a.wrap_queue >= qrows_.size())) {
      return false;
    }
  }
  if (r.u32() != qrows_.size()) {
    return false;
  }
  for (std::size_t q = 0; q < qrows_.size(); ++q) {
    get_queue_row(r, next.qrows_[q]);
    next.qtouched_[q] = r.u8();
  }
  for (std::size_t a = 0; a < arows_.size(); ++a) {
    get_agent_row(r, next.arows_[a]);
    next.atouched_[a] = r.u8();
  }
  if (!r.ok() || !r.at_end()) {
    return false;
  }
  *this = std::move(next);
  return true;
}

}  // namespace acd::history
