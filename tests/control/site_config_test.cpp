// acd.toml's [site] and [[sites]]: a DR site and an active site read as written; every mistake
// (unknown role or key, self as peer, a peer twice, no site to follow, bad addresses, a key
// without this node's key) is reported with its file and line, and the old one-line forms still
// read as before.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "acd/control/config.hpp"
#include "acd/control/site_summary_sender.hpp"
#include "acd/router/event.hpp"

namespace acd::control {
namespace {

// The embedded default with its top-level `site` and `sites` lines replaced by `tables`.
std::string with_sites(const std::string& tables) {
  std::string text = embedded_default_config();
  text = std::regex_replace(text, std::regex("(^|\n)site = [^\n]*\n"), "$1");
  text = std::regex_replace(text, std::regex("(^|\n)sites = [^\n]*\n"), "$1");
  // The demo's overflow to its own DR site, named by the list form: left out.
  text = std::regex_replace(text,
                            std::regex("\n  \\[\\[queue.overflow\\]\\]\n  when = \"ewt\"\n  "
                                       "threshold = 600\n  action = \"site\"\n  target = "
                                       "\"demo-dr\"\n"),
                            "\n");
  // Tables go after the top-level keys: before the first table header.
  const std::size_t first = text.find("\n[");
  return text.substr(0, first + 1) + tables + "\n" + text.substr(first + 1);
}

const char* const kDr = R"(
[site]
name = "sh"
role = "dr"

[[sites]]
name = "bj"
role = "active"
dataplane = ["192.0.2.1:7070", "192.0.2.2:7070"]
replication = ["192.0.2.1:7400", "192.0.2.2:7400"]
etcd = ["192.0.2.9:2379"]
etcd_key = "/acd/bj/epoch"
)";

// A DR site's file reads into the site it follows, with every address; the site names reach the
// routing domain too (overflow may name them).
TEST(SiteConfig, DrSiteReadsAsWritten) {
  const ConfigResult r = parse_config(with_sites(kDr), "acd.toml");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.config.site, "sh");
  ASSERT_EQ(r.config.sites.size(), 1u);
  EXPECT_EQ(r.config.sites[0], "bj");
  EXPECT_TRUE(r.config.dr.follows());
  EXPECT_EQ(r.config.dr.node, "sh");  // the name it takes the epoch under
  const PeerSite* a = r.config.dr.followed();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "bj");
  EXPECT_EQ(a->replication.size(), 2u);
  EXPECT_EQ(a->dataplane[1], "192.0.2.2:7070");
  EXPECT_EQ(a->etcd_key, "/acd/bj/epoch");
  EXPECT_FALSE(a->public_key.has_value());
}

// An active site serves its DR peer on replication_listen.
TEST(SiteConfig, ActiveSiteServesItsDrPeer) {
  const ConfigResult r = parse_config(with_sites(R"(
[site]
name = "bj"
role = "active"
replication_listen = "127.0.0.1:7400"

[[sites]]
name = "sh"
role = "dr"
dataplane = ["127.0.0.1:7080"]
)"),
                                      "acd.toml");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_TRUE(r.config.dr.serves_dr());
  EXPECT_FALSE(r.config.dr.follows());
  ASSERT_NE(r.config.dr.dr_peer(), nullptr);
  EXPECT_EQ(r.config.dr.dr_peer()->name, "sh");
  EXPECT_EQ(r.config.dr.node, "bj");  // defaults to the site's name
}

// Without [site], nothing of disaster recovery is configured (the default file).
TEST(SiteConfig, OldFormsStillRead) {
  const ConfigResult r = parse_config(embedded_default_config(), "acd.toml");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_FALSE(r.config.dr.configured);
  EXPECT_EQ(r.config.sites.size(), 1u);
}

struct BadCase {
  const char* name;
  const char* tables;
  const char* expected;  // a part of the one message expected, after "acd.toml:LINE: "
};

// Each mistake is one message with the file and line, and nothing is configured.
// A DR site may be a pair ([ha] with a peer), on a key of its own: the followed site's key on
// the same etcd is refused, with the line of [site].
TEST(SiteConfig, DrPairNeedsAKeyOfItsOwn) {
  const std::string ha =
      "\n[ha]\nnode = \"sh-a\"\nreplication_listen = \"192.0.2.21:7401\"\n"
      "peer = \"192.0.2.22:7401\"\npeer_dataplane = \"192.0.2.22:7070\"\n"
      "etcd = [\"192.0.2.9:2379\"]\n";
  const ConfigResult own =
      parse_config(with_sites(std::string(kDr) + ha + "etcd_key = \"/acd/sh/epoch\"\n"),
                   "acd.toml");
  ASSERT_TRUE(own.ok()) << own.errors.front();
  EXPECT_TRUE(own.config.dr.follows());
  EXPECT_TRUE(own.config.ha.enabled());
  const ConfigResult same =
      parse_config(with_sites(std::string(kDr) + ha + "etcd_key = \"/acd/bj/epoch\"\n"),
                   "acd.toml");
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.errors.front().find("acd.toml:"), std::string::npos) << same.errors.front();
  EXPECT_NE(same.errors.front().find("a DR pair needs a key of its own"), std::string::npos)
      << same.errors.front();
}

TEST(SiteConfig, MistakesAreReportedWithTheirLine) {
  const BadCase cases[] = {
      {"self as peer",
       "[site]\nname = \"bj\"\nrole = \"active\"\n[[sites]]\nname = \"bj\"\nrole = \"dr\"\n",
       "is this site ([site] name): a site is not its own peer"},
      {"duplicate",
       "[site]\nname = \"sh\"\nrole = \"dr\"\n[[sites]]\nname = \"bj\"\nrole = \"active\"\n"
       "replication = [\"127.0.0.1:1\"]\netcd = [\"127.0.0.1:2\"]\n"
       "[[sites]]\nname = \"bj\"\nrole = \"dr\"\n",
       "[[sites]] 'bj' is given twice"},
      {"unknown role", "[site]\nname = \"sh\"\nrole = \"backup\"\n", "role"},
      {"no role", "[site]\nname = \"sh\"\n", "[site] needs role"},
      {"unknown key", "[site]\nname = \"sh\"\nrole = \"active\"\nprimary = true\n", "primary"},
      {"dr without active", "[site]\nname = \"sh\"\nrole = \"dr\"\n",
       "give exactly one [[sites]] entry with role = \"active\" (0 given)"},
      {"dr following nowhere",
       "[site]\nname = \"sh\"\nrole = \"dr\"\n[[sites]]\nname = \"bj\"\nrole = \"active\"\n",
       "give its replication addresses and the etcd endpoints"},
      {"active without listen",
       "[site]\nname = \"bj\"\nrole = \"active\"\n[[sites]]\nname = \"sh\"\nrole = \"dr\"\n",
       "give [site] replication_listen"},
      {"bad address",
       "[site]\nname = \"sh\"\nrole = \"dr\"\n[[sites]]\nname = \"bj\"\nrole = \"active\"\n"
       "replication = [\"bj-1:7400\"]\netcd = [\"127.0.0.1:2\"]\n",
       "an address is \"A.B.C.D:PORT\""},
      {"key without own key",
       "[site]\nname = \"bj\"\nrole = \"active\"\nreplication_listen = \"127.0.0.1:7400\"\n"
       "[[sites]]\nname = \"sh\"\nrole = \"dr\"\n"
       "public_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n",
       "give [security] key_file"},
      {"bad key",
       "[site]\nname = \"bj\"\nrole = \"active\"\nreplication_listen = \"127.0.0.1:7400\"\n"
       "[[sites]]\nname = \"sh\"\nrole = \"dr\"\npublic_key = \"nope\"\n",
       "is not a key"},
      {"names without [site]", "[[sites]]\nname = \"sh\"\nrole = \"dr\"\n",
       "[[sites]] entries need a [site] table"},
  };
  const std::regex located("^acd\\.toml:[0-9]+: .*");
  for (const BadCase& bad : cases) {
    const ConfigResult r = parse_config(with_sites(bad.tables), "acd.toml");
    ASSERT_FALSE(r.ok()) << bad.name;
    ASSERT_EQ(r.errors.size(), 1u)
        << bad.name << ": " << r.errors.front() << " / " << r.errors.back();
    EXPECT_TRUE(std::regex_match(r.errors.front(), located))
        << bad.name << ": " << r.errors.front();
    EXPECT_NE(r.errors.front().find(bad.expected), std::string::npos)
        << bad.name << ": " << r.errors.front();
  }
}

// [security] mode = "required" refuses a clear-text DR link, on either side, at the [site] line;
// with the peer's public_key it is taken.
TEST(SiteConfig, RequiredSecurityNeedsASealedDrLink) {
  const std::string security = "[security]\nmode = \"required\"\nkey_file = \"/etc/acd/acdd.key\"\n";
  const std::string key = "public_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
  const std::string active =
      "[site]\nname = \"bj\"\nrole = \"active\"\nreplication_listen = \"127.0.0.1:7400\"\n"
      "[[sites]]\nname = \"sh\"\nrole = \"dr\"\n";
  const std::regex refused(
      "^acd\\.toml:[0-9]+: \\[security\\] mode = \"required\" needs a public_key in "
      "\\[\\[sites\\]\\] '(sh|bj)'.*");
  for (const std::string& tables : {active, std::string(kDr)}) {
    ConfigResult r = parse_config(with_sites(tables + security), "acd.toml");
    const auto it = std::find_if(r.errors.begin(), r.errors.end(), [&](const std::string& e) {
      return std::regex_match(e, refused);
    });
    EXPECT_NE(it, r.errors.end()) << tables << (r.errors.empty() ? "" : r.errors.front());
    r = parse_config(with_sites(tables + key + security), "acd.toml");
    EXPECT_TRUE(std::none_of(r.errors.begin(), r.errors.end(), [&](const std::string& e) {
      return std::regex_match(e, refused);
    })) << tables;
  }
}

// An overflow rule naming a site that is no [[sites]] entry is refused, as with the list form;
// one naming a [[sites]] entry is taken.
TEST(SiteConfig, OverflowTargetsAreTheSitesEntries) {
  const std::string rule =
      "  [[queue.overflow]]\n  when = \"ewt\"\n  threshold = 600\n  action = \"site\"\n  target = ";
  std::string text = with_sites(kDr);
  const std::size_t english = text.find("[[queue]]\nname = \"english\"");
  ASSERT_NE(english, std::string::npos);
  const ConfigResult good =
      parse_config(std::string(text).insert(english, rule + "\"bj\"\n\n"), "acd.toml");
  ASSERT_TRUE(good.ok()) << good.errors.front();
  const ConfigResult r =
      parse_config(std::string(text).insert(english, rule + "\"gz\"\n\n"), "acd.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors.front().find("site 'gz' is not in 'sites'"), std::string::npos)
      << r.errors.front();
}

// The inter-site keys read into the site and the domain; the sender's summary of a snapshot says,
// per queue that is not retired, its key, ready agents, EWT, service level, load and whether it
// accepts overflow (staffed, EWT known, not in surge).
TEST(SiteConfig, SummariesOfTheSite) {
  const ConfigResult r = parse_config(with_sites(R"(
[site]
name = "bj"
role = "active"
number = 7
summaries_per_second = 10
summary_max_age_s = 3

[[sites]]
name = "sh"
role = "active"
number = 9
dataplane = ["127.0.0.1:7080"]
)"),
                                      "acd.toml");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.config.dr.summaries_per_second, 10u);
  EXPECT_EQ(r.config.domain.site_number, 7);
  ASSERT_EQ(r.config.domain.site_numbers.size(), 1u);
  EXPECT_EQ(r.config.domain.site_numbers[0], 9);
  EXPECT_EQ(r.config.domain.site_summary_max_age_ms, 3000u);

  Snapshot s;
  s.config = &r.config;
  s.queues.resize(r.config.domain.queues.size());
  ASSERT_GE(s.queues.size(), 2u);
  for (QueueRow& row : s.queues) {
    row.view.ewt_ms = router::kUnknownEwt;  // nobody staffs it: does not accept
  }
  s.queues[0].view.staffed = 4;
  s.queues[0].view.ready_agents = 1;
  s.queues[0].view.ewt_ms = 12'000;
  s.queues[0].stats.answered = 10;
  s.queues[0].stats.answered_in_sl = 7;
  s.queues[1].view.staffed = 2;
  s.queues[1].view.ewt_ms = 5'000;
  s.queues[1].view.surge = true;  // in surge: takes no overflow
  const auto m = build_site_summaries(s, 7, 1234);
  ASSERT_EQ(m.size(), s.queues.size());
  EXPECT_EQ(m[0].site, 7);
  EXPECT_EQ(m[0].summary_seq, 1234u);
  EXPECT_EQ(m[0].queue_key, router::queue_key(r.config.domain.queues[0].name));
  EXPECT_EQ(m[0].ready_agents, 1u);
  EXPECT_EQ(m[0].ewt_ms, 12'000u);
  EXPECT_EQ(m[0].sl_permille, 700);
  EXPECT_EQ(m[0].load_permille, 750);
  EXPECT_EQ(m[0].flags, dataplane::wire::kSiteAcceptsOverflow);
  EXPECT_EQ(m[1].flags, 0);
  EXPECT_EQ(m[2].flags, 0);
}

}  // namespace
}  // namespace acd::control
