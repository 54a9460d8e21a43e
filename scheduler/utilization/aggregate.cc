#include "scheduler/utilization/aggregate.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "scheduler/utilization/measurements.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

std::string RunName(const RunKey& run) {
  return absl::StrCat("(n_tele=", run.n_tele, ", n_nt=", run.n_nt,
                      ", seed=", run.seed, ")");
}

absl::Status CheckRunKey(const RunKey& run, const std::string& field) {
  // A scaling run (seed 001) has no teleop demos, only the source's.
  const int64_t least = run.n_nt > 0 ? 0 : 1;
  if (run.n_tele < least) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".run.n_tele: ", run.n_tele, " must be at least ", least,
        run.n_nt > 0 ? "" : " in a teleop-only run"));
  }
  if (run.n_nt < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".run.n_nt: ", run.n_nt, " must not be negative"));
  }
  return absl::OkStatus();
}

absl::Status CheckUnitScore(double value, const std::string& field) {
  // Written so that NaN fails too.
  if (!(std::isfinite(value) && value >= 0.0 && value <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value, " is not a number in [0, 1]"));
  }
  return absl::OkStatus();
}

// A run's trials before aggregation: trial id -> score, ordered by id.
using TrialsById = std::map<int64_t, double>;

struct Grouped {
  std::map<RunKey, TrialsById> trials;
  std::map<RunKey, double> given;
};

absl::StatusOr<Grouped> GroupAndValidate(const Measurements& m) {
  Grouped grouped;
  for (std::size_t i = 0; i < m.trials.size(); ++i) {
    const Trial& t = m.trials[i];
    const std::string field = absl::StrCat("trials[", i, "]");
    if (absl::Status s = CheckRunKey(t.run, field); !s.ok()) return s;
    if (absl::Status s = CheckUnitScore(t.score, field + ".score"); !s.ok()) {
      return s;
    }
    if (!grouped.trials[t.run].emplace(t.trial_id, t.score).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".trial_id: ", t.trial_id,
                       " appears twice for run ", RunName(t.run)));
    }
  }
  for (std::size_t i = 0; i < m.given.size(); ++i) {
    const GivenScore& g = m.given[i];
    const std::string field = absl::StrCat("given[", i, "]");
    if (absl::Status s = CheckRunKey(g.run, field); !s.ok()) return s;
    if (absl::Status s = CheckUnitScore(g.s, field + ".s"); !s.ok()) return s;
    if (grouped.trials.contains(g.run)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".run: run ", RunName(g.run),
                       " has both trials and a given S"));
    }
    if (!grouped.given.emplace(g.run, g.s).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".run: run ", RunName(g.run), " is given twice"));
    }
  }
  return grouped;
}

RunResult MeasuredRun(int64_t seed, const TrialsById& trials) {
  RunResult run{.seed = seed};
  run.scores.reserve(trials.size());
  for (const auto& [id, score] : trials) run.scores.push_back(score);
  run.s = MeanAscending(run.scores);
  return run;
}

CurvePoint MakePoint(PointKey key, std::vector<RunResult> runs) {
  std::sort(
      runs.begin(), runs.end(),
      [](const RunResult& a, const RunResult& b) { return a.seed < b.seed; });
  CurvePoint point{.n_tele = key.n_tele, .n_nt = key.n_nt};
  for (const RunResult& run : runs) {
    point.seed_s.push_back(run.s);
    point.trials += static_cast<int>(run.scores.size());
  }
  const SampleStats stats = DescribePopulation(point.seed_s);
  point.mean_s = stats.mean;
  point.std_s = stats.std;
  point.n_seeds = stats.n;
  point.runs = std::move(runs);
  return point;
}

}  // namespace

absl::StatusOr<Curve> BuildCurve(const Measurements& measurements) {
  absl::StatusOr<Grouped> grouped = GroupAndValidate(measurements);
  if (!grouped.ok()) return grouped.status();

  Curve curve;
  std::map<PointKey, std::vector<RunResult>> runs_by_point;
  for (const auto& [run, trials] : grouped->trials) {
    runs_by_point[{run.n_tele, run.n_nt}].push_back(
        MeasuredRun(run.seed, trials));
    const int64_t last = trials.rbegin()->first;  // ids are ordered
    curve.last_trial_id =
        curve.trial_count == 0 ? last : std::max(curve.last_trial_id, last);
    curve.trial_count += static_cast<int>(trials.size());
  }
  for (const auto& [run, s] : grouped->given) {
    runs_by_point[{run.n_tele, run.n_nt}].push_back(
        RunResult{.seed = run.seed, .s = s, .given = true});
    curve.from_given_s = true;
  }
  for (auto& [key, runs] : runs_by_point) {
    CurvePoint point = MakePoint(key, std::move(runs));
    (key.n_nt == 0 ? curve.teleop : curve.mixed).push_back(std::move(point));
  }
  return curve;
}

const CurvePoint* FindPoint(const Curve& curve, PointKey key) {
  const std::vector<CurvePoint>& points =
      key.n_nt == 0 ? curve.teleop : curve.mixed;
  auto it = std::lower_bound(
      points.begin(), points.end(), key,
      [](const CurvePoint& p, const PointKey& k) { return p.key() < k; });
  if (it == points.end() || it->key() != key) return nullptr;
  return &*it;
}

}  // namespace mixsweep::utilization
