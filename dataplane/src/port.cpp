#include "acd/dataplane/port.hpp"

#include <arpa/inet.h>

#include <utility>

namespace acd::dataplane {

std::string to_string(const Endpoint& e) {
  char text[INET_ADDRSTRLEN] = {};
  in_addr a{e.address};
  inet_ntop(AF_INET, &a, text, sizeof(text));
  return std::string(text) + ":" + std::to_string(ntohs(e.port));
}

bool parse_endpoint(const std::string& text, Endpoint& out) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  in_addr a{};
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &a) != 1) {
    return false;
  }
  unsigned long port = 0;
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
    port = port * 10 + static_cast<unsigned long>(text[i] - '0');
    if (port > 65535) {
      return false;
    }
  }
  out.address = a.s_addr;
  out.port = htons(static_cast<std::uint16_t>(port));
  return true;
}

std::size_t MemoryPort::receive(std::span<Datagram> out) {
  delivered_.clear();
  std::size_t n = 0;
  while (n < out.size() && !inbox_.empty()) {
    delivered_.push_back(std::move(inbox_.front()));
    inbox_.pop_front();
    ++n;
  }
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = Datagram{delivered_[i].from, delivered_[i].payload};
  }
  return n;
}

std::size_t MemoryPort::send(std::span<const Datagram> datagrams) {
  for (const Datagram& d : datagrams) {
    sent_.push_back({d.peer, std::vector<std::uint8_t>(d.payload.begin(), d.payload.end())});
  }
  return datagrams.size();
}

}  // namespace acd::dataplane
