// acd-udp-echo: the kernel's ceiling for acd's UDP path. A recvmmsg/sendmmsg loop on one core that
// answers ACDP requests with the least work possible (a fixed RouteResponse or Ack per request, no
// routing), so that acd-loadgen can drive it exactly as it drives acdd and the two rates compare.
//
//   acd-udp-echo --listen 127.0.0.1:7071 [--cpu N] [--port-file FILE]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace acd::dataplane;
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
  constexpr int kTx = 4 * kBatch;
  static std::uint8_t rx[kBatch][wire::kMaxDatagram];
  static std::uint8_t tx[kTx][wire::kMaxSendDatagram];
  sockaddr_in peers[kBatch];
  mmsghdr in[kBatch];
  mmsghdr out[kTx];
  iovec rx_iov[kBatch];
  iovec tx_iov[kTx];
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
    int replies = 0;
    for (int k = 0; k < n; ++k) {
      const std::span<const std::uint8_t> d(rx[k], in[k].msg_len);
      wire::DatagramHeader h;
      if (check_header(d, h) != HeaderCheck::Ok) {
        continue;
      }
      // Replies to one datagram may need several (64-byte answers, 1472-byte datagrams).
      DatagramWriter w(std::span<std::uint8_t>(tx[replies], sizeof(tx[replies])), h.client_id);
      auto close_datagram = [&] {
        const std::size_t bytes = w.finish();
        if (bytes == 0 || replies == kTx) {
          return;
        }
        tx_iov[replies] = iovec{tx[replies], bytes};
        out[replies] = mmsghdr{};
        out[replies].msg_hdr.msg_iov = &tx_iov[replies];
        out[replies].msg_hdr.msg_iovlen = 1;
        out[replies].msg_hdr.msg_name = &peers[k];
        out[replies].msg_hdr.msg_namelen = sizeof(peers[k]);
        ++replies;
        w = DatagramWriter(std::span<std::uint8_t>(tx[replies % kTx], sizeof(tx[0])), h.client_id);
      };
      auto add = [&](wire::Type type, const auto& body) {
        if (!w.add(type, 0, body)) {
          close_datagram();
          w.add(type, 0, body);
        }
      };
      for_each_message(
          d, h,
          [&](const Message& m) {
            if (m.type == wire::Type::RouteRequest) {
              wire::RouteResponse r{};
              r.reply_to = m.seq;
              r.call_id = m.as<wire::RouteRequest>().call_id;
              r.result = wire::RouteResult::Agent;
              r.agent_number = 1000;
              add(wire::Type::RouteResponse, r);
            } else {
              add(wire::Type::Ack, wire::Ack{m.seq, 0, 0, 0});
            }
          },
          [](std::uint64_t, wire::WireError) {});
      close_datagram();
    }
    for (int sent = 0; sent < replies;) {
      const int r = sendmmsg(fd, out + sent, static_cast<unsigned>(replies - sent), 0);
      if (r <= 0) {
        break;
      }
      sent += r;
    }
  }
  close(fd);
  return 0;
}
