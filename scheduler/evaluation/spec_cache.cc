#include "scheduler/evaluation/spec_cache.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "scheduler/spec/spec_parser.h"

namespace mixsweep::evaluation {

absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> SpecCache::Get(int64_t sweep_id) {
  absl::StatusOr<scheduler::SweepRevision> revision = sweeps_.GetRevision(sweep_id);
  if (!revision.ok()) return revision.status();
  const std::pair<int64_t, int> key{sweep_id, revision->revision};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  // Quotas and value rules were checked on submission, with the server's
  // own limits and the rules of the time.
  absl::StatusOr<spec::ParsedSpec> parsed =
      spec::ParseSweepSpec(revision->spec_yaml, spec::SpecLimits::ForStoredSpecs());
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat("the stored spec of sweep ", sweep_id,
                                            " no longer parses: ", parsed.status().message()));
  }
  auto spec = std::make_shared<const spec::SweepSpec>(std::move(parsed->spec));
  std::lock_guard<std::mutex> lock(mu_);
  cache_[key] = spec;
  return spec;
}

}  // namespace mixsweep::evaluation
