// The epoch fence against a real etcd (started by etcd_epoch_test.sh, which passes ETCD_ENDPOINT
// and ETCD_PID): the swap's outcomes, a race between two clients, the deadline when etcd is paused
// or silent, endpoint order, and stored or answered garbage.
#include "acd/control/etcd_epoch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace acd::control {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Scheduling noise allowed above a deadline (two cores shared with other builds).
constexpr milliseconds kSlack{40};

std::string etcd_endpoint() {
  const char* endpoint = std::getenv("ETCD_ENDPOINT");
  return endpoint == nullptr ? std::string() : std::string(endpoint);
}

// A key of its own for each test.
std::string test_key() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/acd-test/") + info->test_suite_name() + "/" + info->name();
}

// Runs etcdctl against the test's etcd; its standard output. The writer the fence does not control.
// `input` (a printf format: \NNN is a byte in octal; no single quote) goes to its standard input.
std::string etcdctl(const std::string& arguments, const std::string& input = "") {
  std::string command = "ETCDCTL_API=3 etcdctl --endpoints=" + etcd_endpoint() + " " + arguments;
  if (!input.empty()) {
    command = "printf '" + input + "' | " + command;
  }
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  std::array<char, 512> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
    out += buffer.data();
  }
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  return out;
}

// A loopback TCP socket bound to a port of the kernel's choice; listening or not.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    if (listening) {
      EXPECT_EQ(listen(fd_, 8), 0);
    }
  }
  ~LoopbackSocket() { close(fd_); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  int fd() const { return fd_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

// Answers every request it gets with `response`, then closes the connection; stops with the test.
class CannedServer {
 public:
  explicit CannedServer(std::string response)
      : response_(std::move(response)), thread_([this] { serve(); }) {}
  ~CannedServer() {
    stop_ = true;
    thread_.join();
  }
  CannedServer(const CannedServer&) = delete;
  CannedServer& operator=(const CannedServer&) = delete;
  std::string endpoint() const { return socket_.endpoint(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd ready{socket_.fd(), POLLIN, 0};
      if (poll(&ready, 1, 20) != 1) {
        continue;
      }
      const int client = accept(socket_.fd(), nullptr, nullptr);
      if (client < 0) {
        continue;
      }
      // The request: headers, then Content-Length bytes (what the client sends is small).
      std::string request;
      std::array<char, 4096> buffer{};
      for (int waits = 0; waits < 100; ++waits) {
        const std::size_t end = request.find("\r\n\r\n");
        if (end != std::string::npos) {
          const std::size_t field = request.find("Content-Length: ");
          const std::size_t length =
              field == std::string::npos ? 0 : std::stoul(request.substr(field + 16));
          if (request.size() >= end + 4 + length) {
            break;
          }
        }
        pollfd in{client, POLLIN, 0};
        if (poll(&in, 1, 20) != 1) {
          continue;
        }
        const ssize_t n = recv(client, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          break;
        }
        request.append(buffer.data(), static_cast<std::size_t>(n));
      }
      (void)!send(client, response_.data(), response_.size(), MSG_NOSIGNAL);
      close(client);
    }
  }
  LoopbackSocket socket_{true};
  std::string response_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A relay to the test's etcd that can withhold etcd's answers: with hold(true) each request still
// reaches etcd, which applies it, and its answer is read and dropped, so the client's deadline
// passes as if the answer had been lost on the way back. One client connection at a time (libcurl
// keeps one); a client that gives up leaves etcd's side open until etcd has answered.
class HoldingRelay {
 public:
  HoldingRelay() : thread_([this] { serve(); }) {}
  ~HoldingRelay() {
    stop_ = true;
    thread_.join();
  }
  HoldingRelay(const HoldingRelay&) = delete;
  HoldingRelay& operator=(const HoldingRelay&) = delete;
  std::string endpoint() const { return socket_.endpoint(); }
  void hold(bool on) { hold_ = on; }
  int answers_dropped() const { return dropped_; }

 private:
  static int connect_etcd() {
    const std::string endpoint = etcd_endpoint();
    const std::size_t colon = endpoint.rfind(':');
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &at.sin_addr);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  void serve() {
    while (!stop_) {
      pollfd ready{socket_.fd(), POLLIN, 0};
      if (poll(&ready, 1, 20) != 1) {
        continue;
      }
      const int client = accept(socket_.fd(), nullptr, nullptr);
      const int etcd = client < 0 ? -1 : connect_etcd();
      if (etcd >= 0) {
        pump(client, etcd);
      }
      if (client >= 0) {
        close(client);
      }
      if (etcd >= 0) {
        close(etcd);
      }
    }
  }
  void pump(int client, int etcd) {
    std::array<char, 8192> buffer{};
    bool client_open = true;
    bool answer_owed = false;  // etcd has a request of the client's to answer
    while (!stop_ && (client_open || answer_owed)) {
      pollfd fds[2] = {{client_open ? client : -1, POLLIN, 0}, {etcd, POLLIN, 0}};
      if (poll(fds, 2, 20) <= 0) {
        continue;
      }
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = recv(client, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          client_open = false;  // the client gave up: etcd's answer is still awaited
        } else {
          answer_owed = true;
          (void)!send(etcd, buffer.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
        }
      }
      if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = recv(etcd, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          return;
        }
        answer_owed = false;
        if (hold_) {
          ++dropped_;
        } else if (client_open) {
          (void)!send(client, buffer.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
        }
      }
    }
  }
  LoopbackSocket socket_{true};
  std::atomic<bool> hold_{false};
  std::atomic<int> dropped_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string http_response(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Waits (up to 5 s) until every thread of `pid` is stopped. A stop signal takes effect when each
// thread next enters the kernel: on a busy machine some may still serve requests for a while.
bool all_threads_stopped(pid_t pid) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (int i = 0; i < 500; ++i) {
    bool all = true;
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream stat(task.path() / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      const std::size_t close = text.rfind(')');  // the state follows "(comm) "
      all = all && close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T';
    }
    if (all) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

class EtcdEpochTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (etcd_endpoint().empty()) {
      GTEST_SKIP() << "no ETCD_ENDPOINT: run through tests/control/etcd_epoch_test.sh";
    }
  }
  // A client of the test's etcd; a generous deadline where the test is not about time.
  EtcdEpoch client(milliseconds deadline = milliseconds(2000)) {
    return EtcdEpoch({etcd_endpoint()}, test_key(), deadline);
  }
};

// The first swap from 0 (no key) wins, writes the documented JSON, and any client reads it after.
TEST_F(EtcdEpochTest, FirstAdvanceFromZeroWins) {
  EtcdEpoch a = client();
  std::string why;
  const auto before = a.read(why);
  ASSERT_TRUE(before) << why;
  EXPECT_EQ(*before, EpochRecord{});

  const CasResult won = a.advance(0, "node-a");
  ASSERT_EQ(won.outcome, CasOutcome::Won) << won.why;
  EXPECT_EQ(won.current, (EpochRecord{1, "node-a"}));
  EXPECT_TRUE(won.why.empty());
  EXPECT_EQ(etcdctl("get --print-value-only " + test_key()),
            "{\"epoch\":1,\"holder\":\"node-a\"}\n");

  EtcdEpoch fresh = client();
  const auto after = fresh.read(why);
  ASSERT_TRUE(after) << why;
  EXPECT_EQ(*after, (EpochRecord{1, "node-a"}));
  // The same client goes on from what it won, one swap at a time.
  const CasResult again = a.advance(1, "node-a");
  ASSERT_EQ(again.outcome, CasOutcome::Won) << again.why;
  EXPECT_EQ(again.current, (EpochRecord{2, "node-a"}));
}

// Two clients that both saw epoch E race to move it: exactly one wins, each round, and the loser
// is told the winner's record; a read after the rounds shows the last winner.
TEST_F(EtcdEpochTest, RacingClientsExactlyOneWins) {
  EtcdEpoch a = client();
  EtcdEpoch b = client();
  constexpr int kRounds = 20;
  int a_wins = 0;
  std::string last_winner;
  for (std::uint64_t epoch = 0; epoch < kRounds; ++epoch) {
    std::string why;
    ASSERT_TRUE(a.read(why)) << why;
    ASSERT_TRUE(b.read(why)) << why;
    std::latch start(2);
    CasResult ra;
    CasResult rb;
    std::thread other([&] {
      start.arrive_and_wait();
      rb = b.advance(epoch, "node-b");
    });
    start.arrive_and_wait();
    ra = a.advance(epoch, "node-a");
    other.join();
    ASSERT_NE(ra.outcome, CasOutcome::Unreachable) << ra.why;
    ASSERT_NE(rb.outcome, CasOutcome::Unreachable) << rb.why;
    ASSERT_NE(ra.outcome == CasOutcome::Won, rb.outcome == CasOutcome::Won)
        << "round " << epoch << ": a " << to_string(ra.outcome) << " (" << ra.why << "), b "
        << to_string(rb.outcome) << " (" << rb.why << ")";
    const CasResult& winner = ra.outcome == CasOutcome::Won ? ra : rb;
    const CasResult& loser = ra.outcome == CasOutcome::Won ? rb : ra;
    EXPECT_EQ(loser.outcome, CasOutcome::Lost);
    EXPECT_EQ(winner.current.epoch, epoch + 1);
    EXPECT_EQ(loser.current, winner.current) << loser.why;
    a_wins += ra.outcome == CasOutcome::Won ? 1 : 0;
    last_winner = winner.current.holder;
  }
  std::string why;
  const auto after = client().read(why);
  ASSERT_TRUE(after) << why;
  EXPECT_EQ(*after, (EpochRecord{kRounds, last_winner}));
  std::printf("node-a won %d of %d rounds\n", a_wins, kRounds);
}

// A swap from an epoch that is no longer current (or never was) loses and names the current one;
// the stored record is unchanged.
TEST_F(EtcdEpochTest, StaleExpectedLoses) {
  EtcdEpoch a = client();
  EtcdEpoch b = client();
  std::string why;
  ASSERT_EQ(a.advance(0, "node-a").outcome, CasOutcome::Won);
  ASSERT_TRUE(b.read(why)) << why;  // b saw epoch 1...
  ASSERT_EQ(a.advance(1, "node-a").outcome, CasOutcome::Won);
  ASSERT_EQ(a.advance(2, "node-a").outcome, CasOutcome::Won);  // ...and a moved it to 3

  const CasResult stale = b.advance(1, "node-b");  // b's own view is stale: the txn decides
  EXPECT_EQ(stale.outcome, CasOutcome::Lost);
  EXPECT_EQ(stale.current, (EpochRecord{3, "node-a"}));
  EXPECT_NE(stale.why.find("the epoch is 3 (held by node-a), not 1"), std::string::npos)
      << stale.why;
  const CasResult from_zero = client().advance(0, "node-b");  // the key exists
  EXPECT_EQ(from_zero.outcome, CasOutcome::Lost);
  EXPECT_EQ(from_zero.current, (EpochRecord{3, "node-a"}));
  const CasResult ahead = client().advance(7, "node-b");  // an epoch that never was
  EXPECT_EQ(ahead.outcome, CasOutcome::Lost);
  EXPECT_EQ(ahead.current, (EpochRecord{3, "node-a"}));

  const auto after = client().read(why);
  ASSERT_TRUE(after) << why;
  EXPECT_EQ(*after, (EpochRecord{3, "node-a"}));
  // Having lost, b knows the epoch and can win the next swap.
  EXPECT_EQ(b.advance(3, "node-b").outcome, CasOutcome::Won);
}

// A swap whose answer was lost (etcd applied it, the reply missed the deadline) is tried again by
// the same node: the record already says this node holds expected + 1, so the retry wins instead
// of fencing the very node that holds the epoch. Another node's identical retry loses.
TEST_F(EtcdEpochTest, RetryOfASwapThatTookEffectWins) {
  EtcdEpoch a = client();
  std::string why;
  ASSERT_TRUE(a.read(why)) << why;  // a saw epoch 0
  ASSERT_EQ(client().advance(0, "node-a").outcome, CasOutcome::Won);  // a's lost first try
  const CasResult retry = a.advance(0, "node-a");
  EXPECT_EQ(retry.outcome, CasOutcome::Won) << retry.why;
  EXPECT_EQ(retry.current, (EpochRecord{1, "node-a"}));
  EXPECT_EQ(a.advance(1, "node-a").outcome, CasOutcome::Won);  // and it goes on from there
  EtcdEpoch b = client();
  ASSERT_TRUE(b.read(why)) << why;
  ASSERT_EQ(client().advance(2, "node-a").outcome, CasOutcome::Won);
  EXPECT_EQ(b.advance(2, "node-b").outcome, CasOutcome::Lost);
}

// A swap etcd applied but whose answer was lost, then a read that shows the record it asked for:
// the node asks to move past it (as the promotion loop does, with the epoch it just read) and
// wins that record, instead of taking the next epoch on top of its own. What a node does at
// start-up under load when etcd answers after the 20 ms deadline.
TEST_F(EtcdEpochTest, AnUnansweredSwapReadBackIsWon) {
  HoldingRelay relay;
  EtcdEpoch a({relay.endpoint()}, test_key(), milliseconds(300));
  std::string why;
  ASSERT_TRUE(a.read(why)) << why;  // epoch 0
  relay.hold(true);
  const CasResult unanswered = a.advance(0, "node-a");
  ASSERT_EQ(unanswered.outcome, CasOutcome::Unreachable) << unanswered.why;
  std::optional<EpochRecord> stored;
  for (int i = 0; i < 100 && stored != EpochRecord{1, "node-a"}; ++i) {
    stored = client().read(why);  // etcd applied it
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(stored, (EpochRecord{1, "node-a"}));
  EXPECT_GE(relay.answers_dropped(), 1);
  relay.hold(false);

  ASSERT_EQ(a.read(why), (EpochRecord{1, "node-a"})) << why;
  const CasResult ours = a.advance(1, "node-a");
  EXPECT_EQ(ours.outcome, CasOutcome::Won) << ours.why;
  EXPECT_EQ(ours.current, (EpochRecord{1, "node-a"}));
  EXPECT_EQ(client().read(why), (EpochRecord{1, "node-a"})) << "an epoch was skipped";
  // Once recognised, it is an ordinary record: the next swap moves past it.
  const CasResult next = a.advance(1, "node-a");
  EXPECT_EQ(next.outcome, CasOutcome::Won) << next.why;
  EXPECT_EQ(next.current, (EpochRecord{2, "node-a"}));
  // Another client, whose swap was never lost, that read the same record moves past it.
  EtcdEpoch b = client();
  ASSERT_EQ(b.read(why), (EpochRecord{2, "node-a"})) << why;
  EXPECT_EQ(b.advance(2, "node-a").current, (EpochRecord{3, "node-a"}));
}

// A paused etcd (SIGSTOP: the kernel still accepts, nobody answers) makes read and advance return
// Unreachable within the default 20 ms deadline; once it resumes, the same client works again.
TEST_F(EtcdEpochTest, PausedEtcdIsUnreachableWithinTheDeadline) {
  const char* pid_text = std::getenv("ETCD_PID");
  ASSERT_NE(pid_text, nullptr);
  const pid_t pid = static_cast<pid_t>(std::atol(pid_text));
  EtcdEpoch a = client(EtcdEpoch::kDefaultDeadline);
  std::string why;
  bool warm = false;  // a live connection first (a loaded machine may miss 20 ms once)
  for (int i = 0; i < 20 && !warm; ++i) {
    warm = a.read(why).has_value();
  }
  ASSERT_TRUE(warm) << why;

  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{pid};
  ASSERT_TRUE(all_threads_stopped(pid));
  auto start = Clock::now();
  const auto record = a.read(why);
  auto took = Clock::now() - start;
  EXPECT_FALSE(record);
  EXPECT_NE(why.find("no answer within the 20 ms deadline"), std::string::npos) << why;
  EXPECT_LE(took, EtcdEpoch::kDefaultDeadline + kSlack);

  start = Clock::now();
  const CasResult swap = a.advance(0, "node-a");
  took = Clock::now() - start;
  EXPECT_EQ(swap.outcome, CasOutcome::Unreachable) << swap.why;
  EXPECT_LE(took, EtcdEpoch::kDefaultDeadline + kSlack);

  kill(pid, SIGCONT);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    back = a.read(why).has_value();
  }
  EXPECT_TRUE(back) << why;
}

// Endpoints that accept connections and never answer share one deadline: three of them cost one
// deadline, not three.
TEST_F(EtcdEpochTest, SilentEndpointsShareOneDeadline) {
  const LoopbackSocket one(true);
  const LoopbackSocket two(true);
  const LoopbackSocket three(true);
  const milliseconds deadline{60};
  EtcdEpoch a({one.endpoint(), two.endpoint(), three.endpoint()}, test_key(), deadline);
  std::string why;
  auto start = Clock::now();
  EXPECT_FALSE(a.read(why));
  auto took = Clock::now() - start;
  EXPECT_LE(took, deadline + kSlack);
  EXPECT_GE(took, deadline - milliseconds(5));  // it did wait for an answer
  EXPECT_NE(why.find(one.endpoint() + ": no answer"), std::string::npos) << why;

  start = Clock::now();
  const CasResult swap = a.advance(0, "node-a");
  took = Clock::now() - start;
  EXPECT_EQ(swap.outcome, CasOutcome::Unreachable);
  EXPECT_LE(took, deadline + kSlack);
}

// A closed port is skipped at once for the next endpoint; only closed ports are Unreachable.
TEST_F(EtcdEpochTest, ClosedPortIsSkippedThenUnreachable) {
  std::string closed;
  {
    const LoopbackSocket bound(false);  // a port nobody listens on once it is closed
    closed = bound.endpoint();
  }
  EtcdEpoch failover({closed, etcd_endpoint()}, test_key(), milliseconds(2000));
  const CasResult won = failover.advance(0, "node-a");
  EXPECT_EQ(won.outcome, CasOutcome::Won) << won.why;

  EtcdEpoch nowhere({closed}, test_key(), EtcdEpoch::kDefaultDeadline);
  std::string why;
  const auto start = Clock::now();
  EXPECT_FALSE(nowhere.read(why));
  EXPECT_LE(Clock::now() - start, EtcdEpoch::kDefaultDeadline + kSlack);
  EXPECT_NE(why.find(closed), std::string::npos) << why;
  EXPECT_EQ(nowhere.advance(1, "node-b").outcome, CasOutcome::Unreachable);
}

// An endpoint that answers nonsense (not JSON, an HTTP error, JSON of another shape) counts as
// not answering: Unreachable with the reason, or the next endpoint's answer.
TEST_F(EtcdEpochTest, MalformedAnswersAreUnreachableOrSkipped) {
  const CannedServer text(http_response("200 OK", "hello"));
  const CannedServer error(
      http_response("500 Internal Server Error", R"({"error":"etcdserver: too many requests"})"));
  const CannedServer shape(http_response("200 OK", R"({"kvs":[{"value":"%%%"}]})"));
  const CannedServer swap_shape(http_response("200 OK", R"({"responses":17})"));
  std::string why;

  EtcdEpoch a({text.endpoint()}, test_key(), milliseconds(2000));
  EXPECT_FALSE(a.read(why));
  EXPECT_NE(why.find("not a JSON object"), std::string::npos) << why;
  EXPECT_EQ(a.advance(0, "node-a").outcome, CasOutcome::Unreachable);

  EtcdEpoch b({error.endpoint()}, test_key(), milliseconds(2000));
  EXPECT_FALSE(b.read(why));
  EXPECT_NE(why.find("HTTP status 500: etcdserver: too many requests"), std::string::npos) << why;

  EtcdEpoch c({shape.endpoint()}, test_key(), milliseconds(2000));
  EXPECT_FALSE(c.read(why));
  EXPECT_NE(why.find("not base64"), std::string::npos) << why;
  const CasResult swap_c = c.advance(0, "node-a");
  EXPECT_EQ(swap_c.outcome, CasOutcome::Unreachable) << swap_c.why;

  // The range answer has no kvs (no key: epoch 0), so the swap is sent; its answer is nonsense.
  EtcdEpoch d({swap_shape.endpoint()}, test_key(), milliseconds(2000));
  EXPECT_EQ(d.advance(0, "node-a").outcome, CasOutcome::Unreachable);

  EtcdEpoch e({text.endpoint(), error.endpoint(), etcd_endpoint()}, test_key(), milliseconds(2000));
  const CasResult won = e.advance(0, "node-a");
  EXPECT_EQ(won.outcome, CasOutcome::Won) << won.why;
}

// Whatever else is stored at the key is no epoch record: read fails and every swap loses, each
// with a reason naming the value; deleting the key (an operator's repair) makes epoch 0 again.
TEST_F(EtcdEpochTest, GarbageValueLosesWithWhy) {
  const std::vector<std::string> garbage = {
      "not json",
      "[1,2]",
      "{}",
      "{\"epoch\":0,\"holder\":\"node-a\"}",
      "{\"epoch\":-1,\"holder\":\"node-a\"}",
      "{\"epoch\":1.5,\"holder\":\"node-a\"}",
      "{\"epoch\":\"2\",\"holder\":\"node-a\"}",
      "{\"epoch\":99999999999999999999999,\"holder\":\"node-a\"}",
      "{\"epoch\":2,\"holder\":\"\"}",
      "{\"epoch\":2,\"holder\":\"a b\"}",
      "{\"epoch\":2,\"holder\":\"node-a\",\"extra\":1}",
      "{\"epoch\":2,\"holder\":\"node-a\"",
      "\\001\\377\\000binary",
  };
  for (const std::string& value : garbage) {
    SCOPED_TRACE(value);
    etcdctl("put " + test_key(), value);
    EtcdEpoch a = client();
    std::string why;
    EXPECT_FALSE(a.read(why));
    EXPECT_NE(why.find("is not an epoch record"), std::string::npos) << why;
    for (const std::uint64_t expected : {0, 1, 2}) {
      const CasResult swap = a.advance(expected, "node-a");
      EXPECT_EQ(swap.outcome, CasOutcome::Lost) << swap.why;
      EXPECT_EQ(swap.current, EpochRecord{});
      EXPECT_NE(swap.why.find("is not an epoch record"), std::string::npos) << swap.why;
    }
  }
  const std::string left = etcdctl("get --print-value-only " + test_key());
  EXPECT_EQ(left.rfind("\001\377", 0), 0u) << "a losing swap changed the value";
  etcdctl("del " + test_key());
  const CasResult repaired = client().advance(0, "node-a");
  EXPECT_EQ(repaired.outcome, CasOutcome::Won) << repaired.why;
}

// An empty stored value is garbage too (etcd's gateway leaves the field out).
TEST_F(EtcdEpochTest, EmptyValueLosesWithWhy) {
  etcdctl("put " + test_key() + " ''");
  EtcdEpoch a = client();
  std::string why;
  EXPECT_FALSE(a.read(why));
  EXPECT_NE(why.find("('') is not JSON"), std::string::npos) << why;
  EXPECT_EQ(a.advance(0, "node-a").outcome, CasOutcome::Lost);
}

// Invalid requests are refused before anything is sent; invalid endpoints are named and skipped.
TEST_F(EtcdEpochTest, InvalidRequestsChangeNothing) {
  EtcdEpoch a = client();
  for (const std::string& holder :
       std::vector<std::string>{"", "a b", "node/a", "n\xc3\xa9", std::string(65, 'x')}) {
    const CasResult swap = a.advance(0, holder);
    EXPECT_EQ(swap.outcome, CasOutcome::Invalid) << holder;
    EXPECT_NE(swap.why.find("is not a node name"), std::string::npos) << swap.why;
  }
  EXPECT_EQ(a.advance(UINT64_MAX, "node-a").outcome, CasOutcome::Invalid);
  EXPECT_EQ(a.advance(0, std::string(64, 'x')).outcome, CasOutcome::Won);  // the longest name

  EXPECT_EQ(EtcdEpoch::endpoint_problem("127.0.0.1:2379"), "");
  EXPECT_EQ(EtcdEpoch::endpoint_problem("etcd-1.example:2379"), "");
  EXPECT_EQ(EtcdEpoch::endpoint_problem("[::1]:2379"), "");
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:23x", ":2379",
        "user@host:2379", "host/path:2379", "::1:2379", "a b:2379"}) {
    EXPECT_NE(EtcdEpoch::endpoint_problem(bad), "") << bad;
  }
  EtcdEpoch mixed({"user@host:2379", etcd_endpoint()}, test_key(), milliseconds(2000));
  std::string why;
  const auto record = mixed.read(why);
  ASSERT_TRUE(record) << why;
  EXPECT_EQ(record->epoch, 1u);
  EtcdEpoch none({"user@host:2379"}, test_key(), milliseconds(2000));
  EXPECT_FALSE(none.read(why));
  EXPECT_NE(why.find("'user@host:2379' has a host that is neither"), std::string::npos) << why;
}

}  // namespace
}  // namespace acd::control
