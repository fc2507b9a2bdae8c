// acd-sip-bridge: the shell around the Bridge core (sip/DESIGN.md). One thread, one epoll: the
// evapi TCP connection to Kamailio, the ACDP/2 UDP socket to acdd, a 100 ms timerfd, a signalfd
// (SIGINT, SIGTERM: print the counters as JSON and exit 0) and, when configured, the metrics
// endpoint's listening socket and its short-lived HTTP connections.
//
//   acd-sip-bridge --config FILE [--check-config]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"
#include "acd/sip/bridge.hpp"
#include "acd/sip/metrics.hpp"
#include "acd/sip/netstring.hpp"

namespace {

namespace secure = acd::dataplane::secure;
namespace wire = acd::dataplane::wire;
using acd::sip::Bridge;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}
std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// "A.B.C.D:PORT" -> sockaddr_in; nullopt if not that.
std::optional<sockaddr_in> parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  const std::string host = text.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
    return std::nullopt;
  }
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return std::nullopt;
  }
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

std::string text(const sockaddr_in& a) {
  return std::string(inet_ntoa(a.sin_addr)) + ":" + std::to_string(ntohs(a.sin_port));
}

// One acd node: its address, its public key, and the ACDP/2 session with it.
struct Node {
  sockaddr_in addr{};
  secure::PublicKey key{};
  std::unique_ptr<secure::Initiator> initiator;
  std::unique_ptr<secure::SessionCipher> cipher;
  std::uint32_t index = 0;
  std::uint64_t heard_ns = 0, next_init_ns = 0, session_ns = 0;
};

class Shell {
 public:
  // `nodes`: acdd, or the two nodes of a hot-standby pair (the first is tried as primary first).
  Shell(const acd::sip::BridgeConfig& config, secure::StaticKeyPair keys,
        const std::vector<std::pair<sockaddr_in, secure::PublicKey>>& nodes, secure::Aead aead,
        sockaddr_in evapi, std::optional<sockaddr_in> metrics)
      : bridge_(config), keys_(std::move(keys)), aead_(aead), evapi_(evapi), metrics_(metrics) {
    for (const auto& [addr, key] : nodes) {
      nodes_.emplace_back();
      nodes_.back().addr = addr;
      nodes_.back().key = key;
    }
  }

  int run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (epoll_ < 0 || udp_ < 0) {
      std::cerr << "acd-sip-bridge: cannot open the ACDP socket: " << std::strerror(errno) << "\n";
      return 1;
    }
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    itimerspec every{{0, 100'000'000}, {0, 100'000'000}};
    timerfd_settime(timer_, 0, &every, nullptr);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signals_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    for (int fd : {udp_, timer_, signals_}) {
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
    if (metrics_ && !listen_metrics()) {
      std::cerr << "acd-sip-bridge: cannot serve metrics on " << inet_ntoa(metrics_->sin_addr)
                << ":" << ntohs(metrics_->sin_port) << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    for (Node& n : nodes_) {
      n.initiator = std::make_unique<secure::Initiator>(keys_, n.key, 1);
      send_init(n);
    }
    connect_evapi();
    std::cout << "acd-sip-bridge: ACDP/2 to " << text(nodes_[0].addr)
              << (nodes_.size() > 1 ? " (pair with " + text(nodes_[1].addr) + ")" : "")
              << ", evapi " << text(evapi_) << std::endl;
    epoll_event events[16];
    while (!stop_) {
      const int n = epoll_wait(epoll_, events, 16, -1);
      if (n < 0 && errno != EINTR) {
        std::cerr << "acd-sip-bridge: epoll: " << std::strerror(errno) << "\n";
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == udp_) {
          on_udp();
        } else if (fd == timer_) {
          std::uint64_t ticks;
          (void)!read(timer_, &ticks, sizeof ticks);
          on_tick();
        } else if (fd == signals_) {
          stop_ = true;
        } else if (fd == tcp_) {
          on_tcp(events[i].events);
        } else if (fd == http_listen_) {
          accept_http();
        } else if (http_.count(fd) != 0) {
          on_http(fd);
        }
      }
      flush();
    }
    nlohmann::json counters;
#define ACD_X(name, help) counters[#name] = bridge_.count(acd::sip::Counter::name);
    ACD_SIP_COUNTERS(ACD_X)
#undef ACD_X
    counters["calls"] = bridge_.calls();
    std::cout << counters.dump() << std::endl;
    return 0;
  }

 private:
  void watch(int fd, std::uint32_t what, int op) {
    epoll_event e{};
    e.events = what;
    e.data.fd = fd;
    epoll_ctl(epoll_, op, fd, &e);
  }

  // ---- metrics (GET /metrics; one short request per connection) ----
  bool listen_metrics() {
    http_listen_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(http_listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (http_listen_ < 0 ||
        bind(http_listen_, reinterpret_cast<const sockaddr*>(&*metrics_), sizeof *metrics_) != 0 ||
        listen(http_listen_, 16) != 0) {
      return false;
    }
    watch(http_listen_, EPOLLIN, EPOLL_CTL_ADD);
    std::cout << "acd-sip-bridge: metrics on http://" << inet_ntoa(metrics_->sin_addr) << ":"
              << ntohs(metrics_->sin_port) << "/metrics" << std::endl;
    return true;
  }
  void accept_http() {
    for (;;) {
      const int fd = accept4(http_listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        return;
      }
      if (http_.size() >= kMaxHttpClients) {
        close(fd);  // a scraper opens one at a time; more is not one
        continue;
      }
      http_[fd] = HttpClient{std::string(), now_ns()};
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }
  void on_http(int fd) {
    std::string& request = http_[fd].request;
    char buf[2048];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      request.append(buf, static_cast<std::size_t>(n));
    }
    const bool done = acd::sip::http_request_complete(request) || request.size() > 8192;
    if (done) {
      const std::string answer =
          acd::sip::http_answer(request, acd::sip::render_metrics(bridge_, shell_counters()));
      if (answer.compare(0, 12, "HTTP/1.1 200") != 0) {
        ++http_bad_requests_;
      }
      // A few KiB into an empty socket buffer: one write; a client that does not read loses it.
      (void)!write(fd, answer.data(), answer.size());
    }
    if (done || n == 0 || (n < 0 && errno != EAGAIN)) {
      close_http(fd);
    }
  }
  void close_http(int fd) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    http_.erase(fd);
  }
  // A connection has kHttpTimeoutNs from its accept to send its whole request: idle or slow ones
  // would otherwise hold the kMaxHttpClients places and keep every scraper out.
  void expire_http(std::uint64_t now) {
    for (auto it = http_.begin(); it != http_.end();) {
      const int fd = it->first;
      const bool late = now - it->second.accepted_ns > kHttpTimeoutNs;
      ++it;
      if (late) {
        ++http_timeouts_;
        close_http(fd);
      }
    }
  }
  acd::sip::ShellCounters shell_counters() const {
    acd::sip::ShellCounters c;
    c.evapi_connects = evapi_connects_;
    c.evapi_losses = evapi_losses_;
    c.acdp_sessions = acdp_sessions_;
    c.http_bad_requests = http_bad_requests_;
    c.http_timeouts = http_timeouts_;
    c.evapi_up = evapi_up_;
    c.acdp_session = nodes_[active_].cipher != nullptr;
    return c;
  }

  // ---- evapi ----
  void connect_evapi() {
    tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(tcp_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Room for the whole evapi window: a write is never cut short, so a frame never reaches
    // Kamailio in two pieces (Bridge::kEvapiWindow).
    const int sndbuf = 4 * static_cast<int>(Bridge::kEvapiWindow);
    setsockopt(tcp_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (connect(tcp_, reinterpret_cast<const sockaddr*>(&evapi_), sizeof evapi_) != 0 &&
        errno != EINPROGRESS) {
      close_evapi();
      return;
    }
    connecting_ = true;
    reader_ = acd::sip::NetstringReader();
    watch(tcp_, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
  }
  void close_evapi() {
    if (tcp_ >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, tcp_, nullptr);
      close(tcp_);
    }
    if (evapi_up_) {
      ++evapi_losses_;
      std::cerr << "acd-sip-bridge: evapi connection lost; reconnecting" << std::endl;
    }
    tcp_ = -1;
    evapi_up_ = false;
    connecting_ = false;
    out_.clear();
  }
  void on_tcp(std::uint32_t what) {
    if (connecting_) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(tcp_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        close_evapi();
        return;
      }
      connecting_ = false;
      evapi_up_ = true;
      ++evapi_connects_;
      bridge_.evapi_connected();
      std::cout << "acd-sip-bridge: connected to evapi" << std::endl;
      watch(tcp_, EPOLLIN, EPOLL_CTL_MOD);
    }
    if ((what & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
      char buf[16384];
      const ssize_t n = read(tcp_, buf, sizeof buf);
      // Acknowledge at once: evapi writes each event by itself without TCP_NODELAY, so Nagle
      // holds the next event until this side's ACK, which Linux would otherwise delay up to
      // 40 ms whenever the bridge has no command to carry it. Quick ACKs are not sticky.
      const int quick = 1;
      setsockopt(tcp_, IPPROTO_TCP, TCP_QUICKACK, &quick, sizeof quick);
      if (n == 0 || (n < 0 && errno != EAGAIN)) {
        close_evapi();
        return;
      }
      if (n > 0) {
        reader_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        std::string payload;
        acd::sip::NetstringReader::Status s;
        while ((s = reader_.next(payload)) == acd::sip::NetstringReader::Status::Payload) {
          bridge_.on_event(payload, now_ns());
        }
        if (s == acd::sip::NetstringReader::Status::Error) {
          std::cerr << "acd-sip-bridge: " << reader_.error() << "; reconnecting" << std::endl;
          close_evapi();
          return;
        }
      }
    }
    if ((what & EPOLLOUT) != 0) {
      write_evapi();
    }
  }
  void write_evapi() {
    while (!out_.empty()) {
      const ssize_t n = write(tcp_, out_.data(), out_.size());
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) {
          watch(tcp_, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
          return;
        }
        close_evapi();
        return;
      }
      out_.erase(0, static_cast<std::size_t>(n));
    }
    watch(tcp_, EPOLLIN, EPOLL_CTL_MOD);
  }

  // ---- ACDP/2 ----
  void send_init(Node& n) {
    std::uint8_t init[sizeof(secure::HandshakeInit)];
    if (n.initiator->make_init(wall_ns(), now_ns(), init) == sizeof init) {
      const auto draw = static_cast<std::uint32_t>(random_());
      n.next_init_ns = now_ns() + acd::sip::jittered(1'000'000'000, draw);
      (void)!sendto(udp_, init, sizeof init, 0, reinterpret_cast<const sockaddr*>(&n.addr),
                    sizeof n.addr);
    }
  }
  // A pair only: the node the bridge sends to becomes `k`. With a session there, every waiting
  // request goes to it again (same seq) and the held calls are asked for again; without one, a
  // handshake first (the session's arrival does the same).
  void move_to(std::size_t k, const char* why) {
    if (nodes_.size() < 2 || k == active_) {
      return;
    }
    active_ = k;
    moved_ns_ = now_ns();
    std::cout << "acd-sip-bridge: to acd node " << text(nodes_[k].addr) << " (" << why << ")"
              << std::endl;
    if (nodes_[k].cipher) {
      nodes_[k].heard_ns = moved_ns_;  // its silence counts from now
      bridge_.failed_over(moved_ns_);
    } else {
      failover_pending_ = true;
      send_init(nodes_[k]);
    }
  }
  void on_udp() {
    std::uint8_t d[wire::kMaxDatagram];
    std::uint8_t plain[wire::kMaxDatagram];
    for (;;) {
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      const ssize_t n =
          recvfrom(udp_, d, sizeof d, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) {
        return;
      }
      std::size_t k = 0;
      while (k < nodes_.size() && (nodes_[k].addr.sin_addr.s_addr != from.sin_addr.s_addr ||
                                   nodes_[k].addr.sin_port != from.sin_port)) {
        ++k;
      }
      if (k == nodes_.size()) {
        continue;  // not from a node of ours
      }
      Node& node = nodes_[k];
      const std::span<const std::uint8_t> datagram(d, static_cast<std::size_t>(n));
      const secure::Peeked p = secure::peek(datagram);
      if (p.reason != secure::DropReason::None) {
        continue;
      }
      if (p.handshake) {
        if (p.kind == secure::Kind::CookieReply) {
          if (node.initiator->consume_cookie(datagram, now_ns()) == secure::DropReason::None) {
            send_init(node);
          }
          continue;
        }
        const secure::Initiator::Established e = node.initiator->consume_response(datagram);
        if (e.reason == secure::DropReason::None) {
          node.cipher = std::make_unique<secure::SessionCipher>(e.keys, secure::Side::Client, aead_);
          node.index = e.session_index;
          node.heard_ns = node.session_ns = now_ns();
          ++acdp_sessions_;
          std::cout << "acd-sip-bridge: ACDP/2 session made with " << text(node.addr) << std::endl;
          if (k == active_) {
            if (std::exchange(failover_pending_, false)) {
              bridge_.failed_over(now_ns());
            } else {
              bridge_.connected(now_ns());
            }
          }
        }
        continue;
      }
      if (!node.cipher || p.index != node.index) {
        continue;
      }
      constexpr std::size_t kHead = sizeof(wire::DatagramHeader);
      const secure::Opened o =
          node.cipher->open(datagram, std::span<std::uint8_t>(plain + kHead, sizeof plain - kHead));
      if (o.reason != secure::DropReason::None) {
        continue;
      }
      // A pair's epoch only grows: a datagram from an older epoch is from a node that lost its
      // role (docs/protocol.md "Two nodes"). One node alone may restart with any epoch.
      const bool pair = nodes_.size() > 1;
      if (pair && o.header.epoch < epoch_) {
        continue;
      }
      const bool newer = pair && o.header.epoch > epoch_;
      if (pair) {
        epoch_ = std::max(epoch_, o.header.epoch);
      }
      node.heard_ns = now_ns();
      const wire::DatagramHeader h{wire::kMagic,
                                   wire::kVersion,
                                   o.header.count,
                                   static_cast<std::uint16_t>(kHead + o.plaintext.size()),
                                   0,
                                   o.header.epoch};
      std::memcpy(plain, &h, kHead);
      const std::span<const std::uint8_t> acdp1(plain, kHead + o.plaintext.size());
      wire::DatagramHeader checked;
      if (acd::dataplane::check_header(acdp1, checked) != acd::dataplane::HeaderCheck::Ok) {
        continue;
      }
      bool announced = false;
      acd::dataplane::for_each_message(
          acdp1, checked,
          [&](const acd::dataplane::Message& m) {
            announced = announced || (m.type == wire::Type::Heartbeat && m.seq == 0);
            bridge_.on_message(m, now_ns());
          },
          [](std::uint64_t, wire::WireError) {});
      const bool not_primary = bridge_.take_not_primary();
      if (k != active_ && announced && newer) {
        move_to(k, "its takeover announcement");
      } else if (k == active_ && not_primary) {
        move_to(1 - k, "NotPrimary from the other");
      }
    }
  }
  void on_tick() {
    const std::uint64_t now = now_ns();
    bridge_.tick(now);
    // acd silent while requests wait: with a pair, the other node is tried (it may have taken
    // over); alone, a new handshake (acdd may have restarted). Silent: nothing heard for 1 s, and
    // a request has waited that long (a request just sent after a quiet second is no sign of a
    // dead node).
    const std::uint64_t since = bridge_.waiting_since();
    const Node& active = nodes_[active_];
    const bool silent = active.cipher && since != 0 && now - since > 1'000'000'000 &&
                        now - active.heard_ns > 1'000'000'000;
    if (silent && nodes_.size() > 1 && now - moved_ns_ > 1'000'000'000) {
      move_to(1 - active_, "silence");
    }
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      Node& n = nodes_[k];
      // No session; the node we send to silent; or, for the other node of a pair, a session
      // 5 min old (renewed before acdd's idle time forgets it, so its takeover announcement and
      // NotPrimary always reach the bridge).
      const bool want = !n.cipher || (k == active_ && silent) ||
                        (k != active_ && now - n.session_ns > 300'000'000'000);
      if (want && now >= n.next_init_ns) {
        send_init(n);  // again about every second, give or take a quarter
      }
    }
    expire_http(now);
    if (tcp_ < 0 && now - last_connect_ns_ > 1'000'000'000) {
      last_connect_ns_ = now;
      connect_evapi();
    }
  }
  void flush() {
    if (evapi_up_) {  // otherwise the commands wait in the bridge for the next connection
      for (const std::string& c : bridge_.take_commands(now_ns())) {
        out_ += acd::sip::netstring(c);
      }
      if (!out_.empty()) {
        write_evapi();
      }
    }
    std::vector<acd::sip::Request> requests = bridge_.take_requests();
    Node& node = nodes_[active_];
    if (!node.cipher) {
      return;  // sent again by tick() once there is a session
    }
    std::size_t i = 0;
    while (i < requests.size()) {
      std::uint8_t buf[wire::kMaxSendDatagram];
      acd::dataplane::DatagramWriter w(
          std::span<std::uint8_t>(buf, wire::kMaxSendDatagram + 16 - secure::kDataOverhead), 0);
      while (i < requests.size() && w.add(requests[i].type, requests[i].seq,
                                          requests[i].body.data(), requests[i].body.size())) {
        ++i;
      }
      const std::size_t n = w.finish();
      if (n == 0) {
        ++i;  // cannot happen: a request always fits an empty datagram
        continue;
      }
      std::uint8_t sealed[wire::kMaxDatagram];
      const std::size_t s =
          node.cipher->seal(secure::DataHeader{static_cast<std::uint8_t>(w.count()), node.index, 0},
                        std::span<const std::uint8_t>(buf + sizeof(wire::DatagramHeader),
                                                      n - sizeof(wire::DatagramHeader)),
                        sealed);
      if (s > 0) {
        (void)!sendto(udp_, sealed, s, 0, reinterpret_cast<const sockaddr*>(&node.addr),
                      sizeof node.addr);
      }
    }
  }

  Bridge bridge_;
  secure::StaticKeyPair keys_;
  secure::Aead aead_;
  sockaddr_in evapi_;
  std::optional<sockaddr_in> metrics_;
  static constexpr std::size_t kMaxHttpClients = 8;
  static constexpr std::uint64_t kHttpTimeoutNs = 5'000'000'000;
  struct HttpClient {
    std::string request;  // read so far
    std::uint64_t accepted_ns = 0;
  };
  int http_listen_ = -1;
  std::map<int, HttpClient> http_;  // metrics connections by fd
  std::uint64_t evapi_connects_ = 0, evapi_losses_ = 0, acdp_sessions_ = 0, http_bad_requests_ = 0,
                http_timeouts_ = 0;
  int epoll_ = -1, udp_ = -1, tcp_ = -1, timer_ = -1, signals_ = -1;
  bool connecting_ = false, evapi_up_ = false, stop_ = false;
  std::string out_;
  acd::sip::NetstringReader reader_;
  std::vector<Node> nodes_;
  std::size_t active_ = 0;           // the node requests go to
  std::uint32_t epoch_ = 0;          // the highest epoch heard from a pair
  bool failover_pending_ = false;    // moved to a node without a session: failed_over() once made
  std::uint64_t moved_ns_ = 0, last_connect_ns_ = 0;
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-sip-bridge: Kamailio (evapi) to acd (ACDP/2) as a switch client"};
  std::string config_path;
  bool check_only = false;
  app.add_option("--config", config_path, "The bridge's TOML file")->required();
  app.add_flag("--check-config", check_only, "Check the file (and the keys it names), then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  acd::sip::BridgeConfigResult loaded = acd::sip::load_bridge_config(config_path);
  if (!loaded.config) {
    for (const std::string& e : loaded.errors) {
      std::cerr << e << "\n";
    }
    return 1;
  }
  const acd::sip::BridgeConfig& config = *loaded.config;
  const auto acd = parse_address(config.acd);
  const auto evapi = parse_address(config.evapi);
  const auto standby = config.standby.empty() ? std::nullopt : parse_address(config.standby);
  if (!acd || !evapi || (!config.standby.empty() && !standby)) {
    std::cerr << config_path << ": acd, standby and evapi must be IPV4:PORT\n";
    return 1;
  }
  std::optional<sockaddr_in> metrics;
  if (!config.metrics.empty()) {
    metrics = parse_address(config.metrics);
    if (!metrics) {
      std::cerr << config_path << ": metrics must be IPV4:PORT\n";
      return 1;
    }
  }
  secure::KeyFileResult keys = secure::load_secret_key_file(config.key_file);
  if (!keys.ok()) {
    std::cerr << keys.error << "\n";
    return 1;
  }
  const auto read_key = [](const std::string& file) -> std::optional<secure::PublicKey> {
    std::ifstream in(file);
    std::string line;
    if (in && std::getline(in, line)) {
      return secure::public_key_from_base64(line);
    }
    return std::nullopt;
  };
  std::vector<std::pair<sockaddr_in, secure::PublicKey>> nodes;
  for (const auto& [addr, file] : {std::pair{acd, config.server_key},
                                   std::pair{standby, config.standby_key}}) {
    if (!addr) {
      continue;
    }
    const std::optional<secure::PublicKey> key = read_key(file);
    if (!key) {
      std::cerr << file << ": not a file holding acdd's public key (base64, one line)\n";
      return 1;
    }
    nodes.emplace_back(*addr, *key);
  }
  const secure::Aead aead =
      config.aead == "aes256-gcm" ? secure::Aead::Aes256Gcm : secure::Aead::ChaCha20Poly1305;
  if (!secure::aead_available(aead)) {
    std::cerr << config_path << ": aead " << config.aead << " is not available on this CPU\n";
    return 1;
  }
  if (check_only) {
    std::cout << config_path << ": ok; this bridge's public key "
              << secure::to_base64(keys.keys->public_key) << "\n";
    return 0;
  }
  Shell shell(config, std::move(*keys.keys), nodes, aead, *evapi, metrics);
  return shell.run();
}
