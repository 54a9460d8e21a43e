// Size bounds on every string, bytes, repeated and map field of every
// request message of the mixsweep.v1 services: the one place where the API
// layer's limits are named (docs/LIMITS.md lists them with the domain's).
//
// Every handler calls CheckRequestLimits(*request) before it converts or
// acts on anything, so an oversized request allocates nothing more than
// gRPC already did and changes nothing. A field over its bound is
// INVALID_ARGUMENT naming the field as the client wrote it, e.g.
//
//   labels["zone"]: 300 bytes; at most 128
//   trials[3].video_uris[0]: 9000 bytes; at most 8192
//   gpus: 65 entries; at most 64
//
// Some fields are bounded by the domain instead (a quota such as the trials
// of one RecordTrials call, RESOURCE_EXHAUSTED; or a limit the server is
// configured with, such as the spec's size): their rows say where
// (`elsewhere`), and this check leaves them alone.
//
// tests/unit/api_request_limits_test.cc walks the descriptors of every
// request message of every service and fails for a string, bytes, repeated
// or map field without a row here: a field added later must be bounded.
//
// Numbers are range-checked where they are used (ids > 0, page sizes, GPU
// indices, durations, ...): see docs/LIMITS.md.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace mixsweep::api {

// The bounds, by kind of value. One constant per kind, so that the same
// thing is bounded the same way in every message.
namespace limits {
// Client-chosen retry keys (common.proto: a UUID is fine).
inline constexpr size_t kIdempotencyKeyBytes = 128;
// Names: worker names, GPU names and UUIDs, versions, labels (keys and
// values), operators, scenario and source names, owners and tasks in
// filters, metric names. The spec's own names are at most 128 too.
inline constexpr size_t kNameBytes = 128;
// Robot ids and platforms (the evaluation service also checks their
// characters: letters, digits, '.', '_', '-').
inline constexpr size_t kRobotIdBytes = 64;
// Host names (DNS: 253) and robot locations.
inline constexpr size_t kHostBytes = 256;
// A blind label of an evaluation request ("P-" and 12 hex digits).
inline constexpr size_t kBlindLabelBytes = 64;
// URIs a worker reports (checkpoints, manifests): any local path (PATH_MAX
// 4096) as a file:// URI, with room to spare.
inline constexpr size_t kUriBytes = 8192;
// Free text a person types: a cancel reason, a correction's reason.
inline constexpr size_t kReasonBytes = 4096;
// A failure message a worker reports (the tail of the job's log).
inline constexpr size_t kFailureMessageBytes = 64 * 1024;
// A page token this server issued (a decimal id).
inline constexpr size_t kPageTokenBytes = 32;
// GPUs of one worker, GPU indices and UUIDs in a lease request or a
// provenance (the spec asks for at most 64 GPUs per job).
inline constexpr size_t kGpus = 64;
// Labels of one worker.
inline constexpr size_t kLabels = 64;
// Leases one heartbeat renews (a worker runs one job per GPU, or a few
// CPU jobs).
inline constexpr size_t kLeasesPerHeartbeat = 1024;
// Sweep states in a ListSweeps filter (there are 3; repeats are harmless).
inline constexpr size_t kStateFilters = 16;
// A worker's reports carry what the job produced, and a correct worker must
// never be refused at the end of a job. So these bounds are what a correct
// worker can send: metrics come from one progress line (at most 64 KiB,
// so at most ~16k "a=1" pairs), and a provenance's argv and env are the
// template's (at most 1000 entries, spec) rendered, each at most what
// execve takes (MAX_ARG_STRLEN, 128 KiB).
inline constexpr size_t kMetrics = 16 * 1024;
inline constexpr size_t kMetricNameBytes = 64 * 1024;
inline constexpr size_t kArgvEntries = 1000;
inline constexpr size_t kArgBytes = 128 * 1024;
inline constexpr size_t kEnvEntries = 1000;
inline constexpr size_t kCodeVersionBytes = 256;  // as the spec bounds it
// An evaluate job reports one episode per trial its scenario wants (at most
// 1000, spec) and a training job at most 100 intermediate checkpoints (spec).
inline constexpr size_t kEpisodes = 1000;
inline constexpr size_t kStepCheckpoints = 100;
// Items an operator ticks in one trial: at most the rubric's entries (100,
// spec).
inline constexpr size_t kAchievedEntries = 100;
}  // namespace limits

// The bound of one field. `field` is its name within the package, e.g.
// "TrialInput.notes", or for a map, the map field ("RegisterWorkerRequest
// .labels"), whose key and value bounds are in the same row.
struct FieldBound {
  std::string_view field;
  // Repeated and map fields: the most entries; 0 when bounded elsewhere.
  size_t max_entries = 0;
  // String and bytes fields, each element of a repeated one, a map's
  // values: the most bytes; 0 when bounded elsewhere or not a string.
  size_t max_bytes = 0;
  // Map fields: the most bytes of a key.
  size_t max_key_bytes = 0;
  // Where the bounds this row leaves at 0 are checked, and how, e.g.
  // "EvaluationService::RecordTrials: EvaluationOptions::max_trials_per_request
  // (1000), RESOURCE_EXHAUSTED". Empty when every bound is here.
  std::string_view elsewhere;
};

// Every row, for the docs and the tests.
std::span<const FieldBound> RequestFieldBounds();

// The row of a field by its full name ("mixsweep.v1.TrialInput.notes"), or
// nullptr.
const FieldBound* FindFieldBound(std::string_view full_name);

// INVALID_ARGUMENT naming the first field of `request` (or of a message in
// it) over its bound; OK otherwise. Only fields that are set are looked at.
absl::Status CheckRequestLimits(const google::protobuf::Message& request);

}  // namespace mixsweep::api
