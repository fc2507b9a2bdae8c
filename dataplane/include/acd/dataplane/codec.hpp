// Decoding and encoding ACDP/1 datagrams (docs/protocol.md). No allocation, no exceptions: the
// decoder reads a span in place and reports each problem as a wire::WireError; the writer fills a
// caller's buffer and says when it is full.
//
// Thread-safety: stateless functions; a DatagramWriter belongs to one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "acd/dataplane/wire.hpp"

namespace acd::dataplane {

// A message that passed every check: its type, sequence number and body bytes (inside the
// datagram).
struct Message {
  wire::Type type;
  std::uint64_t seq;
  const std::uint8_t* body;

  template <typename Body>
  Body as() const {
    Body b;
    std::memcpy(&b, body, sizeof(b));
    return b;
  }
};

enum class HeaderCheck : std::uint8_t { Ok, BadMagic, BadVersion, BadLength };

// Checks the datagram header: magic, version, declared length = actual length, count 1..64.
HeaderCheck check_header(std::span<const std::uint8_t> datagram, wire::DatagramHeader& header);

// 0 when the body's fields are in range, else the wire error to report.
std::uint16_t check_body(wire::Type type, const std::uint8_t* body);

// Walks the messages of a datagram whose header passed check_header. For each message calls
// on_message(const Message&) if it is valid, or on_bad(seq, wire::WireError) if not (seq is 0 when
// the header itself is unreadable). A message whose length is wrong ends the walk: the framing of
// the rest is lost. Returns the number of valid messages.
template <typename OnMessage, typename OnBad>
std::size_t for_each_message(std::span<const std::uint8_t> datagram,
                             const wire::DatagramHeader& header, OnMessage&& on_message,
                             OnBad&& on_bad) {
  std::size_t at = sizeof(wire::DatagramHeader);
  std::size_t valid = 0;
  for (std::uint8_t i = 0; i < header.count; ++i) {
    if (datagram.size() - at < sizeof(wire::MessageHeader)) {
      on_bad(0, wire::WireError::BadLength);
      return valid;
    }
    wire::MessageHeader mh;
    std::memcpy(&mh, datagram.data() + at, sizeof(mh));
    const auto raw_type = static_cast<std::uint16_t>(mh.type);
    const std::size_t body = wire::body_size(raw_type);
    if (body == 0) {
      // An unknown type of a plausible length can be skipped; otherwise the framing is lost.
      if (mh.length < sizeof(mh) || mh.length % 8 != 0 || mh.length > datagram.size() - at) {
        on_bad(mh.seq, wire::WireError::BadLength);
        return valid;
      }
      on_bad(mh.seq, wire::WireError::BadType);
      at += mh.length;
      continue;
    }
    if (mh.length != sizeof(mh) + body || mh.length > datagram.size() - at) {
      on_bad(mh.seq, wire::WireError::BadLength);
      return valid;
    }
    const std::uint8_t* body_ptr = datagram.data() + at + sizeof(mh);
    const std::uint16_t problem = check_body(mh.type, body_ptr);
    if (problem != 0) {
      on_bad(mh.seq, static_cast<wire::WireError>(problem));
    } else {
      on_message(Message{mh.type, mh.seq, body_ptr});
      ++valid;
    }
    at += mh.length;
  }
  if (at != datagram.size()) {
    on_bad(0, wire::WireError::BadLength);  // trailing bytes after the declared messages
  }
  return valid;
}

// Builds one datagram in a caller's buffer.
class DatagramWriter {
 public:
  DatagramWriter(std::span<std::uint8_t> buffer, std::uint32_t client_id);

  // Appends a message; false (and nothing written) if it does not fit or the datagram is full.
  bool add(wire::Type type, std::uint64_t seq, const void* body, std::size_t body_size);
  template <typename Body>
  bool add(wire::Type type, std::uint64_t seq, const Body& body) {
    return add(type, seq, &body, sizeof(body));
  }
  std::size_t count() const { return count_; }
  // Writes the header; returns the datagram's length (0 if no message was added).
  std::size_t finish();
  void reset();

 private:
  std::span<std::uint8_t> buffer_;
  std::uint32_t client_id_;
  std::size_t used_;
  std::uint8_t count_ = 0;
};

}  // namespace acd::dataplane
