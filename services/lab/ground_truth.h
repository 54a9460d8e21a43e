// The synthetic lab's ground truth: the success rate each policy "really" has,
// and trial outcomes drawn from it through the task's rubric.
//
// The truth is a power law in the effective data (SPEC.md, "The formulas"):
//   D      = N_tele + N_nt / eta_true        (eta_true per scenario and source)
//   S_true = min(1, alpha * D^beta), and 0 where D <= 0 (a negative eta can
//            undo all the teleop data).
// On such a truth global eta recovers eta_true exactly, while the paper's local
// eta does not (it uses teleop's average, not marginal, contribution), so both
// "expected" values are offered for comparison with the estimates.
//
// Trials are drawn so that E[score] == S_true exactly:
//   items:      each item achieved independently with probability S;
//   milestones: stage i+1 reached with the same conditional probability r
//               given stage i, r solved so that sum_i (v_i - v_{i-1}) r^i == S.
//
// Pure: parsing takes a string; no files, no gRPC.
//
// Example:
//   absl::StatusOr<GroundTruth> truth = ParseGroundTruth(yaml_text);
//   const TruthScenario* in_domain = truth->Find("in_domain");
//   double s = TrueS(*in_domain, "sim", /*n_tele=*/200, /*n_nt=*/1000);
//   TrialRng rng(TrialSeed(lab_seed, request_id, trial_index));
//   absl::StatusOr<std::vector<std::string>> achieved = DrawTrial(rubric, s, rng);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::lab {

// The truth of one evaluation scenario.
struct TruthScenario {
  std::string name;
  double alpha = 0.0;  // > 0
  double beta = 0.0;   // > 0
  // Per non-teleop source: eta_true, finite and non-zero (negative: hurts).
  std::map<std::string, double> eta;
};

struct GroundTruth {
  int version = 1;
  std::string task;  // optional: when set, batches of other tasks are refused
  std::vector<TruthScenario> scenarios;

  // nullptr when the truth has no such scenario.
  const TruthScenario* Find(absl::string_view scenario) const;
};

// Parses and validates the YAML text. INVALID_ARGUMENT names the field, e.g.
// "scenarios[1].beta: must be > 0".
absl::StatusOr<GroundTruth> ParseGroundTruth(absl::string_view yaml_text);

// What a policy was trained on: source "" (and n_nt 0) for teleop-only.
struct TrainedOn {
  std::string source;
  int64_t n_tele = 0;
  int64_t n_nt = 0;
  int64_t seed = 0;
};

// NOT_FOUND names what the truth lacks (the scenario, or the source's eta in
// it); INVALID_ARGUMENT for a task mismatch or negative counts.
absl::Status CheckCovers(const GroundTruth& truth, absl::string_view task,
                         absl::string_view scenario, const TrainedOn& policy);

// The effective data N_tele + N_nt / eta_true. Precondition: n_nt == 0 or
// `source` has an eta in `scenario` (CheckCovers); otherwise NaN.
double EffectiveData(const TruthScenario& scenario, absl::string_view source, int64_t n_tele,
                     int64_t n_nt);

// S_true in [0, 1]; same precondition as EffectiveData.
double TrueS(const TruthScenario& scenario, absl::string_view source, int64_t n_tele,
             int64_t n_nt);

// eta_true: what global eta recovers; nullopt where the source has none.
std::optional<double> TrueGlobalEta(const TruthScenario& scenario, absl::string_view source);

// The paper's local eta at N_t* applied to the true S values:
// gamma_t = S_t / N_t*, gamma_nt = (S_mix - S_t) / N_nt, eta = gamma_t / gamma_nt.
// nullopt where S_mix == S_t (no measurable effect), where n_t_star or n_nt is
// not positive, or where the source has no eta.
std::optional<double> ExpectedLocalEta(const TruthScenario& scenario, absl::string_view source,
                                       int64_t n_t_star, int64_t n_nt);

// ---------------------------------------------------------------------------
// Trial draws.

// The draws' random numbers: std::mt19937_64 (its sequence is fixed by the C++
// standard) turned into doubles by its top 53 bits, not by
// std::uniform_real_distribution, whose algorithm differs between standard
// libraries: the same seed draws the same trials everywhere. A simulator's
// generator, not a cryptographic one.
class TrialRng {
 public:
  explicit TrialRng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1).
  double Uniform();

 private:
  std::mt19937_64 engine_;
};

// The seed of one trial's draws, from (lab seed, request, trial index), so a
// restarted lab draws the same outcomes. A request is named by its id.
uint64_t TrialSeed(uint64_t lab_seed, int64_t request_id, int trial_index);

// OK when trials can be drawn through `rubric`: entries present, names
// non-empty and distinct; milestones strictly increasing in (0, 1] ending at 1;
// items with positive weights summing to 1 (up to 1e-6).
absl::Status CheckRubric(const spec::Rubric& rubric);

// Milestones: the conditional rate r in [0, 1] with
// sum_i (v_i - v_{i-1}) r^i == s (bisection to 1e-13). Precondition:
// CheckRubric(rubric) is OK, rubric is milestones, s in [0, 1].
double MilestoneRate(const spec::Rubric& rubric, double s);

// E[score] of DrawTrial(rubric, s, ...), computed from the draw's
// probabilities (not by sampling): equals s, which the tests check.
// Precondition: CheckRubric(rubric) is OK, s in [0, 1].
double ExpectedScore(const spec::Rubric& rubric, double s);

// One trial's outcome, as an operator reports it: milestones, the last stage
// reached (empty: none); items, the items achieved in rubric order.
// INVALID_ARGUMENT for a rubric CheckRubric refuses or s outside [0, 1].
absl::StatusOr<std::vector<std::string>> DrawTrial(const spec::Rubric& rubric, double s,
                                                    TrialRng& rng);

// The score of `achieved` under `rubric`, as the server computes it;
// INVALID_ARGUMENT for a name the rubric lacks or repeats, or for several
// stages that are not the rubric's first ones in order.
absl::StatusOr<double> ScoreAchieved(const spec::Rubric& rubric,
                                     const std::vector<std::string>& achieved);

// A plausible trial duration: longer when the policy gets further (the robot
// works through more stages), with some jitter; 20 s to 90 s.
int64_t DrawDurationMs(double score, TrialRng& rng);

// One drawn trial, ready to record.
struct DrawnTrial {
  int trial_index = 0;
  std::vector<std::string> achieved;
  double score = 0.0;
  int64_t duration_ms = 0;
};

// Trials [first_index, end_index) of a request whose true success rate is
// `s`, each from its own TrialSeed(lab_seed, request_id, index): the same
// trial index draws the same outcome whichever trials were drawn before it,
// so a restarted lab reproduces what an uninterrupted one records.
absl::StatusOr<std::vector<DrawnTrial>> DrawTrials(const spec::Rubric& rubric, double s,
                                                   uint64_t lab_seed, int64_t request_id,
                                                   int first_index, int end_index);

// The idempotency key of one RecordTrials call: a retry, or a restarted lab
// recording the same trials, stores them once.
std::string RecordTrialsKey(int64_t request_id, int first_trial_index);

}  // namespace mixsweep::lab
