#include "scheduler/spec/spec_parser.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace mixsweep::spec {
namespace {

// Limits that keep a mistaken or hostile spec cheap to read and its messages
// short. All are documented in docs/sweep-spec.md.
constexpr size_t kMaxSpecBytes = 1 << 20;
constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxTextLength = 256;      // code_version, content_hash
constexpr size_t kMaxUriLength = 4096;
constexpr size_t kMaxCommandLength = 65536;  // an argv element, a script
constexpr size_t kMaxListLength = 1000;      // N lists, seeds, argv, ...
constexpr size_t kMaxSources = 100;
constexpr size_t kMaxScenarios = 100;
constexpr size_t kMaxRubricEntries = 100;
constexpr size_t kMaxMapEntries = 1000;      // env, labels
constexpr size_t kMaxProblems = 100;
constexpr int64_t kMaxTrials = 1000;
constexpr int64_t kMaxPriority = 1000;
constexpr int64_t kMaxAttempts = 100;
constexpr int64_t kMaxGpus = 64;
constexpr int64_t kMaxSeed = 4294967295;  // numpy and friends take 32-bit seeds
constexpr double kWeightTolerance = 1e-6;
constexpr size_t kMaxPatternLength = 1024;
// Demos one job trains on: its subset manifest lists every episode index
// (about 7 bytes each in JSON), and the manifest travels in the lease.
constexpr int64_t kMaxDemosPerJob = 1000000;
// Robot platforms, as the evaluation service takes them (RegisterRobot).
constexpr size_t kMaxPlatformLength = 64;
// Intermediate checkpoints one training job writes for simulation scenarios
// (evaluation.checkpoints): each becomes an evaluate job per scenario.
constexpr int64_t kMaxCheckpointsPerJob = 100;

constexpr absl::string_view kCommonPlaceholders[] = {
    "dataset",  "dataset_hash", "subset_manifest", "n_demos",
    "steps",    "seed",         "output_dir",      "gpu",
    "job_id",   "run_id",       "sweep_id",        "code_version",
    "policy",   "task",         "resume_checkpoint"};
// A generate job makes a dataset: no subset, steps, run or checkpoint to
// start from.
constexpr absl::string_view kGeneratePlaceholders[] = {
    "dataset", "dataset_hash", "n_demos",      "seed",   "output_dir", "gpu",
    "job_id",  "sweep_id",     "code_version", "policy", "task"};
// An evaluate job (a simulation scenario's command) evaluates a checkpoint
// of one run: no dataset, subset or steps.
constexpr absl::string_view kEvaluatePlaceholders[] = {
    "checkpoint", "n_episodes", "seed",         "output_dir", "gpu",  "job_id",
    "run_id",     "sweep_id",   "code_version", "policy",     "task"};

bool IsTrainingStage(absl::string_view stage) {
  return stage == "train" || stage == "pretrain" || stage == "finetune";
}

template <size_t N>
bool Lists(const absl::string_view (&names)[N], absl::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool KnownPlaceholder(absl::string_view name, absl::string_view stage) {
  if (stage == "generate") return Lists(kGeneratePlaceholders, name);
  if (stage == "evaluate") return Lists(kEvaluatePlaceholders, name);
  if (!IsTrainingStage(stage)) return false;
  if (name == "init_checkpoint") return stage == "finetune";
  // A pretrain is shared by several runs: it has no single run id.
  if (name == "run_id") return stage != "pretrain";
  // Only inside checkpoint_at_step (CheckPlaceholders enforces where).
  if (name == "step") return true;
  return Lists(kCommonPlaceholders, name);
}

constexpr absl::string_view kStages[] = {"train", "pretrain", "finetune", "generate",
                                         "evaluate"};

// A simulation scenario's result file where the command names none.
std::string DefaultResultFile(absl::string_view format) {
  if (format == "lerobot") return "{output_dir}/eval_info.json";
  if (format == "diffusion_policy") return "{output_dir}/eval_log.json";
  return "{output_dir}/mixsweep_eval.json";
}

// The "(known: ...)" list of an unknown-placeholder message.
std::string KnownList(absl::string_view stage) {
  if (stage == "generate") return absl::StrCat("{", absl::StrJoin(kGeneratePlaceholders, "} {"), "}");
  if (stage == "evaluate") return absl::StrCat("{", absl::StrJoin(kEvaluatePlaceholders, "} {"), "}");
  return absl::StrCat("{", absl::StrJoin(kCommonPlaceholders, "} {"), "}",
                      stage == "finetune" ? " {init_checkpoint}" : "");
}

// How messages name the templates of a stage.
std::string StageNoun(absl::string_view stage) {
  if (stage == "generate") return "generate commands";
  if (stage == "evaluate") return "simulation scenarios' commands";
  return absl::StrCat(stage, " templates");
}

// ---------------------------------------------------------------------------
// Problems: every error found, reported together.

struct Problem {
  int line;
  std::string path;
  std::string message;
};

class Problems {
 public:
  void Add(int line, absl::string_view path, std::string message) {
    if (list_.size() >= kMaxProblems) {
      ++dropped_;
      return;
    }
    list_.push_back({std::max(line, 1), path.empty() ? "(root)" : std::string(path),
                     std::move(message)});
  }
  bool empty() const { return list_.empty(); }

  // One line per problem, in the order of the YAML lines.
  absl::Status ToStatus() const {
    std::vector<Problem> sorted = list_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    std::vector<std::string> lines;
    for (const Problem& p : sorted) {
      lines.push_back(absl::StrCat("line ", p.line, ": ", p.path, ": ", p.message));
    }
    if (dropped_ > 0) lines.push_back(absl::StrCat("... and ", dropped_, " more problems"));
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }

 private:
  std::vector<Problem> list_;
  size_t dropped_ = 0;
};

// ---------------------------------------------------------------------------
// Values: a YAML node with its field path and line, for messages.

struct Value {
  YAML::Node node;
  std::string path;
  int line = 1;      // 1-based, of the value itself
  int key_line = 1;  // of its key (a list item's own line); "missing" points here
};

// The node's line, or `fallback` where yaml-cpp has none. A null value's mark
// points at the next token, so its key's line is the better answer.
int LineOf(const YAML::Node& node, int fallback) {
  if (!node.IsDefined() || node.IsNull() || node.Mark().is_null()) return fallback;
  return node.Mark().line + 1;
}

// A key as a path component. Keys come from the user (typos, garbage): any
// byte outside [A-Za-z0-9_./-] is written \xHH, so that a path never holds a
// space, a ':' or a newline and each message line stays `line L: path: what`.
std::string PathKey(absl::string_view key) {
  constexpr size_t kShown = 40;
  std::string out;
  for (char c : key.substr(0, kShown)) {
    if (absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/') {
      out += c;
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (key.size() > kShown) out += "...";
  if (out.empty()) out = "\"\"";
  return out;
}

std::string JoinPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? PathKey(key) : absl::StrCat(parent, ".", PathKey(key));
}

Value Item(const Value& list, size_t index, const YAML::Node& node) {
  int line = LineOf(node, list.line);
  return {node, absl::StrCat(list.path, "[", index, "]"), line, line};
}

// Quoted scalars and `!!str` are strings even when they look like numbers.
bool IsPlain(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float";
}

// A short, printable rendering of user text for messages.
std::string Quote(absl::string_view text) {
  constexpr size_t kShown = 40;
  std::string shown = absl::CHexEscape(text.substr(0, kShown));
  if (text.size() > kShown) shown += "...";
  return absl::StrCat("'", shown, "'");
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return IsPlain(node) ? Quote(node.Scalar())
                           : absl::StrCat("the quoted string ", Quote(node.Scalar()));
    default:
      return "nothing";
  }
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || !absl::ascii_islower(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
  });
}

bool IsEnvName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

bool IsPlaceholderName(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || c == '_';
  });
}

bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
// beyond U+10FFFF). yaml-cpp turns invalid input bytes into U+FFFD, but writes
// the escapes \N and \_ as the single bytes 0x85 and 0xA0; a string that is
// not UTF-8 breaks the JSON subset manifest (nlohmann throws) and protobuf.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t length = 0;
    char32_t code = 0, min_code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, code = lead & 0x1F, min_code = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0F, min_code = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code = lead & 0x07, min_code = 0x10000;
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// Edit distance, for "did you mean" on unknown keys.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// What a string field may hold.
struct TextRule {
  size_t max_length;
  bool allow_empty = false;
  bool identifier = false;     // [a-z][a-z0-9_-]*
  bool allow_control = false;  // newlines and tabs (scripts); NUL never
  // What else the value must be, for values that later become placeholder
  // values or are matched against other identifiers: nullopt when it is
  // fine, else why not (a phrase after the quoted value).
  std::optional<std::string> (*shape)(absl::string_view) = nullptr;
};

// ---------------------------------------------------------------------------
// Values that become placeholder values. The worker's renderer
// (workers/command_render.h) refuses, at run time, a {task}, {policy},
// {code_version} or {dataset_hash} outside [A-Za-z0-9._:+@=/-], a {dataset}
// outside [A-Za-z0-9._~:/@+=,%-], a value starting with '-', a '..' path
// segment, and, after URL-decoding (repeatedly), any control character,
// ';', '|', '&', '`', '<', '>', "$(" or "${". The same rules apply here, at
// submission, so that a spec whose jobs could only be refused is refused
// before anything runs (tests/unit/spec_parser_test.cc checks that every
// value accepted here renders).

bool HasParentSegment(absl::string_view text) {
  for (absl::string_view segment : absl::StrSplit(text, absl::ByAnyChar("/\\"))) {
    if (segment == "..") return true;
  }
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecodeOnce(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Why `text` could leave its argument (as written), or nullopt. `decoded`:
// the text came out of URL-decoding, where a non-ASCII byte can only be an
// encoded one (overlong UTF-8, a look-alike of '.' or '/').
std::optional<std::string> EscapeIn(absl::string_view text, bool decoded) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return "holds a control character";
    if (decoded && c >= 0x80) return "holds a non-ASCII byte";
    if (c == '%' && (i + 2 >= text.size() || HexValue(text[i + 1]) < 0 ||
                     HexValue(text[i + 2]) < 0)) {
      return "holds a '%' that does not start a %XX escape";
    }
    if (absl::string_view(";|&`<>").find(static_cast<char>(c)) != absl::string_view::npos) {
      return absl::StrCat("holds '", std::string(1, static_cast<char>(c)), "'");
    }
    if (c == '$' && i + 1 < text.size() && (text[i + 1] == '(' || text[i + 1] == '{')) {
      return absl::StrCat("holds '", text.substr(i, 2), "'");
    }
  }
  if (HasParentSegment(text)) return "holds a '..' path segment";
  return std::nullopt;
}

// `first` lists what may start the value besides a letter or digit: never
// '-' (an option) nor '.'.
std::optional<std::string> PlaceholderSafe(absl::string_view value, absl::string_view allowed,
                                           absl::string_view described,
                                           absl::string_view first = "") {
  if (value.empty()) return std::nullopt;
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        allowed.find(c) == absl::string_view::npos) {
      const std::string shown =
          c == ' ' ? "a space" : absl::StrCat("'", absl::CHexEscape(std::string(1, c)), "'");
      return absl::StrCat("holds ", shown, "; allowed: ", described);
    }
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(value[0])) &&
      first.find(value[0]) == absl::string_view::npos) {
    return absl::StrCat("must start with a letter or digit",
                        first.empty() ? "" : absl::StrCat(" or one of ", first),
                        " (a value starting with '", std::string(1, value[0]),
                        "' could be read as an option or a path)");
  }
  // Decoded until nothing changes: %253b is %3b is ';'.
  std::string decoded(value);
  for (int round = 0;; ++round) {
    if (std::optional<std::string> escape = EscapeIn(decoded, round > 0)) {
      return round == 0 ? *escape : absl::StrCat(*escape, " once URL-decoded");
    }
    std::string next = UrlDecodeOnce(decoded);
    if (next == decoded) return std::nullopt;
    decoded = std::move(next);
  }
}

// {task} {policy} {code_version} {dataset_hash}.
std::optional<std::string> TokenShape(absl::string_view value) {
  return PlaceholderSafe(value, "._:+@=/-", "letters, digits and ._:+@=/-");
}

// {dataset}: a URI or path.
std::optional<std::string> LocationShape(absl::string_view value) {
  return PlaceholderSafe(value, "._~:/@+=,%-", "letters, digits and ._~:/@+=,%-", "/");
}

// A robot platform, as RegisterRobot takes it, so that a scenario's
// platform can match a robot.
std::optional<std::string> PlatformShape(absl::string_view value) {
  return PlaceholderSafe(value, "._-", "letters, digits and ._-");
}

// A label name, e.g. robot-lab or example.com/zone.
std::optional<std::string> LabelKeyShape(absl::string_view value) {
  return PlaceholderSafe(value, "._/-", "letters, digits and ._/-");
}

constexpr TextRule kIdentifier{kMaxNameLength, false, true};
constexpr TextRule kName{kMaxNameLength};
constexpr TextRule kToken{kMaxNameLength, false, false, false, TokenShape};
constexpr TextRule kTextToken{kMaxTextLength, false, false, false, TokenShape};
constexpr TextRule kLocation{kMaxUriLength, false, false, false, LocationShape};
constexpr TextRule kPlatform{kMaxPlatformLength, false, false, false, PlatformShape};
constexpr TextRule kLabelValue{kMaxNameLength, true, false, false, TokenShape};
constexpr TextRule kArgument{kMaxCommandLength, true, false, true};
constexpr TextRule kScript{kMaxCommandLength, false, false, true};

// ---------------------------------------------------------------------------
// The reader: one pass over the YAML, filling a SweepSpec and Problems.

class SpecReader {
 public:
  explicit SpecReader(const SpecLimits& limits) : limits_(limits) {}

  // Reads the document root. Returns the spec; problems() says if it is valid.
  SweepSpec Read(const YAML::Node& root);
  Problems& problems() { return problems_; }

 private:
  // The keys of one map: reported when unknown, duplicated or not strings.
  class Fields {
   public:
    std::optional<Value> Find(absl::string_view key) const {
      auto it = entries_.find(std::string(key));
      if (it == entries_.end()) return std::nullopt;
      return it->second;
    }
    const Value& self() const { return self_; }

   private:
    friend class SpecReader;
    Value self_;
    std::map<std::string, Value, std::less<>> entries_;
  };

  void Add(const Value& at, std::string message) {
    problems_.Add(at.line, at.path, std::move(message));
  }
  // For problems of a whole map or list: its key's line reads best.
  void AddAtKey(const Value& at, std::string message) {
    problems_.Add(at.key_line, at.path, std::move(message));
  }

  // Calls `visit(key, value)` for each entry of the map `map`; reports
  // non-string and duplicate keys. False (and a problem) if `map` is no map.
  bool ForEachEntry(const Value& map, size_t max_entries,
                    const std::function<void(const std::string&, const Value&)>& visit);
  // Opens `value` as a map with the given keys. nullopt (and a problem) if it
  // is not a map.
  std::optional<Fields> Open(const Value& value,
                             std::initializer_list<absl::string_view> allowed);
  // The value of a required key; reports it missing.
  std::optional<Value> Require(const Fields& fields, absl::string_view key,
                               absl::string_view expected);
  // The entries of a list, at most `max` of them. nullopt if not a list or
  // empty (reported).
  std::optional<std::vector<Value>> List(const Value& value, size_t max);

  std::optional<int64_t> Int(const Value& value);
  std::optional<int64_t> IntIn(const Value& value, int64_t lo, int64_t hi);
  std::optional<double> Number(const Value& value, absl::string_view expected = "a number");
  std::optional<double> NonNegative(const Value& value);
  std::optional<double> Fraction(const Value& value);
  std::optional<std::string> Text(const Value& value, const TextRule& rule);

  void ReadTask(const Value& value);
  void ReadRubric(const Value& value);
  Dataset ReadDataset(const Value& value);
  void ReadTeleop(const Value& value);
  void ReadSources(const Value& value);
  Source ReadSource(const Value& value);
  // `zero_refusal`: why 0 is refused (nullopt: 0 is allowed). `episodes_of`:
  // what limits N, for messages (e.g. "the dataset's 200 episodes").
  std::vector<int64_t> ReadCounts(const Value& value, const Dataset& dataset,
                                  std::optional<absl::string_view> zero_refusal,
                                  absl::string_view limit, absl::string_view limit_path);
  std::optional<Generation> ReadGeneration(const Value& value);
  void ReadSeeds(const Value& value);
  void ReadProtocol(const Value& value);
  void ReadEvaluation(const Value& value);
  StageTemplates ReadStageTemplates(const Value& value,
                                    std::initializer_list<absl::string_view> stages);
  Scenario ReadScenario(const Value& item, const Evaluation& eval,
                        std::optional<Value>& name_value);
  void ReadCheckpoints(const Value& value);
  CommandTemplate ReadTemplate(const Value& value, absl::string_view stage);
  std::set<std::string> CheckPlaceholders(const Value& value, absl::string_view text,
                                          absl::string_view stage, bool at_step = false);
  void ReadResources(const Value& value);
  void ReadCosts(const Value& value);

  void CheckBaseline();
  void CheckProtocol();
  void CheckStageTemplates();
  void CheckScaling();
  void CheckEvaluation();
  bool scaling() const { return spec_.design == Design::kScaling; }

  const SpecLimits& limits_;
  Problems problems_;
  SweepSpec spec_;
  // Where things were, for the cross-field checks that run after reading.
  Value root_;
  std::optional<Value> sources_;
  std::optional<Value> baseline_from_sweep_;
  std::optional<Value> protocol_, total_steps_, pretrain_steps_, finetune_steps_;
  std::optional<int64_t> pretrain_, finetune_;  // as read, before the checks
  std::optional<Value> templates_;
  std::optional<Value> design_, teleop_;
  std::optional<Value> aggregation_, checkpoints_, every_steps_;
};

bool SpecReader::ForEachEntry(
    const Value& map, size_t max_entries,
    const std::function<void(const std::string&, const Value&)>& visit) {
  if (!map.node.IsMap()) {
    Add(map, absl::StrCat("expected a map, got ", Describe(map.node)));
    return false;
  }
  if (map.node.size() > max_entries) {
    Add(map, absl::StrCat("has ", map.node.size(), " entries; at most ", max_entries,
                          " are allowed"));
    return false;
  }
  std::set<std::string, std::less<>> seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    // Copies: yaml-cpp's it-> is a temporary proxy, references into it dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    int key_line = LineOf(key, map.line);
    if (!key.IsScalar()) {
      problems_.Add(key_line, map.path, absl::StrCat("keys must be strings, got ", Describe(key)));
      continue;
    }
    const std::string name = key.Scalar();
    Value entry{value, JoinPath(map.path, name), LineOf(value, key_line), key_line};
    if (!seen.insert(name).second) {
      AddAtKey(entry, "duplicate key");
      continue;
    }
    visit(name, entry);
  }
  return true;
}

std::optional<SpecReader::Fields> SpecReader::Open(
    const Value& value, std::initializer_list<absl::string_view> allowed) {
  Fields fields;
  fields.self_ = value;
  bool is_map = ForEachEntry(value, kMaxMapEntries, [&](const std::string& key,
                                                        const Value& entry) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) {
      fields.entries_.emplace(key, entry);
      return;
    }
    std::string message = absl::StrCat("unknown key ", Quote(key));
    absl::string_view best;
    size_t best_distance = 3;  // suggest only close matches
    for (absl::string_view candidate : allowed) {
      size_t d = key.size() > 64 ? best_distance : EditDistance(key, candidate);
      if (d < best_distance) {
        best = candidate;
        best_distance = d;
      }
    }
    if (!best.empty()) absl::StrAppend(&message, "; did you mean '", best, "'?");
    absl::StrAppend(&message, " (expected one of: ", absl::StrJoin(allowed, ", "), ")");
    AddAtKey(entry, std::move(message));
  });
  if (!is_map) return std::nullopt;
  return fields;
}

std::optional<Value> SpecReader::Require(const Fields& fields, absl::string_view key,
                                         absl::string_view expected) {
  std::optional<Value> value = fields.Find(key);
  if (!value) {
    problems_.Add(fields.self().key_line, JoinPath(fields.self().path, key),
                  absl::StrCat("missing required field (expected ", expected, ")"));
  }
  return value;
}

std::optional<std::vector<Value>> SpecReader::List(const Value& value, size_t max) {
  if (!value.node.IsSequence()) {
    Add(value, absl::StrCat("expected a list, got ", Describe(value.node)));
    return std::nullopt;
  }
  if (value.node.size() == 0) {
    Add(value, "must not be empty");
    return std::nullopt;
  }
  if (value.node.size() > max) {
    Add(value, absl::StrCat("has ", value.node.size(), " entries; at most ", max,
                            " are allowed"));
    return std::nullopt;
  }
  std::vector<Value> items;
  size_t index = 0;
  for (const YAML::Node& node : value.node) items.push_back(Item(value, index++, node));
  return items;
}

std::optional<int64_t> SpecReader::Int(const Value& value) {
  const YAML::Node& node = value.node;
  int64_t out = 0;
  if (node.IsScalar() && IsPlain(node)) {
    const std::string& s = node.Scalar();
    if (absl::SimpleAtoi(s, &out)) return out;
    absl::string_view digits = s;
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
    if (!digits.empty() && std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
      Add(value, absl::StrCat("integer ", Quote(s), " is out of range"));
      return std::nullopt;
    }
  }
  Add(value, absl::StrCat("expected an integer, got ", Describe(node)));
  return std::nullopt;
}

std::optional<int64_t> SpecReader::IntIn(const Value& value, int64_t lo, int64_t hi) {
  std::optional<int64_t> v = Int(value);
  if (!v) return std::nullopt;
  if (*v < lo || *v > hi) {
    if (hi == std::numeric_limits<int64_t>::max()) {
      Add(value, absl::StrCat("must be at least ", lo, ", got ", *v));
    } else {
      Add(value, absl::StrCat("must be between ", lo, " and ", hi, ", got ", *v));
    }
    return std::nullopt;
  }
  return v;
}

std::optional<double> SpecReader::Number(const Value& value, absl::string_view expected) {
  const YAML::Node& node = value.node;
  if (!node.IsScalar() || !IsPlain(node)) {
    Add(value, absl::StrCat("expected ", expected, ", got ", Describe(node)));
    return std::nullopt;
  }
  const std::string& s = node.Scalar();
  std::string lower = absl::AsciiStrToLower(s);
  double out = 0;
  bool yaml_special = lower == ".nan" || lower == ".inf" || lower == "+.inf" || lower == "-.inf";
  if (!yaml_special && !absl::SimpleAtod(s, &out)) {
    Add(value, absl::StrCat("expected ", expected, ", got ", Describe(node)));
    return std::nullopt;
  }
  if (yaml_special || !std::isfinite(out)) {
    Add(value, absl::StrCat("must be a finite number, got ", Quote(s)));
    return std::nullopt;
  }
  return out;
}

std::optional<double> SpecReader::NonNegative(const Value& value) {
  std::optional<double> v = Number(value);
  if (v && *v < 0) {
    Add(value, absl::StrCat("must be >= 0, got ", *v));
    return std::nullopt;
  }
  return v;
}

// A number, or an exact fraction "a/b" so that thirds are written exactly.
std::optional<double> SpecReader::Fraction(const Value& value) {
  constexpr absl::string_view kExpected = "a number or a fraction such as 1/3";
  const YAML::Node& node = value.node;
  if (!node.IsScalar() || node.Scalar().find('/') == std::string::npos) {
    return Number(value, kExpected);
  }
  const std::string& s = node.Scalar();
  size_t slash = s.find('/');
  int64_t numerator = 0, denominator = 0;
  if (!absl::SimpleAtoi(absl::string_view(s).substr(0, slash), &numerator) ||
      !absl::SimpleAtoi(absl::string_view(s).substr(slash + 1), &denominator) ||
      numerator < 0 || denominator <= 0) {
    Add(value, absl::StrCat("expected ", kExpected,
                            " (non-negative integers over a positive one), got ", Quote(s)));
    return std::nullopt;
  }
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

std::optional<std::string> SpecReader::Text(const Value& value, const TextRule& rule) {
  const YAML::Node& node = value.node;
  if (!node.IsScalar()) {
    Add(value, absl::StrCat("expected a string, got ", Describe(node)));
    return std::nullopt;
  }
  const std::string& s = node.Scalar();
  if (s.empty() && !rule.allow_empty) {
    Add(value, "must not be empty");
    return std::nullopt;
  }
  if (s.size() > rule.max_length) {
    Add(value, absl::StrCat("is ", s.size(), " characters long; at most ", rule.max_length,
                            " are allowed"));
    return std::nullopt;
  }
  if (s.find('\0') != std::string::npos || (!rule.allow_control && HasControl(s))) {
    Add(value, absl::StrCat("must not contain control characters, got ", Quote(s)));
    return std::nullopt;
  }
  if (!IsValidUtf8(s)) {
    Add(value, absl::StrCat("is not valid UTF-8, got ", Quote(s)));
    return std::nullopt;
  }
  if (rule.identifier && !IsIdentifier(s)) {
    Add(value, absl::StrCat(Quote(s), " is not a valid name (expected lower-case letters, "
                            "digits, '_' and '-', starting with a letter)"));
    return std::nullopt;
  }
  if (rule.shape != nullptr && limits_.strict_values) {
    if (std::optional<std::string> why = rule.shape(s)) {
      Add(value, absl::StrCat(Quote(s), " ", *why));
      return std::nullopt;
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// Sections.

SweepSpec SpecReader::Read(const YAML::Node& root) {
  root_ = {root, "", 1, 1};
  if (!root.IsMap()) {
    Add(root_, absl::StrCat("expected a map of keys starting with `version: 1`, got ",
                            Describe(root)));
    return spec_;
  }
  std::optional<Fields> f =
      Open(root_, {"version", "name", "design", "task", "policy", "code_version", "teleop",
                   "sources",
                   "seeds", "protocol", "evaluation", "templates", "resources", "costs",
                   "priority", "max_attempts", "job_deadline_hours", "baseline_from_sweep"});
  if (!f) return spec_;

  if (auto v = Require(*f, "version", "version: 1")) {
    std::optional<int64_t> version = Int(*v);
    if (version && *version != 1) {
      // A newer version's keys would all read as unknown here: say only this.
      problems_ = Problems();
      Add(*v, absl::StrCat("unsupported version ", *version, "; this mixsweep reads version 1"));
      return spec_;
    }
  }
  if (auto v = f->Find("name")) spec_.name = Text(*v, kName).value_or("");
  if (auto v = Require(*f, "task", "a map with name and rubric")) ReadTask(*v);
  if (auto v = Require(*f, "policy", "the policy's name, e.g. diffusion_policy")) {
    spec_.policy = Text(*v, kToken).value_or("");
  }
  if (auto v = f->Find("code_version")) spec_.code_version = Text(*v, kTextToken).value_or("");
  // The design first: it decides which keys the others need.
  if ((design_ = f->Find("design"))) {
    std::optional<std::string> design = Text(*design_, kName);
    if (design == "mixture") {
      spec_.design = Design::kMixture;
    } else if (design == "scaling") {
      spec_.design = Design::kScaling;
    } else if (design) {
      Add(*design_, absl::StrCat("unknown design ", Quote(*design),
                                 " (expected mixture or scaling)"));
    }
  }
  if (scaling()) {
    if ((teleop_ = f->Find("teleop"))) {
      AddAtKey(*teleop_, "a scaling sweep has no teleop data: each run trains on N demos of "
                         "its one source alone; remove teleop (exchange rates against teleop "
                         "come from baseline_from_sweep), or use design: mixture");
    }
  } else if ((teleop_ = Require(*f, "teleop", "a map with dataset and n_tele"))) {
    ReadTeleop(*teleop_);
  }
  if ((sources_ = Require(*f, "sources", "a list of non-teleop sources"))) ReadSources(*sources_);
  if (auto v = Require(*f, "seeds", "a list of integers, e.g. [0, 1, 2]")) ReadSeeds(*v);
  if ((protocol_ = Require(*f, "protocol", "a map with total_steps, pretrain_steps and "
                                           "finetune_steps"))) {
    ReadProtocol(*protocol_);
  }
  if (auto v = Require(*f, "evaluation", "a map with scenarios")) ReadEvaluation(*v);
  if ((templates_ = f->Find("templates"))) {
    spec_.templates = ReadStageTemplates(*templates_, {"train", "pretrain", "finetune"});
  }
  if (auto v = f->Find("resources")) ReadResources(*v);
  if (auto v = f->Find("costs")) ReadCosts(*v);
  if (auto v = f->Find("priority")) {
    spec_.priority = static_cast<int>(IntIn(*v, -kMaxPriority, kMaxPriority).value_or(0));
  }
  if (auto v = f->Find("max_attempts")) {
    spec_.max_attempts = static_cast<int>(IntIn(*v, 1, kMaxAttempts).value_or(1));
  }
  if (auto v = f->Find("job_deadline_hours")) {
    if (std::optional<double> hours = Number(*v)) {
      if (!(*hours > 0) || *hours > 8760) {
        Add(*v, absl::StrCat("must be more than 0 and at most 8760 (a year), got ", *hours));
      } else {
        spec_.job_deadline_hours = *hours;
      }
    }
  }
  if ((baseline_from_sweep_ = f->Find("baseline_from_sweep"))) {
    spec_.baseline_from_sweep =
        IntIn(*baseline_from_sweep_, 1, std::numeric_limits<int64_t>::max());
  }

  CheckBaseline();
  CheckProtocol();
  CheckScaling();
  CheckStageTemplates();
  CheckEvaluation();
  return spec_;
}

void SpecReader::ReadTask(const Value& value) {
  std::optional<Fields> f = Open(value, {"name", "rubric"});
  if (!f) return;
  if (auto v = Require(*f, "name", "the task's name, e.g. pick_dual_bottles")) {
    spec_.task.name = Text(*v, kToken).value_or("");
  }
  if (auto v = Require(*f, "rubric", "a map with milestones or items")) ReadRubric(*v);
}

void SpecReader::ReadRubric(const Value& value) {
  std::optional<Fields> f = Open(value, {"milestones", "items"});
  if (!f) return;
  std::optional<Value> milestones = f->Find("milestones");
  std::optional<Value> items = f->Find("items");
  if (milestones.has_value() == items.has_value()) {
    AddAtKey(value, "give exactly one of milestones (ordered stages) and items (weights "
                    "summing to 1)");
    return;
  }
  bool is_items = items.has_value();
  const Value& list_value = is_items ? *items : *milestones;
  const absl::string_view value_key = is_items ? "weight" : "score";
  spec_.task.rubric.kind = is_items ? RubricKind::kItems : RubricKind::kMilestones;

  std::optional<std::vector<Value>> list = List(list_value, kMaxRubricEntries);
  if (!list) return;
  std::set<std::string> names;
  double sum = 0;
  std::optional<double> previous;
  bool all_read = true;
  std::optional<Value> last;
  for (const Value& entry_value : *list) {
    std::optional<Fields> entry = Open(entry_value, {"name", value_key});
    if (!entry) {
      all_read = false;
      continue;
    }
    RubricEntry out;
    if (auto v = Require(*entry, "name", "an identifier such as red or first_grasp")) {
      out.name = Text(*v, kIdentifier).value_or("");
      if (!out.name.empty() && !names.insert(out.name).second) {
        Add(*v, absl::StrCat("duplicate name ", Quote(out.name)));
      }
    }
    std::optional<double> number;
    if (auto v = Require(*entry, value_key, "a number or a fraction such as 1/3")) {
      number = Fraction(*v);
      if (number && is_items && (*number <= 0 || *number > 1)) {
        Add(*v, absl::StrCat("weight must be in (0, 1], got ", *number));
      } else if (number && !is_items) {
        if (*number <= 0 || *number > 1) {
          Add(*v, absl::StrCat("score must be in (0, 1], got ", *number));
        } else if (previous && *number <= *previous) {
          Add(*v, absl::StrCat("scores must increase strictly from stage to stage: ", *number,
                               " follows ", *previous));
        }
        previous = number;
        last = v;
      }
    }
    if (!number) all_read = false;
    out.value = number.value_or(0);
    sum += out.value;
    spec_.task.rubric.entries.push_back(std::move(out));
  }
  if (!all_read) return;
  if (is_items && std::abs(sum - 1.0) > kWeightTolerance) {
    AddAtKey(list_value, absl::StrCat("weights must sum to 1 (within ", kWeightTolerance,
                                      "), got ", sum, "; write thirds as 1/3"));
  }
  if (!is_items && last && std::abs(*previous - 1.0) > 1e-9) {
    Add(*last, absl::StrCat("the last stage must score 1 (task complete), got ", *previous));
  }
}

Dataset SpecReader::ReadDataset(const Value& value) {
  Dataset out;
  std::optional<Fields> f = Open(value, {"uri", "content_hash", "episodes"});
  if (!f) return out;
  if (auto v = Require(*f, "uri", "where the training tool finds it, e.g. file:///data/x")) {
    out.uri = Text(*v, kLocation).value_or("");
  }
  if (auto v = f->Find("content_hash")) out.content_hash = Text(*v, kTextToken).value_or("");
  if (auto v = Require(*f, "episodes", "the number of episodes it holds")) {
    out.episodes = IntIn(*v, 1, std::numeric_limits<int64_t>::max()).value_or(0);
  }
  return out;
}

void SpecReader::ReadTeleop(const Value& value) {
  std::optional<Fields> f = Open(value, {"dataset", "cost_per_demo_hours", "n_tele"});
  if (!f) return;
  if (auto v = Require(*f, "dataset", "a map with uri and episodes")) {
    spec_.teleop.dataset = ReadDataset(*v);
  }
  if (auto v = f->Find("cost_per_demo_hours")) {
    spec_.teleop.cost_per_demo_hours = NonNegative(*v).value_or(0);
  }
  if (auto v = Require(*f, "n_tele", "a list of teleop demo counts, e.g. [50, 100, 200]")) {
    spec_.teleop.n_tele =
        ReadCounts(*v, spec_.teleop.dataset,
                   "0 is not allowed: every run trains on teleop demos (the baseline is n_nt 0 "
                   "in a source)",
                   "the dataset's", JoinPath(value.path, "dataset.episodes"));
  }
}

// A list of demo counts N: integers, distinct, within the dataset.
std::vector<int64_t> SpecReader::ReadCounts(const Value& value, const Dataset& dataset,
                                            std::optional<absl::string_view> zero_refusal,
                                            absl::string_view limit,
                                            absl::string_view limit_path) {
  std::vector<int64_t> out;
  std::optional<std::vector<Value>> list = List(value, kMaxListLength);
  if (!list) return out;
  std::map<int64_t, std::string> first;
  for (const Value& item : *list) {
    std::optional<int64_t> n = Int(item);
    if (!n) continue;
    if (*n < 0) {
      Add(item, absl::StrCat("must be >= 0, got ", *n));
      continue;
    }
    if (*n > kMaxDemosPerJob && limits_.strict_values) {
      Add(item, absl::StrCat(*n, " demos; at most ", kMaxDemosPerJob,
                             " per job (its subset manifest lists every episode)"));
      continue;
    }
    if (*n == 0 && zero_refusal) {
      Add(item, std::string(*zero_refusal));
      continue;
    }
    if (dataset.episodes > 0 && *n > dataset.episodes) {
      Add(item, absl::StrCat(*n, " demos are more than ", limit, " ", dataset.episodes,
                             " episodes (", limit_path, ")"));
    }
    auto [it, inserted] = first.emplace(*n, item.path);
    if (!inserted) {
      Add(item, absl::StrCat("duplicate value ", *n, " (also at ", it->second, ")"));
      continue;
    }
    out.push_back(*n);
  }
  return out;
}

void SpecReader::ReadSources(const Value& value) {
  std::optional<std::vector<Value>> list = List(value, kMaxSources);
  if (!list) return;
  std::map<std::string, std::string> first;
  for (const Value& item : *list) {
    Source source = ReadSource(item);
    if (!source.name.empty()) {
      auto [it, inserted] = first.emplace(source.name, item.path);
      if (!inserted) {
        Add({item.node, item.path + ".name", item.line, item.line},
            absl::StrCat("duplicate source name ", Quote(source.name), " (also at ",
                         it->second, ")"));
      }
    }
    spec_.sources.push_back(std::move(source));
  }
}

Source SpecReader::ReadSource(const Value& value) {
  Source out;
  std::optional<Fields> f =
      Open(value, {"name", "kind", "dataset", "generate", "cost_per_demo_hours", "n_nt",
                   "templates"});
  if (!f) return out;
  if (auto v = Require(*f, "name", "an identifier such as sim or human")) {
    out.name = Text(*v, kIdentifier).value_or("");
    if (out.name == "teleop" || out.name == "baseline") {
      Add(*v, absl::StrCat(Quote(out.name), " is reserved; choose another source name"));
      out.name.clear();
    }
  }
  if (auto v = Require(*f, "kind", "simulation or human_video")) {
    std::optional<std::string> kind = Text(*v, kName);
    if (kind == "simulation") {
      out.kind = SourceKind::kSimulation;
    } else if (kind == "human_video") {
      out.kind = SourceKind::kHumanVideo;
    } else if (kind) {
      Add(*v, absl::StrCat("unknown kind ", Quote(*kind), " (expected simulation or "
                                                          "human_video)"));
    }
  }
  std::optional<Value> generate = f->Find("generate");
  if (generate) {
    // The dataset is what the generate job makes: known once it ran.
    if (auto v = f->Find("dataset")) {
      AddAtKey(*v, "a generated source has no dataset: its generate job makes it (generate); "
                   "remove dataset, or generate to train on an existing dataset");
    }
    out.generate = ReadGeneration(*generate);
    if (out.generate) out.dataset = {.uri = "", .content_hash = "", .episodes = out.generate->demos};
  } else if (auto v = Require(*f, "dataset", "a map with uri and episodes, or generate")) {
    out.dataset = ReadDataset(*v);
  }
  if (auto v = f->Find("cost_per_demo_hours")) {
    out.cost_per_demo_hours = NonNegative(*v).value_or(0);
  }
  if (auto v = Require(*f, "n_nt", scaling() ? "a list of demo counts, each >= 1"
                                              : "a list of demo counts; 0 is the teleop-only "
                                                "baseline")) {
    std::optional<absl::string_view> zero_refusal;
    if (scaling()) {
      zero_refusal = "0 is not allowed in a scaling sweep: every run trains on N >= 1 demos of "
                     "the source (there is no teleop-only baseline; baseline_from_sweep names "
                     "the teleop sweep to compare with)";
    }
    out.n_nt = generate ? ReadCounts(*v, out.dataset, zero_refusal, "the generate job's",
                                     JoinPath(value.path, "generate.demos"))
                        : ReadCounts(*v, out.dataset, zero_refusal, "the dataset's",
                                     JoinPath(value.path, "dataset.episodes"));
  }
  if (auto v = f->Find("templates")) {
    out.templates = scaling() ? ReadStageTemplates(*v, {"train", "pretrain", "finetune"})
                              : ReadStageTemplates(*v, {"pretrain", "finetune"});
  }
  return out;
}

// sources[i].generate: {command, from, demos}.
std::optional<Generation> SpecReader::ReadGeneration(const Value& value) {
  std::optional<Fields> f = Open(value, {"command", "from", "demos"});
  if (!f) return std::nullopt;
  // Returned even when incomplete (problems reported): the source is still
  // a generated one, so its missing dataset is not reported too.
  Generation out;
  if (auto v = Require(*f, "command", "a command template that generates the demos")) {
    out.command = ReadTemplate(*v, "generate");
  }
  if (auto v = Require(*f, "from", "a map with uri and episodes: the demos it generates from")) {
    out.from = ReadDataset(*v);
  }
  if (auto v = Require(*f, "demos", "how many demos it must generate, e.g. 1000")) {
    // Like N: subsets are drawn from [0, demos).
    out.demos = IntIn(*v, 1, limits_.strict_values ? kMaxDemosPerJob
                                                   : std::numeric_limits<int64_t>::max())
                    .value_or(0);
  }
  return out;
}

void SpecReader::ReadSeeds(const Value& value) {
  std::optional<std::vector<Value>> list = List(value, kMaxListLength);
  if (!list) return;
  std::map<int64_t, std::string> first;
  for (const Value& item : *list) {
    std::optional<int64_t> seed = IntIn(item, 0, kMaxSeed);
    if (!seed) continue;
    auto [it, inserted] = first.emplace(*seed, item.path);
    if (!inserted) {
      Add(item, absl::StrCat("duplicate seed ", *seed, " (also at ", it->second, ")"));
      continue;
    }
    spec_.seeds.push_back(*seed);
  }
}

void SpecReader::ReadProtocol(const Value& value) {
  std::optional<Fields> f = Open(value, {"total_steps", "pretrain_steps", "finetune_steps"});
  if (!f) return;
  // Signs and sums are checked in CheckProtocol, once sources are known.
  if ((total_steps_ = Require(*f, "total_steps", "T_total, a positive integer"))) {
    spec_.protocol.total_steps = IntIn(*total_steps_, 1, std::numeric_limits<int64_t>::max())
                                     .value_or(0);
  }
  if ((pretrain_steps_ = f->Find("pretrain_steps"))) pretrain_ = Int(*pretrain_steps_);
  if ((finetune_steps_ = f->Find("finetune_steps"))) finetune_ = Int(*finetune_steps_);
  spec_.protocol.pretrain_steps = pretrain_.value_or(0);
  spec_.protocol.finetune_steps = finetune_.value_or(0);
}

void SpecReader::ReadEvaluation(const Value& value) {
  std::optional<Fields> f =
      Open(value, {"trials_per_scenario", "scenarios", "aggregation", "checkpoints"});
  if (!f) return;
  Evaluation& eval = spec_.evaluation;
  if (auto v = f->Find("trials_per_scenario")) {
    eval.trials_per_scenario = static_cast<int>(IntIn(*v, 1, kMaxTrials).value_or(10));
  }
  if ((aggregation_ = f->Find("aggregation"))) {
    std::optional<std::string> text = Text(*aggregation_, kName);
    if (text == "last") {
      eval.aggregation = Aggregation::kLast;
    } else if (text == "max_over_checkpoints") {
      eval.aggregation = Aggregation::kMaxOverCheckpoints;
    } else if (text) {
      Add(*aggregation_, absl::StrCat("unknown aggregation ", Quote(*text),
                                      " (expected last or max_over_checkpoints)"));
    }
  }
  if ((checkpoints_ = f->Find("checkpoints"))) ReadCheckpoints(*checkpoints_);
  auto v = Require(*f, "scenarios", "a list such as [in_domain, unseen_background]");
  if (!v) return;
  std::optional<std::vector<Value>> list = List(*v, kMaxScenarios);
  if (!list) return;
  std::map<std::string, std::string> first;
  for (const Value& item : *list) {
    std::optional<Value> name_value;
    Scenario scenario = ReadScenario(item, eval, name_value);
    if (name_value) {
      scenario.name = Text(*name_value, kIdentifier).value_or("");
      if (!scenario.name.empty()) {
        auto [it, inserted] = first.emplace(scenario.name, item.path);
        if (!inserted) {
          Add(*name_value, absl::StrCat("duplicate scenario ", Quote(scenario.name),
                                        " (also at ", it->second, ")"));
        }
      }
    }
    eval.scenarios.push_back(std::move(scenario));
  }
}

// One scenario: a bare name (a robot scenario) or a map. Sets `name_value`
// to where its name is.
Scenario SpecReader::ReadScenario(const Value& item, const Evaluation& eval,
                                  std::optional<Value>& name_value) {
  Scenario scenario;
  scenario.trials = eval.trials_per_scenario;
  if (item.node.IsScalar()) {
    name_value = item;  // short form: just the name
    return scenario;
  }
  std::optional<Fields> s =
      Open(item, {"name", "trials", "platform", "evaluator", "command", "seed"});
  if (!s) return scenario;
  name_value = Require(*s, "name", "an identifier such as in_domain");
  if (auto t = s->Find("trials")) {
    scenario.trials = static_cast<int>(IntIn(*t, 1, kMaxTrials).value_or(0));
  }
  if (auto e = s->Find("evaluator")) {
    std::optional<std::string> text = Text(*e, kName);
    if (text == "robot") {
      scenario.evaluator = Evaluator::kRobot;
    } else if (text == "simulation") {
      scenario.evaluator = Evaluator::kSimulation;
    } else if (text) {
      Add(*e, absl::StrCat("unknown evaluator ", Quote(*text), " (expected robot or simulation)"));
    }
  }
  const std::optional<Value> command = s->Find("command");
  const std::optional<Value> seed = s->Find("seed");
  const std::optional<Value> platform = s->Find("platform");
  if (scenario.evaluator == Evaluator::kRobot) {
    for (const std::optional<Value>& key : {command, seed}) {
      if (key) {
        AddAtKey(*key, "only simulation scenarios (evaluator: simulation) run a command with a "
                       "seed; a robot scenario is evaluated by an operator");
      }
    }
    if (platform) scenario.platform = Text(*platform, kPlatform).value_or("");
    return scenario;
  }
  SimulationEvaluation simulation;
  if (platform) {
    AddAtKey(*platform, "platform is for robot scenarios; a simulation scenario runs as an "
                        "evaluate job on a worker (use resources.labels to choose workers)");
  }
  if (auto c = Require(*s, "command", "a command template that evaluates {checkpoint}")) {
    simulation.command = ReadTemplate(*c, "evaluate");
  }
  if (seed) simulation.seed = IntIn(*seed, 0, kMaxSeed).value_or(0);
  scenario.simulation = std::move(simulation);
  return scenario;
}

// evaluation.checkpoints: {every_steps, last}.
void SpecReader::ReadCheckpoints(const Value& value) {
  std::optional<Fields> f = Open(value, {"every_steps", "last"});
  if (!f) return;
  CheckpointSelection& selection = spec_.evaluation.checkpoints;
  if ((every_steps_ = Require(*f, "every_steps", "a positive number of training steps"))) {
    selection.every_steps =
        IntIn(*every_steps_, 1, std::numeric_limits<int64_t>::max()).value_or(0);
  }
  if (auto v = f->Find("last")) {
    selection.last = static_cast<int>(IntIn(*v, 1, kMaxCheckpointsPerJob).value_or(0));
  }
}

StageTemplates SpecReader::ReadStageTemplates(
    const Value& value, std::initializer_list<absl::string_view> stages) {
  StageTemplates out;
  std::optional<Fields> f = Open(value, stages);
  if (!f) return out;
  if (auto v = f->Find("train")) out.train = ReadTemplate(*v, "train");
  for (absl::string_view stage : {"pretrain", "finetune"}) {
    std::optional<Value> v = f->Find(stage);
    if (!v) continue;
    if (scaling()) {
      // Refused rather than ignored: a scaling sweep never runs them, and an
      // extension may not add them later.
      AddAtKey(*v, absl::StrCat("a scaling sweep has no ", stage,
                                " jobs: each run is one train job; remove it"));
      continue;
    }
    (stage == "pretrain" ? out.pretrain : out.finetune) = ReadTemplate(*v, stage);
  }
  return out;
}

// Always returns a template (possibly incomplete, with problems reported), so
// that a broken template is not also reported as missing. `stage`: train,
// pretrain, finetune, generate (sources[i].generate.command) or evaluate (a
// simulation scenario's command); the defaults of generate and evaluate
// commands are filled in.
CommandTemplate SpecReader::ReadTemplate(const Value& value, absl::string_view stage) {
  CommandTemplate out;
  std::optional<Fields> f =
      Open(value, {"argv", "shell", "env", "checkpoint", "no_retry_exit_codes",
                   "progress_pattern", "checkpoint_at_step", "result_file", "result_format"});
  if (!f) return out;
  const bool training = IsTrainingStage(stage);
  // Placeholders used in argv, shell and env (what the program sees), and
  // anywhere at all.
  std::set<std::string> in_command, used;
  auto check = [&](const Value& at, absl::string_view text, bool command, bool step = false) {
    std::set<std::string> names = CheckPlaceholders(at, text, stage, step);
    if (command) in_command.insert(names.begin(), names.end());
    used.insert(names.begin(), names.end());
  };
  std::optional<Value> argv = f->Find("argv");
  std::optional<Value> shell = f->Find("shell");
  if (argv.has_value() == shell.has_value()) {
    AddAtKey(value, "give exactly one of argv (a list, run without a shell) and shell (a "
                    "script for /bin/sh -c)");
  }
  if (argv) {
    if (auto list = List(*argv, kMaxListLength)) {
      for (const Value& item : *list) {
        std::optional<std::string> arg = Text(item, kArgument);
        if (arg) check(item, *arg, true);
        if (arg && arg->empty() && out.argv.empty()) {
          Add(item, "the program (argv[0]) must not be empty");
        }
        out.argv.push_back(arg.value_or(""));
      }
    }
  }
  if (shell) {
    if (auto script = Text(*shell, kScript)) {
      check(*shell, *script, true);
      out.shell = *script;
    }
  }
  if (auto env = f->Find("env")) {
    ForEachEntry(*env, kMaxMapEntries, [&](const std::string& name, const Value& entry) {
      if (!IsEnvName(name) || name.size() > kMaxNameLength) {
        Add(entry, absl::StrCat(Quote(name), " is not a valid environment variable name"));
        return;
      }
      if (auto text = Text(entry, kArgument)) {
        check(entry, *text, true);
        out.env[name] = *text;
      }
    });
  }
  if (auto checkpoint = f->Find("checkpoint")) {
    if (stage == "evaluate") {
      AddAtKey(*checkpoint, "an evaluation makes no checkpoint; name the file it writes in "
                            "result_file");
    } else if (auto text = Text(*checkpoint, TextRule{kMaxUriLength})) {
      check(*checkpoint, *text, false);
      out.checkpoint = *text;
    }
  }
  if (auto at_step = f->Find("checkpoint_at_step")) {
    if (!training) {
      AddAtKey(*at_step, absl::StrCat("checkpoint_at_step is only for training templates "
                                      "(train, pretrain, finetune), not ",
                                      StageNoun(stage)));
    } else if (auto text = Text(*at_step, TextRule{kMaxUriLength})) {
      std::set<std::string> names = CheckPlaceholders(*at_step, *text, stage, true);
      used.insert(names.begin(), names.end());
      if (!names.contains("step")) {
        Add(*at_step, "must use {step}: each intermediate checkpoint has its own path, e.g. "
                      "\"{output_dir}/checkpoints/{step}.ckpt\"");
      } else {
        out.checkpoint_at_step = *text;
      }
    }
  }
  if (auto result_file = f->Find("result_file")) {
    if (training) {
      AddAtKey(*result_file, "result_file is only for generate commands (sources[i].generate."
                             "command) and simulation scenarios' commands, not training "
                             "templates");
    } else if (auto text = Text(*result_file, TextRule{kMaxUriLength})) {
      check(*result_file, *text, false);
      out.result_file = *text;
    }
  }
  if (auto format = f->Find("result_format")) {
    if (training) {
      AddAtKey(*format, "result_format is only for generate commands (sources[i].generate."
                        "command) and simulation scenarios' commands, not training templates");
    } else if (auto text = Text(*format, kName)) {
      const bool known = stage == "generate"
                             ? *text == "mimicgen"
                             : (*text == "lerobot" || *text == "diffusion_policy" ||
                                *text == "mixsweep");
      if (known) {
        out.result_format = *text;
      } else {
        Add(*format, absl::StrCat("unknown result_format ", Quote(*text), " (expected ",
                                  stage == "generate" ? "mimicgen"
                                                      : "lerobot, diffusion_policy or mixsweep",
                                  ")"));
      }
    }
  }
  if (auto codes = f->Find("no_retry_exit_codes")) {
    if (auto list = List(*codes, 255)) {
      for (const Value& item : *list) {
        std::optional<int64_t> code = IntIn(item, 1, 255);
        if (!code) continue;
        if (std::find(out.no_retry_exit_codes.begin(), out.no_retry_exit_codes.end(), *code) !=
            out.no_retry_exit_codes.end()) {
          Add(item, absl::StrCat("duplicate exit code ", *code));
          continue;
        }
        out.no_retry_exit_codes.push_back(static_cast<int>(*code));
      }
    }
  }
  if (auto pattern = f->Find("progress_pattern")) {
    // Checked here so that a bad pattern fails the submission, not every job.
    if (auto text = Text(*pattern, TextRule{kMaxPatternLength})) {
      try {
        const std::regex re(*text, std::regex::ECMAScript);
        if (re.mark_count() < 1) {
          Add(*pattern, "needs a capture group for the step, e.g. \"iter (\\d+)\"");
        } else {
          out.progress_pattern = *text;
        }
      } catch (const std::regex_error& e) {
        Add(*pattern, absl::StrCat("not a valid regular expression: ", e.what()));
      }
    }
  }
  if (stage == "finetune" && !used.contains("init_checkpoint") && (argv || shell)) {
    AddAtKey(value, "a finetune template must use {init_checkpoint} (in argv, shell, env or "
                    "checkpoint); without it the finetune would silently start from scratch");
  }
  if (stage == "evaluate" && !in_command.contains("checkpoint") && (argv || shell)) {
    AddAtKey(value, "a simulation scenario's command must use {checkpoint} (in argv, shell or "
                    "env); without it every evaluation would run the same policy");
  }
  // Defaults (docs/sweep-spec.md).
  if (stage == "generate") {
    if (out.checkpoint.empty()) out.checkpoint = "{output_dir}";
    if (out.result_format.empty()) out.result_format = "mimicgen";
    if (out.result_file.empty()) out.result_file = "{output_dir}/important_stats.json";
  } else if (stage == "evaluate") {
    if (out.result_format.empty()) out.result_format = "mixsweep";
    if (out.result_file.empty()) out.result_file = DefaultResultFile(out.result_format);
  }
  return out;
}

// Reports unknown, misplaced or malformed placeholders in `text`. Returns the
// known ones it uses. `at_step`: the text is a checkpoint_at_step, the only
// place {step} may appear.
std::set<std::string> SpecReader::CheckPlaceholders(const Value& value, absl::string_view text,
                                                    absl::string_view stage, bool at_step) {
  std::set<std::string> used;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool doubled = i + 1 < text.size() && text[i + 1] == text[i];
    if (text[i] == '}') {
      if (doubled) {
        ++i;
        continue;
      }
      Add(value, absl::StrCat("unbalanced '}' at character ", i + 1,
                              "; write }} for a literal brace"));
      return used;
    }
    if (text[i] != '{') continue;
    if (doubled) {
      ++i;
      continue;
    }
    size_t close = text.find('}', i + 1);
    if (close == absl::string_view::npos) {
      Add(value, absl::StrCat("unbalanced '{' at character ", i + 1,
                              "; write {{ for a literal brace"));
      return used;
    }
    absl::string_view name = text.substr(i + 1, close - i - 1);
    const bool anywhere = std::any_of(
        std::begin(kStages), std::end(kStages),
        [&](absl::string_view s) { return KnownPlaceholder(name, s); });
    if (!IsPlaceholderName(name)) {
      Add(value, absl::StrCat("malformed placeholder {", absl::CHexEscape(name.substr(0, 40)),
                              "} (names are lower-case letters and '_'); write {{ and }} "
                              "for literal braces, e.g. ${{HOME}} in a shell script"));
    } else if (name == "init_checkpoint" && stage != "finetune") {
      Add(value, absl::StrCat("{init_checkpoint} is only available in finetune templates, "
                              "not in ", stage));
    } else if (name == "run_id" && stage == "pretrain") {
      Add(value, "{run_id} is not available in pretrain templates: a pretrain is shared by "
                 "every run that needs it; use {job_id}");
    } else if (name == "step" && !(at_step && IsTrainingStage(stage))) {
      Add(value, "{step} is only available in checkpoint_at_step (the path of the checkpoint "
                 "of step {step})");
    } else if (!KnownPlaceholder(name, stage) && anywhere) {
      Add(value, absl::StrCat("{", name, "} is not available in ", StageNoun(stage),
                              " (known: ", KnownList(stage), ")"));
    } else if (!KnownPlaceholder(name, stage)) {
      Add(value, absl::StrCat("unknown placeholder {", name, "} (known: ", KnownList(stage),
                              ")"));
    } else {
      used.emplace(name);
    }
    i = close;
  }
  return used;
}

void SpecReader::ReadResources(const Value& value) {
  std::optional<Fields> f = Open(value, {"gpus", "min_gpu_memory_gib", "labels"});
  if (!f) return;
  Resources& res = spec_.resources;
  if (auto v = f->Find("gpus")) res.gpus = static_cast<int>(IntIn(*v, 0, kMaxGpus).value_or(1));
  if (auto v = f->Find("min_gpu_memory_gib")) res.min_gpu_memory_gib = NonNegative(*v).value_or(0);
  if (auto v = f->Find("labels")) {
    ForEachEntry(*v, kMaxMapEntries, [&](const std::string& key, const Value& entry) {
      if (key.empty() || key.size() > kMaxNameLength || HasControl(key) || !IsValidUtf8(key)) {
        Add(entry, "label names must be 1 to 128 printable characters (UTF-8)");
        return;
      }
      if (std::optional<std::string> why = LabelKeyShape(key); why && limits_.strict_values) {
        Add(entry, absl::StrCat("label name ", Quote(key), " ", *why));
        return;
      }
      if (auto text = Text(entry, kLabelValue)) res.labels[key] = *text;
    });
  }
}

void SpecReader::ReadCosts(const Value& value) {
  std::optional<Fields> f = Open(value, {"gpu_hour_price", "collection_hour_price", "currency"});
  if (!f) return;
  if (auto v = f->Find("gpu_hour_price")) spec_.costs.gpu_hour_price = NonNegative(*v);
  if (auto v = f->Find("collection_hour_price")) {
    spec_.costs.collection_hour_price = NonNegative(*v);
  }
  if (auto v = f->Find("currency")) {
    std::optional<std::string> currency = Text(*v, kName);
    if (currency && (currency->size() != 3 ||
                     !std::all_of(currency->begin(), currency->end(), absl::ascii_isupper))) {
      Add(*v, absl::StrCat("expected a three-letter currency code such as USD, got ",
                           Quote(*currency)));
    } else if (currency) {
      spec_.costs.currency = *currency;
    }
  }
}

// ---------------------------------------------------------------------------
// Cross-field checks.

bool HasMixedRuns(const SweepSpec& spec) {
  return std::any_of(spec.sources.begin(), spec.sources.end(), [](const Source& s) {
    return std::any_of(s.n_nt.begin(), s.n_nt.end(), [](int64_t n) { return n > 0; });
  });
}

// The baseline (N_nt = 0) comes from exactly one place: this sweep or an
// earlier one.
void SpecReader::CheckBaseline() {
  // A scaling sweep has no teleop-only runs; its baseline_from_sweep is
  // optional (the teleop curve that turns its points into exchange rates).
  if (!sources_ || spec_.sources.empty() || scaling()) return;
  bool own = spec_.has_own_baseline();
  if (own && baseline_from_sweep_) {
    Add(*baseline_from_sweep_,
        "ambiguous baseline: a source lists n_nt 0, so this sweep runs its own teleop-only "
        "baseline; remove baseline_from_sweep or the 0");
  } else if (!own && !baseline_from_sweep_) {
    AddAtKey(*sources_, "no teleop-only baseline: list 0 in some source's n_nt, or set "
                        "baseline_from_sweep to the id of an earlier sweep that ran it");
  }
}

// Equal compute: T_pre + T_ft == T_total, with both positive when there are
// mixed runs.
void SpecReader::CheckProtocol() {
  if (!protocol_ || !protocol_->node.IsMap()) return;
  const bool mixed = !scaling() && HasMixedRuns(spec_);
  const bool either = pretrain_steps_ || finetune_steps_;
  bool ok = true;
  auto check = [&](const std::optional<Value>& value, const std::optional<int64_t>& steps,
                   absl::string_view key) {
    if (!value) {
      if (mixed || either) {
        problems_.Add(protocol_->key_line, JoinPath(protocol_->path, key),
                      mixed ? "missing required field: a source has n_nt > 0, so mixed runs "
                              "need pretrain_steps and finetune_steps"
                            : "missing: give both pretrain_steps and finetune_steps");
      }
      ok = false;
    } else if (!steps) {
      ok = false;  // not an integer: already reported
    } else if (*steps < 0 || (mixed && *steps == 0)) {
      Add(*value, absl::StrCat("must be ", mixed ? "> 0 (there are mixed runs)" : ">= 0",
                               ", got ", *steps));
      ok = false;
    }
  };
  check(pretrain_steps_, pretrain_, "pretrain_steps");
  check(finetune_steps_, finetune_, "finetune_steps");
  const Protocol& p = spec_.protocol;
  if (!ok || p.total_steps <= 0) return;
  int64_t sum = 0;
  if (__builtin_add_overflow(p.pretrain_steps, p.finetune_steps, &sum) ||
      sum != p.total_steps) {
    Add(*pretrain_steps_,
        absl::StrCat("pretrain_steps + finetune_steps (", p.pretrain_steps, " + ",
                     p.finetune_steps, ") must equal total_steps (", p.total_steps,
                     "): equal compute for every run"));
  }
}

// Every stage the sweep runs has a command: train for the baseline, pretrain
// and finetune for each source with n_nt > 0.
void SpecReader::CheckStageTemplates() {
  int line = templates_ ? templates_->key_line : root_.line;
  if (scaling()) {
    for (size_t i = 0; i < spec_.sources.size(); ++i) {
      if (spec_.TemplateFor("train", &spec_.sources[i])) continue;
      problems_.Add(line, "templates.train",
                    absl::StrCat("missing: every run of a scaling sweep is a train job on "
                                 "sources[", i, "]; set templates.train or the source's own "
                                 "templates.train"));
    }
    return;
  }
  if (spec_.has_own_baseline() && !spec_.templates.train) {
    problems_.Add(line, "templates.train",
                  "missing: the sweep runs teleop-only baseline runs (a source lists n_nt 0), "
                  "which need a train template");
  }
  for (const char* stage : {"pretrain", "finetune"}) {
    std::vector<std::string> needing;  // sources with mixed runs and no template
    for (size_t i = 0; i < spec_.sources.size(); ++i) {
      const Source& source = spec_.sources[i];
      bool mixed = std::any_of(source.n_nt.begin(), source.n_nt.end(),
                               [](int64_t n) { return n > 0; });
      if (mixed && !spec_.TemplateFor(stage, &source)) {
        needing.push_back(absl::StrCat("sources[", i, "]"));
      }
    }
    if (needing.empty()) continue;
    problems_.Add(line, absl::StrCat("templates.", stage),
                  absl::StrCat("missing: ", absl::StrJoin(needing, ", "),
                               " list n_nt > 0 and need a ", stage, " template; set templates.",
                               stage, " or the source's own templates.", stage));
  }
}

// A scaling sweep: one source (the curve of one data kind).
void SpecReader::CheckScaling() {
  if (!scaling() || !sources_ || !sources_->node.IsSequence()) return;
  if (sources_->node.size() > 1) {
    AddAtKey(*sources_, absl::StrCat("a scaling sweep has exactly one source, got ",
                                     sources_->node.size(),
                                     "; submit one scaling sweep per source"));
  }
}

// Aggregation and intermediate checkpoints need simulation scenarios; the
// checkpoints need every training template the sweep runs to say where
// each lands.
void SpecReader::CheckEvaluation() {
  const Evaluation& eval = spec_.evaluation;
  const bool simulated = std::any_of(eval.scenarios.begin(), eval.scenarios.end(),
                                     [](const Scenario& s) {
                                       return s.evaluator == Evaluator::kSimulation;
                                     });
  if (aggregation_ && eval.aggregation == Aggregation::kMaxOverCheckpoints && !simulated &&
      !eval.scenarios.empty()) {
    Add(*aggregation_, "max_over_checkpoints needs a simulation scenario: robot scenarios "
                       "evaluate only the last checkpoint");
  }
  if (!checkpoints_ || eval.checkpoints.every_steps <= 0) return;
  if (!simulated) {
    if (!eval.scenarios.empty()) {
      AddAtKey(*checkpoints_, "only simulation scenarios evaluate intermediate checkpoints; add "
                              "a scenario with evaluator: simulation, or remove checkpoints");
    }
    return;
  }
  // The training jobs that get checkpoint steps, by their template: the
  // final stage of each run (train for baseline and scaling runs, finetune
  // for mixed runs). Keyed by where the template is, for the message.
  std::map<std::string, std::pair<const std::optional<CommandTemplate>*, int64_t>> used;
  const bool own_train = scaling() || spec_.has_own_baseline();
  for (size_t i = 0; i < spec_.sources.size(); ++i) {
    const Source& source = spec_.sources[i];
    const bool mixed = !scaling() && std::any_of(source.n_nt.begin(), source.n_nt.end(),
                                                 [](int64_t n) { return n > 0; });
    if (scaling()) {
      if (source.templates.train) {
        used[absl::StrCat("sources[", i, "].templates.train")] = {&source.templates.train,
                                                                  spec_.protocol.total_steps};
      } else {
        used["templates.train"] = {&spec_.templates.train, spec_.protocol.total_steps};
      }
    } else if (mixed) {
      if (source.templates.finetune) {
        used[absl::StrCat("sources[", i, "].templates.finetune")] = {
            &source.templates.finetune, spec_.protocol.finetune_steps};
      } else {
        used["templates.finetune"] = {&spec_.templates.finetune, spec_.protocol.finetune_steps};
      }
    }
  }
  if (own_train && !scaling()) {
    used["templates.train"] = {&spec_.templates.train, spec_.protocol.total_steps};
  }
  const CheckpointSelection& selection = eval.checkpoints;
  for (const auto& [path, entry] : used) {
    const auto& [command, steps] = entry;
    if (!command->has_value()) continue;  // reported as missing
    if ((*command)->checkpoint_at_step.empty()) {
      problems_.Add(checkpoints_->key_line, absl::StrCat(path, ".checkpoint_at_step"),
                    "missing: evaluation.checkpoints evaluates intermediate checkpoints of "
                    "this template's jobs, so it must say where the checkpoint of each step "
                    "lands, e.g. \"{output_dir}/checkpoints/{step}.ckpt\"");
    }
    if (steps <= 0) continue;
    int64_t count = (steps - 1) / selection.every_steps;
    if (selection.last > 0) count = std::min<int64_t>(count, selection.last);
    if (count > kMaxCheckpointsPerJob && every_steps_) {
      Add(*every_steps_,
          absl::StrCat("every ", selection.every_steps, " steps gives ", count,
                       " intermediate checkpoints per job of ", steps, " steps (", path,
                       "); at most ", kMaxCheckpointsPerJob,
                       ": raise every_steps or keep only the last ones (last)"));
      break;
    }
  }
}

// Quotas, checked once the spec is valid (the counts of an invalid spec
// mean little): RESOURCE_EXHAUSTED, with the count and the limit.
absl::Status CheckQuotas(const SweepSpec& spec, const SpecLimits& limits) {
  const int64_t runs = CountRuns(spec);
  if (runs > limits.max_runs && spec.design == Design::kScaling) {
    int64_t points = 0;
    for (const Source& s : spec.sources) points += static_cast<int64_t>(s.n_nt.size());
    return absl::ResourceExhaustedError(absl::StrCat(
        "line 1: (root): the sweep expands to ", runs, " runs (", points, " N values x ",
        spec.seeds.size(), " seeds), more than the limit of ", limits.max_runs,
        " runs per sweep; submit a smaller sweep and extend it later"));
  }
  if (runs > limits.max_runs) {
    int64_t mixed = 0;
    for (const Source& s : spec.sources) {
      mixed += std::count_if(s.n_nt.begin(), s.n_nt.end(), [](int64_t n) { return n > 0; });
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "line 1: (root): the sweep expands to ", runs, " runs (", spec.teleop.n_tele.size(),
        " N_tele values x (", spec.has_own_baseline() ? "1 baseline + " : "", mixed,
        " mixed) x ", spec.seeds.size(), " seeds), more than the limit of ", limits.max_runs,
        " runs per sweep; submit a smaller sweep and extend it later"));
  }
  const int64_t episodes = CountSubsetEpisodes(spec);
  if (episodes > limits.max_subset_episodes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "line 1: (root): the sweep's jobs train on ", episodes,
        " demos in all (the sum of N over its jobs), more than the limit of ",
        limits.max_subset_episodes,
        " per sweep (each is listed in a subset manifest); use smaller N or fewer seeds"));
  }
  return absl::OkStatus();
}

// yaml-cpp's messages quote the offending character as it is ("unknown
// escape character: " and the byte, a newline or ESC among them): control
// characters are written \xHH so that the problem stays one message line.
std::string OneLine(absl::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out;
}

// Where the event stream of one document starts; nothing else is kept.
class FirstMark : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> mark;

  void OnDocumentStart(const YAML::Mark& m) override { Note(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Note(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Note(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Note(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Note(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Note(m);
  }
  void OnMapEnd() override {}

 private:
  void Note(const YAML::Mark& m) {
    if (!mark) mark = m;
  }
};

// The line where a second document (or text yaml-cpp could not fit into the
// first one) starts, if any. yaml-cpp 0.7's LoadAll loops forever, allocating,
// on input such as "[a], b": its parser keeps returning empty documents
// without consuming the stray token (fixed upstream in 2026). So documents are
// never loaded in a loop: this asks the parser for at most two.
std::optional<int> SecondDocumentLine(const std::string& text) {
  std::stringstream stream(text);
  YAML::Parser parser(stream);
  FirstMark first, second;
  if (!parser.HandleNextDocument(first)) return std::nullopt;
  if (!parser.HandleNextDocument(second)) return std::nullopt;
  return second.mark ? second.mark->line + 1 : 1;
}

}  // namespace

bool IsKnownPlaceholder(std::string_view name, std::string_view stage) {
  // Debian's abseil has its own string_view type; the API takes std's.
  return KnownPlaceholder(absl::string_view(name.data(), name.size()),
                          absl::string_view(stage.data(), stage.size()));
}

absl::StatusOr<ParsedSpec> ParseSweepSpec(std::string_view yaml_text,
                                          const SpecLimits& limits) {
  if (yaml_text.size() > kMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat("line 1: (root): the spec is ",
                                                   yaml_text.size(), " bytes; at most ",
                                                   kMaxSpecBytes, " are allowed"));
  }
  // yaml-cpp reports syntax errors (and nesting deeper than it allows) by
  // throwing; nothing may escape to the caller.
  try {
    const std::string text(yaml_text);
    YAML::Node root = YAML::Load(text);
    if (std::optional<int> line = SecondDocumentLine(text)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", *line, ": (yaml): more than one YAML document, or text after the end of "
          "the first; a spec is a single document"));
    }
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(
          "line 1: (root): the spec is empty (expected a map starting with `version: 1`)");
    }
    SpecReader reader(limits);
    SweepSpec spec = reader.Read(root);
    if (!reader.problems().empty()) return reader.problems().ToStatus();
    if (absl::Status quota = CheckQuotas(spec, limits); !quota.ok()) return quota;
    return ParsedSpec{std::move(spec), std::string(yaml_text)};
  } catch (const YAML::DeepRecursion& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", std::max(e.mark.line + 1, 1), ": (yaml): nesting is too deep for a spec"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", std::max(e.mark.line + 1, 1), ": (yaml): YAML syntax error: ", OneLine(e.msg)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line 1: (yaml): cannot read the spec: ",
                                                   OneLine(e.what())));
  }
}

int64_t CountRuns(const SweepSpec& spec) {
  if (spec.design == Design::kScaling) {
    // One run per (N, seed): no teleop.
    int64_t points = 0;
    for (const Source& s : spec.sources) {
      points += std::count_if(s.n_nt.begin(), s.n_nt.end(), [](int64_t n) { return n > 0; });
    }
    int64_t runs = 0;
    if (__builtin_mul_overflow(points, static_cast<int64_t>(spec.seeds.size()), &runs)) {
      return std::numeric_limits<int64_t>::max();
    }
    return runs;
  }
  int64_t per_n_and_seed = spec.has_own_baseline() ? 1 : 0;
  for (const Source& s : spec.sources) {
    per_n_and_seed += std::count_if(s.n_nt.begin(), s.n_nt.end(), [](int64_t n) { return n > 0; });
  }
  // Saturate rather than overflow: the result is compared with a limit.
  int64_t runs = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(spec.teleop.n_tele.size()), per_n_and_seed,
                             &runs) ||
      __builtin_mul_overflow(runs, static_cast<int64_t>(spec.seeds.size()), &runs)) {
    return std::numeric_limits<int64_t>::max();
  }
  return runs;
}

int64_t CountSubsetEpisodes(const SweepSpec& spec) {
  // Saturating: the result is compared with a limit.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const auto add = [](int64_t a, int64_t b) {
    int64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? kMax : sum;
  };
  const auto mul = [](int64_t a, int64_t b) {
    int64_t product = 0;
    return __builtin_mul_overflow(a, b, &product) ? kMax : product;
  };
  int64_t teleop = 0;  // sum of N_tele
  for (int64_t n : spec.teleop.n_tele) teleop = add(teleop, n);
  int64_t mixed_points = 0;  // (source, N_nt > 0) pairs
  int64_t pretrain = 0;      // sum of N_nt > 0 over sources
  for (const Source& s : spec.sources) {
    for (int64_t n : s.n_nt) {
      if (n <= 0) continue;
      ++mixed_points;
      pretrain = add(pretrain, n);
    }
  }
  if (spec.design == Design::kScaling) {
    // One train job per (N, seed) on N source demos.
    return mul(pretrain, static_cast<int64_t>(spec.seeds.size()));
  }
  const int64_t per_seed = add(
      mul(add(spec.has_own_baseline() ? 1 : 0, mixed_points), teleop),  // train + finetune
      pretrain);                                                         // pretrains
  return mul(per_seed, static_cast<int64_t>(spec.seeds.size()));
}

}  // namespace mixsweep::spec
