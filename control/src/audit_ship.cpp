// The audit log in a pair: the primary's writer reading its own records back from its files for
// the standby, the IO thread's hand-offs in both directions, and the standby's writer appending
// the primary's records to its own chain (control/DESIGN.md "Audit log", "The pair").
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

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

// Why `line` (parsed as `p`) is not a whole record of the primary numbered `seq`; "" if it is.
std::string check_primary_record(const json& p, std::uint64_t seq) {
  if (!p.is_object()) {
    return "not a JSON object";
  }
  if (!p.contains("seq") || !p["seq"].is_number_unsigned() || p["seq"].get<std::uint64_t>() != seq) {
    return "its seq is not the one it was shipped with";
  }
  if (!p.contains("prev") || !p["prev"].is_string() || !p.contains("hash") ||
      !p["hash"].is_string()) {
    return "no prev or hash";
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

}  // namespace

// ---- IO thread ----

void AuditLog::ship_after(std::uint64_t held) noexcept {
  ship_from_.store(held + 1, std::memory_order_relaxed);
  ship_round_.fetch_add(1, std::memory_order_release);  // pairs with pump_shipping's acquire
}

void AuditLog::stop_shipping() noexcept {
  ship_from_.store(0, std::memory_order_relaxed);
  ship_round_.fetch_add(1, std::memory_order_release);
}

void AuditLog::on_audit_line(std::uint64_t primary_seq,
                             std::span<const std::uint8_t> line) noexcept {
  if (line.size() > kShipLineBytes || inbox_->write_available() == 0) {
    // Lost here: counted, and an audit.records_lost record says so in this node's log.
    ship_dropped_.fetch_add(1, std::memory_order_relaxed);
    dropped_total_.fetch_add(1, std::memory_order_relaxed);
    pending_drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ShipSlot& slot = *in_slot_;
  slot.round = 0;
  slot.seq = primary_seq;
  slot.length = static_cast<std::uint32_t>(line.size());
  std::memcpy(slot.line, line.data(), line.size());
  (void)inbox_->push(slot);  // room checked above; this thread is the only producer
}

std::uint64_t AuditLog::ship_lag() const {
  if (ship_round_.load(std::memory_order_relaxed) == 0) {
    return 0;  // no standby ever asked
  }
  const std::uint64_t head = head_seq_.load(std::memory_order_relaxed);
  const std::uint64_t acked = ship_acked_.load(std::memory_order_relaxed);
  return head > acked ? head - acked : 0;
}

// ---- writer thread ----

bool AuditLog::store_shipped() {
  std::vector<json> bodies;
  std::vector<std::uint64_t> seqs;
  std::uint64_t last = shipped_held_.load(std::memory_order_relaxed);  // ours: the writer
  while (bodies.size() < kShipBatch && inbox_->read_available() > 0) {
    const ShipSlot& slot = inbox_->front();
    const std::uint64_t seq = slot.seq;
    if (seq <= last) {
      inbox_->pop();  // sent again after a reconnection: already here
      continue;
    }
    const std::string_view line(slot.line, slot.length);
    json p = json::parse(line, nullptr, false);
    if (const std::string why = check_primary_record(p, seq); !why.empty()) {
      ship_dropped_.fetch_add(1, std::memory_order_relaxed);
      fail("the primary's record " + std::to_string(seq) + " was not stored: " + why);
      inbox_->pop();
      continue;
    }
    json body = p;
    body.erase("hash");
    body.erase("prev");
    body.erase("seq");
    body["primary"] = json{{"hash", p["hash"]}, {"prev", p["prev"]}, {"seq", seq}};
    bodies.push_back(std::move(body));
    seqs.push_back(seq);
    last = seq;
    inbox_->pop();
  }
  if (bodies.empty()) {
    return false;
  }
  const std::size_t committed = write_batch(bodies, 0);
  if (committed != 0) {
    ship_stored_.fetch_add(committed, std::memory_order_relaxed);
    // The link acknowledges up to here: what is acknowledged is on this node's disk.
    shipped_held_.store(seqs[committed - 1], std::memory_order_release);
  }
  if (committed != bodies.size()) {
    // Counted lost by write_batch; later ones are taken as they come (the primary does not send
    // these again on this connection).
    shipped_held_.store(seqs.back(), std::memory_order_release);
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
    // Pruned (keep_files) before the standby had them: they cannot be shipped.
    ship_dropped_.fetch_add(first - from, std::memory_order_relaxed);
    ship_next_ = first;
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

bool AuditLog::pump_shipping() {
  const std::uint64_t round = ship_round_.load(std::memory_order_acquire);
  if (round != ship_round_seen_) {
    ship_round_seen_ = round;
    const std::uint64_t from = ship_from_.load(std::memory_order_relaxed);
    shipping_ = from != 0;
    ship_next_ = from;
    ship_reader_.reset();
  }
  if (!shipping_) {
    return false;
  }
  bool worked = false;
  while (ship_next_ < next_seq_ && outbox_->write_available() > 0) {
    if (ship_reader_ == nullptr && !open_ship_reader(ship_next_)) {
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
    if (seq < ship_next_) {
      continue;  // the standby has it
    }
    ship_next_ = seq + 1;
    if (j.contains("primary")) {
      continue;  // the peer's own record, stored here while it was primary: it has it
    }
    if (ship_line_.size() > kShipLineBytes) {
      ship_dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    ShipSlot& slot = *ship_slot_;
    slot.round = round;
    slot.seq = seq;
    slot.length = static_cast<std::uint32_t>(ship_line_.size());
    std::memcpy(slot.line, ship_line_.data(), ship_line_.size());
    (void)outbox_->push(slot);  // room checked above; this thread is the only producer
    worked = true;
  }
  return worked;
}

// The newest record shipped from the primary in this node's files: the standby resumes after it.
void AuditLog::find_shipped_head() {
  const std::vector<std::string> files = audit_files(settings_.dir);
  for (auto f = files.rbegin(); f != files.rend(); ++f) {
    std::ifstream in(*f);
    std::string line;
    std::uint64_t found = 0;
    while (std::getline(in, line)) {
      if (line.find("\"primary\":{") == std::string::npos) {
        continue;
      }
      const json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("primary") && j["primary"].is_object() &&
          j["primary"].contains("seq") && j["primary"]["seq"].is_number_unsigned()) {
        found = std::max(found, j["primary"]["seq"].get<std::uint64_t>());
      }
    }
    if (found != 0) {
      shipped_held_.store(found, std::memory_order_release);
      return;
    }
  }
}

}  // namespace acd::control
