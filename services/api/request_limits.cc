#include "services/api/request_limits.h"

#include <map>
#include <string>

#include <google/protobuf/descriptor.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::api {
namespace {

using namespace limits;  // NOLINT: the table reads best with the bare names

constexpr std::string_view kPackagePrefix = "mixsweep.v1.";

constexpr std::string_view kTrialLimits =
    "evaluation::ScoreTrial, by TrialLimits (operator and robot_id 128 bytes, notes 4096, "
    "video_uris 16 of 2048 bytes; UTF-8 without control characters)";

// clang-format off
constexpr FieldBound kBounds[] = {
    // SweepService
    {.field = "SubmitSweepRequest.spec_yaml",
     .elsewhere = "SweepGrpcService: Options::max_spec_bytes (1 MiB); the parser also refuses "
                  "more than 1 MiB"},
    {.field = "SubmitSweepRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "ExtendSweepRequest.spec_yaml",
     .elsewhere = "SweepGrpcService: Options::max_spec_bytes (1 MiB)"},
    {.field = "ExtendSweepRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "ListSweepsRequest.owner", .max_bytes = kNameBytes},
    {.field = "ListSweepsRequest.states", .max_entries = kStateFilters},
    {.field = "ListSweepsRequest.task", .max_bytes = kNameBytes},
    {.field = "PageRequest.page_token", .max_bytes = kPageTokenBytes},
    {.field = "CancelSweepRequest.reason", .max_bytes = kReasonBytes},
    {.field = "CancelSweepRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    // WorkerService
    {.field = "RegisterWorkerRequest.name", .max_bytes = kNameBytes},
    {.field = "RegisterWorkerRequest.host", .max_bytes = kHostBytes},
    {.field = "RegisterWorkerRequest.gpus", .max_entries = kGpus},
    {.field = "RegisterWorkerRequest.labels", .max_entries = kLabels, .max_bytes = kNameBytes,
     .max_key_bytes = kNameBytes},
    {.field = "RegisterWorkerRequest.version", .max_bytes = kNameBytes},
    {.field = "RegisterWorkerRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "Gpu.name", .max_bytes = kNameBytes},
    {.field = "Gpu.uuid", .max_bytes = kNameBytes},
    {.field = "HeartbeatRequest.leases", .max_entries = kLeasesPerHeartbeat},
    {.field = "HeartbeatRequest.gpus", .max_entries = kGpus},
    {.field = "LeaseJobRequest.free_gpu_indices", .max_entries = kGpus},
    {.field = "LeaseJobRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "JobProgress.metrics", .max_entries = kMetrics, .max_key_bytes = kMetricNameBytes},
    {.field = "Provenance.argv", .max_entries = kArgvEntries, .max_bytes = kArgBytes},
    {.field = "Provenance.env", .max_entries = kEnvEntries, .max_bytes = kArgBytes,
     .max_key_bytes = kNameBytes},
    {.field = "Provenance.subset_manifest_uri", .max_bytes = kUriBytes},
    {.field = "Provenance.code_version", .max_bytes = kCodeVersionBytes},
    {.field = "Provenance.worker_host", .max_bytes = kHostBytes},
    {.field = "Provenance.gpu_indices", .max_entries = kGpus},
    {.field = "Provenance.gpu_uuids", .max_entries = kGpus, .max_bytes = kNameBytes},
    {.field = "AppendLogRequest.data",
     .elsewhere = "DispatchService::AppendLog: DispatchOptions::max_log_chunk_bytes (1 MiB)"},
    {.field = "CompleteJobRequest.checkpoint_uri", .max_bytes = kUriBytes},
    {.field = "CompleteJobRequest.final_metrics", .max_entries = kMetrics,
     .max_key_bytes = kMetricNameBytes},
    {.field = "CompleteJobRequest.episodes", .max_entries = kEpisodes},
    {.field = "CompleteJobRequest.step_checkpoints", .max_entries = kStepCheckpoints},
    {.field = "StepCheckpoint.uri", .max_bytes = kUriBytes},
    {.field = "JobFailure.message", .max_bytes = kFailureMessageBytes},
    {.field = "HandBackJobRequest.resume_checkpoint_uri", .max_bytes = kUriBytes},
    // EvaluationService
    {.field = "Robot.id", .max_bytes = kRobotIdBytes},
    {.field = "Robot.platform", .max_bytes = kRobotIdBytes},
    {.field = "Robot.location", .max_bytes = kHostBytes},
    {.field = "RegisterRobotRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "NextEvaluationBatchRequest.robot_id", .max_bytes = kRobotIdBytes},
    {.field = "NextEvaluationBatchRequest.operator", .max_bytes = kNameBytes},
    {.field = "RecordTrialsRequest.label", .max_bytes = kBlindLabelBytes},
    {.field = "RecordTrialsRequest.trials",
     .elsewhere = "EvaluationService::RecordTrials: EvaluationOptions::max_trials_per_request "
                  "(1000), RESOURCE_EXHAUSTED (a quota)"},
    {.field = "RecordTrialsRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "TrialInput.achieved", .max_entries = kAchievedEntries, .elsewhere = kTrialLimits},
    {.field = "TrialInput.operator", .elsewhere = kTrialLimits},
    {.field = "TrialInput.robot_id", .elsewhere = kTrialLimits},
    {.field = "TrialInput.notes", .elsewhere = kTrialLimits},
    {.field = "TrialInput.video_uris", .elsewhere = kTrialLimits},
    {.field = "CorrectTrialRequest.reason",
     .elsewhere = "EvaluationService::CorrectTrial: 1024 bytes, no control characters"},
    {.field = "CorrectTrialRequest.idempotency_key", .max_bytes = kIdempotencyKeyBytes},
    {.field = "ListResultsRequest.scenario", .max_bytes = kNameBytes},
    {.field = "PlanEvaluationsRequest.robot_id", .max_bytes = kRobotIdBytes},
    // AuthService (TokenService checks the principal's characters and length, 64)
    {.field = "CreateTokenRequest.principal", .max_bytes = kNameBytes},
    {.field = "CreateTokenRequest.note", .max_bytes = 256},
    // UtilizationService
    {.field = "GetEstimatesRequest.scenario", .max_bytes = kNameBytes},
    {.field = "GetEstimatesRequest.source", .max_bytes = kNameBytes},
    {.field = "RecommendMixRequest.scenario", .max_bytes = kNameBytes},
    {.field = "RecommendMixRequest.source", .max_bytes = kNameBytes},
};
// clang-format on

const std::map<std::string_view, const FieldBound*>& BoundsByName() {
  static const auto* const kByName = [] {
    auto* by_name = new std::map<std::string_view, const FieldBound*>();
    for (const FieldBound& bound : kBounds) (*by_name)[bound.field] = &bound;
    return by_name;
  }();
  return *kByName;
}

absl::Status TooLong(const std::string& path, size_t bytes, size_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", bytes, " bytes; at most ", max));
}

// A map key as a path shows it: quoted, escaped, cut to 40 bytes.
std::string KeyInPath(const std::string& key) {
  constexpr size_t kShown = 40;
  std::string shown = absl::CHexEscape(key.substr(0, kShown));
  if (key.size() > kShown) shown += "...";
  return absl::StrCat("[\"", shown, "\"]");
}

absl::Status CheckMessage(const google::protobuf::Message& message, const std::string& prefix);

// One value of `field` (a singular field, an element of a repeated one, or
// a map's value) at `path`.
absl::Status CheckValue(const google::protobuf::Message& message,
                        const google::protobuf::FieldDescriptor* field, int index,
                        const FieldBound* bound, const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    if (bound == nullptr || bound->max_bytes == 0) return absl::OkStatus();
    std::string scratch;
    const std::string& value =
        index < 0 ? reflection->GetStringReference(message, field, &scratch)
                  : reflection->GetRepeatedStringReference(message, field, index, &scratch);
    if (value.size() > bound->max_bytes) return TooLong(path, value.size(), bound->max_bytes);
    return absl::OkStatus();
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return CheckMessage(index < 0 ? reflection->GetMessage(message, field)
                                  : reflection->GetRepeatedMessage(message, field, index),
                        path);
  }
  return absl::OkStatus();
}

absl::Status CheckMap(const google::protobuf::Message& message,
                      const google::protobuf::FieldDescriptor* field, const FieldBound* bound,
                      const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const FieldDescriptor* key_field = field->message_type()->map_key();
  const FieldDescriptor* value_field = field->message_type()->map_value();
  const int size = reflection->FieldSize(message, field);
  for (int i = 0; i < size; ++i) {
    const google::protobuf::Message& entry = reflection->GetRepeatedMessage(message, field, i);
    const google::protobuf::Reflection* entry_reflection = entry.GetReflection();
    std::string key = key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING
                          ? entry_reflection->GetString(entry, key_field)
                          : std::string();
    if (bound != nullptr && bound->max_key_bytes != 0 && key.size() > bound->max_key_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a key of ", key.size(),
                                                     " bytes; at most ", bound->max_key_bytes));
    }
    if (absl::Status s = CheckValue(entry, value_field, -1, bound, path + KeyInPath(key));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckField(const google::protobuf::Message& message,
                        const google::protobuf::FieldDescriptor* field,
                        const std::string& prefix) {
  const std::string path = prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
  const FieldBound* bound = FindFieldBound(field->full_name());
  if (!field->is_repeated()) return CheckValue(message, field, -1, bound, path);
  const size_t size = static_cast<size_t>(message.GetReflection()->FieldSize(message, field));
  if (bound != nullptr && bound->max_entries != 0 && size > bound->max_entries) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " entries; at most ", bound->max_entries));
  }
  if (field->is_map()) return CheckMap(message, field, bound, path);
  for (size_t i = 0; i < size; ++i) {
    if (absl::Status s = CheckValue(message, field, static_cast<int>(i), bound,
                                    absl::StrCat(path, "[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMessage(const google::protobuf::Message& message, const std::string& prefix) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);  // set fields only, by number
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (absl::Status s = CheckField(message, field, prefix); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const FieldBound> RequestFieldBounds() { return kBounds; }

const FieldBound* FindFieldBound(std::string_view full_name) {
  if (full_name.substr(0, kPackagePrefix.size()) != kPackagePrefix) return nullptr;
  full_name.remove_prefix(kPackagePrefix.size());
  const auto& by_name = BoundsByName();
  auto it = by_name.find(full_name);
  return it == by_name.end() ? nullptr : it->second;
}

absl::Status CheckRequestLimits(const google::protobuf::Message& request) {
  return CheckMessage(request, "");
}

}  // namespace mixsweep::api
