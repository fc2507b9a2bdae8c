// The control socket's server: accept, the poll loop over clients, each client's operator role,
// housekeeping.
#include "acd/control/control_server.hpp"
#include "acd/dataplane/thread_name.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "answer.hpp"
#include "command_audit.hpp"
#include "engine_commands.hpp"
#include "socket_io.hpp"
#include "steady_clock.hpp"

namespace acd::control {

using nlohmann::json;

ControlServer::~ControlServer() {
  stop();
}

Result<void> ControlServer::start(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return Failure{ControlError::Usage, path + ": socket path too long"};
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return Failure{ControlError::Refused, std::string("socket: ") + std::strerror(errno)};
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (const auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    mkdir(path.substr(0, slash).c_str(),
          0755);  // /run/acd when not made by systemd; fine if it exists
  }
  unlink(path.c_str());  // a stale socket from a previous run
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 16) != 0) {
    Failure error{ControlError::Refused,
                  path + ": " + std::strerror(errno) + "; check that its directory exists"};
    close(fd_);
    fd_ = -1;
    return error;
  }
  // Everyone may connect; what each may do is its role's (operator_role.hpp), checked per request.
  chmod(path.c_str(), 0666);
  path_ = path;
  thread_ = std::thread([this] { run(); });
  return {};
}

void ControlServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
    unlink(path_.c_str());
  }
}

void ControlServer::sample_rates() {
  const double now_s = static_cast<double>(steady_ns()) / 1e9;
  if (now_s - last_sample_s_ < 1.0 || ctx_.board == nullptr || !ctx_.board->ready()) {
    return;
  }
  last_sample_s_ = now_s;
  const Snapshot s = ctx_.board->read();
  RateMeter::Values v{0, 0, s.counters.events};
  if (ctx_.counters != nullptr) {
    v[0] = ctx_.counters->read(dataplane::Counter::rx_messages);
    v[1] = ctx_.counters->read(dataplane::Counter::decisions);
  }
  ctx_.rates.sample(now_s, v);
}

namespace {

// The caller as audit records name it: "uid=1000(alice)" (SO_PEERCRED and the user database).
std::string actor_of(int client) {
  ucred peer{};
  socklen_t len = sizeof(peer);
  if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    return "uid=?";
  }
  passwd pw_entry{};
  passwd* pw = nullptr;
  char pw_text[1024];
  if (getpwuid_r(peer.uid, &pw_entry, pw_text, sizeof(pw_text), &pw) != 0) {
    pw = nullptr;
  }
  return "uid=" + std::to_string(peer.uid) +
         (pw != nullptr ? "(" + std::string(pw->pw_name) + ")" : std::string());
}

}  // namespace

// One thread, many clients: requests are read as they come (no client can hold the socket by
// connecting and staying silent: it gets 2 s), and executed one at a time, in arrival order of
// their last byte. Housekeeping (rates, local midnight, SIGHUP) runs every 100 ms whatever the
// load.
void ControlServer::run() {
  dataplane::name_this_thread("acd-control");
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd = -1;
    OperatorRole role = OperatorRole::None;
    std::string actor = "uid=?";  // in audit records
    Clock::time_point deadline;
    std::string request;
  };
  constexpr std::size_t kMaxClients = 32;
  constexpr std::size_t kMaxRequest = 65536;
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  auto last_housekeeping = Clock::now();
  while (!stop_.load()) {
    fds.assign(1, pollfd{fd_, POLLIN, 0});
    for (const Client& c : clients) {
      fds.push_back(pollfd{c.fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 100);
    const auto now = Clock::now();
    for (std::size_t i = 1; i < fds.size(); ++i) {
      Client& c = clients[i - 1];
      bool complete = false;
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        ssize_t n = 0;
        while (c.request.size() <= kMaxRequest && (n = read(c.fd, buf, sizeof(buf))) > 0) {
          c.request.append(buf, static_cast<std::size_t>(n));
        }
        complete = c.request.find('\n') != std::string::npos || c.request.size() > kMaxRequest ||
                   n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      if (!complete && now < c.deadline) {
        continue;
      }
      // Answer on a blocking socket with a send timeout: a client that stops reading is dropped.
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) & ~O_NONBLOCK);
      timeval two_seconds{2, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof(two_seconds));
      json reply;
      if (!complete) {
        reply = answer(Failure{ControlError::Usage, "no complete request within 2 s"});
      } else {
        const json request = json::parse(c.request, nullptr, false);
        reply = request.is_discarded()
                    ? answer(Failure{ControlError::Usage, "the request is not valid JSON"})
                    : execute(ctx_, request, c.role);
        if (ctx_.audit != nullptr && !request.is_discarded()) {
          audit_command(*ctx_.audit, c.actor, request, reply, ctx_.config_path);
        }
      }
      write_all(c.fd, reply.dump() + "\n");
      close(c.fd);
      c.fd = -1;
    }
    clients.erase(
        std::remove_if(clients.begin(), clients.end(), [](const Client& c) { return c.fd < 0; }),
        clients.end());
    if ((fds[0].revents & POLLIN) != 0) {
      const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client >= 0 && clients.size() >= kMaxClients) {
        write_all(client, answer(Failure{ControlError::TryAgain,
                                         "too many control clients at once; try again"})
                                  .dump() +
                              "\n");
        close(client);
      } else if (client >= 0) {
        // The role is taken when the client connects, from the groups as the system knows them
        // then and the running configuration's [control] groups.
        const OperatorGroups groups =
            ctx_.config != nullptr ? ctx_.config->operator_groups : OperatorGroups{};
        clients.push_back(
            Client{client, peer_role(client, groups), actor_of(client),
                   now + std::chrono::seconds(2), {}});
      }
    }
    if (now - last_housekeeping >= std::chrono::milliseconds(100)) {
      last_housekeeping = now;
      housekeeping();
    }
  }
  for (const Client& c : clients) {
    close(c.fd);
  }
}

void ControlServer::housekeeping() {
  sample_rates();
  new_day_pending_ = day_.crossed(std::time(nullptr)) || new_day_pending_;
  if (new_day_pending_) {
    router::Event e;
    e.type = router::EventType::NewDay;
    new_day_pending_ = !change(ctx_, e, "a new day").ok();  // retried at the next round
    std::fprintf(stderr, "acdd: local midnight: today's statistics start again%s\n",
                 new_day_pending_ ? " (the routing core is busy; retrying)" : "");
  }
  if (reload_.exchange(false)) {
    const json request{{"cmd", "config"}, {"action", "reload"}};
    const json reloaded =
        execute(ctx_, request, OperatorRole::Admin);  // SIGHUP: from root or acdd's own user
    if (ctx_.audit != nullptr) {
      audit_command(*ctx_.audit, "signal=SIGHUP", request, reloaded, ctx_.config_path);
    }
    std::fprintf(stderr, "acdd: SIGHUP: %s\n",
                 reloaded.value("ok", false)
                     ? reloaded["result"].dump().c_str()
                     : reloaded.value("error", std::string("failed")).c_str());
  }
}

}  // namespace acd::control
