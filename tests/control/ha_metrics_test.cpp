// The metrics endpoint's HA and journal families, from an HaStatus set up as a primary with a link
// and a journal: every role listed once, lag only while a standby is attached, each link counter
// and the acknowledgement histogram present, the journal's families present while it exists and
// gone once the status lets go of it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/metric_family.h>

#include "acd/control/ha_node.hpp"
#include "acd/control/metrics.hpp"
#include "acd/dataplane/journal.hpp"
#include "acd/dataplane/replication_link.hpp"

namespace acd::control {
namespace {

using Families = std::vector<prometheus::MetricFamily>;

const prometheus::MetricFamily* find(const Families& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

// The value of an unlabelled gauge or counter; fails the test (and gives -1) when absent.
double value(const Families& families, const std::string& name) {
  const prometheus::MetricFamily* f = find(families, name);
  EXPECT_NE(f, nullptr) << name;
  if (f == nullptr || f->metric.empty()) {
    return -1;
  }
  return f->type == prometheus::MetricType::Counter ? f->metric.front().counter.value
                                                    : f->metric.front().gauge.value;
}

std::map<std::string, double> roles(const Families& families) {
  std::map<std::string, double> by_role;
  const prometheus::MetricFamily* f = find(families, "acd_ha_role");
  EXPECT_NE(f, nullptr);
  if (f != nullptr) {
    for (const auto& m : f->metric) {
      by_role[m.label.at(0).value] += m.gauge.value;
    }
  }
  return by_role;
}

class HaMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("acd-ha-metrics-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

// A node without [ha] and nothing attached: role single, no link, ack or journal families.
TEST_F(HaMetricsTest, SingleNodeShowsRoleSingleAndNothingAttached) {
  HaStatus ha;
  MetricsSources sources;
  sources.ha = &ha;
  const Families families = collect_metrics(sources);
  const auto by_role = roles(families);
  EXPECT_EQ(by_role.size(), 7u);
  EXPECT_EQ(by_role.at("single"), 1);
  for (const auto& [role, v] : by_role) {
    EXPECT_EQ(v, role == "single" ? 1 : 0) << role;
  }
  EXPECT_EQ(find(families, "acd_replication_acks_received_total"), nullptr);
  EXPECT_EQ(find(families, "acd_ha_ack_latency_seconds"), nullptr);
  EXPECT_EQ(find(families, "acd_journal_durable_seq"), nullptr);
  EXPECT_EQ(find(collect_metrics(MetricsSources{}), "acd_ha_role"), nullptr);
}

// A primary with a synchronous standby, a link and a journal: lag = last - acked, each link counter
// and the histogram exported; alone without a standby the lag reads 0; detached, the families go.
TEST_F(HaMetricsTest, PrimaryShowsLagLinkHistogramAndJournal) {
  std::string why;
  std::unique_ptr<dataplane::Journal> journal =
      dataplane::Journal::open(dataplane::JournalConfig{dir_.string()}, 1, why);
  ASSERT_NE(journal, nullptr) << why;
  const std::vector<std::uint8_t> record{1, 2, 3};
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    ASSERT_TRUE(journal->append(seq, record));
  }
  for (int i = 0; i < 2000 && journal->durable_seq() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the writer thread's group commit
  }
  ASSERT_EQ(journal->durable_seq(), 5u);

  dataplane::LinkCounters link;
  link.bump(dataplane::LinkCounter::acks_received, 42);
  dataplane::LatencyHistogram ack;
  ack.record(300);     // the 500 ns bucket
  ack.record(20'000);  // the 50 us bucket

  HaStatus ha;
  ha.role.store(HaRole::Primary);
  ha.epoch.store(7);
  ha.last_seq.store(120);
  ha.peer_seq.store(100);
  ha.peer_state.store(2);  // synchronous
  ha.hash_checks.store(3);
  ha.set_sources(&link, &ack, journal.get());
  MetricsSources sources;
  sources.ha = &ha;

  Families families = collect_metrics(sources);
  EXPECT_EQ(roles(families).at("primary"), 1);
  EXPECT_EQ(roles(families).at("single"), 0);
  EXPECT_EQ(value(families, "acd_ha_epoch"), 7);
  EXPECT_EQ(value(families, "acd_ha_last_seq"), 120);
  EXPECT_EQ(value(families, "acd_ha_standby_acked_seq"), 100);
  EXPECT_EQ(value(families, "acd_ha_lag_entries"), 20);
  EXPECT_EQ(value(families, "acd_ha_hash_checks_total"), 3);
  EXPECT_EQ(value(families, "acd_replication_acks_received_total"), 42);
  for (std::size_t i = 0; i < dataplane::kLinkCounterCount; ++i) {
    const auto c = static_cast<dataplane::LinkCounter>(i);
    EXPECT_NE(find(families, std::string(dataplane::link_counter_name(c)) + "_total"), nullptr);
  }
  const prometheus::MetricFamily* hist = find(families, "acd_ha_ack_latency_seconds");
  ASSERT_NE(hist, nullptr);
  EXPECT_EQ(hist->type, prometheus::MetricType::Histogram);
  const auto& h = hist->metric.at(0).histogram;
  EXPECT_EQ(h.sample_count, 2u);
  EXPECT_NEAR(h.sample_sum, 20'300e-9, 1e-12);
  ASSERT_EQ(h.bucket.size(), dataplane::LatencyHistogram::kBoundsNs.size());
  EXPECT_EQ(h.bucket.at(0).cumulative_count, 0u);  // <= 250 ns
  EXPECT_EQ(h.bucket.at(1).cumulative_count, 1u);  // <= 500 ns
  EXPECT_EQ(h.bucket.at(6).cumulative_count, 2u);  // <= 50 us
  EXPECT_EQ(value(families, "acd_journal_durable_seq"), 5);
  EXPECT_EQ(value(families, "acd_journal_records_total"), 5);
  EXPECT_GE(value(families, "acd_journal_group_commits_total"), 1);
  EXPECT_GE(value(families, "acd_journal_sync_seconds_total"), 0);
  EXPECT_EQ(value(families, "acd_journal_failed"), 0);

  // Alone, no standby attached: its stale acknowledgement is no lag.
  ha.role.store(HaRole::Alone);
  ha.peer_state.store(3);  // dead
  families = collect_metrics(sources);
  EXPECT_EQ(roles(families).at("primary-alone"), 1);
  EXPECT_EQ(value(families, "acd_ha_lag_entries"), 0);

  // Once the status lets go of the link and journal, their families go with them.
  ha.set_sources(nullptr, nullptr, nullptr);
  journal.reset();
  families = collect_metrics(sources);
  EXPECT_EQ(find(families, "acd_replication_acks_received_total"), nullptr);
  EXPECT_EQ(find(families, "acd_ha_ack_latency_seconds"), nullptr);
  EXPECT_EQ(find(families, "acd_journal_durable_seq"), nullptr);
  EXPECT_NE(find(families, "acd_ha_epoch"), nullptr);
}

}  // namespace
}  // namespace acd::control
