#include "acd/dataplane/codec.hpp"

#include <cstddef>

#include "acd/dataplane/counters.hpp"

namespace acd::dataplane {

using namespace wire;

HeaderCheck check_header(std::span<const std::uint8_t> datagram, DatagramHeader& header) {
  if (datagram.size() < sizeof(DatagramHeader)) {
    return HeaderCheck::BadMagic;  // too short to be ACDP at all
  }
  std::memcpy(&header, datagram.data(), sizeof(header));
  if (header.magic != kMagic) {
    return HeaderCheck::BadMagic;
  }
  if (header.version != kVersion) {
    return HeaderCheck::BadVersion;
  }
  if (header.length != datagram.size() || datagram.size() > kMaxDatagram || header.count == 0 ||
      header.count > kMaxMessages) {
    return HeaderCheck::BadLength;
  }
  return HeaderCheck::Ok;
}

namespace {

template <typename Body>
Body read(const std::uint8_t* p) {
  Body b;
  std::memcpy(&b, p, sizeof(b));
  return b;
}

constexpr std::uint16_t kBadField = static_cast<std::uint16_t>(WireError::BadField);

bool in_range(unsigned v, unsigned lo, unsigned hi) {
  return v >= lo && v <= hi;
}

bool route_request_ok(const RouteRequest& r) {
  bool ok = r.call_id != 0 && r.media < 4 && r.priority < 16 && r.tier < 4 && r.skill_count <= 4;
  for (unsigned i = 0; ok && i < r.skill_count; ++i) {
    ok = in_range(r.skills[i].min_level, 1, 10);
  }
  return ok;
}

}  // namespace

std::uint16_t check_body(Type type, const std::uint8_t* body) {
  switch (type) {
    case Type::Register: {
      const auto r = read<Register>(body);
      return in_range(r.role, 1, kMaxRole) ? 0 : kBadField;
    }
    case Type::RouteRequest:
      return route_request_ok(read<RouteRequest>(body)) ? 0 : kBadField;
    case Type::SiteRouteRequest: {
      const auto r = read<SiteRouteRequest>(body);
      return route_request_ok(r.request) && in_range(r.hops, 1, kMaxSiteHops) && r.visited != 0
                 ? 0
                 : kBadField;
    }
    case Type::SiteSummary: {
      const auto r = read<SiteSummary>(body);
      return r.site <= 63 && r.sl_permille <= 1000 && r.load_permille <= 1000 &&
                     r.summary_seq != 0 && (r.flags & ~kSiteAcceptsOverflow) == 0
                 ? 0
                 : kBadField;
    }
    case Type::OfferResult: {
      const auto r = read<OfferResult>(body);
      return r.call_id != 0 && r.accepted <= 1 ? 0 : kBadField;
    }
    case Type::CallEvent: {
      const auto r = read<CallEvent>(body);
      return r.call_id != 0 && in_range(static_cast<unsigned>(r.kind), 1, 5) ? 0 : kBadField;
    }
    case Type::RingNoAnswer: {
      const auto r = read<RingNoAnswer>(body);
      return r.call_id != 0 && in_range(static_cast<unsigned>(r.cause), 1, kMaxNoAnswerCause)
                 ? 0
                 : kBadField;
    }
    case Type::AgentEvent: {
      const auto r = read<AgentEvent>(body);
      return in_range(static_cast<unsigned>(r.kind), 1, 7) ? 0 : kBadField;
    }
    case Type::TransferRequest: {
      const auto r = read<TransferRequest>(body);
      return r.call_id != 0 && in_range(static_cast<unsigned>(r.kind), 1, 3) ? 0 : kBadField;
    }
    case Type::OutboundRequest: {
      const auto r = read<OutboundRequest>(body);
      return r.call_id != 0 && in_range(static_cast<unsigned>(r.kind), 1, 2) && r.media < 4
                 ? 0
                 : kBadField;
    }
    case Type::OperationReport: {
      const auto r = read<OperationReport>(body);
      const bool named = in_range(r.kind, 1, kMaxNamedOperation) || r.kind >= kFirstBankOperation;
      return named && in_range(static_cast<unsigned>(r.outcome), 1, 4) ? 0 : kBadField;
    }
    case Type::PasswordChange: {
      // Only the two numbers: no copy of the passwords is left on this stack.
      const auto agent_number = read<std::uint64_t>(body + offsetof(PasswordChange, agent_number));
      const auto reserved = read<std::uint64_t>(body + offsetof(PasswordChange, reserved));
      return agent_number != 0 && reserved == 0 ? 0 : kBadField;
    }
    case Type::Heartbeat:
    case Type::RouteResponse:
    case Type::Offer:
    case Type::Ack:
    case Type::Error:
    case Type::SessionToken:
      return 0;
  }
  return static_cast<std::uint16_t>(WireError::BadType);
}

DatagramWriter::DatagramWriter(std::span<std::uint8_t> buffer, std::uint32_t client_id)
    : buffer_(buffer), client_id_(client_id), used_(sizeof(DatagramHeader)) {}

bool DatagramWriter::add(Type type, std::uint64_t seq, const void* body, std::size_t body_size) {
  const std::size_t length = sizeof(MessageHeader) + body_size;
  if (count_ == kMaxMessages || used_ + length > buffer_.size() ||
      used_ + length > kMaxSendDatagram) {
    return false;
  }
  MessageHeader mh{type, static_cast<std::uint16_t>(length), 0, seq};
  std::memcpy(buffer_.data() + used_, &mh, sizeof(mh));
  std::memcpy(buffer_.data() + used_ + sizeof(mh), body, body_size);
  used_ += length;
  ++count_;
  return true;
}

std::size_t DatagramWriter::finish() {
  if (count_ == 0) {
    return 0;
  }
  DatagramHeader h{kMagic, kVersion, count_, static_cast<std::uint16_t>(used_), client_id_, 0};
  std::memcpy(buffer_.data(), &h, sizeof(h));
  return used_;
}

void DatagramWriter::reset() {
  used_ = sizeof(DatagramHeader);
  count_ = 0;
}

std::string_view counter_name(Counter c) {
  static constexpr std::string_view kNames[] = {
#define ACD_X(name, help) #name,
      ACD_DATAPLANE_COUNTERS(ACD_X)
#undef ACD_X
  };
  const auto i = static_cast<std::size_t>(c);
  return i < kCounterCount ? kNames[i] : "unknown";
}

std::string_view counter_help(Counter c) {
  static constexpr std::string_view kHelp[] = {
#define ACD_X(name, help) help,
      ACD_DATAPLANE_COUNTERS(ACD_X)
#undef ACD_X
  };
  const auto i = static_cast<std::size_t>(c);
  return i < kCounterCount ? kHelp[i] : "unknown";
}

}  // namespace acd::dataplane
