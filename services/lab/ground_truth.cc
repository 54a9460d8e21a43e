#include "services/lab/ground_truth.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::lab {
namespace {

// A truth file is a few lines; anything bigger is a mistake.
constexpr size_t kMaxTruthBytes = 1 << 20;
constexpr size_t kMaxScenarios = 100;
constexpr size_t kMaxSources = 100;
constexpr double kWeightTolerance = 1e-6;  // as the sweep spec's rubric check
constexpr double kRateTolerance = 1e-13;

// ---------------------------------------------------------------------------
// Parsing helpers: each names the field it reads.

absl::Status FieldError(absl::string_view field, absl::string_view message, const YAML::Node& node) {
  std::string where;
  if (node.IsDefined() && node.Mark().line >= 0) where = absl::StrCat(" (line ", node.Mark().line + 1, ")");
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message, where));
}

// Keys other than `allowed` are refused: a typo ("etas") must not pass silently.
absl::Status CheckKeys(const YAML::Node& map, absl::string_view field,
                       const std::vector<std::string>& allowed) {
  for (const auto& entry : map) {
    const std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string path = field.empty() ? key : absl::StrCat(field, ".", key);
    return FieldError(path, absl::StrCat("unknown key; the keys are ", absl::StrJoin(allowed, ", ")),
                      entry.first);
  }
  return absl::OkStatus();
}

absl::StatusOr<double> ReadFiniteDouble(const YAML::Node& node, absl::string_view field) {
  if (!node.IsDefined() || node.IsNull()) return FieldError(field, "required", node);
  double value = 0.0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value)) {
    return FieldError(field, "must be a number", node);
  }
  if (!std::isfinite(value)) return FieldError(field, "must be finite", node);
  return value;
}

absl::StatusOr<std::string> ReadName(const YAML::Node& node, absl::string_view field) {
  if (!node.IsDefined() || node.IsNull()) return FieldError(field, "required", node);
  if (!node.IsScalar() || node.Scalar().empty()) return FieldError(field, "must be a non-empty name", node);
  return node.Scalar();
}

absl::StatusOr<double> ReadPositive(const YAML::Node& node, absl::string_view field) {
  absl::StatusOr<double> value = ReadFiniteDouble(node, field);
  if (!value.ok()) return value.status();
  if (*value <= 0.0) return FieldError(field, "must be > 0", node);
  return value;
}

absl::StatusOr<std::map<std::string, double>> ReadEtas(const YAML::Node& node,
                                                       absl::string_view field) {
  std::map<std::string, double> etas;
  if (!node.IsDefined() || node.IsNull()) return etas;  // teleop only
  if (!node.IsMap()) return FieldError(field, "must be a map from source name to eta", node);
  if (node.size() > kMaxSources) return FieldError(field, "too many sources", node);
  for (const auto& entry : node) {
    const std::string source = entry.first.Scalar();
    const std::string path = absl::StrCat(field, ".", source);
    if (source.empty()) return FieldError(field, "a source name is empty", entry.first);
    absl::StatusOr<double> eta = ReadFiniteDouble(entry.second, path);
    if (!eta.ok()) return eta.status();
    // eta = 0 would make N_nt / eta undefined; "no effect" is a huge |eta|.
    if (*eta == 0.0) return FieldError(path, "must not be 0", entry.second);
    etas[source] = *eta;
  }
  return etas;
}

absl::StatusOr<TruthScenario> ReadScenario(const YAML::Node& node, absl::string_view field) {
  if (!node.IsMap()) return FieldError(field, "must be a map with name, alpha, beta, eta", node);
  if (absl::Status keys = CheckKeys(node, field, {"name", "alpha", "beta", "eta"}); !keys.ok()) {
    return keys;
  }
  TruthScenario scenario;
  absl::StatusOr<std::string> name = ReadName(node["name"], absl::StrCat(field, ".name"));
  if (!name.ok()) return name.status();
  scenario.name = *name;
  absl::StatusOr<double> alpha = ReadPositive(node["alpha"], absl::StrCat(field, ".alpha"));
  if (!alpha.ok()) return alpha.status();
  scenario.alpha = *alpha;
  absl::StatusOr<double> beta = ReadPositive(node["beta"], absl::StrCat(field, ".beta"));
  if (!beta.ok()) return beta.status();
  scenario.beta = *beta;
  absl::StatusOr<std::map<std::string, double>> eta = ReadEtas(node["eta"], absl::StrCat(field, ".eta"));
  if (!eta.ok()) return eta.status();
  scenario.eta = *std::move(eta);
  return scenario;
}

absl::StatusOr<std::vector<TruthScenario>> ReadScenarios(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return FieldError("scenarios", "required", node);
  if (!node.IsSequence() || node.size() == 0) {
    return FieldError("scenarios", "must be a non-empty list", node);
  }
  if (node.size() > kMaxScenarios) return FieldError("scenarios", "too many scenarios", node);
  std::vector<TruthScenario> scenarios;
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string field = absl::StrCat("scenarios[", i, "]");
    absl::StatusOr<TruthScenario> scenario = ReadScenario(node[i], field);
    if (!scenario.ok()) return scenario.status();
    if (!names.insert(scenario->name).second) {
      return FieldError(field + ".name", absl::StrCat("duplicate scenario \"", scenario->name, "\""),
                        node[i]["name"]);
    }
    scenarios.push_back(*std::move(scenario));
  }
  return scenarios;
}

absl::StatusOr<GroundTruth> ReadTruth(const YAML::Node& root) {
  if (!root.IsMap()) return absl::InvalidArgumentError("ground truth: must be a YAML map");
  if (absl::Status keys = CheckKeys(root, "", {"version", "task", "scenarios"}); !keys.ok()) {
    return keys;
  }
  GroundTruth truth;
  const YAML::Node version = root["version"];
  if (!version.IsDefined() || version.IsNull()) return FieldError("version", "required (1)", version);
  if (!version.IsScalar() || version.Scalar() != "1") return FieldError("version", "must be 1", version);
  if (const YAML::Node task = root["task"]; task.IsDefined() && !task.IsNull()) {
    absl::StatusOr<std::string> name = ReadName(task, "task");
    if (!name.ok()) return name.status();
    truth.task = *name;
  }
  absl::StatusOr<std::vector<TruthScenario>> scenarios = ReadScenarios(root["scenarios"]);
  if (!scenarios.ok()) return scenarios.status();
  truth.scenarios = *std::move(scenarios);
  return truth;
}

// ---------------------------------------------------------------------------
// Draws.

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// sum_i (v_i - v_{i-1}) r^i: E[score] when each next stage is reached with
// probability r given the previous one (stage i is reached with r^i).
double MilestoneExpectation(const spec::Rubric& rubric, double r) {
  double expectation = 0.0;
  double previous = 0.0;
  double reach = 1.0;
  for (const spec::RubricEntry& stage : rubric.entries) {
    reach *= r;
    expectation += (stage.value - previous) * reach;
    previous = stage.value;
  }
  return expectation;
}

double ItemWeightSum(const spec::Rubric& rubric) {
  double sum = 0.0;
  for (const spec::RubricEntry& item : rubric.entries) sum += item.value;
  return sum;
}

// Each item's probability: s, rescaled by weights that sum to 1 only up to
// rounding so that the expectation is s itself.
double ItemProbability(const spec::Rubric& rubric, double s) {
  return std::min(1.0, s / ItemWeightSum(rubric));
}

absl::Status CheckMilestones(const spec::Rubric& rubric) {
  double previous = 0.0;
  for (size_t i = 0; i < rubric.entries.size(); ++i) {
    const double value = rubric.entries[i].value;
    if (!(value > previous) || value > 1.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rubric.milestones[", i, "]: scores must increase strictly within (0, 1]"));
    }
    previous = value;
  }
  if (std::abs(previous - 1.0) > kWeightTolerance) {
    return absl::InvalidArgumentError("rubric.milestones: the last stage must score 1");
  }
  return absl::OkStatus();
}

absl::Status CheckItems(const spec::Rubric& rubric) {
  for (size_t i = 0; i < rubric.entries.size(); ++i) {
    if (!(rubric.entries[i].value > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat("rubric.items[", i, "]: weight must be > 0"));
    }
  }
  if (std::abs(ItemWeightSum(rubric) - 1.0) > kWeightTolerance) {
    return absl::InvalidArgumentError("rubric.items: weights must sum to 1");
  }
  return absl::OkStatus();
}

std::vector<std::string> DrawMilestones(const spec::Rubric& rubric, double s, TrialRng& rng) {
  const double r = MilestoneRate(rubric, s);
  size_t reached = 0;
  while (reached < rubric.entries.size() && rng.Uniform() < r) ++reached;
  if (reached == 0) return {};
  return {rubric.entries[reached - 1].name};
}

std::vector<std::string> DrawItems(const spec::Rubric& rubric, double s, TrialRng& rng) {
  const double p = ItemProbability(rubric, s);
  std::vector<std::string> achieved;
  // One draw per item, always, so each item's outcome has a fixed place in
  // the stream.
  for (const spec::RubricEntry& item : rubric.entries) {
    if (rng.Uniform() < p) achieved.push_back(item.name);
  }
  return achieved;
}

const spec::RubricEntry* FindEntry(const spec::Rubric& rubric, absl::string_view name) {
  for (const spec::RubricEntry& entry : rubric.entries) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

std::string EntryNames(const spec::Rubric& rubric) {
  return absl::StrJoin(rubric.entries, ", ",
                       [](std::string* out, const spec::RubricEntry& e) { out->append(e.name); });
}

}  // namespace

// ---------------------------------------------------------------------------
// The truth.

const TruthScenario* GroundTruth::Find(absl::string_view scenario) const {
  for (const TruthScenario& s : scenarios) {
    if (s.name == scenario) return &s;
  }
  return nullptr;
}

absl::StatusOr<GroundTruth> ParseGroundTruth(absl::string_view yaml_text) {
  if (yaml_text.size() > kMaxTruthBytes) {
    return absl::InvalidArgumentError("ground truth: larger than 1 MiB");
  }
  try {
    return ReadTruth(YAML::Load(std::string(yaml_text)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ground truth: not valid YAML: ", e.what()));
  }
}

absl::Status CheckCovers(const GroundTruth& truth, absl::string_view task,
                         absl::string_view scenario, const TrainedOn& policy) {
  if (!truth.task.empty() && truth.task != task) {
    return absl::InvalidArgumentError(absl::StrCat("the ground truth is for task \"", truth.task,
                                                   "\", the batch is of task \"", task, "\""));
  }
  const TruthScenario* found = truth.Find(scenario);
  if (found == nullptr) {
    std::vector<std::string> names;
    for (const TruthScenario& s : truth.scenarios) names.push_back(s.name);
    return absl::NotFoundError(absl::StrCat("the ground truth has no scenario \"", scenario,
                                            "\"; it has ", absl::StrJoin(names, ", ")));
  }
  if (policy.n_tele < 0 || policy.n_nt < 0) {
    return absl::InvalidArgumentError("demo counts must not be negative");
  }
  if (policy.n_nt == 0) return absl::OkStatus();
  if (policy.source.empty()) {
    return absl::InvalidArgumentError("a policy with non-teleop demos must name their source");
  }
  if (found->eta.count(policy.source) == 0) {
    return absl::NotFoundError(absl::StrCat("the ground truth's scenario \"", scenario,
                                            "\" has no eta for source \"", policy.source, "\""));
  }
  return absl::OkStatus();
}

double EffectiveData(const TruthScenario& scenario, absl::string_view source, int64_t n_tele,
                     int64_t n_nt) {
  const double n_t = static_cast<double>(n_tele);
  if (n_nt == 0) return n_t;
  auto eta = scenario.eta.find(std::string(source));
  if (eta == scenario.eta.end()) return std::numeric_limits<double>::quiet_NaN();
  return n_t + static_cast<double>(n_nt) / eta->second;
}

double TrueS(const TruthScenario& scenario, absl::string_view source, int64_t n_tele,
             int64_t n_nt) {
  const double d = EffectiveData(scenario, source, n_tele, n_nt);
  if (std::isnan(d)) return d;
  // A negative eta can undo all the teleop data: nothing works then.
  if (d <= 0.0) return 0.0;
  return std::min(1.0, scenario.alpha * std::pow(d, scenario.beta));
}

std::optional<double> TrueGlobalEta(const TruthScenario& scenario, absl::string_view source) {
  auto eta = scenario.eta.find(std::string(source));
  if (eta == scenario.eta.end()) return std::nullopt;
  return eta->second;
}

std::optional<double> ExpectedLocalEta(const TruthScenario& scenario, absl::string_view source,
                                       int64_t n_t_star, int64_t n_nt) {
  if (n_t_star <= 0 || n_nt <= 0 || !TrueGlobalEta(scenario, source)) return std::nullopt;
  const double s_t = TrueS(scenario, "", n_t_star, 0);
  const double s_mix = TrueS(scenario, source, n_t_star, n_nt);
  if (s_mix == s_t) return std::nullopt;  // no measurable effect: eta infinite
  const double gamma_t = s_t / static_cast<double>(n_t_star);
  const double gamma_nt = (s_mix - s_t) / static_cast<double>(n_nt);
  return gamma_t / gamma_nt;
}

// ---------------------------------------------------------------------------
// Draws.

double TrialRng::Uniform() {
  // The top 53 bits: every double in [0, 1) with spacing 2^-53.
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

uint64_t TrialSeed(uint64_t lab_seed, int64_t request_id, int trial_index) {
  uint64_t h = SplitMix64(lab_seed ^ 0x6d69787377656570ULL);  // "mixsweep"
  h = SplitMix64(h ^ static_cast<uint64_t>(request_id));
  return SplitMix64(h ^ static_cast<uint64_t>(static_cast<int64_t>(trial_index)));
}

absl::Status CheckRubric(const spec::Rubric& rubric) {
  if (rubric.entries.empty()) return absl::InvalidArgumentError("rubric: has no entries");
  std::set<std::string> names;
  for (size_t i = 0; i < rubric.entries.size(); ++i) {
    const std::string& name = rubric.entries[i].name;
    if (name.empty() || !names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("rubric.entries[", i, "].name: must be non-empty and distinct"));
    }
  }
  return rubric.kind == spec::RubricKind::kMilestones ? CheckMilestones(rubric)
                                                      : CheckItems(rubric);
}

double MilestoneRate(const spec::Rubric& rubric, double s) {
  // The ends exactly: bisection would stop a hair away from them.
  if (s <= 0.0) return 0.0;
  if (s >= MilestoneExpectation(rubric, 1.0)) return 1.0;
  // The expectation increases with r: bisection converges without care.
  double low = 0.0;
  double high = 1.0;
  while (high - low > kRateTolerance) {
    const double mid = 0.5 * (low + high);
    (MilestoneExpectation(rubric, mid) < s ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

double ExpectedScore(const spec::Rubric& rubric, double s) {
  if (rubric.kind == spec::RubricKind::kMilestones) {
    return MilestoneExpectation(rubric, MilestoneRate(rubric, s));
  }
  return ItemProbability(rubric, s) * ItemWeightSum(rubric);
}

absl::StatusOr<std::vector<std::string>> DrawTrial(const spec::Rubric& rubric, double s,
                                                    TrialRng& rng) {
  if (absl::Status rubric_ok = CheckRubric(rubric); !rubric_ok.ok()) return rubric_ok;
  if (!(s >= 0.0 && s <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("success rate ", s, " is outside [0, 1]"));
  }
  return rubric.kind == spec::RubricKind::kMilestones ? DrawMilestones(rubric, s, rng)
                                                      : DrawItems(rubric, s, rng);
}

absl::StatusOr<double> ScoreAchieved(const spec::Rubric& rubric,
                                     const std::vector<std::string>& achieved) {
  double score = 0.0;
  std::set<std::string> seen;
  for (size_t i = 0; i < achieved.size(); ++i) {
    const spec::RubricEntry* entry = FindEntry(rubric, achieved[i]);
    if (entry == nullptr || !seen.insert(achieved[i]).second) {
      return absl::InvalidArgumentError(absl::StrCat("achieved[", i, "]: \"", achieved[i],
                                                     "\" is unknown or repeated; the rubric has ",
                                                     EntryNames(rubric)));
    }
    // Milestones: the last stage reached, alone or after the stages before
    // it in order; items add up.
    const bool out_of_order = rubric.kind == spec::RubricKind::kMilestones &&
                              achieved.size() > 1 && rubric.entries[i].name != achieved[i];
    if (out_of_order) {
      return absl::InvalidArgumentError(absl::StrCat(
          "achieved: several stages must be the rubric's first ones in order: ", EntryNames(rubric)));
    }
    score = rubric.kind == spec::RubricKind::kMilestones ? entry->value : score + entry->value;
  }
  return std::min(1.0, score);
}

int64_t DrawDurationMs(double score, TrialRng& rng) {
  const double seconds = 20.0 + 50.0 * std::clamp(score, 0.0, 1.0) + 20.0 * rng.Uniform();
  return static_cast<int64_t>(std::llround(seconds * 1000.0));
}

absl::StatusOr<std::vector<DrawnTrial>> DrawTrials(const spec::Rubric& rubric, double s,
                                                   uint64_t lab_seed, int64_t request_id,
                                                   int first_index, int end_index) {
  std::vector<DrawnTrial> trials;
  for (int index = first_index; index < end_index; ++index) {
    TrialRng rng(TrialSeed(lab_seed, request_id, index));
    absl::StatusOr<std::vector<std::string>> achieved = DrawTrial(rubric, s, rng);
    if (!achieved.ok()) return achieved.status();
    absl::StatusOr<double> score = ScoreAchieved(rubric, *achieved);
    if (!score.ok()) return score.status();
    trials.push_back(DrawnTrial{.trial_index = index,
                                .achieved = *std::move(achieved),
                                .score = *score,
                                .duration_ms = DrawDurationMs(*score, rng)});
  }
  return trials;
}

std::string RecordTrialsKey(int64_t request_id, int first_trial_index) {
  return absl::StrCat("mixsweep-lab/request/", request_id, "/from/", first_trial_index);
}

}  // namespace mixsweep::lab
