// The database-derived /metrics series (services/metrics/system_metrics.h)
// from hand-made snapshots and estimates: names, labels, values, zeros, and
// the collector's refresh rule, with a fake store and a fake clock.
#include "services/metrics/system_metrics.h"

#include <prometheus/text_serializer.h>

#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "scheduler/clock.h"
#include "services/metrics/process_metrics.h"

namespace mixsweep::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// "name{labels} value" -> value, from the text format.
std::map<std::string, std::string> Samples(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, std::string> out;
  const std::string text = prometheus::TextSerializer().Serialize(families);
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    const size_t space = line.rfind(' ');
    out[std::string(line.substr(0, space))] = std::string(line.substr(space + 1));
  }
  return out;
}

SystemSnapshot ExampleSnapshot() {
  SystemSnapshot s;
  s.jobs_by_kind_state[{"train", "succeeded"}] = 9;
  s.jobs_by_kind_state[{"finetune", "blocked"}] = 4;
  s.sweeps_by_state["active"] = 1;
  SweepActivity sweep{.sweep_id = 7,
                      .jobs_by_state = {{"succeeded", 3}, {"queued", 5}, {"cancelled", 2}},
                      .requests = 4,
                      .requests_complete = 1,
                      .last_progress = absl::FromUnixSeconds(1800000000)};
  s.active_sweeps.push_back(sweep);
  s.requests_by_state["open"] = 3;
  s.workers_by_state["alive"] = 2;
  s.gpus_total = 8;
  s.gpus_busy = 3;
  s.events_by_kind["job.leased"] = 40;
  s.events_by_kind["job.lease_expired"] = 2;
  // Two train jobs: one in the first bucket (<= 1 s), one above every bound.
  BucketCounts durations;
  durations.counts.assign(kJobDurationBoundsSeconds.size() + 1, 0);
  durations.counts[0] = 1;
  durations.counts.back() = 1;
  durations.sum = 1e6 + 0.5;
  s.job_duration_seconds["train"] = durations;
  BucketCounts gpu;
  gpu.counts.assign(kJobGpuSecondsBounds.size() + 1, 0);
  gpu.counts[2] = 9;
  gpu.sum = 450;
  s.job_gpu_seconds["train"] = gpu;
  s.trials_recorded = 120;
  s.trial_corrections = 1;
  return s;
}

evaluation::StoredEstimate ExampleEstimate(const std::string& source) {
  evaluation::StoredEstimate stored;
  stored.task = "pick_dual_bottles";
  auto& e = stored.estimate;
  e.key = {.sweep_id = 7, .scenario = "in_domain", .source = source};
  e.trial_count = 90;
  e.fit = {.defined = true, .alpha = 0.05, .beta = 0.3, .r_squared = 0.97};
  utilization::LocalEta local{.n_t_star = 200, .n_nt = 1000};
  local.eta = {.status = utilization::EtaStatus::kDefined, .value = 12.5};
  utilization::EtaInterval bounded;
  bounded.inverse = {.lower = 0.02, .upper = 0.1};
  bounded.shape = utilization::EtaIntervalShape::kBounded;
  bounded.sign_established = true;
  bounded.eta_lower = 10;
  bounded.eta_upper = 50;
  local.interval = bounded;
  e.local.push_back(local);
  utilization::GlobalEta undefined{.n_tele = 50, .n_nt = 1000};
  undefined.eta = {.status = utilization::EtaStatus::kSMixZero};
  e.global.push_back(undefined);
  utilization::GlobalEta split{.n_tele = 100, .n_nt = 1000, .s_mix = 0.4, .n_eq = 150};
  split.eta = {.status = utilization::EtaStatus::kDefined, .value = -20};
  utilization::EtaInterval unbounded;
  unbounded.inverse = {.lower = -0.1, .upper = 0.05};
  unbounded.shape = utilization::EtaIntervalShape::kSplit;
  unbounded.sign_established = false;
  split.interval = unbounded;
  e.global.push_back(split);
  return stored;
}

TEST(MetricsSystemFamilies, EveryJobKindAndStatePairIsPresentWithZeros) {
  auto samples = Samples(SystemFamilies(ExampleSnapshot(), {}));
  EXPECT_EQ(samples["mixsweep_jobs{kind=\"train\",state=\"succeeded\"}"], "9");
  EXPECT_EQ(samples["mixsweep_jobs{kind=\"finetune\",state=\"blocked\"}"], "4");
  EXPECT_EQ(samples["mixsweep_jobs{kind=\"generate\",state=\"failed\"}"], "0");
  int jobs_series = 0;
  for (const auto& [name, value] : samples) jobs_series += absl::StartsWith(name, "mixsweep_jobs{");
  EXPECT_EQ(jobs_series, 5 * 7);
  EXPECT_EQ(samples["mixsweep_sweeps{state=\"cancelled\"}"], "0");
  EXPECT_EQ(samples["mixsweep_workers{state=\"alive\"}"], "2");
  EXPECT_EQ(samples["mixsweep_workers{state=\"lost\"}"], "0");
}

TEST(MetricsSystemFamilies, ActiveSweepQueueDepthProgressAndLastProgress) {
  auto samples = Samples(SystemFamilies(ExampleSnapshot(), {}));
  EXPECT_EQ(samples["mixsweep_sweep_jobs{sweep=\"7\",state=\"queued\"}"], "5");
  EXPECT_EQ(samples["mixsweep_sweep_jobs{sweep=\"7\",state=\"running\"}"], "0");
  // (3 succeeded + 1 request complete) / (8 jobs not cancelled + 4 requests).
  EXPECT_DOUBLE_EQ(std::stod(samples["mixsweep_sweep_progress_ratio{sweep=\"7\"}"]), 4.0 / 12.0);
  EXPECT_DOUBLE_EQ(
      std::stod(samples["mixsweep_sweep_last_progress_timestamp_seconds{sweep=\"7\"}"]), 1.8e9);
}

TEST(MetricsSystemFamilies, GpusEventCountersAndTrials) {
  auto samples = Samples(SystemFamilies(ExampleSnapshot(), {}));
  EXPECT_EQ(samples["mixsweep_gpus{state=\"busy\"}"], "3");
  EXPECT_EQ(samples["mixsweep_gpus{state=\"idle\"}"], "5");
  EXPECT_EQ(samples["mixsweep_lease_grants_total"], "40");
  EXPECT_EQ(samples["mixsweep_lease_expiries_total"], "2");
  EXPECT_EQ(samples["mixsweep_job_retries_total"], "0");
  EXPECT_EQ(samples["mixsweep_job_failures_total"], "0");
  EXPECT_EQ(samples["mixsweep_evaluation_trials_recorded_total"], "120");
  EXPECT_EQ(samples["mixsweep_evaluation_trial_corrections_total"], "1");
  EXPECT_EQ(samples["mixsweep_jobs_succeeded_total{kind=\"train\"}"], "9");
}

TEST(MetricsSystemFamilies, JobHistogramsAreCumulativeWithAnInfiniteBucket) {
  auto samples = Samples(SystemFamilies(ExampleSnapshot(), {}));
  EXPECT_EQ(samples["mixsweep_job_duration_seconds_bucket{kind=\"train\",le=\"1\"}"], "1");
  EXPECT_EQ(samples["mixsweep_job_duration_seconds_bucket{kind=\"train\",le=\"345600\"}"], "1");
  EXPECT_EQ(samples["mixsweep_job_duration_seconds_bucket{kind=\"train\",le=\"+Inf\"}"], "2");
  EXPECT_EQ(samples["mixsweep_job_duration_seconds_count{kind=\"train\"}"], "2");
  EXPECT_EQ(samples["mixsweep_job_gpu_seconds_bucket{kind=\"train\",le=\"10\"}"], "0");
  EXPECT_EQ(samples["mixsweep_job_gpu_seconds_bucket{kind=\"train\",le=\"60\"}"], "9");
  EXPECT_EQ(samples["mixsweep_job_gpu_seconds_sum{kind=\"train\"}"], "450");
  // Kinds without jobs still have their (empty) histogram.
  EXPECT_EQ(samples["mixsweep_job_duration_seconds_count{kind=\"pretrain\"}"], "0");
}

TEST(MetricsSystemFamilies, EstimatesExportDefinedEtasTheirIntervalsAndOneFitPerScenario) {
  auto samples = Samples(
      SystemFamilies(ExampleSnapshot(), {ExampleEstimate("sim"), ExampleEstimate("video")}));
  const std::string local =
      "{sweep=\"7\",task=\"pick_dual_bottles\",scenario=\"in_domain\",source=\"sim\","
      "estimate=\"local\",n_tele=\"200\",n_nt=\"1000\"}";
  EXPECT_EQ(samples["mixsweep_eta" + local], "12.5");
  EXPECT_EQ(samples["mixsweep_eta_lower" + local], "10");
  EXPECT_EQ(samples["mixsweep_eta_upper" + local], "50");
  EXPECT_EQ(samples["mixsweep_eta_inverse_lower" + local], "0.02");
  EXPECT_EQ(samples["mixsweep_eta_sign_established" + local], "1");

  const std::string split =
      "{sweep=\"7\",task=\"pick_dual_bottles\",scenario=\"in_domain\",source=\"sim\","
      "estimate=\"global\",n_tele=\"100\",n_nt=\"1000\"}";
  EXPECT_EQ(samples["mixsweep_eta" + split], "-20");
  EXPECT_EQ(samples["mixsweep_eta_sign_established" + split], "0");
  EXPECT_EQ(samples["mixsweep_eta_inverse_lower" + split], "-0.1");
  // A split interval has no finite eta bounds to export.
  EXPECT_EQ(samples.count("mixsweep_eta_lower" + split), 0u);
  // An undefined eta (S_mix = 0) has no value at all.
  EXPECT_EQ(samples.count(
                "mixsweep_eta{sweep=\"7\",task=\"pick_dual_bottles\",scenario=\"in_domain\","
                "source=\"sim\",estimate=\"global\",n_tele=\"50\",n_nt=\"1000\"}"),
            0u);
  // The fit belongs to the scenario: one series, though two sources share it.
  int fits = 0;
  for (const auto& [name, value] : samples) fits += absl::StartsWith(name, "mixsweep_power_law_beta");
  EXPECT_EQ(fits, 1);
  EXPECT_EQ(samples["mixsweep_power_law_beta{sweep=\"7\",task=\"pick_dual_bottles\","
                    "scenario=\"in_domain\"}"],
            "0.3");
  EXPECT_EQ(samples["mixsweep_estimate_trials{sweep=\"7\",task=\"pick_dual_bottles\","
                    "scenario=\"in_domain\",source=\"video\"}"],
            "90");
}

TEST(MetricsSystemFamilies, EveryNameIsPrefixedAndCountersEndInTotal) {
  for (const auto& family :
       SystemFamilies(ExampleSnapshot(), {ExampleEstimate("sim")})) {
    EXPECT_TRUE(absl::StartsWith(family.name, "mixsweep_")) << family.name;
    EXPECT_EQ(family.type == prometheus::MetricType::Counter,
              absl::EndsWith(family.name, "_total"))
        << family.name;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        // Bounded label sets: never a job, run, trial or request id.
        EXPECT_THAT(label.name, Not(HasSubstr("job")));
        EXPECT_THAT(label.name, Not(HasSubstr("trial")));
        EXPECT_THAT(label.name, Not(HasSubstr("run")));
      }
    }
  }
}

class FakeStatsStore final : public SystemStatsStore {
 public:
  absl::StatusOr<SystemSnapshot> ReadSnapshot(const SnapshotOptions&) override {
    ++reads;
    if (!status.ok()) return status;
    return snapshot;
  }
  SystemSnapshot snapshot = ExampleSnapshot();
  absl::Status status;
  int reads = 0;
};

class NoEstimates final : public evaluation::EstimateStore {
 public:
  absl::StatusOr<std::vector<evaluation::StaleMark>> ListStale(int) override {
    return std::vector<evaluation::StaleMark>{};
  }
  absl::StatusOr<evaluation::ScenarioInputs> LoadScenarioInputs(int64_t,
                                                                const std::string&) override {
    return absl::UnimplementedError("unused");
  }
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> SaveEstimates(
      const evaluation::StaleMark&, const std::vector<evaluation::StoredEstimate>&) override {
    return absl::UnimplementedError("unused");
  }
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> LatestEstimates(
      const evaluation::EstimateFilter& filter) override {
    asked.push_back(filter.sweep_id);
    return std::vector<evaluation::StoredEstimate>{ExampleEstimate("sim")};
  }
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> EstimatesAfter(int64_t,
                                                                         int64_t) override {
    return absl::UnimplementedError("unused");
  }
  std::vector<int64_t> asked;
};

TEST(MetricsSystemCollector, ReadsAtMostOncePerIntervalAndOnlyTheExportedSweepsEstimates) {
  FakeStatsStore stats;
  stats.snapshot.estimate_sweep_ids = {7};
  NoEstimates estimates;
  scheduler::FakeClock clock(absl::FromUnixSeconds(1000));
  SystemCollector collector(stats, estimates, clock, {.refresh_interval = absl::Seconds(5)});
  auto first = Samples(collector.Collect());
  EXPECT_EQ(first["mixsweep_database_up"], "1");
  EXPECT_EQ(first["mixsweep_metrics_refresh_timestamp_seconds"], "1000");
  EXPECT_EQ(first.count("mixsweep_eta{sweep=\"7\",task=\"pick_dual_bottles\",scenario=\""
                        "in_domain\",source=\"sim\",estimate=\"local\",n_tele=\"200\",n_nt=\""
                        "1000\"}"),
            1u);
  EXPECT_EQ(estimates.asked, std::vector<int64_t>({7}));
  clock.Advance(absl::Seconds(4));
  collector.Collect();
  EXPECT_EQ(stats.reads, 1);
  clock.Advance(absl::Seconds(1));
  collector.Collect();
  EXPECT_EQ(stats.reads, 2);
}

TEST(MetricsSystemCollector, ADatabaseOutageServesDatabaseUpZeroAndNoStaleCounts) {
  FakeStatsStore stats;
  NoEstimates estimates;
  scheduler::FakeClock clock(absl::FromUnixSeconds(1000));
  SystemCollector collector(stats, estimates, clock, {.refresh_interval = absl::Seconds(1)});
  collector.Collect();
  stats.status = absl::UnavailableError("connection refused");
  clock.Advance(absl::Seconds(2));
  auto down = Samples(collector.Collect());
  EXPECT_EQ(down["mixsweep_database_up"], "0");
  // When the last good read was is still said; the counts are not.
  EXPECT_EQ(down["mixsweep_metrics_refresh_timestamp_seconds"], "1000");
  EXPECT_EQ(down.count("mixsweep_jobs{kind=\"train\",state=\"succeeded\"}"), 0u);
  stats.status = absl::OkStatus();
  clock.Advance(absl::Seconds(2));
  auto back = Samples(collector.Collect());
  EXPECT_EQ(back["mixsweep_database_up"], "1");
  EXPECT_EQ(back["mixsweep_jobs{kind=\"train\",state=\"succeeded\"}"], "9");
}

TEST(MetricsMethodLabels, KnownMethodsAreNamedAndAnythingElseIsOther) {
  EXPECT_EQ(MethodLabels("/mixsweep.v1.SweepService/GetSweep"),
            std::make_pair(std::string("SweepService"), std::string("GetSweep")));
  EXPECT_EQ(MethodLabels("/grpc.health.v1.Health/Check"),
            std::make_pair(std::string("Health"), std::string("Check")));
  // A caller cannot grow the label set with made-up paths.
  EXPECT_EQ(MethodLabels("/mixsweep.v1.SweepService/DropTables"),
            std::make_pair(std::string("other"), std::string("other")));
  EXPECT_EQ(MethodLabels(""), std::make_pair(std::string("other"), std::string("other")));
  EXPECT_EQ(MethodLabels("/"), std::make_pair(std::string("other"), std::string("other")));
}

TEST(MetricsProcess, RpcsAreCountedByServiceMethodAndCodeName) {
  prometheus::Registry registry;
  ProcessMetrics metrics(registry, "1.2.3");
  metrics.RecordRpc("/mixsweep.v1.SweepService/GetSweep", absl::StatusCode::kOk,
                    absl::Milliseconds(3));
  metrics.RecordRpc("/mixsweep.v1.SweepService/GetSweep", absl::StatusCode::kOk,
                    absl::Milliseconds(700));
  metrics.RecordRpc("/x.Y/Z", absl::StatusCode::kUnauthenticated, absl::ZeroDuration());
  metrics.RecordTransaction(absl::Milliseconds(2), true);
  auto samples = Samples(registry.Collect());
  EXPECT_EQ(samples["mixsweep_grpc_requests_total{code=\"OK\",method=\"GetSweep\",service=\""
                    "SweepService\"}"],
            "2");
  EXPECT_EQ(samples["mixsweep_grpc_requests_total{code=\"UNAUTHENTICATED\",method=\"other\","
                    "service=\"other\"}"],
            "1");
  EXPECT_EQ(samples["mixsweep_grpc_request_duration_seconds_bucket{code=\"OK\",method=\""
                    "GetSweep\",service=\"SweepService\",le=\"0.005\"}"],
            "1");
  EXPECT_EQ(samples["mixsweep_grpc_request_duration_seconds_bucket{code=\"OK\",method=\""
                    "GetSweep\",service=\"SweepService\",le=\"1\"}"],
            "2");
  EXPECT_EQ(samples["mixsweep_db_transaction_duration_seconds_count{outcome=\"committed\"}"], "1");
  EXPECT_EQ(samples["mixsweep_db_transaction_duration_seconds_count{outcome=\"failed\"}"], "0");
  EXPECT_EQ(samples["mixsweep_build_info{version=\"1.2.3\"}"], "1");
}

}  // namespace
}  // namespace mixsweep::metrics
