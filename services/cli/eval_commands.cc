// mixsweep robot ..., eval ...: robots, the operator's blind batches,
// recording and correcting trials, results and the evaluation plan.
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/cli/client.h"
#include "services/cli/render_eval.h"
#include "services/cli/trial_input.h"

namespace mixsweep::cli {
namespace {
namespace v1 = mixsweep::v1;
using EvalStub = v1::EvaluationService::Stub;

// The values the options of these commands parse into; they live as long
// as the process.
struct EvalOptions {
  // robot
  std::string robot_id;
  std::string platform;
  std::string location;
  // eval
  std::string robot;
  std::string operator_name;
  int max_policies = 0;
  int64_t sweep_id = 0;
  std::string label;
  int64_t request_id = 0;
  std::string csv_file;
  bool csv = false;
  int64_t trial_id = 0;
  std::string achieved;
  std::string success;
  std::string intervention;
  std::string safety_stop;
  std::string duration;
  std::string notes;
  bool notes_given = false;
  std::string reason;
  std::string scenario;
  bool trials = false;
  bool superseded = false;
};

EvalOptions& Options() {
  static EvalOptions options;
  return options;
}

// --json and --csv both ask for the output format.
bool BothFormats(const Globals& g, bool csv) {
  if (g.json && csv) {
    std::cerr << "error: --json and --csv exclude each other\n";
    return true;
  }
  return false;
}

std::string OperatorOf(const Globals& g, const EvalOptions& o) {
  return o.operator_name.empty() ? g.user : o.operator_name;
}

// --- robot -------------------------------------------------------------------------

int AddRobot(const Globals& g, const EvalOptions& o) {
  v1::RegisterRobotRequest request;
  request.mutable_robot()->set_id(o.robot_id);
  request.mutable_robot()->set_platform(o.platform);
  request.mutable_robot()->set_location(o.location);
  request.set_idempotency_key(IdempotencyKey(g));
  return CallAndPrint(g, &EvalStub::RegisterRobot, request, [](const v1::Robot& robot) {
    return absl::StrCat("registered robot ", robot.id(), " (platform ", robot.platform(),
                        robot.location().empty() ? "" : absl::StrCat(", at ", robot.location()),
                        ")\n");
  });
}

int ListRobots(const Globals& g, const EvalOptions& o) {
  if (BothFormats(g, o.csv)) return kUsage;
  return CallAndPrint(g, &EvalStub::ListRobots, v1::ListRobotsRequest(),
                      [csv = o.csv](const v1::ListRobotsResponse& robots) {
                        return csv ? RenderRobotsCsv(robots) : RenderRobots(robots);
                      });
}

// --- eval next, plan -----------------------------------------------------------------

int NextBatch(const Globals& g, const EvalOptions& o) {
  v1::NextEvaluationBatchRequest request;
  request.set_robot_id(o.robot);
  request.set_operator_(OperatorOf(g, o));
  request.set_max_policies(o.max_policies);
  request.set_sweep_id(o.sweep_id);
  return CallAndPrint(g, &EvalStub::NextEvaluationBatch, request, RenderBatch);
}

int Plan(const Globals& g, const EvalOptions& o) {
  if (BothFormats(g, o.csv)) return kUsage;
  v1::PlanEvaluationsRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_robot_id(o.robot);
  return CallAndPrint(g, &EvalStub::PlanEvaluations, request,
                      [csv = o.csv](const v1::PlanEvaluationsResponse& plan) {
                        return csv ? RenderPlanCsv(plan) : RenderPlan(plan);
                      });
}

// --- eval results ------------------------------------------------------------------------

// Every page of ListResults.
grpc::Status AllResults(Client& client, v1::ListResultsRequest request,
                        v1::ListResultsResponse* merged) {
  do {
    v1::ListResultsResponse page;
    grpc::Status status = client.Call(&EvalStub::ListResults, request, &page);
    if (!status.ok()) return status;
    for (auto& result : *page.mutable_results()) *merged->add_results() = std::move(result);
    request.mutable_page()->set_page_token(page.next_page_token());
  } while (!request.page().page_token().empty());
  return grpc::Status::OK;
}

int Results(const Globals& g, const EvalOptions& o) {
  if (BothFormats(g, o.csv)) return kUsage;
  Client client(g);
  v1::ListResultsRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_scenario(o.scenario);
  request.set_include_trials(o.trials || o.superseded);
  request.set_include_superseded(o.superseded);
  v1::ListResultsResponse merged;
  if (grpc::Status status = AllResults(client, request, &merged); !status.ok()) {
    return Fail(status);
  }
  if (g.json) {
    PrintJson(merged);
    return kOk;
  }
  const std::vector<v1::ScenarioResult> results(merged.results().begin(), merged.results().end());
  const bool trials = o.trials || o.superseded;
  std::cout << (o.csv ? RenderResultsCsv(results, trials) : RenderResults(results, trials));
  return kOk;
}

// --- eval record -------------------------------------------------------------------------

// Where the server names "trials[i]" of a file's trials, which line that is.
void NameLinesOfTrials(const std::string& message, const TrialFile& file, const std::string& path) {
  std::set<size_t> named;
  for (size_t at = message.find("trials["); at != std::string::npos;
       at = message.find("trials[", at + 1)) {
    size_t i = 0;
    size_t p = at + 7;
    bool digits = false;
    while (p < message.size() && message[p] >= '0' && message[p] <= '9') {
      i = i * 10 + static_cast<size_t>(message[p] - '0');
      ++p;
      digits = true;
    }
    if (digits && p < message.size() && message[p] == ']' && i < file.lines.size() &&
        named.insert(i).second) {
      std::cerr << "note: trials[" << i << "] is line " << file.lines[i] << " of " << path << "\n";
    }
  }
}

void Target(const EvalOptions& o, v1::RecordTrialsRequest* request) {
  if (o.request_id != 0) {
    request->set_request_id(o.request_id);
  } else {
    request->set_label(o.label);
  }
}

std::string TargetName(const EvalOptions& o) {
  return o.request_id != 0 ? absl::StrCat("request ", o.request_id) : o.label;
}

// With --csv FILE: the whole file in one RecordTrials, or nothing if any
// line is malformed.
int RecordFromFile(const Globals& g, const EvalOptions& o) {
  std::string text;
  if (!ReadFile(o.csv_file, &text)) {
    std::cerr << "error: cannot read " << o.csv_file << "\n";
    return kUsage;
  }
  absl::StatusOr<TrialFile> file = ParseTrialFile(text);
  if (!file.ok()) {
    std::cerr << "error: " << o.csv_file << ": " << file.status().message()
              << "\nnothing was sent.\n";
    return kInvalid;
  }
  v1::RecordTrialsRequest request;
  Target(o, &request);
  for (v1::TrialInput& trial : file->trials) {
    trial.set_operator_(OperatorOf(g, o));
    trial.set_robot_id(o.robot);
    *request.add_trials() = trial;
  }
  request.set_idempotency_key(IdempotencyKey(g));
  Client client(g);
  v1::RecordTrialsResponse response;
  if (grpc::Status status = client.Call(&EvalStub::RecordTrials, request, &response);
      !status.ok()) {
    const int code = Fail(status);
    NameLinesOfTrials(status.error_message(), *file, o.csv_file);
    return code;
  }
  if (g.json) {
    PrintJson(response);
    return kOk;
  }
  std::vector<std::string> scores;
  for (const v1::Trial& t : response.trials()) {
    scores.push_back(absl::StrCat(t.input().trial_index(), ":", FormatValue(t.score())));
  }
  std::cout << (response.replayed() ? "already recorded (same key): " : "recorded ")
            << response.trials_size() << " trials of " << TargetName(o) << " from " << o.csv_file
            << " (index:score " << absl::StrJoin(scores, " ") << ")\n";
  if (response.request_complete()) std::cout << "every trial of " << TargetName(o) << " is in.\n";
  return kOk;
}

// The trial indices the request already has, from ListResults; nullopt when
// they cannot be read (then the batch's trials_recorded is all we know).
std::optional<std::set<int>> RecordedIndices(Client& client, const v1::EvaluationBatch& batch,
                                             int64_t request_id) {
  if (batch.sweep_id() == 0) return std::nullopt;
  v1::ListResultsRequest request;
  request.set_sweep_id(batch.sweep_id());
  request.set_scenario(batch.scenario());
  request.set_include_trials(true);
  v1::ListResultsResponse results;
  if (!AllResults(client, request, &results).ok()) return std::nullopt;
  for (const v1::ScenarioResult& r : results.results()) {
    if (r.request_id() != request_id) continue;
    std::set<int> indices;
    for (const v1::Trial& t : r.trials()) indices.insert(t.input().trial_index());
    return indices;
  }
  return std::nullopt;
}

// Without --csv: prompts that follow the rubric, one trial at a time.
//
// Each trial is sent (one RecordTrials) as soon as the operator confirms it,
// rather than all at the end: a session of ten trials takes the better part
// of an hour of robot time, and a crash, a Ctrl-C or a dropped connection
// must not lose the trials already run; the estimates also update while the
// operator works, and a refusal (the batch was closed, the index is already
// recorded) stops the session at the trial that caused it. Each call's key is
// this invocation's key plus the trial index, so the retry of UNAVAILABLE
// (and a rerun with the same --idempotency-key) stores each trial once.
int RecordInteractively(const Globals& g, const EvalOptions& o) {
  if (o.robot.empty()) {
    std::cerr << "error: prompting needs the rubric, which comes with the robot's open batch: "
                 "give --robot (or record a file with --csv FILE)\n";
    return kUsage;
  }
  Client client(g);
  v1::NextEvaluationBatchRequest next;
  next.set_robot_id(o.robot);
  next.set_operator_(OperatorOf(g, o));
  v1::EvaluationBatch batch;
  if (grpc::Status status = client.Call(&EvalStub::NextEvaluationBatch, next, &batch);
      !status.ok()) {
    return Fail(status);
  }
  if (batch.batch_id().empty()) {
    std::cerr << "error: robot " << o.robot << " has no open batch: nothing to record\n";
    return kNotFound;
  }
  const v1::BlindPolicy* policy = nullptr;
  std::vector<std::string> labels;
  for (const v1::BlindPolicy& p : batch.policies()) {
    labels.push_back(p.label());
    if ((o.request_id != 0 && p.request_id() == o.request_id) ||
        (o.request_id == 0 && p.label() == o.label)) {
      policy = &p;
    }
  }
  if (policy == nullptr) {
    std::cerr << "error: " << TargetName(o) << " is not in robot " << o.robot << "'s open batch "
              << batch.batch_id() << " (its policies: " << absl::StrJoin(labels, ", ") << ")\n";
    return kNotFound;
  }
  if (batch.rubric().entries_size() == 0 || (batch.rubric().kind() != v1::RUBRIC_KIND_MILESTONES &&
                                             batch.rubric().kind() != v1::RUBRIC_KIND_ITEMS)) {
    std::cerr << "error: the batch carries no rubric this CLI knows; record with --csv FILE\n";
    return kError;
  }
  std::set<int> done;
  if (auto recorded = RecordedIndices(client, batch, policy->request_id())) {
    done = *recorded;
  } else {
    for (int i = 0; i < policy->trials_recorded(); ++i) done.insert(i);
  }
  // With --json stdout carries only the JSON answers; the prompts go to stderr.
  std::ostream& out = g.json ? std::cerr : std::cout;
  out << "Policy " << policy->label() << " · scenario " << batch.scenario() << " · task "
      << batch.task() << " · " << done.size() << "/" << policy->trials_wanted()
      << " trials recorded\n"
      << RenderRubric(batch.rubric());
  int sent = 0;
  for (int index = 0; index < policy->trials_wanted(); ++index) {
    if (done.count(index)) continue;
    PromptedTrial prompted = PromptTrial(
        batch.rubric(), {policy->label(), index, policy->trials_wanted()}, std::cin, out);
    if (prompted.outcome == PromptedTrial::Outcome::kQuit) break;
    if (prompted.outcome == PromptedTrial::Outcome::kInputEnded) {
      std::cerr << "error: the input ended in the middle of trial " << index
                << "; it was not sent (" << sent << " sent)\n";
      return kError;
    }
    prompted.input.set_operator_(OperatorOf(g, o));
    prompted.input.set_robot_id(o.robot);
    v1::RecordTrialsRequest request;
    request.set_request_id(policy->request_id());
    *request.add_trials() = prompted.input;
    request.set_idempotency_key(absl::StrCat(IdempotencyKey(g), "-t", index));
    v1::RecordTrialsResponse response;
    if (grpc::Status status = client.Call(&EvalStub::RecordTrials, request, &response);
        !status.ok()) {
      const int code = Fail(status);
      std::cerr << "trial " << index << " was not stored (" << sent << " stored before it)\n";
      return code;
    }
    ++sent;
    done.insert(index);
    if (g.json) {
      PrintJson(response);
      std::cout << std::flush;
    } else {
      for (const v1::Trial& t : response.trials()) {
        out << (response.replayed() ? "already stored: trial #" : "stored: trial #") << t.id()
            << ", score " << FormatValue(t.score()) << "\n";
      }
    }
    if (response.request_complete()) {
      out << "every trial of " << policy->label() << " is in.\n";
      break;
    }
  }
  out << sent << (sent == 1 ? " trial" : " trials") << " recorded; " << done.size() << "/"
      << policy->trials_wanted() << " for " << policy->label() << "\n";
  return kOk;
}

int Record(const Globals& g, const EvalOptions& o) {
  if (o.label.empty() == (o.request_id == 0)) {
    std::cerr << "error: name the policy by its LABEL or by --request ID (one of them)\n";
    return kUsage;
  }
  return o.csv_file.empty() ? RecordInteractively(g, o) : RecordFromFile(g, o);
}

// --- eval correct ---------------------------------------------------------------------------

// A yes/no option: nullopt when not given; false with an error when bad.
bool BoolOption(const std::string& name, const std::string& value, std::optional<bool>* out) {
  if (value.empty()) return true;
  *out = ParseBool(value);
  if (!out->has_value()) {
    std::cerr << "error: " << name << " takes true/false, 1/0 or yes/no, not \"" << value << "\"\n";
    return false;
  }
  return true;
}

// The trial as stored now, with its sweep: in --sweep, else in every sweep,
// newest first (there is no GetTrial; corrections are rare).
grpc::Status FindTrial(Client& client, int64_t sweep_id, int64_t trial_id,
                       std::optional<v1::Trial>* found) {
  std::vector<int64_t> sweeps;
  if (sweep_id != 0) {
    sweeps.push_back(sweep_id);
  } else {
    v1::ListSweepsRequest list;
    do {
      v1::ListSweepsResponse page;
      grpc::Status status = client.Call(&v1::SweepService::Stub::ListSweeps, list, &page);
      if (!status.ok()) return status;
      for (const v1::Sweep& sweep : page.sweeps()) sweeps.push_back(sweep.id());
      list.mutable_page()->set_page_token(page.next_page_token());
    } while (!list.page().page_token().empty());
  }
  for (int64_t id : sweeps) {
    v1::ListResultsRequest request;
    request.set_sweep_id(id);
    request.set_include_trials(true);
    request.set_include_superseded(true);  // the server then says which trial replaced it
    v1::ListResultsResponse results;
    if (grpc::Status status = AllResults(client, request, &results); !status.ok()) return status;
    for (const v1::ScenarioResult& r : results.results()) {
      for (const v1::Trial& t : r.trials()) {
        if (t.id() == trial_id) {
          *found = t;
          return grpc::Status::OK;
        }
      }
    }
  }
  return grpc::Status::OK;
}

// The server replaces the trial's whole record and keeps its index: the
// correction starts from the stored record and changes what the options say.
int Correct(const Globals& g, const EvalOptions& o) {
  TrialCorrection change;
  change.achieved = SplitList(o.achieved, ',');
  if (!BoolOption("--success", o.success, &change.success) ||
      !BoolOption("--intervention", o.intervention, &change.intervention) ||
      !BoolOption("--safety-stop", o.safety_stop, &change.safety_stop)) {
    return kUsage;
  }
  if (!o.duration.empty()) {
    absl::StatusOr<double> parsed = ParseSeconds(o.duration);
    if (!parsed.ok()) {
      std::cerr << "error: --duration: " << parsed.status().message() << "\n";
      return kUsage;
    }
    change.duration_s = *parsed;
  }
  if (o.notes_given) change.notes = o.notes;
  if (!o.operator_name.empty()) change.operator_name = o.operator_name;
  if (!o.robot.empty()) change.robot_id = o.robot;

  Client client(g);
  std::optional<v1::Trial> stored;
  if (grpc::Status status = FindTrial(client, o.sweep_id, o.trial_id, &stored); !status.ok()) {
    return Fail(status);
  }
  if (!stored.has_value()) {
    std::cerr << "error: no trial #" << o.trial_id
              << (o.sweep_id != 0 ? absl::StrCat(" in sweep ", o.sweep_id) : std::string()) << "\n";
    return kNotFound;
  }
  if (!change.operator_name.has_value() && stored->input().operator_().empty()) {
    change.operator_name = g.user;
  }
  v1::CorrectTrialRequest request;
  request.set_trial_id(o.trial_id);
  *request.mutable_corrected() = CorrectedInput(stored->input(), change);
  request.set_reason(o.reason);
  request.set_idempotency_key(IdempotencyKey(g));
  v1::Trial trial;
  if (grpc::Status status = client.Call(&EvalStub::CorrectTrial, request, &trial); !status.ok()) {
    return Fail(status);
  }
  if (g.json) {
    PrintJson(trial);
    return kOk;
  }
  std::cout << "trial #" << trial.id() << " corrects #" << o.trial_id << " (index "
            << trial.input().trial_index() << "): score " << FormatValue(stored->score()) << " -> "
            << FormatValue(trial.score()) << ", success "
            << (trial.input().success() ? "yes" : "no") << "\n";
  // Success was carried over; say so when it no longer matches the score.
  if (!change.success.has_value() && trial.input().success() != (trial.score() >= 1.0 - 1e-9)) {
    std::cout << "note: success stays " << (trial.input().success() ? "yes" : "no")
              << " from trial #" << o.trial_id << " while the score is now "
              << FormatValue(trial.score()) << "; give --success to change it\n";
  }
  return kOk;
}

}  // namespace

void AddEvalCommands(CLI::App& app, Globals& globals, Action& action) {
  EvalOptions& o = Options();

  CLI::App* robot = app.add_subcommand("robot", "register and list evaluation robots");
  robot->require_subcommand(1);
  CLI::App* robot_add = robot->add_subcommand("add", "register a robot (idempotent)");
  robot_add->add_option("ID", o.robot_id, "the lab's name for it, e.g. aloha-1")->required();
  robot_add->add_option("--platform", o.platform, "e.g. aloha-agilex-2.0")->required();
  robot_add->add_option("--location", o.location, "where it stands");
  OnRun(robot_add, globals, action, [](const Globals& g) { return AddRobot(g, Options()); });

  CLI::App* robot_list = robot->add_subcommand("list", "list the robots");
  robot_list->add_flag("--csv", o.csv, "CSV for a spreadsheet");
  OnRun(robot_list, globals, action, [](const Globals& g) { return ListRobots(g, Options()); });

  CLI::App* eval = app.add_subcommand("eval", "blind robot evaluation: batches, trials, results");
  eval->require_subcommand(1);

  CLI::App* next = eval->add_subcommand(
      "next", "the batch to evaluate on a robot: scenario, rubric, policies in order");
  next->add_option("--robot", o.robot, "the robot at this station")->required();
  next->add_option("--operator", o.operator_name, "who evaluates (default: --user)");
  next->add_option("--max", o.max_policies, "at most this many policies (default: the server's)")
      ->check(CLI::NonNegativeNumber);
  next->add_option("--sweep", o.sweep_id, "only this sweep (default: any)");
  OnRun(next, globals, action, [](const Globals& g) { return NextBatch(g, Options()); });

  CLI::App* plan = eval->add_subcommand(
      "plan", "the open evaluation work, ranked as `eval next` takes it, with reasons");
  plan->add_option("--sweep", o.sweep_id, "only this sweep (default: every active sweep)");
  plan->add_option("--robot", o.robot, "only what this robot's platform can run");
  plan->add_flag("--csv", o.csv, "CSV for a spreadsheet");
  OnRun(plan, globals, action, [](const Globals& g) { return Plan(g, Options()); });

  CLI::App* record = eval->add_subcommand(
      "record", "record trials of a policy: prompts that follow the rubric, or a CSV file (--csv)");
  record->add_option("LABEL", o.label, "the policy's blind label, e.g. P-7K2Q");
  record->add_option("--request", o.request_id, "the evaluation request id, instead of LABEL");
  record
      ->add_option("--csv", o.csv_file,
                   "a trial file: header trial_index,achieved,success,duration_s,"
                   "intervention,safety_stop,notes,video_uris; sent in one call")
      ->check(CLI::ExistingFile);
  record->add_option("--operator", o.operator_name, "who ran the trials (default: --user)");
  record->add_option("--robot", o.robot, "the robot (needed to prompt: it finds the batch)");
  OnRun(record, globals, action, [](const Globals& g) { return Record(g, Options()); });

  CLI::App* correct = eval->add_subcommand(
      "correct", "supersede a trial with a corrected record (the old one is kept)");
  correct->add_option("TRIAL_ID", o.trial_id, "the trial to correct")->required();
  correct
      ->add_option("--achieved", o.achieved,
                   "comma-separated: the last stage reached, or the items achieved "
                   "(\"\" for none)")
      ->required();
  correct->add_option("--success", o.success, "yes/no");
  correct->add_option("--duration", o.duration, "seconds");
  correct->add_option("--intervention", o.intervention, "yes/no");
  correct->add_option("--safety-stop", o.safety_stop, "yes/no");
  correct->add_option("--notes", o.notes, "replaces the notes")->each([](const std::string&) {
    Options().notes_given = true;
  });
  correct->add_option("--operator", o.operator_name, "who corrects (default: --user)");
  correct->add_option("--robot", o.robot, "the robot the trial ran on");
  correct->add_option("--sweep", o.sweep_id,
                      "the trial's sweep (default: looked up in every sweep)");
  correct->add_option("--reason", o.reason, "why, kept with the record")->required();
  OnRun(correct, globals, action, [](const Globals& g) { return Correct(g, Options()); });

  CLI::App* results = eval->add_subcommand(
      "results",
      "S per (run, scenario, checkpoint) with the run's mixture, who evaluated it (robot or "
      "sim) and the checkpoint's step, for the lab lead");
  results->add_option("SWEEP", o.sweep_id, "sweep id")->required();
  results->add_option("--scenario", o.scenario, "only this scenario");
  results->add_flag("--trials", o.trials, "also list every trial");
  results->add_flag("--superseded", o.superseded, "list superseded trials too (implies --trials)");
  results->add_flag("--csv", o.csv, "CSV for a spreadsheet (with --trials: one row per trial)");
  OnRun(results, globals, action, [](const Globals& g) { return Results(g, Options()); });
}

}  // namespace mixsweep::cli
