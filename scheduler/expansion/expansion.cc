// Sweep expansion, extension and sharing savings. The rules, the key formats
// and the order are specified in docs/expansion.md.
#include "scheduler/expansion/expansion.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "scheduler/expansion/subset.h"

namespace mixsweep::plan {

const char* JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kTrain:
      return "train";
    case JobKind::kPretrain:
      return "pretrain";
    case JobKind::kFinetune:
      return "finetune";
    case JobKind::kGenerate:
      return "generate";
    case JobKind::kEvaluate:
      return "evaluate";
  }
  return "unknown";
}

const PlannedJob* SweepPlan::FindJob(const std::string& key) const {
  auto it = std::find_if(jobs.begin(), jobs.end(),
                         [&](const PlannedJob& job) { return job.key == key; });
  return it == jobs.end() ? nullptr : &*it;
}

namespace {

constexpr char kTeleopSource[] = "teleop";

// ---------------------------------------------------------------------------
// Canonical bytes: an unambiguous serialization used to hash and compare
// values. Integers are 8 bytes little-endian, strings and lists carry their
// length first, so different values never serialize alike, and the bytes are
// the same on every platform and build.

class CanonicalBytes {
 public:
  CanonicalBytes& Int(int64_t value) {
    const auto bits = static_cast<uint64_t>(value);
    for (int shift = 0; shift < 64; shift += 8) {
      bytes_.push_back(static_cast<char>((bits >> shift) & 0xFF));
    }
    return *this;
  }
  CanonicalBytes& Real(double value) {
    return Int(static_cast<int64_t>(std::bit_cast<uint64_t>(value)));
  }
  CanonicalBytes& Str(std::string_view text) {
    Int(static_cast<int64_t>(text.size()));
    bytes_.append(text);
    return *this;
  }
  CanonicalBytes& Strings(const std::vector<std::string>& list) {
    Int(static_cast<int64_t>(list.size()));
    for (const std::string& item : list) Str(item);
    return *this;
  }
  // std::map iterates in key order: the env and labels come out sorted.
  CanonicalBytes& Map(const std::map<std::string, std::string>& map) {
    Int(static_cast<int64_t>(map.size()));
    for (const auto& [key, value] : map) Str(key).Str(value);
    return *this;
  }
  CanonicalBytes& Command(const spec::CommandTemplate& command) {
    // Exit codes are a set: their order in the YAML does not matter.
    std::vector<int> exit_codes = command.no_retry_exit_codes;
    std::sort(exit_codes.begin(), exit_codes.end());
    Strings(command.argv).Str(command.shell).Map(command.env);
    Str(command.checkpoint).Int(static_cast<int64_t>(exit_codes.size()));
    for (int code : exit_codes) Int(code);
    // Added later: only present when used, so existing keys keep their hash.
    if (!command.progress_pattern.empty()) Str("progress_pattern").Str(command.progress_pattern);
    if (!command.checkpoint_at_step.empty()) {
      Str("checkpoint_at_step").Str(command.checkpoint_at_step);
    }
    if (!command.result_file.empty()) Str("result_file").Str(command.result_file);
    if (!command.result_format.empty()) Str("result_format").Str(command.result_format);
    return *this;
  }
  CanonicalBytes& Command(const std::optional<spec::CommandTemplate>& command) {
    Int(command.has_value() ? 1 : 0);
    return command ? Command(*command) : *this;
  }

  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// What makes two pretrains the same job, apart from N_nt and seed: the
// dataset (episodes included, since it changes the subset), the steps and
// the command; for a generated source, also the generate job that makes the
// dataset (its uri is empty until then), so that two generated sources
// never share pretrains.
std::string PretrainIdentity(const spec::Dataset& dataset, int64_t steps,
                             const spec::CommandTemplate& command,
                             const std::string& generate_job) {
  CanonicalBytes bytes;
  bytes.Str("mixsweep-pretrain-v1").Str(dataset.uri).Str(dataset.content_hash);
  bytes.Int(dataset.episodes).Int(steps).Command(command);
  // Added later: only present when used, so existing keys keep their hash.
  if (!generate_job.empty()) bytes.Str("generated_by").Str(generate_job);
  return bytes.bytes();
}

// The full identity of one pretrain job, N_nt and seed included.
std::string PretrainIdentity(const PlannedJob& job) {
  CanonicalBytes bytes;
  bytes.Str(PretrainIdentity(job.dataset, job.steps, job.command, job.depends_on));
  bytes.Int(job.n_demos).Int(job.seed);
  return bytes.bytes();
}

// What makes a generate job: what it generates from, how many, and how.
std::string GenerateIdentity(const spec::Generation& generation) {
  CanonicalBytes bytes;
  bytes.Str("mixsweep-generate-v1").Str(generation.from.uri);
  bytes.Str(generation.from.content_hash).Int(generation.from.episodes);
  bytes.Int(generation.demos).Command(generation.command);
  return bytes.bytes();
}

// 8 hex digits: the high 32 bits of the identity's FNV-1a 64.
std::string ShortDigest(std::string_view identity) {
  return absl::StrFormat("%08x", Fnv1a64(identity) >> 32);
}

// ---------------------------------------------------------------------------
// Keys: stable, human-readable identities inside one sweep.

std::string BaselineRunKey(int64_t n_tele, int64_t seed) {
  return absl::StrCat("t", n_tele, "/baseline/s", seed);
}
std::string MixedRunKey(int64_t n_tele, const std::string& source, int64_t n_nt,
                        int64_t seed) {
  return absl::StrCat("t", n_tele, "/", source, "/n", n_nt, "/s", seed);
}
std::string TrainJobKey(int64_t n_tele, int64_t seed) {
  return absl::StrCat("train/t", n_tele, "/s", seed);
}
std::string FinetuneJobKey(int64_t n_tele, const std::string& source,
                           int64_t n_nt, int64_t seed) {
  return absl::StrCat("finetune/", MixedRunKey(n_tele, source, n_nt, seed));
}
std::string PretrainJobKey(const std::string& source, int64_t n_nt,
                           int64_t seed, const std::string& digest) {
  return absl::StrCat("pretrain/", source, "/n", n_nt, "/s", seed, "/", digest);
}
std::string ScalingRunKey(const std::string& source, int64_t n, int64_t seed) {
  return absl::StrCat(source, "/n", n, "/s", seed);
}
std::string ScalingTrainJobKey(const std::string& source, int64_t n,
                               int64_t seed) {
  return absl::StrCat("train/", ScalingRunKey(source, n, seed));
}
std::string GenerateJobKey(const std::string& source,
                           const spec::Generation& generation) {
  return absl::StrCat("generate/", source, "/",
                      ShortDigest(GenerateIdentity(generation)));
}

// The intermediate checkpoints of a training job of `steps` steps:
// every_steps, 2 every_steps, ... strictly below `steps`, only the last
// `last` of them when last > 0.
std::vector<int64_t> CheckpointSteps(int64_t steps,
                                     const spec::CheckpointSelection& selection) {
  std::vector<int64_t> out;
  const int64_t every = selection.every_steps;
  if (every <= 0 || steps <= every) return out;
  const int64_t k_max = (steps - 1) / every;
  int64_t k_min = 1;
  if (selection.last > 0) k_min = std::max<int64_t>(k_min, k_max - selection.last + 1);
  // The validator allows at most 100; this keeps expansion total anyway.
  constexpr int64_t kMaxSteps = 100000;
  k_min = std::max<int64_t>(k_min, k_max - kMaxSteps + 1);
  for (int64_t k = k_min; k <= k_max; ++k) out.push_back(k * every);
  return out;
}

// ---------------------------------------------------------------------------
// Expansion.

// The command a stage runs: the source's override, else the sweep's. The
// same rule as SweepSpec::TemplateFor, kept local so expansion depends only
// on the spec's data. A validated spec always has one; an empty template
// stands in otherwise, so expansion is total.
spec::CommandTemplate ResolveCommand(
    const std::optional<spec::CommandTemplate>& source_override,
    const std::optional<spec::CommandTemplate>& sweep_template) {
  if (source_override) return *source_override;
  return sweep_template.value_or(spec::CommandTemplate{});
}

bool ListsBaseline(const spec::SweepSpec& spec) {
  return std::any_of(
      spec.sources.begin(), spec.sources.end(), [](const spec::Source& source) {
        return std::find(source.n_nt.begin(), source.n_nt.end(), 0) !=
               source.n_nt.end();
      });
}

// A source with its commands resolved once, not once per run.
struct ResolvedSource {
  const spec::Source* source = nullptr;
  spec::CommandTemplate pretrain;
  spec::CommandTemplate finetune;
  spec::CommandTemplate train;  // scaling sweeps
  std::string generate_job;     // key of its generate job; empty if none
  // Index of the first source whose pretrains are the same jobs as this
  // one's (same dataset, steps and command): they share pretrains.
  size_t sharing_class = 0;
  std::string digest;  // ShortDigest of the pretrain identity
};

std::vector<ResolvedSource> ResolveSources(const spec::SweepSpec& spec) {
  std::vector<ResolvedSource> resolved;
  std::unordered_map<std::string, size_t> class_by_identity;
  for (const spec::Source& source : spec.sources) {
    spec::CommandTemplate pretrain =
        ResolveCommand(source.templates.pretrain, spec.templates.pretrain);
    std::string generate_job =
        source.generate ? GenerateJobKey(source.name, *source.generate) : "";
    const std::string identity = PretrainIdentity(
        source.dataset, spec.protocol.pretrain_steps, pretrain, generate_job);
    resolved.push_back(ResolvedSource{
        .source = &source,
        .pretrain = std::move(pretrain),
        .finetune =
            ResolveCommand(source.templates.finetune, spec.templates.finetune),
        .train = ResolveCommand(source.templates.train, spec.templates.train),
        .generate_job = std::move(generate_job),
        .sharing_class =
            class_by_identity.try_emplace(identity, resolved.size())
                .first->second,
        .digest = ShortDigest(identity),
    });
  }
  return resolved;
}

// Builds a plan in the documented order: N_tele (spec order), then the
// baseline, then each source's N_nt > 0 (spec order), seeds innermost. Jobs
// follow their runs; a shared pretrain is placed at its first use.
class PlanBuilder {
 public:
  explicit PlanBuilder(const spec::SweepSpec& spec)
      : spec_(spec), sources_(ResolveSources(spec)) {}

  SweepPlan Build() && {
    // Generate jobs first: every pretrain or train of their source needs one.
    for (const ResolvedSource& source : sources_) AddGenerateJob(source);
    if (spec_.design == spec::Design::kScaling) {
      for (const ResolvedSource& source : sources_) {
        for (int64_t n : source.source->n_nt) {
          if (n <= 0) continue;  // refused by the validator
          for (int64_t seed : spec_.seeds) AddScalingRun(source, n, seed);
        }
      }
      return std::move(plan_);
    }
    const bool own_baseline = ListsBaseline(spec_);
    for (int64_t n_tele : spec_.teleop.n_tele) {
      if (own_baseline) {
        for (int64_t seed : spec_.seeds) AddBaselineRun(n_tele, seed);
      }
      for (const ResolvedSource& source : sources_) {
        for (int64_t n_nt : source.source->n_nt) {
          if (n_nt == 0) continue;  // the shared baseline, added above
          for (int64_t seed : spec_.seeds) {
            AddMixedRun(source, n_tele, n_nt, seed);
          }
        }
      }
    }
    return std::move(plan_);
  }

 private:
  // A generated source's generate job, when some run of the source needs
  // its demos (some N_nt > 0).
  void AddGenerateJob(const ResolvedSource& source) {
    const spec::Source& data = *source.source;
    if (!data.generate) return;
    if (std::none_of(data.n_nt.begin(), data.n_nt.end(),
                     [](int64_t n) { return n > 0; })) {
      return;
    }
    plan_.jobs.push_back(PlannedJob{
        .key = source.generate_job,
        .kind = JobKind::kGenerate,
        .source = data.name,
        .dataset = data.generate->from,
        .n_demos = data.generate->demos,
        .seed = 0,
        .steps = 0,
        .command = data.generate->command,
        .depends_on = "",
        .subset = {},
        .checkpoint_steps = {},
    });
  }

  // A scaling run: one train job of T_total steps on N source demos.
  void AddScalingRun(const ResolvedSource& source, int64_t n, int64_t seed) {
    const spec::Source& data = *source.source;
    PlannedRun run;
    run.key = ScalingRunKey(data.name, n, seed);
    if (!run_keys_.insert(run.key).second) return;  // value listed twice
    run.run = {.n_tele = 0, .source = data.name, .n_nt = n, .seed = seed};
    run.train_job = ScalingTrainJobKey(data.name, n, seed);
    plan_.jobs.push_back(PlannedJob{
        .key = run.train_job,
        .kind = JobKind::kTrain,
        .source = data.name,
        .dataset = data.dataset,
        .n_demos = n,
        .seed = seed,
        .steps = spec_.protocol.total_steps,
        .command = source.train,
        .depends_on = source.generate_job,
        .subset = ChooseSubset(data.dataset, n, seed),
        .checkpoint_steps = CheckpointSteps(spec_.protocol.total_steps,
                                            spec_.evaluation.checkpoints),
    });
    plan_.runs.push_back(std::move(run));
  }

  void AddBaselineRun(int64_t n_tele, int64_t seed) {
    PlannedRun run;
    run.key = BaselineRunKey(n_tele, seed);
    if (!run_keys_.insert(run.key).second) return;  // value listed twice
    run.run = {.n_tele = n_tele, .source = "", .n_nt = 0, .seed = seed};
    run.train_job = TrainJobKey(n_tele, seed);
    plan_.jobs.push_back(
        TeleopJob(JobKind::kTrain, run.train_job, n_tele, seed,
                  spec_.protocol.total_steps,
                  ResolveCommand(std::nullopt, spec_.templates.train)));
    plan_.runs.push_back(std::move(run));
  }

  void AddMixedRun(const ResolvedSource& source, int64_t n_tele, int64_t n_nt,
                   int64_t seed) {
    const std::string& name = source.source->name;
    PlannedRun run;
    run.key = MixedRunKey(n_tele, name, n_nt, seed);
    if (!run_keys_.insert(run.key).second) return;  // value listed twice
    run.run = {.n_tele = n_tele, .source = name, .n_nt = n_nt, .seed = seed};
    run.pretrain_job = EnsurePretrain(source, n_nt, seed);
    run.finetune_job = FinetuneJobKey(n_tele, name, n_nt, seed);
    PlannedJob finetune =
        TeleopJob(JobKind::kFinetune, run.finetune_job, n_tele, seed,
                  spec_.protocol.finetune_steps, source.finetune);
    finetune.depends_on = run.pretrain_job;
    plan_.jobs.push_back(std::move(finetune));
    plan_.runs.push_back(std::move(run));
  }

  // The key of the pretrain this (source, N_nt, seed) needs, adding the job
  // on first use. It is named after the first source, in spec order, that
  // uses it: sources are visited in spec order for the first N_tele.
  std::string EnsurePretrain(const ResolvedSource& source, int64_t n_nt,
                             int64_t seed) {
    const auto identity = std::make_tuple(source.sharing_class, n_nt, seed);
    auto [it, added] = pretrain_keys_.try_emplace(identity);
    if (!added) return it->second;
    const spec::Source& data = *source.source;
    it->second = PretrainJobKey(data.name, n_nt, seed, source.digest);
    plan_.jobs.push_back(PlannedJob{
        .key = it->second,
        .kind = JobKind::kPretrain,
        .source = data.name,
        .dataset = data.dataset,
        .n_demos = n_nt,
        .seed = seed,
        .steps = spec_.protocol.pretrain_steps,
        .command = source.pretrain,
        .depends_on = source.generate_job,
        .subset = ChooseSubset(data.dataset, n_nt, seed),
        .checkpoint_steps = {},  // the run's final stage is its finetune
    });
    return it->second;
  }

  PlannedJob TeleopJob(JobKind kind, std::string key, int64_t n_tele,
                       int64_t seed, int64_t steps,
                       spec::CommandTemplate command) {
    return PlannedJob{
        .key = std::move(key),
        .kind = kind,
        .source = kTeleopSource,
        .dataset = spec_.teleop.dataset,
        .n_demos = n_tele,
        .seed = seed,
        .steps = steps,
        .command = std::move(command),
        .depends_on = "",
        .subset = TeleopSubset(n_tele, seed),
        .checkpoint_steps = CheckpointSteps(steps, spec_.evaluation.checkpoints),
    };
  }

  // Train and finetune jobs of one (N_tele, seed) train on the same teleop
  // demos, so each subset is drawn once.
  const SubsetManifest& TeleopSubset(int64_t n_tele, int64_t seed) {
    auto [it, added] = teleop_subsets_.try_emplace({n_tele, seed});
    if (added) it->second = ChooseSubset(spec_.teleop.dataset, n_tele, seed);
    return it->second;
  }

  const spec::SweepSpec& spec_;
  const std::vector<ResolvedSource> sources_;
  SweepPlan plan_;
  std::unordered_set<std::string> run_keys_;
  std::map<std::tuple<size_t, int64_t, int64_t>, std::string> pretrain_keys_;
  std::map<std::pair<int64_t, int64_t>, SubsetManifest> teleop_subsets_;
};

// ---------------------------------------------------------------------------
// Extension checks: every field but the N lists, the seeds and the set of
// sources must be unchanged.

constexpr char kExtendRule[] = "extend only adds N values, sources and seeds";

// Shortest text that reads back as the same double.
std::string FormatDouble(double value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

template <typename T>
std::string FormatValue(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return absl::StrCat("\"", value, "\"");
  } else if constexpr (std::is_floating_point_v<T>) {
    return FormatDouble(value);
  } else {
    return absl::StrCat(value);
  }
}

template <typename T>
std::string FormatValue(const std::optional<T>& value) {
  return value ? FormatValue(*value) : "unset";
}

// Collects one line per problem, each naming its field.
class ExtensionCheck {
 public:
  template <typename T>
  void Same(const std::string& field, const T& before, const T& after) {
    if (before == after) return;
    Problem(field, absl::StrCat("changed from ", FormatValue(before), " to ",
                                FormatValue(after)));
  }

  // For structured fields (templates, rubric, ...): compared by their
  // canonical bytes, reported without values.
  void SameBytes(const std::string& field, const CanonicalBytes& before,
                 const CanonicalBytes& after) {
    if (before.bytes() != after.bytes()) Problem(field, "changed");
  }

  void OnlyAdds(const std::string& field, const std::vector<int64_t>& before,
                const std::vector<int64_t>& after) {
    for (int64_t value : before) {
      if (std::find(after.begin(), after.end(), value) == after.end()) {
        Problem(field, absl::StrCat(value, " was removed"));
      }
    }
  }

  void Problem(const std::string& field, const std::string& what) {
    problems_.push_back(absl::StrCat(field, ": ", what, "; ", kExtendRule));
  }

  absl::Status Result() const {
    if (problems_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(problems_, "\n"));
  }

 private:
  std::vector<std::string> problems_;
};

std::string SourceKindName(spec::SourceKind kind) {
  return kind == spec::SourceKind::kSimulation ? "simulation" : "human_video";
}

CanonicalBytes RubricBytes(const spec::Rubric& rubric) {
  CanonicalBytes bytes;
  bytes.Int(static_cast<int64_t>(rubric.kind));
  bytes.Int(static_cast<int64_t>(rubric.entries.size()));
  for (const spec::RubricEntry& entry : rubric.entries) {
    bytes.Str(entry.name).Real(entry.value);
  }
  return bytes;
}

CanonicalBytes ScenariosBytes(const std::vector<spec::Scenario>& scenarios) {
  CanonicalBytes bytes;
  bytes.Int(static_cast<int64_t>(scenarios.size()));
  for (const spec::Scenario& scenario : scenarios) {
    bytes.Str(scenario.name).Int(scenario.trials).Str(scenario.platform);
    bytes.Int(static_cast<int64_t>(scenario.evaluator));
    bytes.Int(scenario.simulation.has_value() ? 1 : 0);
    if (scenario.simulation) {
      bytes.Command(scenario.simulation->command).Int(scenario.simulation->seed);
    }
  }
  return bytes;
}

CanonicalBytes GenerationBytes(const std::optional<spec::Generation>& generation) {
  CanonicalBytes bytes;
  bytes.Int(generation.has_value() ? 1 : 0);
  if (generation) bytes.Str(GenerateIdentity(*generation));
  return bytes;
}

CanonicalBytes CommandBytes(
    const std::optional<spec::CommandTemplate>& command) {
  CanonicalBytes bytes;
  bytes.Command(command);
  return bytes;
}

CanonicalBytes LabelsBytes(const std::map<std::string, std::string>& labels) {
  CanonicalBytes bytes;
  bytes.Map(labels);
  return bytes;
}

void CheckDataset(ExtensionCheck& check, const std::string& prefix,
                  const spec::Dataset& before, const spec::Dataset& after) {
  check.Same(absl::StrCat(prefix, ".uri"), before.uri, after.uri);
  check.Same(absl::StrCat(prefix, ".content_hash"), before.content_hash,
             after.content_hash);
  check.Same(absl::StrCat(prefix, ".episodes"), before.episodes,
             after.episodes);
}

void CheckTemplates(ExtensionCheck& check, const std::string& prefix,
                    const spec::StageTemplates& before,
                    const spec::StageTemplates& after) {
  check.SameBytes(absl::StrCat(prefix, ".train"), CommandBytes(before.train),
                  CommandBytes(after.train));
  check.SameBytes(absl::StrCat(prefix, ".pretrain"),
                  CommandBytes(before.pretrain), CommandBytes(after.pretrain));
  check.SameBytes(absl::StrCat(prefix, ".finetune"),
                  CommandBytes(before.finetune), CommandBytes(after.finetune));
}

void CheckSource(ExtensionCheck& check, const spec::Source& before,
                 const spec::Source& after) {
  const std::string prefix = absl::StrCat("sources[", before.name, "]");
  check.Same(prefix + ".kind", SourceKindName(before.kind),
             SourceKindName(after.kind));
  // A generated source's dataset is its generate block's (checked below).
  if (!before.generate && !after.generate) {
    CheckDataset(check, prefix + ".dataset", before.dataset, after.dataset);
  }
  check.Same(prefix + ".cost_per_demo_hours", before.cost_per_demo_hours,
             after.cost_per_demo_hours);
  check.SameBytes(prefix + ".generate", GenerationBytes(before.generate),
                  GenerationBytes(after.generate));
  check.OnlyAdds(prefix + ".n_nt", before.n_nt, after.n_nt);
  CheckTemplates(check, prefix + ".templates", before.templates,
                 after.templates);
}

// Sources are matched by name: new ones may appear anywhere in the list.
void CheckSources(ExtensionCheck& check, const spec::SweepSpec& before,
                  const spec::SweepSpec& after) {
  for (const spec::Source& old_source : before.sources) {
    auto it = std::find_if(after.sources.begin(), after.sources.end(),
                           [&](const spec::Source& source) {
                             return source.name == old_source.name;
                           });
    if (it == after.sources.end()) {
      check.Problem(absl::StrCat("sources[", old_source.name, "]"),
                    "the source was removed");
    } else {
      CheckSource(check, old_source, *it);
    }
  }
}

absl::Status CheckExtension(const spec::SweepSpec& before,
                            const spec::SweepSpec& after) {
  ExtensionCheck check;
  check.Same("version", before.version, after.version);
  check.Same("name", before.name, after.name);
  check.Same("task.name", before.task.name, after.task.name);
  check.SameBytes("task.rubric", RubricBytes(before.task.rubric),
                  RubricBytes(after.task.rubric));
  check.Same("policy", before.policy, after.policy);
  check.Same("code_version", before.code_version, after.code_version);
  check.Same("design", std::string(spec::DesignName(before.design)),
             std::string(spec::DesignName(after.design)));
  CheckDataset(check, "teleop.dataset", before.teleop.dataset,
               after.teleop.dataset);
  check.Same("teleop.cost_per_demo_hours", before.teleop.cost_per_demo_hours,
             after.teleop.cost_per_demo_hours);
  check.OnlyAdds("teleop.n_tele", before.teleop.n_tele, after.teleop.n_tele);
  CheckSources(check, before, after);
  check.OnlyAdds("seeds", before.seeds, after.seeds);
  check.Same("protocol.total_steps", before.protocol.total_steps,
             after.protocol.total_steps);
  check.Same("protocol.pretrain_steps", before.protocol.pretrain_steps,
             after.protocol.pretrain_steps);
  check.Same("protocol.finetune_steps", before.protocol.finetune_steps,
             after.protocol.finetune_steps);
  check.Same("evaluation.trials_per_scenario",
             before.evaluation.trials_per_scenario,
             after.evaluation.trials_per_scenario);
  check.SameBytes("evaluation.scenarios",
                  ScenariosBytes(before.evaluation.scenarios),
                  ScenariosBytes(after.evaluation.scenarios));
  check.Same("evaluation.aggregation",
             std::string(spec::AggregationName(before.evaluation.aggregation)),
             std::string(spec::AggregationName(after.evaluation.aggregation)));
  check.Same("evaluation.checkpoints.every_steps",
             before.evaluation.checkpoints.every_steps,
             after.evaluation.checkpoints.every_steps);
  check.Same("evaluation.checkpoints.last", before.evaluation.checkpoints.last,
             after.evaluation.checkpoints.last);
  CheckTemplates(check, "templates", before.templates, after.templates);
  check.Same("resources.gpus", before.resources.gpus, after.resources.gpus);
  check.Same("resources.min_gpu_memory_gib",
             before.resources.min_gpu_memory_gib,
             after.resources.min_gpu_memory_gib);
  check.SameBytes("resources.labels", LabelsBytes(before.resources.labels),
                  LabelsBytes(after.resources.labels));
  check.Same("costs.gpu_hour_price", before.costs.gpu_hour_price,
             after.costs.gpu_hour_price);
  check.Same("costs.collection_hour_price", before.costs.collection_hour_price,
             after.costs.collection_hour_price);
  check.Same("costs.currency", before.costs.currency, after.costs.currency);
  check.Same("priority", before.priority, after.priority);
  check.Same("max_attempts", before.max_attempts, after.max_attempts);
  check.Same("job_deadline_hours", before.job_deadline_hours, after.job_deadline_hours);
  check.Same("baseline_from_sweep", before.baseline_from_sweep,
             after.baseline_from_sweep);
  return check.Result();
}

// The runs and jobs of `updated` that `stored` lacks. Pretrains are matched
// by identity, not key: the updated spec may name a shared pretrain after a
// different source (one added earlier in the list), and the finetunes must
// still use the one that exists.
SweepPlan NewPart(const SweepPlan& stored, SweepPlan updated) {
  std::unordered_map<std::string, std::string> stored_pretrains;  // identity
  std::unordered_set<std::string> stored_jobs;
  for (const PlannedJob& job : stored.jobs) {
    stored_jobs.insert(job.key);
    if (job.kind == JobKind::kPretrain) {
      stored_pretrains.emplace(PretrainIdentity(job), job.key);
    }
  }
  std::unordered_map<std::string, std::string> stored_key_of;  // updated key
  auto rename = [&](std::string& key) {
    if (auto it = stored_key_of.find(key); it != stored_key_of.end()) {
      key = it->second;
    }
  };
  SweepPlan added;
  for (PlannedJob& job : updated.jobs) {
    if (job.kind == JobKind::kPretrain) {
      auto it = stored_pretrains.find(PretrainIdentity(job));
      if (it != stored_pretrains.end()) {
        stored_key_of.emplace(job.key, it->second);
        continue;
      }
    }
    if (stored_jobs.contains(job.key)) continue;
    rename(job.depends_on);
    added.jobs.push_back(std::move(job));
  }
  std::unordered_set<std::string> stored_runs;
  for (const PlannedRun& run : stored.runs) stored_runs.insert(run.key);
  for (PlannedRun& run : updated.runs) {
    if (stored_runs.contains(run.key)) continue;
    rename(run.pretrain_job);
    added.runs.push_back(std::move(run));
  }
  return added;
}

}  // namespace

SweepPlan ExpandSweep(const spec::SweepSpec& spec) {
  return PlanBuilder(spec).Build();
}

absl::StatusOr<SweepPlan> PlanExtension(const spec::SweepSpec& stored,
                                        const spec::SweepSpec& updated) {
  if (absl::Status status = CheckExtension(stored, updated); !status.ok()) {
    return status;
  }
  SweepPlan added = NewPart(ExpandSweep(stored), ExpandSweep(updated));
  if (added.runs.empty()) {
    return absl::InvalidArgumentError("extension adds no runs");
  }
  return added;
}

SharingSavings ComputeSharingSavings(const spec::SweepSpec& spec,
                                     const SweepPlan& plan) {
  // A job on g GPUs costs g GPU-steps per step; a 0-GPU spec still counts 1.
  const int64_t gpus = std::max(spec.resources.gpus, 1);
  std::unordered_map<std::string_view, int64_t> pretrain_steps;
  for (const PlannedJob& job : plan.jobs) {
    if (job.kind == JobKind::kPretrain) pretrain_steps[job.key] = job.steps;
  }
  // Without sharing, every finetune would run its own pretrain. One whose
  // pretrain is not in this plan (an extension reusing a stored one) would
  // have run the protocol's T_pre.
  auto own_pretrain_steps = [&](const PlannedJob& finetune) {
    auto it = pretrain_steps.find(finetune.depends_on);
    return it != pretrain_steps.end() ? it->second
                                      : spec.protocol.pretrain_steps;
  };
  SharingSavings savings;
  for (const PlannedJob& job : plan.jobs) {
    savings.gpu_steps_shared += job.steps * gpus;
    if (job.kind == JobKind::kPretrain) continue;  // counted per finetune
    savings.gpu_steps_unshared += job.steps * gpus;
    if (job.kind == JobKind::kFinetune) {
      savings.gpu_steps_unshared += own_pretrain_steps(job) * gpus;
    }
  }
  return savings;
}

}  // namespace mixsweep::plan
