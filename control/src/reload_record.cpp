// A configuration reload as the sequenced log carries it: its encoding, and the follower that
// applies it on a standby or during a journal replay.
#include "acd/control/reload_record.hpp"

#include "acd/dataplane/input_log.hpp"

namespace acd::control {

namespace {

constexpr std::uint32_t kReloadMagic = 0x52444341;  // "ACDR"
// 2: surge plans, services and reserved flags follow the agents (version 1 has none).
// 3: then the sites' numbering, hop limit and summary age (versions 1 and 2 have none).
// 4: then each queue's surge exit hold (versions 1 to 3 have none: 0, leave at once).
constexpr std::uint8_t kReloadVersion = 4;
// Bounds that keep a damaged payload from asking for absurd allocations; far above any centre.
constexpr std::uint32_t kMaxNames = 1u << 16;
constexpr std::uint32_t kMaxItems = 1u << 20;
constexpr std::uint32_t kMaxString = 4096;
constexpr std::uint32_t kMaxRules = 256;

void put_string(dataplane::ByteWriter& w, const std::string& s) {
  w.u32(static_cast<std::uint32_t>(s.size()));
  w.bytes(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

bool get_string(dataplane::ByteReader& r, std::string& s) {
  const std::uint32_t n = r.u32();
  if (n > kMaxString) {
    return false;
  }
  const auto b = r.bytes(n);
  s.assign(b.begin(), b.end());
  return r.ok();
}

void put_queue(dataplane::ByteWriter& w, const router::QueueConfig& q) {
  put_string(w, q.name);
  w.u8(static_cast<std::uint8_t>(q.media));
  w.u32(static_cast<std::uint32_t>(q.skills.size()));
  for (const auto& s : q.skills) {
    w.u16(s.skill);
    w.u8(s.min_level);
    w.u8(s.reserved);
  }
  w.u8(static_cast<std::uint8_t>(q.policy));
  w.u32(q.sl_threshold_ms);
  w.u16(q.sl_target_permille);
  w.u32(q.ring_timeout_ms);
  w.u32(q.wrap_up_ms);
  w.u32(q.max_wait_ms);
  w.u8(static_cast<std::uint8_t>(q.max_wait_action));
  w.u32(q.max_wait_target);
  w.u32(static_cast<std::uint32_t>(q.overflow.size()));
  for (const auto& rule : q.overflow) {
    w.u8(static_cast<std::uint8_t>(rule.when));
    w.u8(static_cast<std::uint8_t>(rule.action));
    w.u32(rule.threshold);
    w.u32(rule.target);
  }
  w.u8(q.min_verification);
  for (const std::uint8_t boost : q.tier_priority_boost) {
    w.u8(boost);
  }
  w.u32(q.expected_aht_ms);
  w.u32(q.priority_aging_ms);
  w.u8(q.retired ? 1 : 0);
}

bool get_queue(dataplane::ByteReader& r, router::QueueConfig& q) {
  if (!get_string(r, q.name)) {
    return false;
  }
  const std::uint8_t media = r.u8();
  const std::uint32_t skills = r.u32();
  if (media >= router::kMediaCount || skills > kMaxNames) {
    return false;
  }
  q.media = static_cast<router::Media>(media);
  q.skills.resize(skills);
  for (auto& s : q.skills) {
    s.skill = r.u16();
    s.min_level = r.u8();
    s.reserved = r.u8();
  }
  const std::uint8_t policy = r.u8();
  if (policy > static_cast<std::uint8_t>(router::kLastPolicy)) {
    return false;
  }
  q.policy = static_cast<router::Policy>(policy);
  q.sl_threshold_ms = r.u32();
  q.sl_target_permille = r.u16();
  q.ring_timeout_ms = r.u32();
  q.wrap_up_ms = r.u32();
  q.max_wait_ms = r.u32();
  const std::uint8_t wait_action = r.u8();
  if (wait_action > static_cast<std::uint8_t>(router::kLastOverflowAction)) {
    return false;
  }
  q.max_wait_action = static_cast<router::OverflowAction>(wait_action);
  q.max_wait_target = r.u32();
  const std::uint32_t rules = r.u32();
  if (rules > kMaxRules) {
    return false;
  }
  q.overflow.resize(rules);
  for (auto& rule : q.overflow) {
    const std::uint8_t when = r.u8();
    const std::uint8_t action = r.u8();
    if (when > static_cast<std::uint8_t>(router::OverflowCondition::EwtAtLeast) ||
        action > static_cast<std::uint8_t>(router::kLastOverflowAction)) {
      return false;
    }
    rule.when = static_cast<router::OverflowCondition>(when);
    rule.action = static_cast<router::OverflowAction>(action);
    rule.threshold = r.u32();
    rule.target = r.u32();
  }
  q.min_verification = r.u8();
  for (std::uint8_t& boost : q.tier_priority_boost) {
    boost = r.u8();
  }
  q.expected_aht_ms = r.u32();
  q.priority_aging_ms = r.u32();
  const std::uint8_t retired = r.u8();
  q.retired = retired == 1;
  return r.ok() && retired <= 1;
}

void put_agent(dataplane::ByteWriter& w, const router::AgentConfig& a) {
  w.u64(a.number);
  w.u32(static_cast<std::uint32_t>(a.skills.size()));
  for (const auto& s : a.skills) {
    w.u16(s.skill);
    w.u8(s.level);
    w.u8(s.reserved);
  }
  for (const std::uint8_t c : a.capacity) {
    w.u8(c);
  }
  w.u8(a.retired ? 1 : 0);
}

bool get_agent(dataplane::ByteReader& r, router::AgentConfig& a) {
  a.number = static_cast<router::AgentNumber>(r.u64());
  const std::uint32_t skills = r.u32();
  if (skills > kMaxNames) {
    return false;
  }
  a.skills.resize(skills);
  for (auto& s : a.skills) {
    s.skill = r.u16();
    s.level = r.u8();
    s.reserved = r.u8();
  }
  for (std::uint8_t& c : a.capacity) {
    c = r.u8();
  }
  const std::uint8_t retired = r.u8();
  a.retired = retired == 1;
  return r.ok() && retired <= 1;
}

void put_levels(dataplane::ByteWriter& w, const router::SurgeLevels& l) {
  w.u32(l.offered_per_min);
  w.u32(l.queue_length);
  w.u32(l.oldest_wait_ms);
  w.u32(l.ewt_ms);
}

void get_levels(dataplane::ByteReader& r, router::SurgeLevels& l) {
  l.offered_per_min = r.u32();
  l.queue_length = r.u32();
  l.oldest_wait_ms = r.u32();
  l.ewt_ms = r.u32();
}

// What version 2 adds after the agents: the services, each queue's surge plan, reserved flag and
// services, each agent's reserved flag.
void put_surge(dataplane::ByteWriter& w, const router::EngineConfig& d) {
  w.u32(d.surge_eval_ms);
  w.u32(static_cast<std::uint32_t>(d.services.size()));
  for (const auto& s : d.services) {
    put_string(w, s.name);
    w.u8(static_cast<std::uint8_t>(s.action));
    w.u32(s.target);
  }
  for (const auto& q : d.queues) {
    put_levels(w, q.surge.enter);
    put_levels(w, q.surge.exit);
    w.u32(q.surge.min_dwell_ms);
    w.u32(static_cast<std::uint32_t>(q.surge.actions.size()));
    for (const auto& a : q.surge.actions) {
      w.u8(a.borrow ? 1 : 0);
      w.u8(static_cast<std::uint8_t>(a.action));
      w.u32(a.target);
      w.u8(a.min_level);
      w.u32(a.min_ewt_ms);
    }
    w.u8(q.reserved ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(q.services.size()));
    for (const std::uint32_t s : q.services) {
      w.u32(s);
    }
  }
  for (const auto& a : d.agents) {
    w.u8(a.reserved ? 1 : 0);
  }
}

// What version 3 adds: this site's number, the peers' numbers, the hop limit, the summary age.
void put_sites(dataplane::ByteWriter& w, const router::EngineConfig& d) {
  w.u8(d.site_number);
  w.u32(static_cast<std::uint32_t>(d.site_numbers.size()));
  for (const std::uint8_t n : d.site_numbers) {
    w.u8(n);
  }
  w.u8(d.max_site_hops);
  w.u32(d.site_summary_max_age_ms);
}

bool get_sites(dataplane::ByteReader& r, router::EngineConfig& d) {
  d.site_number = r.u8();
  const std::uint32_t sites = r.u32();
  if (!r.ok() || sites > router::kMaxSiteNumber + 1u) {
    return false;
  }
  d.site_numbers.resize(sites);
  for (std::uint8_t& n : d.site_numbers) {
    n = r.u8();
  }
  d.max_site_hops = r.u8();
  d.site_summary_max_age_ms = r.u32();
  return r.ok();
}

// What version 4 adds: each queue's surge exit hold.
void put_exit_holds(dataplane::ByteWriter& w, const router::EngineConfig& d) {
  for (const auto& q : d.queues) {
    w.u32(q.surge.exit_hold_ms);
  }
}

bool get_exit_holds(dataplane::ByteReader& r, router::EngineConfig& d) {
  for (auto& q : d.queues) {
    q.surge.exit_hold_ms = r.u32();
  }
  return r.ok();
}

bool get_surge(dataplane::ByteReader& r, router::EngineConfig& d) {
  d.surge_eval_ms = r.u32();
  const std::uint32_t services = r.u32();
  if (!r.ok() || services > kMaxNames) {
    return false;
  }
  d.services.resize(services);
  for (auto& s : d.services) {
    const bool named = get_string(r, s.name);
    const std::uint8_t action = r.u8();
    if (!named || action > static_cast<std::uint8_t>(router::kLastOverflowAction)) {
      return false;
    }
    s.action = static_cast<router::OverflowAction>(action);
    s.target = r.u32();
  }
  for (auto& q : d.queues) {
    get_levels(r, q.surge.enter);
    get_levels(r, q.surge.exit);
    q.surge.min_dwell_ms = r.u32();
    const std::uint32_t actions = r.u32();
    if (!r.ok() || actions > kMaxRules) {
      return false;
    }
    q.surge.actions.resize(actions);
    for (auto& a : q.surge.actions) {
      const std::uint8_t borrow = r.u8();
      const std::uint8_t action = r.u8();
      if (borrow > 1 || action > static_cast<std::uint8_t>(router::kLastOverflowAction)) {
        return false;
      }
      a.borrow = borrow == 1;
      a.action = static_cast<router::OverflowAction>(action);
      a.target = r.u32();
      a.min_level = r.u8();
      a.min_ewt_ms = r.u32();
    }
    const std::uint8_t reserved = r.u8();
    const std::uint32_t count = r.u32();
    if (!r.ok() || reserved > 1 || count > kMaxRules) {
      return false;
    }
    q.reserved = reserved == 1;
    q.services.resize(count);
    for (std::uint32_t& s : q.services) {
      s = r.u32();
    }
  }
  for (auto& a : d.agents) {
    const std::uint8_t reserved = r.u8();
    if (reserved > 1) {
      return false;
    }
    a.reserved = reserved == 1;
  }
  return r.ok();
}

}  // namespace

std::vector<std::uint8_t> encode_reload(const ApplianceConfig& merged, ReloadKind kind) {
  std::vector<std::uint8_t> out;
  dataplane::ByteWriter w(out);
  w.u32(kReloadMagic);
  w.u8(kReloadVersion);
  w.u8(static_cast<std::uint8_t>(kind));
  w.u32(static_cast<std::uint32_t>(merged.skill_names.size()));
  for (const std::string& s : merged.skill_names) {
    put_string(w, s);
  }
  const router::EngineConfig& d = merged.domain;
  w.u32(d.skill_count);
  w.u32(d.max_calls);
  w.u8(d.max_overflow_hops);
  w.u32(d.outbound_reserve_ms);
  w.u32(static_cast<std::uint32_t>(d.queues.size()));
  for (const auto& q : d.queues) {
    put_queue(w, q);
  }
  w.u32(static_cast<std::uint32_t>(d.agents.size()));
  for (const auto& a : d.agents) {
    put_agent(w, a);
  }
  put_surge(w, d);
  put_sites(w, d);
  put_exit_holds(w, d);
  return out;
}

Result<DecodedReload> decode_reload(std::span<const std::uint8_t> payload) {
  const auto bad = [](const std::string& what) {
    return Failure{ControlError::Refused, "the reload record " + what};
  };
  dataplane::ByteReader r(payload);
  if (r.u32() != kReloadMagic) {
    return bad("is not a configuration");
  }
  const std::uint8_t version = r.u8();
  if (version < 1 || version > kReloadVersion) {
    return bad("has a version this node does not know");
  }
  DecodedReload out;
  const std::uint8_t kind = r.u8();
  if (kind != static_cast<std::uint8_t>(ReloadKind::InPlace) &&
      kind != static_cast<std::uint8_t>(ReloadKind::EngineSwap)) {
    return bad("has an unknown kind");
  }
  out.kind = static_cast<ReloadKind>(kind);
  const std::uint32_t names = r.u32();
  if (names > kMaxNames) {
    return bad("names too many skills");
  }
  out.skill_names.resize(names);
  for (std::string& s : out.skill_names) {
    if (!get_string(r, s)) {
      return bad("is truncated or damaged (skill names)");
    }
  }
  router::EngineConfig& d = out.domain;
  d.skill_count = r.u32();
  d.max_calls = r.u32();
  d.max_overflow_hops = r.u8();
  d.outbound_reserve_ms = r.u32();
  const std::uint32_t queues = r.u32();
  if (!r.ok() || queues > kMaxItems) {
    return bad("is truncated or damaged (queues)");
  }
  d.queues.resize(queues);
  for (auto& q : d.queues) {
    if (!get_queue(r, q)) {
      return bad("is truncated or damaged (queue " + q.name + ")");
    }
  }
  const std::uint32_t agents = r.u32();
  if (!r.ok() || agents > kMaxItems) {
    return bad("is truncated or damaged (agents)");
  }
  d.agents.resize(agents);
  for (auto& a : d.agents) {
    if (!get_agent(r, a)) {
      return bad("is truncated or damaged (agents)");
    }
  }
  if (version >= 2 && !get_surge(r, d)) {
    return bad("is truncated or damaged (surge plans and services)");
  }
  if (version >= 3 && !get_sites(r, d)) {
    return bad("is truncated or damaged (sites)");
  }
  if (version >= 4 && !get_exit_holds(r, d)) {
    return bad("is truncated or damaged (surge exit holds)");
  }
  if (!r.at_end()) {
    return bad("has trailing bytes");
  }
  if (out.skill_names.size() != d.skill_count) {
    return bad("names " + std::to_string(out.skill_names.size()) + " skills for " +
               std::to_string(d.skill_count));
  }
  if (const auto problems = router::validate_config(d); !problems.empty()) {
    return bad("holds an invalid configuration (" + problems.front() + ")");
  }
  return out;
}

bool ReloadFollower::prepare(std::span<const std::uint8_t> payload, bool fresh_engine,
                             dataplane::Command& command, const dataplane::ConfigTag*& tag,
                             std::string& why) {
  if (preparing_) {
    why = "a reload is already being applied";
    return false;
  }
  Result<DecodedReload> decoded = decode_reload(payload);
  if (!decoded.ok()) {
    why = decoded.failure().message;
    return false;
  }
  const ApplianceConfig& base = running_ != nullptr ? *running_ : start_;
  if (decoded.value().domain.max_calls != base.domain.max_calls) {
    why = "the reload record's max_calls " + std::to_string(decoded.value().domain.max_calls) +
          " differs from this node's " + std::to_string(base.domain.max_calls);
    return false;
  }
  // This node's own configuration, with the routing domain the primary installed.
  configs_.push_back(base);
  ApplianceConfig& next = configs_.back();
  next.skill_names = std::move(decoded.value().skill_names);
  next.domain = std::move(decoded.value().domain);
  next.log_payload.assign(payload.begin(), payload.end());
  if (fresh_engine || decoded.value().kind == ReloadKind::EngineSwap) {
    swap_ = std::make_unique<dataplane::EngineSwap>();
    swap_->engine = std::make_unique<router::Engine>(next.domain);
    for (const router::AgentConfig& a : next.domain.agents) {
      swap_->agent_numbers.push_back(a.retired ? 0 : a.number);
    }
    command = dataplane::SwapEngine{swap_.get()};
  } else {
    command = dataplane::Reconfigure{&next.domain};
  }
  tag = &next;
  preparing_ = true;
  return true;
}

void ReloadFollower::finish(bool applied) {
  if (!preparing_) {
    return;
  }
  preparing_ = false;
  swap_.reset();  // the replaced engine, or the unused new one
  if (!applied) {
    configs_.pop_back();
    return;
  }
  running_ = &configs_.back();
  std::lock_guard lock(mutex_);
  latest_ = running_;
  ++applied_;
}

ApplianceConfig* ReloadFollower::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

std::uint64_t ReloadFollower::applied() const {
  std::lock_guard lock(mutex_);
  return applied_;
}

}  // namespace acd::control
