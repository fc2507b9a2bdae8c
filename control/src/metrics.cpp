#include "acd/control/metrics.hpp"

#include "acd/control/audit_log.hpp"
#include "acd/control/history_feed.hpp"
#include "acd/control/kafka_export.hpp"
#include "acd/control/credential_store.hpp"
#include "acd/control/ldap_verifier.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <thread>
#include <sstream>
#include <string_view>

#include "acd/dataplane/port.hpp"

namespace acd::control {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Builds the metric families of one scrape; a sample goes to the family declared last.
class Families {
 public:
  void family(const std::string& name, const char* type, const char* help) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    const std::string_view t = type;
    f.type = t == "counter" ? MetricType::Counter
             : t == "gauge" ? MetricType::Gauge
                            : MetricType::Histogram;
    families_.push_back(std::move(f));
  }
  template <typename V>
  void sample(const std::string& name, Labels labels, V value) {
    MetricFamily& f = families_.back();
    assert(f.name == name);
    (void)name;
    ClientMetric m;
    m.label = std::move(labels);
    (f.type == MetricType::Counter ? m.counter.value : m.gauge.value) = static_cast<double>(value);
    f.metric.push_back(std::move(m));
  }
  void histogram(ClientMetric::Histogram h) {
    ClientMetric m;
    m.histogram = std::move(h);
    families_.back().metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
};

Labels label(const char* key, const std::string& value) {
  return Labels{ClientMetric::Label{key, value}};
}

// One latency histogram as a Prometheus histogram family (the +Inf bucket is the count).
void histogram(Families& m, const char* name, const char* help,
               const dataplane::LatencyHistogram& latency) {
  m.family(name, "histogram", help);
  ClientMetric::Histogram h;
  const auto& bounds = dataplane::LatencyHistogram::kBoundsNs;
  for (std::size_t b = 0; b <= bounds.size(); ++b) {
    h.sample_count += latency.buckets[b].load(std::memory_order_relaxed);
    if (b < bounds.size()) {
      h.bucket.push_back({h.sample_count, static_cast<double>(bounds[b]) / 1e9});
    }
  }
  h.sample_sum = static_cast<double>(latency.sum_ns.load(std::memory_order_relaxed)) / 1e9;
  m.histogram(std::move(h));
}

// The directory's sign-in families (ldap_verifier.hpp LdapCounters).
void ldap_metrics(Families& m, const LdapCounters& c) {
  auto load = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  m.family("acd_signin_ldap_binds_total", "counter",
           "Binds as an agent by outcome: accepted, wrong_password (invalidCredentials), error "
           "(another refusal), unavailable (the directory could not be reached or timed out)");
  m.sample("acd_signin_ldap_binds_total", label("outcome", "accepted"), load(c.binds_accepted));
  m.sample("acd_signin_ldap_binds_total", label("outcome", "wrong_password"),
           load(c.binds_wrong_password));
  m.sample("acd_signin_ldap_binds_total", label("outcome", "error"), load(c.binds_error));
  m.sample("acd_signin_ldap_binds_total", label("outcome", "unavailable"),
           load(c.binds_unavailable));
  m.family("acd_signin_ldap_unknown_agents_total", "counter",
           "Sign-ins whose search found no entry (or more than one) for the agent");
  m.sample("acd_signin_ldap_unknown_agents_total", {}, load(c.unknown_agents));
  m.family("acd_signin_ldap_empty_passwords_total", "counter",
           "Sign-ins with an empty password, refused without a bind");
  m.sample("acd_signin_ldap_empty_passwords_total", {}, load(c.refused_empty));
  m.family("acd_signin_directory_fallbacks_total", "counter",
           "Sign-ins checked against the local credential file while the directory was down "
           "(fallback = \"file\"), by the file's answer");
  m.sample("acd_signin_directory_fallbacks_total", label("outcome", "accepted"),
           load(c.fallback_accepted));
  m.sample("acd_signin_directory_fallbacks_total", label("outcome", "refused"),
           load(c.fallback_refused));
  m.family("acd_signin_ldap_pool_connections", "gauge",
           "Directory connections: open (idle or in use), in_use, and size (the most allowed)");
  m.sample("acd_signin_ldap_pool_connections", label("state", "open"), load(c.pool_open));
  m.sample("acd_signin_ldap_pool_connections", label("state", "in_use"), load(c.pool_in_use));
  m.sample("acd_signin_ldap_pool_connections", label("state", "size"), load(c.pool_size));
  m.family("acd_signin_ldap_pool_open_high_water", "gauge",
           "The most directory connections ever open at once");
  m.sample("acd_signin_ldap_pool_open_high_water", {}, load(c.pool_open_high_water));
  m.family("acd_signin_ldap_connections_opened_total", "counter", "Directory connections opened");
  m.sample("acd_signin_ldap_connections_opened_total", {}, load(c.pool_opened));
  m.family("acd_signin_ldap_connections_dropped_total", "counter",
           "Directory connections closed because they failed (reopened on next use)");
  m.sample("acd_signin_ldap_connections_dropped_total", {}, load(c.pool_dropped));
  m.family("acd_signin_ldap_bind_seconds", "histogram",
           "Time a bind as an agent took (answered binds; unavailable ones are not timed)");
  ClientMetric::Histogram h;
  for (std::size_t b = 0; b <= kLdapBindBoundsMs.size(); ++b) {
    h.sample_count += load(c.bind_buckets[b]);
    if (b < kLdapBindBoundsMs.size()) {
      h.bucket.push_back({h.sample_count, static_cast<double>(kLdapBindBoundsMs[b]) / 1e3});
    }
  }
  h.sample_sum = static_cast<double>(load(c.bind_sum_ns)) / 1e9;
  m.histogram(std::move(h));
  m.family("acd_signin_ldap_must_change_total", "counter",
           "Accepted binds the directory answered \"password reset, change it first\" "
           "(ppolicy changeAfterReset): signed in with must-change");
  m.sample("acd_signin_ldap_must_change_total", {}, load(c.binds_must_change));
}

// The endpoint's collector: every scrape reads the sources afresh (copies and relaxed loads).
class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(MetricsSources sources) : sources_(sources) {}
  std::vector<MetricFamily> Collect() const override { return collect_metrics(sources_); }

 private:
  MetricsSources sources_;
};

// The node's part in disaster recovery between sites (docs/dr.md): only with a [site] plan.
void dr_metrics(Families& m, const DrStatus& dr) {
  const DrRole role = dr.role.load();
  if (role == DrRole::None) {
    return;
  }
  m.family("acd_dr_role", "gauge",
           "1 for the node's current disaster-recovery role, 0 for the others");
  for (auto r = static_cast<std::uint8_t>(DrRole::Serving);
       r <= static_cast<std::uint8_t>(DrRole::Standby); ++r) {
    const auto each = static_cast<DrRole>(r);
    m.sample("acd_dr_role", label("role", std::string(to_string(each))), each == role ? 1 : 0);
  }
  // The RPO as each end sees it: the active primary counts what its follower has not
  // acknowledged and how long the oldest of it has waited; the follower, how far the last Head it
  // heard is ahead of what it applied and how old that news is.
  const bool serving = role == DrRole::Serving || role == DrRole::HandedOver ||
                       (role == DrRole::TakenOver && dr.follower_state.load() != 0);
  std::uint64_t records = 0;
  double seconds = 0;
  if (serving) {
    records = dr.lag_records.load();
    seconds = static_cast<double>(dr.lag_us.load()) / 1e6;
  } else if (role == DrRole::Following || role == DrRole::OutOfService) {
    const std::uint64_t applied = dr.applied_seq.load();
    const std::uint64_t head = dr.head_seq.load();
    records = head > applied ? head - applied : 0;
    const std::uint64_t said = dr.head_wall_ns.load();
    const auto now =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    seconds = age_seconds(said, now).value_or(0.0);
  }
  m.family("acd_dr_rpo_records", "gauge",
           "Records the DR site lacks: logged by the active primary, not acknowledged by its "
           "DR follower (on the primary), or announced and not applied (on the follower)");
  m.sample("acd_dr_rpo_records", {}, records);
  m.family("acd_dr_rpo_seconds", "gauge",
           "Seconds of the active site's history the DR site may lack: age of the oldest "
           "unacknowledged record (primary), or of the newest news from the primary (follower)");
  m.sample("acd_dr_rpo_seconds", {}, seconds);
  m.family("acd_dr_follower_connected", "gauge",
           "1 while the DR link is up: a follower caught up (primary), the primary heard "
           "(follower)");
  const bool connected =
      serving ? dr.follower_state.load() ==
                    static_cast<std::uint8_t>(dataplane::LinkPrimary::PeerState::Synchronous)
              : dr.connected.load();
  m.sample("acd_dr_follower_connected", {}, connected ? 1 : 0);
  if ((role == DrRole::Following || role == DrRole::OutOfService) &&
      dr.standby_state.load() != 0) {
    // A DR pair's primary: how far its standby trails what it applied.
    const std::uint64_t applied = dr.applied_seq.load();
    const std::uint64_t acked = dr.standby_acked.load();
    m.family("acd_dr_pair_standby_lag_records", "gauge",
             "A DR pair's primary: records it applied that its standby has not acknowledged");
    m.sample("acd_dr_pair_standby_lag_records", {}, applied > acked ? applied - acked : 0);
  }
}

// The node's part in the pair (docs/ha.md), its replication link and its journal.
void ha_metrics(Families& m, const HaStatus& ha) {
  const HaRole role = ha.role.load();
  m.family("acd_ha_role", "gauge",
           "1 for the node's current HA role, 0 for the others (single: no pair configured)");
  for (auto r = static_cast<std::uint8_t>(HaRole::Single);
       r <= static_cast<std::uint8_t>(HaRole::SteppedDown); ++r) {
    const auto each = static_cast<HaRole>(r);
    m.sample("acd_ha_role", label("role", std::string(to_string(each))), each == role ? 1 : 0);
  }
  auto gauge = [&](const char* name, const char* help, std::uint64_t value) {
    m.family(name, "gauge", help);
    m.sample(name, {}, value);
  };
  auto counter = [&](const char* name, const char* help, std::uint64_t value) {
    m.family(name, "counter", help);
    m.sample(name, {}, value);
  };
  const std::uint64_t last = ha.last_seq.load();
  const std::uint64_t acked = ha.peer_seq.load();
  // A primary with a standby attached (synchronous, or catching up while still alone).
  constexpr std::uint8_t kCatchingUp = 1;
  const bool has_standby =
      role == HaRole::Primary || (role == HaRole::Alone && ha.peer_state.load() == kCatchingUp);
  gauge("acd_ha_epoch", "The epoch this node routes (or follows) under", ha.epoch.load());
  gauge("acd_ha_last_seq", "The last record logged (primary) or applied (standby)", last);
  gauge("acd_ha_standby_acked_seq", "Primary: the last record the standby acknowledged", acked);
  gauge("acd_ha_lag_entries",
        "Primary with a standby: records logged but not yet acknowledged by it (0 otherwise)",
        has_standby && last > acked ? last - acked : 0);
  gauge("acd_ha_held_datagrams", "Replies held until the standby or the journal has their input",
        ha.held.load());
  counter("acd_ha_hash_checks_total", "State hashes compared with the other node",
          ha.hash_checks.load());
  counter("acd_ha_hash_mismatches_total",
          "State hashes that differed from the other node's (the standby left the primary's state)",
          ha.hash_mismatches.load());
  counter("acd_ha_failovers_total", "Promotions this node won (epoch swaps as standby)",
          ha.failovers.load());
  counter("acd_ha_fence_lost_total", "Epoch swaps this node lost (it was fenced or stayed standby)",
          ha.fence_lost.load());
  counter("acd_ha_fence_unreachable_total", "Epoch swaps attempted while etcd did not answer",
          ha.fence_unreachable.load());

  std::lock_guard<std::mutex> sources(ha.sources_mutex);  // the IO thread swaps them rarely
  if (ha.link != nullptr) {
    for (std::size_t i = 0; i < dataplane::kLinkCounterCount; ++i) {
      const auto c = static_cast<dataplane::LinkCounter>(i);
      const std::string name = std::string(dataplane::link_counter_name(c)) + "_total";
      m.family(name, "counter", std::string(dataplane::link_counter_help(c)).c_str());
      m.sample(name, {}, ha.link->read(c));
    }
  }
  if (ha.ack_latency != nullptr) {
    histogram(m, "acd_ha_ack_latency_seconds",
              "Time from sending a record to the standby to its acknowledgement (primary)",
              *ha.ack_latency);
  }
  if (ha.journal != nullptr) {
    const dataplane::Journal& journal = *ha.journal;
    for (std::size_t i = 0; i < dataplane::kJournalCounterCount; ++i) {
      const auto c = static_cast<dataplane::JournalCounter>(i);
      const std::string help(dataplane::journal_counter_help(c));
      const double v = static_cast<double>(journal.counter(c));
      // The two timings go out in seconds (Prometheus' base unit); the rest as the list names them.
      if (c == dataplane::JournalCounter::sync_ns_total) {
        m.family("acd_journal_sync_seconds_total", "counter",
                 "Seconds spent waiting for group commits to complete");
        m.sample("acd_journal_sync_seconds_total", {}, v / 1e9);
      } else if (c == dataplane::JournalCounter::sync_ns_last) {
        m.family("acd_journal_sync_last_seconds", "gauge", "Seconds the last group commit took");
        m.sample("acd_journal_sync_last_seconds", {}, v / 1e9);
      } else {
        const std::string name =
            "acd_journal_" + std::string(dataplane::journal_counter_name(c)) + "_total";
        m.family(name, "counter", help.c_str());
        m.sample(name, {}, v);
      }
    }
    gauge("acd_journal_durable_seq",
          "The highest record written (and synced) to the journal: it survives a crash",
          journal.durable_seq());
    gauge("acd_journal_failed", "1 once a write, sync or file error stopped the journal",
          journal.failed() ? 1 : 0);
  }
}

// The history thread: its counters, how far it has applied and stored, and its lag behind the
// journal (docs/reports.md).
void history_metrics(Families& m, const HistoryFeed& h, const HaStatus* ha) {
  for (std::size_t i = 0; i < kHistoryCounterCount; ++i) {
    const auto c = static_cast<HistoryCounter>(i);
    const std::string name = "acd_history_" + std::string(history_counter_name(c)) + "_total";
    m.family(name, "counter", std::string(history_counter_help(c)).c_str());
    m.sample(name, {}, h.counter(c));
  }
  const std::uint64_t stored = h.stored_seq();
  m.family("acd_history_applied_seq", "gauge",
           "The last log record the history feed applied to its follower engine");
  m.sample("acd_history_applied_seq", {}, h.applied_seq());
  m.family("acd_history_stored_seq", "gauge",
           "Every record of log inputs up to this seq is committed to the history store");
  m.sample("acd_history_stored_seq", {}, stored);
  m.family("acd_history_checkpoint_seq", "gauge",
           "The seq of the feed's last committed checkpoint (a restart resumes after it)");
  m.sample("acd_history_checkpoint_seq", {}, h.checkpoint_seq());
  if (ha != nullptr) {
    std::lock_guard<std::mutex> lock(ha->sources_mutex);
    if (ha->journal != nullptr) {
      const std::uint64_t head = ha->journal->durable_seq();
      m.family("acd_history_lag_seq", "gauge",
               "Journal records (durable) whose history records are not yet stored");
      m.sample("acd_history_lag_seq", {}, head > stored ? head - stored : 0);
    }
  }
  m.family("acd_history_failing", "gauge",
           "1 while the history feed cannot go on (store write error, gap it cannot cross, "
           "unreadable journal); acdd's log says why");
  m.sample("acd_history_failing", {}, h.error().empty() ? 0 : 1);
}

// The Kafka export (docs/kafka.md): the sink's counters and gauges (zero until it is open), and
// the opens that failed.
void kafka_metrics(Families& m, const KafkaExport& k) {
  const history::KafkaCounters* c = k.counters();
#define ACD_X(name, kind, metric, help)                                                   \
  m.family(metric, #kind, help);                                                          \
  m.sample(metric, {}, c != nullptr ? c->name.load(std::memory_order_relaxed) : 0);
  ACD_KAFKA_METRICS(ACD_X)
#undef ACD_X
  m.family("acd_history_kafka_open_failures_total", "counter",
           "Times the export could not be opened (database, password file or librdkafka "
           "configuration); tried again every 5 s, acdd's log says why");
  m.sample("acd_history_kafka_open_failures_total", {}, k.open_failures());
  m.family("acd_history_kafka_exporting", "gauge",
           "1 on the node that exports (it routes), 0 on a standby or DR follower, whose export "
           "only keeps the positions its primary logged");
  m.sample("acd_history_kafka_exporting", {}, k.exporting() ? 1 : 0);
  m.family("acd_history_kafka_log_positions_total", "counter",
           "Export positions read from the sequenced log (the primary's, taken over on a "
           "standby)");
  m.sample("acd_history_kafka_log_positions_total", {}, k.positions_adopted());
  m.family("acd_history_kafka_catch_up_timeouts_total", "counter",
           "Takeovers after which the history thread had not caught up with the journal within "
           "30 s, so the export opened without the old primary's last logged position (more "
           "records sent again, none lost)");
  m.sample("acd_history_kafka_catch_up_timeouts_total", {}, k.catch_up_timeouts());
  m.family("acd_history_kafka_waiting_for_history", "gauge",
           "1 while this node routes but its export waits for the history thread to catch up "
           "with the journal (at most 30 s)");
  m.sample("acd_history_kafka_waiting_for_history", {}, k.waiting_for_history() ? 1 : 0);
}

// ACDP/2: drops by reason (the IO thread's and the handshake worker's summed), handshakes,
// sessions.
void security_metrics(Families& m, const dataplane::SessionLayer& layer) {
  m.family("acd_security_dropped_total", "counter",
           "ACDP/2 datagrams dropped, by reason (never answered, never reach the routing core)");
  for (std::size_t i = 1; i < dataplane::kSecurityDropSlots; ++i) {
    m.sample("acd_security_dropped_total",
             label("reason", std::string(dataplane::security_drop_label(i))), layer.dropped(i));
  }
  static constexpr struct {
    dataplane::SecurityCounter counter;
    const char* name;
    const char* help;
  } kCounters[] = {
#define ACD_X(id, metric, help) {dataplane::SecurityCounter::id, metric, help},
      ACD_SECURITY_COUNTERS(ACD_X)
#undef ACD_X
  };
  for (const auto& c : kCounters) {
    m.family(c.name, "counter", c.help);
    m.sample(c.name, {}, layer.read(c.counter));
  }
  m.family("acd_security_sessions", "gauge",
           "ACDP/2 sessions held (each client's current one and a newer one not yet used)");
  m.sample("acd_security_sessions", {}, layer.sessions());
  m.family("acd_security_clients", "gauge", "Clients configured ([[clients]])");
  m.sample("acd_security_clients", {}, layer.clients());
}

}  // namespace

std::vector<prometheus::MetricFamily> collect_metrics(const MetricsSources& src) {
  Families m;
  m.family("acd_up", "gauge", "1 while acdd serves");
  m.sample("acd_up", {}, 1);
  if (src.site_sender != nullptr) {
    m.family("acd_site_summaries_sent_total", "counter",
             "Summary messages this site sent its peer sites (one per queue and peer address)");
    m.sample("acd_site_summaries_sent_total", {},
             src.site_sender->summaries.load(std::memory_order_relaxed));
    m.family("acd_site_summary_send_failed_total", "counter",
             "Summary datagrams the socket refused to send");
    m.sample("acd_site_summary_send_failed_total", {},
             src.site_sender->send_failed.load(std::memory_order_relaxed));
    m.family("acd_site_summary_refused_total", "counter",
             "Error answers from peer sites to this site's summaries (not a site client there?)");
    m.sample("acd_site_summary_refused_total", {},
             src.site_sender->refused.load(std::memory_order_relaxed));
    m.family("acd_site_summary_sessions_total", "counter",
             "ACDP/2 sessions this site's summary sender made with keyed peers (first and renewed)");
    m.sample("acd_site_summary_sessions_total", {},
             src.site_sender->sessions.load(std::memory_order_relaxed));
    m.family("acd_site_summary_unsealed_total", "counter",
             "Summary rounds a keyed peer missed: no ACDP/2 session with it yet");
    m.sample("acd_site_summary_unsealed_total", {},
             src.site_sender->not_sealed.load(std::memory_order_relaxed));
  }
  if (src.board != nullptr && src.board->ready()) {
    const Snapshot s = src.board->read();
    // Named by the configuration the snapshot was taken under (a reload may have renamed since).
    const ApplianceConfig& cfg = s.config != nullptr ? *s.config : *src.config;
    auto each_queue = [&](const char* name, const char* type, const char* help, auto value) {
      m.family(name, type, help);
      for (std::size_t q = 0; q < s.queues.size() && q < cfg.domain.queues.size(); ++q) {
        if (!cfg.domain.queues[q].retired) {
          m.sample(name, label("queue", cfg.domain.queues[q].name), value(s.queues[q]));
        }
      }
    };
    each_queue("acd_queue_offered_total", "counter",
               "Calls offered to the queue today (reset daily)",
               [](const QueueRow& r) { return r.stats.offered; });
    each_queue("acd_queue_answered_total", "counter", "Calls answered from the queue today",
               [](const QueueRow& r) { return r.stats.answered; });
    each_queue("acd_queue_abandoned_total", "counter",
               "Calls abandoned in the queue or while ringing today",
               [](const QueueRow& r) { return r.stats.abandoned; });
    each_queue("acd_queue_overflowed_total", "counter",
               "Calls that left the queue by an overflow rule today",
               [](const QueueRow& r) { return r.stats.overflowed_out; });
    each_queue("acd_queue_answered_in_sl_total", "counter",
               "Calls answered within the service-level threshold today",
               [](const QueueRow& r) { return r.stats.answered_in_sl; });
    each_queue("acd_queue_waiting_calls", "gauge", "Calls waiting in the queue now",
               [](const QueueRow& r) { return r.view.waiting; });
    each_queue("acd_queue_oldest_wait_seconds", "gauge", "Wait of the oldest call waiting now",
               [](const QueueRow& r) { return static_cast<double>(r.view.oldest_wait) / 1e6; });
    each_queue("acd_queue_ewt_seconds", "gauge",
               "Expected wait for a call arriving now (-1: nobody staffed)", [](const QueueRow& r) {
                 return r.view.ewt_ms == router::kUnknownEwt ? -1.0 : r.view.ewt_ms / 1000.0;
               });
    each_queue("acd_queue_service_level_ratio", "gauge",
               "Answered within the threshold / offered, today", [](const QueueRow& r) {
                 return r.stats.offered > 0 ? static_cast<double>(r.stats.answered_in_sl) /
                                                  static_cast<double>(r.stats.offered)
                                            : 1.0;
               });
    each_queue("acd_queue_service_level_target_ratio", "gauge", "The queue's service-level target",
               [](const QueueRow& r) { return r.view.sl_target_permille / 1000.0; });
    each_queue("acd_queue_asa_seconds", "gauge", "Average speed of answer today",
               [](const QueueRow& r) {
                 return r.stats.answered > 0 ? static_cast<double>(r.stats.wait_answered_ms) /
                                                   1000.0 / static_cast<double>(r.stats.answered)
                                             : 0.0;
               });
    each_queue("acd_queue_ready_agents", "gauge", "Agents free to take a call of the queue now",
               [](const QueueRow& r) { return r.view.ready_agents; });
    each_queue("acd_queue_staffed_agents", "gauge", "Signed-in agents who serve the queue",
               [](const QueueRow& r) { return r.view.staffed; });
    // Surge mode (docs/surge.md): counters since acdd started (a standby counts alike).
    each_queue("acd_queue_surge", "gauge", "1 while the queue is in surge mode",
               [](const QueueRow& r) { return r.view.surge ? 1 : 0; });
    each_queue("acd_queue_surge_forced", "gauge",
               "Operator force on the queue's surge mode: 0 thresholds, 1 on, 2 off",
               [](const QueueRow& r) { return static_cast<int>(r.view.surge_force); });
    each_queue("acd_queue_surge_entries_total", "counter", "Times the queue entered surge mode",
               [](const QueueRow& r) { return r.surge.entries; });
    each_queue("acd_queue_surge_borrowed_total", "counter",
               "Calls of the queue offered to agents borrowed from other queues in surge",
               [](const QueueRow& r) { return r.surge.borrowed; });
    each_queue("acd_queue_surge_overflowed_total", "counter",
               "Calls a surge step sent elsewhere (queue, site, IVR, announcement, busy)",
               [](const QueueRow& r) { return r.surge.surge_overflows; });
    each_queue("acd_queue_callbacks_total", "counter",
               "Callers who hung up keeping their place for a callback",
               [](const QueueRow& r) { return r.surge.callbacks; });
    each_queue("acd_queue_diverted_total", "counter",
               "Calls diverted because a service the queue depends on was down",
               [](const QueueRow& r) { return r.surge.diverted; });
    each_queue("acd_queue_offered_last_minute", "gauge",
               "Calls offered to the queue in the last 60 s",
               [](const QueueRow& r) { return r.view.offered_last_min; });
    m.family("acd_service_down", "gauge",
             "1 while an operator has the back-end service marked down");
    for (std::size_t i = 0; i < cfg.domain.services.size() && i < 64; ++i) {
      m.sample("acd_service_down", label("service", cfg.domain.services[i].name),
               static_cast<double>((s.services_down >> i) & 1u));
    }
    // Peer sites' summaries (docs/dr.md "Inter-site overflow"), per site and queue.
    const std::size_t queue_count = s.queues.size();
    auto each_summary = [&](const char* name, const char* type, const char* help, auto value) {
      m.family(name, type, help);
      for (std::size_t i = 0; i < s.site_summaries.size() && queue_count > 0; ++i) {
        const std::size_t site = i / queue_count;
        const std::size_t q = i % queue_count;
        if (site < cfg.sites.size() && q < cfg.domain.queues.size() &&
            !cfg.domain.queues[q].retired && s.site_summaries[i].seq != 0) {
          m.sample(name,
                   Labels{ClientMetric::Label{"site", cfg.sites[site]},
                          ClientMetric::Label{"queue", cfg.domain.queues[q].name}},
                   value(s.site_summaries[i]));
        }
      }
    };
    each_summary("acd_site_summary_age_seconds", "gauge",
                 "Age of the peer site's latest summary of the queue, on the engine's clock",
                 [&](const router::SiteSummaryView& v) {
                   return static_cast<double>(s.engine_time - v.received) / 1e6;
                 });
    each_summary("acd_site_ewt_seconds", "gauge",
                 "The peer site's expected wait for the queue (-1: nobody staffs it there)",
                 [](const router::SiteSummaryView& v) {
                   return v.ewt_ms == router::kUnknownEwt ? -1.0 : v.ewt_ms / 1000.0;
                 });
    each_summary("acd_site_ready_agents", "gauge", "The peer site's ready agents for the queue",
                 [](const router::SiteSummaryView& v) { return v.ready_agents; });
    each_summary("acd_site_load_ratio", "gauge", "Share of the peer site's agents of the queue busy",
                 [](const router::SiteSummaryView& v) { return v.load_permille / 1000.0; });
    each_summary("acd_site_accepting", "gauge",
                 "1 while the peer site takes overflow of the queue (fresh summary, accepting)",
                 [](const router::SiteSummaryView& v) { return v.accepts && v.fresh ? 1 : 0; });
    m.family("acd_site_summaries_received_total", "counter",
             "Peer sites' summaries the engine kept (all queues)");
    m.sample("acd_site_summaries_received_total", {}, s.counters.site_summaries);
    m.family("acd_site_summaries_ignored_total", "counter",
             "Peer sites' summaries passed over: late (older sequence) or of a queue not here");
    m.sample("acd_site_summaries_ignored_total", {}, s.counters.site_summaries_ignored);
    m.family("acd_agents", "gauge", "Agents by state");
    std::array<std::uint64_t, router::kAgentStateCount> by_state{};
    for (std::size_t a = 0; a < s.agents.size(); ++a) {
      if (a >= cfg.domain.agents.size() || !cfg.domain.agents[a].retired) {
        ++by_state[static_cast<std::size_t>(s.agents[a].view.state)];
      }
    }
    for (std::size_t st = 0; st < by_state.size(); ++st) {
      m.sample("acd_agents",
               label("state", std::string(router::to_string(static_cast<router::AgentState>(st)))),
               by_state[st]);
    }
    m.family("acd_engine_calls", "gauge",
             "Calls in the routing engine (queued, ringing or talking)");
    m.sample("acd_engine_calls", {}, s.calls_in_engine);
    m.family("acd_engine_events_total", "counter", "Inputs applied by the routing engine");
    m.sample("acd_engine_events_total", {}, s.counters.events);
    m.family("acd_engine_refused_total", "counter",
             "Inputs the routing engine turned away, by reason (the sender's matter, not a fault)");
    for (std::size_t st = 1; st < router::kStatusCount; ++st) {
      m.sample("acd_engine_refused_total",
               label("reason", std::string(router::to_string(static_cast<router::Status>(st)))),
               s.counters.refused[st]);
    }
    m.family("acd_engine_faults_total", "counter",
             "Offers the engine made to agents that were not available (a bug: must stay 0)");
    m.sample("acd_engine_faults_total", {}, s.counters.offer_violations);
    // The surge exit hold (docs/surge.md "Leaving"): whether it runs, for how long, and how long
    // until the queue may leave (the longer of the hold's and the minimum dwell's remainders).
    auto exit_held = [&](const router::QueueView& v) -> router::Micros {
      return v.surge && v.surge_exit_holding && s.engine_time > v.surge_exit_since
                 ? s.engine_time - v.surge_exit_since
                 : 0;
    };
    each_queue("acd_queue_surge_exit_holding", "gauge",
               "1 while the queue is in surge and every exit level has held since the hold began",
               [](const QueueRow& r) { return r.view.surge && r.view.surge_exit_holding ? 1 : 0; });
    each_queue("acd_queue_surge_exit_held_seconds", "gauge",
               "How long the exit levels have held in surge (0 while they do not)",
               [&](const QueueRow& r) { return static_cast<double>(exit_held(r.view)) / 1e6; });
    each_queue("acd_queue_surge_exit_left_seconds", "gauge",
               "While the exit levels hold: time until the exit hold and the minimum dwell have "
               "both run (the queue leaves at the next evaluation after); 0 otherwise",
               [&](const QueueRow& r) {
                 const router::QueueView& v = r.view;
                 if (!v.surge || !v.surge_exit_holding) {
                   return 0.0;
                 }
                 const router::Micros held = exit_held(v);
                 const router::Micros dwelt =
                     s.engine_time > v.surge_since ? s.engine_time - v.surge_since : 0;
                 const router::Micros hold = static_cast<router::Micros>(v.surge_exit_hold_ms) * 1000;
                 const router::Micros dwell = static_cast<router::Micros>(v.surge_min_dwell_ms) * 1000;
                 const router::Micros left =
                     std::max(hold > held ? hold - held : 0, dwell > dwelt ? dwell - dwelt : 0);
                 return static_cast<double>(left) / 1e6;
               });
  }
  if (src.io_counters != nullptr) {
    for (std::size_t i = 0; i < dataplane::kCounterCount; ++i) {
      const auto c = static_cast<dataplane::Counter>(i);
      const std::string name =
          "acd_dataplane_" + std::string(dataplane::counter_name(c)) + "_total";
      m.family(name, "counter", std::string(dataplane::counter_help(c)).c_str());
      m.sample(name, label("core", "0"), src.io_counters->read(c));
    }
  }
  if (src.rings != nullptr) {
    using Ring = dataplane::RingGauges::Ring;
    const std::pair<const char*, const Ring*> rings[] = {{"to_router", &src.rings->to_router},
                                                         {"to_io", &src.rings->to_io}};
    auto each_ring = [&](const char* name, const char* help, auto value) {
      m.family(name, "gauge", help);
      for (const auto& [ring, gauges] : rings) {
        m.sample(name, label("ring", ring), value(*gauges).load(std::memory_order_relaxed));
      }
    };
    each_ring("acd_dataplane_ring_occupancy",
              "Entries waiting in a ring between the IO and routing cores, last poll cycle",
              [](const Ring& r) -> const std::atomic<std::uint64_t>& { return r.occupancy; });
    each_ring("acd_dataplane_ring_high_water", "The most entries a ring has held since start",
              [](const Ring& r) -> const std::atomic<std::uint64_t>& { return r.high_water; });
    each_ring("acd_dataplane_ring_capacity", "Entries a ring can hold",
              [](const Ring& r) -> const std::atomic<std::uint64_t>& { return r.capacity; });
  }
  if (src.latency != nullptr) {
    histogram(m, "acd_decision_latency_seconds",
              "Time the routing engine takes per request (wire messages and operator commands)",
              src.latency->requests);
    histogram(m, "acd_engine_tick_seconds",
              "Time the routing engine takes per timer tick (inputs that only advance time)",
              src.latency->ticks);
    histogram(m, "acd_engine_command_seconds",
              "Time the routing engine takes per command that is no event: a node image (snapshot "
              "and state hash), a reload's reconfiguration or engine swap, a route preview",
              src.latency->commands);
    m.family("acd_engine_longest_input_seconds", "gauge",
             "The longest time the routing engine took over one input since start (request: a "
             "wire message or operator event; tick; command: a node image, a reload, a preview)");
    m.sample("acd_engine_longest_input_seconds", label("kind", "request"),
             static_cast<double>(src.latency->requests.max_ns.load(std::memory_order_relaxed)) / 1e9);
    m.sample("acd_engine_longest_input_seconds", label("kind", "tick"),
             static_cast<double>(src.latency->ticks.max_ns.load(std::memory_order_relaxed)) / 1e9);
    m.sample("acd_engine_longest_input_seconds", label("kind", "command"),
             static_cast<double>(src.latency->commands.max_ns.load(std::memory_order_relaxed)) /
                 1e9);
  }
  if (src.ha != nullptr) {
    ha_metrics(m, *src.ha);
    dr_metrics(m, src.ha->dr);
  }
  if (src.signin != nullptr) {
    const SignInCounters& c = *src.signin;
    m.family("acd_signin_total", "counter",
             "Sign-ins by outcome: accepted, failed (wrong password or unknown agent), delayed "
             "(refused unchecked while a back-off ran)");
    m.sample("acd_signin_total", {{"outcome", "accepted"}},
             c.accepted.load(std::memory_order_relaxed));
    m.sample("acd_signin_total", {{"outcome", "failed"}}, c.failed.load(std::memory_order_relaxed));
    m.sample("acd_signin_total", {{"outcome", "delayed"}},
             c.delayed.load(std::memory_order_relaxed));
    m.family("acd_signin_backoffs_total", "counter",
             "Sign-in back-offs imposed after wrong passwords (per source desktop or agent-wide)");
    m.sample("acd_signin_backoffs_total", {}, c.backoffs.load(std::memory_order_relaxed));
    m.family("acd_signin_unlocks_total", "counter",
             "Back-offs lifted by an operator (acdctl agent unlock)");
    m.sample("acd_signin_unlocks_total", {}, c.unlocks.load(std::memory_order_relaxed));
    m.family("acd_credential_changes_not_applied_total", "counter",
             "Credential changes of the sequenced log this node did not store: refused (not a "
             "valid argon2id string, or an agent its credential file lacks) or kept (the entry "
             "changed since, e.g. an administrator's reset)");
    m.sample("acd_credential_changes_not_applied_total", {{"reason", "refused"}},
             c.changes_refused.load(std::memory_order_relaxed));
    m.sample("acd_credential_changes_not_applied_total", {{"reason", "kept"}},
             c.changes_kept.load(std::memory_order_relaxed));
    m.family("acd_signin_directory_held_total", "counter",
             "Sign-ins refused without asking the directory: the agent's wrong binds within "
             "[signin.ldap] wrong_bind_window_s reached max_wrong_binds (also counted as delayed)");
    m.sample("acd_signin_directory_held_total", {},
             c.directory_held.load(std::memory_order_relaxed));
  }
  if (src.ldap != nullptr) {
    ldap_metrics(m, *src.ldap);
  }
  if (src.audit != nullptr) {
    m.family("acd_audit_records_written_total", "counter", "Audit records written and synced");
    m.sample("acd_audit_records_written_total", {}, src.audit->written());
    m.family("acd_audit_records_dropped_total", "counter",
             "Audit records lost (queue full, write error); the log says so itself");
    m.sample("acd_audit_records_dropped_total", {}, src.audit->dropped_total());
    m.family("acd_audit_write_errors_total", "counter",
             "Failed audit writes, syncs or file operations");
    m.sample("acd_audit_write_errors_total", {}, src.audit->write_errors());
    // The pair (docs/audit.md "The pair").
    m.family("acd_audit_ship_shipped_total", "counter",
             "This node's audit records handed to the replication link for the standby");
    m.sample("acd_audit_ship_shipped_total", {}, src.audit->ship_shipped());
    m.family("acd_audit_ship_acked_seq", "gauge",
             "The highest of this node's audit seqs the standby acknowledged holding on disk");
    m.sample("acd_audit_ship_acked_seq", {}, src.audit->ship_acked());
    m.family("acd_audit_ship_lag_records", "gauge",
             "This node's audit records the standby has not acknowledged (0 before any standby)");
    m.sample("acd_audit_ship_lag_records", {}, src.audit->ship_lag());
    m.family("acd_audit_ship_stored_total", "counter",
             "The primary's audit records appended to this node's log (standby)");
    m.sample("acd_audit_ship_stored_total", {}, src.audit->ship_stored());
    m.family("acd_audit_ship_dropped_total", "counter",
             "Audit records the pair could not carry: pruned before shipped, too long, the "
             "standby's queue full, or a hash that did not hold");
    m.sample("acd_audit_ship_dropped_total", {}, src.audit->ship_dropped());
    m.family("acd_audit_ship_gaps_total", "counter",
             "Times the primary's shipped audit records did not follow on (a seq gap, a broken "
             "or a new chain): each asked again, or refused, and noted in audit.ship_gap");
    m.sample("acd_audit_ship_gaps_total", {}, src.audit->ship_gaps());
    m.family("acd_audit_ship_via_log_total", "counter",
             "The primary's operation records not stored as copies: this node's own record of "
             "the operation, from the replicated log, is kept instead");
    m.sample("acd_audit_ship_via_log_total", {}, src.audit->ship_via_log());
  }
  if (src.security != nullptr) {
    security_metrics(m, *src.security);
  }
  if (src.history != nullptr) {
    history_metrics(m, *src.history, src.ha);
  }
  if (src.kafka != nullptr) {
    kafka_metrics(m, *src.kafka);
  }
  return m.take();
}

std::string render_metrics(const MetricsSources& sources) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collect_metrics(sources));
  return out.str();
}

MetricsServer::~MetricsServer() {
  stop();
}

Result<std::uint16_t> MetricsServer::start(const std::string& listen_on) {
  dataplane::Endpoint at;
  if (!dataplane::parse_endpoint(listen_on, at)) {
    return Failure{ControlError::Usage,
                   "metrics.listen must be A.B.C.D:PORT, not '" + listen_on + "'"};
  }
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen_on, 1);
  } catch (const std::exception& e) {
    return Failure{ControlError::Refused,
                   "metrics " + listen_on + ": cannot listen (" + e.what() + ")"};
  }
  collector_ = std::make_shared<Collector>(sources_);
  exposer_->RegisterCollectable(collector_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  const auto port = ports.empty() ? std::uint16_t{0} : static_cast<std::uint16_t>(ports.front());
  bound_ = dataplane::Endpoint{at.address, htons(port), 0};
  return port;
}

namespace {

// The HTTP server's accept thread sleeps in poll() for up to 2 s between looks at its stop flag,
// so a plain stop would hold acdd's exit (a restart's, a switchover's) that long. Connecting to
// the listening socket ends the poll at once; this keeps connecting until `done`.
void wake_accept_loop(const dataplane::Endpoint& at, const std::atomic<bool>& done) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = at.address == 0 ? htonl(INADDR_LOOPBACK) : at.address;
  to.sin_port = at.port;
  while (!done.load(std::memory_order_acquire)) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      (void)connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
      close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

void MetricsServer::stop() {
  if (exposer_ != nullptr) {
    std::atomic<bool> stopped{false};
    std::thread waker([this, &stopped] { wake_accept_loop(bound_, stopped); });
    exposer_.reset();  // joins the HTTP threads
    stopped.store(true, std::memory_order_release);
    waker.join();
  }
  collector_.reset();
}

}  // namespace acd::control
