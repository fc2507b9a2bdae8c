// Agent credentials: argon2id hashes in a file written atomically with mode 0600, the right
// password accepted, wrong ones refused and locked out after the limit, and malformed files
// refused.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "acd/control/audit_log.hpp"
#include "acd/control/credential_store.hpp"

namespace acd::control {
namespace {

std::string temp_path(const char* name) {
  return ::testing::TempDir() + name;
}

// set_password writes an argon2id hash (not the password) with mode 0600; verify accepts it.
TEST(Credentials, SetAndVerify) {
  const std::string path = temp_path("creds-set");
  std::remove(path.c_str());
  ASSERT_TRUE(
      CredentialStore::set_password(path, 1001, "correct horse", HashStrength::Minimal).ok());
  ASSERT_TRUE(
      CredentialStore::set_password(path, 1002, "battery staple", HashStrength::Minimal).ok());
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("correct horse"), std::string::npos);
  EXPECT_NE(text.find("1001 $argon2id$"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_EQ(store.size(), 2u);
  EXPECT_TRUE(store.verify(1001, "correct horse"));
  EXPECT_FALSE(store.verify(1001, "battery staple"));
  EXPECT_TRUE(store.verify(1002, "battery staple"));
  EXPECT_FALSE(store.verify(9999, "correct horse"));
  const Result<void> short_password =
      CredentialStore::set_password(path, 1003, "short", HashStrength::Minimal);
  ASSERT_FALSE(short_password.ok());
  EXPECT_EQ(short_password.failure().code, ControlError::Usage);
}

// An entry flagged must-change or enrolment is reported as to be changed; a plain password is not,
// and `agent passwd` (set_password) clears the flag.
TEST(Credentials, MustChangeFlagIsReported) {
  const std::string path = temp_path("creds-must-change");
  std::remove(path.c_str());
  const std::string h = CredentialStore::hash("initial-pass", HashStrength::Minimal);
  CredentialTable table;
  table[1001] = CredentialEntry{h, CredentialFlag::MustChange};
  table[1002] = CredentialEntry{h, CredentialFlag::Enrolment};
  table[1003] = CredentialEntry{h, CredentialFlag::None};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_TRUE(store.must_change(1001));
  EXPECT_TRUE(store.must_change(1002));
  EXPECT_FALSE(store.must_change(1003));
  EXPECT_FALSE(store.must_change(9999));
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "chosen-pass", HashStrength::Minimal).ok());
  EXPECT_TRUE(store.verify(1001, "chosen-pass"));  // re-reads the changed file
  EXPECT_FALSE(store.must_change(1001));
}

// An enrolment code signs in once: the first right use marks it `enrolment-used` in the file
// (so a restarted acdd refuses it too) and still says "must change"; the second use is refused;
// a password set afterwards works.
TEST(Credentials, EnrolmentCodeWorksOnce) {
  const std::string path = temp_path("creds-enrolment");
  std::remove(path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  table[1002] = CredentialEntry{CredentialStore::hash("plain-password", HashStrength::Minimal),
                                CredentialFlag::None};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_FALSE(store.verify(1001, "wrong-code")) << "a wrong code spends nothing";
  EXPECT_TRUE(store.verify(1001, "739201-554"));
  EXPECT_TRUE(store.must_change(1001));
  EXPECT_FALSE(store.verify(1001, "739201-554")) << "an enrolment code works once";
  const Result<CredentialTable> on_disk = read_credential_file(path, false);
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(on_disk.value().at(1001).flag, CredentialFlag::EnrolmentUsed);
  EXPECT_EQ(on_disk.value().at(1002).flag, CredentialFlag::None);
  CredentialStore restarted;
  ASSERT_TRUE(restarted.load(path).ok());
  EXPECT_FALSE(restarted.verify(1001, "739201-554"));
  EXPECT_TRUE(restarted.verify(1002, "plain-password"));
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "chosen-pass", HashStrength::Minimal).ok());
  EXPECT_TRUE(restarted.verify(1001, "chosen-pass"));
  EXPECT_TRUE(restarted.verify(1001, "chosen-pass")) << "a password is not single-use";
}

// A desktop's password change: the old secret checked, the new one against the policy, hashed;
// nothing stored until the change's log record is applied (then the flag is cleared), and a
// standby that applies the same record accepts the new password and refuses the old. Wrong old /
// policy: Refused / Policy, file unchanged.
TEST(Credentials, PasswordChangeStoredAndReplicated) {
  const std::string path = temp_path("creds-change");
  const std::string standby_path = temp_path("creds-change-standby");
  std::remove(path.c_str());
  std::remove(standby_path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("initial-pass1", HashStrength::Minimal),
                                CredentialFlag::MustChange};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  ASSERT_TRUE(write_credential_file(standby_path, table).ok());
  CredentialStore store;
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  ASSERT_TRUE(store.load(path).ok());
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  using dataplane::ApplyOutcome;
  using dataplane::ChangeOutcome;
  EXPECT_EQ(store.change_password(1001, "wrong-pass1", "Chosen-pass2", {}, hash, replaced),
            ChangeOutcome::Refused);
  EXPECT_EQ(store.change_password(1001, "initial-pass1", "abcdefghij", {}, hash, replaced),
            ChangeOutcome::Policy);
  EXPECT_EQ(store.change_password(2002, "initial-pass1", "Chosen-pass2", {}, hash, replaced),
            ChangeOutcome::Refused)
      << "an agent the file lacks";
  EXPECT_EQ(read_credential_file(path, false).value(), table) << "refusals changed the file";
  ASSERT_EQ(store.change_password(1001, "initial-pass1", "Chosen-pass2", {}, hash, replaced),
            ChangeOutcome::Changed);
  const std::string h(hash);
  EXPECT_EQ(h.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(h.find("Chosen-pass2"), std::string::npos);
  EXPECT_EQ(replaced, CredentialStore::digest(table[1001].hash));
  EXPECT_EQ(read_credential_file(path, false).value(), table) << "stored before it was logged";
  ASSERT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, h, replaced),
            ApplyOutcome::Stored);
  EXPECT_FALSE(store.must_change(1001)) << "the must-change flag is cleared";
  EXPECT_TRUE(store.verify(1001, "Chosen-pass2"));
  EXPECT_FALSE(store.verify(1001, "initial-pass1"));
  const auto on_disk = read_credential_file(path, false);
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(on_disk.value().at(1001), (CredentialEntry{h, CredentialFlag::None}));

  CredentialStore standby;
  ASSERT_TRUE(standby.load(standby_path).ok());
  EXPECT_EQ(standby.apply_credential(1001, dataplane::CredentialChangeKind::Password, h, replaced),
            ApplyOutcome::Stored);
  EXPECT_TRUE(standby.verify(1001, "Chosen-pass2"));
  EXPECT_FALSE(standby.verify(1001, "initial-pass1"));
  EXPECT_EQ(read_credential_file(standby_path, false).value().at(1001),
            (CredentialEntry{h, CredentialFlag::None}));
  EXPECT_EQ(standby.apply_credential(1001, dataplane::CredentialChangeKind::Password, h, replaced),
            ApplyOutcome::Held)
      << "a record applied twice";
}

// A change checked but never logged (the log had no room) changed nothing: the old password
// still signs in, no failure was counted, and the retry is checked afresh and changes it.
TEST(Credentials, UnloggedChangeChangesNothingAndTheRetryWorks) {
  const std::string path = temp_path("creds-unlogged");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "old-pass-1", HashStrength::Minimal).ok());
  CredentialStore store;
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  ASSERT_TRUE(store.load(path).ok());
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  ASSERT_EQ(store.change_password(1001, "old-pass-1", "Chosen-pass2", {}, hash, replaced),
            dataplane::ChangeOutcome::Changed);
  // ... answered Overloaded, nothing logged: the store is as it was.
  EXPECT_TRUE(store.verify(1001, "old-pass-1"));
  EXPECT_FALSE(store.verify(1001, "Chosen-pass2"));
  const std::uint64_t failed = store.counters().failed.load();
  ASSERT_EQ(store.change_password(1001, "old-pass-1", "Chosen-pass2", {}, hash, replaced),
            dataplane::ChangeOutcome::Changed)
      << "the retry was refused";
  EXPECT_EQ(store.counters().failed.load(), failed);
  EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, hash, replaced),
            dataplane::ApplyOutcome::Stored);
  EXPECT_TRUE(store.verify(1001, "Chosen-pass2"));
}

// A primary records one agent.password_change per change (the applied one, naming the desktop it
// came from), as its standby does; a refused change is recorded too.
TEST(Credentials, OnePasswordChangeRecordPerChange) {
  char pattern[] = "/tmp/acd-creds-audit-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string root = pattern;
  const std::string path = root + "/credentials";
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "old-pass-1", HashStrength::Minimal).ok());
  AuditLog::Options options;
  options.settings.dir = root + "/audit";
  Result<std::unique_ptr<AuditLog>> opened = AuditLog::open(options);
  ASSERT_TRUE(opened.ok()) << opened.failure().message;
  std::unique_ptr<AuditLog> log = std::move(opened).value();
  log->start();
  CredentialStore store;
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  store.set_audit(log.get());
  ASSERT_TRUE(store.load(path).ok());
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  const dataplane::SignInSource desk{7, 0xD35C};
  ASSERT_EQ(store.change_password(1001, "wrong-pass-1", "Chosen-pass2", desk, hash, replaced),
            dataplane::ChangeOutcome::Refused);
  ASSERT_EQ(store.change_password(1001, "old-pass-1", "Chosen-pass2", desk, hash, replaced),
            dataplane::ChangeOutcome::Changed);
  ASSERT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, hash, replaced),
            dataplane::ApplyOutcome::Stored);
  log->stop();
  std::vector<nlohmann::json> changes;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/audit")) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && !j.contains("kind") && j.contains("body")) {
        j = j["body"];
      }
      if (j.is_object() && j.value("kind", "") == "agent.password_change") {
        changes.push_back(j);
      }
    }
  }
  ASSERT_EQ(changes.size(), 2u) << "one refusal and one change";
  std::size_t ok = 0;
  for (const nlohmann::json& j : changes) {
    if (j.value("outcome", "") == "ok") {
      ++ok;
      EXPECT_EQ(j["detail"].value("device", 0u), 0xD35Cu) << j.dump();
      EXPECT_EQ(j["detail"].value("client_slot", 0u), 7u) << j.dump();
    }
  }
  EXPECT_EQ(ok, 1u) << "the change was recorded twice";
  std::filesystem::remove_all(root);
}

// A generated code's hash (the fast one) is accepted from the log only as a spent enrolment
// code: the standby marks the code spent; the same string as a password is refused (a password
// is always argon2id).
TEST(Credentials, GeneratedCodeHashReplicatesOnlyAsASpentCode) {
  const std::string path = temp_path("creds-code-hash");
  std::remove(path.c_str());
  const std::string code = CredentialStore::generate_code();
  const std::string h = CredentialStore::code_hash(code);
  ASSERT_TRUE(dataplane::valid_code_hash_string(h)) << h;
  EXPECT_FALSE(dataplane::valid_argon2id_string(h));
  CredentialTable table;
  table[1001] = CredentialEntry{h, CredentialFlag::Enrolment};
  table[1002] = CredentialEntry{CredentialStore::hash("initial-pass1", HashStrength::Minimal),
                                CredentialFlag::None};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore standby;
  ASSERT_TRUE(standby.load(path).ok());
  EXPECT_EQ(standby.apply_credential(1002, dataplane::CredentialChangeKind::Password, h,
                                     CredentialStore::digest(table[1002].hash)),
            dataplane::ApplyOutcome::Refused);
  EXPECT_TRUE(standby.verify(1002, "initial-pass1"));
  EXPECT_EQ(standby.apply_credential(1001, dataplane::CredentialChangeKind::EnrolmentSpent, h, {}),
            dataplane::ApplyOutcome::Stored);
  EXPECT_FALSE(standby.verify(1001, code)) << "a spent code signed in";
  EXPECT_FALSE(CredentialStore::verify_secret(h, code + "x"));
  EXPECT_TRUE(CredentialStore::verify_secret(h, code));
}

// A logged change applied again after an administrator's `agent passwd` (not logged) — a
// journal's replay, a standby catching up — keeps the administrator's password: the entry no
// longer holds what the change replaced.
TEST(Credentials, ReplayDoesNotRevertAnAdministratorsReset) {
  const std::string path = temp_path("creds-replay");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "old-pass-1", HashStrength::Minimal).ok());
  CredentialStore store;
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  ASSERT_TRUE(store.load(path).ok());
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  ASSERT_EQ(store.change_password(1001, "old-pass-1", "Chosen-pass2", {}, hash, replaced),
            dataplane::ChangeOutcome::Changed);
  ASSERT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, hash, replaced),
            dataplane::ApplyOutcome::Stored);
  ASSERT_TRUE(
      CredentialStore::set_password(path, 1001, "admin-reset-3", HashStrength::Minimal).ok());
  const CredentialTable reset = read_credential_file(path, false).value();
  EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, hash, replaced),
            dataplane::ApplyOutcome::Kept);
  EXPECT_EQ(read_credential_file(path, false).value(), reset);
  EXPECT_TRUE(store.verify(1001, "admin-reset-3"));
  EXPECT_FALSE(store.verify(1001, "Chosen-pass2"));
  EXPECT_EQ(store.counters().changes_kept.load(), 1u);
  // A record of an older node (no digest of what it replaced) never overwrites either.
  EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, hash, {}),
            dataplane::ApplyOutcome::Kept);
  EXPECT_TRUE(store.verify(1001, "admin-reset-3"));
}

// A change from the log is refused, counted and changes nothing unless its hash is a valid
// argon2id string for an agent of the file; nothing crashes on any of them.
TEST(Credentials, InvalidOrUnknownReplicatedChangesAreRefused) {
  const std::string path = temp_path("creds-invalid");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 1001, "old-pass-1", HashStrength::Minimal).ok());
  const CredentialTable before = read_credential_file(path, false).value();
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  const dataplane::CredentialDigest replaced = CredentialStore::digest(before.at(1001).hash);
  const std::string good = CredentialStore::hash("Chosen-pass2", HashStrength::Minimal);
  const std::string bad[] = {
      "$argon2id$",
      "$argon2id$anything at all",
      good + "\n1002 $argon2id$",
      good.substr(0, good.size() - 10),
      "$argon2i$" + good.substr(10),
      std::string(good).replace(good.find("v=19"), 4, "v=20"),
      good + "$",
      "$argon2id$v=19$m=8,t=1,p=1$" + std::string(200, 'A') + "$" + std::string(30, 'A'),
  };
  for (const std::string& h : bad) {
    EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, h, replaced),
              dataplane::ApplyOutcome::Refused)
        << h;
    EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::EnrolmentSpent, h, {}),
              dataplane::ApplyOutcome::Refused)
        << h;
  }
  EXPECT_EQ(store.apply_credential(4242, dataplane::CredentialChangeKind::Password, good, replaced),
            dataplane::ApplyOutcome::Refused)
      << "an agent the file lacks";
  EXPECT_EQ(store.counters().changes_refused.load(), 2 * std::size(bad) + 1);
  EXPECT_EQ(read_credential_file(path, false).value(), before);
  EXPECT_TRUE(store.verify(1001, "old-pass-1"));
  EXPECT_EQ(store.apply_credential(1001, dataplane::CredentialChangeKind::Password, good, replaced),
            dataplane::ApplyOutcome::Stored)
      << "the valid one";
}

// The enrolment code an agent signed in with is its old secret for the change that follows; the
// spent code is reported (for the log) and, applied on a standby, spends the code there too.
TEST(Credentials, SpentEnrolmentIsReportedAndReplicated) {
  const std::string path = temp_path("creds-spent");
  const std::string standby_path = temp_path("creds-spent-standby");
  std::remove(path.c_str());
  std::remove(standby_path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  ASSERT_TRUE(write_credential_file(standby_path, table).ok());
  CredentialStore store;
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  ASSERT_TRUE(store.load(path).ok());
  char hash[dataplane::kCredentialHashBytes] = {};
  EXPECT_FALSE(store.spent_enrolment(1001, hash)) << "not spent yet";
  ASSERT_TRUE(store.verify(1001, "739201-554"));
  ASSERT_TRUE(store.spent_enrolment(1001, hash));
  EXPECT_EQ(std::string(hash), table[1001].hash);

  CredentialStore standby;
  ASSERT_TRUE(standby.load(standby_path).ok());
  EXPECT_EQ(
      standby.apply_credential(1001, dataplane::CredentialChangeKind::EnrolmentSpent, hash, {}),
      dataplane::ApplyOutcome::Stored);
  EXPECT_FALSE(standby.verify(1001, "739201-554")) << "the standby still takes the spent code";
  EXPECT_EQ(read_credential_file(standby_path, false).value().at(1001).flag,
            CredentialFlag::EnrolmentUsed);
  // A code other than the one the entry holds spends nothing.
  CredentialStore other;
  table[1001].hash = CredentialStore::hash("111111-222", HashStrength::Minimal);
  ASSERT_TRUE(write_credential_file(standby_path, table).ok());
  ASSERT_TRUE(other.load(standby_path).ok());
  EXPECT_EQ(other.apply_credential(1001, dataplane::CredentialChangeKind::EnrolmentSpent, hash, {}),
            dataplane::ApplyOutcome::Kept);
  EXPECT_TRUE(other.verify(1001, "111111-222"));

  char changed[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  EXPECT_EQ(store.change_password(1001, "739201-554", "Chosen-pass2", {}, changed, replaced),
            dataplane::ChangeOutcome::Changed);
  EXPECT_EQ(
      store.apply_credential(1001, dataplane::CredentialChangeKind::Password, changed, replaced),
      dataplane::ApplyOutcome::Stored);
  EXPECT_FALSE(store.must_change(1001));
  EXPECT_TRUE(store.verify(1001, "Chosen-pass2"));
}

// A spend the log could not take is undone: the code signs in again (file and memory).
TEST(Credentials, UnloggedSpendIsRestored) {
  const std::string path = temp_path("creds-restore");
  std::remove(path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  ASSERT_TRUE(store.verify(1001, "739201-554"));
  char hash[dataplane::kCredentialHashBytes] = {};
  ASSERT_TRUE(store.spent_enrolment(1001, hash));
  store.restore_enrolment(1001, hash);
  EXPECT_EQ(read_credential_file(path, false).value(), table);
  EXPECT_TRUE(store.verify(1001, "739201-554")) << "the code stayed spent";
}

// A change whose old secret is the spent enrolment code passes the same back-off gate as every
// other attempt: while a back-off runs even the right code is refused unchecked.
TEST(Credentials, EnrolmentCodeChangeWaitsOutTheBackoff) {
  const std::string path = temp_path("creds-enrol-backoff");
  std::remove(path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  std::uint64_t now = 1000;
  CredentialStore store(LockoutPolicy{1, 60, 300, 10, 30}, [&] { return now; });
  store.set_hash_cost(HashCost::of(HashStrength::Minimal));
  ASSERT_TRUE(store.load(path).ok());
  const dataplane::SignInSource desk{7, 8001};
  ASSERT_TRUE(store.verify_from(1001, "739201-554", desk));  // spends the code
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  EXPECT_EQ(store.change_password(1001, "wrong-code-1", "Chosen-pass2", desk, hash, replaced),
            dataplane::ChangeOutcome::Refused);
  ASSERT_GT(store.wait_seconds(1001, desk), 0u) << "no back-off after the free failure";
  const std::uint64_t delayed = store.counters().delayed.load();
  EXPECT_EQ(store.change_password(1001, "739201-554", "Chosen-pass2", desk, hash, replaced),
            dataplane::ChangeOutcome::Refused)
      << "checked during the back-off";
  EXPECT_EQ(store.counters().delayed.load(), delayed + 1);
  now += 61;
  EXPECT_EQ(store.change_password(1001, "739201-554", "Chosen-pass2", desk, hash, replaced),
            dataplane::ChangeOutcome::Changed);
}

// The policy, rule by rule; the message never repeats the password.
TEST(Credentials, PasswordPolicy) {
  EXPECT_TRUE(check_password_policy(1001, "old-pass1", "Chosen-pass2").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", "Sh0rt").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", std::string(65, 'a') + "1").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", "onlyletters").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", "1234567890").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", "old-pass1").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", "agent-1001x").ok());
  EXPECT_FALSE(check_password_policy(1001, "old-pass1", std::string("tab\there1")).ok());
  const Result<void> r = check_password_policy(1001, "old-pass1", "onlyletters");
  EXPECT_EQ(r.failure().message.find("onlyletters"), std::string::npos);
}

// Many desktops presenting one code at the same moment: exactly one is signed in.
TEST(Credentials, EnrolmentCodeRaceHasOneWinner) {
  const std::string path = temp_path("creds-enrolment-race");
  std::remove(path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (store.verify_from(1001, "739201-554", dataplane::SignInSource{i, 0})) {
        accepted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(accepted.load(), 1);
}

// When the spent mark cannot be recorded (here: the file has gone away), the sign-in is refused
// and the code stays usable: nothing is half-done.
TEST(Credentials, UnrecordedEnrolmentIsRefused) {
  const std::string path = temp_path("creds-enrolment-gone");
  const std::string aside = path + ".aside";
  std::remove(path.c_str());
  CredentialTable table;
  table[1001] = CredentialEntry{CredentialStore::hash("739201-554", HashStrength::Minimal),
                                CredentialFlag::Enrolment};
  ASSERT_TRUE(write_credential_file(path, table).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  ASSERT_EQ(std::rename(path.c_str(), aside.c_str()), 0);
  EXPECT_FALSE(store.verify(1001, "739201-554"));
  ASSERT_EQ(std::rename(aside.c_str(), path.c_str()), 0);
  EXPECT_TRUE(store.verify(1001, "739201-554")) << "the code was lost without being used";
  EXPECT_FALSE(store.verify(1001, "739201-554"));
}

// A password set (or an agent added) after the store was loaded counts at the next sign-in; a file
// broken meanwhile keeps the last good credentials.
TEST(Credentials, FileChangesTakeEffectWithoutRestart) {
  const std::string path = temp_path("creds-reload");
  std::remove(path.c_str());
  ASSERT_TRUE(
      CredentialStore::set_password(path, 1001, "first password", HashStrength::Minimal).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_FALSE(store.verify(1200, "a new agent"));
  ASSERT_TRUE(
      CredentialStore::set_password(path, 1001, "second password", HashStrength::Minimal).ok());
  ASSERT_TRUE(CredentialStore::set_password(path, 1200, "a new agent", HashStrength::Minimal).ok());
  EXPECT_TRUE(store.verify(1200, "a new agent"));
  EXPECT_FALSE(store.verify(1001, "first password"));
  EXPECT_TRUE(store.verify(1001, "second password"));
  std::ofstream(path, std::ios::app) << "not a credential line\n";
  EXPECT_TRUE(store.verify(1001, "second password")) << "a broken file keeps the last good one";
}

// Wrong passwords from desktop A back off A only (2 s, 4 s, 8 s ... up to the ceiling), refused
// unchecked meanwhile, even the right password; the agent signs in from desktop B at once. A right
// password from A after its delay clears A's count.
TEST(Credentials, BackOffPerSource) {
  const std::string path = temp_path("creds-backoff");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 7, "open sesame", HashStrength::Minimal).ok());
  std::uint64_t now = 1000;
  CredentialStore store(LockoutPolicy{3, 2, 16, 100, 30}, [&] { return now; });
  ASSERT_TRUE(store.load(path).ok());
  const dataplane::SignInSource a{1, 501};
  const dataplane::SignInSource b{2, 502};
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(store.verify_from(7, "wrong", a));
  }
  EXPECT_EQ(store.wait_seconds(7, a), 2u);
  EXPECT_EQ(store.wait_seconds(7, b), 0u);
  EXPECT_FALSE(store.verify_from(7, "open sesame", a));  // delayed: not even checked
  EXPECT_EQ(store.counters().delayed.load(), 1u);
  EXPECT_TRUE(store.verify_from(7, "open sesame", b));   // the real desk is not held up
  EXPECT_FALSE(store.locked(7));
  now += 2;
  EXPECT_FALSE(store.verify_from(7, "wrong", a));  // fourth failure: 4 s
  EXPECT_EQ(store.wait_seconds(7, a), 4u);
  now += 4;
  EXPECT_FALSE(store.verify_from(7, "wrong", a));  // 8 s
  EXPECT_EQ(store.wait_seconds(7, a), 8u);
  now += 8;
  EXPECT_FALSE(store.verify_from(7, "wrong", a));  // 16 s, the ceiling
  now += 16;
  EXPECT_FALSE(store.verify_from(7, "wrong", a));
  EXPECT_EQ(store.wait_seconds(7, a), 16u);
  now += 16;
  EXPECT_TRUE(store.verify_from(7, "open sesame", a));
  EXPECT_FALSE(store.verify_from(7, "wrong", a));  // counting from zero again: no delay
  EXPECT_EQ(store.wait_seconds(7, a), 0u);
  EXPECT_EQ(store.counters().accepted.load(), 2u);
  EXPECT_EQ(store.counters().failed.load(), 8u);
  EXPECT_EQ(store.counters().backoffs.load(), 5u);
}

// Guessing from many desktops (one wrong password each) trips the agent-wide back-off, which
// holds every desktop, the real one too, but never longer than its low ceiling; an operator's
// unlock lifts everything at once.
TEST(Credentials, AgentWideBackOffIsShortAndUnlockLiftsIt) {
  const std::string path = temp_path("creds-agentwide");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 7, "open sesame", HashStrength::Minimal).ok());
  std::uint64_t now = 1000;
  CredentialStore store(LockoutPolicy{3, 2, 300, 5, 30}, [&] { return now; });
  ASSERT_TRUE(store.load(path).ok());
  const dataplane::SignInSource real{999, 1};
  std::uint32_t slot = 0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(store.verify_from(7, "guess", dataplane::SignInSource{++slot, 0}));
  }
  EXPECT_TRUE(store.locked(7));
  EXPECT_EQ(store.wait_seconds(7, real), 2u);
  EXPECT_FALSE(store.verify_from(7, "open sesame", real));
  // The guesser keeps going, one fresh desktop per attempt, as soon as each delay ends.
  for (int round = 0; round < 20; ++round) {
    now += store.wait_seconds(7, real);
    EXPECT_FALSE(store.verify_from(7, "guess", dataplane::SignInSource{++slot, 0}));
    EXPECT_LE(store.wait_seconds(7, real), 30u);
  }
  EXPECT_EQ(store.wait_seconds(7, real), 30u);
  EXPECT_EQ(store.unlock(7), 1u);
  EXPECT_FALSE(store.locked(7));
  EXPECT_EQ(store.wait_seconds(7, real), 0u);
  EXPECT_TRUE(store.verify_from(7, "open sesame", real));
  EXPECT_EQ(store.counters().unlocks.load(), 1u);
  EXPECT_EQ(store.unlock(7), 0u);  // nothing running
}

// A malformed (or missing) credential file is refused with its line, and a store that had loaded
// good credentials keeps them: the same agents, the same passwords.
TEST(Credentials, MalformedFileRefused) {
  const std::string good = temp_path("creds-good");
  std::remove(good.c_str());
  ASSERT_TRUE(
      CredentialStore::set_password(good, 1001, "correct horse", HashStrength::Minimal).ok());
  ASSERT_TRUE(
      CredentialStore::set_password(good, 1002, "battery staple", HashStrength::Minimal).ok());
  const std::string path = temp_path("creds-bad");
  {
    std::ofstream out(path);
    out << "# comment\n1003 plaintext-password\n";
  }
  CredentialStore store;
  ASSERT_TRUE(store.load(good).ok());
  ASSERT_EQ(store.size(), 2u);
  const Result<void> bad = store.load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.failure().message.find("creds-bad:2:"), std::string::npos) << bad.failure().message;
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.load(path + ".missing").ok());
  EXPECT_EQ(store.size(), 2u);
  EXPECT_TRUE(store.verify(1001, "correct horse"));
  EXPECT_TRUE(store.verify(1002, "battery staple"));
  EXPECT_FALSE(store.verify(1003, "plaintext-password"));
}

// A cost level is written into the hash it makes; a store verifies hashes of different costs side
// by side (a cost change applies to new hashes, old ones keep working). Bad levels are refused.
TEST(Credentials, CostLevelsAndMixedHashes) {
  const Result<HashCost> owasp = HashCost::named("owasp");
  ASSERT_TRUE(owasp.ok());
  EXPECT_EQ(owasp.value().opslimit, 2u);
  EXPECT_EQ(owasp.value().memlimit, std::size_t{19} << 20);
  EXPECT_EQ(to_string(owasp.value()), "opslimit=2 memlimit=19MiB");
  const Result<HashCost> bad = HashCost::named("paranoid");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.failure().message.find("interactive"), std::string::npos);
  EXPECT_FALSE(HashCost::check(0, 1024).ok());
  EXPECT_FALSE(HashCost::check(2, 4).ok());
  EXPECT_FALSE(HashCost::check(2, (1u << 20) + 1).ok());
  EXPECT_TRUE(HashCost::check(1, 8).ok());

  const std::string path = temp_path("creds-cost");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 1, "old password", HashStrength::Minimal).ok());
  ASSERT_TRUE(CredentialStore::set_password(path, 2, "new password", HashCost{1, 1u << 20}).ok());
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("1 $argon2id$v=19$m=8,t=1,"), std::string::npos) << text;
  EXPECT_NE(text.find("2 $argon2id$v=19$m=1024,t=1,"), std::string::npos) << text;
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_TRUE(store.verify(1, "old password"));
  EXPECT_TRUE(store.verify(2, "new password"));
  EXPECT_FALSE(store.verify(2, "old password"));
}

// Several verifier threads share one store: every right password accepted, every wrong one
// refused, the failure counts intact (three wrong ones each, under the limit of five).
TEST(Credentials, ConcurrentVerification) {
  const std::string path = temp_path("creds-threads");
  std::remove(path.c_str());
  for (router::AgentNumber a = 1; a <= 8; ++a) {
    ASSERT_TRUE(CredentialStore::set_password(path, a, "password " + std::to_string(a),
                                              HashStrength::Minimal)
                    .ok());
  }
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  std::atomic<int> wrong_answers{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        const router::AgentNumber a = static_cast<router::AgentNumber>(1 + (t * 2 + round) % 8);
        const bool right = round % 7 != 3;
        const bool ok =
            store.verify(a, right ? "password " + std::to_string(a) : std::string("wrong one"));
        if (ok != right) {
          ++wrong_answers;
        }
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong_answers.load(), 0);
  for (router::AgentNumber a = 1; a <= 8; ++a) {
    EXPECT_FALSE(store.locked(a)) << a;
  }
}

}  // namespace
}  // namespace acd::control
