// acdd: the acd daemon. Reads the configuration, then wires a port, the pipeline and the routing
// engine; nothing else lives here.
//
//   acdd [--config /etc/acd/acd.toml] [--listen A.B.C.D:PORT] [--cores 0 | --cores 0,1]
//        [--backend uring|dpdk] [--credentials FILE] [--port-file FILE]
//   acdd --check-config FILE
//
// Without --config the embedded default (a demo centre) is used. Flags override the file.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/uring_port.hpp"
#ifdef ACD_WITH_DPDK
#include "acd/dataplane/dpdk_port.hpp"
#endif
#include "acd/control/config.hpp"
#include "acd/control/control_server.hpp"
#include "acd/control/credentials.hpp"
#include "acd/control/metrics.hpp"
#include "acd/control/watchdog.hpp"

namespace {

using namespace acd;

std::atomic<bool> g_stop{false};    // set by SIGTERM/SIGINT; lock-free, so async-signal-safe
std::atomic<bool> g_reload{false};  // set by SIGHUP
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}
extern "C" void on_hangup(int) {
  g_reload.store(true, std::memory_order_relaxed);
}

// systemd's notification protocol (a no-op when not started by systemd).
void notify_systemd(const char* message) {
  sd_notify(0, message);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acdd: the acd routing daemon"};
  std::string config_file;
  std::string check_file;
  std::string listen;
  std::string cores;
  std::string credentials_file;
  std::string port_file;
  std::string backend;
  std::string dpdk_args;
  int dpdk_port = -1;
  app.add_option("--config", config_file, "Configuration file (default: the embedded demo centre)")
      ->check(CLI::ExistingFile);
  app.add_option("--check-config", check_file,
                 "Validate a configuration file and exit (0 valid, 2 not)");
  app.add_option("--listen", listen, "Override dataplane.listen (port 0: any free port)");
  app.add_option("--cores", cores,
                 "Override dataplane.cores: CPU, or IO_CPU,ROUTER_CPU; -1 = unpinned");
  app.add_option("--backend", backend, "Override dataplane.backend")
      ->check(CLI::IsMember({"uring", "dpdk"}));
  app.add_option("--dpdk-args", dpdk_args, "Override dataplane.dpdk_args (EAL arguments)");
  app.add_option("--dpdk-port", dpdk_port, "Override dataplane.dpdk_port");
  app.add_option(
      "--credentials", credentials_file,
      "Override control.credentials: the argon2id credential file ('acdctl agent passwd')");
  app.add_option("--port-file", port_file, "Write the bound UDP port here once listening");
  std::string control_socket;
  app.add_option("--control-socket", control_socket,
                 "Override control.socket (acdctl's Unix socket)");
  std::string metrics_listen;
  app.add_option("--metrics", metrics_listen,
                 "Override metrics.listen (A.B.C.D:PORT; port 0: any)");
  CLI11_PARSE(app, argc, argv);
  // A peer that hangs up must never end the daemon: every socket write checks its result instead.
  signal(SIGPIPE, SIG_IGN);

  if (!check_file.empty()) {
    const control::ConfigResult checked = control::load_config(check_file);
    for (const std::string& e : checked.errors) {
      std::cerr << e << "\n";
    }
    if (!checked.ok()) {
      std::cerr << "acdd: " << checked.errors.size() << " problem(s); nothing was started\n";
      return 2;
    }
    std::cout << check_file << ": valid (" << checked.config.domain.queues.size() << " queues, "
              << checked.config.domain.agents.size() << " agents)\n";
    return 0;
  }
  const control::ConfigResult loaded =
      config_file.empty()
          ? control::parse_config(control::embedded_default_config(), "<embedded default>")
          : control::load_config(config_file);
  if (!loaded.ok()) {
    for (const std::string& e : loaded.errors) {
      std::cerr << e << "\n";
    }
    std::cerr << "acdd: the configuration has problems; nothing was started\n";
    return 2;
  }
  control::ApplianceConfig settings = loaded.config;
  const router::EngineConfig& domain = settings.domain;
  if (listen.empty()) {
    listen = settings.dataplane.listen;
  }
  if (backend.empty()) {
    backend = settings.dataplane.backend;
  }
  if (dpdk_args.empty()) {
    dpdk_args = settings.dataplane.dpdk_args;
  }
  if (dpdk_port < 0) {
    dpdk_port = settings.dataplane.dpdk_port;
  }
  if (cores.empty()) {
    cores = std::to_string(settings.dataplane.cores.front());
    if (settings.dataplane.cores.size() > 1) {
      cores += "," + std::to_string(settings.dataplane.cores[1]);
    }
  }
  dataplane::Endpoint endpoint;
  if (!dataplane::parse_endpoint(listen, endpoint)) {
    std::cerr << "acdd: --listen must be A.B.C.D:PORT, not '" << listen << "'\n";
    return 2;
  }
  int io_cpu = -1;
  int router_cpu = -1;
  {
    char comma = 0;
    std::istringstream in(cores);
    if (!(in >> io_cpu) || (in >> comma && (comma != ',' || !(in >> router_cpu)))) {
      std::cerr << "acdd: --cores must be CPU or IO_CPU,ROUTER_CPU, not '" << cores << "'\n";
      return 2;
    }
  }

  // Sign-in checks: argon2id hashes with lockout. Only the embedded demo, when no credential file
  // exists, falls back to the demo passwords demo-<ID>.
  if (credentials_file.empty()) {
    credentials_file = settings.credentials;
  }
  control::CredentialStore store;
  dataplane::InMemoryCredentials demo_credentials;
  dataplane::CredentialVerifier* verifier_impl = &store;
  if (const std::string problem = store.load(credentials_file); !problem.empty()) {
    if (!config_file.empty() || access(credentials_file.c_str(), F_OK) == 0) {
      std::cerr << "acdd: " << problem << "\n";
      return 2;
    }
    for (const auto& a : domain.agents) {
      demo_credentials.set(a.number, "demo-" + std::to_string(a.number));
    }
    verifier_impl = &demo_credentials;
    std::cerr << "acdd: " << credentials_file
              << " not found: demo passwords (demo-<agent ID>), not for production\n";
  }

  std::string error;
  std::unique_ptr<dataplane::Port> port;
  dataplane::UringPort* uring = nullptr;  // for idle waits; DPDK polls
  if (backend == "uring") {
    auto u = dataplane::UringPort::create(endpoint, error);
    uring = u.get();
    port = std::move(u);
  } else {
#ifdef ACD_WITH_DPDK
    std::vector<std::string> args;
    std::istringstream words(dpdk_args);
    for (std::string w; words >> w;) {
      args.push_back(w);
    }
    if (dataplane::init_eal(args, error)) {
      port = dataplane::DpdkPort::create(static_cast<std::uint16_t>(dpdk_port), endpoint, error);
    }
#else
    error = "this acdd was built without DPDK (install libdpdk-dev and rebuild)";
#endif
  }
  if (!port) {
    std::cerr << "acdd: " << error << "\n";
    return 1;
  }
  router::Engine engine(domain);
  dataplane::AsyncVerifier verifier(*verifier_impl);
  dataplane::SteadyClock clock;
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : domain.agents) {
    numbers.push_back(a.number);
  }
  dataplane::DataplaneConfig dp;
  dp.max_calls = domain.max_calls;
  dp.max_clients = settings.dataplane.max_clients;
  dp.reply_cache_per_client = settings.dataplane.reply_cache_per_client;
  dataplane::IoStage io(*port, clock, &verifier, numbers, dp);

  // The control plane: commands in through the sequencer, state out through published snapshots.
  dataplane::ControlChannel channel;
  io.set_control(&channel);
  control::SnapshotBoard board(&settings);
  control::ControlContext ctx;
  ctx.config = &settings;
  ctx.config_path = config_file;
  ctx.board = &board;
  ctx.channel = &channel;
  ctx.counters = &io.counters();
  ctx.started_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  // `settings` stays as the file says (reload compares against it); what runs may differ by flags.
  if (control_socket.empty()) {
    control_socket = settings.control_socket;
  }
  ctx.listening = dataplane::to_string(port->local());  // as bound (port 0 resolved)
  ctx.backend = backend;
  control::ControlServer server(ctx);
  if (const std::string problem = server.start(control_socket); !problem.empty()) {
    std::cerr << "acdd: control socket " << problem << "\n";
    return 1;
  }

  dataplane::LatencyHistogram latency;
  dataplane::RingGauges rings;  // split mode: the rings between the IO and routing cores
  control::MetricsServer metrics(control::MetricsSources{
      &settings, &board, &io.counters(), &latency, router_cpu >= 0 ? &rings : nullptr});
  std::uint16_t metrics_port = 0;
  if (const std::string problem = metrics.start(
          metrics_listen.empty() ? settings.metrics_listen : metrics_listen, metrics_port);
      !problem.empty()) {
    std::cerr << "acdd: " << problem << "\n";
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_hangup;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0) {
    watchdog_usec = 0;
  }
  control::Watchdog watchdog(latency.count, std::chrono::microseconds(watchdog_usec / 2),
                             [] { notify_systemd("WATCHDOG=1"); });
  auto housekeeping = [&] {
    watchdog.poll();
    if (g_reload.exchange(false)) {
      server.request_reload();  // done on the control thread, through the sequencer
    }
  };

  const std::string bound = dataplane::to_string(port->local());
  std::printf("acdd: %u agents, %u queues; listening on %s (%s, %s)\n", engine.agent_count(),
              engine.queue_count(), bound.c_str(), backend.c_str(),
              router_cpu >= 0 ? "split IO/router cores" : "one core");
  std::fflush(stdout);
  std::printf(
      "acdd: control socket %s; metrics on http://%s/metrics (port %u)\n", control_socket.c_str(),
      (metrics_listen.empty() ? settings.metrics_listen : metrics_listen).c_str(), metrics_port);
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".metrics") << metrics_port << "\n";
    std::ofstream(port_file) << ntohs(port->local().port) << "\n";
  }

  if (router_cpu >= 0) {
    dataplane::SplitWorker worker(engine, io, io_cpu, router_cpu, &board, &latency, &rings);
    notify_systemd("READY=1");
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      housekeeping();
    }
    notify_systemd("STOPPING=1");
    worker.stop();
  } else {
    dataplane::pin_to_cpu(io_cpu);
    dataplane::Worker worker(engine, io, &board, &latency);
    notify_systemd("READY=1");
    unsigned idle = 0;
    unsigned cycles = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
      if ((++cycles & 63) == 0) {
        housekeeping();  // a relaxed load and, at most every few ms, a clock read
      }
      if (worker.poll() != 0) {
        idle = 0;
      } else if (++idle > 64 && uring != nullptr) {
        uring->wait(500);  // returns as soon as a datagram arrives
      }
    }
  }

  notify_systemd("STOPPING=1");
  server.stop();
  metrics.stop();
  const auto& c = io.counters();
  std::fprintf(stderr, "acdd: stopping; ");
  for (std::size_t i = 0; i < dataplane::kCounterCount; ++i) {
    const auto counter = static_cast<dataplane::Counter>(i);
    if (c.read(counter) != 0) {
      std::fprintf(stderr, "%s=%llu ", std::string(dataplane::counter_name(counter)).c_str(),
                   static_cast<unsigned long long>(c.read(counter)));
    }
  }
  std::fprintf(stderr, "calls in engine=%u\n", engine.calls_in_engine());
  return 0;
}
