// The Prometheus endpoint: text exposition format 0.0.4 over HTTP (GET /metrics), rendered from the
// published snapshot, the per-core dataplane counters and the decision-latency histogram. Nothing
// here touches the routing thread; reads are copies and relaxed atomic loads. Every metric is
// documented in docs/metrics.md. No customer data (call IDs, numbers) is exposed.
//
// prometheus-cpp, the library of choice, is not packaged in Debian 12; the exposition format is
// small and stable, so it is written here directly.
//
// Threads: the server's own thread.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "acd/control/control_server.hpp"
#include "acd/dataplane/counters.hpp"

namespace acd::control {

struct MetricsSources {
  const ApplianceConfig* config = nullptr;
  const SnapshotBoard* board = nullptr;
  const dataplane::CoreCounters* io_counters = nullptr;  // one core today
  const dataplane::LatencyHistogram* latency = nullptr;
  const dataplane::RingGauges* rings = nullptr;  // split mode only
};

// The whole exposition text.
std::string render_metrics(const MetricsSources& sources);

class MetricsServer {
 public:
  explicit MetricsServer(MetricsSources sources) : sources_(sources) {}
  ~MetricsServer();
  // Listens on A.B.C.D:PORT (port 0: any); returns an error message, or "" and the bound port.
  [[nodiscard]] std::string start(const std::string& listen, std::uint16_t& bound_port);
  void stop();

 private:
  void run();
  MetricsSources sources_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace acd::control
