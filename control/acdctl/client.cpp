// acdctl's side of the control socket: connect, send one JSON line, read until acdd hangs up.
// Non-blocking throughout, so a caller can give up when a key is pressed or time runs out.
#include "client.hpp"

#include "acd/control/control_error.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace acd::acdctl {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;
using Asked = control::Result<std::optional<json>>;

control::Failure unreachable(std::string why) {
  return control::Failure{control::ControlError::Unreachable, std::move(why)};
}

// Closes the socket on every way out.
class Socket {
 public:
  Socket() : fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {}
  ~Socket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

enum class Woke { Ready, Watched, TimedOut };

// Waits until `fd` (if >= 0) is ready for `events`, one of `watch` is readable, or `until`.
Woke wait_for(int fd, short events, std::span<const int> watch, Deadline until) {
  std::vector<pollfd> fds;
  fds.push_back(pollfd{fd, events, 0});
  for (const int w : watch) {
    fds.push_back(pollfd{w, POLLIN, 0});
  }
  for (;;) {
    int timeout_ms = -1;
    if (until) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*until - Clock::now());
      timeout_ms =
          static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 60'000));
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n == 0) {
      if (until && Clock::now() < *until) {
        continue;  // the clamp above cut a long wait short
      }
      return Woke::TimedOut;
    }
    for (std::size_t i = 1; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents != 0) {
        return Woke::Watched;
      }
    }
    return Woke::Ready;  // or poll failed: the next send / recv reports why
  }
}

std::string seconds_text(std::chrono::milliseconds t) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g s", static_cast<double>(t.count()) / 1000.0);
  return text;
}

}  // namespace

Asked ask_unless(const std::string& socket_path, const json& request, std::span<const int> watch,
                 std::optional<std::chrono::milliseconds> timeout) {
  const Deadline deadline = timeout ? Deadline(Clock::now() + *timeout) : std::nullopt;
  auto not_in_time = [&] {
    return unreachable("acdd did not answer within " + seconds_text(*timeout));
  };
  // After a wait that did not end Ready: a watched descriptor came first, or time ran out.
  auto gave_up = [&](Woke w) {
    return w == Woke::Watched ? Asked(std::nullopt) : Asked(not_in_time());
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return unreachable(socket_path + ": too long for a socket path");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const Socket s;
  if (s.fd() < 0) {
    return unreachable(std::string("cannot create a socket: ") + std::strerror(errno));
  }
  // EAGAIN: acdd has not accepted the connections before this one (busy or stuck); try again.
  while (connect(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EINPROGRESS || errno == EINTR) {
      break;  // completes in the background; sending waits for it
    }
    if (errno != EAGAIN) {
      return unreachable(socket_path + ": " + std::strerror(errno) + " (is acdd running?)");
    }
    const Clock::time_point pause = Clock::now() + std::chrono::milliseconds(20);
    switch (wait_for(-1, 0, watch, deadline ? std::min(*deadline, pause) : pause)) {
      case Woke::Watched:
        return Asked(std::nullopt);
      case Woke::TimedOut:
        if (deadline && Clock::now() >= *deadline) {
          return not_in_time();
        }
        break;
      case Woke::Ready:
        break;
    }
  }
  const std::string line = request.dump() + "\n";
  for (std::size_t sent = 0; sent < line.size();) {
    const ssize_t n = send(s.fd(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EINTR) {
      const Woke w = wait_for(s.fd(), POLLOUT, watch, deadline);
      if (w != Woke::Ready) {
        return gave_up(w);
      }
    } else {
      return unreachable(std::string("cannot send the request: ") + std::strerror(errno));
    }
  }
  std::string answer;
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(s.fd(), buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;  // acdd hangs up after its answer
    } else if (errno == EAGAIN || errno == EINTR) {
      const Woke w = wait_for(s.fd(), POLLIN, watch, deadline);
      if (w != Woke::Ready) {
        return gave_up(w);
      }
    } else {
      return unreachable(std::string("cannot read the answer: ") + std::strerror(errno));
    }
  }
  json j = json::parse(answer, nullptr, false);
  if (j.is_discarded()) {
    return unreachable("acdd sent an answer that is not JSON");
  }
  return Asked(std::move(j));
}

control::Result<json> ask(const std::string& socket_path, const json& request) {
  Asked asked = ask_unless(socket_path, request, {}, std::nullopt);
  if (!asked.ok()) {
    return asked.failure();
  }
  return *std::move(asked).value();  // nothing is watched: never interrupted
}

control::Failure refusal_of(const json& answer) {
  const json code = answer.is_object() ? answer.value("code", json("refused")) : json("refused");
  const json error = answer.is_object() ? answer.value("error", json("refused")) : json("refused");
  return control::Failure{
      control::control_error_from_wire(code.is_string() ? code.get<std::string>() : "refused"),
      error.is_string() ? error.get<std::string>() : "refused"};
}

control::Result<json> ask_result(const std::string& socket_path, const json& request) {
  control::Result<json> asked = ask(socket_path, request);
  if (!asked.ok()) {
    return asked.failure();
  }
  json& answer = asked.value();
  if (!answer.is_object() || !answer.value("ok", false)) {
    return refusal_of(answer);
  }
  return std::move(answer["result"]);
}

}  // namespace acd::acdctl
