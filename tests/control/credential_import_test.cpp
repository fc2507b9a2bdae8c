// Bulk provisioning: the CSV is checked whole (every bad line named, nothing written), rows are
// hashed in parallel and merged with a report of what changed, flags are kept in the file, the
// file's mode survives the atomic replacement, and the imported secrets sign in.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "acd/control/credential_import.hpp"
#include "acd/control/credential_store.hpp"

namespace acd::control {
namespace {

std::string temp_path(const char* name) {
  return ::testing::TempDir() + name;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<ImportRow> rows_of(const std::string& csv) {
  std::istringstream in(csv);
  Result<std::vector<ImportRow>> rows = parse_import_csv(in, "agents.csv");
  EXPECT_TRUE(rows.ok()) << rows.failure().message;
  return rows.ok() ? std::move(rows).value() : std::vector<ImportRow>{};
}

ImportOptions cheap(unsigned threads = 3) {
  ImportOptions o;
  o.cost = HashCost::of(HashStrength::Minimal);
  o.threads = threads;
  return o;
}

// Every bad line is named with its number and why; no row comes back.
TEST(CredentialImport, BadLinesNamedAndNothingReturned) {
  std::istringstream in(
      "id,secret,flag\n"
      "1001,good password\n"
      "1002,short\n"
      "x7,password 3\n"
      "1001,password again\n"
      "1005,\"open quote\n"
      "1006,password 6,perhaps\n"
      "1007\n");
  const Result<std::vector<ImportRow>> rows = parse_import_csv(in, "agents.csv");
  ASSERT_FALSE(rows.ok());
  const std::string& m = rows.failure().message;
  EXPECT_NE(m.find("6 bad lines in agents.csv; nothing was imported"), std::string::npos) << m;
  for (const char* want :
       {"agents.csv:3: agent 1002: the secret has 5 characters", "agents.csv:4: agent ID \"x7\"",
        "agents.csv:5: agent 1001 is listed twice (first on line 2)",
        "agents.csv:6: a quote is not closed", "agents.csv:7: agent 1006: flag \"perhaps\"",
        "agents.csv:8: expected ID,SECRET[,FLAG]"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  }
  EXPECT_EQ(m.find("good password"), std::string::npos);  // no secret in a message
}

// Added, then unchanged on a second import; a new secret or flag is changed; --remove-missing
// removes; the flags are written; the file's mode is kept; the secrets sign in.
TEST(CredentialImport, ReportAndMerge) {
  const std::string path = temp_path("creds-import");
  std::remove(path.c_str());
  ASSERT_TRUE(CredentialStore::set_password(path, 900, "set by hand", HashStrength::Minimal).ok());
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  std::vector<ImportRow> rows = rows_of(
      "1001,password one\n1002,\"pass,word \"\"two\"\"\",must-change\n1003,enrol-code-3,enrolment\n");
  Result<ImportReport> r = import_credentials(path, rows, cheap());
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().added, (std::vector<router::AgentNumber>{1001, 1002, 1003}));
  EXPECT_TRUE(r.value().changed.empty());
  EXPECT_TRUE(rows[0].secret.empty());  // wiped
  const std::string text = read_all(path);
  EXPECT_NE(text.find(" must-change\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" enrolment\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("password one"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  rows = rows_of("1001,password one\n1002,\"pass,word \"\"two\"\"\",yes\n1003,enrol-code-3,no\n");
  r = import_credentials(path, rows, cheap(1));
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().unchanged, (std::vector<router::AgentNumber>{1001, 1002}));
  EXPECT_EQ(r.value().changed, (std::vector<router::AgentNumber>{1003}));  // flag dropped

  rows = rows_of("1001,a new password\n");
  ImportOptions remove = cheap();
  remove.remove_missing = true;
  r = import_credentials(path, rows, remove);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().changed, (std::vector<router::AgentNumber>{1001}));
  EXPECT_EQ(r.value().removed, (std::vector<router::AgentNumber>{900, 1002, 1003}));
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.verify(1001, "a new password"));
  EXPECT_FALSE(store.verify(1001, "password one"));
}

// The acd-import-N threads of this process alive now (their names, from /proc).
std::size_t import_threads_alive() {
  std::size_t count = 0;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) {
    return 0;
  }
  while (const dirent* task = readdir(tasks)) {
    std::string comm = read_all(std::string("/proc/self/task/") + task->d_name + "/comm");
    count += comm.rfind("acd-import-", 0) == 0;
  }
  closedir(tasks);
  return count;
}

// The hashing runs on `threads` workers side by side, seen alive together from the progress
// callback (the caller's thread); the progress goes up, never past the total, and ends at it.
TEST(CredentialImport, HashesInParallelAndReportsProgress) {
  const std::string path = temp_path("creds-import-parallel");
  std::remove(path.c_str());
  std::string csv;
  for (int a = 0; a < 600; ++a) {
    csv += std::to_string(20000 + a) + ",password number " + std::to_string(a) + "\n";
  }
  std::vector<ImportRow> rows = rows_of(csv);
  ImportOptions options = cheap(2);
  options.cost = HashCost{1, 1u << 20};  // about a millisecond a hash: the import lasts a while
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  std::size_t most_alive = 0;
  options.progress = [&](std::size_t done, std::size_t total) {
    calls.emplace_back(done, total);
    most_alive = std::max(most_alive, import_threads_alive());
  };
  const Result<ImportReport> r = import_credentials(path, rows, options);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().added.size(), 600u);
  EXPECT_EQ(most_alive, 2u) << "hashing threads seen at once";
  ASSERT_GE(calls.size(), 2u) << "a progress report while hashing, and the last";
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, 600u);
    EXPECT_LE(calls[i].first, 600u);
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first) << "progress went back";
    }
  }
  EXPECT_EQ(calls.back(), std::make_pair(std::size_t{600}, std::size_t{600}));
  EXPECT_EQ(import_threads_alive(), 0u) << "workers left behind";
}

// A dry run reports and writes nothing; a malformed credential file refuses the import and stays.
// Importing the same CSV again does not re-arm an enrolment code acdd has spent; a new code for
// the agent does.
TEST(CredentialImport, SpentEnrolmentCodeStaysSpent) {
  const std::string path = temp_path("creds-import-spent");
  std::remove(path.c_str());
  std::vector<ImportRow> rows = rows_of("1003,enrol-code-3,enrolment\n");
  ASSERT_TRUE(import_credentials(path, rows, cheap()).ok());
  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  ASSERT_TRUE(store.verify(1003, "enrol-code-3"));  // spent
  rows = rows_of("1003,enrol-code-3,enrolment\n");
  Result<ImportReport> r = import_credentials(path, rows, cheap());
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().unchanged, (std::vector<router::AgentNumber>{1003}));
  EXPECT_NE(read_all(path).find(" enrolment-used\n"), std::string::npos) << read_all(path);
  EXPECT_FALSE(store.verify(1003, "enrol-code-3"));
  rows = rows_of("1003,enrol-code-4,enrolment\n");
  r = import_credentials(path, rows, cheap());
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().changed, (std::vector<router::AgentNumber>{1003}));
  EXPECT_TRUE(store.verify(1003, "enrol-code-4"));
}

// "*" generates a 20-character code (100 bits) stored with the fast code hash; it signs in once
// and is spent like any enrolment code (the file keeps it as enrolment-used); a code given in the
// CSV is still hashed with argon2id, even when short; "*" is refused for a password, and a code
// hash beside a password flag is refused when the file is read.
TEST(CredentialImport, GeneratedCodesUseTheFastHashOthersArgon2id) {
  const std::string path = temp_path("creds-import-generated");
  std::remove(path.c_str());
  std::vector<ImportRow> rows = rows_of("1001,*,enrolment\n1002,*,enrolment\n1003,12345678,enrolment\n");
  Result<ImportReport> r = import_credentials(path, rows, cheap());
  ASSERT_TRUE(r.ok()) << r.failure().message;
  ASSERT_EQ(r.value().codes.size(), 2u);
  EXPECT_EQ(r.value().added.size(), 3u);
  const std::string code = r.value().codes[0].second;
  EXPECT_EQ(r.value().codes[0].first, 1001u);
  ASSERT_EQ(code.size(), 20u);
  EXPECT_EQ(code.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos) << code;
  EXPECT_NE(code, r.value().codes[1].second);
  const CredentialTable table = read_credential_file(path, false).value();
  EXPECT_EQ(table.at(1001).hash.rfind("$acd-code$v=1$", 0), 0u) << table.at(1001).hash;
  EXPECT_TRUE(dataplane::valid_code_hash_string(table.at(1001).hash));
  EXPECT_EQ(table.at(1003).hash.rfind("$argon2id$", 0), 0u) << "a CSV's code got the fast hash";
  EXPECT_EQ(table.at(1001).flag, CredentialFlag::Enrolment);

  CredentialStore store;
  ASSERT_TRUE(store.load(path).ok());
  EXPECT_FALSE(store.verify(1001, r.value().codes[1].second)) << "another agent's code";
  EXPECT_TRUE(store.verify(1001, code));
  EXPECT_FALSE(store.verify(1001, code)) << "a generated code signed in twice";
  EXPECT_EQ(read_credential_file(path, false).value().at(1001).flag, CredentialFlag::EnrolmentUsed);
  EXPECT_TRUE(store.verify(1003, "12345678"));

  std::istringstream bad("1004,*,must-change\n1005,*\n");
  const Result<std::vector<ImportRow>> refused = parse_import_csv(bad, "agents.csv");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.failure().message.find("agents.csv:1: agent 1004: a generated secret"),
            std::string::npos)
      << refused.failure().message;
  EXPECT_NE(refused.failure().message.find("agents.csv:2: agent 1005"), std::string::npos);

  {
    std::ofstream out(path, std::ios::app);
    out << "1006 " << table.at(1001).hash << "\n";  // a code hash as a password
  }
  const Result<CredentialTable> reread = read_credential_file(path, false);
  ASSERT_FALSE(reread.ok());
  EXPECT_NE(reread.failure().message.find(": expected 'AGENT_ID"), std::string::npos)
      << reread.failure().message;
}

TEST(CredentialImport, DryRunAndBrokenFileChangeNothing) {
  const std::string path = temp_path("creds-import-dry");
  std::remove(path.c_str());
  std::vector<ImportRow> rows = rows_of("1001,password one\n");
  ImportOptions dry = cheap();
  dry.dry_run = true;
  Result<ImportReport> r = import_credentials(path, rows, dry);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().added.size(), 1u);
  std::ifstream absent(path);
  EXPECT_FALSE(absent.good());

  {
    std::ofstream broken(path);
    broken << "1001 not-a-hash\n";
  }
  rows = rows_of("1001,password one\n");
  r = import_credentials(path, rows, cheap());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failure().message.find(":1: expected"), std::string::npos) << r.failure().message;
  EXPECT_EQ(read_all(path), "1001 not-a-hash\n");
}

// A stored hash of another cost counts as changed (rehashed at the new cost), not unchanged.
TEST(CredentialImport, OutdatedCostIsRehashed) {
  const std::string path = temp_path("creds-import-cost");
  std::remove(path.c_str());
  std::vector<ImportRow> rows = rows_of("1001,password one\n");
  ASSERT_TRUE(import_credentials(path, rows, cheap()).ok());
  rows = rows_of("1001,password one\n");
  ImportOptions dearer = cheap();
  dearer.cost = HashCost{1, 64u << 10};
  const Result<ImportReport> r = import_credentials(path, rows, dearer);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r.value().changed, (std::vector<router::AgentNumber>{1001}));
  EXPECT_NE(read_all(path).find("$argon2id$v=19$m=64,t=1,"), std::string::npos);
}

// A secret the agent must replace (must-change, or an enrolment code given in the CSV) is hashed
// at the temporary cost; a password at the full one; each row is "unchanged" only at its own cost.
TEST(CredentialImport, TemporarySecretsAtTheTemporaryCost) {
  const std::string path = temp_path("creds-import-temporary");
  std::remove(path.c_str());
  ImportOptions o = cheap();
  o.cost = HashCost{1, 64u << 10};
  o.temporary_cost = HashCost{1, 16u << 10};
  const char* csv =
      "1001,password one,no\n1002,initial two,must-change\n1003,code three,enrolment\n";
  std::vector<ImportRow> rows = rows_of(csv);
  ASSERT_TRUE(import_credentials(path, rows, o).ok());
  const Result<CredentialTable> table = read_credential_file(path, false);
  ASSERT_TRUE(table.ok()) << table.failure().message;
  EXPECT_NE(table.value().at(1001).hash.find("$m=64,t=1,"), std::string::npos);
  EXPECT_NE(table.value().at(1002).hash.find("$m=16,t=1,"), std::string::npos);
  EXPECT_NE(table.value().at(1003).hash.find("$m=16,t=1,"), std::string::npos);
  EXPECT_EQ(table.value().at(1002).flag, CredentialFlag::MustChange);
  // The same CSV and costs again: nothing to rehash.
  rows = rows_of(csv);
  Result<ImportReport> again = import_credentials(path, rows, o);
  ASSERT_TRUE(again.ok()) << again.failure().message;
  EXPECT_EQ(again.value().unchanged, (std::vector<router::AgentNumber>{1001, 1002, 1003}));
  // Without a temporary cost every row takes the full one: the two temporary rows are rehashed.
  rows = rows_of(csv);
  o.temporary_cost.reset();
  again = import_credentials(path, rows, o);
  ASSERT_TRUE(again.ok()) << again.failure().message;
  EXPECT_EQ(again.value().changed, (std::vector<router::AgentNumber>{1002, 1003}));
  EXPECT_EQ(again.value().unchanged, (std::vector<router::AgentNumber>{1001}));
}

// The forced change replaces a temporary-cost hash with one at the store's ([signin]'s) cost.
TEST(CredentialImport, ForcedChangeRehashesAtTheFullCost) {
  const std::string path = temp_path("creds-import-forced");
  std::remove(path.c_str());
  ImportOptions o = cheap();
  o.temporary_cost = HashCost{1, 16u << 10};
  std::vector<ImportRow> rows = rows_of("1002,initial-2222,must-change\n");
  ASSERT_TRUE(import_credentials(path, rows, o).ok());
  CredentialStore store;
  store.set_hash_cost(HashCost{1, 64u << 10});
  ASSERT_TRUE(store.load(path).ok());
  ASSERT_TRUE(store.verify(1002, "initial-2222"));
  EXPECT_TRUE(store.must_change(1002));
  char hash[dataplane::kCredentialHashBytes] = {};
  dataplane::CredentialDigest replaced{};
  ASSERT_EQ(store.change_password(1002, "initial-2222", "Chosen pass 77", {}, hash, replaced),
            dataplane::ChangeOutcome::Changed);
  EXPECT_NE(std::string(hash).find("$m=64,t=1,"), std::string::npos) << hash;
}

}  // namespace
}  // namespace acd::control
