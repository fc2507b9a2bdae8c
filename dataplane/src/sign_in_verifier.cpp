#include "acd/dataplane/sign_in_verifier.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace acd::dataplane {

void wipe(void* data, std::size_t bytes) {
  volatile auto* p = static_cast<volatile unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    p[i] = 0;
  }
}

bool InMemoryCredentials::verify(router::AgentNumber agent, std::string_view password) {
  auto it = passwords_.find(agent);
  if (it == passwords_.end() || it->second.size() != password.size()) {
    return false;
  }
  unsigned diff = 0;  // constant time in the password's length
  for (std::size_t i = 0; i < password.size(); ++i) {
    diff |= static_cast<unsigned>(it->second[i] ^ password[i]);
  }
  return diff == 0;
}

namespace {

constexpr std::size_t kMaxQueue = 65534;  // boost::lockfree's limit for a fixed-size queue

std::size_t clamp_queue(std::size_t n) { return std::clamp<std::size_t>(n, 1, kMaxQueue); }

// Pins the calling worker to `cpus` and lowers its priority; best effort (a CPU that went offline
// or a container that forbids it leaves the worker where it is).
void place_worker(const VerifierPoolConfig& config) {
  if (!config.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const int cpu : config.cpus) {
      if (cpu >= 0 && cpu < CPU_SETSIZE) {
        CPU_SET(static_cast<unsigned>(cpu), &set);
      }
    }
    if (CPU_COUNT(&set) > 0) {
      (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
  }
  if (config.nice > 0) {
    // Linux: a thread's niceness is its own (setpriority on its thread ID).
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                      std::min(config.nice, 19));
  }
}

}  // namespace

AsyncVerifier::AsyncVerifier(CredentialVerifier& verifier, VerifierPoolConfig config)
    : verifier_(verifier),
      capacity_(clamp_queue(config.queue)),
      check_estimate_us_(std::max<std::uint32_t>(config.check_estimate_us, 1)),
      jobs_(capacity_),
      results_(capacity_) {
  const unsigned n = std::max(config.threads, 1u);
  threads_.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    threads_.emplace_back([this, config] {
      place_worker(config);
      run();
    });
  }
}

AsyncVerifier::~AsyncVerifier() {
  stop_.store(true, std::memory_order_release);
  for (std::thread& t : threads_) {
    t.join();
  }
  jobs_.consume_all([](SignInJob& job) {
    wipe(job.password, sizeof(job.password));
    wipe(job.new_password, sizeof(job.new_password));
  });
}

std::uint64_t AsyncVerifier::mean_check_us() const {
  const std::uint64_t n = checks_done_.load(std::memory_order_relaxed);
  if (n == 0) {
    return check_estimate_us_;
  }
  return std::max<std::uint64_t>(check_ns_total_.load(std::memory_order_relaxed) / n / 1000, 1);
}

std::uint32_t AsyncVerifier::retry_after_ms(std::uint64_t now_us) {
  const std::uint64_t turn_us = std::max<std::uint64_t>(mean_check_us() / threads_.size(), 1);
  // Turns start when half the jobs waiting now are done: a desktop that comes back on time finds
  // room while the other half keeps the workers busy (they never wait for a returning desktop).
  // Refusals before this one booked the turns after it.
  const std::size_t ahead = pending_ > capacity_ / 2 ? pending_ - capacity_ / 2 : 0;
  const std::uint64_t queue_done_us = now_us + ahead * turn_us;
  booked_until_us_ = std::max(booked_until_us_, queue_done_us) + turn_us;
  const std::uint64_t ms = (booked_until_us_ - now_us + 999) / 1000;
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(ms, kMinRetryAfterMs, kMaxRetryAfterMs));
}

bool AsyncVerifier::submit(SignInJob& job) {
  const bool queued = pending_ < capacity_ && jobs_.bounded_push(job);
  if (queued) {
    ++pending_;
  }
  wipe(job.password, sizeof(job.password));
  wipe(job.new_password, sizeof(job.new_password));
  return queued;
}

void AsyncVerifier::run() {
  while (!stop_.load(std::memory_order_acquire)) {
    SignInJob job;
    if (!jobs_.pop(job)) {
      // Idle: a sign-in waits at most this long for a worker to notice it (a hash takes longer).
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const std::size_t length = strnlen(job.password, sizeof(job.password));
    SignInResult result;
    result.task = job.task;
    result.number = job.number;
    result.agent = job.agent;
    result.client_slot = job.client_slot;
    result.request_seq = job.request_seq;
    result.device = job.device;
    const auto began = std::chrono::steady_clock::now();
    if (job.task == VerifierTask::PasswordChange) {
      const std::size_t new_length = strnlen(job.new_password, sizeof(job.new_password));
      result.change = verifier_.change_password(
          job.number, std::string_view(job.password, length),
          std::string_view(job.new_password, new_length),
          SignInSource{job.client_slot, job.device}, result.hash);
      result.accepted = result.change == ChangeOutcome::Changed;
      if (!result.accepted) {
        wipe(result.hash, sizeof(result.hash));
      }
    } else {
      const VerifyOutcome outcome =
          verifier_.check_from(job.number, std::string_view(job.password, length),
                               SignInSource{job.client_slot, job.device});
      result.accepted = outcome == VerifyOutcome::Accepted;
      result.unavailable = outcome == VerifyOutcome::Unavailable;
      result.must_change = result.accepted && verifier_.must_change(job.number);
      result.enrolment_spent = result.accepted && verifier_.spent_enrolment(job.number, result.hash);
    }
    check_ns_total_.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - began)
                                       .count()),
        std::memory_order_relaxed);
    checks_done_.fetch_add(1, std::memory_order_relaxed);
    wipe(job.password, sizeof(job.password));
    wipe(job.new_password, sizeof(job.new_password));
    // pending_ <= capacity_ leaves room; the loop only guards against a bug, without spinning hot.
    while (!results_.bounded_push(result) && !stop_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

}  // namespace acd::dataplane
