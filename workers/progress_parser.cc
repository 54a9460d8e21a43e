// Progress parsing: see progress_parser.h for the formats. The built-in
// formats are read by a tokenizer, not by regular expressions, so that a
// line of any content costs one linear scan.
#include "workers/progress_parser.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "workers/python_json.h"

namespace mixsweep::workers {
namespace {

using Tokens = std::vector<std::string_view>;

// Whitespace, commas (openpi's "a=1, b=2") and carriage returns (a progress
// bar redrawn in front of the line) all separate tokens.
bool IsSeparator(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',';
}

Tokens Tokenize(std::string_view line) {
  Tokens tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSeparator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsSeparator(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// lerobot's format_big_number suffixes, and what they multiply by.
std::optional<int64_t> SuffixMultiplier(char c) {
  switch (c) {
    case 'K': case 'k': return int64_t{1'000};
    case 'M': return int64_t{1'000'000};
    case 'B': return int64_t{1'000'000'000};
    case 'T': return int64_t{1'000'000'000'000};
    default: return std::nullopt;
  }
}

// A step count: "1200", "13K", "1.5K", "2M". A fraction needs a suffix
// ("2.5" is not a step); what the suffix leaves fractional is dropped
// ("1.2345K" is 1234). nullopt for anything else, negatives and overflow
// included.
std::optional<int64_t> ParseStepCount(std::string_view text) {
  size_t i = 0;
  int64_t mantissa = 0;
  int64_t divisor = 1;
  size_t digits = 0;
  bool in_fraction = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !in_fraction && digits > 0) {
      in_fraction = true;
      continue;
    }
    if (!IsDigit(c)) break;
    // 18 digits always fit in int64_t, so mantissa * 10 cannot overflow.
    if (++digits > 18) return std::nullopt;
    mantissa = mantissa * 10 + (c - '0');
    if (in_fraction) divisor *= 10;
  }
  if (digits == 0 || text[i - 1] == '.') return std::nullopt;
  int64_t multiplier = 1;
  if (i < text.size()) {
    std::optional<int64_t> suffix = SuffixMultiplier(text[i]);
    if (!suffix || i + 1 != text.size()) return std::nullopt;
    multiplier = *suffix;
  } else if (in_fraction) {
    return std::nullopt;
  }
  const __int128 value = static_cast<__int128>(mantissa) * multiplier / divisor;
  if (value > std::numeric_limits<int64_t>::max()) return std::nullopt;
  return static_cast<int64_t>(value);
}

// A finite number ("0.045", "1.0e-04", "-3"), or nullopt (NaN and infinity
// included: a metric is never either).
std::optional<double> ParseFiniteNumber(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Metric names as tools print them: "loss", "grad_norm", "train/loss".
bool IsMetricName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) ||
                    c == '_' || c == '.' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "name<sep>value" -> (name, value); nullopt without the separator.
std::optional<std::pair<std::string_view, std::string_view>> SplitPair(std::string_view token,
                                                                       char separator) {
  const size_t at = token.find(separator);
  if (at == std::string_view::npos) return std::nullopt;
  return std::make_pair(token.substr(0, at), token.substr(at + 1));
}

// Adds every "name=number" token of `tokens` (except `skip`) to `metrics`.
void AddEqualsMetrics(const Tokens& tokens, size_t first, std::string_view skip,
                      std::map<std::string, double>& metrics) {
  for (size_t i = first; i < tokens.size(); ++i) {
    auto pair = SplitPair(tokens[i], '=');
    if (!pair || pair->first == skip || !IsMetricName(pair->first)) continue;
    if (auto value = ParseFiniteNumber(pair->second)) metrics[std::string(pair->first)] = *value;
  }
}

// lerobot: "step:13K ... loss:0.045 grdn:0.912 lr:1.0e-04".
std::optional<ProgressSample> ParseLerobot(const Tokens& tokens) {
  static constexpr std::pair<std::string_view, std::string_view> kMetrics[] = {
      {"loss", "loss"}, {"grdn", "grad_norm"}, {"lr", "lr"}};
  std::optional<ProgressSample> sample;
  for (std::string_view token : tokens) {
    if (token.substr(0, 5) != "step:") continue;
    std::optional<int64_t> step = ParseStepCount(token.substr(5));
    if (!step) return std::nullopt;
    sample = ProgressSample{.step = *step, .metrics = {}};
    break;
  }
  if (!sample) return std::nullopt;
  for (std::string_view token : tokens) {
    auto pair = SplitPair(token, ':');
    if (!pair) continue;
    for (const auto& [printed, name] : kMetrics) {
      if (pair->first != printed) continue;
      if (auto value = ParseFiniteNumber(pair->second)) sample->metrics[std::string(name)] = *value;
    }
  }
  return sample;
}

// openpi: "Step 1200: grad_norm=0.4123, loss=0.0312, param_norm=...".
std::optional<ProgressSample> ParseOpenpi(const Tokens& tokens) {
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (tokens[i] != "Step") continue;
    std::string_view number = tokens[i + 1];
    if (number.size() < 2 || number.back() != ':') continue;
    number.remove_suffix(1);
    std::optional<int64_t> step = ParseStepCount(number);
    if (!step || !IsDigit(number.back())) continue;  // digits only: no suffix
    ProgressSample sample{.step = *step, .metrics = {}};
    AddEqualsMetrics(tokens, i + 2, "", sample.metrics);
    return sample;
  }
  return std::nullopt;
}

// plain: "step=1200 loss=0.0312".
std::optional<ProgressSample> ParsePlain(const Tokens& tokens) {
  for (std::string_view token : tokens) {
    if (token.substr(0, 5) != "step=") continue;
    std::optional<int64_t> step = ParseStepCount(token.substr(5));
    if (!step) return std::nullopt;
    ProgressSample sample{.step = *step, .metrics = {}};
    AddEqualsMetrics(tokens, 0, "step", sample.metrics);
    return sample;
  }
  return std::nullopt;
}

// mimicgen: "have 950 successes out of 1187 trials so far", printed after
// every trial (its "have 237 failures out of ..." twin is not progress).
std::optional<ProgressSample> ParseMimicgen(const Tokens& tokens) {
  static constexpr std::string_view kWords[] = {"have", "", "successes", "out", "of",
                                                "",     "trials", "so",   "far"};
  constexpr size_t kLength = std::size(kWords);
  for (size_t i = 0; i + kLength <= tokens.size(); ++i) {
    bool match = true;
    for (size_t k = 0; k < kLength && match; ++k) {
      match = kWords[k].empty() || tokens[i + k] == kWords[k];
    }
    if (!match) continue;
    // Plain digits: MimicGen prints Python ints.
    std::optional<int64_t> successes = ParseStepCount(tokens[i + 1]);
    std::optional<int64_t> trials = ParseStepCount(tokens[i + 5]);
    if (!successes || !trials || !IsDigit(tokens[i + 1].back()) ||
        !IsDigit(tokens[i + 5].back()) || *successes > *trials) {
      return std::nullopt;
    }
    return ProgressSample{.step = *successes,
                          .metrics = {{"attempts", static_cast<double>(*trials)}}};
  }
  return std::nullopt;
}

std::optional<ProgressSample> ParseBuiltIn(std::string_view line) {
  const Tokens tokens = Tokenize(line);
  if (auto sample = ParseLerobot(tokens)) return sample;
  if (auto sample = ParseOpenpi(tokens)) return sample;
  if (auto sample = ParseMimicgen(tokens)) return sample;
  return ParsePlain(tokens);
}

std::optional<ProgressSample> ParseWithPattern(const std::regex& pattern,
                                               std::string_view line) {
  if (line.size() > kMaxPatternLineBytes) return std::nullopt;
  std::match_results<std::string_view::const_iterator> match;
  try {
    if (!std::regex_search(line.begin(), line.end(), match, pattern)) return std::nullopt;
  } catch (const std::regex_error&) {  // error_complexity or error_stack
    return std::nullopt;
  }
  std::optional<int64_t> step =
      ParseStepCount(std::string_view(match[1].first, match[1].second));
  if (!step) return std::nullopt;  // also an unmatched group (empty text)
  ProgressSample sample{.step = *step, .metrics = {}};
  if (match.size() > 2) {
    std::string_view loss(match[2].first, match[2].second);
    if (auto value = ParseFiniteNumber(loss)) sample.metrics["loss"] = *value;
  }
  return sample;
}

// Python's json.dumps writes NaN, Infinity and -Infinity bare, which is not
// JSON; outside strings they become null so the rest of the line still reads.
std::string NullNonFiniteNumbers(std::string_view line) {
  return ReplaceBareNonFinite(line, [](std::string_view) { return std::string("null"); });
}

// A JSON value that is a non-negative integer (1200 or 1200.0).
std::optional<int64_t> JsonStep(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto step = value.get<uint64_t>();
    if (step > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(step);
  }
  if (value.is_number_integer()) {
    const auto step = value.get<int64_t>();
    return step >= 0 ? std::optional<int64_t>(step) : std::nullopt;
  }
  if (value.is_number_float()) {
    const double step = value.get<double>();
    // 2^63 as a double: the first value that does not fit.
    if (!(step >= 0 && step < 9.2233720368547758e18) || step != std::floor(step)) {
      return std::nullopt;
    }
    return static_cast<int64_t>(step);
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<ProgressParser> ProgressParser::Create(const std::string& custom_pattern) {
  ProgressParser parser;
  if (custom_pattern.empty()) return parser;
  try {
    auto pattern = std::make_shared<const std::regex>(custom_pattern, std::regex::ECMAScript);
    if (pattern->mark_count() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("progress_pattern: ", custom_pattern,
                       " has no capture group; the first group must capture the step, "
                       "e.g. step=(\\d+)"));
    }
    parser.custom_ = std::move(pattern);
  } catch (const std::regex_error& error) {
    return absl::InvalidArgumentError(absl::StrCat(
        "progress_pattern: ", custom_pattern,
        " is not a valid ECMAScript regular expression (", error.what(), ")"));
  }
  return parser;
}

std::optional<ProgressSample> ProgressParser::ParseLine(std::string_view line) const {
  if (line.size() > kMaxProgressLineBytes) return std::nullopt;
  if (custom_) return ParseWithPattern(*custom_, line);
  return ParseBuiltIn(line);
}

std::optional<ProgressSample> ParseDiffusionPolicyLogLine(std::string_view line) {
  if (line.size() > kMaxProgressLineBytes) return std::nullopt;
  const nlohmann::json object =
      nlohmann::json::parse(NullNonFiniteNumbers(line), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return std::nullopt;  // also a parse error (discarded)
  auto global_step = object.find("global_step");
  if (global_step == object.end()) return std::nullopt;
  std::optional<int64_t> step = JsonStep(*global_step);
  if (!step) return std::nullopt;
  ProgressSample sample{.step = *step, .metrics = {}};
  for (const auto& [name, value] : object.items()) {
    if (name == "global_step" || !value.is_number()) continue;
    const double number = value.get<double>();
    if (std::isfinite(number)) sample.metrics[name] = number;
  }
  if (auto loss = sample.metrics.find("train_loss"); loss != sample.metrics.end()) {
    sample.metrics["loss"] = loss->second;
  }
  return sample;
}

}  // namespace mixsweep::workers
