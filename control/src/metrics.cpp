#include "acd/control/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "acd/dataplane/port.hpp"
#include "socket_io.hpp"

namespace acd::control {

namespace {

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  template <typename V>
  void sample(const std::string& name, const std::string& labels, V value) {
    out_ << name;
    if (!labels.empty()) {
      out_ << '{' << labels << '}';
    }
    out_ << ' ' << value << '\n';
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string label(const char* key, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      escaped += '\\';
    }
    escaped += c == '\n' ? ' ' : c;
  }
  return std::string(key) + "=\"" + escaped + "\"";
}

}  // namespace

std::string render_metrics(const MetricsSources& src) {
  Exposition m;
  m.family("acd_up", "gauge", "1 while acdd serves");
  m.sample("acd_up", "", 1);
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
    m.sample("acd_engine_calls", "", s.calls_in_engine);
    m.family("acd_engine_events_total", "counter", "Inputs applied by the routing engine");
    m.sample("acd_engine_events_total", "", s.counters.events);
    m.family("acd_engine_errors_total", "counter", "Inputs the routing engine refused");
    m.sample("acd_engine_errors_total", "", s.counters.errors);
  }
  if (src.io_counters != nullptr) {
    for (std::size_t i = 0; i < dataplane::kCounterCount; ++i) {
      const auto c = static_cast<dataplane::Counter>(i);
      const std::string name =
          "acd_dataplane_" + std::string(dataplane::counter_name(c)) + "_total";
      m.family(name.c_str(), "counter", std::string(dataplane::counter_help(c)).c_str());
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
    const char* name = "acd_decision_latency_seconds";
    m.family(name, "histogram", "Time the routing engine takes per input");
    std::uint64_t cumulative = 0;
    const auto& bounds = dataplane::LatencyHistogram::kBoundsNs;
    for (std::size_t b = 0; b <= bounds.size(); ++b) {
      cumulative += src.latency->buckets[b].load(std::memory_order_relaxed);
      std::ostringstream le;
      if (b < bounds.size()) {
        le << static_cast<double>(bounds[b]) / 1e9;
      } else {
        le << "+Inf";
      }
      m.sample(std::string(name) + "_bucket", label("le", le.str()), cumulative);
    }
    m.sample(std::string(name) + "_sum", "",
             static_cast<double>(src.latency->sum_ns.load(std::memory_order_relaxed)) / 1e9);
    m.sample(std::string(name) + "_count", "", cumulative);
  }
  return m.text();
}

MetricsServer::~MetricsServer() {
  stop();
}

std::string MetricsServer::start(const std::string& listen_on, std::uint16_t& bound_port) {
  dataplane::Endpoint at;
  if (!dataplane::parse_endpoint(listen_on, at)) {
    return "metrics.listen must be A.B.C.D:PORT, not '" + listen_on + "'";
  }
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = at.address;
  addr.sin_port = at.port;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 16) != 0) {
    const std::string error = "metrics " + listen_on + ": " + std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return error;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
  return {};
}

void MetricsServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

void MetricsServer::run() {
  accept_loop(
      fd_, stop_,
      [this](int client) {
        std::string request;
        char buf[2048];
        while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
          const ssize_t n = read(client, buf, sizeof(buf));
          if (n <= 0) {
            break;
          }
          request.append(buf, static_cast<std::size_t>(n));
        }
        std::string status = "200 OK";
        std::string body;
        if (request.rfind("GET /metrics", 0) == 0) {
          body = render_metrics(sources_);
        } else if (request.rfind("GET ", 0) == 0) {
          status = "404 Not Found";
          body = "acd serves /metrics\n";
        } else {
          status = "405 Method Not Allowed";
          body = "GET /metrics\n";
        }
        write_all(client, "HTTP/1.1 " + status +
                              "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8" +
                              "\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body);
      },
      [] {});
}

}  // namespace acd::control
