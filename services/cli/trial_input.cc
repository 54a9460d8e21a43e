#include "services/cli/trial_input.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <map>
#include <ostream>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/cli/csv.h"

namespace mixsweep::cli {
namespace v1 = mixsweep::v1;

namespace {

// "0.5", "0.3333", "1": a rubric value for people.
std::string Value(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

bool IsMilestones(const v1::Rubric& rubric) { return rubric.kind() == v1::RUBRIC_KIND_MILESTONES; }

}  // namespace

std::optional<bool> ParseBool(absl::string_view text) {
  const std::string word = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (word == "true" || word == "1" || word == "yes") return true;
  if (word == "false" || word == "0" || word == "no") return false;
  return std::nullopt;
}

absl::StatusOr<double> ParseSeconds(absl::string_view text) {
  const absl::string_view word = absl::StripAsciiWhitespace(text);
  double seconds = 0;
  // from_chars takes no sign but '-', no "inf" words we want, and must
  // consume the whole word.
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), seconds);
  if (word.empty() || error != std::errc() || end != word.data() + word.size()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", word, "\" is not a number of seconds"));
  }
  if (!std::isfinite(seconds)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", word, "\" is not a finite duration"));
  }
  if (seconds < 0) {
    return absl::InvalidArgumentError(absl::StrCat("a duration cannot be negative (", word, ")"));
  }
  if (seconds > kMaxTrialSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(word, " s is more than a day; the duration is in seconds"));
  }
  return seconds;
}

void SetDuration(double seconds, google::protobuf::Duration* duration) {
  const double whole = std::floor(seconds);
  auto nanos = static_cast<int32_t>(std::llround((seconds - whole) * 1e9));
  auto secs = static_cast<int64_t>(whole);
  if (nanos >= 1000000000) {
    nanos -= 1000000000;
    ++secs;
  }
  duration->set_seconds(secs);
  duration->set_nanos(nanos);
}

std::vector<std::string> SplitList(absl::string_view text, char separator) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, separator)) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

double RubricScore(const v1::Rubric& rubric, const std::vector<std::string>& achieved) {
  if (IsMilestones(rubric)) {
    // The value of the stage that comes last in the rubric among those named.
    double score = 0;
    int last = -1;
    for (int i = 0; i < rubric.entries_size(); ++i) {
      if (std::find(achieved.begin(), achieved.end(), rubric.entries(i).name()) != achieved.end() &&
          i > last) {
        last = i;
        score = rubric.entries(i).value();
      }
    }
    return score;
  }
  double sum = 0;
  for (const v1::RubricEntry& item : rubric.entries()) {
    if (std::find(achieved.begin(), achieved.end(), item.name()) != achieved.end()) {
      sum += item.value();
    }
  }
  return std::min(sum, 1.0);
}

// --- Corrections ---------------------------------------------------------------

v1::TrialInput CorrectedInput(const v1::TrialInput& current, const TrialCorrection& change) {
  v1::TrialInput out = current;
  out.clear_achieved();
  for (const std::string& name : change.achieved) out.add_achieved(name);
  if (change.success) out.set_success(*change.success);
  if (change.intervention) out.set_intervention(*change.intervention);
  if (change.safety_stop) out.set_safety_stop(*change.safety_stop);
  if (change.duration_s) SetDuration(*change.duration_s, out.mutable_duration());
  if (change.notes) out.set_notes(*change.notes);
  if (change.operator_name) out.set_operator_(*change.operator_name);
  if (change.robot_id) out.set_robot_id(*change.robot_id);
  return out;
}

// --- Trial files --------------------------------------------------------------

const std::vector<std::string>& TrialFileColumns() {
  static const std::vector<std::string> kColumns = {"trial_index", "achieved",     "success",
                                                    "duration_s",  "intervention", "safety_stop",
                                                    "notes",       "video_uris"};
  return kColumns;
}

absl::StatusOr<TrialFile> ParseTrialFile(absl::string_view text) {
  absl::StatusOr<std::vector<CsvRecord>> records = ParseCsv(text);
  if (!records.ok()) return records.status();
  if (records->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the file is empty; its first line names the columns: ",
                     absl::StrJoin(TrialFileColumns(), ",")));
  }
  // The header: which field holds which column.
  const CsvRecord& header = records->front();
  std::map<std::string, int> index_of;  // column name -> field index
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header.fields[i]));
    const auto& known = TrialFileColumns();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", header.line, ", column ", i + 1, ": unknown column \"",
                       header.fields[i], "\"; the columns are ", absl::StrJoin(known, ",")));
    }
    if (auto [it, inserted] = index_of.emplace(name, static_cast<int>(i)); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat("line ", header.line, ", column ", i + 1,
                                                     ": column ", name, " is also column ",
                                                     it->second + 1));
    }
  }
  for (const std::string& name : TrialFileColumns()) {
    if (!index_of.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", header.line, ": the header has no column ", name,
                       "; the columns are ", absl::StrJoin(TrialFileColumns(), ",")));
    }
  }

  TrialFile file;
  std::map<int, int> line_of_index;  // trial_index -> line
  for (size_t r = 1; r < records->size(); ++r) {
    const CsvRecord& record = (*records)[r];
    if (record.fields.size() != header.fields.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", record.line, ": ", record.fields.size(), " fields, the header has ",
                       header.fields.size()));
    }
    auto field = [&](const std::string& name) -> const std::string& {
      return record.fields[index_of.at(name)];
    };
    auto error = [&](const std::string& name, const std::string& message) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", record.line, ", column ", index_of.at(name) + 1, " (", name, "): ", message));
    };
    auto boolean = [&](const std::string& name, std::optional<bool> empty_means,
                       bool* out) -> absl::Status {
      const absl::string_view value = absl::StripAsciiWhitespace(field(name));
      if (value.empty() && empty_means.has_value()) {
        *out = *empty_means;
        return absl::OkStatus();
      }
      std::optional<bool> parsed = ParseBool(value);
      if (!parsed.has_value()) {
        return error(name, absl::StrCat(value.empty() ? "empty" : absl::StrCat("\"", value, "\""),
                                        "; write true/false, 1/0 or yes/no"));
      }
      *out = *parsed;
      return absl::OkStatus();
    };

    v1::TrialInput trial;
    // trial_index: a non-negative integer, once per file.
    const absl::string_view index_text = absl::StripAsciiWhitespace(field("trial_index"));
    int index = 0;
    if (index_text.empty() ||
        !std::all_of(index_text.begin(), index_text.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
        !absl::SimpleAtoi(index_text, &index)) {
      return error("trial_index",
                   absl::StrCat("\"", index_text, "\" is not a trial index (0, 1, 2, ...)"));
    }
    if (auto [it, inserted] = line_of_index.emplace(index, record.line); !inserted) {
      return error("trial_index", absl::StrCat("trial ", index, " is also on line ", it->second));
    }
    trial.set_trial_index(index);

    // achieved: names of the rubric, each once.
    std::vector<std::string> achieved = SplitList(field("achieved"), ';');
    std::set<std::string> seen;
    for (const std::string& name : achieved) {
      if (!seen.insert(name).second) {
        return error("achieved", absl::StrCat("\"", name, "\" is named twice"));
      }
      trial.add_achieved(name);
    }

    bool value = false;
    if (absl::Status s = boolean("success", std::nullopt, &value); !s.ok()) return s;
    trial.set_success(value);
    if (absl::Status s = boolean("intervention", false, &value); !s.ok()) return s;
    trial.set_intervention(value);
    if (absl::Status s = boolean("safety_stop", false, &value); !s.ok()) return s;
    trial.set_safety_stop(value);

    if (!absl::StripAsciiWhitespace(field("duration_s")).empty()) {
      absl::StatusOr<double> seconds = ParseSeconds(field("duration_s"));
      if (!seconds.ok()) return error("duration_s", std::string(seconds.status().message()));
      SetDuration(*seconds, trial.mutable_duration());
    }
    trial.set_notes(field("notes"));
    for (const std::string& uri : SplitList(field("video_uris"), ';')) trial.add_video_uris(uri);

    file.trials.push_back(std::move(trial));
    file.lines.push_back(record.line);
  }
  if (file.trials.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", header.line, ": only a header; the file has no trials"));
  }
  return file;
}

// --- Prompts ------------------------------------------------------------------

namespace {

// Reads answers line by line; q (or quit) at any question quits.
class Asker {
 public:
  Asker(std::istream& in, std::ostream& out) : in_(in), out_(out) {}

  enum class Got { kAnswer, kQuit, kEnded };

  Got Ask(const std::string& question, std::string* answer) {
    out_ << question << std::flush;
    std::string line;
    if (!std::getline(in_, line)) {
      out_ << "\n";
      return Got::kEnded;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string word = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line));
    if (word == "q" || word == "quit") return Got::kQuit;
    *answer = line;
    return Got::kAnswer;
  }

  // y/n (yes/no, true/false, 1/0); empty takes `fallback` when there is one.
  Got AskYesNo(const std::string& question, std::optional<bool> fallback, bool* out) {
    const std::string hint = !fallback.has_value() ? "[y/n]" : *fallback ? "[Y/n]" : "[y/N]";
    while (true) {
      std::string answer;
      const Got got = Ask(absl::StrCat(question, " ", hint, ": "), &answer);
      if (got != Got::kAnswer) return got;
      const std::string word = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
      if (word.empty() && fallback.has_value()) {
        *out = *fallback;
        return got;
      }
      std::optional<bool> parsed = word == "y"   ? std::optional<bool>(true)
                                   : word == "n" ? std::optional<bool>(false)
                                                 : ParseBool(word);
      if (parsed.has_value()) {
        *out = *parsed;
        return got;
      }
      out_ << "  please answer y or n (q quits)\n";
    }
  }

  std::ostream& out() { return out_; }

 private:
  std::istream& in_;
  std::ostream& out_;
};

}  // namespace

std::string DescribeTrial(const v1::Rubric& rubric, const v1::TrialInput& input, double score) {
  std::vector<std::string> parts;
  const std::string names =
      input.achieved().empty() ? "none" : absl::StrJoin(input.achieved(), ", ");
  parts.push_back(absl::StrCat(IsMilestones(rubric) ? "reached " : "achieved ", names));
  parts.push_back(absl::StrCat("score ", Value(score)));
  parts.push_back(absl::StrCat("success ", input.success() ? "yes" : "no"));
  if (input.has_duration()) {
    parts.push_back(absl::StrCat(
        Value(static_cast<double>(input.duration().seconds()) + input.duration().nanos() * 1e-9),
        "s"));
  } else {
    parts.push_back("no duration");
  }
  parts.push_back(input.intervention() ? "intervention" : "no intervention");
  parts.push_back(input.safety_stop() ? "SAFETY STOP" : "no safety stop");
  std::string out = absl::StrCat("trial ", input.trial_index(), ": ", absl::StrJoin(parts, " · "));
  if (!input.notes().empty()) absl::StrAppend(&out, " · notes: ", input.notes());
  return out;
}

PromptedTrial PromptTrial(const v1::Rubric& rubric, const TrialPrompt& prompt, std::istream& in,
                          std::ostream& out) {
  using Got = Asker::Got;
  Asker asker(in, out);
  PromptedTrial result;
  bool began = false;  // an answer was given for this trial
  // What a question that did not get an answer means.
  auto stop = [&](Got got) {
    result.outcome = got == Got::kEnded && began ? PromptedTrial::Outcome::kInputEnded
                                                 : PromptedTrial::Outcome::kQuit;
    return result;
  };

  while (true) {
    v1::TrialInput trial;
    trial.set_trial_index(prompt.trial_index);
    out << "\nTrial " << prompt.trial_index + 1 << " of " << prompt.trials_wanted << " · "
        << prompt.label << "   (index " << prompt.trial_index << "; q quits)\n";

    std::vector<std::string> achieved;
    if (IsMilestones(rubric) && rubric.entries_size() > 0) {
      out << "Last stage reached:\n  0) none (score 0)\n";
      for (int i = 0; i < rubric.entries_size(); ++i) {
        out << "  " << i + 1 << ") " << rubric.entries(i).name() << " (score "
            << Value(rubric.entries(i).value()) << ")\n";
      }
      while (true) {
        std::string answer;
        const Got got = asker.Ask(absl::StrCat("Stage [0-", rubric.entries_size(), "]: "), &answer);
        if (got != Got::kAnswer) return stop(got);
        int stage = -1;
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(answer), &stage) && stage >= 0 &&
            stage <= rubric.entries_size()) {
          if (stage > 0) achieved.push_back(rubric.entries(stage - 1).name());
          began = true;
          break;
        }
        out << "  please type a number from 0 to " << rubric.entries_size() << " (q quits)\n";
      }
    } else if (rubric.entries_size() > 0) {
      out << "Items achieved:\n";
      for (const v1::RubricEntry& item : rubric.entries()) {
        bool yes = false;
        const Got got =
            asker.AskYesNo(absl::StrCat("  ", item.name(), " (weight ", Value(item.value()), ")?"),
                           std::nullopt, &yes);
        if (got != Got::kAnswer) return stop(got);
        began = true;
        if (yes) achieved.push_back(item.name());
      }
    }
    for (const std::string& name : achieved) trial.add_achieved(name);
    const double score = RubricScore(rubric, achieved);
    out << "Score: " << Value(score) << "\n";

    bool value = false;
    Got got = asker.AskYesNo("Success?", score >= 1.0 - 1e-9, &value);
    if (got != Got::kAnswer) return stop(got);
    began = true;
    trial.set_success(value);

    while (true) {
      std::string answer;
      got = asker.Ask("Duration in seconds (empty: not recorded): ", &answer);
      if (got != Got::kAnswer) return stop(got);
      if (absl::StripAsciiWhitespace(answer).empty()) break;
      absl::StatusOr<double> seconds = ParseSeconds(answer);
      if (seconds.ok()) {
        SetDuration(*seconds, trial.mutable_duration());
        break;
      }
      out << "  " << seconds.status().message() << "\n";
    }
    got = asker.AskYesNo("Intervention?", false, &value);
    if (got != Got::kAnswer) return stop(got);
    trial.set_intervention(value);
    got = asker.AskYesNo("Safety stop?", false, &value);
    if (got != Got::kAnswer) return stop(got);
    trial.set_safety_stop(value);
    std::string notes;
    got = asker.Ask("Notes (empty: none): ", &notes);
    if (got != Got::kAnswer) return stop(got);
    trial.set_notes(std::string(absl::StripAsciiWhitespace(notes)));

    out << "-> " << DescribeTrial(rubric, trial, score) << "\n";
    bool send = true;
    got = asker.AskYesNo("Send it? (n: enter this trial again)", true, &send);
    if (got != Got::kAnswer) return stop(got);
    if (!send) continue;
    result.outcome = PromptedTrial::Outcome::kTrial;
    result.input = std::move(trial);
    result.score = score;
    return result;
  }
}

}  // namespace mixsweep::cli
