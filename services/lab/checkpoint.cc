#include "services/lab/checkpoint.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::lab {
namespace {

constexpr absl::string_view kTrain = "JOB_KIND_TRAIN";
constexpr absl::string_view kPretrain = "JOB_KIND_PRETRAIN";
constexpr absl::string_view kFinetune = "JOB_KIND_FINETUNE";

absl::Status NotSynthetic(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint ", uri, " is not a synthetic checkpoint: ", why));
}

// `key` as T, or an error naming the checkpoint and the key.
template <typename T>
absl::StatusOr<T> Field(const nlohmann::json& json, const char* key, absl::string_view uri) {
  auto it = json.find(key);
  if (it == json.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", uri, ": has no \"", key,
        "\" (written by a mixsweep-worker older than the synthetic lab? rerun the job)"));
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", uri, ": \"", key, "\" has the wrong type"));
  }
}

absl::StatusOr<SyntheticCheckpoint> FromJson(const nlohmann::json& json, absl::string_view uri) {
  if (!json.is_object()) return NotSynthetic(uri, "not a JSON object");
  auto synthetic = json.find("synthetic");
  if (synthetic == json.end() || *synthetic != true) return NotSynthetic(uri, "\"synthetic\" is not true");
  SyntheticCheckpoint checkpoint;
  absl::StatusOr<int64_t> job_id = Field<int64_t>(json, "job_id", uri);
  absl::StatusOr<std::string> kind = Field<std::string>(json, "kind", uri);
  absl::StatusOr<std::string> source = Field<std::string>(json, "source", uri);
  absl::StatusOr<int64_t> n_demos = Field<int64_t>(json, "n_demos", uri);
  absl::StatusOr<int64_t> seed = Field<int64_t>(json, "seed", uri);
  absl::StatusOr<std::string> init = Field<std::string>(json, "init_checkpoint", uri);
  for (const absl::Status& status : {job_id.status(), kind.status(), source.status(),
                                     n_demos.status(), seed.status(), init.status()}) {
    if (!status.ok()) return status;
  }
  return SyntheticCheckpoint{.job_id = *job_id,
                             .kind = *kind,
                             .source = *source,
                             .n_demos = *n_demos,
                             .seed = *seed,
                             .init_checkpoint = *init};
}

absl::StatusOr<TrainedOn> ResolveFinetune(const SyntheticCheckpoint& finetune,
                                          const CheckpointLoader& load) {
  if (finetune.init_checkpoint.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("finetune job ", finetune.job_id, "'s checkpoint names no init_checkpoint"));
  }
  absl::StatusOr<SyntheticCheckpoint> pretrain = load(finetune.init_checkpoint);
  if (!pretrain.ok()) return pretrain.status();
  if (pretrain->kind != kPretrain) {
    return absl::InvalidArgumentError(absl::StrCat("finetune job ", finetune.job_id, "'s init_checkpoint ",
                                                   finetune.init_checkpoint, " is a ", pretrain->kind,
                                                   ", not a pretrain"));
  }
  return TrainedOn{.source = pretrain->source,
                   .n_tele = finetune.n_demos,
                   .n_nt = pretrain->n_demos,
                   .seed = finetune.seed};
}

}  // namespace

absl::StatusOr<SyntheticCheckpoint> ParseSyntheticCheckpoint(absl::string_view json_text,
                                                            absl::string_view uri) {
  nlohmann::json json = nlohmann::json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return NotSynthetic(uri, "not JSON");
  return FromJson(json, uri);
}

absl::StatusOr<TrainedOn> ResolveTrainedOn(const SyntheticCheckpoint& checkpoint,
                                           const CheckpointLoader& load) {
  if (checkpoint.kind == kTrain) {
    return TrainedOn{.source = "", .n_tele = checkpoint.n_demos, .n_nt = 0, .seed = checkpoint.seed};
  }
  if (checkpoint.kind == kFinetune) return ResolveFinetune(checkpoint, load);
  return absl::InvalidArgumentError(absl::StrCat("checkpoint of job ", checkpoint.job_id, " is a ",
                                                 checkpoint.kind,
                                                 "; only train and finetune policies are evaluated"));
}

std::string LocalPathOfUri(absl::string_view uri) {
  constexpr absl::string_view kFile = "file://";
  if (absl::StartsWith(uri, kFile)) uri.remove_prefix(kFile.size());
  if (!absl::StartsWith(uri, "/")) return "";
  return std::string(uri);
}

}  // namespace mixsweep::lab
