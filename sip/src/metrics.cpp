// The bridge's Prometheus text and the HTTP answer that carries it (metrics.hpp).
#include "acd/sip/metrics.hpp"

#include <cstdio>

namespace acd::sip {

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::uint64_t value,
            std::string_view labels = {}) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
  family(out, name, "gauge", help);
  sample(out, name, value);
}

void counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
  family(out, name, "counter", help);
  sample(out, name, value);
}

void histogram(std::string& out, std::string_view name, std::string_view help, const Latency& l) {
  family(out, name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < Latency::kBoundsUs.size(); ++i) {
    cumulative += l.buckets[i];
    const std::uint32_t us = Latency::kBoundsUs[i];
    char le[32];
    std::snprintf(le, sizeof le, "le=\"%u.%06u\"", us / 1'000'000, us % 1'000'000);
    sample(out, bucket, cumulative, le);
  }
  sample(out, bucket, l.count, "le=\"+Inf\"");
  char sum[48];
  std::snprintf(sum, sizeof sum, "%s_sum %.6f\n", std::string(name).c_str(),
                static_cast<double>(l.sum_ns) / 1e9);
  out += sum;
  sample(out, std::string(name) + "_count", l.count);
}

}  // namespace

std::string render_metrics(const Bridge& bridge, const ShellCounters& shell) {
  std::string out;
  out.reserve(4096);
#define ACD_X(name, help) \
  counter(out, "acd_sip_" #name "_total", help, bridge.count(Counter::name));
  ACD_SIP_COUNTERS(ACD_X)
#undef ACD_X
  gauge(out, "acd_sip_calls", "calls the bridge follows now (routing, queued, ringing, talking)",
        bridge.calls());
  family(out, "acd_sip_calls_by_state", "gauge", "calls the bridge follows now, by state");
  for (const CallState s : {CallState::Routing, CallState::Queued, CallState::Ringing,
                            CallState::Rerouting, CallState::Talking}) {
    sample(out, "acd_sip_calls_by_state", bridge.calls_in(s),
           std::string("state=\"") + to_string(s) + "\"");
  }
  gauge(out, "acd_sip_suspended_transactions",
        "INVITE transactions Kamailio holds suspended for the bridge's next command",
        bridge.suspended());
  gauge(out, "acd_sip_acdp_requests_waiting", "ACDP requests sent and not answered yet",
        bridge.waiting());
  gauge(out, "acd_sip_acdp_registered", "1 while the bridge is registered with acdd as a switch",
        bridge.registered() ? 1 : 0);
  gauge(out, "acd_sip_acdp_session", "1 while the bridge has an ACDP/2 session with acdd",
        shell.acdp_session ? 1 : 0);
  counter(out, "acd_sip_acdp_sessions_total",
          "ACDP/2 sessions made with acdd (the first, then one per renewal or acdd restart)",
          shell.acdp_sessions);
  gauge(out, "acd_sip_evapi_up", "1 while the evapi connection to Kamailio is up",
        shell.evapi_up ? 1 : 0);
  counter(out, "acd_sip_evapi_connects_total", "evapi connections to Kamailio made",
          shell.evapi_connects);
  counter(out, "acd_sip_evapi_reconnects_total",
          "evapi connections lost (Kamailio restarted, or a framing error); each is made again",
          shell.evapi_losses);
  counter(out, "acd_sip_metrics_bad_requests_total",
          "requests to the metrics endpoint that were not GET /metrics", shell.http_bad_requests);
  counter(out, "acd_sip_metrics_timeouts_total",
          "metrics connections closed for not sending a whole request in time",
          shell.http_timeouts);
  gauge(out, "acd_sip_evapi_unconfirmed_bytes",
        "bytes of commands written to Kamailio that it has not confirmed reading yet",
        bridge.evapi_unconfirmed_bytes());
  gauge(out, "acd_sip_evapi_commands_held",
        "commands waiting in the bridge for room in the evapi window (or for a connection)",
        bridge.evapi_commands_held());
  histogram(out, "acd_sip_decision_seconds",
            "a RouteRequest sent to acdd until its RouteResponse came back", bridge.decision_latency());
  histogram(out, "acd_sip_evapi_command_seconds",
            "a command written to Kamailio until Kamailio confirmed reading it (its done event)",
            bridge.evapi_latency());
  return out;
}

bool http_request_complete(std::string_view request) {
  return request.find("\r\n\r\n") != std::string_view::npos ||
         request.find("\n\n") != std::string_view::npos;
}

std::string http_answer(std::string_view request, std::string_view body) {
  const auto reply = [](std::string_view status, std::string_view type, std::string_view text) {
    std::string r = "HTTP/1.1 ";
    r += status;
    r += "\r\nContent-Type: ";
    r += type;
    r += "\r\nContent-Length: ";
    r += std::to_string(text.size());
    r += "\r\nConnection: close\r\n\r\n";
    r += text;
    return r;
  };
  const std::string_view line = request.substr(0, request.find_first_of("\r\n"));
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(0, sp1) != "GET" ||
      line.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
    return reply("400 Bad Request", "text/plain", "GET /metrics\n");
  }
  std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (path != "/metrics") {
    return reply("404 Not Found", "text/plain", "GET /metrics\n");
  }
  return reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
}

}  // namespace acd::sip
