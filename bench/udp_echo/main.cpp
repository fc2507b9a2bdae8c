// acd-udp-echo: the kernel's ceiling for acd's UDP path. A recvmmsg/sendmmsg loop on one core that
// exchanges with the clients exactly the messages acd would, with the least work possible (no
// routing, no state but the desktops): a RouteResponse to the switch and an Offer to a registered
// desktop (in turn) per route request, an Ack per other request; the replies of one receive batch
// gathered per client into datagrams and sent with one sendmmsg, as acd's IO stage does. So
// acd-loadgen drives it exactly as it drives acdd, and the two compare at equal work.
//
//   acd-udp-echo --listen 127.0.0.1:7071 [--cpu N] [--port-file FILE]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <vector>
#include <cstring>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace {
using namespace acd::dataplane;
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}

struct Desktop {
  std::uint32_t client;
  sockaddr_in peer;
};

// The desktops that registered, offered calls in turn (the echo keeps no agent state).
class Desktops {
 public:
  void add(std::uint32_t client, const sockaddr_in& peer) {
    for (Desktop& d : all_) {
      if (d.client == client) {
        d.peer = peer;
        return;
      }
    }
    if (all_.size() < 65536) {
      all_.push_back(Desktop{client, peer});
    }
  }
  const Desktop* next() {
    if (all_.empty()) {
      return nullptr;
    }
    next_ = (next_ + 1) % all_.size();
    return &all_[next_];
  }

 private:
  std::vector<Desktop> all_;
  std::size_t next_ = 0;
};

// The replies of one receive batch, gathered per client into datagrams as acd's IO stage does
// (one open datagram per client, a new one when full), all sent with one sendmmsg.
class Replies {
 public:
  explicit Replies(int fd) : fd_(fd) {}
  template <typename Body>
  void add(std::uint32_t client, const sockaddr_in& peer, wire::Type type, std::uint64_t seq,
           const Body& body) {
    if (used_ == kTx) {
      send();
    }
    Open* o = nullptr;
    for (std::size_t i = 0; i < open_count_; ++i) {
      if (open_[i].client == client) {
        o = &open_[i];
        break;
      }
    }
    if (o != nullptr && o->writer.add(type, seq, body)) {
      return;
    }
    if (o != nullptr) {
      close(*o);  // full: a new datagram for this client
    } else {
      if (open_count_ == kOpen) {
        send();
      }
      o = &open_[open_count_++];
      o->client = client;
    }
    o->slot = used_++;
    o->peer = peer;
    o->writer = DatagramWriter(std::span<std::uint8_t>(tx_[o->slot], sizeof(tx_[0])), client);
    o->writer.add(type, seq, body);
  }
  // Every datagram gathered, in one system call (or a few when the socket is short of room).
  void send() {
    for (std::size_t i = 0; i < open_count_; ++i) {
      close(open_[i]);
    }
    open_count_ = 0;
    for (std::size_t sent = 0; sent < ready_;) {
      const int r = sendmmsg(fd_, out_ + sent, static_cast<unsigned>(ready_ - sent), 0);
      if (r <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(r);
    }
    ready_ = 0;
    used_ = 0;
  }

 private:
  static constexpr std::size_t kTx = 256;
  static constexpr std::size_t kOpen = 64;
  struct Open {
    std::uint32_t client = 0;
    std::size_t slot = 0;
    sockaddr_in peer{};
    DatagramWriter writer{std::span<std::uint8_t>(), 0};
  };
  void close(Open& o) {
    const std::size_t bytes = o.writer.finish();
    if (bytes == 0) {
      return;
    }
    peers_[ready_] = o.peer;
    iov_[ready_] = iovec{tx_[o.slot], bytes};
    out_[ready_] = mmsghdr{};
    out_[ready_].msg_hdr.msg_iov = &iov_[ready_];
    out_[ready_].msg_hdr.msg_iovlen = 1;
    out_[ready_].msg_hdr.msg_name = &peers_[ready_];
    out_[ready_].msg_hdr.msg_namelen = sizeof(peers_[ready_]);
    ++ready_;
  }
  int fd_;
  std::uint8_t tx_[kTx][wire::kMaxSendDatagram];
  sockaddr_in peers_[kTx];
  iovec iov_[kTx];
  mmsghdr out_[kTx];
  Open open_[kOpen];
  std::size_t open_count_ = 0;
  std::size_t used_ = 0;   // slots of tx_ taken
  std::size_t ready_ = 0;  // datagrams closed, waiting for send()
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-udp-echo: recvmmsg/sendmmsg ACDP responder (kernel ceiling)"};
  std::string listen = "127.0.0.1:7071";
  int cpu = -1;
  std::string port_file;
  app.add_option("--listen", listen, "A.B.C.D:PORT");
  app.add_option("--cpu", cpu, "Pin to this CPU");
  app.add_option("--port-file", port_file, "Write the bound port here");
  CLI11_PARSE(app, argc, argv);
  Endpoint local;
  if (!parse_endpoint(listen, local)) {
    std::cerr << "acd-udp-echo: bad --listen\n";
    return 2;
  }
  pin_to_cpu(cpu);
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  const int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = local.address;
  addr.sin_port = local.port;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::cerr << "acd-udp-echo: bind: " << std::strerror(errno) << "\n";
    return 1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (!port_file.empty()) {
    std::ofstream(port_file) << ntohs(addr.sin_port) << "\n";
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  constexpr int kBatch = 32;
  static std::uint8_t rx[kBatch][wire::kMaxDatagram];
  sockaddr_in peers[kBatch];
  mmsghdr in[kBatch];
  iovec rx_iov[kBatch];
  static Replies replies(fd);  // 0.4 MiB of datagrams: not on the stack
  Desktops desktops;
  std::uint32_t agent = 0;
  while (!g_stop.load()) {
    for (int k = 0; k < kBatch; ++k) {
      rx_iov[k] = iovec{rx[k], sizeof(rx[k])};
      in[k] = mmsghdr{};
      in[k].msg_hdr.msg_iov = &rx_iov[k];
      in[k].msg_hdr.msg_iovlen = 1;
      in[k].msg_hdr.msg_name = &peers[k];
      in[k].msg_hdr.msg_namelen = sizeof(peers[k]);
    }
    const int n = recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) {
      continue;
    }
    for (int k = 0; k < n; ++k) {
      const std::span<const std::uint8_t> d(rx[k], in[k].msg_len);
      wire::DatagramHeader h;
      if (check_header(d, h) != HeaderCheck::Ok) {
        continue;
      }
      for_each_message(
          d, h,
          [&](const Message& m) {
            if (m.type == wire::Type::RouteRequest) {
              // As acd: the decision to the switch, and the Offer to the chosen agent's desktop.
              const auto call = m.as<wire::RouteRequest>().call_id;
              wire::RouteResponse r{};
              r.reply_to = m.seq;
              r.call_id = call;
              r.result = wire::RouteResult::Agent;
              r.agent = agent;
              r.agent_number = 1000 + agent;
              replies.add(h.client_id, peers[k], wire::Type::RouteResponse, 0, r);
              if (const Desktop* desk = desktops.next()) {
                replies.add(desk->client, desk->peer, wire::Type::Offer, 0,
                            wire::Offer{call, agent, 0, 0});
              }
              agent = (agent + 1) % 1024;
            } else {
              if (m.type == wire::Type::Register &&
                  m.as<wire::Register>().role == static_cast<std::uint32_t>(wire::Role::Desktop)) {
                desktops.add(h.client_id, peers[k]);
              }
              replies.add(h.client_id, peers[k], wire::Type::Ack, 0, wire::Ack{m.seq, 0, 0, 0});
            }
          },
          [](std::uint64_t, wire::WireError) {});
    }
    replies.send();
  }
  close(fd);
  return 0;
}
