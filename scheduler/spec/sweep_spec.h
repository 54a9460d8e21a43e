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
  // Training templates: where the trainer writes the checkpoint of step
  // {step}, e.g. "{output_dir}/checkpoints/{step}.ckpt"; needed when the
  // evaluation asks for intermediate checkpoints (Evaluation::checkpoints).
  std::string checkpoint_at_step;
  // Generate and evaluate templates: the file the worker judges the job by
  // (not the exit code), and how to read it: "mimicgen" for a generator's
  // important_stats.json; "lerobot", "diffusion_policy" or "mixsweep" for
  // an evaluation's results (docs/simulation.md).
  std::string result_file;
  std::string result_format;

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

// A source whose demos a generate job makes first (seed 001: MimicGen makes
// 1,000 demos from 10 human ones). The job renders {dataset} as
// `from.uri` and {n_demos} as `demos`; its checkpoint (the template's
// `checkpoint`, default "{output_dir}") is the generated dataset, which the
// source's pretrain or train jobs then read as {dataset}. It succeeds only
// when its summary (`command.result_file`, default
// "{output_dir}/important_stats.json", format "mimicgen") says at least
// `demos` successes.
struct Generation {
  CommandTemplate command;
  Dataset from;        // the source demos it generates from
  int64_t demos = 0;   // how many it must produce; subsets draw from these
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
  // Set: `dataset` is what the generate job makes (its uri is the job's
  // output, known once it ran; `dataset.episodes` == generate->demos).
  std::optional<Generation> generate;
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

// Who evaluates a scenario.
enum class Evaluator {
  // An operator on a robot, blind (EvaluationService); the default.
  kRobot,
  // An `evaluate` job on a worker runs `simulation->command` on each
  // checkpoint and reports one trial per episode of its result file.
  kSimulation,
};

// A simulation scenario's evaluation command. Placeholders: {checkpoint},
// {n_episodes} (the scenario's trials), {seed} (`seed`, the same for every
// policy so that all see the same initial states), {output_dir}, and the
// identifiers ({policy}, {task}, ...). `command.result_file` defaults by
// format: lerobot "{output_dir}/eval_info.json", diffusion_policy
// "{output_dir}/eval_log.json", mixsweep "{output_dir}/mixsweep_eval.json".
struct SimulationEvaluation {
  CommandTemplate command;  // result_format set (default "mixsweep")
  int64_t seed = 0;
};

struct Scenario {
  std::string name;
  int trials = 0;        // resolved: the scenario's own count or the default
  std::string platform;  // optional robot platform it requires (robot only)
  Evaluator evaluator = Evaluator::kRobot;
  std::optional<SimulationEvaluation> simulation;  // set iff kSimulation
};

// How a run's evaluated checkpoints make its S in one scenario.
enum class Aggregation {
  // The last checkpoint's S: the default, and the only one for robots.
  kLast,
  // The best checkpoint's S per seed (seed 001: "take the maximum policy
  // success rate for each seed"); a run counts once every one of its
  // checkpoints is evaluated. Robot scenarios still use the last.
  kMaxOverCheckpoints,
};

const char* AggregationName(Aggregation aggregation);  // "last", "max_over_checkpoints"

// Which intermediate checkpoints simulation scenarios evaluate, besides the
// last: every `every_steps` steps of a job (0: none), only the last `last`
// of those (0: all of them). Needs the training templates'
// `checkpoint_at_step`.
struct CheckpointSelection {
  int64_t every_steps = 0;
  int last = 0;
};

struct Evaluation {
  int trials_per_scenario = 10;
  std::vector<Scenario> scenarios;
  Aggregation aggregation = Aggregation::kLast;
  CheckpointSelection checkpoints;
};

// The sweep's design.
enum class Design {
  // Seed 000: N_tele x (teleop-only baseline + every (source, N_nt)) x seeds.
  kMixture,
  // Seed 001 Fig. 5: no teleop; one source, each N in its `n_nt` x seeds,
  // one train job each (T_total steps on N source demos). The estimates fit
  // the power law on the source alone and, with baseline_from_sweep,
  // convert each point to an exchange rate against that sweep's teleop.
  kScaling,
};

const char* DesignName(Design design);  // "mixture", "scaling"

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
  Design design = Design::kMixture;
  Teleop teleop;  // empty (no n_tele) in a scaling sweep
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
