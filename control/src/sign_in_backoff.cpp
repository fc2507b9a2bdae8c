#include "acd/control/sign_in_backoff.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "acd/control/audit_log.hpp"

namespace acd::control {

namespace {

std::uint64_t steady_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// The delay after `failures` consecutive failures: none within the free ones, then `base`
// doubling per failure, at most `ceiling`.
std::uint64_t delay_after(std::uint32_t failures, std::uint32_t free_failures, std::uint64_t base,
                          std::uint64_t ceiling) {
  if (failures < free_failures) {
    return 0;
  }
  const std::uint32_t doublings = std::min<std::uint32_t>(failures - free_failures, 40);
  return std::min(ceiling, base << doublings);
}

constexpr std::size_t kPruneAbove = 100'000;  // source records kept before old ones are dropped

}  // namespace

SignInBackoff::SignInBackoff(LockoutPolicy policy, Clock clock)
    : policy_(policy), clock_(clock ? std::move(clock) : Clock(steady_seconds)) {}

bool SignInBackoff::held_now(router::AgentNumber agent, std::uint64_t now) {
  if (policy_.directory_max_failures == 0) {
    return false;
  }
  const auto it = wrong_binds_.find(agent);
  if (it == wrong_binds_.end()) {
    return false;
  }
  std::deque<std::uint64_t>& times = it->second;
  while (policy_.directory_window_s != 0 && !times.empty() &&
         now - times.front() >= policy_.directory_window_s) {
    times.pop_front();  // older than the window: the directory has forgotten it too
  }
  if (times.empty()) {
    wrong_binds_.erase(it);
    return false;
  }
  return times.size() >= policy_.directory_max_failures;
}

bool SignInBackoff::refuse(router::AgentNumber agent, const dataplane::SignInSource& source,
                           bool directory) {
  const std::lock_guard lock(mutex_);
  const std::uint64_t now = clock_();
  const auto a = agent_.find(agent);
  const auto s = source_.find({agent, source.client_slot});
  const bool delayed = (a != agent_.end() && a->second.until > now) ||
                       (s != source_.end() && s->second.until > now);
  const bool held = !delayed && directory && held_now(agent, now);
  if (delayed || held) {
    counters_.delayed.fetch_add(1, std::memory_order_relaxed);
    if (held) {
      counters_.directory_held.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
  }
  return false;
}

void SignInBackoff::accepted(router::AgentNumber agent, const dataplane::SignInSource& source) {
  const std::lock_guard lock(mutex_);
  counters_.accepted.fetch_add(1, std::memory_order_relaxed);
  agent_.erase(agent);
  source_.erase({agent, source.client_slot});
  wrong_binds_.erase(agent);  // a directory resets its count on a successful bind too
}

void SignInBackoff::record(router::AgentNumber agent, const char* scope,
                           const dataplane::SignInSource* source, std::uint32_t failures,
                           std::uint64_t delay) {
  counters_.backoffs.fetch_add(1, std::memory_order_relaxed);
  if (audit_ == nullptr) {
    return;
  }
  nlohmann::json detail{{"scope", scope}, {"failures", failures}, {"delay_s", delay}};
  if (source != nullptr) {
    if (source->client_slot != dataplane::SignInSource::kUnknownSlot) {
      detail["client_slot"] = source->client_slot;
    }
    detail["device"] = source->device;
  }
  (void)audit_->record(AuditRecord::make(AuditKind::AgentLockout, AuditOutcome::Ok, "acdd",
                                         "agent=" + std::to_string(agent), std::move(detail)));
}

void SignInBackoff::prune(std::uint64_t now) {
  if (source_.size() <= kPruneAbove) {
    return;
  }
  // A count whose last failure is two ceilings old no longer matters much: forget it.
  const std::uint64_t horizon = 2 * policy_.max_backoff_s;
  std::erase_if(source_, [&](const auto& e) {
    return e.second.until <= now && now - e.second.last > horizon;
  });
}

void SignInBackoff::failed(router::AgentNumber agent, const dataplane::SignInSource& source,
                           bool directory) {
  const std::lock_guard lock(mutex_);
  counters_.failed.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t now = clock_();
  prune(now);
  Backoff& from_source = source_[{agent, source.client_slot}];
  from_source.last = now;
  const std::uint64_t source_delay = delay_after(++from_source.failures, policy_.free_failures,
                                                 policy_.backoff_s, policy_.max_backoff_s);
  if (source_delay > 0) {
    from_source.until = now + source_delay;
    record(agent, "source", &source, from_source.failures, source_delay);
  }
  Backoff& whole = agent_[agent];
  whole.last = now;
  const std::uint64_t agent_delay =
      delay_after(++whole.failures, policy_.agent_free_failures, policy_.backoff_s,
                  policy_.agent_max_backoff_s);
  if (agent_delay > 0) {
    whole.until = now + agent_delay;
    record(agent, "agent", nullptr, whole.failures, agent_delay);
  }
  if (directory && policy_.directory_max_failures != 0) {
    (void)held_now(agent, now);  // drops what the window forgot
    std::deque<std::uint64_t>& times = wrong_binds_[agent];
    times.push_back(now);
    while (times.size() > policy_.directory_max_failures) {
      times.pop_front();
    }
    if (times.size() == policy_.directory_max_failures) {
      const std::uint64_t hold =
          policy_.directory_window_s == 0 ? 0 : times.front() + policy_.directory_window_s - now;
      record(agent, "directory", &source, static_cast<std::uint32_t>(times.size()), hold);
    }
  }
}

bool SignInBackoff::locked(router::AgentNumber agent) {
  const std::lock_guard lock(mutex_);
  const std::uint64_t now = clock_();
  const auto it = agent_.find(agent);
  return (it != agent_.end() && it->second.until > now) || held_now(agent, now);
}

std::uint64_t SignInBackoff::wait_seconds(router::AgentNumber agent,
                                          const dataplane::SignInSource& source) {
  const std::lock_guard lock(mutex_);
  const std::uint64_t now = clock_();
  std::uint64_t until = 0;
  if (auto it = agent_.find(agent); it != agent_.end()) {
    until = it->second.until;
  }
  if (auto it = source_.find({agent, source.client_slot}); it != source_.end()) {
    until = std::max(until, it->second.until);
  }
  if (held_now(agent, now) && policy_.directory_window_s != 0) {
    until = std::max(until, wrong_binds_[agent].front() + policy_.directory_window_s);
  }
  return until > now ? until - now : 0;
}

std::size_t SignInBackoff::unlock(router::AgentNumber agent) {
  const std::lock_guard lock(mutex_);
  const std::uint64_t now = clock_();
  std::size_t running = 0;
  std::size_t records = 0;
  if (auto it = agent_.find(agent); it != agent_.end()) {
    running += it->second.until > now ? 1 : 0;
    ++records;
    agent_.erase(it);
  }
  for (auto it = source_.lower_bound({agent, 0}); it != source_.end() && it->first.first == agent;) {
    running += it->second.until > now ? 1 : 0;
    ++records;
    it = source_.erase(it);
  }
  if (held_now(agent, now)) {
    ++running;
  }
  if (wrong_binds_.erase(agent) != 0) {
    ++records;
  }
  counters_.unlocks.fetch_add(1, std::memory_order_relaxed);
  if (audit_ != nullptr) {
    (void)audit_->record(AuditRecord::make(
        AuditKind::AgentUnlock, AuditOutcome::Ok, "acdd", "agent=" + std::to_string(agent),
        nlohmann::json{{"backoffs_running", running}, {"counts_cleared", records}}));
  }
  return running;
}

}  // namespace acd::control
