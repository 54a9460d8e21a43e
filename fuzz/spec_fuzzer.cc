// Fuzz target: the sweep-spec parser and validator (scheduler/spec/).
//
// The input is the YAML text a researcher submits. Beyond "no crash, no
// sanitizer report, no leak, no hang":
//   - a refused spec is INVALID_ARGUMENT, or RESOURCE_EXHAUSTED when only a
//     quota (runs, demos) is exceeded: then it parses with the quotas lifted;
//     every line of the message reads `line L: path: what` (L >= 1, a path
//     without spaces), or is the final `... and N more problems`;
//   - an accepted spec keeps the submitted text, obeys the documented rules
//     (checked here independently: rubric, counts, seeds, protocol sums,
//     one baseline, stage templates, the run limit);
//   - an accepted spec re-validates: written back as YAML (by this target's
//     own emitter) it parses OK again, to the very same spec; and read back
//     as a stored spec (SpecLimits::ForStoredSpecs) it is the same spec;
//   - seed 001's keys: a scaling sweep has no teleop and one source, a
//     generated source's dataset is its generate job's, simulation
//     scenarios' and generate commands have their result keys, intermediate
//     checkpoints have simulation scenarios and checkpoint_at_step;
//   - every template an accepted spec gives a stage renders (workers/
//     command_render.h) with the spec's own values ({task}, {policy},
//     {code_version}, {dataset}, {dataset_hash}) and well-formed worker ones:
//     the validator never accepts a spec whose jobs would all be refused.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fuzz/fuzz_check.h"
#include "scheduler/spec/spec_parser.h"
#include "scheduler/spec/sweep_spec.h"
#include "workers/command_render.h"

namespace mixsweep::fuzz {
namespace {

using spec::CommandTemplate;
using spec::SweepSpec;

const spec::SpecLimits kLimits;  // the defaults, as mixsweepd uses them

// ---------------------------------------------------------------------------
// Error messages.

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

void CheckErrorMessage(const absl::Status& status, std::string_view input) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kResourceExhausted,
             status.ToString());
  const std::string message(status.message());
  FUZZ_CHECK(!message.empty(), "empty message");
  std::vector<std::string> lines = absl::StrSplit(message, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string detail = absl::StrCat("line ", i, " of the message: '", line,
                                            "'\nwhole message:\n", message, "\ninput:\n",
                                            std::string(input.substr(0, 2000)));
    if (i + 1 == lines.size() && line.rfind("... and ", 0) == 0) {
      FUZZ_CHECK(line.size() > 22 && line.substr(line.size() - 14) == " more problems",
                 detail);
      continue;
    }
    FUZZ_CHECK(line.rfind("line ", 0) == 0, detail);
    const size_t colon = line.find(": ", 5);
    FUZZ_CHECK(colon != std::string::npos, detail);
    const std::string_view number = std::string_view(line).substr(5, colon - 5);
    FUZZ_CHECK(IsDigits(number) && number[0] != '0', detail);
    const size_t path_end = line.find(": ", colon + 2);
    FUZZ_CHECK(path_end != std::string::npos && path_end > colon + 2, detail);
    const std::string_view path = std::string_view(line).substr(colon + 2, path_end - colon - 2);
    FUZZ_CHECK(path.find(' ') == std::string_view::npos, detail);
    FUZZ_CHECK(path_end + 2 < line.size(), detail);  // says what is wrong
  }
}

// ---------------------------------------------------------------------------
// The documented rules, checked on an accepted spec.

bool IsIdentifier(std::string_view s) {
  if (s.empty() || !absl::ascii_islower(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
  });
}

// Whether `text` uses {name} as a placeholder ({{ and }} are literal
// braces).
bool UsesPlaceholder(std::string_view text, std::string_view name) {
  for (size_t i = 0; i < text.size(); ++i) {
    if ((text[i] == '{' || text[i] == '}') && i + 1 < text.size() && text[i + 1] == text[i]) {
      ++i;
      continue;
    }
    if (text[i] != '{') continue;
    const size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) return false;
    if (text.substr(i + 1, close - i - 1) == name) return true;
    i = close;
  }
  return false;
}

void CheckTemplate(const CommandTemplate& t, std::string_view stage, const std::string& where) {
  FUZZ_CHECK(t.argv.empty() != t.shell.empty(), where + ": exactly one of argv and shell");
  if (!t.argv.empty()) FUZZ_CHECK(!t.argv[0].empty(), where + ": empty argv[0]");
  auto uses = [&t](std::string_view name, bool in_checkpoint) {
    bool found = UsesPlaceholder(t.shell, name) ||
                 (in_checkpoint && UsesPlaceholder(t.checkpoint, name));
    for (const std::string& a : t.argv) found = found || UsesPlaceholder(a, name);
    for (const auto& [key, value] : t.env) found = found || UsesPlaceholder(value, name);
    return found;
  };
  if (stage == "finetune") {
    FUZZ_CHECK(uses("init_checkpoint", true),
               where + ": a finetune template without {init_checkpoint}");
  }
  const bool training = stage == "train" || stage == "pretrain" || stage == "finetune";
  if (training) {
    FUZZ_CHECK(t.result_file.empty() && t.result_format.empty(),
               where + ": result keys in a training template");
    FUZZ_CHECK(t.checkpoint_at_step.empty() || UsesPlaceholder(t.checkpoint_at_step, "step"),
               where + ": checkpoint_at_step without {step}");
    FUZZ_CHECK(!uses("step", true), where + ": {step} outside checkpoint_at_step");
  } else {
    FUZZ_CHECK(t.checkpoint_at_step.empty(), where + ": checkpoint_at_step outside training");
    FUZZ_CHECK(!t.result_file.empty(), where + ": no result_file");
  }
  if (stage == "generate") {
    FUZZ_CHECK(t.result_format == "mimicgen", where + ": result_format " + t.result_format);
    FUZZ_CHECK(!t.checkpoint.empty(), where + ": a generate command without its checkpoint");
  }
  if (stage == "evaluate") {
    FUZZ_CHECK(t.result_format == "lerobot" || t.result_format == "diffusion_policy" ||
                   t.result_format == "mixsweep",
               where + ": result_format " + t.result_format);
    FUZZ_CHECK(t.checkpoint.empty(), where + ": an evaluate command with a checkpoint");
    FUZZ_CHECK(uses("checkpoint", false), where + ": an evaluate command without {checkpoint}");
  }
  for (int code : t.no_retry_exit_codes) FUZZ_CHECK(code >= 1 && code <= 255, where);
}

void CheckCounts(const std::vector<int64_t>& counts, const spec::Dataset& dataset, bool zero,
                 const std::string& where) {
  FUZZ_CHECK(!counts.empty(), where + ": empty");
  FUZZ_CHECK(dataset.episodes >= 1, where + ": dataset without episodes");
  std::set<int64_t> seen;
  for (int64_t n : counts) {
    FUZZ_CHECK(n >= (zero ? 0 : 1) && n <= dataset.episodes, absl::StrCat(where, ": ", n));
    FUZZ_CHECK(seen.insert(n).second, absl::StrCat(where, ": duplicate ", n));
  }
}

void CheckRules(const SweepSpec& s) {
  FUZZ_CHECK(s.version == 1, "version");
  FUZZ_CHECK(!s.task.name.empty() && !s.policy.empty(), "task name or policy empty");

  // Rubric.
  const auto& entries = s.task.rubric.entries;
  FUZZ_CHECK(!entries.empty() && entries.size() <= 100, "rubric size");
  std::set<std::string> names;
  double sum = 0, previous = 0;
  for (const spec::RubricEntry& e : entries) {
    FUZZ_CHECK(IsIdentifier(e.name), "rubric name " + e.name);
    FUZZ_CHECK(names.insert(e.name).second, "duplicate rubric name " + e.name);
    FUZZ_CHECK(std::isfinite(e.value) && e.value > 0 && e.value <= 1,
               absl::StrCat("rubric value ", e.value));
    if (s.task.rubric.kind == spec::RubricKind::kMilestones) {
      FUZZ_CHECK(e.value > previous, "milestones must increase");
      previous = e.value;
    }
    sum += e.value;
  }
  if (s.task.rubric.kind == spec::RubricKind::kMilestones) {
    FUZZ_CHECK(std::abs(entries.back().value - 1.0) <= 1e-9, "last milestone is not 1");
  } else {
    FUZZ_CHECK(std::abs(sum - 1.0) <= 1e-6, absl::StrCat("item weights sum to ", sum));
  }

  // Counts, sources, seeds.
  const bool scaling = s.design == spec::Design::kScaling;
  if (scaling) {
    FUZZ_CHECK(s.teleop.n_tele.empty() && s.teleop.dataset.uri.empty(), "teleop in scaling");
    FUZZ_CHECK(s.sources.size() == 1, "a scaling sweep with other than one source");
  } else {
    CheckCounts(s.teleop.n_tele, s.teleop.dataset, false, "teleop.n_tele");
  }
  FUZZ_CHECK(!s.sources.empty(), "no sources");
  std::set<std::string> sources;
  bool mixed = false;
  for (const spec::Source& source : s.sources) {
    FUZZ_CHECK(IsIdentifier(source.name) && source.name != "teleop" && source.name != "baseline",
               "source name " + source.name);
    FUZZ_CHECK(sources.insert(source.name).second, "duplicate source " + source.name);
    CheckCounts(source.n_nt, source.dataset, !scaling, "n_nt of " + source.name);
    if (source.generate) {
      const spec::Generation& g = *source.generate;
      FUZZ_CHECK(g.demos >= 1 && g.demos <= 1000000, absl::StrCat("generate.demos ", g.demos));
      FUZZ_CHECK(source.dataset.uri.empty() && source.dataset.content_hash.empty() &&
                     source.dataset.episodes == g.demos,
                 "a generated source's dataset is not its generate job's");
      FUZZ_CHECK(g.from.episodes >= 1 && !g.from.uri.empty(), "generate.from");
      CheckTemplate(g.command, "generate", "sources." + source.name + ".generate.command");
    } else {
      FUZZ_CHECK(!source.dataset.uri.empty(), "a collected source without a dataset uri");
    }
    FUZZ_CHECK(source.cost_per_demo_hours >= 0 && std::isfinite(source.cost_per_demo_hours),
               "source cost");
    for (int64_t n : source.n_nt) mixed = mixed || n > 0;
  }
  if (!scaling) {
    FUZZ_CHECK(s.has_own_baseline() != s.baseline_from_sweep.has_value(),
               "the baseline must come from exactly one place");
  } else {
    mixed = false;  // a scaling sweep's runs are train jobs
  }
  if (s.baseline_from_sweep) FUZZ_CHECK(*s.baseline_from_sweep >= 1, "baseline_from_sweep");
  FUZZ_CHECK(!s.seeds.empty(), "no seeds");
  std::set<int64_t> seeds;
  for (int64_t seed : s.seeds) {
    FUZZ_CHECK(seed >= 0 && seed <= 4294967295LL, absl::StrCat("seed ", seed));
    FUZZ_CHECK(seeds.insert(seed).second, absl::StrCat("duplicate seed ", seed));
  }

  // Equal compute.
  const spec::Protocol& p = s.protocol;
  FUZZ_CHECK(p.total_steps > 0, "total_steps");
  if (mixed || p.pretrain_steps != 0 || p.finetune_steps != 0) {
    FUZZ_CHECK(p.pretrain_steps >= 0 && p.finetune_steps >= 0, "negative steps");
    FUZZ_CHECK(p.total_steps - p.pretrain_steps == p.finetune_steps,
               absl::StrCat(p.pretrain_steps, " + ", p.finetune_steps, " != ", p.total_steps));
  }
  if (mixed) FUZZ_CHECK(p.pretrain_steps > 0 && p.finetune_steps > 0, "mixed runs need steps");

  // Evaluation.
  FUZZ_CHECK(!s.evaluation.scenarios.empty(), "no scenarios");
  FUZZ_CHECK(s.evaluation.trials_per_scenario >= 1 && s.evaluation.trials_per_scenario <= 1000,
             "trials_per_scenario");
  std::set<std::string> scenarios;
  for (const spec::Scenario& sc : s.evaluation.scenarios) {
    FUZZ_CHECK(IsIdentifier(sc.name), "scenario " + sc.name);
    FUZZ_CHECK(scenarios.insert(sc.name).second, "duplicate scenario " + sc.name);
    FUZZ_CHECK(sc.trials >= 1 && sc.trials <= 1000, absl::StrCat("trials ", sc.trials));
    const bool simulated = sc.evaluator == spec::Evaluator::kSimulation;
    FUZZ_CHECK(simulated == sc.simulation.has_value(), "scenario " + sc.name + ": evaluator");
    if (simulated) {
      FUZZ_CHECK(sc.platform.empty(), "a simulation scenario with a platform");
      FUZZ_CHECK(sc.simulation->seed >= 0 && sc.simulation->seed <= 4294967295LL, "eval seed");
      CheckTemplate(sc.simulation->command, "evaluate", "scenario " + sc.name + ".command");
    }
  }
  const bool any_simulated =
      std::any_of(s.evaluation.scenarios.begin(), s.evaluation.scenarios.end(),
                  [](const spec::Scenario& sc) { return sc.simulation.has_value(); });
  if (s.evaluation.aggregation == spec::Aggregation::kMaxOverCheckpoints) {
    FUZZ_CHECK(any_simulated, "max_over_checkpoints without a simulation scenario");
  }
  const spec::CheckpointSelection& cs = s.evaluation.checkpoints;
  FUZZ_CHECK(cs.every_steps >= 0 && cs.last >= 0 && cs.last <= 100, "checkpoints");
  if (cs.every_steps > 0) {
    FUZZ_CHECK(any_simulated, "checkpoints without a simulation scenario");
    auto check_final = [&](const std::optional<CommandTemplate>& t, int64_t steps) {
      FUZZ_CHECK(t.has_value() && !t->checkpoint_at_step.empty(),
                 "checkpoints without checkpoint_at_step");
      int64_t count = steps > 0 ? (steps - 1) / cs.every_steps : 0;
      if (cs.last > 0) count = std::min<int64_t>(count, cs.last);
      FUZZ_CHECK(count <= 100, absl::StrCat(count, " checkpoints per job"));
    };
    if (scaling || s.has_own_baseline()) {
      for (const spec::Source& source : s.sources) {
        check_final(s.TemplateFor("train", scaling ? &source : nullptr), p.total_steps);
      }
    }
    for (const spec::Source& source : s.sources) {
      if (scaling || std::none_of(source.n_nt.begin(), source.n_nt.end(),
                                  [](int64_t n) { return n > 0; })) {
        continue;
      }
      check_final(s.TemplateFor("finetune", &source), p.finetune_steps);
    }
  }

  // Templates: every stage the sweep runs has one.
  if (s.has_own_baseline()) FUZZ_CHECK(s.templates.train.has_value(), "no train template");
  for (const spec::Source& source : s.sources) {
    if (scaling) {
      FUZZ_CHECK(s.TemplateFor("train", &source).has_value(), "no train template");
      FUZZ_CHECK(!s.TemplateFor("pretrain", &source) && !s.TemplateFor("finetune", &source),
                 "a scaling sweep with pretrain or finetune templates");
      continue;
    }
    const bool source_mixed =
        std::any_of(source.n_nt.begin(), source.n_nt.end(), [](int64_t n) { return n > 0; });
    if (!source_mixed) continue;
    FUZZ_CHECK(s.TemplateFor("pretrain", &source).has_value(), "no pretrain template");
    FUZZ_CHECK(s.TemplateFor("finetune", &source).has_value(), "no finetune template");
  }
  auto check_stages = [](const spec::StageTemplates& t, const std::string& where) {
    if (t.train) CheckTemplate(*t.train, "train", where + ".train");
    if (t.pretrain) CheckTemplate(*t.pretrain, "pretrain", where + ".pretrain");
    if (t.finetune) CheckTemplate(*t.finetune, "finetune", where + ".finetune");
  };
  check_stages(s.templates, "templates");
  for (const spec::Source& source : s.sources) {
    FUZZ_CHECK(scaling || !source.templates.train.has_value(), "a source with a train template");
    check_stages(source.templates, "sources." + source.name + ".templates");
  }

  // Every string is UTF-8 (what JSON and protobuf carry).
  std::vector<std::string_view> texts = {s.name, s.task.name, s.policy, s.code_version,
                                         s.teleop.dataset.uri, s.teleop.dataset.content_hash,
                                         s.costs.currency};
  for (const spec::RubricEntry& e : entries) texts.push_back(e.name);
  for (const spec::Scenario& sc : s.evaluation.scenarios) {
    texts.push_back(sc.name);
    texts.push_back(sc.platform);
  }
  for (const auto& [k, v] : s.resources.labels) {
    texts.push_back(k);
    texts.push_back(v);
  }
  auto add_command = [&texts](const CommandTemplate& c) {
    for (const std::string& a : c.argv) texts.push_back(a);
    texts.push_back(c.shell);
    texts.push_back(c.checkpoint);
    texts.push_back(c.progress_pattern);
    texts.push_back(c.checkpoint_at_step);
    texts.push_back(c.result_file);
    for (const auto& [k, v] : c.env) {
      texts.push_back(k);
      texts.push_back(v);
    }
  };
  auto add_templates = [&add_command](const spec::StageTemplates& st) {
    for (const auto* t : {&st.train, &st.pretrain, &st.finetune}) {
      if (t->has_value()) add_command(**t);
    }
  };
  add_templates(s.templates);
  for (const spec::Source& source : s.sources) {
    texts.push_back(source.name);
    texts.push_back(source.dataset.uri);
    texts.push_back(source.dataset.content_hash);
    add_templates(source.templates);
    if (source.generate) {
      texts.push_back(source.generate->from.uri);
      texts.push_back(source.generate->from.content_hash);
      add_command(source.generate->command);
    }
  }
  for (const spec::Scenario& sc : s.evaluation.scenarios) {
    if (sc.simulation) add_command(sc.simulation->command);
  }
  for (std::string_view text : texts) {
    FUZZ_CHECK(WellFormedUtf8(text), absl::StrCat("not UTF-8: ", absl::CHexEscape(std::string(text))));
  }

  // Resources and limits.
  FUZZ_CHECK(s.resources.gpus >= 0 && s.resources.gpus <= 64, "gpus");
  FUZZ_CHECK(s.max_attempts >= 1 && s.max_attempts <= 100, "max_attempts");
  FUZZ_CHECK(s.priority >= -1000 && s.priority <= 1000, "priority");
  if (s.job_deadline_hours) {
    FUZZ_CHECK(*s.job_deadline_hours > 0 && *s.job_deadline_hours <= 8760, "deadline");
  }
  const int64_t runs = spec::CountRuns(s);
  FUZZ_CHECK(runs >= 1 && runs <= kLimits.max_runs, absl::StrCat(runs, " runs"));
  const int64_t episodes = spec::CountSubsetEpisodes(s);
  FUZZ_CHECK(episodes >= 1 && episodes <= kLimits.max_subset_episodes,
             absl::StrCat(episodes, " demos"));
  for (int64_t n : s.teleop.n_tele) FUZZ_CHECK(n <= 1000000, absl::StrCat("N_tele ", n));
  for (const spec::Source& source : s.sources) {
    for (int64_t n : source.n_nt) FUZZ_CHECK(n <= 1000000, absl::StrCat("N_nt ", n));
  }
}

// ---------------------------------------------------------------------------
// Rendering: each stage's template with well-formed values.

std::string Emit(const SweepSpec& s);  // below

void CheckRenders(const SweepSpec& s) {
  workers::JobValues values{.dataset = s.teleop.dataset.uri,
                            .dataset_hash = s.teleop.dataset.content_hash,
                            .subset_manifest = "/art/sweeps/1/jobs/2/subset.json",
                            .n_demos = 50,
                            .steps = 1000,
                            .seed = 0,
                            .output_dir = "/art/sweeps/1/jobs/2",
                            .gpu = "0",
                            .job_id = 2,
                            .run_id = 3,
                            .sweep_id = 1,
                            .code_version = s.code_version,
                            .policy = s.policy,
                            .task = s.task.name,
                            .init_checkpoint = "/art/sweeps/1/jobs/1/last.ckpt",
                            .resume_checkpoint = "/art/sweeps/1/jobs/2/resume.ckpt"};
  const workers::RenderOptions options{.allowed_roots = {"file:///art"}};
  const bool scaling = s.design == spec::Design::kScaling;
  // A generated source's dataset, as the server renders it: the generate
  // job's checkpoint.
  const spec::Dataset generated{.uri = "file:///art/sweeps/1/jobs/1/demo.hdf5"};
  auto render_command = [&](const std::string& stage, const spec::Source* source,
                            const CommandTemplate& t) {
    workers::CommandTemplate command{
        .argv = t.argv, .shell = t.shell, .env = t.env, .checkpoint = t.checkpoint};
    absl::StatusOr<workers::RenderedCommand> rendered =
        workers::RenderCommand(command, values, options);
    FUZZ_CHECK(rendered.ok(), absl::StrCat("the accepted ", stage, " command of source '",
                                           source ? source->name : "", "' does not render: ",
                                           rendered.status().ToString(), "\nspec written back:\n",
                                           Emit(s)));
  };
  auto render = [&](const std::string& stage, const spec::Source* source) {
    std::optional<CommandTemplate> t = s.TemplateFor(stage, source);
    if (!t) return;
    // A pretrain (and a scaling train) reads its source's dataset; train and
    // finetune the teleop's.
    const bool own = (stage == "pretrain" || scaling) && source != nullptr;
    const spec::Dataset& data =
        own ? (source->generate ? generated : source->dataset) : s.teleop.dataset;
    values.dataset = data.uri;
    values.dataset_hash = data.content_hash;
    workers::CommandTemplate command{
        .argv = t->argv, .shell = t->shell, .env = t->env, .checkpoint = t->checkpoint};
    absl::StatusOr<workers::RenderedCommand> rendered =
        workers::RenderCommand(command, values, options);
    FUZZ_CHECK(rendered.ok(), absl::StrCat("the accepted ", stage, " template of source '",
                                           source ? source->name : "", "' does not render: ",
                                           rendered.status().ToString(), "\nspec written back:\n",
                                           Emit(s)));
  };
  if (s.has_own_baseline()) render("train", nullptr);
  for (const spec::Source& source : s.sources) {
    if (scaling) {
      render("train", &source);
    } else {
      render("pretrain", &source);
      render("finetune", &source);
    }
    if (source.generate) {
      values.dataset = source.generate->from.uri;
      values.dataset_hash = source.generate->from.content_hash;
      render_command("generate", &source, source.generate->command);
    }
  }
  // Simulation scenarios' commands use {checkpoint} and {n_episodes}, which
  // the renderer learns with seed 001's worker side; rendered once it does.
}

// ---------------------------------------------------------------------------
// The emitter: a SweepSpec written back as YAML, every string double-quoted
// (control characters as \xHH escapes, other bytes as they are), numbers in
// a form that reads back to the same value.

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    // YAML's other line breaks (NEL, LINE and PARAGRAPH SEPARATOR) would be
    // folded inside a quoted scalar: escaped.
    // (\u, not \N: yaml-cpp reads \N as the lone byte 0x85.)
    if (s.substr(i, 2) == "\xc2\x85") {
      out += "\\u0085";
      ++i;
    } else if (s.substr(i, 3) == "\xe2\x80\xa8" || s.substr(i, 3) == "\xe2\x80\xa9") {
      out += s[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\x%02x", u);
      out += buffer;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", v);
  return buffer;
}

template <typename T>
std::string IntList(const std::vector<T>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&out, i ? ", " : "", values[i]);
  return out + "]";
}

std::string StringMap(const std::map<std::string, std::string>& map) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : map) {
    absl::StrAppend(&out, first ? "" : ", ", Quoted(k), ": ", Quoted(v));
    first = false;
  }
  return out + "}";
}

std::string Dataset(const spec::Dataset& d) {
  std::string out = absl::StrCat("{uri: ", Quoted(d.uri), ", episodes: ", d.episodes);
  if (!d.content_hash.empty()) absl::StrAppend(&out, ", content_hash: ", Quoted(d.content_hash));
  return out + "}";
}

std::string Template(const CommandTemplate& t) {
  std::string out = "{";
  if (!t.argv.empty()) {
    out += "argv: [";
    for (size_t i = 0; i < t.argv.size(); ++i) absl::StrAppend(&out, i ? ", " : "", Quoted(t.argv[i]));
    out += "]";
  } else {
    absl::StrAppend(&out, "shell: ", Quoted(t.shell));
  }
  if (!t.env.empty()) absl::StrAppend(&out, ", env: ", StringMap(t.env));
  if (!t.checkpoint.empty()) absl::StrAppend(&out, ", checkpoint: ", Quoted(t.checkpoint));
  if (!t.no_retry_exit_codes.empty()) {
    absl::StrAppend(&out, ", no_retry_exit_codes: ", IntList(t.no_retry_exit_codes));
  }
  if (!t.progress_pattern.empty()) {
    absl::StrAppend(&out, ", progress_pattern: ", Quoted(t.progress_pattern));
  }
  if (!t.checkpoint_at_step.empty()) {
    absl::StrAppend(&out, ", checkpoint_at_step: ", Quoted(t.checkpoint_at_step));
  }
  if (!t.result_file.empty()) absl::StrAppend(&out, ", result_file: ", Quoted(t.result_file));
  if (!t.result_format.empty()) {
    absl::StrAppend(&out, ", result_format: ", Quoted(t.result_format));
  }
  return out + "}";
}

std::string Templates(const spec::StageTemplates& t) {
  std::string out = "{";
  bool first = true;
  auto stage = [&](const char* name, const std::optional<CommandTemplate>& c) {
    if (!c) return;
    absl::StrAppend(&out, first ? "" : ", ", name, ": ", Template(*c));
    first = false;
  };
  stage("train", t.train);
  stage("pretrain", t.pretrain);
  stage("finetune", t.finetune);
  return out + "}";
}

std::string Emit(const SweepSpec& s) {
  std::string y = "version: 1\n";
  if (!s.name.empty()) absl::StrAppend(&y, "name: ", Quoted(s.name), "\n");
  const bool scaling = s.design == spec::Design::kScaling;
  absl::StrAppend(&y, "design: ", spec::DesignName(s.design), "\n");
  const bool items = s.task.rubric.kind == spec::RubricKind::kItems;
  absl::StrAppend(&y, "task:\n  name: ", Quoted(s.task.name), "\n  rubric:\n    ",
                  items ? "items" : "milestones", ":\n");
  for (const spec::RubricEntry& e : s.task.rubric.entries) {
    absl::StrAppend(&y, "      - {name: ", Quoted(e.name), ", ", items ? "weight" : "score", ": ",
                    Number(e.value), "}\n");
  }
  absl::StrAppend(&y, "policy: ", Quoted(s.policy), "\n");
  if (!s.code_version.empty()) absl::StrAppend(&y, "code_version: ", Quoted(s.code_version), "\n");
  if (!scaling) {
    absl::StrAppend(&y, "teleop:\n  dataset: ", Dataset(s.teleop.dataset),
                    "\n  cost_per_demo_hours: ", Number(s.teleop.cost_per_demo_hours),
                    "\n  n_tele: ", IntList(s.teleop.n_tele), "\n");
  }
  y += "sources:\n";
  for (const spec::Source& src : s.sources) {
    absl::StrAppend(&y, "  - name: ", Quoted(src.name), "\n    kind: ",
                    src.kind == spec::SourceKind::kSimulation ? "simulation" : "human_video",
                    "\n");
    if (src.generate) {
      absl::StrAppend(&y, "    generate: {command: ", Template(src.generate->command),
                      ", from: ", Dataset(src.generate->from), ", demos: ", src.generate->demos,
                      "}\n");
    } else {
      absl::StrAppend(&y, "    dataset: ", Dataset(src.dataset), "\n");
    }
    absl::StrAppend(&y, "    cost_per_demo_hours: ", Number(src.cost_per_demo_hours),
                    "\n    n_nt: ", IntList(src.n_nt), "\n");
    if (src.templates.train || src.templates.pretrain || src.templates.finetune) {
      absl::StrAppend(&y, "    templates: ", Templates(src.templates), "\n");
    }
  }
  absl::StrAppend(&y, "seeds: ", IntList(s.seeds), "\n");
  absl::StrAppend(&y, "protocol: {total_steps: ", s.protocol.total_steps);
  if (s.protocol.pretrain_steps != 0 || s.protocol.finetune_steps != 0) {
    absl::StrAppend(&y, ", pretrain_steps: ", s.protocol.pretrain_steps,
                    ", finetune_steps: ", s.protocol.finetune_steps);
  }
  y += "}\n";
  absl::StrAppend(&y, "evaluation:\n  trials_per_scenario: ", s.evaluation.trials_per_scenario,
                  "\n  aggregation: ", spec::AggregationName(s.evaluation.aggregation), "\n");
  if (s.evaluation.checkpoints.every_steps > 0) {
    absl::StrAppend(&y, "  checkpoints: {every_steps: ", s.evaluation.checkpoints.every_steps);
    if (s.evaluation.checkpoints.last > 0) {
      absl::StrAppend(&y, ", last: ", s.evaluation.checkpoints.last);
    }
    y += "}\n";
  }
  y += "  scenarios:\n";
  for (const spec::Scenario& sc : s.evaluation.scenarios) {
    absl::StrAppend(&y, "    - {name: ", Quoted(sc.name), ", trials: ", sc.trials);
    if (!sc.platform.empty()) absl::StrAppend(&y, ", platform: ", Quoted(sc.platform));
    if (sc.simulation) {
      absl::StrAppend(&y, ", evaluator: simulation, seed: ", sc.simulation->seed,
                      ", command: ", Template(sc.simulation->command));
    }
    y += "}\n";
  }
  if (s.templates.train || s.templates.pretrain || s.templates.finetune) {
    absl::StrAppend(&y, "templates: ", Templates(s.templates), "\n");
  }
  absl::StrAppend(&y, "resources: {gpus: ", s.resources.gpus,
                  ", min_gpu_memory_gib: ", Number(s.resources.min_gpu_memory_gib));
  if (!s.resources.labels.empty()) absl::StrAppend(&y, ", labels: ", StringMap(s.resources.labels));
  y += "}\n";
  std::string costs;
  if (s.costs.gpu_hour_price) absl::StrAppend(&costs, "gpu_hour_price: ", Number(*s.costs.gpu_hour_price));
  if (s.costs.collection_hour_price) {
    absl::StrAppend(&costs, costs.empty() ? "" : ", ", "collection_hour_price: ",
                    Number(*s.costs.collection_hour_price));
  }
  if (!s.costs.currency.empty()) {
    absl::StrAppend(&costs, costs.empty() ? "" : ", ", "currency: ", Quoted(s.costs.currency));
  }
  if (!costs.empty()) absl::StrAppend(&y, "costs: {", costs, "}\n");
  absl::StrAppend(&y, "priority: ", s.priority, "\nmax_attempts: ", s.max_attempts, "\n");
  if (s.job_deadline_hours) {
    absl::StrAppend(&y, "job_deadline_hours: ", Number(*s.job_deadline_hours), "\n");
  }
  if (s.baseline_from_sweep) {
    absl::StrAppend(&y, "baseline_from_sweep: ", *s.baseline_from_sweep, "\n");
  }
  return y;
}

}  // namespace
}  // namespace mixsweep::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mixsweep;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const spec::SpecLimits& limits = fuzz::kLimits;
  absl::StatusOr<spec::ParsedSpec> parsed = spec::ParseSweepSpec(text, limits);
  if (fuzz::PrintInputs()) {
    std::fprintf(stderr, "%s\n",
                 parsed.ok()
                     ? absl::StrCat("accepted: ", spec::CountRuns(parsed->spec), " runs; written "
                                    "back as:\n", fuzz::Emit(parsed->spec)).c_str()
                     : parsed.status().ToString().c_str());
  }
  if (!parsed.ok()) {
    fuzz::CheckErrorMessage(parsed.status(), text);
    if (absl::IsResourceExhausted(parsed.status())) {
      // Only a quota: valid otherwise.
      const spec::SpecLimits unlimited{.max_runs = INT64_MAX, .max_subset_episodes = INT64_MAX};
      absl::StatusOr<spec::ParsedSpec> lifted = spec::ParseSweepSpec(text, unlimited);
      FUZZ_CHECK(lifted.ok(), absl::StrCat(parsed.status().ToString(), "\nbut without quotas: ",
                                           lifted.status().ToString()));
      FUZZ_CHECK(spec::CountRuns(lifted->spec) > limits.max_runs ||
                     spec::CountSubsetEpisodes(lifted->spec) > limits.max_subset_episodes,
                 parsed.status().ToString());
    }
    return 0;
  }
  FUZZ_CHECK(parsed->yaml == text, "the submitted text is not kept as is");
  fuzz::CheckRules(parsed->spec);
  fuzz::CheckRenders(parsed->spec);

  // Re-validation: the accepted spec, written back, is accepted again as
  // the same spec (the emitter covers every field, so equal text is equal).
  const std::string emitted = fuzz::Emit(parsed->spec);
  absl::StatusOr<spec::ParsedSpec> again = spec::ParseSweepSpec(emitted, limits);
  FUZZ_CHECK(again.ok(), absl::StrCat("an accepted spec does not re-validate: ",
                                      again.status().ToString(), "\nwritten back as:\n", emitted));
  const std::string emitted_again = fuzz::Emit(again->spec);
  FUZZ_CHECK(emitted_again == emitted,
             absl::StrCat("re-validation changed the spec:\n", emitted, "\nbecame\n",
                          emitted_again));
  // Read back from storage (no quotas, no newer value rules): the same spec.
  absl::StatusOr<spec::ParsedSpec> stored =
      spec::ParseSweepSpec(text, spec::SpecLimits::ForStoredSpecs());
  FUZZ_CHECK(stored.ok() && fuzz::Emit(stored->spec) == emitted,
             absl::StrCat("read back as a stored spec: ",
                          stored.ok() ? fuzz::Emit(stored->spec) : stored.status().ToString()));
  return 0;
}
