// What a synthetic checkpoint says about the policy it holds.
//
// The operator is blind (an opaque label and a checkpoint URI), but the
// "robot" loads the checkpoint. mixsweep-worker's synthetic executor writes a
// checkpoint as a small JSON file:
//   {"synthetic": true, "job_id": 12, "steps": 3000, "kind": "JOB_KIND_FINETUNE",
//    "source": "teleop", "n_demos": 200, "seed": 1,
//    "init_checkpoint": "file:///.../pretrain/.../latest.ckpt"}
// A train job is teleop-only; a finetune's source and N_nt are its pretrain's,
// found by following init_checkpoint.
//
// Pure: the caller supplies a loader that reads a checkpoint by URI.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/lab/ground_truth.h"

namespace mixsweep::lab {

struct SyntheticCheckpoint {
  int64_t job_id = 0;
  std::string kind;  // JobKind enum name, e.g. "JOB_KIND_FINETUNE"
  std::string source;
  int64_t n_demos = 0;
  int64_t seed = 0;
  std::string init_checkpoint;  // a finetune's pretrain checkpoint
};

// INVALID_ARGUMENT naming `uri` when the text is not a synthetic checkpoint
// (not JSON, "synthetic" not true) or lacks a field (an older worker's).
absl::StatusOr<SyntheticCheckpoint> ParseSyntheticCheckpoint(absl::string_view json_text,
                                                            absl::string_view uri);

// Reads the checkpoint at a URI (the caller's I/O).
using CheckpointLoader = std::function<absl::StatusOr<SyntheticCheckpoint>(const std::string& uri)>;

// What the policy in `checkpoint` was trained on. Train: teleop-only, N_tele
// = n_demos. Finetune: N_tele = n_demos, source and N_nt from the pretrain
// that `load` reads at init_checkpoint. A pretrain (or any other kind) is not
// a policy that sweeps evaluate: INVALID_ARGUMENT.
absl::StatusOr<TrainedOn> ResolveTrainedOn(const SyntheticCheckpoint& checkpoint,
                                           const CheckpointLoader& load);

// A file:// URI or an absolute path -> the local path; "" for anything else.
std::string LocalPathOfUri(absl::string_view uri);

}  // namespace mixsweep::lab
