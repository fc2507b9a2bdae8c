// The Kafka export on acdd's history thread: the KafkaSink opened late (on the node that routes,
// once history has caught up), polled on commits and timers, closed at the feed's end; the
// position offered to the log, and the log's positions kept while following.
#include "acd/control/kafka_export.hpp"

#include <cstdio>
#include <utility>

namespace acd::control {

namespace {

void say(const std::string& text) {
  std::fprintf(stderr, "acdd: history: kafka: %s\n", text.c_str());
  std::fflush(stderr);
}

std::string describe(history::RecordId id) {
  return std::to_string(id.seq) + "/" + std::to_string(id.index);
}

}  // namespace

KafkaExport::KafkaExport(history::KafkaConfig config, std::string database,
                         std::chrono::milliseconds poll_every,
                         std::chrono::milliseconds retry_every,
                         std::chrono::milliseconds catch_up_timeout)
    : config_(std::move(config)),
      database_(std::move(database)),
      poll_every_(poll_every),
      retry_every_(retry_every),
      catch_up_timeout_(catch_up_timeout) {}

bool KafkaExport::catch_up_expired(std::chrono::steady_clock::time_point now) {
  if (caught_up_.load(std::memory_order_relaxed)) {
    return true;
  }
  if (!active_.load(std::memory_order_acquire)) {
    return false;
  }
  const std::int64_t at = activated_ns_.load(std::memory_order_relaxed);
  const std::chrono::steady_clock::time_point since{std::chrono::steady_clock::duration(at)};
  if (at == 0 || now - since < catch_up_timeout_) {
    return false;
  }
  caught_up_.store(true, std::memory_order_relaxed);
  catch_up_timeouts_.fetch_add(1, std::memory_order_relaxed);
  say("history has not caught up with the journal " + std::to_string(catch_up_timeout_.count()) +
      " ms after this node began routing; exporting now from the position it holds" +
      (followed_.seq != 0 ? " (the log's last position read: " + describe(followed_) + ")"
                          : std::string()) +
      ": records the old primary delivered after it may be sent again");
  return true;
}

KafkaExport::~KafkaExport() = default;

bool KafkaExport::ensure_open(std::chrono::steady_clock::time_point now) {
  if (sink_) {
    return true;
  }
  if (stopped_ || !catch_up_expired(now) || now < next_open_) {
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
  // The sink read the saved position; one adopted while following and not yet saved goes in now.
  follow_store_.reset();
  if (followed_ > sink_->position() && !sink_->adopt(followed_, why)) {
    say("cannot keep the position " + describe(followed_) + " the log carried: " + why);
  }
  followed_saved_ = true;
  if (followed_.seq != 0) {
    say("exporting from " + describe(sink_->position()) + " (the log's last position " +
        describe(followed_) + ")");
  }
  counters_.store(&sink_->counters(), std::memory_order_release);
  return true;
}

void KafkaExport::poll(std::chrono::steady_clock::time_point now) {
  if (!ensure_open(now)) {  // opens only once active and caught up
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
  offer_position(now, false);
}

void KafkaExport::offer_position(std::chrono::steady_clock::time_point now, bool now_or_never) {
  if (positions_ == nullptr || !sink_) {
    return;
  }
  const history::RecordId at = sink_->position();  // saved: never ahead of what was delivered
  if (at <= offered_ || (!now_or_never && now - last_offer_ < position_every_)) {
    return;
  }
  if (positions_->offer(dataplane::ExportPosition{at.seq, at.index})) {
    offered_ = at;
    last_offer_ = now;
  }  // a full channel: offered again at the next poll
}

void KafkaExport::save_followed() {
  if (followed_saved_ || sink_) {
    return;
  }
  std::string why;
  if (!follow_store_) {
    follow_store_ = history::ExportStore::open(database_, history::kKafkaExportName, why);
  }
  if (follow_store_ && follow_store_->save_position(followed_, why)) {
    followed_saved_ = true;
    save_error_said_.clear();
    return;
  }
  follow_store_.reset();
  if (why != save_error_said_) {
    say("cannot save the log's position " + describe(followed_) + " (retrying): " + why);
    save_error_said_ = why;
  }
}

void KafkaExport::on_committed(const history::Records&, std::uint64_t) {
  save_followed();
  poll(std::chrono::steady_clock::now());
}

void KafkaExport::on_idle() {
  if (active_.load(std::memory_order_acquire)) {
    caught_up_.store(true, std::memory_order_relaxed);  // the journal's positions are read
  }
  save_followed();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_poll_ >= poll_every_) {
    poll(now);
  }
}

void KafkaExport::on_export_position(history::RecordId next) {
  positions_adopted_.fetch_add(1, std::memory_order_relaxed);
  if (sink_) {
    std::string why;
    if (!sink_->adopt(next, why)) {  // a no-op for the node's own positions
      say("cannot keep the position " + describe(next) + " the log carried: " + why);
    }
    return;
  }
  if (next > followed_) {
    followed_ = next;
    followed_saved_ = false;  // saved with the next commit or idle call
  }
}

void KafkaExport::on_stop() {
  stopped_ = true;
  stopped_flag_.store(true, std::memory_order_relaxed);
  save_followed();
  if (!sink_) {
    return;
  }
  std::string why;
  if (!sink_->close(why)) {
    say(why + " (sent again at the next start)");
  }
  offer_position(std::chrono::steady_clock::now(), true);
}

}  // namespace acd::control
