#include "scheduler/spec/sweep_spec.h"

#include <algorithm>

namespace mixsweep::spec {
namespace {

// The template of `stage` in `templates`, or nullptr for an unknown stage or
// one that is not set.
const std::optional<CommandTemplate>* StageSlot(const StageTemplates& templates,
                                                const std::string& stage) {
  if (stage == "train") return &templates.train;
  if (stage == "pretrain") return &templates.pretrain;
  if (stage == "finetune") return &templates.finetune;
  return nullptr;
}

}  // namespace

const char* AggregationName(Aggregation aggregation) {
  switch (aggregation) {
    case Aggregation::kLast:
      return "last";
    case Aggregation::kMaxOverCheckpoints:
      return "max_over_checkpoints";
  }
  return "unknown";
}

const char* DesignName(Design design) {
  switch (design) {
    case Design::kMixture:
      return "mixture";
    case Design::kScaling:
      return "scaling";
  }
  return "unknown";
}

bool SweepSpec::has_own_baseline() const {
  return std::any_of(sources.begin(), sources.end(), [](const Source& s) {
    return std::find(s.n_nt.begin(), s.n_nt.end(), 0) != s.n_nt.end();
  });
}

std::optional<CommandTemplate> SweepSpec::TemplateFor(
    const std::string& stage, const Source* source) const {
  if (source != nullptr) {
    const std::optional<CommandTemplate>* own = StageSlot(source->templates, stage);
    if (own != nullptr && own->has_value()) return **own;
  }
  const std::optional<CommandTemplate>* shared = StageSlot(templates, stage);
  if (shared == nullptr) return std::nullopt;
  return *shared;
}

}  // namespace mixsweep::spec
