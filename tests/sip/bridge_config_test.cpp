// acd-sip-bridge's configuration file: a good one reads back; every mistake is named with its line.
#include <gtest/gtest.h>

#include "acd/sip/bridge_config.hpp"

namespace {

const char* kGood = R"(evapi = "127.0.0.1:18448"
acd = "127.0.0.1:17070"
key_file = "/k/bridge.key"
server_key = "/k/acdd.pub"
domain = "pbx.example"
ring_s = 10

[[services]]
number = "5000"
queue = 0

[[services]]
number = "5001"
queue = 2
priority = 5
queue_header = true

[[agents]]
id = 1001
uri = "sip:1001@10.0.0.7"
)";

// The example values land in the right fields.
TEST(SipBridgeConfig, GoodFile) {
  const auto r = acd::sip::parse_bridge_config(kGood, "b.toml");
  ASSERT_TRUE(r.config.has_value()) << (r.errors.empty() ? "" : r.errors[0]);
  const auto& c = *r.config;
  EXPECT_EQ(c.evapi, "127.0.0.1:18448");
  EXPECT_EQ(c.ring_s, 10u);
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[1].queue, 2u);
  EXPECT_EQ(c.services[1].priority, 5);
  EXPECT_TRUE(c.services[1].queue_header);
  EXPECT_EQ(c.agent_uris.at(1001), "sip:1001@10.0.0.7");
}

// The metrics endpoint is optional: off unless set, and never an empty string.
TEST(SipBridgeConfig, MetricsAddress) {
  auto r = acd::sip::parse_bridge_config(kGood, "b.toml");
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->metrics, "");
  r = acd::sip::parse_bridge_config("metrics = \"127.0.0.1:9471\"\n" + std::string(kGood),
                                    "b.toml");
  ASSERT_TRUE(r.config.has_value()) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->metrics, "127.0.0.1:9471");
  r = acd::sip::parse_bridge_config("metrics = \"\"\n" + std::string(kGood), "b.toml");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0], "b.toml:1: metrics must be a non-empty string");
}

// The pair's other node: its address and key file together.
TEST(SipBridgeConfig, StandbyNodeOfAPair) {
  auto r = acd::sip::parse_bridge_config(kGood, "b.toml");
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->standby, "");
  r = acd::sip::parse_bridge_config(
      "standby = \"127.0.0.1:17071\"\nstandby_key = \"/k/b.pub\"\n" + std::string(kGood), "b.toml");
  ASSERT_TRUE(r.config.has_value()) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->standby, "127.0.0.1:17071");
  EXPECT_EQ(r.config->standby_key, "/k/b.pub");
}

// Each mistake: no config, and a message with the file and line.
TEST(SipBridgeConfig, MistakesAreNamedWithTheirLine) {
  const struct {
    std::string text;
    const char* expect;
  } cases[] = {
      {std::string(kGood) + "ringg = 3\n", "b.toml:21: unknown key 'ringg'"},
      {std::string(kGood) + "[[services]]\nnumber = \"5000\"\nqueue = 1\n", "listed twice"},
      {std::string(kGood) + "[[services]]\nnumber = \"6000\"\n", "needs its queue"},
      {std::string(kGood) + "[[services]]\nnumber = \"6000\"\nqueue = 1\npriority = 16\n",
       "b.toml:24: priority must be an integer in 0..15"},
      {std::string(kGood) + "[[agents]]\nid = 1002\nuri = \"1002@x\"\n", "needs id"},
      {std::string(kGood) + "[[services]]\nnumber = \"6000\"\nqueue = 1\nqueeu = 2\n",
       "b.toml:24: unknown key 'queeu'"},
      {"evapi = \"x\"\n", "key_file"},
      {"key_file = \"a\"\nserver_key = \"b\"\n", "no [[services]]"},
      {"ring_s = = 3\n", "b.toml:1:"},
      {"standby = \"127.0.0.1:17071\"\n" + std::string(kGood), "go together"},
      {"standby_key = \"/k/b.pub\"\n" + std::string(kGood), "go together"},
      {"standby = \"127.0.0.1:17070\"\nstandby_key = \"/k/b.pub\"\n" + std::string(kGood),
       "same address"},
  };
  for (const auto& c : cases) {
    const auto r = acd::sip::parse_bridge_config(c.text, "b.toml");
    EXPECT_FALSE(r.config.has_value()) << c.expect;
    bool found = false;
    for (const auto& e : r.errors) {
      found = found || e.find(c.expect) != std::string::npos;
    }
    EXPECT_TRUE(found) << c.expect << " not in: " << (r.errors.empty() ? "" : r.errors[0]);
  }
}

}  // namespace
