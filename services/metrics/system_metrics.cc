#include "services/metrics/system_metrics.h"

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "services/metrics/families.h"

namespace mixsweep::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

int64_t CountOf(const std::map<std::string, int64_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

// One gauge per listed state, zeros included.
MetricFamily ByState(std::string name, std::string help, const std::vector<std::string>& states,
                     const std::map<std::string, int64_t>& counts) {
  MetricFamily family = MakeFamily(std::move(name), std::move(help), MetricType::Gauge);
  for (const auto& state : states) {
    AddSample(family, {{"state", state}}, static_cast<double>(CountOf(counts, state)));
  }
  return family;
}

MetricFamily JobHistogram(std::string name, std::string help,
                          const std::map<std::string, BucketCounts>& by_kind,
                          const std::vector<double>& bounds) {
  MetricFamily family = MakeFamily(std::move(name), std::move(help), MetricType::Histogram);
  for (const auto& kind : kJobKinds) {
    ClientMetric metric;
    metric.label = {{"kind", kind}};
    auto it = by_kind.find(kind);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      if (it != by_kind.end() && i < it->second.counts.size()) {
        cumulative += static_cast<uint64_t>(it->second.counts[i]);
      }
      metric.histogram.bucket.push_back(
          {cumulative, i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity()});
    }
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = it == by_kind.end() ? 0.0 : it->second.sum;
    family.metric.push_back(std::move(metric));
  }
  return family;
}

// The families of the current estimates; only finite, defined values.
struct EstimateFamilies {
  MetricFamily eta =
      MakeFamily("mixsweep_eta",
                 "Current data utilization ratio eta where defined (local: n_tele is "
                 "N_t*; global: per mixed point)",
                 MetricType::Gauge);
  MetricFamily lower = MakeFamily("mixsweep_eta_lower",
                                  "Lower bound of eta's bootstrap interval, where the sign is "
                                  "established",
                                  MetricType::Gauge);
  MetricFamily upper = MakeFamily("mixsweep_eta_upper",
                                  "Upper bound of eta's bootstrap interval, where the sign is "
                                  "established",
                                  MetricType::Gauge);
  MetricFamily inverse_lower =
      MakeFamily("mixsweep_eta_inverse_lower",
                 "Lower bound of 1/eta's bootstrap percentile interval", MetricType::Gauge);
  MetricFamily inverse_upper =
      MakeFamily("mixsweep_eta_inverse_upper",
                 "Upper bound of 1/eta's bootstrap percentile interval", MetricType::Gauge);
  MetricFamily sign = MakeFamily(
      "mixsweep_eta_sign_established",
      "1 when 1/eta's interval excludes 0 (the sign of eta is established)", MetricType::Gauge);
  MetricFamily alpha =
      MakeFamily("mixsweep_power_law_alpha", "alpha of the teleop-only fit S = alpha N^beta",
                 MetricType::Gauge);
  MetricFamily beta = MakeFamily("mixsweep_power_law_beta",
                                 "beta of the teleop-only fit S = alpha N^beta", MetricType::Gauge);
  MetricFamily r_squared = MakeFamily("mixsweep_power_law_r_squared",
                                      "R^2 in log space of the teleop-only fit", MetricType::Gauge);
  MetricFamily trials = MakeFamily("mixsweep_estimate_trials", "Trials behind the current estimate",
                                   MetricType::Gauge);

  void AddEta(const Labels& labels, const utilization::Eta& eta,
              const std::optional<utilization::EtaInterval>& interval) {
    if (eta.defined() && std::isfinite(eta.value)) AddSample(this->eta, labels, eta.value);
    if (!interval) return;
    AddSample(inverse_lower, labels, interval->inverse.lower);
    AddSample(inverse_upper, labels, interval->inverse.upper);
    AddSample(sign, labels, interval->sign_established ? 1.0 : 0.0);
    if (interval->sign_established && std::isfinite(interval->eta_lower) &&
        std::isfinite(interval->eta_upper)) {
      AddSample(lower, labels, interval->eta_lower);
      AddSample(upper, labels, interval->eta_upper);
    }
  }

  void Add(const evaluation::StoredEstimate& stored) {
    const auto& e = stored.estimate;
    const Labels scenario_labels = {{"sweep", absl::StrCat(e.key.sweep_id)},
                                    {"task", stored.task},
                                    {"scenario", e.key.scenario}};
    Labels source_labels = scenario_labels;
    source_labels.push_back({"source", e.key.source});
    AddSample(trials, source_labels, e.trial_count);
    for (const auto& local : e.local) {
      Labels labels = source_labels;
      labels.push_back({"estimate", "local"});
      labels.push_back({"n_tele", absl::StrCat(local.n_t_star)});
      labels.push_back({"n_nt", absl::StrCat(local.n_nt)});
      AddEta(labels, local.eta, local.interval);
    }
    for (const auto& global : e.global) {
      Labels labels = source_labels;
      labels.push_back({"estimate", "global"});
      labels.push_back({"n_tele", absl::StrCat(global.n_tele)});
      labels.push_back({"n_nt", absl::StrCat(global.n_nt)});
      AddEta(labels, global.eta, global.interval);
    }
  }

  // The fit is the scenario's (teleop-only points), the same in each of
  // its sources' estimates: one series per (sweep, scenario).
  void AddFit(const evaluation::StoredEstimate& stored) {
    const auto& e = stored.estimate;
    if (!e.fit.defined) return;
    const Labels labels = {{"sweep", absl::StrCat(e.key.sweep_id)},
                           {"task", stored.task},
                           {"scenario", e.key.scenario}};
    AddSample(alpha, labels, e.fit.alpha);
    AddSample(beta, labels, e.fit.beta);
    AddSample(r_squared, labels, e.fit.r_squared);
  }
};

}  // namespace

std::vector<MetricFamily> SystemFamilies(const SystemSnapshot& s,
                                         const std::vector<evaluation::StoredEstimate>& estimates) {
  std::vector<MetricFamily> out;
  out.push_back(ByState("mixsweep_sweeps", "Sweeps by state", kSweepStates, s.sweeps_by_state));

  MetricFamily jobs =
      MakeFamily("mixsweep_jobs", "Jobs of every sweep by kind and state", MetricType::Gauge);
  for (const auto& kind : kJobKinds) {
    for (const auto& state : kJobStates) {
      auto it = s.jobs_by_kind_state.find({kind, state});
      AddSample(jobs, {{"kind", kind}, {"state", state}},
                it == s.jobs_by_kind_state.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  out.push_back(std::move(jobs));

  MetricFamily sweep_jobs = MakeFamily(
      "mixsweep_sweep_jobs", "Jobs of each active sweep by state (queue depth: state=\"queued\")",
      MetricType::Gauge);
  MetricFamily progress = MakeFamily(
      "mixsweep_sweep_progress_ratio",
      "Of each active sweep: (succeeded jobs + complete evaluation requests) / (jobs + requests), "
      "cancelled ones left out",
      MetricType::Gauge);
  MetricFamily last_progress = MakeFamily(
      "mixsweep_sweep_last_progress_timestamp_seconds",
      "Of each active sweep: when a job last succeeded, trials were last recorded, or it was "
      "submitted or extended",
      MetricType::Gauge);
  for (const auto& sweep : s.active_sweeps) {
    const std::string id = absl::StrCat(sweep.sweep_id);
    int64_t jobs_counted = 0;
    for (const auto& state : kJobStates) {
      const int64_t n = CountOf(sweep.jobs_by_state, state);
      AddSample(sweep_jobs, {{"sweep", id}, {"state", state}}, static_cast<double>(n));
      if (state != "cancelled") jobs_counted += n;
    }
    const int64_t done = CountOf(sweep.jobs_by_state, "succeeded") + sweep.requests_complete;
    const int64_t total = jobs_counted + sweep.requests;
    AddSample(progress, {{"sweep", id}},
              total == 0 ? 0.0 : static_cast<double>(done) / static_cast<double>(total));
    if (sweep.last_progress) {
      AddSample(last_progress, {{"sweep", id}},
                absl::ToDoubleSeconds(*sweep.last_progress - absl::UnixEpoch()));
    }
  }
  out.push_back(std::move(sweep_jobs));
  out.push_back(std::move(progress));
  out.push_back(std::move(last_progress));

  out.push_back(ByState("mixsweep_evaluation_requests", "Evaluation requests by state",
                        kRequestStates, s.requests_by_state));
  out.push_back(ByState("mixsweep_workers", "Workers by state", kWorkerStates,
                        s.workers_by_state));
  MetricFamily gpus = MakeFamily("mixsweep_gpus",
                                 "GPUs of alive and draining workers, busy (held by a leased or "
                                 "running job) or idle",
                                 MetricType::Gauge);
  AddSample(gpus, {{"state", "busy"}}, static_cast<double>(s.gpus_busy));
  AddSample(gpus, {{"state", "idle"}},
            static_cast<double>(std::max<int64_t>(0, s.gpus_total - s.gpus_busy)));
  out.push_back(std::move(gpus));

  const struct {
    const char* name;
    const char* help;
    const char* event;
  } kEventCounters[] = {
      {"mixsweep_lease_grants_total", "Leases granted", "job.leased"},
      {"mixsweep_lease_expiries_total",
       "Leases that expired because their worker stopped heartbeating", "job.lease_expired"},
      {"mixsweep_job_retries_total", "Failed attempts queued again after backoff", "job.retrying"},
      {"mixsweep_job_failures_total", "Jobs failed for good", "job.failed"},
  };
  for (const auto& counter : kEventCounters) {
    MetricFamily family = MakeFamily(counter.name, counter.help, MetricType::Counter);
    AddSample(family, {}, static_cast<double>(CountOf(s.events_by_kind, counter.event)));
    out.push_back(std::move(family));
  }
  MetricFamily succeeded =
      MakeFamily("mixsweep_jobs_succeeded_total", "Jobs succeeded, by kind", MetricType::Counter);
  for (const auto& kind : kJobKinds) {
    auto it = s.job_gpu_seconds.find(kind);
    AddSample(succeeded, {{"kind", kind}},
              it == s.job_gpu_seconds.end() ? 0.0 : static_cast<double>(it->second.total()));
  }
  out.push_back(std::move(succeeded));
  out.push_back(JobHistogram("mixsweep_job_duration_seconds",
                             "Wall time of succeeded jobs, from start to completion",
                             s.job_duration_seconds, kJobDurationBoundsSeconds));
  out.push_back(JobHistogram("mixsweep_job_gpu_seconds",
                             "GPU-seconds of succeeded jobs (GPUs x seconds, as measured)",
                             s.job_gpu_seconds, kJobGpuSecondsBounds));

  MetricFamily trials =
      MakeFamily("mixsweep_evaluation_trials_recorded_total",
                 "Trials recorded (corrections not counted)", MetricType::Counter);
  AddSample(trials, {}, static_cast<double>(s.trials_recorded));
  out.push_back(std::move(trials));
  MetricFamily corrections = MakeFamily("mixsweep_evaluation_trial_corrections_total",
                                        "Trial corrections recorded", MetricType::Counter);
  AddSample(corrections, {}, static_cast<double>(s.trial_corrections));
  out.push_back(std::move(corrections));

  EstimateFamilies e;
  std::set<std::pair<int64_t, std::string>> fitted;  // (sweep, scenario) with a fit series
  for (const auto& stored : estimates) {
    e.Add(stored);
    if (fitted.insert({stored.estimate.key.sweep_id, stored.estimate.key.scenario}).second) {
      e.AddFit(stored);
    }
  }
  for (MetricFamily* family : {&e.eta, &e.lower, &e.upper, &e.inverse_lower, &e.inverse_upper,
                               &e.sign, &e.alpha, &e.beta, &e.r_squared, &e.trials}) {
    out.push_back(std::move(*family));
  }
  return out;
}

SystemCollector::SystemCollector(SystemStatsStore& stats, evaluation::EstimateStore& estimates,
                                 const scheduler::Clock& clock, SystemCollectorOptions options)
    : stats_(stats), estimates_(estimates), clock_(clock), options_(std::move(options)) {}

void SystemCollector::RefreshLocked() const {
  last_attempt_ = clock_.Now();
  auto snapshot = stats_.ReadSnapshot(options_.snapshot);
  std::vector<evaluation::StoredEstimate> estimates;
  absl::Status status = snapshot.status();
  if (snapshot.ok()) {
    for (int64_t sweep_id : snapshot->estimate_sweep_ids) {
      auto latest = estimates_.LatestEstimates({.sweep_id = sweep_id});
      if (!latest.ok()) {
        status = latest.status();
        break;
      }
      for (auto& e : *latest) estimates.push_back(std::move(e));
    }
  }
  if (!status.ok()) {
    if (database_up_) spdlog::warn("metrics: reading the database: {}", status.ToString());
    database_up_ = false;
    families_.clear();
    return;
  }
  database_up_ = true;
  last_success_ = *last_attempt_;
  families_ = SystemFamilies(*snapshot, estimates);
}

std::vector<MetricFamily> SystemCollector::Collect() const {
  std::lock_guard lock(mu_);
  if (!last_attempt_ || clock_.Now() - *last_attempt_ >= options_.refresh_interval) {
    RefreshLocked();
  }
  std::vector<MetricFamily> out;
  MetricFamily up = MakeFamily(
      "mixsweep_database_up",
      "1 if the last read of the metrics' counts reached PostgreSQL, else 0", MetricType::Gauge);
  AddSample(up, {}, database_up_ ? 1.0 : 0.0);
  out.push_back(std::move(up));
  if (last_success_) {
    MetricFamily at =
        MakeFamily("mixsweep_metrics_refresh_timestamp_seconds",
                   "When the metrics last read their counts from PostgreSQL", MetricType::Gauge);
    AddSample(at, {}, absl::ToDoubleSeconds(*last_success_ - absl::UnixEpoch()));
    out.push_back(std::move(at));
  }
  out.insert(out.end(), families_.begin(), families_.end());
  return out;
}

}  // namespace mixsweep::metrics
