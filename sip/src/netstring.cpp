// Netstring framing for the evapi connection.
#include "acd/sip/netstring.hpp"

namespace acd::sip {

std::string netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out += ':';
  out += payload;
  out += ',';
  return out;
}

NetstringReader::Status NetstringReader::next(std::string& out) {
  if (!error_.empty()) {
    return Status::Error;
  }
  const std::string_view rest = std::string_view(buffer_).substr(at_);
  std::size_t length = 0;
  std::size_t i = 0;
  for (; i < rest.size() && rest[i] != ':'; ++i) {
    if (rest[i] < '0' || rest[i] > '9' || i >= 9) {
      error_ = "evapi: a frame length that is not a number of at most 9 digits";
      return Status::Error;
    }
    length = length * 10 + static_cast<std::size_t>(rest[i] - '0');
  }
  if (i == rest.size()) {
    return Status::NeedMore;
  }
  if (i == 0) {
    error_ = "evapi: a frame without a length";
    return Status::Error;
  }
  if (length > max_payload_) {
    error_ = "evapi: a frame of " + std::to_string(length) + " bytes, more than the " +
             std::to_string(max_payload_) + " allowed";
    return Status::Error;
  }
  if (rest.size() < i + 1 + length + 1) {
    return Status::NeedMore;
  }
  if (rest[i + 1 + length] != ',') {
    error_ = "evapi: a frame not ended by ','";
    return Status::Error;
  }
  out.assign(rest.substr(i + 1, length));
  at_ += i + 1 + length + 1;
  if (at_ == buffer_.size()) {
    buffer_.clear();
    at_ = 0;
  } else if (at_ > 65536) {
    buffer_.erase(0, at_);
    at_ = 0;
  }
  return Status::Payload;
}

}  // namespace acd::sip
