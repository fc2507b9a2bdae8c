// Netstrings ("LEN:BYTES,", LEN in decimal), the framing of Kamailio's evapi messages both ways.
// NetstringReader takes bytes as they arrive from a stream and hands out whole payloads.
//
// Thread-safety: a NetstringReader belongs to one thread. No exceptions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace acd::sip {

// "LEN:payload,".
std::string netstring(std::string_view payload);

class NetstringReader {
 public:
  // Payloads longer than `max_payload` are an error (the stream cannot be trusted any more).
  explicit NetstringReader(std::size_t max_payload = 65536) : max_payload_(max_payload) {}

  enum class Status : std::uint8_t { Payload, NeedMore, Error };
  // Appends what the stream gave.
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole payload in `out` (Payload), NeedMore, or Error: a length that is not digits,
  // longer than max_payload, or a payload not followed by ','. After Error the reader stays in
  // error (the framing is lost): the caller closes the connection and makes a new reader.
  Status next(std::string& out);
  const std::string& error() const { return error_; }

 private:
  std::size_t max_payload_;
  std::string buffer_;
  std::size_t at_ = 0;  // start of the first unread frame in buffer_
  std::string error_;
};

}  // namespace acd::sip
