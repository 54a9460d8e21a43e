// Fuzz target: the trial validator and scorer (scheduler/evaluation/
// trial_scoring.h): ScoreTrials, the pure check RecordTrials makes of a batch
// of trials against the sweep's rubric before storing any, ScoreTrial and
// AttainableScores.
//
// A rubric valid by the spec's rules (docs/sweep-spec.md: milestones strictly
// increasing in (0, 1] up to 1; items in (0, 1] summing to 1 within 1e-6;
// distinct names), the request's trial count and a batch of trials are built
// from the fuzz input (FuzzedDataProvider). Beyond "no crash, no sanitizer
// report, no leak, no hang":
//   - the batch is accepted exactly when every trial is accepted on its own
//     (ScoreTrial) and no trial_index repeats, with the same scores; a
//     refused batch is INVALID_ARGUMENT naming a trials[i] field;
//   - an accepted score is finite, in [0, 1], and (rubrics of up to 10
//     entries) within 1e-9 of a score AttainableScores lists, which is
//     ascending from 0; milestones
//     score the value of the last stage named; items score the same
//     whatever the order they are listed in;
//   - an accepted trial has its index in [0, trials_wanted), a duration in
//     [0, 24 h] if any, and only valid UTF-8 without control characters in
//     its strings (tabs and line breaks in notes only), by an independent
//     UTF-8 check.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "scheduler/evaluation/trial_scoring.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::fuzz {
namespace {

using evaluation::TrialLimits;

// AttainableScores enumerates 2^n subsets (n <= 16): at 16 items one call
// takes about 30 ms here, which would halve the executions a second, so the
// scores are compared with it for rubrics of up to 10 entries (1,024
// subsets); its enumeration limit is a unit test's.
constexpr size_t kMaxCompared = 10;
using evaluation::TrialValues;

// Names the rubric builder picks from (and the trials, so that they often
// name real entries), plus whatever the input spells.
constexpr const char* kNames[] = {"first_bottle_grasped", "both_bottles_lifted", "red",
                                  "green", "blue", "reach", "grasp", "place", "a", "b"};

std::string Name(FuzzedDataProvider& fdp) {
  if (fdp.ConsumeBool()) return kNames[fdp.ConsumeIntegralInRange<size_t>(0, 9)];
  return fdp.ConsumeRandomLengthString(24);
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// A rubric the spec validator would accept.
spec::Rubric BuildRubric(FuzzedDataProvider& fdp) {
  spec::Rubric rubric;
  rubric.kind = fdp.ConsumeBool() ? spec::RubricKind::kItems : spec::RubricKind::kMilestones;
  const size_t count = fdp.ConsumeIntegralInRange<size_t>(1, fdp.ConsumeBool() ? 5 : 20);
  std::set<std::string> names;
  for (size_t i = 0; names.size() < count && i < 4 * count; ++i) {
    std::string name = Name(fdp);
    if (!IsIdentifier(name) || name.size() > 128) name = absl::StrCat("e", i);
    if (names.insert(name).second) rubric.entries.push_back({.name = name, .value = 0});
  }
  const size_t n = rubric.entries.size();
  if (rubric.kind == spec::RubricKind::kItems) {
    if (fdp.ConsumeBool()) {
      // Equal weights written as the fraction 1/n, as a spec writes thirds.
      for (auto& e : rubric.entries) e.value = 1.0 / static_cast<double>(n);
    } else {
      // Integer shares over their total: sums to 1 up to rounding.
      std::vector<uint32_t> shares;
      for (size_t i = 0; i < n; ++i) shares.push_back(fdp.ConsumeIntegralInRange<uint32_t>(1, 1000));
      const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
      for (size_t i = 0; i < n; ++i) rubric.entries[i].value = shares[i] / total;
    }
  } else {
    // Strictly increasing stage values, the last 1.
    std::vector<uint32_t> steps;
    for (size_t i = 0; i < n; ++i) steps.push_back(fdp.ConsumeIntegralInRange<uint32_t>(1, 1000));
    const double total = std::accumulate(steps.begin(), steps.end(), 0.0);
    double running = 0;
    for (size_t i = 0; i < n; ++i) {
      running += steps[i];
      rubric.entries[i].value = i + 1 == n ? 1.0 : running / total;
    }
  }
  return rubric;
}

// Whether the spec validator accepts `rubric` (what BuildRubric promises).
bool ValidRubric(const spec::Rubric& rubric) {
  double sum = 0, previous = 0;
  for (const auto& e : rubric.entries) {
    if (!(e.value > 0 && e.value <= 1)) return false;
    if (rubric.kind == spec::RubricKind::kMilestones && !(e.value > previous)) return false;
    previous = e.value;
    sum += e.value;
  }
  if (rubric.kind == spec::RubricKind::kItems) return std::abs(sum - 1.0) <= 1e-6;
  return std::abs(previous - 1.0) <= 1e-9;
}

TrialValues BuildTrial(FuzzedDataProvider& fdp, const spec::Rubric& rubric, int trials_wanted) {
  TrialValues t;
  t.trial_index = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int>(0, trials_wanted)
                                    : fdp.ConsumeIntegral<int>();
  const size_t achieved = fdp.ConsumeIntegralInRange<size_t>(0, rubric.entries.size() + 1);
  for (size_t i = 0; i < achieved; ++i) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 2)) {
      case 0:  // the i-th stage: milestone prefixes
        t.achieved.push_back(rubric.entries[std::min(i, rubric.entries.size() - 1)].name);
        break;
      case 1:  // any entry
        t.achieved.push_back(
            rubric.entries[fdp.ConsumeIntegralInRange<size_t>(0, rubric.entries.size() - 1)].name);
        break;
      default:
        t.achieved.push_back(Name(fdp));
    }
  }
  t.success = fdp.ConsumeBool();
  if (fdp.ConsumeBool()) {
    t.duration_ms = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int64_t>(0, 90'000'000)
                                      : fdp.ConsumeIntegral<int64_t>();
  }
  t.intervention = fdp.ConsumeBool();
  t.safety_stop = fdp.ConsumeBool();
  t.operator_name = fdp.ConsumeRandomLengthString(160);
  t.robot_id = fdp.ConsumeRandomLengthString(160);
  t.notes = fdp.ConsumeRandomLengthString(fdp.ConsumeBool() ? 64 : 5000);
  const size_t uris = fdp.ConsumeIntegralInRange<size_t>(0, 18);
  for (size_t i = 0; i < uris; ++i) t.video_uris.push_back(fdp.ConsumeRandomLengthString(64));
  return t;
}

// RFC 3629's table of well-formed byte sequences (its section 4), with the
// control characters C0, DEL and C1 refused; tab, LF and CR where allowed.
bool GoodText(std::string_view s, size_t max_bytes, bool breaks) {
  if (s.size() > max_bytes) return false;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = b(i);
    if (c < 0x80) {
      if ((c < 0x20 || c == 0x7f) && !(breaks && (c == '\t' || c == '\n' || c == '\r'))) {
        return false;
      }
      ++i;
      continue;
    }
    auto in = [&](size_t k, unsigned lo, unsigned hi) {
      return i + k < s.size() && b(i + k) >= lo && b(i + k) <= hi;
    };
    size_t len = 0;
    if (c >= 0xC2 && c <= 0xDF && in(1, 0x80, 0xBF)) {
      if (c == 0xC2 && b(i + 1) <= 0x9F) return false;  // C1 controls U+0080..U+009F
      len = 2;
    } else if (c == 0xE0 && in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF)) {
      len = 3;
    } else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && in(1, 0x80, 0xBF) &&
               in(2, 0x80, 0xBF)) {
      len = 3;
    } else if (c == 0xED && in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF)) {
      len = 3;
    } else if (c == 0xF0 && in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF)) {
      len = 4;
    } else if (c >= 0xF1 && c <= 0xF3 && in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) &&
               in(3, 0x80, 0xBF)) {
      len = 4;
    } else if (c == 0xF4 && in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF)) {
      len = 4;
    } else {
      return false;
    }
    i += len;
  }
  return true;
}

void CheckAccepted(const spec::Rubric& rubric, const TrialValues& t, int trials_wanted,
                   double score, const TrialLimits& limits,
                   const std::vector<double>& attainable) {
  const std::string where = absl::StrCat("trial index ", t.trial_index, ", score ", score);
  FUZZ_CHECK(std::isfinite(score) && score >= 0 && score <= 1, where);
  FUZZ_CHECK(t.trial_index >= 0 && t.trial_index < trials_wanted, where);
  if (t.duration_ms) {
    FUZZ_CHECK(*t.duration_ms >= 0 && *t.duration_ms <= limits.max_duration_ms, where);
  }
  for (const std::string& a : t.achieved) {
    FUZZ_CHECK(GoodText(a, limits.max_name_bytes, false), absl::CHexEscape(a));
  }
  FUZZ_CHECK(GoodText(t.operator_name, limits.max_name_bytes, false),
             absl::CHexEscape(t.operator_name));
  FUZZ_CHECK(GoodText(t.robot_id, limits.max_name_bytes, false), absl::CHexEscape(t.robot_id));
  FUZZ_CHECK(GoodText(t.notes, limits.max_notes_bytes, true), absl::CHexEscape(t.notes));
  FUZZ_CHECK(t.video_uris.size() <= limits.max_video_uris, where);
  for (const std::string& uri : t.video_uris) {
    FUZZ_CHECK(!uri.empty() && GoodText(uri, limits.max_uri_bytes, false), absl::CHexEscape(uri));
  }

  // The score, from the rubric.
  std::set<std::string> named(t.achieved.begin(), t.achieved.end());
  FUZZ_CHECK(named.size() == t.achieved.size(), where + ": an entry named twice");
  if (rubric.kind == spec::RubricKind::kMilestones) {
    double expected = 0;
    for (const auto& e : rubric.entries) {
      if (!t.achieved.empty() && e.name == t.achieved.back()) expected = e.value;
    }
    FUZZ_CHECK(score == expected, absl::StrCat(where, ", expected ", expected));
    if (t.achieved.size() > 1) {
      for (size_t i = 0; i < t.achieved.size(); ++i) {
        FUZZ_CHECK(t.achieved[i] == rubric.entries[i].name, where + ": not a prefix");
      }
    }
  } else {
    double expected = 0;
    for (const auto& e : rubric.entries) {
      if (named.count(e.name)) expected += e.value;
    }
    FUZZ_CHECK(score == std::min(expected, 1.0), absl::StrCat(where, ", expected ", expected));
    // The same items in reverse order score the same, bit for bit.
    TrialValues reversed = t;
    std::reverse(reversed.achieved.begin(), reversed.achieved.end());
    absl::StatusOr<double> again =
        evaluation::ScoreTrial(rubric, reversed, trials_wanted, "trials[0]", limits);
    FUZZ_CHECK(again.ok() && *again == score, where + ": depends on the order of the items");
  }
  if (rubric.entries.size() <= kMaxCompared) {
    const bool listed = std::any_of(attainable.begin(), attainable.end(),
                                    [&](double a) { return std::abs(a - score) <= 1e-9; });
    FUZZ_CHECK(listed, where + ": not an attainable score");
  }
}

void Print(const spec::Rubric& rubric, int trials_wanted, const std::vector<TrialValues>& trials,
           const absl::StatusOr<std::vector<double>>& batch) {
  std::string out = absl::StrCat(
      "rubric: ", rubric.kind == spec::RubricKind::kItems ? "items" : "milestones");
  for (const auto& e : rubric.entries) absl::StrAppend(&out, " ", e.name, "=", e.value);
  absl::StrAppend(&out, "\ntrials_wanted: ", trials_wanted, "\n");
  for (const TrialValues& t : trials) {
    absl::StrAppend(&out, "trial ", t.trial_index, ": achieved [");
    for (const std::string& a : t.achieved) absl::StrAppend(&out, "[", absl::CHexEscape(a), "]");
    absl::StrAppend(&out, "] success ", t.success, " duration_ms ",
                    t.duration_ms ? std::to_string(*t.duration_ms) : "-", " intervention ",
                    t.intervention, " safety_stop ", t.safety_stop, " operator [",
                    absl::CHexEscape(t.operator_name), "] robot [", absl::CHexEscape(t.robot_id),
                    "] notes [", absl::CHexEscape(t.notes.substr(0, 80)),
                    t.notes.size() > 80 ? absl::StrCat("...] (", t.notes.size(), " bytes)") : "]",
                    " uris ", t.video_uris.size(), "\n");
  }
  if (batch.ok()) {
    absl::StrAppend(&out, "scores:");
    for (double s : *batch) absl::StrAppend(&out, " ", s);
  } else {
    absl::StrAppend(&out, "refused: ", batch.status().ToString());
  }
  std::fprintf(stderr, "%s\n", out.c_str());
}

}  // namespace
}  // namespace mixsweep::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mixsweep;
  using namespace mixsweep::fuzz;
  FuzzedDataProvider fdp(data, size);

  const spec::Rubric rubric = BuildRubric(fdp);
  FUZZ_CHECK(ValidRubric(rubric), "the target built an invalid rubric");
  // A request wants what the spec allows: 1 to 1000 trials.
  const int trials_wanted = fdp.ConsumeIntegralInRange<int>(1, fdp.ConsumeBool() ? 10 : 1000);
  const TrialLimits limits;  // RecordTrials' defaults (EvaluationOptions)
  std::vector<TrialValues> trials;
  const size_t count = fdp.ConsumeIntegralInRange<size_t>(0, 12);
  for (size_t i = 0; i < count && fdp.remaining_bytes() > 0; ++i) {
    trials.push_back(BuildTrial(fdp, rubric, trials_wanted));
  }

  absl::StatusOr<std::vector<double>> batch =
      evaluation::ScoreTrials(rubric, trials, trials_wanted, limits);
  if (PrintInputs()) Print(rubric, trials_wanted, trials, batch);

  // The batch, trial by trial.
  bool all_ok = true;
  std::set<int> indices;
  // Computed once, and only for a batch with a score to compare.
  std::vector<double> attainable;
  std::vector<double> scores;
  for (size_t i = 0; i < trials.size(); ++i) {
    absl::StatusOr<double> score =
        evaluation::ScoreTrial(rubric, trials[i], trials_wanted, absl::StrCat("trials[", i, "]"),
                               limits);
    if (!score.ok()) {
      FUZZ_CHECK(score.status().code() == absl::StatusCode::kInvalidArgument,
                 score.status().ToString());
      FUZZ_CHECK(score.status().message().rfind(absl::StrCat("trials[", i, "]."), 0) == 0,
                 score.status().ToString());
      all_ok = false;
      continue;
    }
    if (attainable.empty() && rubric.entries.size() <= kMaxCompared) {
      attainable = evaluation::AttainableScores(rubric);
      FUZZ_CHECK(!attainable.empty() && attainable.front() == 0.0, "0 is always attainable");
      for (size_t k = 1; k < attainable.size(); ++k) {
        FUZZ_CHECK(attainable[k] > attainable[k - 1] && attainable[k] <= 1.0, "not ascending");
      }
    }
    CheckAccepted(rubric, trials[i], trials_wanted, *score, limits, attainable);
    if (!indices.insert(trials[i].trial_index).second) all_ok = false;
    scores.push_back(*score);
  }
  FUZZ_CHECK(batch.ok() == all_ok,
             batch.ok() ? "the batch was accepted, but not each of its trials"
                        : absl::StrCat("the batch was refused, but each trial is fine: ",
                                       batch.status().ToString()));
  if (batch.ok()) {
    FUZZ_CHECK(*batch == scores, "the batch scores differ from the trials' own");
  } else {
    FUZZ_CHECK(batch.status().code() == absl::StatusCode::kInvalidArgument,
               batch.status().ToString());
    FUZZ_CHECK(batch.status().message().rfind("trials[", 0) == 0, batch.status().ToString());
  }
  return 0;
}
