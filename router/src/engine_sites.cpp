// Sites: peer sites' availability summaries as engine inputs, and the site a rule to a site sends
// a call to (the accepting site with the least expected wait, never one the call has visited, not
// beyond the hop limit). See "Inter-site overflow" in router/DESIGN.md and docs/dr.md.
#include <algorithm>

#include "acd/router/engine.hpp"

namespace acd::router {

using detail::CallRecord;
using detail::QueueKeyEntry;
using detail::RuleRecord;
using detail::SiteSummaryRecord;

Event site_summary_event(Micros time, const SiteSummaryFields& f) {
  Event e;
  e.time = time;
  e.type = EventType::SiteSummary;
  e.reason = f.site;
  e.priority = f.flags;
  e.device = f.queue_key;
  e.call = f.seq;
  e.agent = f.ready_agents;
  e.number = static_cast<std::uint64_t>(f.ewt_ms) |
             (static_cast<std::uint64_t>(f.sl_permille) << 32) |
             (static_cast<std::uint64_t>(f.load_permille) << 48);
  return e;
}

SiteSummaryFields site_summary_fields(const Event& e) {
  SiteSummaryFields f;
  f.site = static_cast<std::uint8_t>(e.reason);
  f.flags = e.priority;
  f.queue_key = static_cast<std::uint32_t>(e.device);
  f.seq = e.call;
  f.ready_agents = e.agent;
  f.ewt_ms = static_cast<std::uint32_t>(e.number);
  f.sl_permille = static_cast<std::uint16_t>(e.number >> 32);
  f.load_permille = static_cast<std::uint16_t>(e.number >> 48);
  return f;
}

std::uint32_t queue_key(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (const char ch : name) {
    h ^= static_cast<std::uint8_t>(ch);
    h *= 16777619u;
  }
  return h;
}

void Engine::load_site_params(const EngineConfig& config) {
  site_number_ = config.site_number;
  max_site_hops_ = config.max_site_hops;
  site_summary_max_age_ms_ = config.site_summary_max_age_ms;
  site_numbers_.assign(config.site_numbers.begin(), config.site_numbers.end());
  queue_keys_.clear();
  for (QueueIndex q = 0; q < config.queues.size(); ++q) {
    if (!config.queues[q].retired) {
      queue_keys_.push_back(QueueKeyEntry{queue_key(config.queues[q].name), q});
    }
  }
  std::sort(queue_keys_.begin(), queue_keys_.end(),
            [](const QueueKeyEntry& a, const QueueKeyEntry& b) { return a.key < b.key; });
  site_summaries_.assign(site_numbers_.size() * queues_.size(), SiteSummaryRecord{});
}

// Summaries of the same sites move across by site number; new sites and queues start empty.
void Engine::take_over_sites(const Engine& old) {
  for (std::uint32_t i = 0; i < site_numbers_.size(); ++i) {
    const auto it = std::find(old.site_numbers_.begin(), old.site_numbers_.end(), site_numbers_[i]);
    if (it == old.site_numbers_.end()) {
      continue;
    }
    const auto j = static_cast<std::size_t>(it - old.site_numbers_.begin());
    for (QueueIndex q = 0; q < old.queues_.size() && q < queues_.size(); ++q) {
      site_summaries_[i * queues_.size() + q] = old.site_summaries_[j * old.queues_.size() + q];
    }
  }
}

void Engine::on_site_summary(const Event& e) {
  const SiteSummaryFields f = site_summary_fields(e);
  const auto site = std::find(site_numbers_.begin(), site_numbers_.end(), f.site);
  if (e.reason > kMaxSiteNumber || site == site_numbers_.end()) {
    error(Status::UnknownSite, e);
    return;
  }
  if (f.sl_permille > 1000 || f.load_permille > 1000 || f.seq == 0) {
    error(Status::BadField, e);
    return;
  }
  // A queue this domain does not have (the peer serves more) is no error: nothing to keep.
  const auto key = std::lower_bound(
      queue_keys_.begin(), queue_keys_.end(), f.queue_key,
      [](const QueueKeyEntry& k, std::uint32_t value) { return k.key < value; });
  if (key == queue_keys_.end() || key->key != f.queue_key) {
    ++counters_.site_summaries_ignored;
    return;
  }
  SiteSummaryRecord& s =
      site_summaries_[static_cast<std::size_t>(site - site_numbers_.begin()) * queues_.size() +
                      key->queue];
  // A summary older than the one kept is late (reordered datagrams); a sender that restarted
  // with a smaller sequence is believed again once its last summary went stale.
  if (s.seq != 0 && f.seq <= s.seq && !(s.received + site_summary_max_age_ms_ * Micros{1000} <
                                        s_.now)) {
    ++counters_.site_summaries_ignored;
    return;
  }
  ++counters_.site_summaries;
  s.received = s_.now;
  s.seq = f.seq;
  s.ready_agents = f.ready_agents;
  s.ewt_ms = f.ewt_ms;
  s.sl_permille = f.sl_permille;
  s.load_permille = f.load_permille;
  s.flags = f.flags;
}

bool Engine::summary_accepts(const SiteSummaryRecord& s) const {
  const bool fresh = s.seq != 0 && s_.now <= s.received + site_summary_max_age_ms_ * Micros{1000};
  return fresh && (s.flags & kSiteAccepts) != 0 && s.ewt_ms != kUnknownEwt;
}

std::uint32_t Engine::site_target(const CallRecord& c, const RuleRecord& rule) const {
  if (rule.action != OverflowAction::ToSite) {
    return rule.target;
  }
  if (c.site_hops >= max_site_hops_) {
    return kNone;
  }
  auto visited = [&](std::uint32_t site) {
    return site < site_numbers_.size() && (c.visited >> site_numbers_[site] & 1u) != 0;
  };
  if (rule.target != kAnySite) {
    return visited(rule.target) ? kNone : rule.target;
  }
  std::uint32_t best = kNone;
  for (std::uint32_t i = 0; i < site_numbers_.size(); ++i) {
    const SiteSummaryRecord& s = site_summaries_[i * queues_.size() + c.queue];
    if (visited(i) || !summary_accepts(s)) {
      continue;
    }
    if (best == kNone) {
      best = i;
      continue;
    }
    const SiteSummaryRecord& b = site_summaries_[best * queues_.size() + c.queue];
    if (s.ewt_ms < b.ewt_ms || (s.ewt_ms == b.ewt_ms && site_numbers_[i] < site_numbers_[best])) {
      best = i;
    }
  }
  return best;
}

SiteSummaryView Engine::site_summary(std::uint32_t site, QueueIndex q) const {
  const SiteSummaryRecord& s = site_summaries_[site * queues_.size() + q];
  SiteSummaryView v;
  v.site = static_cast<std::uint8_t>(site_numbers_[site]);
  v.seq = s.seq;
  v.received = s.received;
  v.ready_agents = s.ready_agents;
  v.ewt_ms = s.ewt_ms;
  v.sl_permille = s.sl_permille;
  v.load_permille = s.load_permille;
  v.accepts = (s.flags & kSiteAccepts) != 0;
  v.fresh = s.seq != 0 && s_.now <= s.received + site_summary_max_age_ms_ * Micros{1000};
  return v;
}

}  // namespace acd::router
