// The Kafka export on acdd's history thread: the KafkaSink opened late, polled on commits and
// timers, closed at the feed's end.
#include "acd/control/kafka_export.hpp"

#include <cstdio>
#include <utility>

namespace acd::control {

namespace {

void say(const std::string& text) {
  std::fprintf(stderr, "acdd: history: kafka: %s\n", text.c_str());
  std::fflush(stderr);
}

}  // namespace

KafkaExport::KafkaExport(history::KafkaConfig config, std::string database,
                         std::chrono::milliseconds poll_every,
                         std::chrono::milliseconds retry_every)
    : config_(std::move(config)),
      database_(std::move(database)),
      poll_every_(poll_every),
      retry_every_(retry_every) {}

KafkaExport::~KafkaExport() = default;

bool KafkaExport::ensure_open(std::chrono::steady_clock::time_point now) {
  if (sink_) {
    return true;
  }
  if (stopped_ || now < next_open_) {
    return false;
  }
  std::string why;
  sink_ = history::KafkaSink::open(config_, database_, why);
  if (!sink_) {
    open_failures_.fetch_add(1, std::memory_order_relaxed);
    next_open_ = now + retry_every_;
    if (!open_failed_said_) {  // said once, not every retry
      open_failed_said_ = true;
      say("cannot open the export (trying again every " +
          std::to_string(retry_every_.count()) + " ms): " + why);
    }
    return false;
  }
  if (open_failed_said_) {
    say("export open");
  }
  open_failed_said_ = false;
  counters_.store(&sink_->counters(), std::memory_order_release);
  return true;
}

void KafkaExport::poll(std::chrono::steady_clock::time_point now) {
  if (!ensure_open(now)) {
    return;
  }
  last_poll_ = now;
  std::string why;
  if (!sink_->poll(why)) {
    if (why != poll_error_said_) {  // counted by the sink; said when it changes
      say(why + " (retrying)");
      poll_error_said_ = why;
    }
  } else {
    poll_error_said_.clear();
  }
}

void KafkaExport::on_committed(const history::Records&, std::uint64_t) {
  poll(std::chrono::steady_clock::now());
}

void KafkaExport::on_idle() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_poll_ >= poll_every_) {
    poll(now);
  }
}

void KafkaExport::on_stop() {
  stopped_ = true;
  if (!sink_) {
    return;
  }
  std::string why;
  if (!sink_->close(why)) {
    say(why + " (sent again at the next start)");
  }
}

}  // namespace acd::control
