// The sweep spec: what a researcher asks mixsweep to run, as plain values.
//
// A SweepSpec is the parsed, typed form of the YAML file documented in
// docs/sweep-spec.md (`version: 1`). It holds no I/O and no gRPC or database
// types, so the parser, the validator and the expansion are tested without
// servers.
//
// Example (the parser builds this from YAML):
//
//   absl::StatusOr<ParsedSpec> parsed = ParseSweepSpec(yaml_text);
//   if (!parsed.ok()) return parsed.status();  // INVALID_ARGUMENT, names field and line
//   const SweepSpec& spec = parsed->spec;
//
// Field names mirror the YAML keys. Later spec versions only add optional
// keys; the meaning of the fields below never changes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mixsweep::spec {

// How a trial's score is computed from what the operator saw happen.
enum class RubricKind {
  // Ordered stages; the trial scores the value of the last stage reached
  // (Pick Dual Bottles: 0.5 first bottle grasped, 1.0 both lifted).
  kMilestones,
  // Independent items whose weights sum to 1; achieved weights add up
  // (Rank RGB Blocks: three blocks, 1/3 each).
  kItems,
};

// One stage (milestones: `score`) or one item (items: `weight`).
struct RubricEntry {
  std::string name;
  double value = 0.0;
};

struct Rubric {
  RubricKind kind = RubricKind::kMilestones;
  std::vector<RubricEntry> entries;
};

struct Task {
  std::string name;
  Rubric rubric;
};

// A dataset as the training tool knows it. `episodes` is how many episodes it
// holds: subsets of N demos are drawn from [0, episodes).
struct Dataset {
  std::string uri;
  std::string content_hash;  // optional, recorded for provenance
  int64_t episodes = 0;
};

// A command the worker runs. Exactly one of `argv` (exec form, no shell) and
// `shell` (a script run by /bin/sh -c, only when the spec asks for it) is set.
// Strings may hold placeholders such as {dataset} or {steps}; `{{` and `}}`
// are literal braces.
struct CommandTemplate {
  std::vector<std::string> argv;
  std::string shell;
  std::map<std::string, std::string> env;
  // Where the checkpoint lands, e.g. "{output_dir}/checkpoints/last.ckpt".
  // Empty means "{output_dir}".
  std::string checkpoint;
  // Exit codes that mean "retrying will not help" (bad config, not a crash).
  std::vector<int> no_retry_exit_codes;
  // The lab's own progress line, an ECMAScript regex whose first group is
  // the step (and optional second the loss); empty: the built-in formats.
  std::string progress_pattern;

  bool uses_shell() const { return !shell.empty(); }
};

// Command templates per stage. Absent stages fall back to the sweep's.
struct StageTemplates {
  std::optional<CommandTemplate> train;
  std::optional<CommandTemplate> pretrain;
  std::optional<CommandTemplate> finetune;
};

enum class SourceKind {
  kSimulation,  // simulated demos (sim-to-real gap)
  kHumanVideo,  // human video (embodiment gap)
};

// A non-teleop data source with its own N_nt list. An N_nt of 0 marks the
// sweep's teleop-only baseline, which every source shares.
struct Source {
  std::string name;
  SourceKind kind = SourceKind::kSimulation;
  Dataset dataset;
  double cost_per_demo_hours = 0.0;
  std::vector<int64_t> n_nt;
  StageTemplates templates;  // overrides of pretrain/finetune for this source
};

struct Teleop {
  Dataset dataset;
  double cost_per_demo_hours = 0.0;
  std::vector<int64_t> n_tele;
};

// Equal compute: pretrain_steps + finetune_steps == total_steps.
struct Protocol {
  int64_t total_steps = 0;     // T_total, a teleop-only run's train job
  int64_t pretrain_steps = 0;  // T_pre
  int64_t finetune_steps = 0;  // T_ft
};

struct Scenario {
  std::string name;
  int trials = 0;        // resolved: the scenario's own count or the default
  std::string platform;  // optional robot platform it requires
};

struct Evaluation {
  int trials_per_scenario = 10;
  std::vector<Scenario> scenarios;
};

struct Resources {
  int gpus = 1;
  double min_gpu_memory_gib = 0.0;
  std::map<std::string, std::string> labels;  // the worker must carry all
};

struct Costs {
  std::optional<double> gpu_hour_price;      // money per GPU-hour
  std::optional<double> collection_hour_price;  // money per collection hour
  std::string currency;
};

struct SweepSpec {
  int version = 1;
  std::string name;
  Task task;
  std::string policy;
  std::string code_version;
  Teleop teleop;
  std::vector<Source> sources;
  std::vector<int64_t> seeds;
  Protocol protocol;
  Evaluation evaluation;
  StageTemplates templates;
  Resources resources;
  Costs costs;
  int priority = 0;
  int max_attempts = 3;
  // A job still running this long after it was leased fails as
  // DEADLINE_EXCEEDED (not retried). Unset: no deadline.
  std::optional<double> job_deadline_hours;
  // Where the teleop-only baseline comes from when no source lists N_nt = 0:
  // an earlier sweep of the same task, policy and protocol.
  std::optional<int64_t> baseline_from_sweep;

  // True when some source lists N_nt = 0.
  bool has_own_baseline() const;
  // The command a stage runs for `source` (empty for teleop-only): the
  // source's override, else the sweep's template. nullopt if neither exists.
  std::optional<CommandTemplate> TemplateFor(const std::string& stage,
                                             const Source* source) const;
};

}  // namespace mixsweep::spec
