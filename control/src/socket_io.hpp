// Internal helper of the control socket.
#pragma once

#include <sys/socket.h>

#include <string>

namespace acd::control {

// Writes all of `data`, or gives up on the first error (the peer went away or stopped reading
// within the socket's send timeout). Never raises SIGPIPE.
inline void write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace acd::control
