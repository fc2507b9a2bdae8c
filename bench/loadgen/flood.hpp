// acd-loadgen --flood: a forged ACDP/2 flood at a constant rate, for measuring what it does to
// established sessions (bench/secure_e2e_bench.sh). Half the datagrams are data datagrams naming
// a random session index (acdd drops them after a lookup), half handshake inits with a right mac1
// (made for acdd's public key) and random contents, from `sources` addresses 127.2.0.1.. so that
// each stays under acdd's per-source allowance and reaches the handshake worker (a cookie reply,
// or a DH that fails). The datagrams are made once, before the clock starts; sending is sendmmsg
// batches from one thread, paced against start + n / rate, so the sender costs a fraction of a
// core (a Python sender took most of one on a 2-vCPU host, and the measurement measured it).
// With a burst of N (--flood-burst), the same rate comes N datagrams back to back every N / rate
// seconds (the Python sender's 100 every 5 ms at 20,000/s): what a burst does to the latency of
// the established sessions' datagrams that arrive in or just after it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_wire.hpp"
#include "acd/dataplane/wire.hpp"

namespace acd::loadgen {

struct FloodReport {
  std::uint64_t sent = 0;
  double seconds = 0;
  std::uint64_t send_errors = 0;  // datagrams sendmmsg did not take (EAGAIN, ENOBUFS)
  double cpu_seconds = 0;         // this process's CPU time while sending (user + system)
  std::string why;                // set when the flood could not start
};

// The flood's pacing: how many datagrams are due `elapsed` seconds after the start. Even (burst
// 0 or 1): start + n / rate. In bursts of `burst`: burst k, all its datagrams at once, at
// start + k * burst / rate.
inline double flood_due(double elapsed, double rate, std::uint32_t burst) {
  if (burst <= 1) {
    return elapsed * rate;
  }
  return burst * (std::floor(elapsed * rate / burst) + 1);
}
// When (seconds after the start) datagram n (from 0) is due.
inline double flood_time_of(std::uint64_t n, double rate, std::uint32_t burst) {
  if (burst <= 1) {
    return static_cast<double>(n) / rate;
  }
  return static_cast<double>(n / burst) * burst / rate;
}

// Sends the flood to `to` (IPv4, network byte order) for `seconds`. Blocking; one thread.
// `burst`: 0 or 1 sends evenly; N > 1 sends N datagrams back to back every N / rate seconds.
// `stop` (may be null): set by another thread or a signal handler, ends the flood early.
inline FloodReport run_flood(const dataplane::secure::PublicKey& server, std::uint32_t to_address,
                             std::uint16_t to_port, double rate, double seconds,
                             std::uint32_t sources, std::uint32_t burst = 0,
                             const std::atomic<bool>* stop = nullptr) {
  namespace secure = dataplane::secure;
  FloodReport report;
  if (sodium_init() < 0) {
    report.why = "libsodium could not start";
    return report;
  }
  // mac1's key, as a client computes it: BLAKE2b-256("acdp2 mac1" || acdd's public key).
  std::array<std::uint8_t, 32> mac1_key{};
  {
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, mac1_key.size());
    static constexpr char kLabel[] = "acdp2 mac1";
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kLabel),
                              sizeof(kLabel) - 1);
    crypto_generichash_update(&state, server.bytes.data(), server.bytes.size());
    crypto_generichash_final(&state, mac1_key.data(), mac1_key.size());
  }
  constexpr std::size_t kPool = 2000;
  constexpr std::size_t kDataPayload = 64;
  constexpr std::size_t kDataBytes = secure::kDataOverhead + kDataPayload;
  std::vector<std::vector<std::uint8_t>> pool(kPool);
  for (std::size_t n = 0; n < kPool; ++n) {
    if (n % 2 == 1) {
      secure::HandshakeInit init{};
      randombytes_buf(&init, sizeof(init));
      init.header = {dataplane::wire::kMagic, secure::kVersion,
                     static_cast<std::uint8_t>(secure::Kind::HandshakeInit),
                     static_cast<std::uint16_t>(sizeof(init)), static_cast<std::uint32_t>(n), 0};
      crypto_generichash(init.mac1, sizeof(init.mac1), reinterpret_cast<const unsigned char*>(&init),
                         offsetof(secure::HandshakeInit, mac1), mac1_key.data(), mac1_key.size());
      std::memset(init.mac2, 0, sizeof(init.mac2));
      const auto* p = reinterpret_cast<const std::uint8_t*>(&init);
      pool[n].assign(p, p + sizeof(init));
    } else {
      pool[n].resize(kDataBytes);
      randombytes_buf(pool[n].data(), pool[n].size());
      // One message, a random session index: acdd's lookup finds no session.
      const secure::Header h{dataplane::wire::kMagic, secure::kVersion, 1,
                             static_cast<std::uint16_t>(kDataBytes), randombytes_random(), 0};
      std::memcpy(pool[n].data(), &h, sizeof(h));
    }
  }
  std::vector<int> socks;
  for (std::uint32_t i = 0; i < sources; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(0x7f020000u + 1 + i);  // 127.2.0.1 ..
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      report.why = "cannot bind a flood socket to 127.2.0." + std::to_string(1 + i) + ": " +
                   std::strerror(errno);
      for (int s : socks) {
        close(s);
      }
      if (fd >= 0) {
        close(fd);
      }
      return report;
    }
    socks.push_back(fd);
  }
  sockaddr_in dest{};
  dest.sin_family = AF_INET;
  dest.sin_addr.s_addr = to_address;
  dest.sin_port = to_port;
  // A batch: a few datagrams from one source; the next batch from the next source.
  constexpr std::size_t kBatch = 8;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  for (std::size_t i = 0; i < kBatch; ++i) {
    msgs[i].msg_hdr.msg_name = &dest;
    msgs[i].msg_hdr.msg_namelen = sizeof dest;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  auto cpu_now = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double cpu_start = cpu_now();
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  std::uint64_t n = 0;
  std::size_t source = 0;
  for (auto now = start; now < end && (stop == nullptr || !stop->load(std::memory_order_relaxed));
       now = Clock::now()) {
    // Due by now (flood_due). Ahead: sleep until the next batch (or burst) is due.
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double due = flood_due(elapsed, rate, burst);
    if (static_cast<double>(n) >= due) {
      const double wake = flood_time_of(burst > 1 ? n : n + kBatch, rate, burst);
      std::this_thread::sleep_for(std::chrono::duration<double>(std::max(wake - elapsed, 0.0)));
      continue;
    }
    // A burst is exactly `burst` datagrams: its last batch may be short.
    const std::size_t count =
        burst > 1 ? std::min<std::size_t>(kBatch, static_cast<std::size_t>(due) - n) : kBatch;
    for (std::size_t i = 0; i < count; ++i) {
      const auto& d = pool[(n + i) % kPool];
      iov[i].iov_base = const_cast<std::uint8_t*>(d.data());
      iov[i].iov_len = d.size();
    }
    const int sent = sendmmsg(socks[source], msgs.data(), static_cast<unsigned>(count), 0);
    report.send_errors += sent < 0 ? count : count - static_cast<std::size_t>(sent);
    n += count;  // paced on what was due, sent or not: a full socket does not slow the flood
    report.sent += sent > 0 ? static_cast<std::uint64_t>(sent) : 0;
    source = (source + 1) % socks.size();
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.cpu_seconds = cpu_now() - cpu_start;
  for (int s : socks) {
    close(s);
  }
  return report;
}

}  // namespace acd::loadgen
