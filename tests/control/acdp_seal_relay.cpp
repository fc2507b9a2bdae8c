// ACDP/2 for the clear-text test client (acdp_probe.py --seal): reads one ACDP/1 datagram in hex
// from stdin, makes a session with acdd as the client whose secret key is KEY_FILE (acdd knows its
// public half as a [[clients]] entry), sends the datagram sealed (three times, 200 ms apart: a
// retransmission, as the clear-text probe does) and prints every data datagram acdd answers with,
// opened, as one line of hex. Stops after SECONDS (default 2). Exit 1 if no session was made.
//
//   acdp_seal_relay HOST:PORT KEY_FILE SERVER_PUBLIC_KEY_FILE [SECONDS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "secure_clients.hpp"

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

bool from_hex(const std::string& text, std::vector<std::uint8_t>& out) {
  if (text.size() % 2 != 0) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(text.c_str() + i, "%2x", &v) != 1) {
      return false;
    }
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: acdp_seal_relay HOST:PORT KEY_FILE SERVER_PUBLIC_KEY_FILE [SECONDS]\n";
    return 2;
  }
  const std::string target = argv[1];
  const std::filesystem::path key_file = argv[2];
  const double seconds = argc > 4 ? std::stod(argv[4]) : 2.0;
  std::string why;
  const auto server = acd::loadgen::read_public_key_file(argv[3], why);
  if (!server) {
    std::cerr << "acdp_seal_relay: " << why << "\n";
    return 2;
  }
  std::string line;
  std::vector<std::uint8_t> datagram;
  if (!std::getline(std::cin, line) || !from_hex(line, datagram) ||
      datagram.size() < sizeof(acd::dataplane::wire::DatagramHeader)) {
    std::cerr << "acdp_seal_relay: stdin holds no ACDP/1 datagram in hex\n";
    return 2;
  }
  const auto colon = target.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  const int port = colon == std::string::npos ? -1 : std::atoi(target.c_str() + colon + 1);
  if (port <= 0 || port > 65535 ||
      inet_pton(AF_INET, target.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    std::cerr << "acdp_seal_relay: " << target << " is not A.B.C.D:PORT\n";
    return 2;
  }
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    std::cerr << "acdp_seal_relay: cannot reach " << target << "\n";
    return 2;
  }
  acd::loadgen::SecureClients clients(
      *server, [fd](std::span<const std::uint8_t> d) { (void)send(fd, d.data(), d.size(), 0); });
  const std::uint32_t local = 1;
  const std::string e = clients.load(
      key_file.parent_path().string(), {{local, key_file.stem().string(), "site"}});
  if (!e.empty()) {
    std::cerr << "acdp_seal_relay: " << e << "\n";
    return 2;
  }
  const std::uint64_t start = now_ns();
  const auto end = start + static_cast<std::uint64_t>(seconds * 1e9);
  clients.handshake_missing(start);
  int sends = 0;
  std::uint64_t next_send = 0;
  std::uint64_t next_init = start + 300'000'000;
  std::uint8_t in[9000];
  std::uint8_t out[9000];
  std::uint8_t opened[9000];
  for (std::uint64_t now = start; now < end; now = now_ns()) {
    if (clients.established() > 0 && sends < 3 && now >= next_send) {
      const std::size_t n = clients.seal(local, datagram, out, now);
      if (n > 0) {
        (void)send(fd, out, n, 0);
        ++sends;
        next_send = now + 200'000'000;
      }
    } else if (clients.established() == 0 && now >= next_init) {
      clients.handshake_missing(now);  // the init or its answer was lost
      next_init = now + 300'000'000;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) {
      continue;
    }
    const ssize_t got = recv(fd, in, sizeof in, 0);
    if (got <= 0) {
      continue;
    }
    const auto plain = clients.receive(std::span<const std::uint8_t>(in, static_cast<std::size_t>(got)),
                                       opened, now_ns());
    if (plain.empty()) {
      continue;
    }
    for (const std::uint8_t b : plain) {
      std::printf("%02x", b);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  close(fd);
  if (clients.established() == 0) {
    std::cerr << "acdp_seal_relay: no session with " << target << "\n";
    return 1;
  }
  return 0;
}
