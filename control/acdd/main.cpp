// acdd: the acd daemon. Reads the configuration, then wires a port, the pipeline and the routing
// engine; nothing else lives here.
//
//   acdd [--config /etc/acd/acd.toml] [--listen A.B.C.D:PORT] [--cores 0 | --cores 0,1]
//        [--backend uring|dpdk] [--credentials FILE] [--port-file FILE]
//   acdd --check-config FILE
//
// Without --config the embedded default (a demo centre) is used. Flags override the file.
#include <arpa/inet.h>
#include <pthread.h>
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
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include <sodium.h>
#include <CLI/CLI.hpp>

#include "acd/dataplane/image_buffers.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/replication_link.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/session_layer.hpp"
#include "acd/dataplane/socket_filter.hpp"
#include "acd/dataplane/uring_port.hpp"
#ifdef ACD_WITH_DPDK
#include "acd/dataplane/dpdk_port.hpp"
#endif
#include "acd/control/audit_log.hpp"
#include "acd/control/config.hpp"
#include "acd/control/control_server.hpp"
#include "acd/control/credential_store.hpp"
#include "acd/control/ha_node.hpp"
#include "acd/control/history_feed.hpp"
#include "acd/control/kafka_export.hpp"
#include "acd/control/keys.hpp"
#include "acd/control/ldap_verifier.hpp"
#include "acd/control/metrics.hpp"
#include "acd/control/reload_record.hpp"
#include "acd/control/site_summary_sender.hpp"
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

// [security] and [[clients]] as the dataplane's session layer takes them: acdd's key pair from
// its key file, each client's role, key and networks. nullopt, with `error` saying why, when the
// key file cannot be used or the clients cannot be served.
std::optional<acd::dataplane::SecureConfig> secure_config(const acd::control::ApplianceConfig& cfg,
                                                          std::string& error) {
  using namespace acd;
  control::Result<control::SecretKey> key = control::read_secret_key_file(cfg.security.key_file);
  if (!key.ok()) {
    error = key.failure().message;
    return std::nullopt;
  }
  std::uint8_t raw[dataplane::secure::kKeyBytes];
  std::memcpy(raw, key.value().data(), sizeof raw);
  dataplane::SecureConfig sc;
  sc.aead = cfg.security.aes256gcm ? dataplane::secure::Aead::Aes256Gcm
                                   : dataplane::secure::Aead::ChaCha20Poly1305;
  if (!dataplane::secure::aead_available(sc.aead)) {
    error =
        "security.aead = \"aes256-gcm\" needs a CPU with AES-NI, which this one lacks; use "
        "\"chacha20-poly1305\" (on acdd and every client)";
    sodium_memzero(raw, sizeof raw);
    return std::nullopt;
  }
  sc.per_source.per_second = cfg.security.source_handshakes_per_s;
  sc.per_source.burst = cfg.security.source_handshake_burst;
  sc.session_lifetime_ns = std::uint64_t{cfg.security.session_lifetime_s} * 1'000'000'000;
  sc.idle_timeout_ns = std::uint64_t{cfg.security.idle_timeout_s} * 1'000'000'000;
  sc.keys.secret = dataplane::secure::SecretKey(raw);
  sc.keys.public_key = dataplane::secure::public_key_of(sc.keys.secret);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(key.value().data(), key.value().size());
  for (const control::ClientEntry& c : cfg.clients) {
    dataplane::SecureClient client;
    client.name = c.name;
    switch (c.role) {
      case control::ClientRole::Switch:
        client.role = dataplane::wire::Role::Switch;
        break;
      case control::ClientRole::Desktop:
        client.role = dataplane::wire::Role::Desktop;
        break;
      case control::ClientRole::Supervisor:
        client.role = dataplane::wire::Role::Supervisor;
        break;
      case control::ClientRole::Site:
        client.role = dataplane::wire::Role::Site;
        break;
    }
    client.public_key.bytes = c.public_key;
    for (const control::Ipv4Network& n : c.networks) {
      client.networks.push_back(dataplane::secure::Ipv4Network{htonl(n.address), n.prefix});
    }
    sc.clients.push_back(std::move(client));
  }
  error = dataplane::check_secure_config(sc);
  if (!error.empty()) {
    return std::nullopt;
  }
  return sc;
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
                 "Check a configuration file as acdd's start would (with the other flags) and exit "
                 "(0 valid, 2 not)");
  app.add_option("--listen", listen, "Override dataplane.listen (port 0: any free port)");
  app.add_option("--cores", cores,
                 "Override dataplane.cores: CPU, or IO_CPU,ROUTER_CPU; -1 = unpinned");
  app.add_option("--backend", backend, "Override dataplane.backend")
      ->check(CLI::IsMember({"uring", "dpdk"}));
  app.add_option("--dpdk-args", dpdk_args, "Override dataplane.dpdk_args (EAL arguments)");
  app.add_option("--dpdk-port", dpdk_port, "Override dataplane.dpdk_port")
      ->check(CLI::Range(0, 1023));
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
  bool trace_port_stages = false;
  app.add_flag("--trace-port-stages", trace_port_stages,
               "Diagnosis (uring backend): print once a second the port's batch sizes, wake-ups and "
               "per-datagram delays from the kernel's receive timestamp");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every other parse problem is a usage error: exit status 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  // A peer that hangs up must never end the daemon: every socket write checks its result instead.
  signal(SIGPIPE, SIG_IGN);

  // --check-config FILE: everything acdd checks when it starts with --config FILE and the same
  // flags, then exit. A file that passes starts (binding its addresses aside: they may be in use).
  if (!check_file.empty()) {
    config_file = check_file;
  }
  const control::ConfigResult loaded =
      config_file.empty()
          ? control::parse_config(control::embedded_default_config(), "<embedded default>")
          : control::load_config(config_file);
  if (!loaded.ok()) {
    for (const std::string& e : loaded.errors) {
      std::cerr << e << "\n";
    }
    std::cerr << "acdd: " << loaded.errors.size() << " problem(s); nothing was started\n";
    return 2;
  }
  control::ApplianceConfig settings = loaded.config;
  const router::EngineConfig& domain = settings.domain;

  // What runs: the file's settings with the flags over them. `settings` stays as the file says
  // (a reload compares against it). Every value is checked by the file's own checks; a problem
  // names the flag or the file and key it came from.
  control::ApplianceConfig running = settings;
  std::vector<std::string> problems;
  auto flag = [&](const char* name, const std::string& value, std::string& field, const char* key,
                  control::Result<void> (*check)(const std::string&)) {
    if (value.empty()) {
      return;
    }
    field = value;
    running.origin[key] = std::string("flag ") + name;
    if (check != nullptr) {
      if (const control::Result<void> checked = check(value); !checked.ok()) {
        problems.push_back(std::string(name) + " " + value + ": " + checked.failure().message);
      }
    }
  };
  flag("--listen", listen, running.dataplane.listen, "dataplane.listen", control::check_endpoint);
  flag("--metrics", metrics_listen, running.metrics_listen, "metrics.listen",
       control::check_endpoint);
  flag("--control-socket", control_socket, running.control_socket, "control.socket",
       control::check_socket_path);
  flag("--credentials", credentials_file, running.credentials, "control.credentials", nullptr);
  flag("--backend", backend, running.dataplane.backend, "dataplane.backend", nullptr);
  flag("--dpdk-args", dpdk_args, running.dataplane.dpdk_args, "dataplane.dpdk_args", nullptr);
  if (dpdk_port >= 0) {
    running.dataplane.dpdk_port = static_cast<std::uint16_t>(dpdk_port);
  }
  if (!cores.empty()) {
    running.origin["dataplane.cores"] = "flag --cores";
    running.dataplane.cores.clear();
    std::istringstream in(cores);
    int cpu = 0;
    char comma = ',';
    while (comma == ',' && running.dataplane.cores.size() < 3 && in >> cpu) {
      running.dataplane.cores.push_back(cpu);
      comma = 0;
      in >> comma;
    }
    if (running.dataplane.cores.empty() || running.dataplane.cores.size() > 2 || !in.eof() ||
        comma != 0) {
      problems.push_back("--cores " + cores + ": give CPU or IO_CPU,ROUTER_CPU (-1: unpinned)");
    }
  }
  if (problems.empty()) {
    problems = control::check_startup(running, config_file.empty());
  }
  if (!problems.empty()) {
    for (const std::string& p : problems) {
      std::cerr << p << "\n";
    }
    std::cerr << "acdd: " << problems.size() << " problem(s); nothing was started\n";
    return 2;
  }
  if (!check_file.empty()) {
    std::cout << check_file << ": valid (" << domain.queues.size() << " queues, "
              << domain.agents.size() << " agents)\n";
    return 0;
  }

  // The audit log [GB/T 32315 4.1.2 b, c]: opened first, so that the start and every way out are
  // recorded (the guard writes daemon.stop with the reason the run ended, then drains the queue).
  std::unique_ptr<control::AuditLog> audit;
  if (running.audit.enabled()) {
    control::Result<std::unique_ptr<control::AuditLog>> opened =
        control::AuditLog::open({running.audit});
    if (!opened.ok()) {
      std::cerr << control::origin_of(running, "audit.dir") << ": " << opened.failure().message
                << "\n";
      return 1;
    }
    audit = std::move(opened).value();
    audit->start();
    (void)audit->record(control::AuditRecord::make(
        control::AuditKind::DaemonStart, control::AuditOutcome::Ok, "acdd",
        config_file.empty() ? "<embedded default>" : config_file,
        {{"pid", getpid()}, {"config_hash", control::audit_config_hash(config_file)}}));
  }
  struct AuditStop {
    control::AuditLog* log;
    std::string why = "failed to start";
    control::AuditOutcome outcome = control::AuditOutcome::Failed;
    ~AuditStop() {
      if (log != nullptr) {
        (void)log->record(control::AuditRecord::make(control::AuditKind::DaemonStop, outcome,
                                                     "acdd", "acdd", {{"why", why}}));
        log->stop();
      }
    }
  } audit_stop{audit.get()};
  dataplane::Endpoint endpoint;
  (void)dataplane::parse_endpoint(running.dataplane.listen, endpoint);  // checked above
  const int io_cpu = running.dataplane.cores.front();
  const int router_cpu = running.dataplane.cores.size() > 1 ? running.dataplane.cores[1] : -1;
  backend = running.dataplane.backend;

  // Sign-in checks: argon2id hashes with lockout. Only the embedded demo, when no credential file
  // exists, falls back to the demo passwords demo-<ID> (check_startup refused every other case).
  control::CredentialStore store(control::lockout_policy(running));
  store.set_audit(audit.get());
  // Hashes written by a desktop's PasswordChange cost what [signin] says.
  store.set_hash_cost(
      control::HashCost{running.signin.opslimit, std::size_t{running.signin.memlimit_kib} << 10});
  dataplane::InMemoryCredentials demo_credentials;
  dataplane::CredentialVerifier* verifier_impl = &store;
  // Backend "ldap" with fallback "refuse" reads no credential file at all.
  if (running.signin.uses_file() && !store.load(running.credentials).ok()) {
    for (const auto& a : domain.agents) {
      demo_credentials.set(a.number, "demo-" + std::to_string(a.number));
    }
    verifier_impl = &demo_credentials;
    std::cerr << "acdd: " << running.credentials
              << " not found: demo passwords (demo-<agent ID>), not for production\n";
  }
  // `agents unlock` lifts the back-offs, the file's checks' and the directory's (one set).
  const bool file_loaded = running.signin.uses_file() && verifier_impl == &store;
  // [signin] backend ldap / ldap-then-file: the directory checks, the file (or the demo's
  // passwords) only where [signin] says it takes part.
  std::unique_ptr<control::LdapVerifier> directory;
  if (running.signin.backend != control::SignInBackend::File) {
    std::string bind_password;
    if (!running.signin.ldap.bind_password_file.empty()) {
      control::Result<std::string> read =
          control::read_bind_password(running.signin.ldap.bind_password_file);
      if (!read.ok()) {
        std::cerr << control::origin_of(running, "signin.ldap.bind_password_file") << ": "
                  << read.failure().message << "\n";
        return 1;
      }
      bind_password = std::move(read.value());
    }
    directory = std::make_unique<control::LdapVerifier>(
        running.signin, std::move(bind_password),
        running.signin.uses_file() ? verifier_impl : nullptr, &store.backoff());
    directory->set_audit(audit.get());
    verifier_impl = directory.get();
    std::cerr << "acdd: sign-in by the directory " << running.signin.ldap.url << "\n";
  }

  std::string error;
  std::unique_ptr<dataplane::Port> port;
  dataplane::UringPort* uring = nullptr;  // for idle waits; DPDK polls
  if (backend == "uring") {
    auto u = dataplane::UringPort::create(endpoint, error);
    if (u && trace_port_stages && !u->trace_stages(error)) {
      u.reset();
    }
    uring = u.get();
    port = std::move(u);
  } else {
#ifdef ACD_WITH_DPDK
    std::vector<std::string> args;
    std::istringstream words(running.dataplane.dpdk_args);
    for (std::string w; words >> w;) {
      args.push_back(w);
    }
    if (dataplane::init_eal(args, error)) {
      port = dataplane::DpdkPort::create(running.dataplane.dpdk_port, endpoint, error);
    }
#else
    error = "this acdd was built without DPDK (install libdpdk-dev and rebuild)";
#endif
  }
  if (!port) {
    std::cerr << control::origin_of(running, "dataplane.listen") << " = "
              << running.dataplane.listen << " (" << backend << "): " << error << "\n";
    return 1;
  }
  router::Engine engine(domain);
  // A node image's buffer with its pages touched, on a thread of its own: the first image's
  // capture then takes no page fault on the routing core (image_buffers.hpp).
  std::jthread image_buffer_toucher([bytes = engine.snapshot_bytes()] {
    dataplane::image_buffers().give(std::vector<std::uint8_t>(bytes));
  });
  dataplane::AsyncVerifier verifier(*verifier_impl, control::verifier_pool(running));
  // The credential file is written on a thread of its own, never the IO thread (an `agent import`
  // may hold the writers' lock for seconds).
  std::optional<dataplane::CredentialWriter> credential_writer;
  if (file_loaded) {
    credential_writer.emplace(store, 1024, running.signin.sched);
  }
  dataplane::ContinuingClock clock;
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : domain.agents) {
    numbers.push_back(a.number);
  }
  dataplane::DataplaneConfig dp;
  dp.max_calls = domain.max_calls;
  dp.max_clients = settings.dataplane.max_clients;
  dp.reply_cache_per_client = settings.dataplane.reply_cache_per_client;
  dp.signin_burst = settings.signin.burst;
  // The history export's position, handed from the history thread to the IO thread, which logs it.
  dataplane::ExportPositionChannel export_positions;
  // The history deriver's state at a node image's seq, from the history thread to the IO thread,
  // which puts it in the image (history_state.hpp).
  dataplane::HistoryStateChannel history_states;
  // A standby's copy of its primary's history records before its image, over the link
  // (history_fetch.hpp); used only with [history] enabled.
  dataplane::HistoryFetchChannel history_fetch;
  dataplane::IoStage io(*port, clock, &verifier, numbers, dp);
  io.set_export_positions(&export_positions);
  // Every credential change of the log is stored through the writer, the journal's too: a change
  // is stored only after it is logged, so one logged just before a crash is stored by the replay
  // (a record applied twice, or overtaken by an administrator's reset, changes nothing).
  if (credential_writer) {
    io.set_credentials(&*credential_writer);
  }

  // ACDP/2: only clients of [[clients]] with a session reach the pipeline; the handshake worker
  // runs until acdd exits.
  std::unique_ptr<dataplane::SessionLayer> security;
  if (running.security.required) {
    std::optional<dataplane::SecureConfig> secure = secure_config(running, error);
    if (!secure) {
      std::cerr << control::origin_of(running, "security.key_file") << ": " << error << "\n";
      return 1;
    }
    security = std::make_unique<dataplane::SessionLayer>(*secure);
    security->set_audit(audit.get());  // refused handshakes
    if (uring != nullptr) {
      // Forged data datagrams naming no issued session are dropped in the kernel (counted as
      // acd_security_dropped_total{reason="filtered"}): they never wake the IO thread.
      const int fd = uring->socket_fd();
      security->set_index_filter(
          {[fd](std::uint32_t first, std::uint32_t end) {
             std::string why;
             if (!dataplane::filter_session_indices(fd, first, end, why)) {
               control::log_line("ACDP/2 socket filter not attached (every datagram is read): " +
                                 why);
             }
           },
           [fd] { return dataplane::socket_drops(fd); }});
    }
    security->start();
    io.set_security(security.get());
    std::printf("acdd: ACDP/2 required: %zu clients; this node's public key %s\n",
                running.clients.size(),
                dataplane::secure::to_base64(secure->keys.public_key).c_str());
    std::fflush(stdout);
  } else {
    // Said at every start: in clear text anyone who can reach the address may register as any
    // client, route calls and act for any agent (docs/security.md, "Threat model").
    std::fprintf(stderr,
                 "acdd: warning: ACDP in clear text ([security] mode = \"off\"): any host that "
                 "can reach %s may act as any client and for any agent; a production centre sets "
                 "mode = \"required\" (docs/security.md)\n",
                 running.dataplane.listen.c_str());
  }
  // Session tokens: the pair's shared key (check_startup read it once already).
  std::optional<dataplane::SessionTokens> tokens;
  dataplane::SystemWallClock wall_clock;
  if (!running.signin.token_key_file.empty()) {
    control::Result<control::SecretKey> key =
        control::read_secret_key_file(running.signin.token_key_file);
    if (!key.ok()) {
      std::cerr << control::origin_of(running, "signin.token_key_file") << ": "
                << key.failure().message << "\n";
      return 1;
    }
    dataplane::TokenKey token_key;
    std::copy(key.value().begin(), key.value().end(), token_key.begin());
    sodium_memzero(key.value().data(), key.value().size());
    tokens.emplace(token_key, running.site, running.signin.token_day_end_s);
    sodium_memzero(token_key.data(), token_key.size());
    io.set_tokens(&*tokens, &wall_clock);
  }
  // Reloads read from a log (the journal's, a primary's) are installed on top of this node's
  // own configuration, as the node that reloaded installed them.
  control::ReloadFollower reloads(settings);
  io.set_config_replayer(&reloads);

  // The journal: this node's state as it was when it stopped (snapshot + records after it).
  control::HaStatus ha_status;
  std::unique_ptr<dataplane::Journal> journal;
  dataplane::JournalConfig journal_config;
  journal_config.dir = running.journal.dir;
  journal_config.sync = running.journal.sync;
  journal_config.segment_bytes = std::size_t{running.journal.segment_mb} << 20;
  if (!journal_config.dir.empty()) {
    const control::Recovery rec = control::recover_node(journal_config.dir, engine, io);
    if (!rec.error.empty()) {
      std::cerr << control::origin_of(running, "journal.dir") << ": " << rec.error << "\n";
      return 1;
    }
    if (!rec.cut.empty()) {
      std::cerr << "acdd: journal: cut a torn or corrupt tail: " << rec.cut << "\n";
    }
    journal = dataplane::Journal::open(journal_config, rec.next_seq, error);
    if (!journal) {
      std::cerr << control::origin_of(running, "journal.dir") << ": " << error << "\n";
      return 1;
    }
    clock.continue_from(engine.now());
    std::printf(
        "acdd: journal %s: snapshot at seq %llu, %zu records replayed; state hash %016llx\n",
        journal_config.dir.c_str(), static_cast<unsigned long long>(rec.snapshot_seq), rec.records,
        static_cast<unsigned long long>(engine.state_hash()));
    std::fflush(stdout);
  }
  // [history]: records derived from the journal on a thread of their own, on every node (a
  // standby's journal holds the primary's log, so it derives the same records).
  // [history.kafka]: the records streamed to Kafka from the history thread (docs/kafka.md);
  // declared first, it outlives the feed that calls it.
  std::unique_ptr<control::KafkaExport> kafka;
  std::unique_ptr<control::HistoryFeed> history;
  if (running.history.enabled) {
    control::HistoryFeedOptions options = control::history_options(running);
    options.start = &settings;
    options.states = &history_states;
    options.fetch = &history_fetch;
    if (options.kafka.enabled) {
      kafka = std::make_unique<control::KafkaExport>(options.kafka, options.path);
      // Only the node that routes exports: until this one does (below), its export keeps the
      // positions its primary logged, and its own position is logged while it exports.
      kafka->follow();
      kafka->set_positions(&export_positions);
    }
    control::Result<std::unique_ptr<control::HistoryFeed>> started =
        control::HistoryFeed::start(options, kafka.get());
    if (!started.ok()) {
      std::cerr << control::origin_of(running, "history.path") << ": " << started.failure().message
                << "\n";
      return 1;
    }
    history = std::move(started.value());
    // An image waits at most 2 s for the history thread's state at its seq (it is normally a
    // journal round and an idle wait behind), then goes without it.
    io.set_history_states(&history_states, 2'000'000);
  }
  // After the journal's replay: what it replays was reported before the restart. From here on a
  // standby reports the operations of the log it follows, as its primary does.
  io.set_audit(audit.get());

  // The control plane: commands in through the sequencer, state out through published snapshots.
  dataplane::ControlChannel channel;
  io.set_control(&channel);
  // The configuration the journal's last reload installed, if any, runs from here on.
  control::ApplianceConfig* const recovered = reloads.latest();
  control::SnapshotBoard board(recovered != nullptr ? recovered : &settings);
  control::ControlContext ctx;
  ctx.config = recovered != nullptr ? recovered : &settings;
  ctx.follower = &reloads;
  ctx.follower_adopted = reloads.applied();
  ctx.config_path = config_file;
  ctx.board = &board;
  ctx.channel = &channel;
  ctx.counters = &io.counters();
  ctx.started_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  // `settings` stays as the file says (reload compares against it); what runs may differ by flags.
  control_socket = running.control_socket;
  ctx.listening = dataplane::to_string(port->local());  // as bound (port 0 resolved)
  ctx.ha = &ha_status;
  ctx.audit = audit.get();
  ctx.credentials = file_loaded || directory ? &store : nullptr;  // its back-offs cover both
  ctx.backend = backend;
  control::ControlServer server(ctx);
  if (const control::Result<void> started = server.start(control_socket); !started.ok()) {
    std::cerr << control::origin_of(running, "control.socket") << ": " << started.failure().message
              << "\n";
    return 1;
  }

  // This site's availability to its active peers, started once this node routes (docs/dr.md
  // "Inter-site overflow").
  // To a peer whose public key is given (and with this node's key_file) over ACDP/2, as a
  // configured client of role site there; to the others in clear text.
  std::vector<control::SummaryPeer> summary_peers;
  bool summaries_sealed = false;
  for (const control::PeerSite& p : running.dr.peers) {
    for (const std::string& at :
         p.role == control::SiteRole::Active ? p.dataplane : std::vector<std::string>{}) {
      control::SummaryPeer peer;
      if (!dataplane::parse_endpoint(at, peer.address)) {
        continue;
      }
      if (p.public_key) {
        dataplane::secure::PublicKey key;
        key.bytes = *p.public_key;
        peer.key = key;
        summaries_sealed = true;
      }
      summary_peers.push_back(peer);
    }
  }
  std::unique_ptr<control::SiteSummarySender> summaries;
  if (!summary_peers.empty() && running.dr.summaries_per_second > 0) {
    std::optional<control::SummarySecurity> summary_security;
    if (summaries_sealed) {
      dataplane::secure::KeyFileResult own =
          dataplane::secure::load_secret_key_file(running.security.key_file);
      if (!own.ok()) {
        std::cerr << control::origin_of(running, "security.key_file") << ": " << own.error << "\n";
        return 1;
      }
      summary_security = control::SummarySecurity{
          *own.keys, running.security.aes256gcm ? dataplane::secure::Aead::Aes256Gcm
                                                : dataplane::secure::Aead::ChaCha20Poly1305};
    }
    const std::uint8_t site_number = running.domain.site_number;
    const std::uint32_t client_id = running.dr.summary_client_id != 0
                                        ? running.dr.summary_client_id
                                        : 0x53495400u | site_number;  // "SIT" + number
    summaries = std::make_unique<control::SiteSummarySender>(
        board, summary_peers, site_number, client_id, running.dr.summaries_per_second,
        std::move(summary_security));
  }

  dataplane::EngineLatency latency;
  dataplane::RingGauges rings;  // split mode: the rings between the IO and routing cores
  control::MetricsServer metrics(control::MetricsSources{
      &settings, &board, &io.counters(), &latency, router_cpu >= 0 ? &rings : nullptr, &ha_status,
      audit.get(), security.get(), &store.counters(), directory ? &directory->counters() : nullptr,
      history.get(), summaries ? &summaries->counters() : nullptr, kafka.get()});
  const control::Result<std::uint16_t> metrics_port = metrics.start(running.metrics_listen);
  if (!metrics_port.ok()) {
    std::cerr << control::origin_of(running, "metrics.listen") << ": "
              << metrics_port.failure().message << "\n";
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
  control::Watchdog watchdog(latency.applied, std::chrono::microseconds(watchdog_usec / 2),
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
  const std::string metrics_at =
      running.metrics_listen.substr(0, running.metrics_listen.rfind(':')) + ":" +
      std::to_string(metrics_port.value());
  std::printf("acdd: control socket %s; metrics on http://%s/metrics\n", control_socket.c_str(),
              metrics_at.c_str());
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".metrics") << metrics_port.value() << "\n";
    std::ofstream(port_file) << ntohs(port->local().port) << "\n";
  }

  // A pair: follow the primary as a standby until it is gone and this node wins the next epoch.
  const control::HaSettings& ha = running.ha;
  std::unique_ptr<control::EtcdEpoch> fence;
  std::unique_ptr<dataplane::LinkPrimary> link;
  const dataplane::LinkTiming timing{std::chrono::milliseconds(ha.heartbeat_ms),
                                     std::chrono::milliseconds(ha.dead_after_ms)};
  std::uint64_t epoch = 0;
  // The link is sealed with this node's key and the peer's; without a peer key it is clear text.
  std::optional<dataplane::LinkKeys> link_keys;
  if (ha.enabled() && ha.peer_public_key) {
    dataplane::secure::KeyFileResult own =
        dataplane::secure::load_secret_key_file(running.security.key_file);
    if (!own.ok()) {
      std::cerr << control::origin_of(running, "security.key_file") << ": " << own.error << "\n";
      return 1;
    }
    dataplane::secure::PublicKey peer_key;
    peer_key.bytes = *ha.peer_public_key;
    link_keys = dataplane::LinkKeys{own.keys->secret, peer_key};
  } else if (ha.enabled()) {
    std::fprintf(stderr,
                 "acdd: warning: [ha] has no peer_public_key: the replication link to %s is "
                 "neither authenticated nor encrypted (anyone on the path can read client "
                 "sessions, forge records or play primary)\n",
                 ha.peer.c_str());
  }
  // [site] and [[sites]]: the DR link's timing (between sites: a longer silence before "dead")
  // and its keys (this node's and the peer site's).
  const control::SiteSettings& site = running.dr;
  const dataplane::LinkTiming dr_timing{
      std::chrono::milliseconds(ha.heartbeat_ms),
      std::chrono::milliseconds(std::max<std::uint32_t>(ha.dead_after_ms, 1000))};
  const control::PeerSite* dr_peer = site.follows() ? site.followed() : site.dr_peer();
  std::optional<dataplane::LinkKeys> dr_keys;
  if (dr_peer != nullptr && dr_peer->public_key) {
    dataplane::secure::KeyFileResult own =
        dataplane::secure::load_secret_key_file(running.security.key_file);
    if (!own.ok()) {
      std::cerr << control::origin_of(running, "security.key_file") << ": " << own.error << "\n";
      return 1;
    }
    dataplane::secure::PublicKey peer_key;
    peer_key.bytes = *dr_peer->public_key;
    dr_keys = dataplane::LinkKeys{own.keys->secret, peer_key};
  }
  if (dr_peer != nullptr && !dr_keys && (site.follows() || site.serves_dr())) {
    std::fprintf(stderr,
                 "acdd: warning: [[sites]] '%s' has no public_key: the DR link is neither "
                 "authenticated nor encrypted (anyone on the path between the sites can read "
                 "client sessions, forge records, or forge the active site's Head, Welcome and "
                 "Heartbeat frames: a false RPO, a false epoch, a dead site shown alive)\n",
                 dr_peer->name.c_str());
  }
  if (site.configured) {
    std::lock_guard<std::mutex> lock(ha_status.dr.mutex);
    ha_status.dr.site = running.site;
    ha_status.dr.peer = dr_peer != nullptr ? dr_peer->name : "";
  }
  bool dr_took_over = false;
  bool gate_on_link = false;  // took over with the pair's standby following on `link`
  // The old active site coming back after its DR site took over: etcd names the DR site as the
  // holder of a newer epoch. No node of it may act as the active site: the one that would start
  // as the pair's primary (start_as = "primary") follows the new active site instead, as its DR
  // follower (a DR link serves one follower); the other stays its pair's standby, which never
  // promotes while the DR site holds the epoch (follow_primary's dr_site).
  bool follows_new_active = false;
  std::uint64_t new_active_epoch = 0;  // the epoch the new active site held when we looked
  if (ha.enabled() && ha.start_as == "primary" && site.configured &&
      site.role == control::SiteRole::Active && dr_peer != nullptr) {
    control::EtcdEpoch probe(ha.etcd, ha.etcd_key, std::chrono::milliseconds(ha.etcd_timeout_ms));
    std::string why;
    const std::optional<control::EpochRecord> current = probe.read(why);
    if (current && control::taken_by_site(current->holder, dr_peer->name)) {
      if (dr_peer->replication.empty()) {
        std::fprintf(stderr,
                     "acdd: dr: site %s holds epoch %llu (%s): this site is no longer the active "
                     "one and will not route; give [[sites]] '%s' replication (where it serves a "
                     "follower) to follow it\n",
                     dr_peer->name.c_str(), static_cast<unsigned long long>(current->epoch),
                     current->holder.c_str(), dr_peer->name.c_str());
        return 1;
      }
      follows_new_active = true;
      new_active_epoch = current->epoch;
      control::log_line("site " + dr_peer->name + " holds epoch " + std::to_string(current->epoch) +
                        " (" + current->holder + "): following it as its DR site");
    }
  }
  if (ha.enabled() && !follows_new_active && !site.follows()) {
    {
      std::lock_guard<std::mutex> lock(ha_status.text_mutex);
      ha_status.peer = ha.peer;
    }
    fence = std::make_unique<control::EtcdEpoch>(ha.etcd, ha.etcd_key,
                                                 std::chrono::milliseconds(ha.etcd_timeout_ms));
    auto follower = dataplane::LinkStandby::create(ha.peer, timing, error, link_keys);
    if (!follower) {
      std::cerr << control::origin_of(running, "ha.peer") << ": " << error << "\n";
      return 1;
    }
    // The primary's audit records are kept here too (docs/audit.md "The pair").
    follower->set_audit_sink(audit.get());
    if (history) {
      follower->set_history_fetch(&history_fetch);  // its records before our image
    }
    dataplane::Endpoint primary_at;
    (void)dataplane::parse_endpoint(ha.peer_dataplane, primary_at);
    io.set_standby(true, primary_at);
    notify_systemd("READY=1");
    std::printf("acdd: ha: node %s following %s (%s)\n", ha.node.c_str(), ha.peer.c_str(),
                link_keys ? "sealed" : "clear text");
    std::fflush(stdout);
    const bool promoted = control::follow_primary(
        *follower, io, engine, &board, journal, journal_config, *fence, ha,
        ha.start_as == "primary", ha_status, g_stop, epoch,
        uring != nullptr ? uring->completion_fd() : -1, false,
        dr_peer != nullptr && site.role == control::SiteRole::Active ? dr_peer->name
                                                                     : std::string());
    follower.reset();
    if (!promoted) {
      notify_systemd("STOPPING=1");
      server.stop();
      metrics.stop();
      std::fprintf(stderr, "acdd: stopping as standby (%s)\n", ha_status.why().c_str());
      audit_stop.why = "stopped as standby: " + ha_status.why();
      audit_stop.outcome = control::AuditOutcome::Ok;
      return 0;
    }
    clock.continue_from(engine.now());  // the old primary's time line goes on
    io.set_epoch(static_cast<std::uint32_t>(epoch));
    link = dataplane::LinkPrimary::listen(ha.replication_listen, timing, epoch, error, link_keys);
    if (!link) {
      std::cerr << control::origin_of(running, "ha.replication_listen") << ": " << error << "\n";
      return 1;
    }
    std::printf("acdd: ha: primary with epoch %llu; standby link on %s\n",
                static_cast<unsigned long long>(epoch), ha.replication_listen.c_str());
    std::fflush(stdout);
  } else if (site.follows() || follows_new_active) {
    // The DR site's node: follows the active site's primary (trying its addresses in turn) until
    // an operator's failover or the active primary's hand-over makes it the active site. (Or a
    // node of the old active site following the DR site that took over: the fence is its pair's.)
    fence =
        follows_new_active
            ? std::make_unique<control::EtcdEpoch>(ha.etcd, ha.etcd_key,
                                                   std::chrono::milliseconds(ha.etcd_timeout_ms))
            : std::make_unique<control::EtcdEpoch>(dr_peer->etcd, dr_peer->etcd_key,
                                                   std::chrono::milliseconds(ha.etcd_timeout_ms));
    control::HaSettings follow = ha;
    follow.node = site.node;
    follow.dead_after_ms = static_cast<std::uint32_t>(dr_timing.dead_after.count());
    dataplane::Endpoint active_at;
    (void)dataplane::parse_endpoint(
        dr_peer->dataplane.empty() ? "0.0.0.0:0" : dr_peer->dataplane.front(), active_at);
    io.set_standby(true, active_at);
    notify_systemd("READY=1");
    std::printf("acdd: dr: site %s following site %s (%s)\n", running.site.c_str(),
                dr_peer->name.c_str(), dr_keys ? "sealed" : "clear text");
    std::fflush(stdout);
    ha_status.dr.drill_domain = &domain;  // a drill's sandbox: this configuration, these sizes
    ha_status.dr.drill_dataplane = dp;
    // A DR pair ([ha] at the DR site): the node is first its pair's standby. Promoted on the
    // pair's key, it follows the active site and passes what it applies on to its standby; its
    // standby promoted after the DR site took over routes at once (it takes the centre's epoch).
    std::unique_ptr<control::EtcdEpoch> pair_fence;
    std::unique_ptr<control::PairForwarder> forward;
    std::uint64_t pair_epoch = 0;
    if (site.follows() && ha.enabled()) {
      pair_fence = std::make_unique<control::EtcdEpoch>(
          ha.etcd, ha.etcd_key, std::chrono::milliseconds(ha.etcd_timeout_ms));
      auto standby = dataplane::LinkStandby::create(ha.peer, timing, error, link_keys);
      if (!standby) {
        std::cerr << control::origin_of(running, "ha.peer") << ": " << error << "\n";
        return 1;
      }
      if (history) {
        standby->set_history_fetch(&history_fetch);  // its records before our image
      }
      {
        std::lock_guard<std::mutex> lock(ha_status.text_mutex);
        ha_status.peer = ha.peer;
      }
      dataplane::Endpoint pair_at;
      (void)dataplane::parse_endpoint(ha.peer_dataplane, pair_at);
      io.set_standby(true, pair_at);
      std::printf("acdd: dr: node %s of site %s following its pair's primary %s\n",
                  ha.node.c_str(), running.site.c_str(), ha.peer.c_str());
      std::fflush(stdout);
      control::DrPairFence pair{fence.get(), running.site};
      const bool promoted = control::follow_primary(
          *standby, io, engine, &board, journal, journal_config, *pair_fence, ha,
          ha.start_as == "primary", ha_status, g_stop, pair_epoch,
          uring != nullptr ? uring->completion_fd() : -1, false, "", nullptr, &pair);
      standby.reset();
      if (!promoted) {
        notify_systemd("STOPPING=1");
        server.stop();
        metrics.stop();
        std::fprintf(stderr, "acdd: stopping as the DR pair's standby (%s)\n",
                     ha_status.why().c_str());
        audit_stop.why = "stopped as the DR pair's standby: " + ha_status.why();
        audit_stop.outcome = control::AuditOutcome::Ok;
        return 0;
      }
      link = dataplane::LinkPrimary::listen(ha.replication_listen, timing, pair_epoch, error,
                                            link_keys);
      if (!link) {
        std::cerr << control::origin_of(running, "ha.replication_listen") << ": " << error << "\n";
        return 1;
      }
      if (pair.took_centre) {
        // Our pair's primary had taken over as the active site and died: we route on.
        dr_took_over = true;
        epoch = pair_epoch;
        ha_status.dr.role.store(control::DrRole::TakenOver);
        {
          std::lock_guard<std::mutex> lock(ha_status.dr.mutex);
          ha_status.dr.takeover_epoch = epoch;
          ha_status.dr.takeover_seq = io.sequencer().next() - 1;
          ha_status.dr.takeover_loss = 0;  // it held what its primary released
        }
        ha_status.dr.note("the pair's primary, the active site, is gone: took epoch " +
                          std::to_string(epoch) + " at seq " +
                          std::to_string(io.sequencer().next() - 1));
      } else {
        ha_status.dr.note("pair primary with epoch " + std::to_string(pair_epoch) +
                          " of the pair's key: following site " + dr_peer->name +
                          ", forwarding to the standby on " + ha.replication_listen);
        forward = std::make_unique<control::PairForwarder>(*link, io, engine, ha_status.dr);
        if (history) {
          forward->set_history_fetch(&history_fetch);  // our standby's copy of our records
        }
        io.set_standby(true, active_at);
      }
    }
    if (follows_new_active) {
      // The old active site's primary passes what it applies on to its pair's standby, as a DR
      // pair's primary does: the old pair follows the new active site as a pair, and after a
      // switchback routes with its standby at once. The link announces the new active site's
      // epoch, which the standby never takes (follow_primary's dr_site).
      link = dataplane::LinkPrimary::listen(ha.replication_listen, timing, new_active_epoch, error,
                                            link_keys);
      if (!link) {
        std::cerr << control::origin_of(running, "ha.replication_listen") << ": " << error << "\n";
        return 1;
      }
      forward = std::make_unique<control::PairForwarder>(*link, io, engine, ha_status.dr);
      if (history) {
        forward->set_history_fetch(&history_fetch);
      }
      ha_status.dr.note("following site " + dr_peer->name +
                        ", forwarding to the pair's standby on " + ha.replication_listen);
    }
    for (std::size_t next = 0; !g_stop.load() && !dr_took_over; ++next) {
      const std::string& address = dr_peer->replication[next % dr_peer->replication.size()];
      auto follower = dataplane::LinkStandby::create(address, dr_timing, error, dr_keys);
      if (!follower) {
        std::cerr << "[[sites]] '" << dr_peer->name << "' replication " << address << ": " << error
                  << "\n";
        return 1;
      }
      if (history) {
        follower->set_history_fetch(&history_fetch);  // the active site's records before its image
      }
      {
        std::lock_guard<std::mutex> lock(ha_status.text_mutex);
        ha_status.peer = address;
      }
      dr_took_over = control::follow_primary(*follower, io, engine, &board, journal, journal_config,
                                             *fence, follow, false, ha_status, g_stop, epoch,
                                             uring != nullptr ? uring->completion_fd() : -1, true,
                                             "", forward.get());
      if (!dr_took_over && pair_fence && !g_stop.load() &&
          ha_status.dr.role.load() != control::DrRole::OutOfService) {
        // The active site is silent: is this node still its pair's primary? If the pair's key
        // moved on (our standby took it, hearing nothing from us), it follows now: stop.
        std::string why;
        const auto current = pair_fence->read(why);
        if (current && (current->epoch != pair_epoch || current->holder != ha.node)) {
          ha_status.role.store(control::HaRole::Fenced);
          ha_status.say("the pair's key is " + current->holder + "'s (epoch " +
                        std::to_string(current->epoch) + "): it follows the active site now");
          control::log_line(ha_status.why() + "; stopping");
          break;
        }
      }
    }
    gate_on_link = dr_took_over && forward != nullptr;
    forward.reset();
    if (!dr_took_over) {
      notify_systemd("STOPPING=1");
      server.stop();
      metrics.stop();
      std::fprintf(stderr, "acdd: stopping as DR follower (%s)\n", ha_status.why().c_str());
      audit_stop.why = "stopped as DR follower: " + ha_status.why();
      audit_stop.outcome = control::AuditOutcome::Ok;
      // Fenced: another node of the DR pair follows; systemd starts this one as its standby.
      return ha_status.role.load() == control::HaRole::Fenced ? 3 : 0;
    }
    if (link) {
      link->set_epoch(epoch);  // the pair's standby now follows the active site's epoch
    }
    clock.continue_from(engine.now());
    io.set_epoch(static_cast<std::uint32_t>(epoch));
    if (audit) {
      std::lock_guard<std::mutex> lock(ha_status.dr.mutex);
      (void)audit->record(control::AuditRecord::make(
          control::AuditKind::DrTakeover, control::AuditOutcome::Ok, "acdd", running.site,
          {{"epoch", epoch},
           {"from_site", dr_peer->name},
           {"applied_seq", ha_status.dr.takeover_seq},
           {"estimated_loss_records", ha_status.dr.takeover_loss},
           {"how", ha_status.why()}}));
    }
    std::printf("acdd: dr: site %s is the active site with epoch %llu\n", running.site.c_str(),
                static_cast<unsigned long long>(epoch));
    std::fflush(stdout);
  }
  // The active site's primary (or the DR node that took over) serves a DR follower, never
  // waiting for it.
  std::unique_ptr<dataplane::LinkPrimary> dr_link;
  if (dr_peer != nullptr && !site.replication_listen.empty() &&
      (site.role == control::SiteRole::Active || dr_took_over)) {
    dr_link =
        dataplane::LinkPrimary::listen(site.replication_listen, dr_timing, epoch, error, dr_keys);
    if (!dr_link) {
      std::cerr << "[site] replication_listen = " << site.replication_listen << ": " << error
                << "\n";
      return 1;
    }
    std::printf("acdd: dr: serving site %s's follower on %s (%s)\n", dr_peer->name.c_str(),
                site.replication_listen.c_str(), dr_keys ? "sealed" : "clear text");
    std::fflush(stdout);
  }
  // This node routes from here on (alone, promoted, or the DR site that took over): its history
  // export runs, from the last position its old primary logged.
  if (kafka) {
    kafka->activate();
  }
  control::NodeShipper::Options shipping;
  shipping.journal_gates = running.journal.sync;
  shipping.snapshot_every = std::chrono::seconds(running.journal.snapshot_every_s);
  shipping.hash_every = ha.hash_every;
  // A DR pair that took over keeps the centre's epoch under its site's name (docs/dr.md).
  shipping.node = dr_took_over && site.follows() ? site.node : ha.node;
  (void)dataplane::parse_endpoint(ha.peer_dataplane, shipping.peer_dataplane);
  // A site that took over with its pair's standby following on the link releases nothing that
  // standby has not acknowledged, from the first reply: should this node die before the standby
  // heard the new epoch, the standby proves from etcd's takeover record alone that it holds
  // everything released (docs/dr.md). Without the standby it goes alone only after bumping the
  // epoch, as a primary does whose standby died.
  control::NodeShipper shipper(io, journal.get(), link.get(), fence.get(), epoch,
                               gate_on_link                   ? control::HaRole::Primary
                               : ha.enabled() || dr_took_over ? control::HaRole::Alone
                                                              : control::HaRole::Single,
                               shipping, ha_status);
  if (dr_link) {
    dataplane::Endpoint dr_at;
    (void)dataplane::parse_endpoint(
        dr_peer->dataplane.empty() ? "0.0.0.0:0" : dr_peer->dataplane.front(), dr_at);
    shipper.set_dr(dr_link.get(), dr_at, dr_peer->name);
  }
  shipper.set_audit(audit.get());
  if (history) {
    shipper.set_history_fetch(&history_fetch);  // a standby's copy of our records
  }
  if (journal || link || dr_link) {
    io.set_shipper(&shipper);
  }
  if (ha.enabled() || dr_took_over) {
    // Clients waiting on the node this one replaces learn of the takeover now, not at their
    // next timeout.
    const std::size_t told = io.announce_primary();
    control::log_line("routing as primary; told " + std::to_string(told) + " clients");
  }
  auto fenced = [&] {
    const control::HaRole r = ha_status.role.load();
    return r == control::HaRole::Fenced || r == control::HaRole::SteppedDown;
  };

  if (summaries) {
    if (const control::Result<void> started = summaries->start(); !started.ok()) {
      std::cerr << "acdd: " << started.failure().message << "\n";
    } else {
      control::log_line(summaries_sealed
                            ? "sending site summaries to the active peer sites (ACDP/2 where keyed)"
                            : "sending site summaries to the active peer sites (clear text)");
    }
  }

  // [dataplane] io_priority: the IO thread SCHED_FIFO, so that nothing of the normal policy on its
  // CPU (other programs, acdd's own verifiers when they share it) preempts it. check_startup asked
  // the OS already; a refusal now (the limits changed meanwhile) stops acdd the same way.
  auto protect_io_thread = [&](auto&& make) {
    const int priority = static_cast<int>(running.dataplane.io_priority);
    if (priority == 0) {
      return true;
    }
    if (const int err = make(priority); err != 0) {
      std::cerr << control::io_priority_refusal(running, err) << "\nacdd: nothing was started\n";
      return false;
    }
    control::log_line("IO thread runs SCHED_FIFO at priority " + std::to_string(priority));
    return true;
  };
  if (router_cpu >= 0) {
    dataplane::SplitWorker worker(engine, io, io_cpu, router_cpu, &board, &latency, &rings);
    if (!protect_io_thread([&](int priority) { return worker.make_io_realtime(priority); })) {
      worker.stop();
      return 1;
    }
    notify_systemd("READY=1");
    while (!g_stop.load(std::memory_order_relaxed) && !fenced()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      housekeeping();
    }
    notify_systemd("STOPPING=1");
    worker.stop();
  } else {
    dataplane::pin_to_cpu(io_cpu);
    // This thread becomes the IO thread: every other thread of acdd is started by now (and any
    // started later gets the normal policy: SCHED_RESET_ON_FORK).
    if (!protect_io_thread(
            [](int priority) { return dataplane::make_realtime(pthread_self(), priority); })) {
      return 1;
    }
    dataplane::Worker worker(engine, io, &board, &latency);
    notify_systemd("READY=1");
    unsigned idle = 0;
    unsigned cycles = 0;
    while (!g_stop.load(std::memory_order_relaxed) && !fenced()) {
      if ((++cycles & 63) == 0) {
        housekeeping();  // a relaxed load and, at most every few ms, a clock read
      }
      if (worker.poll() != 0) {
        idle = 0;
      } else if ((++idle > 64 || (link != nullptr && link->awaiting_ack())) && uring != nullptr) {
        // Waiting for the standby's acknowledgement, polling on would only take the CPU the
        // standby needs to send it (two nodes on one machine share its cores): sleep at once.
        if (link != nullptr) {
          // Also the standby's acknowledgements: held replies leave as soon as one arrives.
          const int fds[] = {uring->completion_fd(), link->standby_socket()};
          control::wait_readable(fds, std::chrono::microseconds(500));
        } else {
          uring->wait(500);  // returns as soon as a datagram arrives
        }
      }
    }
  }

  // The routing loop has ended: nothing polls the links any more. A DR node waiting for this
  // node's hand-over takes over as soon as its link closes, not after the exit below.
  dr_link.reset();
  notify_systemd("STOPPING=1");
  server.stop();
  metrics.stop();
  summaries.reset();
  const auto& c = io.counters();
  std::fprintf(stderr, "acdd: stopping; ");
  for (std::size_t i = 0; i < dataplane::kCounterCount; ++i) {
    const auto counter = static_cast<dataplane::Counter>(i);
    if (c.read(counter) != 0) {
      std::fprintf(stderr, "%s=%llu ", std::string(dataplane::counter_name(counter)).c_str(),
                   static_cast<unsigned long long>(c.read(counter)));
    }
  }
  std::fprintf(stderr, "calls in engine=%u state hash=%016llx\n", engine.calls_in_engine(),
               static_cast<unsigned long long>(engine.state_hash()));
  if (fenced()) {
    // Another node holds (or takes) the epoch: this one emits nothing more. systemd starts it
    // again, as a standby that catches up from the new primary.
    std::fprintf(stderr, "acdd: ha: %s (%s); exiting to rejoin as a standby\n",
                 std::string(control::to_string(ha_status.role.load())).c_str(),
                 ha_status.why().c_str());
    audit_stop.why = std::string(control::to_string(ha_status.role.load())) + ": " +
                     ha_status.why() + "; exiting to rejoin as a standby";
    audit_stop.outcome = control::AuditOutcome::Ok;
    return 3;
  }
  audit_stop.why = "stopped by a signal";
  audit_stop.outcome = control::AuditOutcome::Ok;
  return 0;
}
