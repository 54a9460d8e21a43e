// The job graph of a sweep, as plain values (no I/O).
//
// ExpandSweep (expansion.h) turns a SweepSpec into a SweepPlan following
// SPEC.md's expansion rules:
//   runs = N_tele x (baseline + every (source, N_nt > 0)) x seeds;
//   a teleop-only run is one train job (T_total steps on N_tele teleop demos);
//   a mixed run is a pretrain (T_pre steps on N_nt source demos) then a
//   finetune (T_ft steps on N_tele teleop demos from the pretrain's
//   checkpoint); a pretrain is shared by every finetune that needs the same
//   (source dataset, N_nt, seed, steps, command).
//
// Every run and job has a `key`: a stable, human-readable identity inside its
// sweep. Keys make extension a set difference and make storage idempotent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::plan {

enum class JobKind {
  kTrain,     // teleop-only run: T_total steps on N_tele teleop demos
  kPretrain,  // mixed run, stage 1: T_pre steps on N_nt source demos; shared
  kFinetune,  // mixed run, stage 2: T_ft steps on N_tele teleop demos
  // A generated source's demos (seed 001): one per source with `generate:`,
  // before every pretrain or (scaling) train job of that source.
  kGenerate,
  // A simulation scenario's evaluation of one checkpoint. Never planned: the
  // store makes one per simulation evaluation request when a checkpoint
  // lands.
  kEvaluate,
};

// "train", "pretrain", "finetune", "generate", "evaluate"
const char* JobKindName(JobKind kind);

// A deterministic subset of a dataset: the episode indices that a job trains
// on, chosen by (dataset, N, seed). See subset.h.
struct SubsetManifest {
  std::string dataset_uri;
  std::string dataset_hash;
  int64_t n = 0;
  int64_t seed = 0;
  std::vector<int64_t> episodes;  // sorted ascending, size n
};

struct PlannedJob {
  std::string key;  // e.g. "pretrain/sim/n1000/s0/3f2a9c1d"
  JobKind kind = JobKind::kTrain;
  std::string source;  // "teleop" for train and finetune, else the source name
  spec::Dataset dataset;
  int64_t n_demos = 0;
  int64_t seed = 0;
  int64_t steps = 0;
  spec::CommandTemplate command;  // unrendered: the worker renders it
  // finetune: key of its pretrain; pretrain or train of a generated
  // source: key of its generate job; else empty.
  std::string depends_on;
  SubsetManifest subset;  // empty for generate jobs
  // Intermediate checkpoints for simulation scenarios (ascending, the last
  // step excluded): train and finetune jobs only.
  std::vector<int64_t> checkpoint_steps;
};

struct RunKey {
  int64_t n_tele = 0;  // 0 in a scaling sweep
  std::string source;  // empty for the teleop-only baseline
  int64_t n_nt = 0;
  int64_t seed = 0;
};

struct PlannedRun {
  std::string key;  // e.g. "t50/sim/n1000/s0", "t50/baseline/s0"
  RunKey run;
  std::string train_job;     // key; baseline and scaling runs
  std::string pretrain_job;  // key; mixed runs only
  std::string finetune_job;  // key; mixed runs only
};

struct SweepPlan {
  std::vector<PlannedRun> runs;  // in a stable order
  std::vector<PlannedJob> jobs;  // pretrains before the finetunes that need them

  const PlannedJob* FindJob(const std::string& key) const;
};

}  // namespace mixsweep::plan
