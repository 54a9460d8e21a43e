// mixsweep-lab: a synthetic robot operator, for demos and tests.
//
// It asks mixsweepd for the next evaluation batch, "runs" each blind policy
// by loading its (synthetic) checkpoint, draws trial outcomes through the
// task's rubric from a ground-truth model (services/lab/ground_truth.h) and
// records them through the real EvaluationService. docs/synthetic-lab.md
// explains the model and the flags.
//
// Exit codes: 0 ok (idle long enough, or stopped by SIGTERM/SIGINT), 1 an
// error (the server refused, the truth does not cover a batch, a checkpoint
// is not synthetic), 2 a bad command line (including a truth file that does
// not parse).
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "services/channel/channel.h"
#include "services/lab/checkpoint.h"
#include "services/lab/ground_truth.h"

namespace mixsweep::lab {
namespace {

namespace v1 = mixsweep::v1;
using Clock = std::chrono::steady_clock;

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kUsage = 2;

// Per call; a batch or a record is small.
constexpr auto kCallTimeout = std::chrono::seconds(30);
// Transient failures are retried this long before the lab gives up: long
// enough for mixsweepd to restart.
constexpr auto kRetryFor = std::chrono::seconds(120);
constexpr auto kFirstBackoff = std::chrono::milliseconds(200);
constexpr auto kMaxBackoff = std::chrono::seconds(5);

struct Flags {
  client::ConnectionFlags connection;  // --server, --token-file (an operator token), --tls-*
  std::string robot_id;
  std::string platform = "synthetic";
  std::string operator_name = "synthetic-lab";
  std::string truth_file;
  int64_t sweep_id = 0;
  uint64_t seed = 0;
  int max_policies = 0;
  double exit_when_idle_s = 0.0;
  int poll_ms = 1000;
  bool verbose = false;
};

// ---------------------------------------------------------------------------
// Stopping: a signal handler may only set a flag; the loop reads it between
// calls and while it waits.

volatile std::sig_atomic_t g_stop = 0;

extern "C" void OnStopSignal(int) { g_stop = 1; }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool Stopping() { return g_stop != 0; }

// Sleeps up to `duration`, waking early when asked to stop.
void SleepUnlessStopped(std::chrono::milliseconds duration) {
  const auto until = Clock::now() + duration;
  while (!Stopping() && Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(50),
                                                          until - Clock::now()));
  }
}

// ---------------------------------------------------------------------------
// Small conversions.

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("reading ", path, " failed"));
  return text.str();
}

absl::StatusOr<SyntheticCheckpoint> LoadCheckpoint(const std::string& uri) {
  const std::string path = LocalPathOfUri(uri);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", uri, " is not a local path or file:// URI; the synthetic lab "
                     "must run where the workers' artifact root is mounted"));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseSyntheticCheckpoint(*text, uri);
}

absl::StatusOr<spec::Rubric> RubricOf(const v1::Rubric& proto) {
  spec::Rubric rubric;
  switch (proto.kind()) {
    case v1::RUBRIC_KIND_MILESTONES: rubric.kind = spec::RubricKind::kMilestones; break;
    case v1::RUBRIC_KIND_ITEMS: rubric.kind = spec::RubricKind::kItems; break;
    default: return absl::InvalidArgumentError("the batch's rubric has no kind");
  }
  for (const v1::RubricEntry& entry : proto.entries()) {
    rubric.entries.push_back({.name = entry.name(), .value = entry.value()});
  }
  if (absl::Status ok = CheckRubric(rubric); !ok.ok()) return ok;
  return rubric;
}

v1::TrialInput TrialInputOf(const DrawnTrial& trial, const Flags& flags) {
  v1::TrialInput input;
  input.set_trial_index(trial.trial_index);
  for (const std::string& name : trial.achieved) input.add_achieved(name);
  input.set_success(trial.score == 1.0);
  input.mutable_duration()->set_seconds(trial.duration_ms / 1000);
  input.mutable_duration()->set_nanos(static_cast<int32_t>(trial.duration_ms % 1000) * 1000000);
  input.set_operator_(flags.operator_name);
  input.set_robot_id(flags.robot_id);
  input.set_notes("synthetic trial (mixsweep-lab)");
  return input;
}

double MeanScore(const std::vector<DrawnTrial>& trials) {
  double sum = 0.0;
  for (const DrawnTrial& trial : trials) sum += trial.score;
  return trials.empty() ? 0.0 : sum / static_cast<double>(trials.size());
}

bool Transient(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}

absl::StatusCode CodeOf(const grpc::Status& status) {
  // gRPC's and absl's canonical codes share their numbers.
  return static_cast<absl::StatusCode>(status.error_code());
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(CodeOf(status)), ": ", status.error_message());
}

// ---------------------------------------------------------------------------
// The operator.

class Lab {
 public:
  Lab(const Flags& flags, GroundTruth truth, std::shared_ptr<grpc::Channel> channel)
      : flags_(flags),
        truth_(std::move(truth)),
        channel_(std::move(channel)),
        stub_(v1::EvaluationService::NewStub(channel_)) {}

  int Run() {
    if (absl::Status robot = EnsureRobot(); !robot.ok()) return Stopping() ? Stopped() : Fail(robot);
    auto idle_since = Clock::now();
    while (!Stopping()) {
      absl::StatusOr<v1::EvaluationBatch> batch = NextBatch();
      if (!batch.ok()) return Stopping() ? Stopped() : Fail(batch.status());
      if (!batch->batch_id().empty()) {
        if (absl::Status done = EvaluateBatch(*batch); !done.ok()) {
          return Stopping() ? Stopped() : Fail(done);
        }
        idle_since = Clock::now();
        continue;
      }
      if (IdleLongEnough(idle_since)) {
        spdlog::info("nothing to evaluate for {:.0f} s: exiting", flags_.exit_when_idle_s);
        return kOk;
      }
      SleepUnlessStopped(std::chrono::milliseconds(flags_.poll_ms));
    }
    return Stopped();
  }

 private:
  int Fail(const absl::Status& status) const {
    spdlog::error("{}", std::string(status.message()));
    return kError;
  }

  int Stopped() const {
    spdlog::info("stopped");
    return kOk;
  }

  bool IdleLongEnough(Clock::time_point idle_since) const {
    if (flags_.exit_when_idle_s <= 0.0) return false;
    return Clock::now() - idle_since >= std::chrono::duration<double>(flags_.exit_when_idle_s);
  }

  // Calls `rpc`, retrying transient failures with backoff; the request is the
  // same each time (with the same idempotency key where it has one).
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::EvaluationService::Stub::*rpc)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                    const Request& request, Response* response, absl::string_view what) {
    const auto give_up_at = Clock::now() + kRetryFor;
    std::chrono::milliseconds backoff = kFirstBackoff;
    while (true) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
      grpc::Status status = ((*stub_).*rpc)(&context, request, response);
      if (!Transient(status) || Stopping() || Clock::now() >= give_up_at) return status;
      spdlog::warn("{}: {}; retrying in {} ms", std::string(what), Describe(status), backoff.count());
      WaitBeforeRetry(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
  }

  absl::Status Refused(absl::string_view what, const grpc::Status& status) const {
    return absl::Status(CodeOf(status),
                        absl::StrCat(what, " failed (", flags_.connection.server, "): ", Describe(status)));
  }

  // Registers the robot unless the server knows it already.
  absl::Status EnsureRobot() {
    v1::ListRobotsResponse robots;
    grpc::Status listed = Call(&v1::EvaluationService::Stub::ListRobots, v1::ListRobotsRequest(),
                               &robots, "ListRobots");
    if (!listed.ok()) return Refused("ListRobots", listed);
    for (const v1::Robot& robot : robots.robots()) {
      if (robot.id() != flags_.robot_id) continue;
      if (robot.platform() != flags_.platform) {
        spdlog::warn("robot {} is registered with platform \"{}\", not \"{}\"", robot.id(),
                     robot.platform(), flags_.platform);
      }
      return absl::OkStatus();
    }
    v1::RegisterRobotRequest request;
    request.mutable_robot()->set_id(flags_.robot_id);
    request.mutable_robot()->set_platform(flags_.platform);
    request.mutable_robot()->set_location("synthetic lab");
    request.set_idempotency_key(absl::StrCat("mixsweep-lab/robot/", flags_.robot_id));
    v1::Robot robot;
    grpc::Status registered =
        Call(&v1::EvaluationService::Stub::RegisterRobot, request, &robot, "RegisterRobot");
    if (!registered.ok()) return Refused("RegisterRobot", registered);
    spdlog::info("registered robot {} (platform {})", robot.id(), robot.platform());
    return absl::OkStatus();
  }

  absl::StatusOr<v1::EvaluationBatch> NextBatch() {
    v1::NextEvaluationBatchRequest request;
    request.set_robot_id(flags_.robot_id);
    request.set_operator_(flags_.operator_name);
    request.set_max_policies(flags_.max_policies);
    request.set_sweep_id(flags_.sweep_id);
    v1::EvaluationBatch batch;
    grpc::Status status = Call(&v1::EvaluationService::Stub::NextEvaluationBatch, request, &batch,
                               "NextEvaluationBatch");
    if (!status.ok()) return Refused("NextEvaluationBatch", status);
    return batch;
  }

  absl::Status EvaluateBatch(const v1::EvaluationBatch& batch) {
    spdlog::info("batch {} (sweep {}): {} on {}, {} policies; {}", batch.batch_id(),
                 batch.sweep_id(), batch.task(), batch.scenario(), batch.policies_size(),
                 batch.reason());
    // The task and scenario first: a wrong truth file is no one policy's fault.
    if (absl::Status covered = CheckCovers(truth_, batch.task(), batch.scenario(), TrainedOn{});
        !covered.ok()) {
      return covered;
    }
    absl::StatusOr<spec::Rubric> rubric = RubricOf(batch.rubric());
    if (!rubric.ok()) return rubric.status();
    for (const v1::BlindPolicy& policy : batch.policies()) {
      if (Stopping()) return absl::OkStatus();
      if (absl::Status done = EvaluatePolicy(batch, *rubric, policy); !done.ok()) {
        return absl::Status(done.code(), absl::StrCat("policy ", policy.label(), ": ", done.message()));
      }
    }
    return absl::OkStatus();
  }

  // The true success rate of the policy behind `policy`'s checkpoint.
  absl::StatusOr<double> TrueSuccess(const v1::EvaluationBatch& batch,
                                     const v1::BlindPolicy& policy) const {
    absl::StatusOr<SyntheticCheckpoint> checkpoint = LoadCheckpoint(policy.checkpoint_uri());
    if (!checkpoint.ok()) return checkpoint.status();
    absl::StatusOr<TrainedOn> trained = ResolveTrainedOn(*checkpoint, LoadCheckpoint);
    if (!trained.ok()) return trained.status();
    absl::Status covered = CheckCovers(truth_, batch.task(), batch.scenario(), *trained);
    if (!covered.ok()) return covered;
    const double s = TrueS(*truth_.Find(batch.scenario()), trained->source, trained->n_tele,
                           trained->n_nt);
    // Hidden by default: the operator is blind, the lab's log need not be.
    spdlog::debug("{}: source \"{}\" N_tele {} N_nt {} seed {}: S_true {:.4f}", policy.label(),
                  trained->source, trained->n_tele, trained->n_nt, trained->seed, s);
    return s;
  }

  absl::Status EvaluatePolicy(const v1::EvaluationBatch& batch, const spec::Rubric& rubric,
                              const v1::BlindPolicy& policy) {
    const int first = policy.trials_recorded();
    const int end = policy.trials_wanted();
    if (first >= end) {
      spdlog::info("{}: all {} trials recorded already", policy.label(), end);
      return absl::OkStatus();
    }
    if (policy.request_id() == 0) return absl::InvalidArgumentError("the batch gives no request id");
    absl::StatusOr<double> s = TrueSuccess(batch, policy);
    if (!s.ok()) return s.status();
    absl::StatusOr<std::vector<DrawnTrial>> trials =
        DrawTrials(rubric, *s, flags_.seed, policy.request_id(), first, end);
    if (!trials.ok()) return trials.status();
    absl::StatusOr<bool> replayed = Record(policy, *trials);
    if (!replayed.ok()) return replayed.status();
    spdlog::info("{}: trials {}..{} recorded, mean score {:.3f}{}", policy.label(), first, end - 1,
                 MeanScore(*trials), *replayed ? " (replayed: stored before)" : "");
    return absl::OkStatus();
  }

  // One RecordTrials call for all of a policy's trials; true when the server
  // had stored them already (a retry or a restarted lab).
  absl::StatusOr<bool> Record(const v1::BlindPolicy& policy, const std::vector<DrawnTrial>& trials) {
    v1::RecordTrialsRequest request;
    request.set_request_id(policy.request_id());
    for (const DrawnTrial& trial : trials) *request.add_trials() = TrialInputOf(trial, flags_);
    request.set_idempotency_key(RecordTrialsKey(policy.request_id(), trials.front().trial_index));
    v1::RecordTrialsResponse response;
    grpc::Status status =
        Call(&v1::EvaluationService::Stub::RecordTrials, request, &response, "RecordTrials");
    if (!status.ok()) {
      return absl::Status(CodeOf(status), absl::StrCat("RecordTrials refused: ", Describe(status)));
    }
    return response.replayed();
  }

  // Waits `duration` before a retry. While mixsweepd is unreachable the
  // channel is not READY and calls fail at once; a reconnection is only
  // noticed when someone polls the channel (gRPC's backup poller: every
  // 5 s), so the lab went on failing for seconds after mixsweepd was back.
  // Here the wait polls the channel and ends once it is connected. When it
  // is READY, mixsweepd itself answered UNAVAILABLE: the whole delay.
  void WaitBeforeRetry(std::chrono::milliseconds duration) {
    if (channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY) {
      SleepUnlessStopped(duration);
      return;
    }
    const auto until = std::chrono::system_clock::now() + duration;
    while (!Stopping() && std::chrono::system_clock::now() < until) {
      const auto slice = std::min(until, std::chrono::system_clock::now() +
                                             std::chrono::milliseconds(100));
      if (channel_->WaitForConnected(slice)) return;
    }
  }

  const Flags& flags_;
  const GroundTruth truth_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EvaluationService::Stub> stub_;
};

// ---------------------------------------------------------------------------
// Command line.

void AddFlags(CLI::App& app, Flags& flags) {
  client::AddConnectionFlags(app, &flags.connection);
  app.add_option("--robot", flags.robot_id, "robot id; registered if the server lacks it")
      ->required();
  app.add_option("--platform", flags.platform, "platform the robot registers with")
      ->capture_default_str();
  app.add_option("--operator", flags.operator_name, "operator name recorded with each trial")
      ->capture_default_str();
  app.add_option("--truth", flags.truth_file, "ground-truth YAML (docs/synthetic-lab.md)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--sweep", flags.sweep_id, "evaluate only this sweep (0: any)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the trial draws")->capture_default_str();
  app.add_option("--max-policies", flags.max_policies, "policies per batch (0: the server's default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--exit-when-idle", flags.exit_when_idle_s,
                 "exit 0 after this many seconds with nothing to evaluate (0: run until SIGTERM)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--poll-ms", flags.poll_ms, "wait between empty batches, in ms")
      ->check(CLI::Range(10, 600000))
      ->capture_default_str();
  app.add_flag("-v,--verbose", flags.verbose, "also log each policy's mixture and true S");
}

absl::StatusOr<GroundTruth> LoadTruth(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<GroundTruth> truth = ParseGroundTruth(*text);
  if (!truth.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", truth.status().message()));
  }
  return truth;
}

int Main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"mixsweep-lab: a synthetic robot operator that evaluates policies from a ground truth"};
  AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  absl::StatusOr<GroundTruth> truth = LoadTruth(flags.truth_file);
  if (!truth.ok()) {
    spdlog::error("--truth {}", std::string(truth.status().message()));
    return kUsage;
  }
  if (flags.verbose) spdlog::set_level(spdlog::level::debug);
  InstallStopHandlers();
  spdlog::info("mixsweep-lab: robot {} as {} on {}, truth {} ({} scenarios), seed {}",
               flags.robot_id, flags.operator_name, flags.connection.server, flags.truth_file,
               truth->scenarios.size(), flags.seed);
  auto channel = client::MakeChannel(flags.connection);
  if (!channel.ok()) {
    spdlog::error("{}", std::string(channel.status().message()));
    return kUsage;
  }
  return Lab(flags, *std::move(truth), *std::move(channel)).Run();
}

}  // namespace
}  // namespace mixsweep::lab

int main(int argc, char** argv) { return mixsweep::lab::Main(argc, argv); }
