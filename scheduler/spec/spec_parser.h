// Parsing and validating sweep specs (docs/sweep-spec.md).
//
// ParseSweepSpec turns YAML text into a SweepSpec and checks everything that
// can be checked from the text alone: unknown keys, missing fields, types,
// version, T_pre + T_ft == T_total, negative or duplicate N, rubric weights,
// placeholders, the run limit. Every problem becomes one line of an
// INVALID_ARGUMENT status naming the field and the YAML line, e.g.
//
//   line 14: protocol.pretrain_steps: pretrain_steps + finetune_steps
//   (60000 + 30000) must equal total_steps (100000)
//
// Checks that need stored state (does `baseline_from_sweep` name a sweep of
// the same task, policy and protocol?) are the caller's: see
// scheduler::SweepService, which makes them before storing anything.
//
// Example:
//   SpecLimits limits{.max_runs = 10000};
//   auto parsed = ParseSweepSpec(text, limits);
//   if (!parsed.ok()) return parsed.status();
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::spec {

struct SpecLimits {
  // Most runs one sweep may expand to (N_tele x (baseline + mixed) x seeds).
  int64_t max_runs = 10000;
};

// The placeholders a command template may use, by stage:
//   every stage: {dataset} {dataset_hash} {subset_manifest} {n_demos} {steps}
//                {seed} {output_dir} {gpu} {job_id} {sweep_id} {code_version}
//                {policy} {task} {resume_checkpoint} (empty unless resuming)
//   train and finetune: {run_id} (a pretrain is shared by several runs)
//   finetune only: {init_checkpoint}
// A finetune template must use {init_checkpoint}: without it the finetune
// would silently start from scratch.
bool IsKnownPlaceholder(std::string_view name, std::string_view stage);

struct ParsedSpec {
  SweepSpec spec;
  std::string yaml;  // the text as submitted, kept for provenance
};

absl::StatusOr<ParsedSpec> ParseSweepSpec(std::string_view yaml_text,
                                          const SpecLimits& limits = {});

// Number of runs `spec` expands to, counted without expanding it.
int64_t CountRuns(const SweepSpec& spec);

}  // namespace mixsweep::spec
