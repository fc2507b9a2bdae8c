// The Prometheus endpoint: text exposition format 0.0.4 over HTTP (GET /metrics), rendered from the
// published snapshot, the per-core dataplane counters, the decision-latency histogram and the
// node's HA and journal state. Nothing here touches the routing thread; reads are copies, relaxed
// atomic loads and, for the HA sources, a mutex the IO thread takes only when they change. Every
// metric is documented in docs/metrics.md. No customer data (call IDs, numbers) is exposed.
//
// prometheus-cpp serves it: its Exposer (civetweb) calls our Collectable on every scrape, which
// builds the metric families from the sources.
//
// Threads: the Exposer's HTTP thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "acd/control/control_server.hpp"
#include "acd/control/ha_node.hpp"
#include "acd/control/result.hpp"
#include "acd/control/site_summary_sender.hpp"
#include "acd/dataplane/counters.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/session_layer.hpp"

namespace acd::control {

class HistoryFeed;  // history_feed.hpp
class KafkaExport;  // kafka_export.hpp

class AuditLog;  // audit_log.hpp
struct SignInCounters;  // credential_store.hpp
struct LdapCounters;    // ldap_verifier.hpp

struct MetricsSources {
  const ApplianceConfig* config = nullptr;
  const SnapshotBoard* board = nullptr;
  const dataplane::CoreCounters* io_counters = nullptr;  // one core today
  const dataplane::EngineLatency* latency = nullptr;
  const dataplane::RingGauges* rings = nullptr;  // split mode only
  // The node's part in the pair and its journal (docs/ha.md); null: no acd_ha_ / acd_journal_
  // families. Its link, ack latency and journal are read under its sources_mutex each scrape.
  const HaStatus* ha = nullptr;
  // The audit log (audit_log.hpp); null: no acd_audit_ families. Relaxed loads of its counts.
  const AuditLog* audit = nullptr;
  // ACDP/2's session layer (session_layer.hpp); null (security off): no acd_security_ families.
  const dataplane::SessionLayer* security = nullptr;
  // Sign-in outcomes and back-offs (credential_store.hpp); null: no acd_signin_ families.
  const SignInCounters* signin = nullptr;
  // The directory's binds, fallbacks and connection pool (ldap_verifier.hpp); null (backend
  // file): no acd_signin_ldap_ / acd_signin_directory_ families.
  const LdapCounters* ldap = nullptr;
  // The history thread (history_feed.hpp); null ([history] off): no acd_history_ families.
  const HistoryFeed* history = nullptr;
  // The inter-site summary sender (site_summary_sender.hpp); null: no acd_site_summaries_sent_
  // families. The received summaries come from the snapshot.
  const SiteSenderCounters* site_sender = nullptr;
  // The Kafka export of the records (kafka_export.hpp); null ([history.kafka] off): no
  // acd_history_kafka_ families.
  const KafkaExport* kafka = nullptr;
};

// One scrape's metric families, and the same as exposition text.
std::vector<prometheus::MetricFamily> collect_metrics(const MetricsSources& sources);
std::string render_metrics(const MetricsSources& sources);

class MetricsServer {
 public:
  explicit MetricsServer(MetricsSources sources) : sources_(sources) {}
  ~MetricsServer();
  // Listens on A.B.C.D:PORT (port 0: any) and returns the port bound. Fails with Usage for an
  // address of another form, Refused when it cannot listen (the port is taken, say).
  Result<std::uint16_t> start(const std::string& listen);
  void stop();

 private:
  MetricsSources sources_;
  std::shared_ptr<prometheus::Collectable> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  dataplane::Endpoint bound_{};  // where it listens (network byte order), to wake it on stop
};

}  // namespace acd::control
