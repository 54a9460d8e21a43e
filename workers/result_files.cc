// Result files: see result_files.h for the formats and the rules. The
// layouts were checked against the tools' own sources:
//   lerobot, single task: huggingface/lerobot lerobot/scripts/eval.py
//     (8cfab3882480bdde38e42d93a9752de5ed42cae2), eval_policy()'s `info`
//     {"per_episode": [...], "aggregated": {...}}, json.dump'ed by
//     eval_main() to {output_dir}/eval_info.json. "seed" is null when the
//     evaluation ran without a start seed.
//   lerobot, multi task: src/lerobot/scripts/lerobot_eval.py
//     (8135a8a8d1d2b1bdcd95449a3071a722b29a835c, since ddba994d7 and the
//     Libero work of 253847278), eval_policy_all()'s {"per_task": [{"task_group",
//     "task_id", "metrics": {"sum_rewards", "max_rewards", "successes",
//     "video_paths", ...}}], "per_group": {...}, "overall": {"pc_success",
//     "n_episodes", ...}}: no seeds per episode.
//   diffusion_policy: real-stanford/diffusion_policy eval.py and
//     diffusion_policy/env_runner/*_runner.py
//     (5ba07ac6661db573af695b419a7947ecb704690f): log_data[prefix +
//     f'sim_max_reward_{seed}'] with prefix "train/" or "test/",
//     prefix + 'mean_score' = np.mean of the prefix's max rewards; videos
//     as paths; json.dump'ed to {output_dir}/eval_log.json.
//   MimicGen: NVlabs/mimicgen mimicgen/scripts/generate_dataset.py
//     (72bd767c255545f462e7ccfb2731f2e5d4c1d9bb), get_important_stats():
//     success_rate = (100. * num_success) / num_attempts, num_failures =
//     num_attempts - num_success (problematic rollouts are not attempts).
#include "workers/result_files.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "workers/python_json.h"

namespace mixsweep::workers {
namespace {

using json = nlohmann::json;

// Debian's abseil has its own string_view: convert at the boundary.
absl::string_view A(std::string_view text) { return absl::string_view(text.data(), text.size()); }

// Python's json writes NaN, Infinity and -Infinity bare. They become this
// string (a control character no real value starts with) so that the field
// holding one is named in the error, instead of a bare parse error.
constexpr std::string_view kNonFinite = "\x01non-finite:";

std::string MarkNonFiniteNumbers(std::string_view text) {
  return ReplaceBareNonFinite(text, [](std::string_view bare) {
    return absl::StrCat("\"\\u0001non-finite:", std::string(bare), "\"");
  });
}

// Errors name the file and the field: "<file>: <field>: <what>".
class Context {
 public:
  explicit Context(std::string_view file) : file_(file) {}

  absl::Status Error(std::string_view field, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", field.empty() ? "(root)" : A(field), ": ", A(what)));
  }

  absl::StatusOr<json> Parse(std::string_view text) const {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return Error("", "the file is empty");
    }
    try {
      return json::parse(MarkNonFiniteNumbers(text));
    } catch (const json::exception& error) {
      return Error("", absl::StrCat("not valid JSON (", error.what(), ")"));
    }
  }

 private:
  std::string file_;
};

// A value as messages show it: its JSON text, cut short.
std::string Shown(const json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.starts_with(kNonFinite)) return text.substr(kNonFinite.size());
  }
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

absl::StatusOr<double> Finite(const Context& c, const json& value, std::string_view field) {
  if (value.is_string() && value.get_ref<const std::string&>().starts_with(kNonFinite)) {
    return c.Error(field, absl::StrCat(Shown(value), " is not a finite number"));
  }
  if (!value.is_number()) {
    return c.Error(field, absl::StrCat("expected a number, got ", Shown(value)));
  }
  const double number = value.get<double>();
  if (!std::isfinite(number)) return c.Error(field, "is not a finite number");
  return number;
}

absl::StatusOr<int64_t> Integer(const Context& c, const json& value, std::string_view field) {
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return c.Error(field, absl::StrCat(Shown(value), " is too large"));
    }
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return c.Error(field, absl::StrCat("expected an integer, got ", Shown(value)));
}

absl::StatusOr<bool> Bool(const Context& c, const json& value, std::string_view field) {
  if (!value.is_boolean()) {
    return c.Error(field, absl::StrCat("expected true or false, got ", Shown(value)));
  }
  return value.get<bool>();
}

// The member `key` of `object` (which the caller checked is an object).
absl::StatusOr<const json*> Member(const Context& c, const json& object, std::string_view parent,
                                   std::string_view key) {
  auto it = object.find(std::string(key));
  if (it == object.end()) {
    return c.Error(parent, absl::StrCat("missing \"", std::string(key), "\""));
  }
  return &*it;
}

std::string Field(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(A(parent), ".", A(key));
}

std::string Item(std::string_view parent, size_t i) { return absl::StrCat(A(parent), "[", i, "]"); }

absl::Status ExpectObject(const Context& c, const json& value, std::string_view field) {
  if (value.is_object()) return absl::OkStatus();
  return c.Error(field, absl::StrCat("expected a JSON object, got ", Shown(value)));
}

absl::Status ExpectArray(const Context& c, const json& value, std::string_view field) {
  if (value.is_array()) return absl::OkStatus();
  return c.Error(field, absl::StrCat("expected a JSON array, got ", Shown(value)));
}

// More episodes than asked for is refused before anything else: the tool
// evaluated something other than what the job asked.
absl::Status CheckNotTooMany(const Context& c, std::string_view field, size_t count,
                             int64_t n_episodes) {
  if (static_cast<int64_t>(count) <= n_episodes) return absl::OkStatus();
  return c.Error(field, absl::StrCat(count, " episodes: episodes beyond the requested count (",
                                     n_episodes, ")"));
}

// An episode and the field it came from, for messages.
struct Parsed {
  EpisodeResult episode;
  std::string field;
};

// Every index in 0..n-1 once, n of them; the episodes ordered by index.
absl::StatusOr<std::vector<EpisodeResult>> Finish(const Context& c, std::vector<Parsed> parsed,
                                                  int64_t n_episodes, std::string_view list) {
  if (absl::Status s = CheckNotTooMany(c, list, parsed.size(), n_episodes); !s.ok()) return s;
  std::map<int64_t, std::string> seen;
  for (const Parsed& p : parsed) {
    const int64_t index = p.episode.index;
    if (index < 0 || index >= n_episodes) {
      return c.Error(p.field, absl::StrCat("episode index ", index, " is outside 0..",
                                           n_episodes - 1));
    }
    auto [it, fresh] = seen.emplace(index, p.field);
    if (!fresh) {
      return c.Error(p.field, absl::StrCat("duplicate episode index ", index, " (also ",
                                           it->second, ")"));
    }
    if (!(p.episode.score >= 0 && p.episode.score <= 1)) {
      return c.Error(p.field, absl::StrCat("score ", p.episode.score, " is outside [0, 1]"));
    }
  }
  if (static_cast<int64_t>(parsed.size()) < n_episodes) {
    return c.Error(list, absl::StrCat(parsed.size(), " episodes; ", n_episodes,
                                      " were requested (fewer episodes than n_episodes)"));
  }
  std::vector<EpisodeResult> episodes;
  for (Parsed& p : parsed) episodes.push_back(std::move(p.episode));
  std::sort(episodes.begin(), episodes.end(),
            [](const EpisodeResult& a, const EpisodeResult& b) { return a.index < b.index; });
  return episodes;
}

// A reported percentage of successes must be the episodes' own.
absl::Status CheckPcSuccess(const Context& c, const json& parent, std::string_view field,
                            const std::vector<Parsed>& parsed) {
  auto it = parent.find("pc_success");
  if (it == parent.end()) return absl::OkStatus();
  const std::string where = Field(field, "pc_success");
  absl::StatusOr<double> pc = Finite(c, *it, where);
  if (!pc.ok()) return pc.status();
  int64_t successes = 0;
  for (const Parsed& p : parsed) successes += p.episode.success ? 1 : 0;
  const double expected =
      parsed.empty() ? 0 : 100.0 * static_cast<double>(successes) / static_cast<double>(parsed.size());
  if (std::abs(*pc - expected) > 1e-6) {
    return c.Error(where, absl::StrCat(*pc, "% disagrees with the episodes: ", successes, " of ",
                                       parsed.size(), " succeeded (", expected, "%)"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// lerobot

absl::StatusOr<Parsed> LerobotEpisode(const Context& c, const json& item,
                                      const std::string& field) {
  if (absl::Status s = ExpectObject(c, item, field); !s.ok()) return s;
  Parsed p{.episode = {}, .field = field};
  absl::StatusOr<const json*> ix = Member(c, item, field, "episode_ix");
  if (!ix.ok()) return ix.status();
  absl::StatusOr<int64_t> index = Integer(c, **ix, Field(field, "episode_ix"));
  if (!index.ok()) return index.status();
  if (*index < 0 || *index > std::numeric_limits<int32_t>::max()) {
    return c.Error(Field(field, "episode_ix"), absl::StrCat("episode index ", *index,
                                                            " is not an episode"));
  }
  p.episode.index = static_cast<int32_t>(*index);
  absl::StatusOr<const json*> success = Member(c, item, field, "success");
  if (!success.ok()) return success.status();
  absl::StatusOr<bool> ok = Bool(c, **success, Field(field, "success"));
  if (!ok.ok()) return ok.status();
  p.episode.success = *ok;
  p.episode.score = *ok ? 1 : 0;
  for (auto [key, out] : {std::pair{"sum_reward", &p.episode.sum_reward},
                          std::pair{"max_reward", &p.episode.max_reward}}) {
    absl::StatusOr<const json*> value = Member(c, item, field, key);
    if (!value.ok()) return value.status();
    absl::StatusOr<double> number = Finite(c, **value, Field(field, key));
    if (!number.ok()) return number.status();
    *out = *number;
  }
  // null: the evaluation ran without a start seed.
  if (auto seed = item.find("seed"); seed != item.end() && !seed->is_null()) {
    absl::StatusOr<int64_t> value = Integer(c, *seed, Field(field, "seed"));
    if (!value.ok()) return value.status();
    p.episode.seed = *value;
  }
  return p;
}

absl::StatusOr<std::vector<EpisodeResult>> LerobotSingleTask(const Context& c, const json& root,
                                                             int64_t n_episodes) {
  const json& list = root["per_episode"];
  if (absl::Status s = ExpectArray(c, list, "per_episode"); !s.ok()) return s;
  if (absl::Status s = CheckNotTooMany(c, "per_episode", list.size(), n_episodes); !s.ok()) {
    return s;
  }
  std::vector<Parsed> parsed;
  for (size_t i = 0; i < list.size(); ++i) {
    absl::StatusOr<Parsed> p = LerobotEpisode(c, list[i], Item("per_episode", i));
    if (!p.ok()) return p.status();
    parsed.push_back(*std::move(p));
  }
  if (auto aggregated = root.find("aggregated"); aggregated != root.end()) {
    if (absl::Status s = ExpectObject(c, *aggregated, "aggregated"); !s.ok()) return s;
    if (absl::Status s = CheckPcSuccess(c, *aggregated, "aggregated", parsed); !s.ok()) return s;
  }
  return Finish(c, std::move(parsed), n_episodes, "per_episode");
}

// One task's metrics lists, appended to `parsed` with running indices.
absl::Status LerobotTask(const Context& c, const json& task, const std::string& field,
                         std::vector<Parsed>& parsed) {
  if (absl::Status s = ExpectObject(c, task, field); !s.ok()) return s;
  absl::StatusOr<const json*> metrics = Member(c, task, field, "metrics");
  if (!metrics.ok()) return metrics.status();
  const std::string where = Field(field, "metrics");
  if (absl::Status s = ExpectObject(c, **metrics, where); !s.ok()) return s;
  const json* lists[3];
  const char* kNames[3] = {"successes", "sum_rewards", "max_rewards"};
  for (int k = 0; k < 3; ++k) {
    absl::StatusOr<const json*> list = Member(c, **metrics, where, kNames[k]);
    if (!list.ok()) return list.status();
    if (absl::Status s = ExpectArray(c, **list, Field(where, kNames[k])); !s.ok()) return s;
    lists[k] = *list;
    if (lists[k]->size() != lists[0]->size()) {
      return c.Error(Field(where, kNames[k]),
                     absl::StrCat(lists[k]->size(), " values but ", lists[0]->size(),
                                  " successes"));
    }
  }
  for (size_t i = 0; i < lists[0]->size(); ++i) {
    Parsed p{.episode = {}, .field = Item(Field(where, "successes"), i)};
    absl::StatusOr<bool> ok = Bool(c, (*lists[0])[i], p.field);
    if (!ok.ok()) return ok.status();
    absl::StatusOr<double> sum = Finite(c, (*lists[1])[i], Item(Field(where, "sum_rewards"), i));
    if (!sum.ok()) return sum.status();
    absl::StatusOr<double> max = Finite(c, (*lists[2])[i], Item(Field(where, "max_rewards"), i));
    if (!max.ok()) return max.status();
    p.episode.index = static_cast<int32_t>(std::min<size_t>(parsed.size(), INT32_MAX));
    p.episode.success = *ok;
    p.episode.score = *ok ? 1 : 0;
    p.episode.sum_reward = *sum;
    p.episode.max_reward = *max;
    parsed.push_back(std::move(p));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EpisodeResult>> LerobotMultiTask(const Context& c, const json& root,
                                                            int64_t n_episodes) {
  const json& tasks = root["per_task"];
  if (absl::Status s = ExpectArray(c, tasks, "per_task"); !s.ok()) return s;
  std::vector<Parsed> parsed;
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (absl::Status s = LerobotTask(c, tasks[t], Item("per_task", t), parsed); !s.ok()) return s;
    if (absl::Status s = CheckNotTooMany(c, "per_task", parsed.size(), n_episodes); !s.ok()) {
      return s;
    }
  }
  if (auto overall = root.find("overall"); overall != root.end()) {
    if (absl::Status s = ExpectObject(c, *overall, "overall"); !s.ok()) return s;
    if (auto n = overall->find("n_episodes"); n != overall->end()) {
      absl::StatusOr<int64_t> count = Integer(c, *n, "overall.n_episodes");
      if (!count.ok()) return count.status();
      if (*count != static_cast<int64_t>(parsed.size())) {
        return c.Error("overall.n_episodes", absl::StrCat(*count, " disagrees with the ",
                                                          parsed.size(),
                                                          " episodes of per_task"));
      }
    }
    if (absl::Status s = CheckPcSuccess(c, *overall, "overall", parsed); !s.ok()) return s;
  }
  return Finish(c, std::move(parsed), n_episodes, "per_task");
}

absl::StatusOr<std::vector<EpisodeResult>> ParseLerobot(const Context& c, const json& root,
                                                        int64_t n_episodes) {
  if (absl::Status s = ExpectObject(c, root, ""); !s.ok()) return s;
  const bool single = root.contains("per_episode");
  const bool multi = root.contains("per_task");
  if (single && multi) {
    return c.Error("", "has both per_episode (lerobot's single-task layout) and per_task (its "
                       "multi-task layout)");
  }
  if (single) return LerobotSingleTask(c, root, n_episodes);
  if (multi) return LerobotMultiTask(c, root, n_episodes);
  return c.Error("", "missing \"per_episode\" (or \"per_task\"): not lerobot-eval's "
                     "eval_info.json");
}

// ---------------------------------------------------------------------------
// diffusion_policy

constexpr std::string_view kTestReward = "test/sim_max_reward_";

// "10003" -> 10003; digits only (seeds are never negative there).
std::optional<int64_t> SeedOf(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t seed = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    seed = seed * 10 + (ch - '0');
  }
  return seed;
}

absl::StatusOr<std::vector<EpisodeResult>> ParseDiffusionPolicy(const Context& c,
                                                                const json& root,
                                                                int64_t n_episodes) {
  if (absl::Status s = ExpectObject(c, root, ""); !s.ok()) return s;
  std::map<int64_t, std::pair<double, std::string>> by_seed;  // seed -> (reward, key)
  for (const auto& [key, value] : root.items()) {
    // train/...: rollouts from training-set initial states; videos; others.
    if (!key.starts_with(kTestReward)) continue;
    std::optional<int64_t> seed = SeedOf(std::string_view(key).substr(kTestReward.size()));
    if (!seed) return c.Error(key, "the key does not end in a seed (digits)");
    absl::StatusOr<double> reward = Finite(c, value, key);
    if (!reward.ok()) return reward.status();
    if (!(*reward >= 0 && *reward <= 1)) {
      return c.Error(key, absl::StrCat("max reward ", *reward, " is outside [0, 1]"));
    }
    auto [it, fresh] = by_seed.emplace(*seed, std::make_pair(*reward, key));
    if (!fresh) {
      return c.Error(key, absl::StrCat("duplicate episode: seed ", *seed, " also in ",
                                       it->second.second));
    }
  }
  if (absl::Status s = CheckNotTooMany(c, "test/sim_max_reward_*", by_seed.size(), n_episodes);
      !s.ok()) {
    return s;
  }
  std::vector<Parsed> parsed;
  double total = 0;
  for (const auto& [seed, entry] : by_seed) {  // ascending seeds
    Parsed p{.episode = {}, .field = entry.second};
    p.episode.index = static_cast<int32_t>(parsed.size());
    p.episode.seed = seed;
    p.episode.score = entry.first;
    p.episode.max_reward = entry.first;
    p.episode.success = entry.first >= 1;
    total += entry.first;
    parsed.push_back(std::move(p));
  }
  if (auto mean = root.find("test/mean_score"); mean != root.end() && !parsed.empty()) {
    absl::StatusOr<double> score = Finite(c, *mean, "test/mean_score");
    if (!score.ok()) return score.status();
    const double expected = total / static_cast<double>(parsed.size());
    if (std::abs(*score - expected) > 1e-6) {
      return c.Error("test/mean_score",
                     absl::StrCat(*score, " disagrees with the mean of the ", parsed.size(),
                                  " test/sim_max_reward_* values (", expected, ")"));
    }
  }
  return Finish(c, std::move(parsed), n_episodes, "test/sim_max_reward_*");
}

// ---------------------------------------------------------------------------
// mixsweep.eval.v1

absl::Status OnlyKeys(const Context& c, const json& object, std::string_view field,
                      std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string known;
    for (std::string_view name : allowed) absl::StrAppend(&known, known.empty() ? "" : ", ", A(name));
    return c.Error(field, absl::StrCat("unknown key \"", key, "\" (known: ", known, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Parsed> MixsweepEpisode(const Context& c, const json& item,
                                       const std::string& field) {
  if (absl::Status s = ExpectObject(c, item, field); !s.ok()) return s;
  if (absl::Status s = OnlyKeys(c, item, field, {"index", "success", "score", "seed",
                                                 "sum_reward", "max_reward"});
      !s.ok()) {
    return s;
  }
  Parsed p{.episode = {}, .field = field};
  absl::StatusOr<const json*> index_value = Member(c, item, field, "index");
  if (!index_value.ok()) return index_value.status();
  absl::StatusOr<int64_t> index = Integer(c, **index_value, Field(field, "index"));
  if (!index.ok()) return index.status();
  if (*index < 0 || *index > std::numeric_limits<int32_t>::max()) {
    return c.Error(Field(field, "index"), absl::StrCat("episode index ", *index,
                                                       " is not an episode"));
  }
  p.episode.index = static_cast<int32_t>(*index);
  absl::StatusOr<const json*> success_value = Member(c, item, field, "success");
  if (!success_value.ok()) return success_value.status();
  absl::StatusOr<bool> success = Bool(c, **success_value, Field(field, "success"));
  if (!success.ok()) return success.status();
  p.episode.success = *success;
  p.episode.score = *success ? 1 : 0;
  if (auto score = item.find("score"); score != item.end()) {
    absl::StatusOr<double> value = Finite(c, *score, Field(field, "score"));
    if (!value.ok()) return value.status();
    if (!(*value >= 0 && *value <= 1)) {
      return c.Error(Field(field, "score"), absl::StrCat(*value, " is outside [0, 1]"));
    }
    p.episode.score = *value;
  }
  if (auto seed = item.find("seed"); seed != item.end() && !seed->is_null()) {
    absl::StatusOr<int64_t> value = Integer(c, *seed, Field(field, "seed"));
    if (!value.ok()) return value.status();
    p.episode.seed = *value;
  }
  for (auto [key, out] : {std::pair{"sum_reward", &p.episode.sum_reward},
                          std::pair{"max_reward", &p.episode.max_reward}}) {
    auto value = item.find(key);
    if (value == item.end()) continue;
    absl::StatusOr<double> number = Finite(c, *value, Field(field, key));
    if (!number.ok()) return number.status();
    *out = *number;
  }
  if (p.episode.sum_reward.has_value() != p.episode.max_reward.has_value()) {
    return c.Error(field, "give both sum_reward and max_reward, or neither");
  }
  return p;
}

absl::StatusOr<std::vector<EpisodeResult>> ParseMixsweep(const Context& c, const json& root,
                                                         int64_t n_episodes) {
  if (absl::Status s = ExpectObject(c, root, ""); !s.ok()) return s;
  if (absl::Status s = OnlyKeys(c, root, "", {"format", "episodes", "info"}); !s.ok()) return s;
  absl::StatusOr<const json*> format = Member(c, root, "", "format");
  if (!format.ok()) return format.status();
  if (!(*format)->is_string() || (*format)->get<std::string>() != kMixsweepEvalFormat) {
    return c.Error("format", absl::StrCat("expected \"", A(kMixsweepEvalFormat), "\", got ",
                                          Shown(**format)));
  }
  absl::StatusOr<const json*> list = Member(c, root, "", "episodes");
  if (!list.ok()) return list.status();
  if (absl::Status s = ExpectArray(c, **list, "episodes"); !s.ok()) return s;
  if (absl::Status s = CheckNotTooMany(c, "episodes", (*list)->size(), n_episodes); !s.ok()) {
    return s;
  }
  std::vector<Parsed> parsed;
  for (size_t i = 0; i < (*list)->size(); ++i) {
    absl::StatusOr<Parsed> p = MixsweepEpisode(c, (**list)[i], Item("episodes", i));
    if (!p.ok()) return p.status();
    parsed.push_back(*std::move(p));
  }
  return Finish(c, std::move(parsed), n_episodes, "episodes");
}

// ---------------------------------------------------------------------------
// MimicGen

absl::StatusOr<int64_t> Count(const Context& c, const json& root, std::string_view key) {
  absl::StatusOr<const json*> value = Member(c, root, "", key);
  if (!value.ok()) return value.status();
  absl::StatusOr<int64_t> count = Integer(c, **value, key);
  if (!count.ok()) return count.status();
  if (*count < 0) return c.Error(key, absl::StrCat(*count, " is negative"));
  return count;
}

}  // namespace

absl::StatusOr<EvaluationFormat> ParseEvaluationFormat(std::string_view name) {
  if (name == "lerobot") return EvaluationFormat::kLerobot;
  if (name == "diffusion_policy") return EvaluationFormat::kDiffusionPolicy;
  if (name == "mixsweep") return EvaluationFormat::kMixsweep;
  return absl::InvalidArgumentError(
      absl::StrCat("result_format \"", std::string(name),
                   "\" is not an evaluation format (known: lerobot, diffusion_policy, mixsweep)"));
}

std::string_view EvaluationFormatName(EvaluationFormat format) {
  switch (format) {
    case EvaluationFormat::kLerobot: return "lerobot";
    case EvaluationFormat::kDiffusionPolicy: return "diffusion_policy";
    case EvaluationFormat::kMixsweep: return "mixsweep";
  }
  return "?";
}

absl::StatusOr<std::vector<EpisodeResult>> ParseEvaluationResult(std::string_view format,
                                                                 std::string_view text,
                                                                 int64_t n_episodes,
                                                                 std::string_view file_name) {
  const Context c(file_name);
  absl::StatusOr<EvaluationFormat> known = ParseEvaluationFormat(format);
  if (!known.ok()) return c.Error("", std::string(known.status().message()));
  if (n_episodes <= 0) {
    return c.Error("", absl::StrCat("the job asked for ", n_episodes,
                                    " episodes; an evaluation needs at least one"));
  }
  absl::StatusOr<json> root = c.Parse(text);
  if (!root.ok()) return root.status();
  switch (*known) {
    case EvaluationFormat::kLerobot: return ParseLerobot(c, *root, n_episodes);
    case EvaluationFormat::kDiffusionPolicy: return ParseDiffusionPolicy(c, *root, n_episodes);
    case EvaluationFormat::kMixsweep: return ParseMixsweep(c, *root, n_episodes);
  }
  return c.Error("", "unknown format");
}

absl::StatusOr<GenerationCounts> ParseGenerationSummary(std::string_view text,
                                                        std::string_view file_name) {
  const Context c(file_name);
  absl::StatusOr<json> root = c.Parse(text);
  if (!root.ok()) return root.status();
  if (absl::Status s = ExpectObject(c, *root, ""); !s.ok()) return s;
  absl::StatusOr<int64_t> success = Count(c, *root, "num_success");
  if (!success.ok()) return success.status();
  absl::StatusOr<int64_t> attempts = Count(c, *root, "num_attempts");
  if (!attempts.ok()) return attempts.status();
  if (*attempts == 0) return c.Error("num_attempts", "0: the generator made no attempt");
  if (*success > *attempts) {
    return c.Error("num_success", absl::StrCat(*success, " is more than num_attempts (",
                                               *attempts, ")"));
  }
  if (root->contains("num_failures")) {
    absl::StatusOr<int64_t> failures = Count(c, *root, "num_failures");
    if (!failures.ok()) return failures.status();
    if (*success + *failures != *attempts) {
      return c.Error("num_failures", absl::StrCat(*failures, " failures and ", *success,
                                                  " successes are not num_attempts (",
                                                  *attempts, ")"));
    }
  }
  absl::StatusOr<const json*> rate_value = Member(c, *root, "", "success_rate");
  if (!rate_value.ok()) return rate_value.status();
  absl::StatusOr<double> percent = Finite(c, **rate_value, "success_rate");
  if (!percent.ok()) return percent.status();
  const double fraction = static_cast<double>(*success) / static_cast<double>(*attempts);
  // MimicGen writes a percentage: 80.0, not 0.8.
  if (std::abs(*percent - 100 * fraction) > 1e-6) {
    return c.Error("success_rate",
                   absl::StrCat(*percent, " disagrees with num_success / num_attempts = ",
                                *success, " / ", *attempts, " (", 100 * fraction,
                                "%; MimicGen writes a percentage)"));
  }
  return GenerationCounts{.num_success = *success, .num_attempts = *attempts,
                          .success_rate = fraction};
}

std::string WriteEvaluationResult(EvaluationFormat format,
                                  const std::vector<EpisodeResult>& episodes) {
  json out = json::object();
  double sum = 0, sum_of_sums = 0, sum_of_maxes = 0;
  int64_t successes = 0;
  for (const EpisodeResult& e : episodes) {
    sum += e.score;
    sum_of_sums += e.sum_reward.value_or(e.score);
    sum_of_maxes += e.max_reward.value_or(e.score);
    successes += e.success ? 1 : 0;
  }
  const double n = std::max<double>(1, static_cast<double>(episodes.size()));
  switch (format) {
    case EvaluationFormat::kLerobot: {
      json list = json::array();
      for (const EpisodeResult& e : episodes) {
        list.push_back({{"episode_ix", e.index},
                        {"sum_reward", e.sum_reward.value_or(e.score)},
                        {"max_reward", e.max_reward.value_or(e.score)},
                        {"success", e.success},
                        {"seed", e.seed ? json(*e.seed) : json(nullptr)}});
      }
      out["per_episode"] = std::move(list);
      out["aggregated"] = {{"avg_sum_reward", sum_of_sums / n},
                           {"avg_max_reward", sum_of_maxes / n},
                           {"pc_success", 100.0 * static_cast<double>(successes) / n},
                           {"eval_s", 0.0},
                           {"eval_ep_s", 0.0}};
      break;
    }
    case EvaluationFormat::kDiffusionPolicy:
      for (const EpisodeResult& e : episodes) {
        out[absl::StrCat(A(kTestReward), e.seed.value_or(e.index))] = e.score;
      }
      out["test/mean_score"] = sum / n;
      // A training-set rollout, as the real runners log: never an episode.
      out["train/sim_max_reward_0"] = 1.0;
      out["train/mean_score"] = 1.0;
      break;
    case EvaluationFormat::kMixsweep: {
      json list = json::array();
      for (const EpisodeResult& e : episodes) {
        json item = {{"index", e.index}, {"success", e.success}, {"score", e.score}};
        if (e.seed) item["seed"] = *e.seed;
        if (e.sum_reward && e.max_reward) {
          item["sum_reward"] = *e.sum_reward;
          item["max_reward"] = *e.max_reward;
        }
        list.push_back(std::move(item));
      }
      out = {{"format", kMixsweepEvalFormat}, {"episodes", std::move(list)}};
      break;
    }
  }
  return out.dump(2) + "\n";
}

std::string WriteGenerationSummary(int64_t num_success, int64_t num_attempts,
                                   std::string_view generation_path) {
  const double attempts = static_cast<double>(std::max<int64_t>(num_attempts, 1));
  const json out = {{"generation_path", generation_path},
                    {"success_rate", 100.0 * static_cast<double>(num_success) / attempts},
                    {"failure_rate",
                     100.0 * static_cast<double>(num_attempts - num_success) / attempts},
                    {"num_success", num_success},
                    {"num_failures", num_attempts - num_success},
                    {"num_attempts", num_attempts},
                    {"num_problematic", 0},
                    {"time spent (hrs)", "0.00"}};
  return out.dump(4) + "\n";
}

}  // namespace mixsweep::workers
