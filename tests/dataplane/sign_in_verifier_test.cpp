// The sign-in verifier pool: jobs are checked by several workers at once, a full queue refuses the
// next job (so the IO stage answers Overloaded) and frees up as results are collected, and every
// result comes back with its request's identity.
#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "acd/dataplane/sign_in_verifier.hpp"

namespace acd::dataplane {
namespace {

// Sleeps like a slow hash and records how many calls overlapped; "right" is the only password.
class SlowVerifier final : public CredentialVerifier {
 public:
  explicit SlowVerifier(std::chrono::milliseconds cost) : cost_(cost) {}
  bool verify(router::AgentNumber, std::string_view password) override {
    const int now = ++running_;
    int seen = max_running_.load();
    while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(cost_);
    --running_;
    return password == "right";
  }
  int max_running() const { return max_running_.load(); }

 private:
  std::chrono::milliseconds cost_;
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
};

SignInJob job_for(router::AgentNumber number, const char* password) {
  SignInJob job;
  job.number = number;
  job.agent = static_cast<router::AgentIndex>(number % 1000);
  job.client_slot = static_cast<std::uint32_t>(number % 7);
  job.request_seq = number * 10;
  job.device = number + 5;
  std::strncpy(job.password, password, sizeof(job.password) - 1);
  return job;
}

// Collects until `n` results arrived; a watchdog ends a hung pool's test instead of the suite.
std::vector<SignInResult> collect_n(AsyncVerifier& v, std::size_t n) {
  std::vector<SignInResult> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    v.collect([&](const SignInResult& r) { out.push_back(r); });
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return out;
}

// Four workers check four slow sign-ins at the same time; each result keeps its request's identity.
TEST(VerifierPool, WorkersCheckInParallel) {
  SlowVerifier slow(std::chrono::milliseconds(150));
  AsyncVerifier pool(slow, VerifierPoolConfig{4, 64, {}, 0});
  EXPECT_EQ(pool.threads(), 4u);
  for (router::AgentNumber n = 1001; n <= 1008; ++n) {
    SignInJob job = job_for(n, n % 2 == 0 ? "right" : "wrong");
    ASSERT_TRUE(pool.submit(job));
    EXPECT_EQ(job.password[0], '\0');  // wiped on submit
  }
  const std::vector<SignInResult> results = collect_n(pool, 8);
  ASSERT_EQ(results.size(), 8u);
  std::set<router::AgentNumber> seen;
  for (const SignInResult& r : results) {
    seen.insert(r.number);
    EXPECT_EQ(r.accepted, r.number % 2 == 0) << r.number;
    EXPECT_EQ(r.request_seq, r.number * 10);
    EXPECT_EQ(r.device, r.number + 5);
    EXPECT_EQ(r.client_slot, r.number % 7);
    EXPECT_EQ(r.agent, r.number % 1000);
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(slow.max_running(), 4);
}

// The queue holds `queue` sign-ins not yet collected; the next is refused until results are taken.
TEST(VerifierPool, FullQueueRefusesUntilCollected) {
  SlowVerifier slow(std::chrono::milliseconds(20));
  AsyncVerifier pool(slow, VerifierPoolConfig{2, 5, {}, 0});
  EXPECT_EQ(pool.queue_capacity(), 5u);
  for (router::AgentNumber n = 1; n <= 5; ++n) {
    SignInJob job = job_for(n, "right");
    ASSERT_TRUE(pool.submit(job)) << n;
  }
  SignInJob extra = job_for(6, "right");
  EXPECT_FALSE(pool.submit(extra));
  EXPECT_EQ(extra.password[0], '\0');  // wiped though refused
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all five done, none collected
  SignInJob still = job_for(7, "right");
  EXPECT_FALSE(pool.submit(still));  // results not collected still count
  ASSERT_EQ(collect_n(pool, 5).size(), 5u);
  SignInJob again = job_for(8, "right");
  EXPECT_TRUE(pool.submit(again));
  ASSERT_EQ(collect_n(pool, 1).size(), 1u);
}

// Records the scheduling policy of the thread that checks, and of the one that stores.
class PolicyRecorder final : public CredentialVerifier, public CredentialSink {
 public:
  bool verify(router::AgentNumber, std::string_view) override {
    checked_.store(sched_getscheduler(0));
    return true;
  }
  ApplyOutcome apply_credential(router::AgentNumber, CredentialChangeKind, std::string_view,
                                const CredentialDigest&) override {
    stored_.store(sched_getscheduler(0));
    return ApplyOutcome::Stored;
  }
  void restore_enrolment(router::AgentNumber, std::string_view) override {}
  std::atomic<int> checked_{-1};
  std::atomic<int> stored_{-1};
};

// [signin] sched: the verifier workers and the credential writer run at the policy asked for
// (SCHED_IDLE, SCHED_BATCH), and at the normal one by default; no privilege is needed.
TEST(VerifierPool, WorkersAndWriterRunAtTheirSchedulingClass) {
  const std::pair<ThreadClass, int> cases[] = {{ThreadClass::Normal, SCHED_OTHER},
                                               {ThreadClass::Batch, SCHED_BATCH},
                                               {ThreadClass::Idle, SCHED_IDLE}};
  for (const auto& [cls, policy] : cases) {
    PolicyRecorder recorder;
    {
      VerifierPoolConfig config{2, 8, {}, 5};
      config.sched = cls;
      AsyncVerifier pool(recorder, config);
      SignInJob job = job_for(7, "any");
      ASSERT_TRUE(pool.submit(job));
      ASSERT_EQ(collect_n(pool, 1).size(), 1u);
    }
    {
      CredentialWriter writer(recorder, 8, cls);
      CredentialWrite w;
      w.number = 7;
      ASSERT_TRUE(writer.submit(w));
      writer.wait_idle();
    }
    EXPECT_EQ(recorder.checked_.load(), policy) << static_cast<int>(cls);
    EXPECT_EQ(recorder.stored_.load(), policy) << static_cast<int>(cls);
  }
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER) << "the caller's own policy was changed";
}

// How many times this process's threads whose name starts with `prefix` went to sleep
// (voluntary context switches, /proc/self/task/*/status), and how many such threads there are.
struct Sleeps {
  std::uint64_t count = 0;
  std::size_t threads = 0;
};
Sleeps sleeps_of(const std::string& prefix) {
  Sleeps out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name.rfind(prefix, 0) != 0) {
      continue;
    }
    ++out.threads;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
        out.count += std::stoull(line.substr(line.find(':') + 1));
      }
    }
  }
  return out;
}

// Idle, the pool's workers and the credential writer sleep until work arrives: over 200 ms
// without work they wake a few times at most (a 1 ms poll woke ~200 times each), and destroying
// them wakes them to stop.
TEST(VerifierPool, IdleWorkersSleepUntilWorkArrives) {
  PolicyRecorder recorder;
  auto pool = std::make_unique<AsyncVerifier>(recorder, VerifierPoolConfig{2, 8, {}, 0});
  auto writer = std::make_unique<CredentialWriter>(recorder, 8);
  // One job each first: every thread has started, done work and gone idle.
  SignInJob job = job_for(7, "any");
  ASSERT_TRUE(pool->submit(job));
  ASSERT_EQ(collect_n(*pool, 1).size(), 1u);
  CredentialWrite w;
  w.number = 7;
  ASSERT_TRUE(writer->submit(w));
  writer->wait_idle();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Sleeps workers = sleeps_of("acd-verify-");
  const Sleeps writing = sleeps_of("acd-cred-write");
  ASSERT_EQ(workers.threads, 2u);
  ASSERT_EQ(writing.threads, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::uint64_t worker_wakeups = sleeps_of("acd-verify-").count - workers.count;
  const std::uint64_t writer_wakeups = sleeps_of("acd-cred-write").count - writing.count;
  EXPECT_LE(worker_wakeups, 4u) << "idle verifier workers woke up";
  EXPECT_LE(writer_wakeups, 2u) << "the idle credential writer woke up";
  const auto began = std::chrono::steady_clock::now();
  pool.reset();  // a hang here (a worker never woken to stop) ends in the test's timeout
  writer.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5));
}

// Work queued after the threads went to sleep is taken at once: in each of 20 rounds, after an
// idle spell, one sign-in is checked and one credential change stored (a lost wake-up would leave
// them queued until the next submit; the 5 s bound is a watchdog, not a timing goal).
TEST(VerifierPool, WorkAfterLongIdleIsTakenPromptly) {
  PolicyRecorder recorder;
  AsyncVerifier pool(recorder, VerifierPoolConfig{2, 8, {}, 0});
  CredentialWriter writer(recorder, 8);
  std::chrono::steady_clock::duration slowest{};
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(round == 0 ? 300 : 20));
    SignInJob job = job_for(100 + static_cast<router::AgentNumber>(round), "any");
    auto began = std::chrono::steady_clock::now();
    ASSERT_TRUE(pool.submit(job));
    std::size_t got = 0;
    while (got == 0 && std::chrono::steady_clock::now() - began < std::chrono::seconds(5)) {
      got = pool.collect([](const SignInResult&) {});
      std::this_thread::yield();
    }
    ASSERT_EQ(got, 1u) << "round " << round << ": the sign-in was never checked";
    slowest = std::max(slowest, std::chrono::steady_clock::now() - began);

    CredentialWrite w;
    w.number = 100 + static_cast<router::AgentNumber>(round);
    began = std::chrono::steady_clock::now();
    ASSERT_TRUE(writer.submit(w));
    while (writer.count(ApplyOutcome::Stored) < static_cast<std::uint64_t>(round) + 1 &&
           std::chrono::steady_clock::now() - began < std::chrono::seconds(5)) {
      std::this_thread::yield();
    }
    ASSERT_EQ(writer.count(ApplyOutcome::Stored), static_cast<std::uint64_t>(round) + 1)
        << "round " << round << ": the change was never stored";
    slowest = std::max(slowest, std::chrono::steady_clock::now() - began);
  }
  std::cout << "slowest answer after idle: "
            << std::chrono::duration_cast<std::chrono::microseconds>(slowest).count() << " us\n";
}

// Zero threads and an oversized queue are clamped, not undefined.
TEST(VerifierPool, SizesClamped) {
  InMemoryCredentials creds;
  creds.set(5, "pw");
  AsyncVerifier pool(creds, VerifierPoolConfig{0, 1'000'000, {}, 0});
  EXPECT_EQ(pool.threads(), 1u);
  EXPECT_EQ(pool.queue_capacity(), 65534u);
  SignInJob job = job_for(5, "pw");
  ASSERT_TRUE(pool.submit(job));
  const auto results = collect_n(pool, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].accepted);
}

// A backend that could not check (its directory down) says so through check_from(): the result is
// neither accepted nor a wrong password, so that the IO stage answers DirectoryUnavailable.
class DirectoryDown final : public CredentialVerifier {
 public:
  VerifyOutcome check_from(router::AgentNumber agent, std::string_view password,
                           const SignInSource&) override {
    return agent == 1001 ? VerifyOutcome::Unavailable
                         : verify(agent, password) ? VerifyOutcome::Accepted
                                                   : VerifyOutcome::Refused;
  }
  bool verify(router::AgentNumber, std::string_view password) override {
    return password == "right";
  }
};

TEST(VerifierPool, UnavailableIsItsOwnResult) {
  DirectoryDown down;
  AsyncVerifier pool(down, VerifierPoolConfig{1, 8, {}, 0});
  SignInJob unavailable = job_for(1001, "right");
  SignInJob wrong = job_for(1002, "wrong");
  SignInJob right = job_for(1003, "right");
  ASSERT_TRUE(pool.submit(unavailable));
  ASSERT_TRUE(pool.submit(wrong));
  ASSERT_TRUE(pool.submit(right));
  const std::vector<SignInResult> results = collect_n(pool, 3);
  ASSERT_EQ(results.size(), 3u);
  for (const SignInResult& r : results) {
    EXPECT_EQ(r.accepted, r.number == 1003) << r.number;
    EXPECT_EQ(r.unavailable, r.number == 1001) << r.number;
  }
  // A verifier that only implements verify() is never Unavailable.
  InMemoryCredentials plain;
  plain.set(1001, "right");
  EXPECT_EQ(plain.check_from(1001, "right", {}), VerifyOutcome::Accepted);
  EXPECT_EQ(plain.check_from(1001, "wrong", {}), VerifyOutcome::Refused);
}

// Knows the passwords only reversed, so that its own copies never hold them as sent.
class ReversedCredentials final : public CredentialVerifier {
 public:
  explicit ReversedCredentials(const char* reversed) : reversed_(reversed) {}
  bool verify(router::AgentNumber, std::string_view password) override {
    if (password.size() != reversed_.size()) {
      return false;
    }
    bool same = true;
    for (std::size_t i = 0; i < password.size(); ++i) {
      same = same && password[i] == reversed_[reversed_.size() - 1 - i];
    }
    return same;
  }

 private:
  std::string_view reversed_;
};

// Not in sanitizer builds: their shadow memory is mapped writable but may not be read, and a scan
// of the whole process trips them; the release build runs this search and its test.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// How many times `needle` occurs in this process's writable memory, other than in the mapping
// that holds `needle` (the caller's stack: the search itself leaves copies of its needle there;
// the pool's workers run on stacks of their own, which are searched).
std::size_t copies_in_memory(const char* needle, std::size_t length) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::size_t found = 0;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range;
    std::string perms;
    std::string offset;
    std::string device;
    std::string inode;
    std::string name;
    fields >> range >> perms >> offset >> device >> inode >> name;
    if (perms.size() < 2 || perms[0] != 'r' || perms[1] != 'w' || name.rfind("[v", 0) == 0 ||
        name.rfind("/dev/", 0) == 0) {
      continue;
    }
    const std::size_t dash = range.find('-');
    auto* at = reinterpret_cast<const char*>(std::stoull(range.substr(0, dash), nullptr, 16));
    const auto* end =
        reinterpret_cast<const char*>(std::stoull(range.substr(dash + 1), nullptr, 16));
    if (needle >= at && needle < end) {
      continue;
    }
    while (at < end) {
      const void* hit = memmem(at, static_cast<std::size_t>(end - at), needle, length);
      if (hit == nullptr) {
        break;
      }
      ++found;
      at = static_cast<const char*>(hit) + 1;
    }
  }
  return found;
}

// Once checked, a password is nowhere in the process's writable memory: not in the job queue's
// nodes (a lock-free queue keeps what passed through them), nor in the pool's own buffer.
TEST(VerifierPool, CheckedPasswordLeavesNoCopy) {
  static const char kReversed[] = "tnuocca-gnilggiwS-8hK-ykccuL-Zq";  // read-only memory
  constexpr std::size_t kLength = sizeof(kReversed) - 1;
  ReversedCredentials reversed(kReversed);
  for (const VerifierTask task : {VerifierTask::SignIn, VerifierTask::PasswordChange}) {
    AsyncVerifier pool(reversed, VerifierPoolConfig{2, 8, {}, 0});
    SignInJob job = job_for(1001, "");
    job.task = task;
    for (std::size_t i = 0; i < kLength; ++i) {  // no other copy on the way in
      job.password[i] = kReversed[kLength - 1 - i];
      job.new_password[i] = kReversed[kLength - 1 - i];
    }
    ASSERT_TRUE(pool.submit(job));
    const std::vector<SignInResult> results = collect_n(pool, 1);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].accepted, task == VerifierTask::SignIn);
    char needle[kLength];
    for (std::size_t i = 0; i < kLength; ++i) {
      needle[i] = kReversed[kLength - 1 - i];
    }
    EXPECT_EQ(copies_in_memory(needle, kLength), 0u)
        << "the password stayed in memory after its check";
    wipe(needle, sizeof(needle));
  }
}
#endif

}  // namespace
}  // namespace acd::dataplane
