// Training progress from the training tool's own output.
//
// Labs run lerobot, openpi and diffusion_policy unmodified, so the worker
// reads what they already print (anything before or around the progress,
// such as a timestamp, a logger prefix or a progress bar ended by '\r', is
// ignored):
//   lerobot          "INFO ... step:13K smpl:420K ... loss:0.045 grdn:0.91 lr:1.0e-04"
//                    step with K, M, B or T suffixes ("1.5K" is 1500; lerobot
//                    rounds, so its steps are approximate); metrics "loss",
//                    "grad_norm" (grdn) and "lr"
//   openpi           "Step 1200: grad_norm=0.41, loss=0.0312, param_norm=..."
//                    metrics: every name=number pair after the colon
//   plain            "step=1200 loss=0.0312"
//                    metrics: every other name=number pair on the line.
//                    "step 1200" alone is NOT progress (too much prose reads
//                    like that); a sweep whose tool prints it gives a pattern.
//   mimicgen         "have 950 successes out of 1187 trials so far"
//                    (generate jobs; mimicgen/scripts/generate_dataset.py):
//                    step = the successes, i.e. the demos made so far (the
//                    agent's total for a generate job is the demos wanted),
//                    metric "attempts" = the trials
//   diffusion_policy a JSON object per line in {output_dir}/logs.json.txt,
//                    {"global_step": 1200, "train_loss": 0.031, ...}
//                    (a file the worker tails, not stdout): see
//                    ParseDiffusionPolicyLogLine
// A sweep may also give its own regular expression (std::regex ECMAScript,
// which has no named groups): the first capture group is the step (digits,
// optionally with a K/M/B/T suffix), the optional second one the loss; the
// pattern only has to match part of the line (regex_search).
//
// A step is a non-negative integer; a metric that is not a finite number is
// left out (never NaN or infinity). Lines longer than kMaxProgressLineBytes
// (kMaxPatternLineBytes for a sweep's own pattern) are not progress.
//
// Example:
//   auto parser = ProgressParser::Create(/*custom_pattern=*/"");
//   std::optional<ProgressSample> s = parser->ParseLine("step:13K loss:0.045");
//   // s->step == 13000, s->metrics["loss"] == 0.045
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mixsweep::workers {

// Progress lines are short (lerobot's are about 170 bytes); a longer line is
// output of something else and is not parsed at all.
inline constexpr size_t kMaxProgressLineBytes = 64 * 1024;
// std::regex's backtracking matcher recurses once per character: measured, a
// 64 KiB line overflows an 8 MiB stack (about 6 KiB under AddressSanitizer),
// so a sweep's own pattern only sees lines up to this length.
inline constexpr size_t kMaxPatternLineBytes = 2 * 1024;

struct ProgressSample {
  int64_t step = 0;  // training steps; a generate job's demos made so far
  std::map<std::string, double> metrics;  // e.g. "loss"; finite values only
};

class ProgressParser {
 public:
  // `custom_pattern`: empty for the built-in formats; else an ECMAScript
  // regex whose first capture group is the step and whose optional second
  // group is the loss. INVALID_ARGUMENT (naming "progress_pattern") if it
  // does not compile or has no group.
  static absl::StatusOr<ProgressParser> Create(const std::string& custom_pattern);

  // A stdout/stderr line -> a sample, or nullopt when the line is not progress.
  std::optional<ProgressSample> ParseLine(std::string_view line) const;

 private:
  std::shared_ptr<const std::regex> custom_;  // null: built-in formats
};

// One line of diffusion_policy's logs.json.txt -> a sample, or nullopt when
// the line is not a JSON object with a non-negative integer "global_step".
// Metrics: every other top-level finite number, by its own name, plus "loss"
// (a copy of "train_loss" when present). Python writes a NaN loss as a bare
// NaN (not JSON): such a value is left out and the step still counts.
//   {"global_step": 1200, "epoch": 3, "train_loss": 0.031, "lr": 9.9e-05}
//   -> step 1200, metrics {epoch 3, loss 0.031, lr 9.9e-05, train_loss 0.031}
std::optional<ProgressSample> ParseDiffusionPolicyLogLine(std::string_view line);

}  // namespace mixsweep::workers
