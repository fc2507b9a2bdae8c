// The audit log: its hash chain verifies, and every kind of tampering (an edited field, a deleted
// record, two records swapped) is detected and names the record; rotation keeps the chain across
// files, pruning leaves a verifiable continuation, a torn last line is cut and recorded at the
// next start, a full queue loses records but says how many (in the log and in the metrics), and
// the sign-in records of a real pipeline hold no password and no hash.
#include <functional>
#include <limits>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "acd/control/audit_log.hpp"
#include "acd/control/credential_store.hpp"
#include "acd/control/metrics.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace acd::control {
namespace {

using nlohmann::json;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/acd-audit-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    dir_ = root_ + "/audit";
  }
  void TearDown() override { std::system(("rm -rf '" + root_ + "'").c_str()); }

  std::unique_ptr<AuditLog> open_log(std::uint64_t max_file_bytes = 16 << 20,
                                     std::uint32_t keep_files = 16, std::size_t capacity = 1024) {
    AuditLog::Options o;
    o.settings.dir = dir_;
    o.settings.max_file_bytes = max_file_bytes;
    o.settings.keep_files = keep_files;
    o.queue_capacity = capacity;
    Result<std::unique_ptr<AuditLog>> opened = AuditLog::open(o);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.failure().message);
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  // `n` command records, written and synced.
  void write_records(int n, std::uint64_t max_file_bytes = 16 << 20,
                     std::uint32_t keep_files = 16) {
    auto log = open_log(max_file_bytes, keep_files);
    ASSERT_NE(log, nullptr);
    log->start();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(log->record(AuditRecord::make(AuditKind::Command, AuditOutcome::Ok, "uid=0(root)",
                                                "agents ready " + std::to_string(i),
                                                {{"id", i}, {"cmd", "agents"}})));
    }
    log->stop();
    EXPECT_GE(log->written(), static_cast<std::uint64_t>(n));  // + a torn_tail record, if any
  }

  static std::vector<std::string> lines_of(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) {
      lines.push_back(l);
    }
    return lines;
  }
  static void write_lines(const std::string& file, const std::vector<std::string>& lines) {
    std::ofstream out(file, std::ios::trunc);
    for (const std::string& l : lines) {
      out << l << "\n";
    }
  }
  std::vector<json> all_records() {
    std::vector<json> out;
    for (const std::string& f : audit_files(dir_)) {
      for (const std::string& l : lines_of(f)) {
        out.push_back(json::parse(l));
      }
    }
    return out;
  }

  std::string root_;
  std::string dir_;
};

// Records chain from the genesis: verify passes, counts them, and the files are 0640.
TEST_F(AuditLogTest, ChainVerifies) {
  write_records(10);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.records, 10u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 10u);
  EXPECT_FALSE(r.continuation);
  const std::vector<json> records = all_records();
  EXPECT_EQ(records[0]["prev"], std::string(64, '0'));
  EXPECT_EQ(records[1]["prev"], records[0]["hash"]);
  EXPECT_EQ(records[3]["kind"], "control.command");
  EXPECT_EQ(records[3]["detail"]["id"], 3);
  struct stat st {};
  ASSERT_EQ(stat(audit_files(dir_).front().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// Editing any one field of the middle record is found, and names that record (line 3, seq 3).
TEST_F(AuditLogTest, EditingAnyFieldOfAMiddleRecordIsDetected) {
  write_records(5);
  const std::string file = audit_files(dir_).front();
  const std::vector<std::string> original = lines_of(file);
  const json edits = {{"seq", 33},
                      {"time", "2020-01-01T00:00:00.000Z"},
                      {"kind", "daemon.start"},
                      {"actor", "uid=1000(mallory)"},
                      {"subject", "nothing"},
                      {"outcome", "denied"},
                      {"detail", {{"id", 99}}},
                      {"prev", std::string(64, 'a')},
                      {"hash", std::string(64, 'b')}};
  for (const auto& [field, value] : edits.items()) {
    std::vector<std::string> lines = original;
    json j = json::parse(lines[2]);
    j[field] = value;
    lines[2] = j.dump();
    write_lines(file, lines);
    const AuditVerifyReport r = verify_audit_log(dir_);
    EXPECT_FALSE(r.ok) << field;
    EXPECT_EQ(r.file, file) << field;
    EXPECT_EQ(r.line, 3u) << field << ": " << r.why;
    EXPECT_FALSE(r.why.empty());
  }
  // One byte of a text, without re-serialising: the hash no longer matches.
  std::vector<std::string> lines = original;
  const std::size_t at = lines[2].find("root");
  ASSERT_NE(at, std::string::npos);
  lines[2][at] = 'R';
  write_lines(file, lines);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.seq, 3u);
  EXPECT_NE(r.why.find("hash mismatch"), std::string::npos) << r.why;
  // Restored, it verifies again.
  write_lines(file, original);
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

// A deleted record leaves a gap the next record shows.
TEST_F(AuditLogTest, DeletingARecordIsDetected) {
  write_records(5);
  const std::string file = audit_files(dir_).front();
  std::vector<std::string> lines = lines_of(file);
  lines.erase(lines.begin() + 2);
  write_lines(file, lines);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.seq, 4u);
  EXPECT_NE(r.why.find("seq gap"), std::string::npos) << r.why;
}

// Two records swapped: the first out of place is named.
TEST_F(AuditLogTest, ReorderingIsDetected) {
  write_records(5);
  const std::string file = audit_files(dir_).front();
  std::vector<std::string> lines = lines_of(file);
  std::swap(lines[1], lines[2]);
  write_lines(file, lines);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
  EXPECT_EQ(r.seq, 3u);
}

// A record that is whole (its hash matches its own prev) but hangs from another chain: spliced in
// from elsewhere, or re-hashed after an edit without re-hashing the records after it.
TEST_F(AuditLogTest, ARecordChainedToSomethingElseIsDetected) {
  write_records(5);
  const std::string file = audit_files(dir_).front();
  std::vector<std::string> lines = lines_of(file);
  json j = json::parse(lines[2]);
  j["prev"] = std::string(64, 'c');
  j.erase("hash");
  j["hash"] = audit_hash(std::string(64, 'c'), j.dump());
  lines[2] = j.dump();
  write_lines(file, lines);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_NE(r.why.find("prev mismatch"), std::string::npos) << r.why;
}

// A line that is not JSON is named as such.
TEST_F(AuditLogTest, BadJsonIsNamed) {
  write_records(3);
  const std::string file = audit_files(dir_).front();
  std::vector<std::string> lines = lines_of(file);
  lines[1] = "{not json";
  write_lines(file, lines);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
  EXPECT_EQ(r.why, "bad JSON");
}

// Small files: the log rotates; each file's first record chains to the last of the file before,
// and the whole verifies. A restart appends to the chain.
TEST_F(AuditLogTest, RotationKeepsTheChain) {
  write_records(60, 4096);
  std::vector<std::string> files = audit_files(dir_);
  ASSERT_GT(files.size(), 2u);
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    struct stat st {};
    ASSERT_EQ(stat(files[i].c_str(), &st), 0);
    EXPECT_LE(st.st_size, 4096);
    const json last = json::parse(lines_of(files[i]).back());
    const json first = json::parse(lines_of(files[i + 1]).front());
    EXPECT_EQ(first["prev"], last["hash"]);
    EXPECT_EQ(first["seq"].get<std::uint64_t>(), last["seq"].get<std::uint64_t>() + 1);
  }
  write_records(5, 4096);  // a restart
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.why;
  EXPECT_EQ(r.records, 65u);
  EXPECT_EQ(r.last_seq, 65u);
}

// keep_files prunes the oldest files; what remains verifies as a continuation. Deleting the oldest
// file by hand is the same.
TEST_F(AuditLogTest, PruningLeavesAVerifiableContinuation) {
  write_records(80, 4096, 3);
  const std::vector<std::string> files = audit_files(dir_);
  EXPECT_EQ(files.size(), 3u);
  AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_TRUE(r.continuation);
  EXPECT_GT(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 80u);
  ASSERT_EQ(unlink(files.front().c_str()), 0);
  r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_TRUE(r.continuation);
  EXPECT_EQ(r.first_seq, json::parse(lines_of(files[1]).front())["seq"].get<std::uint64_t>());
}

// A crash mid-write leaves a torn last line: the next start cuts it, records what it held, and
// continues the chain, which verifies.
TEST_F(AuditLogTest, TornTailIsCutAndRecordedAtStart) {
  write_records(3);
  const std::string file = audit_files(dir_).front();
  {
    std::ofstream out(file, std::ios::app);
    out << R"x({"actor":"uid=0(root)","detail":{"id":3)x";
  }
  EXPECT_FALSE(verify_audit_log(dir_).ok);  // torn, before the restart
  write_records(1);
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.line << ": " << r.why;
  const std::vector<json> records = all_records();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[3]["kind"], "audit.torn_tail");
  EXPECT_EQ(records[3]["seq"], 4);
  EXPECT_EQ(records[3]["detail"]["text"], R"x({"actor":"uid=0(root)","detail":{"id":3)x");
  EXPECT_EQ(records[4]["kind"], "control.command");
}

// A full queue never blocks: the records that find no room are dropped, counted, and a record
// says how many once the writer has made room.
TEST_F(AuditLogTest, AFullQueueRecordsTheLoss) {
  auto log = open_log(16 << 20, 16, 4);
  ASSERT_NE(log, nullptr);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) {
    accepted += log->record(AuditRecord::make(AuditKind::Command, AuditOutcome::Ok, "uid=0(root)",
                                              "agents ready " + std::to_string(i)))
                    ? 1
                    : 0;
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(log->dropped_total(), 6u);
  log->start();
  log->stop();
  const std::vector<json> records = all_records();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[3]["subject"], "agents ready 3");
  EXPECT_EQ(records[4]["kind"], "audit.records_lost");
  EXPECT_EQ(records[4]["detail"]["lost"], 6);
  EXPECT_TRUE(verify_audit_log(dir_).ok);
  MetricsSources sources;
  sources.audit = log.get();
  const std::string metrics = render_metrics(sources);
  EXPECT_NE(metrics.find("acd_audit_records_dropped_total 6"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("acd_audit_records_written_total 5"), std::string::npos) << metrics;
}

// Four threads record at once into a small queue while the writer runs: every record is either
// written or counted in an audit.records_lost record, and the chain verifies. (Watchdog: ctest's
// timeout; nothing here waits for anything but the writer.)
TEST_F(AuditLogTest, ManyThreadsEveryRecordWrittenOrCounted) {
  auto log = open_log(1 << 20, 1000, 64);
  ASSERT_NE(log, nullptr);
  log->start();
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kEach; ++i) {
        (void)log->record(AuditRecord::make(AuditKind::Command, AuditOutcome::Ok,
                                            "thread " + std::to_string(t), std::to_string(i)));
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  log->stop();
  std::uint64_t commands = 0;
  std::uint64_t lost = 0;
  for (const json& r : all_records()) {
    if (r["kind"] == "control.command") {
      ++commands;
    } else if (r["kind"] == "audit.records_lost") {
      lost += r["detail"]["lost"].get<std::uint64_t>();
    }
  }
  EXPECT_EQ(commands + lost, std::uint64_t{kThreads * kEach});
  EXPECT_EQ(lost, log->dropped_total());
  const AuditVerifyReport r = verify_audit_log(dir_);
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.why;
}

// A record's detail too long for the queue's slot is kept, cut, as text.
TEST_F(AuditLogTest, ALongDetailIsCutNotLost) {
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  log->start();
  ASSERT_TRUE(log->record(AuditRecord::make(AuditKind::Command, AuditOutcome::Refused, "uid=0",
                                            "config reload", {{"error", std::string(2000, 'x')}})));
  log->stop();
  const std::vector<json> records = all_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["detail"]["truncated"], true);
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

// A reported customer operation becomes an operation.high_risk record: named kind (or the
// bank's code), outcome, the customer hash in hex, the ticket, the log's sequence number, and the
// time the primary received it (not the time this node wrote it); the chain verifies.
TEST_F(AuditLogTest, OperationReportRecord) {
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  log->start();
  dataplane::OperationAuditEvent e;
  e.report.kind = static_cast<std::uint16_t>(dataplane::wire::OperationKind::AccountClosure);
  e.report.outcome = dataplane::wire::OperationOutcome::Cancelled;
  e.report.ticket = 77;
  for (std::uint8_t i = 0; i < 32; ++i) {
    e.report.customer_hash[i] = i;
  }
  e.agent = 1001;
  e.client_id = 1000;
  e.log_seq = 123;
  e.wall_ms = 1'796'000'000'123;
  log->on_operation(e);
  e.report.kind = 4711;  // a bank's own code
  e.report.outcome = dataplane::wire::OperationOutcome::Completed;
  log->on_operation(e);
  log->stop();
  const std::vector<json> records = all_records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["kind"], "operation.high_risk");
  EXPECT_EQ(records[0]["outcome"], "cancelled");
  EXPECT_EQ(records[0]["actor"], "client=1000");
  EXPECT_EQ(records[0]["subject"], "agent=1001");
  EXPECT_EQ(records[0]["time"], "2026-11-30T00:53:20.123Z");
  EXPECT_EQ(records[0]["detail"]["operation"], "account_closure");
  EXPECT_EQ(records[0]["detail"]["customer"],
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(records[0]["detail"]["ticket"], 77);
  EXPECT_EQ(records[0]["detail"]["log_seq"], 123);
  EXPECT_EQ(records[1]["detail"]["operation"], "bank-4711");
  EXPECT_EQ(records[1]["outcome"], "ok");
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

// Client events: a registration (who, from where, with which role), a handshake refused (from
// where, which client if the init named one, why) and a message refused by the role check (which
// client, which message, why, from where); the chain verifies.
TEST_F(AuditLogTest, ClientRegistrationsAndRefusals) {
  using What = dataplane::ClientAuditEvent::What;
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  log->start();
  dataplane::ClientAuditEvent e;
  e.what = What::Registered;
  e.client_id = 4242;
  e.address = htonl(0xc0000207);  // 192.0.2.7
  e.port = 4000;
  e.role = dataplane::wire::Role::Desktop;
  log->on_client_event(e);
  e = {};
  e.what = What::HandshakeRefused;
  e.address = htonl(0xc0000208);
  e.port = 5000;
  e.reason = "unknown_client";
  log->on_client_event(e);
  e.client_id = 4242;
  e.reason = "wrong_network";
  log->on_client_event(e);
  e = {};
  e.what = What::MessageRefused;
  e.client_id = 4242;
  e.address = htonl(0xc0000207);
  e.port = 4000;
  e.message_type = 5;
  e.reason = "not_your_agent";
  e.seq = 99;
  log->on_client_event(e);
  log->stop();
  const std::vector<json> records = all_records();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0]["kind"], "client.registered");
  EXPECT_EQ(records[0]["outcome"], "ok");
  EXPECT_EQ(records[0]["actor"], "client=4242");
  EXPECT_EQ(records[0]["subject"], "address=192.0.2.7:4000");
  EXPECT_EQ(records[0]["detail"]["role"], "desktop");
  EXPECT_EQ(records[1]["kind"], "client.refused");
  EXPECT_EQ(records[1]["outcome"], "denied");
  EXPECT_EQ(records[1]["actor"], "address=192.0.2.8:5000");
  EXPECT_EQ(records[1]["subject"], "client=unknown");
  EXPECT_EQ(records[1]["detail"]["reason"], "unknown_client");
  EXPECT_EQ(records[1]["detail"]["stage"], "handshake");
  EXPECT_EQ(records[2]["subject"], "client=4242");
  EXPECT_EQ(records[2]["detail"]["reason"], "wrong_network");
  EXPECT_EQ(records[3]["kind"], "client.refused");
  EXPECT_EQ(records[3]["actor"], "client=4242");
  EXPECT_EQ(records[3]["subject"], "message=5");
  EXPECT_EQ(records[3]["detail"]["reason"], "not_your_agent");
  EXPECT_EQ(records[3]["detail"]["address"], "192.0.2.7:4000");
  EXPECT_EQ(records[3]["detail"]["seq"], 99);
  EXPECT_EQ(records[3]["detail"]["stage"], "message");
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

// A flood of refused handshakes (forged inits from many addresses) is bounded in the trail: at
// most kClientRecordsPerSecond records a second of each kind, and the rest are counted in a
// record of how many were left out — every event is either recorded or counted, and the other
// kinds keep their own budget.
TEST_F(AuditLogTest, AFloodOfRefusalsIsBoundedAndCounted) {
  using What = dataplane::ClientAuditEvent::What;
  auto log = open_log(16 << 20, 16, 4096);
  ASSERT_NE(log, nullptr);
  log->start();
  constexpr int kFlood = 3000;
  const auto began = std::chrono::steady_clock::now();
  dataplane::ClientAuditEvent e;
  e.what = What::HandshakeRefused;
  e.reason = "bad_handshake";
  for (int i = 0; i < kFlood; ++i) {
    e.address = htonl(0x0a000000 + static_cast<std::uint32_t>(i));
    log->on_client_event(e);
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began)
          .count() +
      2;  // the flood may straddle second boundaries
  dataplane::ClientAuditEvent registered;
  registered.what = What::Registered;
  registered.client_id = 7;
  log->on_client_event(registered);
  log->stop();
  std::uint64_t individual = 0;
  std::uint64_t left_out = 0;
  int registrations = 0;
  for (const json& r : all_records()) {
    if (r["kind"] == "client.registered") {
      ++registrations;
    } else if (r["kind"] == "client.refused" && r["actor"] == "acdd") {
      EXPECT_EQ(r["detail"]["event"], "handshake_refused");
      left_out += r["detail"]["not_recorded"].get<std::uint64_t>();
    } else if (r["kind"] == "client.refused") {
      ++individual;
    }
  }
  EXPECT_EQ(registrations, 1) << "another kind's budget was spent by the flood";
  EXPECT_LE(individual, AuditLog::kClientRecordsPerSecond * static_cast<std::uint64_t>(seconds));
  EXPECT_GT(individual, 0u);
  EXPECT_EQ(individual + left_out, static_cast<std::uint64_t>(kFlood));
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

// Times: ISO-8601 UTC with milliseconds both ways; a bad one is refused.
TEST_F(AuditLogTest, Times) {
  EXPECT_EQ(format_audit_time(1'796'000'000'123), "2026-11-30T00:53:20.123Z");
  EXPECT_EQ(parse_audit_time("2026-11-30T00:53:20.123Z"), 1'796'000'000'123);
  EXPECT_EQ(parse_audit_time("2026-11-30"), 1'795'996'800'000);
  EXPECT_FALSE(parse_audit_time("yesterday"));
  EXPECT_FALSE(parse_audit_time("2026-13-01"));
}

// --- sign-in through a real pipeline and credential store ---

dataplane::wire::AgentEvent sign_in_event(router::AgentNumber number, const char* password) {
  dataplane::wire::AgentEvent e{};
  e.kind = dataplane::wire::AgentEventKind::SignIn;
  e.agent_number = number;
  e.device = 8000 + number;
  std::strncpy(e.password, password, sizeof(e.password));
  return e;
}

// Sign-ins (right, wrong, then locked out, an unknown agent), a lockout and a sign-out reach the
// audit log from the IO thread and the verifier thread; no record holds a password or any part of a
// password hash.
TEST_F(AuditLogTest, SignInRecordsHoldNoPassword) {
  using namespace dataplane;
  using namespace dataplane::wire;
  const std::string credentials = root_ + "/credentials";
  ASSERT_TRUE(
      CredentialStore::set_password(credentials, 101, "Sesame-101-pw", HashStrength::Minimal).ok());
  ASSERT_TRUE(
      CredentialStore::set_password(credentials, 102, "Sesame-102-pw", HashStrength::Minimal).ok());
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  log->start();
  CredentialStore store(LockoutPolicy{2, 900});
  ASSERT_TRUE(store.load(credentials).ok());
  store.set_audit(log.get());

  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 8;
  router::QueueConfig q;
  q.name = "cards";
  q.skills = {router::SkillRequirement{0, 1, 0}};
  config.queues.push_back(q);
  for (router::AgentNumber n : {101, 102}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}};
    config.agents.push_back(a);
  }
  router::Engine engine(config);
  AsyncVerifier verifier(store);
  MemoryPort port;
  ManualClock clock;
  IoStage io(port, clock, &verifier, {101, 102}, DataplaneConfig{});
  io.set_audit(log.get());
  Worker worker(engine, io);
  // Two desktops: a desktop acts for the one agent it signed in, so 102's attempts come from
  // another desk than 101's.
  const Endpoint desk{0x0100007f, 6001, 0};
  const Endpoint desk2{0x0100007f, 6002, 0};
  std::uint64_t seq = 0;
  std::uint64_t seq2 = 0;
  auto send_from = [&](std::uint32_t client, Type type, const auto& body) {
    std::vector<std::uint8_t> buf(kMaxSendDatagram);
    DatagramWriter w(buf, client);
    ASSERT_TRUE(w.add(type, client == 8 ? ++seq : ++seq2, body));
    buf.resize(w.finish());
    port.inject(client == 8 ? desk : desk2, std::move(buf));
  };
  auto send = [&](Type type, const auto& body) { send_from(8, type, body); };
  auto send2 = [&](Type type, const auto& body) { send_from(9, type, body); };
  // Polls until the desk got an answer to the last message.
  auto settle = [&] {
    for (int i = 0; i < 5000; ++i) {
      worker.poll();
      if (!port.take_sent().empty()) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL() << "no answer";
  };
  send(Type::Register, wire::Register{2, 0, 1});
  settle();
  send2(Type::Register, wire::Register{2, 0, 2});
  settle();
  send(Type::AgentEvent, sign_in_event(101, "Sesame-101-pw"));
  settle();
  send2(Type::AgentEvent, sign_in_event(102, "wrong-pass-1"));
  settle();
  send2(Type::AgentEvent, sign_in_event(102, "wrong-pass-2"));  // locks 102 out
  settle();
  send2(Type::AgentEvent, sign_in_event(102, "Sesame-102-pw"));  // refused: locked
  settle();
  send2(Type::AgentEvent, sign_in_event(999, "Sesame-999-pw"));  // no such agent
  settle();
  wire::AgentEvent out{};
  out.kind = wire::AgentEventKind::SignOut;
  out.agent = 0;
  send(Type::AgentEvent, out);
  settle();
  log->stop();

  std::string text;
  for (const std::string& f : audit_files(dir_)) {
    std::ifstream in(f);
    std::stringstream all;
    all << in.rdbuf();
    text += all.str();
  }
  for (const char* secret : {"Sesame", "wrong-pass", "$argon2"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in:\n" << text;
  }
  std::ifstream in(credentials);
  for (std::string line; std::getline(in, line);) {
    const std::string hash = line.substr(line.find(' ') + 1);
    EXPECT_EQ(text.find(hash.substr(hash.size() - 20)), std::string::npos);  // not even a part
  }
  // The agents' records (the two desktops' client.registered records come first).
  std::vector<std::string> kinds;
  std::vector<json> agent_records;
  for (const json& r : all_records()) {
    if (r["kind"].get<std::string>().starts_with("client.")) {
      EXPECT_EQ(r["kind"], "client.registered");
      continue;
    }
    agent_records.push_back(r);
    kinds.push_back(r["kind"].get<std::string>() + " " + r["subject"].get<std::string>() + " " +
                    r["outcome"].get<std::string>());
  }
  const std::vector<std::string> expected = {"agent.sign_in agent=101 ok",
                                             "agent.sign_in_failed agent=102 refused",
                                             "agent.lockout agent=102 ok",
                                             "agent.sign_in_failed agent=102 refused",
                                             "agent.sign_in_failed agent=102 refused",
                                             "agent.sign_in_failed agent=999 refused",
                                             "agent.sign_out agent=101 requested"};
  EXPECT_EQ(kinds, expected);
  ASSERT_FALSE(agent_records.empty());
  EXPECT_EQ(agent_records[0]["actor"], "client=8");
  EXPECT_TRUE(verify_audit_log(dir_).ok);
}

}  // namespace
}  // namespace acd::control

namespace acd::control {
namespace {

// ---------------------------------------------------------------- the pair

// A primary's and a standby's audit logs, with the replication link's part played by the test:
// the primary's shipped lines handed straight to the standby, its acknowledgement handed back.
class AuditPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/acd-audit-pair-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::system(("rm -rf '" + root_ + "'").c_str()); }

  std::unique_ptr<AuditLog> open_at(const std::string& name,
                                    std::uint64_t max_file_bytes = 16 << 20) {
    AuditLog::Options o;
    o.settings.dir = root_ + "/" + name;
    o.settings.max_file_bytes = max_file_bytes;
    o.settings.keep_files = 1000;
    Result<std::unique_ptr<AuditLog>> opened = AuditLog::open(o);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.failure().message);
    if (!opened.ok()) {
      return nullptr;
    }
    auto log = std::move(opened).value();
    log->start();
    return log;
  }
  static void commands(AuditLog& log, int from, int to, const std::string& who) {
    for (int i = from; i <= to; ++i) {
      ASSERT_TRUE(log.record(AuditRecord::make(AuditKind::Command, AuditOutcome::Ok, who,
                                               "agents ready " + std::to_string(i),
                                               {{"id", i}, {"cmd", "agents"}})));
    }
  }
  // Pumps from `from` to `to` until `to` holds `seq` (at most 10 s); true if it came.
  // `drop`: lines lost on the way (true: not delivered).
  static bool ship_until(AuditLog& from, AuditLog& to, std::uint64_t seq,
                         const std::function<bool(std::uint64_t)>& drop = {},
                         const std::function<bool()>& until = {}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      (void)from.drain_shipping(
          [&](std::uint64_t after, const std::array<std::uint8_t, 32>& prev) {
            to.on_audit_restart(after, prev);
            from.note_acked(std::min(from.ship_acked(), after));  // as the link does
            return true;
          },
          [&](std::uint64_t s, std::span<const std::uint8_t> line) {
            if (!drop || !drop(s)) {
              to.on_audit_line(s, line);
            }
            return true;
          },
          64);
      if (const auto again = to.take_audit_resend()) {
        from.ship_after(again->seq, again->hash);  // the standby's AuditFrom
      }
      from.note_acked(to.audit_held());
      if (to.audit_held() >= seq && (!until || until())) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  static std::uint64_t last_seq(const std::string& dir) { return verify_audit_log(dir).last_seq; }
  std::vector<json> records_of(const std::string& name) {
    std::vector<json> out;
    for (const std::string& f : audit_files(root_ + "/" + name)) {
      std::ifstream in(f);
      for (std::string l; std::getline(in, l);) {
        out.push_back(json::parse(l));
      }
    }
    return out;
  }
  // Waits until `log` has written `n` records (at most 10 s).
  static bool written(const AuditLog& log, std::uint64_t n) {
    for (int i = 0; i < 10000 && log.written() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return log.written() >= n;
  }

  std::string root_;
};

// Every record the primary writes, across rotated files, joins the standby's own chain with the
// primary's seq, prev and hash; both directories verify alone, and the match finds every one.
TEST_F(AuditPairTest, ShippedRecordsJoinTheStandbysChainAndMatch) {
  auto primary = open_at("a", 4096);  // a few records a file: shipping crosses rotations
  auto standby = open_at("b");
  ASSERT_TRUE(primary && standby);
  commands(*standby, 1, 3, "uid=1(standby-op)");  // the standby's own records
  commands(*primary, 1, 40, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 40));
  primary->ship_after(0);  // the standby holds nothing of ours
  ASSERT_TRUE(ship_until(*primary, *standby, 40));
  EXPECT_EQ(primary->ship_lag(), 0u);
  EXPECT_EQ(primary->ship_shipped(), 40u);
  EXPECT_EQ(standby->ship_stored(), 40u);
  primary->stop();
  standby->stop();
  EXPECT_GT(audit_files(root_ + "/a").size(), 3u);
  const AuditVerifyReport a = verify_audit_log(root_ + "/a");
  const AuditVerifyReport b = verify_audit_log(root_ + "/b");
  EXPECT_TRUE(a.ok) << a.why;
  EXPECT_TRUE(b.ok) << b.why;
  EXPECT_EQ(b.records, 43u);
  const std::vector<json> theirs = records_of("a");
  const std::vector<json> ours = records_of("b");
  std::size_t shipped = 0;
  for (const json& r : ours) {
    if (!r.contains("primary")) {
      EXPECT_EQ(r["actor"], "uid=1(standby-op)");
      continue;
    }
    const json& original = theirs.at(shipped++);
    EXPECT_EQ(r["primary"]["seq"], original["seq"]);
    EXPECT_EQ(r["primary"]["hash"], original["hash"]);
    EXPECT_EQ(r["subject"], original["subject"]);
    EXPECT_EQ(r["time"], original["time"]);
  }
  EXPECT_EQ(shipped, 40u);
  const AuditMatchReport m = match_audit_logs(root_ + "/a", root_ + "/b");
  EXPECT_TRUE(m.ok) << m.why;
  EXPECT_EQ(m.primary_records, 40u);
  EXPECT_EQ(m.matched, 40u);
  // And the other way round, nothing of the standby's own is on the primary.
  EXPECT_FALSE(match_audit_logs(root_ + "/b", root_ + "/a").ok);
}

// A standby restarted learns from its files what it holds; shipping resumes after it, a record
// sent twice is kept once, and the primary's lines the standby stored are never shipped back
// when the roles turn.
TEST_F(AuditPairTest, RestartedStandbyResumesWithoutDuplicates) {
  auto primary = open_at("a");
  auto standby = open_at("b");
  commands(*primary, 1, 20, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 20));
  primary->ship_after(0);
  ASSERT_TRUE(ship_until(*primary, *standby, 20));
  standby->stop();
  standby.reset();
  standby = open_at("b");
  EXPECT_EQ(standby->audit_held(), 20u);  // read back from its files

  commands(*primary, 21, 30, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 30));
  const auto position = standby->audit_position();
  ASSERT_TRUE(position.has_value());
  primary->ship_after(position->seq, position->hash);  // the standby's AuditFrom
  ASSERT_TRUE(ship_until(*primary, *standby, 30));
  // Lines sent again (in flight when a resend was asked) are dropped as held.
  for (const json& r : records_of("a")) {
    if (r["seq"].get<std::uint64_t>() >= 16 && r["seq"].get<std::uint64_t>() <= 20) {
      const std::string text = r.dump();
      standby->on_audit_line(r["seq"].get<std::uint64_t>(),
                             std::span<const std::uint8_t>(
                                 reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }
  }
  ASSERT_TRUE(written(*primary, 30));
  standby->stop();
  primary->stop();
  std::uint64_t copies = 0;
  for (const json& r : records_of("b")) {
    copies += r.contains("primary") ? 1 : 0;
  }
  EXPECT_EQ(copies, 30u);
  EXPECT_TRUE(match_audit_logs(root_ + "/a", root_ + "/b").ok);
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);

  // b becomes primary, a its standby: b ships only what it made itself.
  auto b = open_at("b");
  auto a = open_at("a");
  commands(*b, 1, 2, "uid=2(b-op)");
  ASSERT_TRUE(written(*b, 2));
  b->ship_after(0);
  ASSERT_TRUE(ship_until(*b, *a, last_seq(root_ + "/b")));
  a->stop();
  b->stop();
  std::uint64_t back = 0;
  for (const json& r : records_of("a")) {
    if (r.contains("primary")) {
      ++back;
      EXPECT_EQ(r["actor"], "uid=2(b-op)");
    }
  }
  EXPECT_EQ(back, 2u);
  EXPECT_EQ(b->ship_shipped(), 32u);  // its 2, and a stub (seq, prev, hash) for each copy
  EXPECT_EQ(a->ship_dropped(), 0u);
}

// A line that does not hash to its own hash (altered on the way, or not a record) is not stored:
// counted, and the standby's chain stays whole; the records after it are not chained over the
// hole but asked for again.
TEST_F(AuditPairTest, AnAlteredLineIsNotStored) {
  auto primary = open_at("a");
  auto standby = open_at("b");
  commands(*primary, 1, 2, "uid=0(root)");
  primary->stop();
  const std::vector<json> lines = records_of("a");
  json altered = lines[0];
  altered["actor"] = "uid=1000(someone-else)";
  const std::string bad = altered.dump();
  const std::string junk = "not json";
  const std::string good = lines[1].dump();
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  standby->on_audit_line(1, bytes(bad));
  standby->on_audit_line(2, bytes(junk));
  standby->on_audit_line(2, bytes(good));
  std::optional<dataplane::AuditPosition> resend;
  for (int i = 0; i < 5000 && !(resend = standby->take_audit_resend()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(resend.has_value());
  EXPECT_EQ(resend->seq, 0u);  // nothing held: from the start
  EXPECT_EQ(standby->audit_held(), 0u);
  EXPECT_EQ(standby->ship_dropped(), 1u);  // the altered one; the others wait for the resend
  EXPECT_EQ(standby->ship_stored(), 0u);
  standby->on_audit_restart(0, {});
  const std::string first = lines[0].dump();
  standby->on_audit_line(1, bytes(first));
  standby->on_audit_line(2, bytes(good));
  for (int i = 0; i < 5000 && standby->audit_held() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(standby->audit_held(), 2u);
  EXPECT_EQ(standby->ship_stored(), 2u);
  standby->stop();
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);
  EXPECT_TRUE(match_audit_logs(root_ + "/a", root_ + "/b").ok);
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A record lost between the primary and the standby's disk (its queue full, a line cut) leaves a
// gap in the primary's seq: found, counted, and the standby asks again from the record before;
// nothing is chained over the hole, and in the end it holds every record once.
TEST_F(AuditPairTest, AGapIsFoundAndTheRecordsAreSentAgain) {
  auto primary = open_at("a");
  auto standby = open_at("b");
  commands(*primary, 1, 10, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 10));
  primary->ship_after(0);
  bool dropped = false;
  ASSERT_TRUE(ship_until(*primary, *standby, 10, [&](std::uint64_t s) {
    if (s == 5 && !dropped) {
      dropped = true;
      return true;
    }
    return false;
  }));
  EXPECT_EQ(standby->ship_gaps(), 1u);
  EXPECT_NE(standby->last_error().find("a gap: 5..5 did not come"), std::string::npos)
      << standby->last_error();
  EXPECT_EQ(standby->ship_stored(), 10u);
  primary->stop();
  standby->stop();
  std::vector<std::uint64_t> seqs;
  for (const json& r : records_of("b")) {
    seqs.push_back(r["primary"]["seq"].get<std::uint64_t>());
  }
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);
  EXPECT_TRUE(match_audit_logs(root_ + "/a", root_ + "/b").ok);
}

// A line that follows in seq but hangs from another record (its prev is not the hash held) is a
// broken chain: asked again; when the primary's answer does not follow either, the standby
// refuses to go on (an audit.ship_gap record says so) instead of chaining it.
TEST_F(AuditPairTest, ABrokenChainIsRefusedNotChained) {
  auto primary = open_at("a");
  auto other = open_at("c");  // another chain: same seqs, other hashes
  auto standby = open_at("b");
  commands(*primary, 1, 2, "uid=0(root)");
  commands(*other, 1, 3, "uid=9(other)");
  primary->stop();
  other->stop();
  const std::vector<json> mine = records_of("a");
  const std::vector<json> theirs = records_of("c");
  standby->on_audit_restart(0, {});
  const std::string one = mine[0].dump();
  const std::string two = mine[1].dump();
  const std::string forged = theirs[2].dump();  // seq 3, hashes to itself, hangs from c's 2
  standby->on_audit_line(1, bytes_of(one));
  standby->on_audit_line(2, bytes_of(two));
  standby->on_audit_line(3, bytes_of(forged));
  std::optional<dataplane::AuditPosition> resend;
  for (int i = 0; i < 5000 && !(resend = standby->take_audit_resend()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(resend.has_value());
  EXPECT_EQ(resend->seq, 2u);
  EXPECT_EQ(standby->ship_gaps(), 1u);
  standby->on_audit_restart(2, resend->hash);
  standby->on_audit_line(3, bytes_of(forged));  // the same answer: refused now
  for (int i = 0; i < 5000 && standby->ship_gaps() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  standby->stop();
  EXPECT_EQ(standby->ship_gaps(), 2u);
  EXPECT_EQ(standby->audit_held(), 2u);
  EXPECT_FALSE(standby->take_audit_resend().has_value());  // not asked again: refused
  const std::vector<json> kept = records_of("b");
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[2]["kind"], "audit.ship_gap");
  EXPECT_EQ(kept[2]["detail"]["action"], "refused");
  EXPECT_EQ(kept[2]["detail"]["got_seq"], 3);
  for (const json& r : kept) {
    EXPECT_NE(r["actor"], "uid=9(other)");
  }
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);
}

// The last seq there is, 2^64 - 1, is written, shipped, stored and acknowledged: the arithmetic
// of where shipping stands never wraps (it used to stop shipping for good). Past it the primary
// refuses to write (counted), and nothing hangs.
TEST_F(AuditPairTest, TheLastSeqShips) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  const std::string dir = root_ + "/a";
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  json seed{{"actor", "acdd"},
            {"kind", "daemon.start"},
            {"outcome", "ok"},
            {"prev", std::string(64, '0')},
            {"seq", kMax - 1},
            {"subject", "acdd"},
            {"time", "2026-11-30T00:00:00.000Z"}};
  seed["hash"] = audit_hash(std::string(64, '0'), seed.dump());
  {
    std::ofstream out(dir + "/audit-18446744073709551614.log");
    out << seed.dump() << "\n";
  }
  auto primary = open_at("a");
  auto standby = open_at("b");
  commands(*primary, 1, 1, "uid=0(root)");  // seq 2^64 - 1
  ASSERT_TRUE(written(*primary, 1));
  primary->ship_after(0);
  ASSERT_TRUE(ship_until(*primary, *standby, kMax));
  EXPECT_EQ(standby->audit_held(), kMax);
  EXPECT_EQ(primary->ship_lag(), 0u);
  EXPECT_EQ(primary->ship_acked(), kMax);
  // A standby that holds the last one is given nothing more, and the writer does not spin.
  const auto position = standby->audit_position();
  ASSERT_TRUE(position.has_value());
  primary->ship_after(position->seq, position->hash);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (void)primary->record(AuditRecord::make(AuditKind::Command, AuditOutcome::Ok, "x", "y"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(primary->written(), 1u);  // no seq left: refused, counted
  EXPECT_GE(primary->dropped_total(), 1u);
  EXPECT_EQ(primary->ship_shipped(), 2u);
  primary->stop();
  standby->stop();
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);
  const AuditMatchReport m = match_audit_logs(dir, root_ + "/b");
  EXPECT_EQ(m.matched, 2u);
}

// The primary's directory emptied (a new chain from seq 1): the standby's position (seq 30 of
// the old chain) is not in it, so the primary ships the new chain from its start; the standby
// says in its own log that the chain changed, and the lag counts the new records until they are
// held (it said 0 while nothing was shipped).
TEST_F(AuditPairTest, ANewChainOnThePrimaryIsShipped) {
  auto primary = open_at("a");
  auto standby = open_at("b");
  commands(*primary, 1, 30, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 30));
  primary->ship_after(0);
  ASSERT_TRUE(ship_until(*primary, *standby, 30));
  primary->stop();
  primary.reset();
  ASSERT_EQ(std::system(("rm -f '" + root_ + "/a'/audit-*.log").c_str()), 0);
  primary = open_at("a");
  commands(*primary, 1, 40, "uid=0(new)");  // past 30: the seq is there, another record
  ASSERT_TRUE(written(*primary, 40));
  const auto position = standby->audit_position();
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(position->seq, 30u);
  primary->note_acked(position->seq);  // what the link takes from the standby's AuditFrom
  primary->ship_after(position->seq, position->hash);
  ASSERT_TRUE(ship_until(*primary, *standby, 40, {}, [&] { return standby->ship_stored() == 70; }));
  EXPECT_EQ(standby->audit_held(), 40u);
  EXPECT_EQ(primary->ship_lag(), 0u);
  EXPECT_EQ(primary->ship_shipped(), 40u);
  EXPECT_EQ(standby->ship_gaps(), 1u);
  primary->stop();
  standby->stop();
  const std::vector<json> kept = records_of("b");
  ASSERT_EQ(kept.size(), 71u);
  EXPECT_EQ(kept[30]["kind"], "audit.ship_gap");
  EXPECT_EQ(kept[30]["detail"]["reason"], "new_chain");
  EXPECT_EQ(kept[31]["actor"], "uid=0(new)");
  EXPECT_EQ(kept[31]["primary"]["seq"], 1);
  EXPECT_EQ(kept[70]["primary"]["seq"], 40);
  EXPECT_TRUE(verify_audit_log(root_ + "/b").ok);
  EXPECT_TRUE(match_audit_logs(root_ + "/a", root_ + "/b").ok);
}

// The lag is honest meanwhile: a new chain's records count from the restart, not from the old
// chain's acknowledgement.
TEST_F(AuditPairTest, TheLagCountsANewChainUntilItIsHeld) {
  auto primary = open_at("a");
  commands(*primary, 1, 3, "uid=0(root)");
  ASSERT_TRUE(written(*primary, 3));
  primary->note_acked(500);  // a standby that holds 500 of some other chain
  std::array<std::uint8_t, 32> other{};
  other[0] = 1;
  primary->ship_after(500, other);
  std::uint64_t after = 1;
  for (int i = 0; i < 5000 && after != 0; ++i) {
    (void)primary->drain_shipping(
        [&](std::uint64_t a, const std::array<std::uint8_t, 32>&) {
          after = a;
          primary->note_acked(std::min(primary->ship_acked(), a));
          return true;
        },
        [](std::uint64_t, std::span<const std::uint8_t>) { return false; }, 64);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(after, 0u);  // from the start of our chain
  EXPECT_EQ(primary->ship_lag(), 3u);
  primary->stop();
}

// A high-risk operation reaches the standby twice, through the replicated log (its own record,
// the one that gates the desktop's answer) and as the primary's shipped record: it is stored
// once, the log's copy. A standby that never applied it (it joined later) keeps the shipped one.
// Either way the match finds the primary's record.
TEST_F(AuditPairTest, AnOperationIsStoredOnce) {
  auto primary = open_at("a");
  auto standby = open_at("b");
  auto late = open_at("c");
  auto operation = [](std::uint64_t ticket) {
    dataplane::OperationAuditEvent e;
    e.report.kind = static_cast<std::uint16_t>(dataplane::wire::OperationKind::LargeTransfer);
    e.report.outcome = dataplane::wire::OperationOutcome::Completed;
    e.report.ticket = ticket;
    e.agent = 1001;
    e.client_id = 1000;
    e.log_seq = 40 + ticket;
    e.wall_ms = 1'796'000'000'000 + static_cast<std::int64_t>(ticket);
    return e;
  };
  commands(*primary, 1, 1, "uid=0(root)");
  primary->on_operation(operation(1));
  primary->on_operation(operation(2));
  standby->on_operation(operation(1));  // applied from the log
  standby->on_operation(operation(2));
  ASSERT_TRUE(written(*primary, 3));
  ASSERT_TRUE(written(*standby, 2));
  primary->ship_after(0);
  ASSERT_TRUE(ship_until(*primary, *standby, 3));
  primary->ship_after(0);  // the other standby's turn
  ASSERT_TRUE(ship_until(*primary, *late, 3));
  EXPECT_EQ(standby->ship_via_log(), 2u);
  EXPECT_EQ(standby->ship_stored(), 1u);
  EXPECT_EQ(late->ship_stored(), 3u);
  standby->on_operation(operation(2));  // applied again (a restart's replay): still once
  primary->stop();
  standby->stop();
  late->stop();
  std::size_t operations = 0;
  for (const json& r : records_of("b")) {
    if (r["kind"] == "operation.high_risk") {
      ++operations;
      EXPECT_FALSE(r.contains("primary"));
    }
  }
  EXPECT_EQ(operations, 2u);
  const AuditMatchReport m = match_audit_logs(root_ + "/a", root_ + "/b");
  EXPECT_TRUE(m.ok) << m.why << " missing " << m.missing << " altered " << m.altered;
  EXPECT_EQ(m.matched, 3u);
  EXPECT_TRUE(match_audit_logs(root_ + "/a", root_ + "/c").ok);
}

}  // namespace
}  // namespace acd::control
