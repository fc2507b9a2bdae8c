// The audit log's writer: the bounded queue in, the hash chain, the files (rotation, pruning, the
// torn tail at start). Reading and verification are in audit_verify.cpp.
#include "acd/control/audit_log.hpp"
#include "acd/dataplane/thread_name.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace acd::control {

using nlohmann::json;

namespace {

constexpr std::size_t kBatch = 256;
constexpr std::size_t kTornKept = 200;  // bytes of a torn line kept in its record

struct KindInfo {
  std::string_view name;
  std::string_view help;
};
constexpr KindInfo kKinds[] = {
#define ACD_AUDIT_KIND_INFO(name, text, help) {text, help},
    ACD_AUDIT_KINDS(ACD_AUDIT_KIND_INFO)
#undef ACD_AUDIT_KIND_INFO
};
static_assert(sizeof(kKinds) / sizeof(kKinds[0]) == kAuditKindCount);

std::string errno_text() {
  return std::strerror(errno);
}

// The whole file, or nullopt.
std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (n < 0) {
    return std::nullopt;
  }
  return text;
}

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    ::close(fd);
  }
}

std::string file_name(const std::string& dir, std::uint64_t first_seq) {
  char name[64];
  std::snprintf(name, sizeof(name), "/audit-%020llu.log",
                static_cast<unsigned long long>(first_seq));
  return dir + name;
}

const std::string kGenesis(64, '0');

}  // namespace

std::string_view audit_kind_name(AuditKind kind) {
  return kKinds[static_cast<std::size_t>(kind)].name;
}

std::string_view audit_kind_help(AuditKind kind) {
  return kKinds[static_cast<std::size_t>(kind)].help;
}

std::string_view audit_outcome_name(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::Ok:
      return "ok";
    case AuditOutcome::Refused:
      return "refused";
    case AuditOutcome::Denied:
      return "denied";
    case AuditOutcome::Failed:
      return "failed";
    case AuditOutcome::Requested:
      return "requested";
    case AuditOutcome::Cancelled:
      return "cancelled";
  }
  return "?";
}

AuditRecord AuditRecord::make(AuditKind kind, AuditOutcome outcome, std::string_view actor,
                              std::string_view subject, const json& detail) {
  AuditRecord r;
  r.kind = kind;
  r.outcome = outcome;
  set_text(r.actor, actor);
  set_text(r.subject, subject);
  if (detail.is_object() && !detail.empty()) {
    set_text(r.detail, detail.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return r;
}

std::string audit_hash(std::string_view prev_hex, std::string_view canonical) {
  unsigned char prev[32] = {};
  std::size_t got = 0;
  if (prev_hex.size() != 64 ||
      sodium_hex2bin(prev, sizeof(prev), prev_hex.data(), prev_hex.size(), nullptr, &got,
                     nullptr) != 0 ||
      got != sizeof(prev)) {
    std::memset(prev, 0, sizeof(prev));
  }
  unsigned char out[32];
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof(out));
  crypto_generichash_update(&state, prev, sizeof(prev));
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(canonical.data()),
                            canonical.size());
  crypto_generichash_final(&state, out, sizeof(out));
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
  return hex;
}

std::string audit_config_hash(const std::string& path) {
  std::string text;
  if (path.empty()) {
    text = embedded_default_config();
  } else if (std::optional<std::string> read = read_file(path)) {
    text = std::move(*read);
  } else {
    return "";
  }
  unsigned char out[32];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
  return hex;
}

std::string format_audit_time(std::int64_t unix_ms) {
  const std::time_t s = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&s, &utc);
  char text[96];  // room for any int the compiler imagines
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(((unix_ms % 1000) + 1000) % 1000));
  return text;
}

// ---- the log ----

AuditLog::AuditLog(const Options& options)
    : settings_(options.settings),
      queue_(std::clamp<std::size_t>(options.queue_capacity, 1, 65535)),
      last_hash_(kGenesis),
      outbox_(std::make_unique<ShipRing>(kShipSlots)),
      inbox_(std::make_unique<ShipRing>(kShipSlots)),
      ship_slot_(std::make_unique<ShipSlot>()),
      in_slot_(std::make_unique<ShipSlot>()) {}

AuditLog::~AuditLog() {
  stop();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const Options& options) {
  if (sodium_init() < 0) {
    return Failure{ControlError::Refused, "libsodium could not start"};
  }
  std::unique_ptr<AuditLog> log(new AuditLog(options));
  const std::string& dir = log->settings_.dir;
  if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return Failure{ControlError::Refused,
                   dir + ": cannot create the audit directory (" + errno_text() + ")"};
  }
  if (Result<void> resumed = log->resume(); !resumed.ok()) {
    return resumed.failure();
  }
  return log;
}

// The newest file's last complete line gives the chain's head; bytes after it are a torn line.
// Older files are looked at only when the newest holds no complete record.
Result<void> AuditLog::resume() {
  const std::string& dir = settings_.dir;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return Failure{ControlError::Refused,
                   dir + ": cannot read the audit directory (" + errno_text() + ")"};
  }
  closedir(d);
  const std::vector<std::string> files = audit_files(dir);
  bool head_found = false;
  for (auto f = files.rbegin(); f != files.rend() && !head_found; ++f) {
    const std::optional<std::string> text = read_file(*f);
    if (!text) {
      return Failure{ControlError::Refused, *f + ": cannot be read (" + errno_text() + ")"};
    }
    const std::size_t end = text->rfind('\n');
    const std::size_t complete = end == std::string::npos ? 0 : end + 1;
    if (f == files.rbegin() && complete < text->size()) {
      // Torn: cut it, and say so in the log itself.
      const std::string torn = text->substr(complete);
      if (truncate(f->c_str(), static_cast<off_t>(complete)) != 0) {
        return Failure{ControlError::Refused,
                       *f + ": cannot cut its torn last line (" + errno_text() + ")"};
      }
      const json detail{{"file", *f},
                        {"offset", complete},
                        {"bytes", torn.size()},
                        {"text", torn.substr(0, kTornKept)}};
      AuditRecord r =
          AuditRecord::make(AuditKind::TornTail, AuditOutcome::Failed, "acdd", *f, detail);
      (void)record(r);
    }
    // The last line that parses and has seq and hash.
    std::size_t line_end = complete;  // one past the newline of the line looked at
    while (line_end > 0 && !head_found) {
      const std::size_t newline =
          line_end >= 2 ? text->rfind('\n', line_end - 2) : std::string::npos;
      const std::size_t from = newline == std::string::npos ? 0 : newline + 1;
      const json j =
          json::parse(std::string_view(*text).substr(from, line_end - 1 - from), nullptr, false);
      if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() &&
          j.contains("hash") && j["hash"].is_string()) {
        next_seq_ = j["seq"].get<std::uint64_t>() + 1;
        last_hash_ = j["hash"].get<std::string>();
        head_found = true;
      }
      line_end = from;
    }
  }
  head_seq_.store(next_seq_ - 1, std::memory_order_relaxed);
  find_shipped_head();
  // Append to the newest file while it has room, else start one.
  if (!files.empty()) {
    struct stat st {};
    if (stat(files.back().c_str(), &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) < settings_.max_file_bytes) {
      fd_ = ::open(files.back().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd_ < 0) {
        return Failure{ControlError::Refused,
                       files.back() + ": cannot be opened for writing (" + errno_text() + ")"};
      }
      file_bytes_ = static_cast<std::uint64_t>(st.st_size);
      return {};
    }
  }
  return {};  // the writer opens a file at its first record
}

void AuditLog::start() {
  if (!thread_.joinable() && !stop_.load(std::memory_order_acquire)) {
    thread_ = std::thread([this] { run(); });
  }
}

void AuditLog::stop() {
  accepting_.store(false, std::memory_order_release);
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool AuditLog::record(const AuditRecord& record) noexcept {
  if (!accepting_.load(std::memory_order_acquire)) {
    dropped_total_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  AuditRecord stamped = record;
  if (stamped.time_ms == 0) {
    stamped.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  }
  if (!queue_.bounded_push(stamped)) {
    pending_drops_.fetch_add(1, std::memory_order_relaxed);
    dropped_total_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void AuditLog::on_agent_event(const dataplane::AgentAuditEvent& event) noexcept {
  using What = dataplane::AgentAuditEvent::What;
  AuditRecord r;
  switch (event.what) {
    case What::SignIn:
      r.kind = AuditKind::AgentSignIn;
      r.outcome = AuditOutcome::Ok;
      break;
    case What::SignInRefused:
      r.kind = AuditKind::AgentSignInFailed;
      r.outcome = AuditOutcome::Refused;
      break;
    case What::SignOut:
      r.kind = AuditKind::AgentSignOut;
      r.outcome = AuditOutcome::Requested;
      break;
    case What::ForceLogout:
      r.kind = AuditKind::AgentForceLogout;
      r.outcome = AuditOutcome::Requested;
      break;
  }
  // snprintf into the fixed arrays: no allocation on the IO thread.
  std::snprintf(r.actor, sizeof(r.actor), "client=%u", event.client_id);
  std::snprintf(r.subject, sizeof(r.subject), "agent=%llu",
                static_cast<unsigned long long>(event.agent));
  std::snprintf(r.detail, sizeof(r.detail), "{\"device\":%llu}",
                static_cast<unsigned long long>(event.device));
  (void)record(r);
}

namespace {

std::string_view client_role_text(dataplane::wire::Role role) {
  switch (role) {
    case dataplane::wire::Role::Switch:
      return "switch";
    case dataplane::wire::Role::Desktop:
      return "desktop";
    case dataplane::wire::Role::Supervisor:
      return "supervisor";
    case dataplane::wire::Role::Site:
      return "site";
    case dataplane::wire::Role::None:
      break;
  }
  return "none";
}

std::string_view client_event_text(dataplane::ClientAuditEvent::What what) {
  switch (what) {
    case dataplane::ClientAuditEvent::What::Registered:
      return "registered";
    case dataplane::ClientAuditEvent::What::HandshakeRefused:
      return "handshake_refused";
    case dataplane::ClientAuditEvent::What::MessageRefused:
      break;
  }
  return "message_refused";
}

// "address=192.0.2.7:4000" into `out`.
void address_text(const char* prefix, std::uint32_t address, std::uint16_t port, char* out,
                  std::size_t size) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(&address);  // network order
  std::snprintf(out, size, "%s%u.%u.%u.%u:%u", prefix, b[0], b[1], b[2], b[3],
                static_cast<unsigned>(port));
}

}  // namespace

void AuditLog::on_client_event(const dataplane::ClientAuditEvent& event) noexcept {
  using What = dataplane::ClientAuditEvent::What;
  ClientBudget& budget = client_budgets_[static_cast<std::size_t>(event.what)];
  const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
  std::int64_t counted = budget.second.load(std::memory_order_relaxed);
  if (counted != second &&
      budget.second.compare_exchange_strong(counted, second, std::memory_order_relaxed)) {
    budget.used.store(0, std::memory_order_relaxed);
  }
  if (budget.used.fetch_add(1, std::memory_order_relaxed) >= kClientRecordsPerSecond) {
    budget.left_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // snprintf into the fixed arrays: no allocation on the IO thread or the worker.
  AuditRecord r;
  char client[24];
  std::snprintf(client, sizeof(client), "client=%u", event.client_id);
  switch (event.what) {
    case What::Registered:
      r.kind = AuditKind::ClientRegistered;
      r.outcome = AuditOutcome::Ok;
      AuditRecord::set_text(r.actor, client);
      address_text("address=", event.address, event.port, r.subject, sizeof(r.subject));
      std::snprintf(r.detail, sizeof(r.detail), "{\"role\":\"%.*s\"}",
                    static_cast<int>(client_role_text(event.role).size()),
                    client_role_text(event.role).data());
      break;
    case What::HandshakeRefused:
      r.kind = AuditKind::ClientRefused;
      r.outcome = AuditOutcome::Denied;
      address_text("address=", event.address, event.port, r.actor, sizeof(r.actor));
      AuditRecord::set_text(r.subject, event.client_id != 0 ? client : "client=unknown");
      std::snprintf(r.detail, sizeof(r.detail), "{\"reason\":\"%.*s\",\"stage\":\"handshake\"}",
                    static_cast<int>(event.reason.size()), event.reason.data());
      break;
    case What::MessageRefused: {
      r.kind = AuditKind::ClientRefused;
      r.outcome = AuditOutcome::Denied;
      AuditRecord::set_text(r.actor, client);
      std::snprintf(r.subject, sizeof(r.subject), "message=%u",
                    static_cast<unsigned>(event.message_type));
      char from[40];
      address_text("", event.address, event.port, from, sizeof(from));
      std::snprintf(r.detail, sizeof(r.detail),
                    "{\"address\":\"%s\",\"reason\":\"%.*s\",\"seq\":%llu,\"stage\":\"message\"}",
                    from, static_cast<int>(event.reason.size()), event.reason.data(),
                    static_cast<unsigned long long>(event.seq));
      break;
    }
  }
  (void)record(r);
}

void AuditLog::summarise_client_events(std::vector<json>& batch, bool stopping) {
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  for (std::size_t i = 0; i < client_budgets_.size(); ++i) {
    if (client_budgets_[i].left_out.load(std::memory_order_relaxed) == 0 ||
        (!stopping && now_ms - client_summary_ms_[i] < 1000)) {
      continue;
    }
    const std::uint64_t n = client_budgets_[i].left_out.exchange(0, std::memory_order_relaxed);
    const auto what = static_cast<dataplane::ClientAuditEvent::What>(i);
    const bool registered = what == dataplane::ClientAuditEvent::What::Registered;
    AuditRecord s =
        AuditRecord::make(registered ? AuditKind::ClientRegistered : AuditKind::ClientRefused,
                          registered ? AuditOutcome::Ok : AuditOutcome::Denied, "acdd", "clients",
                          json{{"event", client_event_text(what)},
                               {"not_recorded", n},
                               {"limit_per_second", kClientRecordsPerSecond}});
    s.time_ms = now_ms;
    batch.push_back(body_of(s));
    client_summary_ms_[i] = now_ms;
  }
}

namespace {

// The name of an operation kind as the record shows it: the named ones by name, a bank's own
// code as "bank-N".
void operation_name(std::uint16_t kind, char* out, std::size_t size) {
  static constexpr const char* kNames[] = {"contact_details_change", "credential_reset",
                                           "card_block_change",      "large_transfer",
                                           "limit_change",           "account_closure"};
  if (kind >= 1 && kind <= dataplane::wire::kMaxNamedOperation) {
    std::snprintf(out, size, "%s", kNames[kind - 1]);
  } else {
    std::snprintf(out, size, "bank-%u", static_cast<unsigned>(kind));
  }
}

AuditOutcome outcome_of(dataplane::wire::OperationOutcome o) {
  switch (o) {
    case dataplane::wire::OperationOutcome::Completed:
      return AuditOutcome::Ok;
    case dataplane::wire::OperationOutcome::Refused:
      return AuditOutcome::Refused;
    case dataplane::wire::OperationOutcome::Failed:
      return AuditOutcome::Failed;
    case dataplane::wire::OperationOutcome::Cancelled:
      break;
  }
  return AuditOutcome::Cancelled;
}

}  // namespace

void AuditLog::on_operation(const dataplane::OperationAuditEvent& event) noexcept {
  AuditRecord r;
  r.kind = AuditKind::Operation;
  r.outcome = outcome_of(event.report.outcome);
  r.time_ms = event.wall_ms;
  std::snprintf(r.actor, sizeof(r.actor), "client=%u", event.client_id);
  std::snprintf(r.subject, sizeof(r.subject), "agent=%llu",
                static_cast<unsigned long long>(event.agent));
  char name[32];
  operation_name(event.report.kind, name, sizeof(name));
  char customer[2 * sizeof(event.report.customer_hash) + 1];
  for (std::size_t i = 0; i < sizeof(event.report.customer_hash); ++i) {
    std::snprintf(customer + 2 * i, 3, "%02x", event.report.customer_hash[i]);
  }
  // Keys sorted, as the record's serialisation sorts them anyway.
  std::snprintf(r.detail, sizeof(r.detail),
                "{\"customer\":\"%s\",\"log_seq\":%llu,\"operation\":\"%s\",\"ticket\":%llu}",
                customer, static_cast<unsigned long long>(event.log_seq), name,
                static_cast<unsigned long long>(event.report.ticket));
  (void)record(r);
}

std::string AuditLog::last_error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return last_error_;
}

void AuditLog::fail(const std::string& what) {
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  std::fprintf(stderr, "acdd: audit log: %s\n", what.c_str());
  std::lock_guard<std::mutex> lock(error_mutex_);
  last_error_ = what;
}

void AuditLog::run() {
  dataplane::name_this_thread("acd-audit");
  std::vector<json> batch;
  batch.reserve(kBatch + 1);
  for (;;) {
    const bool stopping = stop_.load(std::memory_order_acquire);
    batch.clear();
    // The primary's lines already handed over: the IO thread queued this node's own records
    // before them (an operation applied from the replicated log comes before the primary's
    // shipped record of it), so those are taken first and the log's copy is the one kept.
    const std::size_t shipped_ready = inbox_->read_available();
    AuditRecord r;
    bool drained = true;
    while (batch.size() < kBatch) {
      if (!queue_.pop(r)) {
        break;
      }
      json body = body_of(r);
      if (r.kind == AuditKind::Operation && seen_operation(body)) {
        continue;  // the primary's shipped record of this operation is here already
      }
      batch.push_back(std::move(body));
    }
    if (batch.size() == kBatch) {
      drained = false;
    }
    // Room was made: the records that found none are counted in the log itself.
    const std::uint64_t lost_in_batch = pending_drops_.exchange(0, std::memory_order_relaxed);
    if (const std::uint64_t lost = lost_in_batch; lost != 0) {
      AuditRecord l = AuditRecord::make(AuditKind::RecordsLost, AuditOutcome::Failed, "acdd",
                                        "audit", json{{"lost", lost}});
      l.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      batch.push_back(body_of(l));
    }
    summarise_client_events(batch, stopping);
    bool worked = false;
    if (!batch.empty()) {
      (void)write_batch(batch, lost_in_batch);
      worked = true;  // more may be waiting
    }
    worked = (drained && store_shipped(shipped_ready)) || worked;
    worked = pump_shipping() || worked;
    if (worked) {
      continue;
    }
    if (stopping) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

json AuditLog::body_of(const AuditRecord& r) {
  json j;
  j["time"] = format_audit_time(r.time_ms);
  j["kind"] = audit_kind_name(r.kind);
  j["outcome"] = audit_outcome_name(r.outcome);
  j["actor"] = std::string(r.actor, strnlen(r.actor, sizeof(r.actor)));
  j["subject"] = std::string(r.subject, strnlen(r.subject, sizeof(r.subject)));
  const std::string detail(r.detail, strnlen(r.detail, sizeof(r.detail)));
  if (!detail.empty()) {
    json d = json::parse(detail, nullptr, false);
    if (!d.is_object()) {  // cut to fit: keep what there is as text
      d = json{{"truncated", true}, {"text", detail}};
    }
    j["detail"] = std::move(d);
  }
  return j;
}

std::string AuditLog::chain(const json& body) {
  json j = body;
  j["seq"] = next_seq_;
  j["prev"] = last_hash_;
  const std::string canonical = j.dump(-1, ' ', false, json::error_handler_t::replace);
  last_hash_ = audit_hash(last_hash_, canonical);
  j["hash"] = last_hash_;
  ++next_seq_;
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<void> AuditLog::open_file(std::uint64_t first_seq) {
  const std::string path = file_name(settings_.dir, first_seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return Failure{ControlError::Refused, path + ": cannot be created (" + errno_text() + ")"};
  }
  (void)fchmod(fd, 0640);  // whatever the umask
  if (fd_ >= 0) {
    (void)fdatasync(fd_);
    ::close(fd_);
  }
  fd_ = fd;
  struct stat st {};
  file_bytes_ = fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  sync_dir(settings_.dir);
  return {};
}

void AuditLog::prune() {
  std::vector<std::string> files = audit_files(settings_.dir);
  bool removed = false;
  for (std::size_t i = 0; i + settings_.keep_files < files.size(); ++i) {
    if (unlink(files[i].c_str()) != 0) {
      fail(files[i] + ": cannot be deleted (" + errno_text() + ")");
    }
    removed = true;
  }
  if (removed) {
    sync_dir(settings_.dir);
  }
}

// One write() per file touched and one fdatasync() per batch (and per file closed). On an error
// the chain goes back to its last record on disk, the open file is cut back to its size then, and
// the records not written count as lost. `lost` is what the batch's last record (a RecordsLost
// one, if lost != 0) reports, so that a failed batch does not count that record as one.
std::size_t AuditLog::write_batch(const std::vector<json>& records, std::uint64_t lost) {
  std::uint64_t committed_seq = next_seq_;
  std::string committed_hash = last_hash_;
  std::size_t committed = 0;  // records of the batch on disk
  std::string pending;
  std::size_t pending_records = 0;
  // Writes `pending` and syncs; false (with the file cut back) on an error.
  auto commit = [&]() -> bool {
    std::size_t done = 0;
    while (done < pending.size()) {
      const ssize_t n = ::write(fd_, pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        fail("write failed (" + errno_text() + ")");
        (void)ftruncate(fd_, static_cast<off_t>(file_bytes_));
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    if (!pending.empty() && fdatasync(fd_) != 0) {
      fail("fdatasync failed (" + errno_text() + ")");
      (void)ftruncate(fd_, static_cast<off_t>(file_bytes_));
      return false;
    }
    file_bytes_ += pending.size();
    pending.clear();
    committed += pending_records;
    pending_records = 0;
    committed_seq = next_seq_;
    committed_hash = last_hash_;
    return true;
  };
  bool ok = true;
  bool exhausted = false;
  for (const json& r : records) {
    if (next_seq_ == 0) {
      // Past seq 2^64 - 1 the chain cannot go on (seq would wrap): refused, counted lost.
      fail("the audit chain is exhausted (seq 18446744073709551615 was the last)");
      ok = false;
      exhausted = true;
      break;
    }
    const std::uint64_t seq = next_seq_;
    const std::string hash = last_hash_;
    std::string line = chain(r);
    const bool full = fd_ >= 0 && file_bytes_ + pending.size() > 0 &&
                      file_bytes_ + pending.size() + line.size() > settings_.max_file_bytes;
    if (fd_ < 0 || full) {
      // The line goes to a new file: commit what came before it under the old head.
      next_seq_ = seq;
      last_hash_ = hash;
      if (fd_ >= 0 && !commit()) {
        ok = false;
        break;
      }
      if (Result<void> opened = open_file(seq); !opened.ok()) {
        fail(opened.failure().message);
        ok = false;
        break;
      }
      prune();
      line = chain(r);
    }
    pending += line;
    ++pending_records;
  }
  if (ok || exhausted) {
    ok = commit() && !exhausted;
  }
  written_.fetch_add(committed, std::memory_order_relaxed);
  head_seq_.store(committed_seq - 1, std::memory_order_relaxed);
  if (!ok) {
    next_seq_ = committed_seq;
    last_hash_ = committed_hash;
    std::uint64_t missing = records.size() - committed;
    if (lost != 0 && missing != 0) {
      missing += lost - 1;  // the RecordsLost record (last) stands for `lost` records
    }
    dropped_total_.fetch_add(records.size() - committed - (lost != 0 && missing != 0 ? 1 : 0),
                             std::memory_order_relaxed);
    if (exhausted) {
      return committed;  // no records_lost record can follow: nothing is left to number it
    }
    pending_drops_.fetch_add(missing, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a broken disk: slow down
  }
  return committed;
}

}  // namespace acd::control
