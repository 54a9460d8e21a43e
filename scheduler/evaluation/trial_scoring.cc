#include "scheduler/evaluation/trial_scoring.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mixsweep::evaluation {
namespace {

// Subset sums closer than this are one attainable score: 1/3 + 1/3 + 1/3
// and 1.0 differ in the last bit only.
constexpr double kSameScoreTolerance = 1e-9;

// Beyond 16 items (65,536 subsets) AttainableScores enumerates only the
// first 16: rubrics have a handful of items, and the list is for prompts.
constexpr size_t kMaxEnumeratedItems = 16;

// Debian's Abseil has its own string_view, which StrCat does not take from
// a std::string_view (StrFormat does).
std::string FieldPath(std::string_view prefix, std::string_view field) {
  if (prefix.empty()) return std::string(field);
  return absl::StrFormat("%s.%s", prefix, field);
}

absl::Status Invalid(std::string_view path, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, message));
}

// The code point starting at text[*pos], advancing *pos; nullopt for bytes
// that are not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF,
// truncated sequences), per RFC 3629.
std::optional<char32_t> DecodeUtf8(std::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  if (lead < 0x80) {
    ++*pos;
    return lead;
  }
  size_t length = 0;
  char32_t code = 0;
  char32_t min_code = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code = lead & 0x1F, min_code = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code = lead & 0x0F, min_code = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code = lead & 0x07, min_code = 0x10000;
  } else {
    return std::nullopt;  // a continuation byte or 0xF8..0xFF as lead
  }
  if (*pos + length > text.size()) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(*pos + i);
    if ((next & 0xC0) != 0x80) return std::nullopt;
    code = (code << 6) | (next & 0x3F);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    return std::nullopt;
  }
  *pos += length;
  return code;
}

bool IsControl(char32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F);  // C0, DEL, C1
}

// Length, UTF-8 and control characters of one string field. Notes may hold
// line breaks (LF, and the CR of the CRLF that HTML forms send) and tabs: an
// operator's paragraph. Names and URIs may not: they are shown on one line
// and end up in logs.
absl::Status CheckText(std::string_view path, std::string_view value, size_t max_bytes,
                       bool allow_line_breaks_and_tab) {
  if (value.size() > max_bytes) {
    return Invalid(path, absl::StrFormat("%d bytes, at most %d allowed", value.size(), max_bytes));
  }
  size_t pos = 0;
  while (pos < value.size()) {
    const size_t start = pos;
    const std::optional<char32_t> code = DecodeUtf8(value, &pos);
    if (!code) return Invalid(path, absl::StrFormat("not valid UTF-8 at byte %d", start));
    if (allow_line_breaks_and_tab && (*code == '\n' || *code == '\r' || *code == '\t')) {
      continue;
    }
    if (IsControl(*code)) {
      return Invalid(path, absl::StrFormat("control character U+%04X at byte %d",
                                           static_cast<uint32_t>(*code), start));
    }
  }
  return absl::OkStatus();
}

std::string EntryNames(const spec::Rubric& rubric) {
  return absl::StrJoin(rubric.entries, ", ",
                       [](std::string* out, const spec::RubricEntry& e) { out->append(e.name); });
}

const spec::RubricEntry* FindEntry(const spec::Rubric& rubric, std::string_view name) {
  for (const spec::RubricEntry& entry : rubric.entries) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// Names in `achieved` are known to the rubric and listed once; for
// milestones, more than one name must be the stages from the first on, in
// order. Returns the score.
absl::StatusOr<double> ScoreAchieved(const spec::Rubric& rubric,
                                     const std::vector<std::string>& achieved,
                                     std::string_view prefix, const TrialLimits& limits) {
  const bool milestones = rubric.kind == spec::RubricKind::kMilestones;
  const std::string_view noun = milestones ? "stage" : "item";
  std::set<std::string_view> seen;
  for (size_t i = 0; i < achieved.size(); ++i) {
    const std::string path = FieldPath(prefix, absl::StrCat("achieved[", i, "]"));
    const std::string& name = achieved[i];
    if (absl::Status s = CheckText(path, name, limits.max_name_bytes, false); !s.ok()) return s;
    if (FindEntry(rubric, name) == nullptr) {
      return Invalid(path, absl::StrFormat("unknown %s \"%s\"; the %ss are %s", noun, name, noun,
                                           EntryNames(rubric)));
    }
    if (!seen.insert(name).second) {
      return Invalid(path, absl::StrFormat("%s \"%s\" is listed twice", noun, name));
    }
    // One milestone name is "the last stage reached"; several must spell
    // out every stage reached, so position i holds stage i.
    if (milestones && achieved.size() > 1 &&
        (i >= rubric.entries.size() || rubric.entries[i].name != name)) {
      return Invalid(path, absl::StrFormat("expected stage \"%s\" here, got \"%s\": list the "
                                           "last stage reached, or every stage reached in "
                                           "order from the first (%s)",
                                           i < rubric.entries.size() ? rubric.entries[i].name : "",
                                           name, EntryNames(rubric)));
    }
  }
  if (achieved.empty()) return 0.0;
  if (milestones) return FindEntry(rubric, achieved.back())->value;
  // Summed in rubric order, so the score does not depend on the order the
  // operator ticked the items; the cap only absorbs rounding (0.2 + 0.4 +
  // 0.3 + 0.1 is 1.0000000000000002) and the spec's 1e-6 tolerance on the
  // sum of the weights.
  double sum = 0.0;
  for (const spec::RubricEntry& entry : rubric.entries) {
    if (seen.contains(entry.name)) sum += entry.value;
  }
  return std::min(sum, 1.0);
}

}  // namespace

absl::StatusOr<double> ScoreTrial(const spec::Rubric& rubric, const TrialValues& trial,
                                  int trials_wanted, std::string_view field_prefix,
                                  const TrialLimits& limits) {
  if (trial.trial_index < 0 || trial.trial_index >= trials_wanted) {
    return Invalid(FieldPath(field_prefix, "trial_index"),
                   absl::StrFormat("%d is outside [0, %d): the request wants %d trials",
                                   trial.trial_index, trials_wanted, trials_wanted));
  }
  absl::StatusOr<double> score = ScoreAchieved(rubric, trial.achieved, field_prefix, limits);
  if (!score.ok()) return score.status();

  if (trial.duration_ms.has_value() &&
      (*trial.duration_ms < 0 || *trial.duration_ms > limits.max_duration_ms)) {
    return Invalid(FieldPath(field_prefix, "duration_ms"),
                   absl::StrFormat("%d is outside [0, %d]", *trial.duration_ms,
                                   limits.max_duration_ms));
  }
  if (absl::Status s = CheckText(FieldPath(field_prefix, "operator_name"), trial.operator_name,
                                 limits.max_name_bytes, false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText(FieldPath(field_prefix, "robot_id"), trial.robot_id,
                                 limits.max_name_bytes, false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText(FieldPath(field_prefix, "notes"), trial.notes,
                                 limits.max_notes_bytes, true);
      !s.ok()) {
    return s;
  }
  if (trial.video_uris.size() > limits.max_video_uris) {
    return Invalid(FieldPath(field_prefix, "video_uris"),
                   absl::StrFormat("%d URIs, at most %d allowed", trial.video_uris.size(),
                                   limits.max_video_uris));
  }
  for (size_t i = 0; i < trial.video_uris.size(); ++i) {
    const std::string path = FieldPath(field_prefix, absl::StrCat("video_uris[", i, "]"));
    if (trial.video_uris[i].empty()) return Invalid(path, "empty URI");
    if (absl::Status s = CheckText(path, trial.video_uris[i], limits.max_uri_bytes, false);
        !s.ok()) {
      return s;
    }
  }
  return *score;
}

absl::StatusOr<std::vector<double>> ScoreTrials(const spec::Rubric& rubric,
                                                const std::vector<TrialValues>& trials,
                                                int trials_wanted, const TrialLimits& limits) {
  std::vector<double> scores;
  scores.reserve(trials.size());
  std::set<int> indices;
  for (size_t i = 0; i < trials.size(); ++i) {
    const std::string prefix = absl::StrCat("trials[", i, "]");
    absl::StatusOr<double> score = ScoreTrial(rubric, trials[i], trials_wanted, prefix, limits);
    if (!score.ok()) return score.status();
    if (!indices.insert(trials[i].trial_index).second) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ".trial_index: ",
                                                     trials[i].trial_index,
                                                     " appears twice in this request"));
    }
    scores.push_back(*score);
  }
  return scores;
}

std::vector<double> AttainableScores(const spec::Rubric& rubric) {
  std::vector<double> scores = {0.0};
  if (rubric.kind == spec::RubricKind::kMilestones) {
    for (const spec::RubricEntry& entry : rubric.entries) scores.push_back(entry.value);
  } else {
    const size_t items = std::min(rubric.entries.size(), kMaxEnumeratedItems);
    for (uint32_t mask = 1; mask < (uint32_t{1} << items); ++mask) {
      // Summed in rubric order and capped, exactly as ScoreTrial does, so
      // that every listed score is one ScoreTrial returns bit for bit.
      double sum = 0.0;
      for (size_t i = 0; i < items; ++i) {
        if (mask & (uint32_t{1} << i)) sum += rubric.entries[i].value;
      }
      scores.push_back(std::min(sum, 1.0));
    }
  }
  std::sort(scores.begin(), scores.end());
  std::vector<double> distinct;
  for (double score : scores) {
    // Keep the first of a run of near-equal sums (the smallest).
    if (distinct.empty() || score - distinct.back() > kSameScoreTolerance) {
      distinct.push_back(score);
    }
  }
  return distinct;
}

}  // namespace mixsweep::evaluation
