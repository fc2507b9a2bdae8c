// acdd: the acd daemon. Wires a port, the pipeline and the routing engine; nothing else lives here.
//
//   acdd --listen 127.0.0.1:7070 [--cores 0 | --cores 0,1] [--domain FILE | --demo-agents N]
//        [--credentials FILE] [--port-file FILE]
//
// The configuration file, control socket and metrics arrive with the control plane; until then the
// routing domain comes from a scenario file (docs/simulator.md) or a built-in demo centre.
#include <arpa/inet.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/uring_port.hpp"
#ifdef ACD_WITH_DPDK
#include "acd/dataplane/dpdk_port.hpp"
#endif
#include "scenario_file.hpp"

namespace {

using namespace acd;

std::atomic<bool> g_stop{false};  // set by SIGTERM/SIGINT; lock-free, so async-signal-safe
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

// The demo centre: one general queue every agent serves, and three skill queues.
router::EngineConfig demo_domain(std::uint32_t agents) {
  router::EngineConfig c;
  c.skill_count = 4;
  c.max_calls = 65536;
  const char* names[] = {"general", "cards", "loans", "english"};
  for (router::SkillId s = 0; s < 4; ++s) {
    router::QueueConfig q;
    q.name = names[s];
    q.skills = {router::SkillRequirement{s, 1, 0}};
    q.ring_timeout_ms = 20'000;
    q.expected_aht_ms = 120'000;
    c.queues.push_back(q);
  }
  for (std::uint32_t i = 0; i < agents; ++i) {
    router::AgentConfig a;
    a.number = 1000 + i;
    a.skills = {router::SkillLevel{0, 5, 0}, router::SkillLevel{static_cast<router::SkillId>(1 + i % 3), 6, 0}};
    c.agents.push_back(a);
  }
  return c;
}

std::string load_credentials(const std::string& path, dataplane::InMemoryCredentials& out) {
  std::ifstream in(path);
  if (!in) {
    return path + ": cannot be read";
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream fields(line);
    router::AgentNumber agent = 0;
    std::string password;
    if (!(fields >> agent >> password) || agent == 0) {
      return path + ":" + std::to_string(number) + ": expected 'AGENT_ID PASSWORD'";
    }
    out.set(agent, password);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acdd: the acd routing daemon"};
  std::string listen = "127.0.0.1:7070";
  std::string cores = "0";
  std::string domain_file;
  std::uint32_t demo_agents = 200;
  std::string credentials_file;
  std::string port_file;
  std::string backend = "uring";
  std::string dpdk_args = "--no-huge --no-pci";
  std::uint16_t dpdk_port = 0;
  app.add_option("--backend", backend, "Packet I/O: uring (kernel UDP) or dpdk (poll mode)")
      ->check(CLI::IsMember({"uring", "dpdk"}));
  app.add_option("--dpdk-args", dpdk_args, "EAL arguments, e.g. \"--no-huge --vdev=net_af_packet0,iface=eth1\"");
  app.add_option("--dpdk-port", dpdk_port, "DPDK port ID to serve on");
  app.add_option("--listen", listen, "UDP address to serve ACDP/1 on (port 0: any free port)");
  app.add_option("--cores", cores, "CPU for everything, or IO_CPU,ROUTER_CPU for two cores; -1 = unpinned");
  app.add_option("--domain", domain_file, "Routing domain: a scenario file (skills, queues, agents)")
      ->check(CLI::ExistingFile);
  app.add_option("--demo-agents", demo_agents, "Agents of the built-in demo centre (IDs 1000..)")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--credentials", credentials_file,
                 "Agent passwords, 'AGENT_ID PASSWORD' per line (demo verifier; default: demo-<ID>)")
      ->check(CLI::ExistingFile);
  app.add_option("--port-file", port_file, "Write the bound UDP port here once listening");
  CLI11_PARSE(app, argc, argv);

  router::EngineConfig domain;
  if (!domain_file.empty()) {
    router::sim::Scenario scenario;
    const std::string problem = sim_tool::load_scenario(domain_file, scenario);
    if (!problem.empty()) {
      std::cerr << "acdd: " << problem << "\n";
      return 2;
    }
    domain = scenario.engine;
    domain.max_calls = std::max<std::uint32_t>(domain.max_calls, 65536);
  } else {
    domain = demo_domain(demo_agents);
  }
  if (const auto problems = router::validate_config(domain); !problems.empty()) {
    std::cerr << "acdd: " << problems.front() << "\n";
    return 2;
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

  dataplane::InMemoryCredentials credentials;
  if (!credentials_file.empty()) {
    if (const std::string problem = load_credentials(credentials_file, credentials); !problem.empty()) {
      std::cerr << "acdd: " << problem << "\n";
      return 2;
    }
  } else {
    for (const auto& a : domain.agents) {
      credentials.set(a.number, "demo-" + std::to_string(a.number));
    }
    std::cerr << "acdd: demo passwords (demo-<agent ID>): not for production\n";
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
      port = dataplane::DpdkPort::create(dpdk_port, endpoint, error);
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
  dataplane::AsyncVerifier verifier(credentials);
  dataplane::SteadyClock clock;
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : domain.agents) {
    numbers.push_back(a.number);
  }
  dataplane::DataplaneConfig dp;
  dp.max_calls = domain.max_calls;
  dataplane::IoStage io(*port, clock, &verifier, numbers, dp);

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const std::string bound = dataplane::to_string(port->local());
  std::printf("acdd: %u agents, %u queues; listening on %s (%s, %s)\n", engine.agent_count(),
              engine.queue_count(), bound.c_str(), backend.c_str(),
              router_cpu >= 0 ? "split IO/router cores" : "one core");
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::ofstream(port_file) << ntohs(port->local().port) << "\n";
  }

  if (router_cpu >= 0) {
    dataplane::SplitWorker worker(engine, io, io_cpu, router_cpu);
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    worker.stop();
  } else {
    dataplane::pin_to_cpu(io_cpu);
    dataplane::Worker worker(engine, io);
    unsigned idle = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
      if (worker.poll() != 0) {
        idle = 0;
      } else if (++idle > 64 && uring != nullptr) {
        uring->wait(500);  // returns as soon as a datagram arrives
      }
    }
  }

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
