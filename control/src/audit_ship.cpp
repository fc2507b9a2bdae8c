// The audit log in a pair: the primary's writer reading its own records back from its files for
// the standby, the IO thread's hand-offs in both directions, and the standby's writer appending
// the primary's records to its own chain (control/DESIGN.md "Audit log", "The pair").
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <chrono>

#include "acd/control/audit_log.hpp"

namespace acd::control {

using nlohmann::json;

namespace {

constexpr std::size_t kShipBatch = 256;

// The first seq of an audit file, from its name (audit-<20 digits>.log).
std::uint64_t first_seq_of(const std::string& path) {
  const std::size_t at = path.rfind("/audit-");
  if (at == std::string::npos) {
    return 0;
  }
  return std::strtoull(path.c_str() + at + 7, nullptr, 10);
}

const std::string kZeroHash(64, '0');

std::string hex_of(const std::array<std::uint8_t, 32>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

// 32 bytes from 64 hex digits (zeros if it is not that).
std::array<std::uint8_t, 32> bytes_of(std::string_view hex) {
  std::array<std::uint8_t, 32> out{};
  if (hex.size() != 64) {
    return out;
  }
  auto digit = [](char c) -> int {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = digit(hex[2 * i]);
    const int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return {};
    }
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

bool is_hash(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() && j[key].get_ref<const std::string&>().size() == 64;
}

// Why `p` is not a whole record of the primary numbered `seq` (or the stub of one it holds as
// a copy of ours); "" if it is.
std::string check_primary_record(const json& p, std::uint64_t seq) {
  if (!p.is_object()) {
    return "not a JSON object";
  }
  if (!p.contains("seq") || !p["seq"].is_number_unsigned() || p["seq"].get<std::uint64_t>() != seq) {
    return "its seq is not the one it was shipped with";
  }
  if (!is_hash(p, "prev") || !is_hash(p, "hash")) {
    return "no prev or hash";
  }
  if (p.contains("stub")) {
    return p.size() == 4 ? "" : "a stub with a record's fields";
  }
  if (p.contains("primary")) {
    return "a record this node's peer did not make itself";
  }
  json canonical = p;
  canonical.erase("hash");
  const std::string text = canonical.dump(-1, ' ', false, json::error_handler_t::replace);
  if (audit_hash(p["prev"].get<std::string>(), text) != p["hash"].get<std::string>()) {
    return "hash mismatch";
  }
  return "";
}

// The record numbered `seq` in `files` (the file named for the highest first seq not above it),
// or null.
json record_in_files(const std::vector<std::string>& files, std::uint64_t seq) {
  std::size_t pick = files.size();
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (first_seq_of(files[i]) <= seq) {
      pick = i;
    }
  }
  if (pick == files.size()) {
    return nullptr;
  }
  std::ifstream in(files[pick]);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() &&
        j["seq"].get<std::uint64_t>() == seq && is_hash(j, "hash") && is_hash(j, "prev")) {
      return j;
    }
  }
  return nullptr;
}

// The oldest record of `files` (null if none reads).
json oldest_record(const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() &&
          is_hash(j, "prev")) {
        return j;
      }
    }
  }
  return nullptr;
}

}  // namespace

// ---- IO thread ----

void AuditLog::ship_after(std::uint64_t held, const std::array<std::uint8_t, 32>& hash) noexcept {
  ship_held_.store(held, std::memory_order_relaxed);
  for (std::size_t i = 0; i < ship_hash_.size(); ++i) {
    std::uint64_t word = 0;
    std::memcpy(&word, hash.data() + 8 * i, 8);
    ship_hash_[i].store(word, std::memory_order_relaxed);
  }
  ship_on_.store(true, std::memory_order_relaxed);
  ship_round_.fetch_add(1, std::memory_order_release);  // pairs with pump_shipping's acquire
}

void AuditLog::stop_shipping() noexcept {
  ship_on_.store(false, std::memory_order_relaxed);
  ship_round_.fetch_add(1, std::memory_order_release);
}

void AuditLog::on_audit_line(std::uint64_t primary_seq,
                             std::span<const std::uint8_t> line) noexcept {
  if (line.size() > kShipLineBytes || inbox_->write_available() == 0) {
    // Lost here: counted, and an audit.records_lost record says so in this node's log. The
    // writer finds the gap in the primary's seq and asks for the records again.
    ship_dropped_.fetch_add(1, std::memory_order_relaxed);
    dropped_total_.fetch_add(1, std::memory_order_relaxed);
    pending_drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ShipSlot& slot = *in_slot_;
  slot.round = 0;
  slot.restart = false;
  slot.seq = primary_seq;
  slot.length = static_cast<std::uint32_t>(line.size());
  std::memcpy(slot.line, line.data(), line.size());
  (void)inbox_->push(slot);  // room checked above; this thread is the only producer
}

void AuditLog::on_audit_restart(std::uint64_t after,
                                const std::array<std::uint8_t, 32>& prev) noexcept {
  if (inbox_->write_available() == 0) {
    // Not taken: the lines that follow will not follow on, and the writer asks again.
    ship_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ShipSlot& slot = *in_slot_;
  slot.round = 0;
  slot.restart = true;
  slot.seq = after;
  slot.length = static_cast<std::uint32_t>(prev.size());
  std::memcpy(slot.line, prev.data(), prev.size());
  restart_after_.store(after, std::memory_order_relaxed);
  restarts_given_.store(restarts_given_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  (void)inbox_->push(slot);
}

std::optional<dataplane::AuditPosition> AuditLog::take_audit_resend() noexcept {
  if (!resend_wanted_.exchange(false, std::memory_order_acquire)) {
    return std::nullopt;
  }
  return audit_position();
}

std::optional<dataplane::AuditPosition> AuditLog::audit_position() const noexcept {
  if (restarts_taken_.load(std::memory_order_acquire) !=
      restarts_given_.load(std::memory_order_relaxed)) {
    return std::nullopt;  // the writer has not taken the last restart yet
  }
  dataplane::AuditPosition p;
  for (;;) {
    const std::uint64_t v = held_version_.load(std::memory_order_acquire);
    p.seq = shipped_held_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < held_hash_.size(); ++i) {
      const std::uint64_t word = held_hash_[i].load(std::memory_order_relaxed);
      std::memcpy(p.hash.data() + 8 * i, &word, 8);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if ((v & 1) == 0 && held_version_.load(std::memory_order_relaxed) == v) {
      return p;
    }
  }
}

std::uint64_t AuditLog::audit_held() const noexcept {
  const std::uint64_t held = shipped_held_.load(std::memory_order_acquire);
  if (restarts_taken_.load(std::memory_order_acquire) !=
      restarts_given_.load(std::memory_order_relaxed)) {
    // A restart waits: never acknowledge beyond where it puts us (0 for a new chain).
    return std::min(held, restart_after_.load(std::memory_order_relaxed));
  }
  return held;
}

std::uint64_t AuditLog::ship_lag() const {
  if (!ship_on_.load(std::memory_order_relaxed)) {
    return 0;  // no standby asks
  }
  const std::uint64_t head = head_seq_.load(std::memory_order_relaxed);
  const std::uint64_t acked = ship_acked_.load(std::memory_order_relaxed);
  return head > acked ? head - acked : 0;
}

// ---- writer thread ----

void AuditLog::publish_held(std::uint64_t seq, const std::string& hash_hex) {
  const std::array<std::uint8_t, 32> hash = bytes_of(hash_hex);
  const std::uint64_t v = held_version_.load(std::memory_order_relaxed);
  held_version_.store(v + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  shipped_held_.store(seq, std::memory_order_relaxed);
  for (std::size_t i = 0; i < held_hash_.size(); ++i) {
    std::uint64_t word = 0;
    std::memcpy(&word, hash.data() + 8 * i, 8);
    held_hash_[i].store(word, std::memory_order_relaxed);
  }
  held_version_.store(v + 2, std::memory_order_release);
}

bool AuditLog::seen_operation(const json& body) {
  constexpr std::size_t kRemembered = 4096;
  std::string key = body.dump(-1, ' ', false, json::error_handler_t::replace);
  if (operations_.count(key) != 0) {
    return true;
  }
  operations_.insert(key);
  operations_order_.push_back(std::move(key));
  if (operations_order_.size() > kRemembered) {
    operations_.erase(operations_order_.front());
    operations_order_.pop_front();
  }
  return false;
}

// Takes up to `max_slots` of the primary's lines and restarts, in order, and appends the copies
// (and this node's notes on gaps) as one batch.
bool AuditLog::store_shipped(std::size_t max_slots) {
  std::vector<json> bodies;
  std::vector<bool> is_copy;
  std::uint64_t restarts = 0;
  bool resend = false;
  std::size_t taken = 0;
  auto note = [&](const std::string& why, const json& detail) {
    AuditRecord r = AuditRecord::make(AuditKind::ShipGap, AuditOutcome::Failed, "acdd",
                                      "the primary's audit records", detail);
    r.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    fail(why);
    bodies.push_back(body_of(r));
    is_copy.push_back(false);
  };
  while (taken < max_slots && bodies.size() < kShipBatch && inbox_->read_available() > 0) {
    ++taken;
    const ShipSlot& slot = inbox_->front();
    if (slot.restart) {
      std::array<std::uint8_t, 32> prev{};
      std::memcpy(prev.data(), slot.line, prev.size());
      const std::string prev_hex = hex_of(prev);
      const std::uint64_t after = slot.seq;
      if (after != chain_seq_ || prev_hex != chain_hash_) {
        // Not where we stand: say where each stood, and follow the primary from there.
        ship_gaps_.fetch_add(1, std::memory_order_relaxed);
        const bool other_chain = after <= chain_seq_;
        note("the primary's audit stream restarts after its record " + std::to_string(after) +
                 ", not after " + std::to_string(chain_seq_) + " held here: " +
                 (other_chain ? "its chain is another one" : "it no longer has the records between"),
             json{{"held_seq", chain_seq_},
                  {"held_hash", chain_hash_},
                  {"from_seq", after},
                  {"from_prev", prev_hex},
                  {"reason", other_chain ? "new_chain" : "missing_on_primary"},
                  {"action", "continued"}});
        chain_seq_ = after;
        chain_hash_ = prev_hex;
      }
      awaiting_restart_ = false;
      refused_ = false;
      first_after_restart_ = true;
      ++restarts;
      inbox_->pop();
      continue;
    }
    const std::uint64_t seq = slot.seq;
    if (awaiting_restart_ || refused_) {
      if (refused_) {
        ship_dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      inbox_->pop();  // a resend was asked (these come again), or we stopped
      continue;
    }
    if (seq <= chain_seq_) {
      inbox_->pop();  // sent again: already here
      continue;
    }
    json p = json::parse(std::string_view(slot.line, slot.length), nullptr, false);
    const std::string why = check_primary_record(p, seq);
    std::string broken;
    if (!why.empty()) {
      ship_dropped_.fetch_add(1, std::memory_order_relaxed);
      broken = why;
    } else if (seq != chain_seq_ + 1) {
      broken = "a gap: " + std::to_string(chain_seq_ + 1) + ".." + std::to_string(seq - 1) +
               " did not come";
    } else if (p["prev"].get_ref<const std::string&>() != chain_hash_) {
      broken = "a broken chain: its prev is not the hash of record " + std::to_string(chain_seq_);
    }
    if (!broken.empty()) {
      ship_gaps_.fetch_add(1, std::memory_order_relaxed);
      if (first_after_restart_) {
        // The primary's answer does not follow on either: stop rather than chain it.
        refused_ = true;
        note("the primary's record " + std::to_string(seq) + " was not stored: " + broken +
                 "; refused until the stream restarts",
             json{{"held_seq", chain_seq_},
                  {"held_hash", chain_hash_},
                  {"got_seq", seq},
                  {"reason", broken},
                  {"action", "refused"}});
      } else {
        awaiting_restart_ = true;
        resend = true;
        fail("the primary's record " + std::to_string(seq) + " was not stored: " + broken +
             "; asked again after " + std::to_string(chain_seq_));
      }
      inbox_->pop();
      continue;
    }
    first_after_restart_ = false;
    chain_seq_ = seq;
    chain_hash_ = p["hash"].get<std::string>();
    if (p.contains("stub")) {
      inbox_->pop();  // a copy of one of our own records: followed, not stored
      continue;
    }
    json body = p;
    body.erase("hash");
    body.erase("prev");
    body.erase("seq");
    if (body.contains("kind") && body["kind"] == audit_kind_name(AuditKind::Operation) &&
        seen_operation(body)) {
      // This node's own record of it, from the replicated log, is here already.
      ship_via_log_.fetch_add(1, std::memory_order_relaxed);
      inbox_->pop();
      continue;
    }
    body["primary"] = json{{"hash", p["hash"]}, {"prev", p["prev"]}, {"seq", seq}};
    bodies.push_back(std::move(body));
    is_copy.push_back(true);
    inbox_->pop();
  }
  if (taken == 0) {
    return false;
  }
  if (!bodies.empty()) {
    const std::size_t committed = write_batch(bodies, 0);
    // A record not written is counted lost by write_batch; the chain followed stays followed
    // (the primary does not send these again on this connection).
    ship_stored_.fetch_add(
        static_cast<std::uint64_t>(std::count(is_copy.begin(), is_copy.begin() + committed, true)),
        std::memory_order_relaxed);
  }
  // The link acknowledges up to here: what is acknowledged is on this node's disk.
  publish_held(chain_seq_, chain_hash_);
  if (restarts != 0) {
    restarts_taken_.fetch_add(restarts, std::memory_order_release);
  }
  if (resend) {
    resend_wanted_.store(true, std::memory_order_release);
  }
  return true;
}

bool AuditLog::open_ship_reader(std::uint64_t from) {
  const std::vector<std::string> files = audit_files(settings_.dir);
  if (files.empty()) {
    return false;
  }
  std::size_t pick = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (first_seq_of(files[i]) <= from) {
      pick = i;
    }
  }
  const std::uint64_t first = first_seq_of(files[pick]);
  if (first > from) {
    // Pruned (keep_files) before the standby had them: they cannot be shipped. The standby
    // finds the gap and asks; the restart then says where we begin.
    ship_dropped_.fetch_add(first - from, std::memory_order_relaxed);
    ship_done_ = first - 1;
  }
  auto reader = std::make_unique<std::ifstream>(files[pick]);
  if (!reader->is_open()) {
    fail(files[pick] + ": cannot be read for the standby");
    return false;
  }
  ship_reader_ = std::move(reader);
  ship_file_first_ = first;
  return true;
}

// A new ship_after(): where the standby stands, checked against our files. Queues the restart
// entry; false when it cannot be decided yet (no record, no room, or another round came).
bool AuditLog::start_round(std::uint64_t round) {
  const std::uint64_t held = ship_held_.load(std::memory_order_relaxed);
  std::array<std::uint8_t, 32> hash{};
  for (std::size_t i = 0; i < ship_hash_.size(); ++i) {
    const std::uint64_t word = ship_hash_[i].load(std::memory_order_relaxed);
    std::memcpy(hash.data() + 8 * i, &word, 8);
  }
  if (ship_round_.load(std::memory_order_acquire) != round) {
    return false;  // asked again meanwhile: the next pump takes the new round
  }
  const std::vector<std::string> files = audit_files(settings_.dir);
  const json oldest = oldest_record(files);
  if (oldest.is_null()) {
    return false;  // nothing written yet
  }
  const std::uint64_t first = oldest["seq"].get<std::uint64_t>();
  std::uint64_t after = first - 1;
  std::string prev = oldest["prev"].get<std::string>();
  const std::string said = hex_of(hash);
  if (held != 0 && held >= first) {
    const json record = record_in_files(files, held);
    // The same chain when our record `held` has the hash the standby holds (zeros: a standby
    // that did not say; its seq is trusted). Otherwise our directory began a new chain (or the
    // standby's copy is of another primary): everything we have goes.
    if (!record.is_null() && (said == kZeroHash || record["hash"] == said)) {
      after = held;
      prev = record["hash"].get<std::string>();
    }
  } else if (held != 0 && held < first - 1) {
    ship_dropped_.fetch_add(first - 1 - held, std::memory_order_relaxed);  // pruned unshipped
  }
  ShipSlot& slot = *ship_slot_;
  slot.round = round;
  slot.restart = true;
  slot.seq = after;
  const std::array<std::uint8_t, 32> prev_bytes = bytes_of(prev);
  slot.length = static_cast<std::uint32_t>(prev_bytes.size());
  std::memcpy(slot.line, prev_bytes.data(), prev_bytes.size());
  (void)outbox_->push(slot);  // room checked by the caller; the only producer
  ship_done_ = after;
  ship_reader_.reset();
  return true;
}

bool AuditLog::pump_shipping() {
  const std::uint64_t round = ship_round_.load(std::memory_order_acquire);
  if (round != ship_round_seen_) {
    ship_round_seen_ = round;
    shipping_ = ship_on_.load(std::memory_order_relaxed);
    ship_restart_due_ = shipping_;
    ship_reader_.reset();
  }
  if (!shipping_) {
    return false;
  }
  bool worked = false;
  if (ship_restart_due_) {
    if (outbox_->write_available() == 0 || !start_round(round)) {
      return false;
    }
    ship_restart_due_ = false;
    worked = true;
  }
  const std::uint64_t head = head_seq_.load(std::memory_order_relaxed);  // ours: the writer
  // ship_done_ < head: never past the newest record, and no seq + 1 that could wrap.
  while (ship_done_ < head && outbox_->write_available() > 0) {
    if (ship_reader_ == nullptr && !open_ship_reader(ship_done_ + 1)) {
      break;
    }
    if (!std::getline(*ship_reader_, ship_line_)) {
      // The end of this file: the rest is in the next one (rotation), if there is one yet.
      ship_reader_->clear();
      const std::vector<std::string> files = audit_files(settings_.dir);
      const auto next = std::find_if(files.begin(), files.end(), [&](const std::string& f) {
        return first_seq_of(f) > ship_file_first_;
      });
      if (next == files.end()) {
        break;
      }
      auto reader = std::make_unique<std::ifstream>(*next);
      if (!reader->is_open()) {
        break;
      }
      ship_reader_ = std::move(reader);
      ship_file_first_ = first_seq_of(*next);
      continue;
    }
    const json j = json::parse(ship_line_, nullptr, false);
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned()) {
      continue;  // not a record (verify names it); nothing to ship
    }
    const std::uint64_t seq = j["seq"].get<std::uint64_t>();
    if (seq <= ship_done_) {
      continue;  // the standby has it
    }
    ship_done_ = seq;
    ShipSlot& slot = *ship_slot_;
    slot.round = round;
    slot.restart = false;
    slot.seq = seq;
    if (j.contains("primary")) {
      // The peer's own record, stored here while it was primary: it has it. Its place in our
      // chain goes, so that the standby can follow the chain across it.
      if (!is_hash(j, "hash") || !is_hash(j, "prev")) {
        continue;
      }
      const int n = std::snprintf(slot.line, sizeof(slot.line),
                                  "{\"hash\":\"%s\",\"prev\":\"%s\",\"seq\":%llu,\"stub\":\"copy\"}",
                                  j["hash"].get_ref<const std::string&>().c_str(),
                                  j["prev"].get_ref<const std::string&>().c_str(),
                                  static_cast<unsigned long long>(seq));
      slot.length = static_cast<std::uint32_t>(n);
    } else {
      if (ship_line_.size() > kShipLineBytes) {
        ship_dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      slot.length = static_cast<std::uint32_t>(ship_line_.size());
      std::memcpy(slot.line, ship_line_.data(), ship_line_.size());
    }
    (void)outbox_->push(slot);  // room checked above; this thread is the only producer
    worked = true;
  }
  return worked;
}

// Where this node's copy of the primary's chain stands: the last record in its files that
// holds `primary` (file order, not the highest seq: a new chain on the primary starts low), and
// the operation records of the newest files (each operation is kept once).
void AuditLog::find_shipped_head() {
  const std::vector<std::string> files = audit_files(settings_.dir);
  bool found = false;
  std::size_t scanned = 0;
  for (auto f = files.rbegin(); f != files.rend() && (!found || scanned < 2); ++f, ++scanned) {
    std::ifstream in(*f);
    std::string line;
    std::uint64_t seq = 0;
    std::string hash;
    bool here = false;
    while (std::getline(in, line)) {
      const bool copy = line.find("\"primary\":{") != std::string::npos;
      const bool operation = line.find("\"operation.high_risk\"") != std::string::npos;
      if (!copy && !(operation && scanned < 2)) {
        continue;
      }
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) {
        continue;
      }
      if (copy && j.contains("primary") && j["primary"].is_object() &&
          j["primary"].contains("seq") && j["primary"]["seq"].is_number_unsigned() &&
          is_hash(j["primary"], "hash")) {
        seq = j["primary"]["seq"].get<std::uint64_t>();
        hash = j["primary"]["hash"].get<std::string>();
        here = true;
      }
      if (operation && scanned < 2) {
        for (const char* key : {"hash", "prev", "seq", "primary"}) {
          j.erase(key);
        }
        (void)seen_operation(j);
      }
    }
    if (here && !found) {
      found = true;
      chain_seq_ = seq;
      chain_hash_ = hash;
    }
  }
  if (!found) {
    chain_seq_ = 0;
    chain_hash_ = kZeroHash;
  }
  publish_held(chain_seq_, chain_hash_);
}

}  // namespace acd::control
