// Internal helpers of the control plane's two small servers (control socket, metrics endpoint).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace acd::control {

// Writes all of `data`, or gives up on the first error (the peer went away).
inline void write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = write(fd, data.data() + sent, data.size() - sent);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

// Accepts connections until `stop`, checking it every 100 ms; calls serve(client) for each and
// closes the client afterwards. Clients get 2 s to send their request.
// idle() runs after every quiet 100 ms.
template <typename Serve, typename Idle>
void accept_loop(int listen_fd, const std::atomic<bool>& stop, Serve&& serve, Idle&& idle) {
  while (!stop.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) {
      idle();
      continue;
    }
    const int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    timeval tv{2, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    serve(client);
    close(client);
  }
}

}  // namespace acd::control
