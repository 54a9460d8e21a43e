// What an operator enters for trials, before anything is sent: a CSV trial
// file, or answers to prompts that follow the task's rubric. Pure functions
// over text and streams, unit-tested; the command sends what they return.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mixsweep/v1/common.pb.h"
#include "mixsweep/v1/evaluation.pb.h"

namespace mixsweep::cli {

// --- Values ------------------------------------------------------------------

// true/false, 1/0, yes/no (any case, blanks around ignored); nullopt else.
std::optional<bool> ParseBool(absl::string_view text);

// The longest duration a trial may take, in seconds: a day, as the server
// allows; more is a typo (minutes or milliseconds for seconds).
inline constexpr double kMaxTrialSeconds = 24 * 3600.0;

// Seconds as a decimal number ("42", "12.5"), finite, >= 0 and at most
// kMaxTrialSeconds; an error message (without the line) otherwise.
absl::StatusOr<double> ParseSeconds(absl::string_view text);

// Seconds as a proto Duration (rounded to the nanosecond).
void SetDuration(double seconds, google::protobuf::Duration* duration);

// "a;b; c" -> {"a", "b", "c"}: split at `separator`, blanks trimmed, empty
// names dropped.
std::vector<std::string> SplitList(absl::string_view text, char separator);

// --- Rubric -------------------------------------------------------------------

// The score the rubric gives for `achieved`, as the server computes it:
// milestones, the value of the last stage named (stages may be given as a
// prefix, in order); items, the sum of the achieved weights, at most 1.
// Names not in the rubric count nothing (the server refuses them).
double RubricScore(const mixsweep::v1::Rubric& rubric, const std::vector<std::string>& achieved);

// --- Corrections ---------------------------------------------------------------

// What `eval correct` changes in a trial; what is unset stays as stored.
struct TrialCorrection {
  std::vector<std::string> achieved;  // always replaced (empty: none)
  std::optional<bool> success;
  std::optional<bool> intervention;
  std::optional<bool> safety_stop;
  std::optional<double> duration_s;
  std::optional<std::string> notes;
  std::optional<std::string> operator_name;
  std::optional<std::string> robot_id;
};

// The corrected record: `current` (its trial_index, which the server
// requires unchanged, its videos and the rest) with `change` applied.
mixsweep::v1::TrialInput CorrectedInput(const mixsweep::v1::TrialInput& current,
                                        const TrialCorrection& change);

// --- Trial files --------------------------------------------------------------

// The columns of a trial file, in the order a template lists them.
const std::vector<std::string>& TrialFileColumns();

// A trial file, parsed: the trials in file order and, for each, the line it
// starts on (to name it when the server refuses trials[i]).
struct TrialFile {
  std::vector<mixsweep::v1::TrialInput> trials;
  std::vector<int> lines;
};

// Parses a trial file: CSV (RFC 4180) with a header row naming the columns
// of TrialFileColumns(), each once, in any order:
//   trial_index   0-based index of the trial in its request (0 .. wanted-1)
//   achieved      milestones: the last stage reached (empty: none); items:
//                 the items achieved; ';'-separated names of the rubric
//   success       true/false/1/0/yes/no (required)
//   duration_s    seconds, >= 0 and finite; empty: not recorded
//   intervention  boolean; empty: false
//   safety_stop   boolean; empty: false
//   notes         free text
//   video_uris    ';'-separated
// Anything else refuses the whole file with INVALID_ARGUMENT naming the line
// and the column ("line 4, column 3 (success): ..."): a CSV syntax error, an
// unknown, missing or repeated column, a row with another number of fields,
// a bad index, boolean or duration, an index given twice, or no rows at all.
// Names in `achieved` are checked by the server against the rubric.
absl::StatusOr<TrialFile> ParseTrialFile(absl::string_view text);

// --- Prompts ------------------------------------------------------------------

// Which trial is being entered, for the prompts.
struct TrialPrompt {
  std::string label;  // the policy's blind label
  int trial_index = 0;
  int trials_wanted = 0;
};

struct PromptedTrial {
  enum class Outcome {
    kTrial,       // `input` and `score` hold a confirmed trial
    kQuit,        // the operator typed q (or the input ended before a trial began)
    kInputEnded,  // the input ended in the middle of a trial: nothing to send
  };
  Outcome outcome = Outcome::kQuit;
  mixsweep::v1::TrialInput input;  // trial_index, achieved, success, duration,
                                   // intervention, safety_stop, notes
  double score = 0;
};

// Asks for one trial on `out`, reading answers from `in`, following the
// rubric: milestones, the last stage reached from a numbered list (0 =
// none); items, y/n per item. Then success y/n (default: score == 1),
// duration in seconds (empty: not recorded), intervention y/n (default n),
// safety stop y/n (default n) and notes. It shows the trial with its score
// and asks to send it (n: enter the trial again). A bad answer is explained
// and asked again; q at any question quits.
PromptedTrial PromptTrial(const mixsweep::v1::Rubric& rubric, const TrialPrompt& prompt,
                          std::istream& in, std::ostream& out);

// One line for a trial: "trial 3: reached both_lifted · score 1 · success yes
// · 42s · no intervention · no safety stop".
std::string DescribeTrial(const mixsweep::v1::Rubric& rubric, const mixsweep::v1::TrialInput& input,
                          double score);

}  // namespace mixsweep::cli
