#include "acd/dataplane/socket_filter.hpp"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "acd/dataplane/secure_wire.hpp"
#include "acd/dataplane/wire.hpp"

namespace acd::dataplane {

namespace {

// The UDP header comes first in what a UDP socket's filter reads.
constexpr std::uint32_t kUdp = 8;
constexpr std::uint32_t kAccept = 0xFFFF'FFFFu;  // keep the whole datagram
constexpr std::uint32_t kDrop = 0;

sock_filter stmt(std::uint16_t code, std::uint32_t k) {
  return sock_filter{code, 0, 0, k};
}

// A conditional jump to one of the two ends of the program, fixed up once its length is known.
struct Jump {
  std::size_t at;
  bool true_accepts;  // true: jt -> accept, jf falls through; false: jt falls through, jf -> accept
};

}  // namespace

std::vector<sock_filter> session_index_filter(std::uint32_t first, std::uint32_t end) {
  std::vector<sock_filter> p;
  std::vector<Jump> to_accept;  // jumps out to "accept"
  // if (A op k) goes on; otherwise accept (not what this filter judges).
  auto go_on_if = [&](std::uint16_t op, std::uint32_t k, bool when) {
    to_accept.push_back({p.size(), !when});
    p.push_back(sock_filter{static_cast<std::uint16_t>(BPF_JMP | op | BPF_K), 0, 0, k});
  };
  // magic "ACDP" (little-endian 0x50444341 on the wire: bytes 41 43 44 50; a word loads big-endian)
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kUdp + 0));
  static_assert(wire::kMagic == 0x50444341u);
  go_on_if(BPF_JEQ, 0x41434450u, true);
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kUdp + 4));
  go_on_if(BPF_JEQ, secure::kVersion, true);
  // a data datagram: a message count 1..64 (handshakes are 0x81..0x83)
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kUdp + 5));
  go_on_if(BPF_JGE, 1, true);
  go_on_if(BPF_JGT, wire::kMaxMessages, false);
  p.push_back(stmt(BPF_LD | BPF_W | BPF_LEN, 0));
  go_on_if(BPF_JGE, kUdp + secure::kDataOverhead, true);
  // the session index, little-endian at bytes 8..11: A = b8 | b9 << 8 | b10 << 16 | b11 << 24
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kUdp + 11));
  p.push_back(stmt(BPF_ALU | BPF_LSH | BPF_K, 24));
  p.push_back(stmt(BPF_ST, 0));
  for (const std::uint32_t byte : {10u, 9u, 8u}) {
    p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kUdp + byte));
    p.push_back(stmt(BPF_ALU | BPF_LSH | BPF_K, (byte - 8) * 8));
    p.push_back(stmt(BPF_LDX | BPF_MEM, 0));
    p.push_back(stmt(BPF_ALU | BPF_OR | BPF_X, 0));
    p.push_back(stmt(BPF_ST, 0));
  }
  // (index - first) mod 2^32 < end - first: inside the issued range
  p.push_back(stmt(BPF_ALU | BPF_SUB | BPF_K, first));
  const std::size_t range_jump = p.size();  // outside (>= the width): drop; inside: accept
  p.push_back(sock_filter{static_cast<std::uint16_t>(BPF_JMP | BPF_JGE | BPF_K), 0, 0, end - first});
  p.push_back(stmt(BPF_RET | BPF_K, kDrop));
  const std::size_t drop_at = p.size() - 1;
  p.push_back(stmt(BPF_RET | BPF_K, kAccept));
  const std::size_t accept_at = p.size() - 1;
  p[range_jump].jt = static_cast<std::uint8_t>(drop_at - range_jump - 1);
  p[range_jump].jf = static_cast<std::uint8_t>(accept_at - range_jump - 1);
  for (const Jump& j : to_accept) {
    const auto offset = static_cast<std::uint8_t>(accept_at - j.at - 1);
    if (j.true_accepts) {
      p[j.at].jt = offset;
    } else {
      p[j.at].jf = offset;
    }
  }
  return p;
}

bool attach_socket_filter(int fd, std::span<const sock_filter> program, std::string& error) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = const_cast<sock_filter*>(program.data());  // the kernel copies it
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) {
    error = std::string("SO_ATTACH_FILTER: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool filter_session_indices(int fd, std::uint32_t first, std::uint32_t end, std::string& error) {
  const std::vector<sock_filter> program = session_index_filter(first, end);
  if (attach_socket_filter(fd, program, error)) {
    return true;
  }
  int unused = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0 && errno != ENOENT) {
    error += std::string("; SO_DETACH_FILTER: ") + std::strerror(errno);
  }
  return false;
}

std::uint64_t socket_drops(int fd) {
  std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info.data(), &len) != 0 ||
      len < (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) {
    return 0;
  }
  return info[SK_MEMINFO_DROPS];
}

}  // namespace acd::dataplane
