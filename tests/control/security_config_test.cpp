// [security] and [[clients]] in acd.toml, and the key files of ACDP/2: every mistake is named with
// its line, and a key file is a fresh 0600 file whose public half is what was printed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "acd/control/config.hpp"
#include "acd/control/keys.hpp"

namespace acd::control {
namespace {

// Lines 1..7; the text a test appends starts at line 8.
const char* kBase = R"(skills = ["cards"]
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent]]
id = 1
skills = { cards = 1 }
)";

std::string key_text() {
  return key_to_base64(generate_key_pair().public_key);
}

std::string dump(const std::vector<std::string>& errors) {
  std::string all;
  for (const auto& e : errors) {
    all += e + "\n";
  }
  return all;
}

bool has(const std::vector<std::string>& errors, const std::string& line, const std::string& text) {
  for (const auto& e : errors) {
    if (e.rfind("acd.toml:" + line + ":", 0) == 0 && e.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> errors_of(const std::string& extra) {
  return parse_config(std::string(kBase) + extra, "acd.toml").errors;
}

// A valid file: mode, key file and two clients, read into their structures.
TEST(SecurityConfig, ClientsAndModeAreRead) {
  const std::string a = key_text();
  const std::string b = key_text();
  const ConfigResult r =
      parse_config(std::string(kBase) +
                       "[security]\nmode = \"required\"\nkey_file = \"/etc/acd/keys/acdd.key\"\n" +
                       "[[clients]]\nname = \"sbc-1\"\nrole = \"switch\"\npublic_key = \"" + a +
                       "\"\nnetworks = [\"10.1.0.0/16\", \"192.168.7.9/32\"]\n"
                       "[[clients]]\nname = \"desk.42\"\nrole = \"desktop\"\npublic_key = \"" +
                       b + "\"\n",
                   "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  EXPECT_TRUE(r.config.security.required);
  EXPECT_EQ(r.config.security.key_file, "/etc/acd/keys/acdd.key");
  ASSERT_EQ(r.config.clients.size(), 2u);
  EXPECT_EQ(r.config.clients[0].name, "sbc-1");
  EXPECT_EQ(r.config.clients[0].role, ClientRole::Switch);
  EXPECT_EQ(key_to_base64(r.config.clients[0].public_key), a);
  ASSERT_EQ(r.config.clients[0].networks.size(), 2u);
  EXPECT_EQ(r.config.clients[0].networks[0].address, 0x0A010000u);
  EXPECT_EQ(r.config.clients[0].networks[0].prefix, 16);
  EXPECT_EQ(to_string(r.config.clients[0].networks[1]), "192.168.7.9/32");
  EXPECT_EQ(r.config.clients[1].role, ClientRole::Desktop);
  EXPECT_TRUE(r.config.clients[1].networks.empty()) << "anywhere";
  // Without [security], ACDP/1 as before.
  const ConfigResult plain = parse_config(kBase, "acd.toml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain.config.security.required);
  EXPECT_TRUE(plain.config.clients.empty());
}

// Each mistake in one client, named with its line: a bad name, an unknown role, a key that is not
// base64 of 32 bytes, a bad network, host bits set, a missing key, an unknown key.
TEST(SecurityConfig, EachClientMistakeNamedWithItsLine) {
  auto e = errors_of("[[clients]]\nname = \"SBC 1\"\nrole = \"switch\"\npublic_key = \"" +
                     key_text() + "\"\n");
  EXPECT_TRUE(has(e, "9", "client name \"SBC 1\": a client name is 1 to 32 of a-z")) << dump(e);
  e = errors_of("[[clients]]\nname = \"" + std::string(33, 'a') +
                "\"\nrole = \"switch\"\n"
                "public_key = \"" +
                key_text() + "\"\n");
  EXPECT_TRUE(has(e, "9", "a client name is 1 to 32")) << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"phone\"\npublic_key = \"" + key_text() +
                "\"\n");
  EXPECT_TRUE(has(e, "10", "'role' = \"phone\" is not one of: switch, desktop, supervisor, site"))
      << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"site\"\npublic_key = \"not base64!\"\n");
  EXPECT_TRUE(has(e, "11", "public_key \"not base64!\" is not a key")) << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"site\"\npublic_key = \"AAAA\"\n");
  EXPECT_TRUE(has(e, "11", "base64 of exactly 32 bytes")) << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"site\"\npublic_key = \"" + key_text() +
                "AAAA\"\n");
  EXPECT_TRUE(has(e, "11", "is not a key")) << dump(e) << " (trailing text)";
  e = errors_of(
      "[[clients]]\nname = \"x\"\nrole = \"supervisor\"\npublic_key = \"" + key_text() +
      "\"\nnetworks = [\"10.1.0.0/33\", \"10.1.2.3/16\", \"10.1.0.0\", 7, \"10.1.0.0/16\","
      " \"10.1.0.0/16\"]\n");
  EXPECT_TRUE(has(e, "12", "network \"10.1.0.0/33\": a network is A.B.C.D/N")) << dump(e);
  EXPECT_TRUE(has(e, "12",
                  "network \"10.1.2.3/16\": the address has bits set past the prefix; did "
                  "you mean \"10.1.0.0/16\"?"))
      << dump(e);
  EXPECT_TRUE(has(e, "12", "network \"10.1.0.0\": a network is")) << dump(e);
  EXPECT_TRUE(has(e, "12", "a network is a string")) << dump(e);
  EXPECT_TRUE(has(e, "12", "network \"10.1.0.0/16\" is listed twice")) << dump(e);
  EXPECT_EQ(e.size(), 5u) << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"switch\"\nnetworks = \"10.0.0.0/8\"\n");
  EXPECT_TRUE(has(e, "8", "needs a public_key")) << dump(e);
  EXPECT_TRUE(has(e, "11", "networks is a list")) << dump(e);
  e = errors_of("[[clients]]\nname = \"x\"\nrole = \"switch\"\nkey = \"abc\"\npublic_key = \"" +
                key_text() + "\"\n");
  EXPECT_TRUE(has(e, "11", "unknown key 'key'")) << dump(e);
  e = errors_of("[clients]\nname = \"x\"\n");
  EXPECT_TRUE(has(e, "8", "[[clients]] tables")) << dump(e);
}

// Two clients with one name, or one key, are refused, naming where the first one is.
TEST(SecurityConfig, DuplicateNamesAndKeys) {
  const std::string k = key_text();
  auto e = errors_of("[[clients]]\nname = \"a\"\nrole = \"switch\"\npublic_key = \"" + key_text() +
                     "\"\n[[clients]]\nname = \"a\"\nrole = \"switch\"\npublic_key = \"" +
                     key_text() + "\"\n");
  EXPECT_TRUE(has(e, "13", "client \"a\" is defined twice (first at acd.toml:8)")) << dump(e);
  e = errors_of("[[clients]]\nname = \"a\"\nrole = \"switch\"\npublic_key = \"" + k +
                "\"\n[[clients]]\nname = \"b\"\nrole = \"desktop\"\npublic_key = \"" + k + "\"\n");
  EXPECT_TRUE(has(e, "15", "client \"b\" has the same public_key as the client at acd.toml:8"))
      << dump(e);
  EXPECT_EQ(e.size(), 1u) << dump(e);
}

// [security]: mode is one of two words; required needs a key file and clients; the key file is an
// absolute path; unknown keys are named.
TEST(SecurityConfig, ModeRequiredNeedsKeyFileAndClients) {
  auto e = errors_of("[security]\nmode = \"on\"\n");
  EXPECT_TRUE(has(e, "9", "security.mode = \"on\" is not one of: required")) << dump(e);
  e = errors_of("[security]\nmode = \"required\"\n");
  EXPECT_TRUE(has(e, "9", "needs security.key_file")) << dump(e);
  EXPECT_TRUE(has(e, "9", "with no [[clients]]: nobody could connect")) << dump(e);
  EXPECT_EQ(e.size(), 2u) << dump(e);
  e = errors_of(
      "[security]\nmode = \"required\"\nkey_file = \"keys/acdd.key\"\n[[clients]]\nname = "
      "\"a\"\nrole = \"switch\"\npublic_key = \"" +
      key_text() + "\"\n");
  EXPECT_TRUE(has(e, "10", "security.key_file is an absolute path")) << dump(e);
  EXPECT_EQ(e.size(), 1u) << dump(e);
  e = errors_of("[security]\nmode = \"off\"\nkeyfile = \"/k\"\n");
  EXPECT_TRUE(has(e, "10", "unknown key 'keyfile'")) << dump(e);
  EXPECT_TRUE(errors_of("[security]\nmode = \"off\"\n").empty()) << "off needs nothing";
  // The AEAD: one of two names, ChaCha20-Poly1305 unless it says otherwise.
  e = errors_of("[security]\nmode = \"off\"\naead = \"aes128-gcm\"\n");
  EXPECT_TRUE(has(e, "10", "security.aead = \"aes128-gcm\" is not one of: chacha20-poly1305"))
      << dump(e);
  const ConfigResult aes =
      parse_config(std::string(kBase) + "[security]\naead = \"aes256-gcm\"\n", "acd.toml");
  ASSERT_TRUE(aes.ok()) << dump(aes.errors);
  EXPECT_TRUE(aes.config.security.aes256gcm);
  EXPECT_FALSE(parse_config(kBase, "acd.toml").config.security.aes256gcm);
}

// The per-source handshake allowance: 50 a second and 500 at once unless set; zero, a fraction's
// worth of nothing or an absurd value is named with its line.
TEST(SecurityConfig, SourceHandshakeAllowance) {
  const ConfigResult plain = parse_config(kBase, "acd.toml");
  EXPECT_EQ(plain.config.security.source_handshakes_per_s, 50u);
  EXPECT_EQ(plain.config.security.source_handshake_burst, 500u);
  const ConfigResult set = parse_config(
      std::string(kBase) + "[security]\nsource_handshakes_per_s = 5\nsource_handshake_burst = 40\n",
      "acd.toml");
  ASSERT_TRUE(set.ok()) << dump(set.errors);
  EXPECT_EQ(set.config.security.source_handshakes_per_s, 5u);
  EXPECT_EQ(set.config.security.source_handshake_burst, 40u);
  auto e = errors_of("[security]\nsource_handshakes_per_s = 0\nsource_handshake_burst = 2e7\n");
  EXPECT_TRUE(has(e, "9", "'source_handshakes_per_s' = 0 is out of range; use 1 to 100000"))
      << dump(e);
  EXPECT_TRUE(has(e, "10", "'source_handshake_burst' = 20000000 is out of range")) << dump(e);
  e = errors_of("[security]\nsource_handshake_burst = \"many\"\n");
  EXPECT_TRUE(has(e, "9", "'source_handshake_burst' must be a number")) << dump(e);
}

// Session lifetime and idle time: 24 h and 15 min unless set, in range or named with the line.
TEST(SecurityConfig, SessionLifetimeAndIdleTime) {
  const ConfigResult plain = parse_config(kBase, "acd.toml");
  EXPECT_EQ(plain.config.security.session_lifetime_s, 86'400u);
  EXPECT_EQ(plain.config.security.idle_timeout_s, 900u);
  const ConfigResult set = parse_config(
      std::string(kBase) + "[security]\nsession_lifetime_s = 3600\nidle_timeout_s = 120\n",
      "acd.toml");
  ASSERT_TRUE(set.ok()) << dump(set.errors);
  EXPECT_EQ(set.config.security.session_lifetime_s, 3600u);
  EXPECT_EQ(set.config.security.idle_timeout_s, 120u);
  const auto e = errors_of("[security]\nsession_lifetime_s = 5\nidle_timeout_s = 0\n");
  EXPECT_TRUE(has(e, "9", "'session_lifetime_s' = 5 is out of range; use 10 to 604800")) << dump(e);
  EXPECT_TRUE(has(e, "10", "'idle_timeout_s' = 0 is out of range; use 10 to 86400")) << dump(e);
}

// [ha] peer_public_key: read when it is a key, named with its line when not, refused without this
// node's own key_file; mode "required" refuses a pair whose link would be clear text.
TEST(SecurityConfig, HaPeerPublicKey) {
  const std::string k = key_text();
  const ConfigResult r = parse_config(std::string(kBase) +
                                          "[security]\nkey_file = \"/etc/acd/keys/acdd.key\"\n"
                                          "[ha]\npeer_public_key = \"" +
                                          k + "\"\n",
                                      "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  ASSERT_TRUE(r.config.ha.peer_public_key.has_value());
  EXPECT_EQ(key_to_base64(*r.config.ha.peer_public_key), k);
  auto e = errors_of("[security]\nkey_file = \"/k\"\n[ha]\npeer_public_key = \"AAAA\"\n");
  EXPECT_TRUE(has(e, "11", "ha.peer_public_key \"AAAA\" is not a key")) << dump(e);
  EXPECT_EQ(e.size(), 1u) << dump(e);
  e = errors_of("[ha]\npeer_public_key = \"" + k + "\"\n");
  EXPECT_TRUE(has(e, "9", "ha.peer_public_key needs [security] key_file")) << dump(e);
  EXPECT_EQ(e.size(), 1u) << dump(e);
  e = errors_of(
      "[security]\nmode = \"required\"\nkey_file = \"/k\"\n[[clients]]\nname = \"a\"\n"
      "role = \"switch\"\npublic_key = \"" +
      key_text() +
      "\"\n[ha]\npeer = \"127.0.0.1:7001\"\nreplication_listen = \"127.0.0.1:7002\"\n"
      "peer_dataplane = \"127.0.0.1:7070\"\netcd = [\"127.0.0.1:2379\"]\n");
  EXPECT_TRUE(has(e, "16", "mode = \"required\" needs ha.peer_public_key")) << dump(e);
  EXPECT_EQ(e.size(), 1u) << dump(e);
}

// Networks on their own: the edges of the prefix range and of the address's form.
TEST(SecurityConfig, Ipv4Networks) {
  EXPECT_TRUE(parse_ipv4_network("0.0.0.0/0").ok());
  EXPECT_TRUE(parse_ipv4_network("255.255.255.255/32").ok());
  for (const char* bad : {"1.2.3.0/", "1.2.3.0/024", "1.2.3/24", "1.2.3.4.5/32", "::1/128",
                          "1.2.3.0/-1", "1.2.3.0 /24", "/8", "256.0.0.0/8"}) {
    EXPECT_FALSE(parse_ipv4_network(bad).ok()) << bad;
  }
  EXPECT_FALSE(parse_ipv4_network("1.0.0.0/0").ok()) << "host bits under /0";
}

// At start-up (acdd --check-config, acdd's start) acdd's key file must be a key it may read, and
// mode "required" is refused with its line: this acdd speaks ACDP/1 only and must not pretend.
TEST(SecurityConfig, StartupChecksTheKeyFileAndRefusesRequired) {
  char pattern[] = "/tmp/acd-startup-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::string key = dir + "/acdd.key";
  const std::string client =
      "[[clients]]\nname = \"a\"\nrole = \"switch\"\npublic_key = \"" + key_text() + "\"\n";
  ConfigResult r = parse_config(
      std::string(kBase) + "[security]\nmode = \"off\"\nkey_file = \"" + key + "\"\n" + client,
      "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  auto e = check_startup(r.config, true);
  EXPECT_TRUE(has(e, "10", "security.key_file: " + key + ": No such file")) << dump(e);
  ASSERT_TRUE(write_secret_key_file(key, generate_key_pair().secret_key).ok());
  EXPECT_FALSE(has(check_startup(r.config, true), "10", "security.key_file")) << "a good key";
  chmod(key.c_str(), 0644);
  e = check_startup(r.config, true);
  EXPECT_TRUE(has(e, "10", "security.key_file: " + key + ": mode 0644")) << dump(e);
  chmod(key.c_str(), 0600);
  r = parse_config(
      std::string(kBase) + "[security]\nmode = \"required\"\nkey_file = \"" + key + "\"\n" + client,
      "acd.toml");
  ASSERT_TRUE(r.ok()) << dump(r.errors);
  e = check_startup(r.config, true);
  EXPECT_TRUE(e.empty()) << "acdd serves ACDP/2: " << dump(e);
  std::filesystem::remove_all(dir);
}

class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/acd-keys-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// A written key file is one line of base64, mode 0600 whatever the umask, and reads back as the
// same secret, whose public half is the pair's public key.
TEST_F(KeyFiles, WrittenWithMode0600AndReadBack) {
  const KeyPair pair = generate_key_pair();
  EXPECT_EQ(public_key_of(pair.secret_key), pair.public_key);
  const std::string path = dir_ + "/acdd.key";
  const mode_t old = umask(0);  // a permissive umask must not make it readable by others
  const Result<void> written = write_secret_key_file(path, pair.secret_key);
  umask(old);
  ASSERT_TRUE(written.ok()) << written.failure().message;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, key_to_base64(pair.secret_key));
  EXPECT_EQ(line.size(), 44u);
  const Result<SecretKey> read = read_secret_key_file(path);
  ASSERT_TRUE(read.ok()) << read.failure().message;
  EXPECT_EQ(read.value(), pair.secret_key);
}

// An existing file is never overwritten (nor followed through a symbolic link); the first key
// stays.
TEST_F(KeyFiles, RefusesToOverwrite) {
  const std::string path = dir_ + "/client.key";
  const KeyPair first = generate_key_pair();
  ASSERT_TRUE(write_secret_key_file(path, first.secret_key).ok());
  const Result<void> again = write_secret_key_file(path, generate_key_pair().secret_key);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.failure().message.find("never overwritten"), std::string::npos)
      << again.failure().message;
  EXPECT_EQ(read_secret_key_file(path).value(), first.secret_key);
  std::filesystem::create_symlink(dir_ + "/elsewhere", dir_ + "/link.key");
  EXPECT_FALSE(write_secret_key_file(dir_ + "/link.key", first.secret_key).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/elsewhere"));
  EXPECT_FALSE(write_secret_key_file(dir_ + "/no/such/dir.key", first.secret_key).ok());
}

// Reading refuses a file others may read, one another user owns (as root), and one that holds no
// key.
TEST_F(KeyFiles, ReadingRefusesOpenModesAndGarbage) {
  const std::string path = dir_ + "/acdd.key";
  ASSERT_TRUE(write_secret_key_file(path, generate_key_pair().secret_key).ok());
  chmod(path.c_str(), 0640);
  EXPECT_TRUE(read_secret_key_file(path).ok()) << "0640: acdd's group may read it";
  chmod(path.c_str(), 0644);
  const Result<SecretKey> open = read_secret_key_file(path);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.failure().message.find("mode 0644"), std::string::npos) << open.failure().message;
  const std::string junk = dir_ + "/junk.key";
  std::ofstream(junk) << "hello\n";
  chmod(junk.c_str(), 0600);
  EXPECT_FALSE(read_secret_key_file(junk).ok());
  EXPECT_FALSE(read_secret_key_file(dir_ + "/absent.key").ok());
  if (geteuid() == 0) {  // only root can give a file away
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    chmod(path.c_str(), 0600);
    const Result<SecretKey> foreign = read_secret_key_file(path);
    ASSERT_FALSE(foreign.ok()) << "a key another user could replace";
    EXPECT_NE(foreign.failure().message.find("owned by uid 65534"), std::string::npos)
        << foreign.failure().message;
  }
}

// Base64 of keys: exactly 32 bytes, nothing around them.
TEST(Keys, Base64RoundTripAndRefusals) {
  const KeyPair pair = generate_key_pair();
  const std::string text = key_to_base64(pair.public_key);
  EXPECT_EQ(key_from_base64(text), pair.public_key);
  EXPECT_FALSE(key_from_base64(text.substr(0, 40)).has_value());
  EXPECT_FALSE(key_from_base64(" " + text).has_value());
  EXPECT_FALSE(key_from_base64(text + "\n").has_value());
  EXPECT_FALSE(key_from_base64("").has_value());
}

}  // namespace
}  // namespace acd::control
