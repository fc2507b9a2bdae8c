#include "acd/dataplane/sign_in_verifier.hpp"

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

AsyncVerifier::AsyncVerifier(CredentialVerifier& verifier)
    : verifier_(verifier), thread_([this] { run(); }) {}

AsyncVerifier::~AsyncVerifier() {
  stop_.store(true, std::memory_order_release);
  thread_.join();
  jobs_.consume_all([](SignInJob& job) { wipe(job.password, sizeof(job.password)); });
}

bool AsyncVerifier::submit(SignInJob& job) {
  const bool queued = jobs_.push(job);
  wipe(job.password, sizeof(job.password));
  return queued;
}

void AsyncVerifier::run() {
  while (!stop_.load(std::memory_order_acquire)) {
    SignInJob job;
    if (!jobs_.pop(job)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    const std::size_t length = strnlen(job.password, sizeof(job.password));
    SignInResult result;
    result.number = job.number;
    result.agent = job.agent;
    result.client_slot = job.client_slot;
    result.request_seq = job.request_seq;
    result.device = job.device;
    result.accepted = verifier_.verify(job.number, std::string_view(job.password, length));
    wipe(job.password, sizeof(job.password));
    while (!results_.push(result) && !stop_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

}  // namespace acd::dataplane
