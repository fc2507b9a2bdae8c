// Inter-site overflow in the engine: peer sites' summaries as inputs, the target of a rule to
// "sites" (least EWT among accepting sites, ties by site number), staleness, the hop limit, loop
// prevention (a call never goes back to a site it visited) and determinism (a replay and a
// restored snapshot decide the same).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine_fixture.hpp"

namespace acd::router::testing {
namespace {

constexpr QueueIndex kCards = 0;
constexpr QueueIndex kLoans = 1;
constexpr std::uint8_t kSelf = 1;
// Peers by index: sh (number 2), gz (number 3), wh (number 5).
constexpr std::uint32_t kSh = 0;
constexpr std::uint32_t kGz = 1;
constexpr std::uint32_t kWh = 2;
constexpr std::uint8_t kNumbers[] = {2, 3, 5};

// cards overflows to the best site as soon as no agent takes a call; loans waits 30 s, then tries
// a site, and at 60 s (max wait) goes to wh whatever wh says. Agent 0 serves cards only.
EngineConfig sites_config() {
  EngineConfig c;
  c.skill_count = 2;
  c.queues.push_back(make_queue("cards", {{0, 1, 0}}));
  c.queues.push_back(make_queue("loans", {{1, 1, 0}}));
  c.queues[kCards].overflow.push_back(
      {OverflowCondition::QueueLengthAtLeast, OverflowAction::ToSite, 0, kAnySite});
  c.queues[kLoans].overflow.push_back(
      {OverflowCondition::WaitAtLeast, OverflowAction::ToSite, 30'000, kAnySite});
  c.queues[kLoans].max_wait_ms = 60'000;
  c.queues[kLoans].max_wait_action = OverflowAction::ToSite;
  c.queues[kLoans].max_wait_target = kWh;
  c.agents.push_back(make_agent(100, {{0, 5, 0}}));
  c.site_number = kSelf;
  c.site_numbers = {kNumbers[0], kNumbers[1], kNumbers[2]};
  c.max_site_hops = 2;
  c.site_summary_max_age_ms = 2'000;
  return c;
}

Event summary(std::uint8_t site, const char* queue, std::uint64_t seq, std::uint32_t ewt_ms,
              bool accepts = true) {
  SiteSummaryFields f;
  f.site = site;
  f.queue_key = queue_key(queue);
  f.seq = seq;
  f.ready_agents = ewt_ms == 0 ? 3 : 0;
  f.ewt_ms = ewt_ms;
  f.sl_permille = 800;
  f.load_permille = 500;
  f.flags = accepts ? kSiteAccepts : 0;
  return site_summary_event(0, f);
}

Event from_site(CallId call, QueueIndex q, std::uint16_t hops, std::uint64_t visited) {
  Event e;
  e.type = EventType::RouteRequest;
  e.call = call;
  e.queue = q;
  e.reason = hops;
  e.number = visited;
  return e;
}

std::uint64_t bit(std::uint8_t site) { return std::uint64_t{1} << site; }

// The summary fields survive the packing into an Event.
TEST(SitesTest, SummaryFieldsRoundTrip) {
  SiteSummaryFields f{5, kSiteAccepts, 917, 0xDEADBEEF, 77, 12, 45'000, 1000};
  const SiteSummaryFields g = site_summary_fields(site_summary_event(9, f));
  EXPECT_EQ(g.site, 5);
  EXPECT_EQ(g.flags, kSiteAccepts);
  EXPECT_EQ(g.sl_permille, 917);
  EXPECT_EQ(g.queue_key, 0xDEADBEEFu);
  EXPECT_EQ(g.seq, 77u);
  EXPECT_EQ(g.ready_agents, 12u);
  EXPECT_EQ(g.ewt_ms, 45'000u);
  EXPECT_EQ(g.load_permille, 1000);
}

// The call goes to the accepting site with the least EWT; the decision carries the hop count and
// the visited sites, this one included.
TEST(SitesTest, PicksLeastEwtAmongAcceptingSites) {
  Harness h(sites_config());
  EXPECT_TRUE(h.send(summary(2, "cards", 1, 30'000), 0).empty());
  EXPECT_TRUE(h.send(summary(3, "cards", 1, 10'000), 0).empty());
  EXPECT_TRUE(h.send(summary(5, "cards", 1, 5'000, false), 0).empty());  // does not accept
  h.route(1, kCards, 10);
  const Decision* d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->action, OverflowAction::ToSite);
  EXPECT_EQ(d->target, kGz);
  EXPECT_EQ(d->reason, 1);
  EXPECT_EQ(d->number, bit(kSelf));
  EXPECT_FALSE(h.engine().call(1).has_value());
  EXPECT_EQ(h.engine().counters().site_summaries, 3u);
}

// Equal EWTs: the lower site number wins, whatever the order of the sites in the file.
TEST(SitesTest, TieGoesToLowerSiteNumber) {
  EngineConfig c = sites_config();
  c.site_numbers = {7, 3, 5};  // sh is now 7: gz (3) must win the tie
  Harness h(c);
  h.send(summary(7, "cards", 1, 10'000), 0);
  h.send(summary(3, "cards", 1, 10'000), 0);
  h.route(1, kCards, 10);
  const Decision* d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->target, kGz);
}

// A summary older than site_summary_max_age_ms does not count as accepting: the call waits.
TEST(SitesTest, StaleSummaryDoesNotAccept) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 1, 10'000), 0);
  h.route(1, kCards, 2'000);  // exactly the age limit: still fresh
  ASSERT_NE(h.find(DecisionType::Overflowed), nullptr);
  h.route(2, kCards, 2'001);
  EXPECT_EQ(h.find(DecisionType::Overflowed), nullptr);
  ASSERT_NE(h.find(DecisionType::Queued), nullptr);
  EXPECT_FALSE(h.engine().site_summary(kSh, kCards).fresh);
  // A newer summary makes it accept again.
  h.send(summary(2, "cards", 2, 10'000), 2'100);
  h.route(3, kCards, 2'200);
  EXPECT_NE(h.find(DecisionType::Overflowed), nullptr);
}

// A summary with an unknown EWT (nobody staffs the queue there) does not accept either.
TEST(SitesTest, UnknownEwtDoesNotAccept) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 1, kUnknownEwt), 0);
  h.route(1, kCards, 10);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
}

// A call that has passed through max_site_hops sites goes to no further site; one below the
// limit does, with the hop counted.
TEST(SitesTest, HopLimit) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 1, 10'000), 0);
  h.send(from_site(1, kCards, 2, bit(3) | bit(5)), 10);
  EXPECT_EQ(h.find(DecisionType::Overflowed), nullptr);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  h.send(from_site(2, kCards, 1, bit(3)), 10);
  const Decision* d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->target, kSh);
  EXPECT_EQ(d->reason, 2);
  EXPECT_EQ(d->number, bit(3) | bit(kSelf));
}

// A call never goes back to a site it visited, even the best one; with every accepting site
// visited it waits here. A call claiming to have visited this very site is refused.
TEST(SitesTest, NeverBackToAVisitedSite) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 1, 30'000), 0);
  h.send(summary(3, "cards", 1, 1'000), 0);
  h.send(from_site(1, kCards, 1, bit(3)), 10);
  const Decision* d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->target, kSh);
  h.send(from_site(2, kCards, 1, bit(3) | bit(2)), 10);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  const std::uint64_t hash = h.engine().state_hash();
  h.send(from_site(3, kCards, 1, bit(kSelf)), 10);
  const Decision* err = h.find(DecisionType::Error);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->status, Status::BadField);
  EXPECT_EQ(h.engine().state_hash(), hash);
}

// A wait rule to "sites" fires only when a site accepts; otherwise the call waits for the next
// rule. A fixed site rule (max wait to wh) is passed over when the call came from wh.
TEST(SitesTest, WaitRulesAndFixedSiteRule) {
  Harness h(sites_config());
  h.route(1, kLoans, 0);
  ASSERT_NE(h.find(DecisionType::Queued), nullptr);
  h.tick(30'000);  // no summary: the sites rule cannot apply
  EXPECT_TRUE(h.engine().call(1).has_value());
  h.tick(60'000);  // max wait: to wh, fixed
  EXPECT_FALSE(h.engine().call(1).has_value());

  h.send(from_site(2, kLoans, 1, bit(5)), 61'000);  // came from wh
  h.tick(91'000);
  h.tick(121'000);
  EXPECT_TRUE(h.engine().call(2).has_value()) << "never sent back to wh";

  h.route(3, kLoans, 122'000);
  h.send(summary(3, "loans", 1, 4'000), 151'000);
  const auto& ds = h.tick(152'000);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].type, DecisionType::Overflowed);
  EXPECT_EQ(ds[0].target, kGz);
}

// A rule to "sites" that no site accepts is passed over: the next arrival rule decides.
TEST(SitesTest, ArrivalFallsThroughToNextRule) {
  EngineConfig c = sites_config();
  c.queues[kCards].overflow.push_back(
      {OverflowCondition::QueueLengthAtLeast, OverflowAction::ToIvr, 0, 9000});
  Harness h(c);
  h.route(1, kCards, 10);
  const Decision* d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->action, OverflowAction::ToIvr);
  h.send(summary(5, "cards", 1, 20'000), 20);
  h.route(2, kCards, 30);
  d = h.find(DecisionType::Overflowed);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->action, OverflowAction::ToSite);
  EXPECT_EQ(d->target, kWh);
}

// Bad summaries change nothing: an unknown site is an Error, a bad field too; an older sequence
// and a queue this site does not have are passed over.
TEST(SitesTest, BadSummariesChangeNothing) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 5, 10'000), 0);
  const std::uint64_t hash = h.engine().state_hash();
  const Decision* d = nullptr;
  h.send(summary(9, "cards", 6, 10'000), 1);
  d = h.find(DecisionType::Error);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->status, Status::UnknownSite);
  Event bad = summary(2, "cards", 6, 10'000);
  bad.number |= std::uint64_t{1001} << 32;  // service level above 1000 permille
  h.send(bad, 1);
  d = h.find(DecisionType::Error);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->status, Status::BadField);
  EXPECT_TRUE(h.send(summary(2, "cards", 4, 1, false), 1).empty());
  EXPECT_TRUE(h.send(summary(2, "mortgages", 7, 1), 1).empty());
  EXPECT_EQ(h.engine().counters().site_summaries_ignored, 2u);
  // Time moved (1 ms): compare the summary, not the hash, for the passed-over ones.
  EXPECT_EQ(h.engine().site_summary(kSh, kCards).seq, 5u);
  EXPECT_EQ(h.engine().site_summary(kSh, kCards).ewt_ms, 10'000u);
  Harness fresh(sites_config());
  fresh.send(summary(2, "cards", 5, 10'000), 0);
  EXPECT_EQ(fresh.engine().state_hash(), hash);
}

// The preview of a route request names the same site apply picks.
TEST(SitesTest, PreviewAgreesWithApply) {
  Harness h(sites_config());
  h.send(summary(2, "cards", 1, 9'000), 0);
  h.send(summary(3, "cards", 1, 8'000), 0);
  std::vector<Decision> preview;
  Event e = from_site(1, kCards, 1, bit(3));
  e.time = 10'000;
  h.engine().preview_route(e, [&](const Decision& d) { preview.push_back(d); });
  const auto& applied = h.send(from_site(1, kCards, 1, bit(3)), 10);
  ASSERT_EQ(preview.size(), 1u);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(preview[0].target, applied[0].target);
  EXPECT_EQ(preview[0].number, applied[0].number);
  EXPECT_EQ(preview[0].reason, applied[0].reason);
}

// A seeded stream of summaries, calls from here and from other sites, agents and ticks: a replay
// decides the same, and an engine restored from a snapshot taken midway continues identically.
TEST(SitesTest, ReplayAndRestoreDecideTheSame) {
  std::vector<Event> stream;
  std::mt19937_64 rng(20261130);
  std::uint64_t t = 0;
  CallId next_call = 1;
  for (int i = 0; i < 4000; ++i) {
    t += rng() % 700 * 1000;
    Event e;
    switch (rng() % 6) {
      case 0:
      case 1:
        e = summary(kNumbers[rng() % 3], rng() % 2 == 0 ? "cards" : "loans", i + 1,
                    rng() % 4 == 0 ? kUnknownEwt : static_cast<std::uint32_t>(rng() % 60'000),
                    rng() % 5 != 0);
        break;
      case 2:
        e = from_site(next_call++, static_cast<QueueIndex>(rng() % 2),
                      static_cast<std::uint16_t>(rng() % 3), rng() & (bit(2) | bit(3) | bit(5)));
        break;
      case 3:
        e.type = EventType::AgentReady;
        e.agent = 0;
        if (rng() % 2 == 0) {
          e.type = EventType::AgentSignIn;
        }
        break;
      case 4:
        e.type = EventType::CallReleased;
        e.call = 1 + rng() % next_call;
        break;
      default:
        break;  // a tick
    }
    e.time = t;
    stream.push_back(e);
  }
  auto run = [&](Engine& engine, std::size_t from, std::size_t to, std::vector<Decision>& out) {
    for (std::size_t i = from; i < to; ++i) {
      engine.apply(stream[i], [&](const Decision& d) { out.push_back(d); });
    }
  };
  const EngineConfig config = sites_config();
  Engine a(config);
  Engine b(config);
  std::vector<Decision> da;
  std::vector<Decision> db;
  run(a, 0, stream.size() / 2, da);
  const std::size_t half = da.size();
  const std::vector<std::uint8_t> image = a.snapshot();
  run(a, stream.size() / 2, stream.size(), da);
  run(b, 0, stream.size(), db);
  ASSERT_EQ(da.size(), db.size());
  std::size_t to_sites = 0;
  for (std::size_t i = 0; i < da.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&da[i], &db[i], sizeof(Decision))) << "decision " << i;
    to_sites += da[i].type == DecisionType::Overflowed && da[i].action == OverflowAction::ToSite;
  }
  EXPECT_GT(to_sites, 50u);
  EXPECT_EQ(a.state_hash(), b.state_hash());

  Engine c(config);
  ASSERT_TRUE(c.restore(image));
  Engine at_half(config);
  std::vector<Decision> ignored;
  run(at_half, 0, stream.size() / 2, ignored);
  for (std::uint32_t site = 0; site < c.site_count(); ++site) {
    for (QueueIndex q = 0; q < c.queue_count(); ++q) {
      const SiteSummaryView want = at_half.site_summary(site, q);
      const SiteSummaryView got = c.site_summary(site, q);
      EXPECT_EQ(got.seq, want.seq);
      EXPECT_EQ(got.ewt_ms, want.ewt_ms);
      EXPECT_EQ(got.received, want.received);
    }
  }
  std::vector<Decision> dc;
  run(c, stream.size() / 2, stream.size(), dc);
  std::vector<Decision> tail(da.begin() + static_cast<std::ptrdiff_t>(half), da.end());
  ASSERT_EQ(dc.size(), tail.size());
  for (std::size_t i = 0; i < dc.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&dc[i], &tail[i], sizeof(Decision))) << "decision " << i;
  }
  EXPECT_EQ(c.state_hash(), a.state_hash());
  // Another site numbering is another configuration: its image is refused.
  EngineConfig other = config;
  other.site_numbers = {2, 3, 6};
  Engine d(other);
  EXPECT_FALSE(d.restore(image));
}

}  // namespace
}  // namespace acd::router::testing
