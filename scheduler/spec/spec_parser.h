// Parsing and validating sweep specs (docs/sweep-spec.md).
//
// ParseSweepSpec turns YAML text into a SweepSpec and checks everything that
// can be checked from the text alone: unknown keys, missing fields, types,
// version, T_pre + T_ft == T_total, negative or duplicate N, rubric weights,
// placeholders, values that would become unsafe placeholder values. Every
// problem becomes one line of an INVALID_ARGUMENT status naming the field
// and the YAML line, e.g.
//
//   line 14: protocol.pretrain_steps: pretrain_steps + finetune_steps
//   (60000 + 30000) must equal total_steps (100000)
//
// A valid spec over a quota of SpecLimits (runs, demos per sweep) is
// RESOURCE_EXHAUSTED instead, with the count and the limit.
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

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::spec {

// Quotas on what one sweep may ask for. A spec over one is refused with
// RESOURCE_EXHAUSTED (the count and the limit in the message), once it is
// otherwise valid; every other problem is INVALID_ARGUMENT. The per-value
// limits (string lengths, list lengths, N <= 1,000,000 demos per job, ...)
// are constants in spec_parser.cc, listed in docs/sweep-spec.md and
// docs/LIMITS.md.
struct SpecLimits {
  // Most runs one sweep may expand to (N_tele x (baseline + mixed) x seeds).
  int64_t max_runs = 10000;
  // Most demos the sweep's jobs train on, summed over its jobs
  // (CountSubsetEpisodes): each is an episode index in a subset manifest
  // that the server builds, stores and sends, so this bounds the memory one
  // submission takes.
  int64_t max_subset_episodes = 10000000;
  // Refuse values that would become unsafe placeholder values and N over
  // the per-job cap. Off only for specs read back from storage, which were
  // checked when stored, possibly under older rules (ForStoredSpecs).
  bool strict_values = true;

  // For a spec read back from storage: no quota, no newer value rules.
  static SpecLimits ForStoredSpecs() {
    return {.max_runs = INT64_MAX, .max_subset_episodes = INT64_MAX, .strict_values = false};
  }
};

// The placeholders a command template may use, by stage:
//   train, pretrain, finetune: {dataset} {dataset_hash} {subset_manifest}
//                {n_demos} {steps} {seed} {output_dir} {gpu} {job_id}
//                {sweep_id} {code_version} {policy} {task}
//                {resume_checkpoint} (empty unless resuming)
//   train and finetune: {run_id} (a pretrain is shared by several runs)
//   finetune only: {init_checkpoint}
//   train, pretrain, finetune, only inside checkpoint_at_step: {step}
//   generate (sources[i].generate.command): {dataset} (generate.from.uri)
//                {dataset_hash} {n_demos} (generate.demos) {seed} (0)
//                {output_dir} {gpu} {job_id} {sweep_id} {code_version}
//                {policy} {task}
//   evaluate (a simulation scenario's command): {checkpoint} {n_episodes}
//                {seed} (the scenario's) {output_dir} {gpu} {job_id}
//                {run_id} {sweep_id} {code_version} {policy} {task}
// A finetune template must use {init_checkpoint} and a simulation
// scenario's command {checkpoint}: without them the job would silently
// train from scratch or evaluate nothing in particular.
bool IsKnownPlaceholder(std::string_view name, std::string_view stage);

struct ParsedSpec {
  SweepSpec spec;
  std::string yaml;  // the text as submitted, kept for provenance
};

absl::StatusOr<ParsedSpec> ParseSweepSpec(std::string_view yaml_text,
                                          const SpecLimits& limits = {});

// Number of runs `spec` expands to, counted without expanding it. A scaling
// sweep: |N_nt > 0| x seeds.
int64_t CountRuns(const SweepSpec& spec);

// Demos its jobs train on, summed over the jobs, counted without expanding
// it: seeds x ((baseline + mixed points) x sum(N_tele) + sum(N_nt > 0)),
// a pretrain counted once per (source, N_nt, seed); a scaling sweep:
// seeds x sum(N_nt). Generate jobs train on nothing. Saturates at INT64_MAX.
int64_t CountSubsetEpisodes(const SweepSpec& spec);

}  // namespace mixsweep::spec
