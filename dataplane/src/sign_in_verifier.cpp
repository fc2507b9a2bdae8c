// The verifier pool (AsyncVerifier), the credential writer (CredentialWriter) and the strict
// reader of argon2id hash strings the log carries.
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/dataplane/thread_name.hpp"

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

// Decimal without a sign or leading zeros, at most 10 digits; advances `at`.
bool read_decimal(std::string_view s, std::size_t& at) {
  const std::size_t begin = at;
  while (at < s.size() && s[at] >= '0' && s[at] <= '9' && at - begin < 10) {
    ++at;
  }
  return at > begin && (s[begin] != '0' || at - begin == 1);
}

bool base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Unpadded base64 of min..max bytes up to `end`; advances `at` to `end`.
bool read_base64(std::string_view s, std::size_t& at, std::size_t end, std::size_t min,
                 std::size_t max) {
  const std::size_t chars = end - at;
  if (chars % 4 == 1) {
    return false;  // no byte count encodes to this many characters
  }
  const std::size_t bytes = chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
  if (bytes < min || bytes > max) {
    return false;
  }
  for (; at < end; ++at) {
    if (!base64_char(s[at])) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool valid_argon2id_string(std::string_view s) {
  constexpr std::string_view kHead = "$argon2id$v=19$m=";
  if (s.size() >= kCredentialHashBytes || s.substr(0, kHead.size()) != kHead) {
    return false;
  }
  std::size_t at = kHead.size();
  auto expect = [&](std::string_view text) {
    if (s.substr(at, text.size()) != text) {
      return false;
    }
    at += text.size();
    return true;
  };
  if (!read_decimal(s, at) || !expect(",t=") || !read_decimal(s, at) || !expect(",p=") ||
      !read_decimal(s, at) || !expect("$")) {
    return false;
  }
  const std::size_t salt_end = s.find('$', at);
  if (salt_end == std::string_view::npos || !read_base64(s, at, salt_end, 8, 64)) {
    return false;
  }
  ++at;
  return read_base64(s, at, s.size(), 16, 64);
}

bool valid_code_hash_string(std::string_view s) {
  if (s.substr(0, kCodeHashPrefix.size()) != kCodeHashPrefix) {
    return false;
  }
  std::size_t at = kCodeHashPrefix.size();
  const std::size_t salt_end = s.find('$', at);
  if (salt_end == std::string_view::npos || !read_base64(s, at, salt_end, 16, 16)) {
    return false;
  }
  ++at;
  return read_base64(s, at, s.size(), 32, 32);
}

namespace {

constexpr std::size_t kMaxQueue = 65534;  // boost::lockfree's limit for a fixed-size queue

std::size_t clamp_queue(std::size_t n) { return std::clamp<std::size_t>(n, 1, kMaxQueue); }

// Pins the calling worker to `cpus` and lowers its priority; best effort (a CPU that went offline
// or a container that forbids it leaves the worker where it is).
void place_worker(const VerifierPoolConfig& config) {
  (void)pin_this_thread(config.cpus);
  (void)apply_thread_class(config.sched);  // lowering: allowed without privilege
  if (config.nice > 0 && config.sched != ThreadClass::Idle) {
    // Linux: a thread's niceness is its own (setpriority on its thread ID).
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                      std::min(config.nice, 19));
  }
}

}  // namespace

int apply_thread_class(ThreadClass cls) {
  if (cls == ThreadClass::Normal) {
    return 0;
  }
  sched_param param{};
  param.sched_priority = 0;
  return pthread_setschedparam(pthread_self(), cls == ThreadClass::Idle ? SCHED_IDLE : SCHED_BATCH,
                               &param);
}

AsyncVerifier::AsyncVerifier(CredentialVerifier& verifier, VerifierPoolConfig config)
    : verifier_(verifier),
      capacity_(clamp_queue(config.queue)),
      secrets_(std::make_unique<Secret[]>(capacity_)),
      free_(capacity_),
      check_estimate_us_(std::max<std::uint32_t>(config.check_estimate_us, 1)),
      jobs_(capacity_),
      results_(capacity_) {
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    (void)free_.bounded_push(i);
  }
  wipe(secrets_.get(), sizeof(Secret) * capacity_);
  const unsigned n = std::max(config.threads, 1u);
  threads_.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    threads_.emplace_back([this, config, i] {
      name_this_thread("acd-verify-", i);
      place_worker(config);
      run();
    });
  }
}

AsyncVerifier::~AsyncVerifier() {
  stop_.store(true, std::memory_order_release);
  bell_.ring_all();  // the sleeping workers wake and see stop_
  for (std::thread& t : threads_) {
    t.join();
  }
  wipe(secrets_.get(), sizeof(Secret) * capacity_);  // the jobs never taken
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
  std::uint32_t secret = 0;
  bool queued = pending_ < capacity_ && free_.pop(secret);
  if (queued) {
    Secret& s = secrets_[secret];
    std::memcpy(s.password, job.password, sizeof(s.password));
    std::memcpy(s.new_password, job.new_password, sizeof(s.new_password));
    const QueuedJob queued_job{job.task,        job.number, job.agent, job.client_slot,
                               job.request_seq, job.device, secret};
    queued = jobs_.bounded_push(queued_job);
    if (!queued) {
      wipe(&s, sizeof(s));
      (void)free_.bounded_push(secret);
    }
  }
  if (queued) {
    ++pending_;
    bell_.ring();
  }
  wipe(job.password, sizeof(job.password));
  wipe(job.new_password, sizeof(job.new_password));
  return queued;
}

void AsyncVerifier::run() {
  while (!stop_.load(std::memory_order_acquire)) {
    QueuedJob job;
    // Idle: sleeps until submit() or the destructor rings.
    if (!bell_.take_or_sleep([&] { return jobs_.pop(job); }, stop_)) {
      return;
    }
    Secret& secret = secrets_[job.secret];
    const std::size_t length = strnlen(secret.password, sizeof(secret.password));
    SignInResult result;
    result.task = job.task;
    result.number = job.number;
    result.agent = job.agent;
    result.client_slot = job.client_slot;
    result.request_seq = job.request_seq;
    result.device = job.device;
    const auto began = std::chrono::steady_clock::now();
    if (job.task == VerifierTask::PasswordChange) {
      const std::size_t new_length = strnlen(secret.new_password, sizeof(secret.new_password));
      result.change = verifier_.change_password(
          job.number, std::string_view(secret.password, length),
          std::string_view(secret.new_password, new_length),
          SignInSource{job.client_slot, job.device}, result.hash, result.replaced);
      result.accepted = result.change == ChangeOutcome::Changed;
      if (!result.accepted) {
        wipe(result.hash, sizeof(result.hash));
      }
    } else {
      const VerifyOutcome outcome =
          verifier_.check_from(job.number, std::string_view(secret.password, length),
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
    wipe(&secret, sizeof(secret));
    (void)free_.bounded_push(job.secret);  // one entry per index: always room
    // pending_ <= capacity_ leaves room; the loop only guards against a bug, without spinning hot.
    while (!results_.bounded_push(result) && !stop_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

}  // namespace acd::dataplane

namespace acd::dataplane {

CredentialWriter::CredentialWriter(CredentialSink& sink, std::size_t capacity, ThreadClass sched)
    : sink_(sink),
      capacity_(std::max<std::size_t>(clamp_queue(capacity), 2)),
      writes_(capacity_),
      done_(capacity_),
      thread_([this, sched] {
        (void)apply_thread_class(sched);
        run();
      }) {}

CredentialWriter::~CredentialWriter() {
  stop_.store(true, std::memory_order_release);
  bell_.ring_all();  // a sleeping writer wakes and sees stop_
  thread_.join();  // run() stores what is queued before it ends: those changes are in the log
}

bool CredentialWriter::submit(const CredentialWrite& write) {
  if (in_flight() >= capacity_ || answers_pending_ >= capacity_ || !writes_.bounded_push(write)) {
    return false;
  }
  submitted_.fetch_add(1, std::memory_order_relaxed);
  answers_pending_ += write.answer ? 1 : 0;
  bell_.ring();
  return true;
}

void CredentialWriter::submit_waiting(const CredentialWrite& write) {
  while (!submit(write)) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void CredentialWriter::wait_idle() const {
  const std::uint64_t target = submitted_.load(std::memory_order_relaxed);
  while (finished_.load(std::memory_order_acquire) < target) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void CredentialWriter::run() {
  name_this_thread("acd-cred-write");
  for (;;) {
    CredentialWrite w;
    // Idle: sleeps until submit() or the destructor rings; stops only once the queue is empty,
    // so that what is queued is stored.
    if (!bell_.take_or_sleep([&] { return writes_.pop(w); }, stop_)) {
      return;
    }
    const std::string_view hash(w.hash, strnlen(w.hash, sizeof(w.hash)));
    ApplyOutcome outcome = ApplyOutcome::Stored;
    if (w.action == CredentialWrite::Action::RestoreEnrolment) {
      sink_.restore_enrolment(w.number, hash);
    } else {
      outcome = sink_.apply_credential(w.number, w.kind, hash, w.replaces);
    }
    outcomes_[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
    if (w.answer) {
      // answers_pending_ < capacity_ at submit: the queue has room.
      (void)done_.bounded_push(CredentialWriteDone{outcome, w.agent, w.client_slot, w.request_seq});
    }
    finished_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace acd::dataplane
