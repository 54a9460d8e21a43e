// mixsweep: the command-line client of mixsweepd.
//
//   mixsweep sweep submit docs/examples/pick_dual_bottles.yaml
//   mixsweep sweep show 1 --jobs
//   mixsweep sweep watch 1
//   mixsweep --json sweep list
//   mixsweep job show 4
//   mixsweep job logs 4 --follow --tail 4096
//   mixsweep workers --all
//
// Exit codes (scripts may rely on them):
//   0 success; 1 other error; 2 bad command line; 3 the request was invalid
//   (e.g. a bad spec); 4 not found; 5 refused in the current state
//   (FAILED_PRECONDITION, ABORTED); 6 the server is unreachable.
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <type_traits>

#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"
#include "services/cli/render.h"

namespace mixsweep::cli {
namespace {
namespace v1 = mixsweep::v1;

enum ExitCode {
  kOk = 0,
  kError = 1,
  kUsage = 2,
  kInvalid = 3,
  kNotFound = 4,
  kRefused = 5,
  kUnreachable = 6,
};

struct Globals {
  std::string server;
  std::string user;
  bool json = false;
  int timeout_seconds = 30;
};

int ExitCodeFor(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return kOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return kInvalid;
    case grpc::StatusCode::NOT_FOUND: return kNotFound;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::ALREADY_EXISTS: return kRefused;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return kUnreachable;
    default: return kError;
  }
}

// The code's name as google.rpc names it ("INVALID_ARGUMENT"); absl and
// gRPC number the codes alike.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

int Fail(const grpc::Status& status) {
  std::cerr << "error: " << CodeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  return ExitCodeFor(status);
}

// A fresh key per command: internal retries reuse it, so a retried submit
// after a lost answer never creates a second sweep.
std::string NewIdempotencyKey() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  return absl::StrCat("cli-", absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

class Client {
 public:
  explicit Client(const Globals& globals)
      : globals_(globals),
        channel_(grpc::CreateChannel(globals.server, grpc::InsecureChannelCredentials())),
        stub_(v1::SweepService::NewStub(channel_)),
        worker_stub_(v1::WorkerService::NewStub(channel_)) {}

  // Calls `rpc` (of either service), retrying UNAVAILABLE with backoff:
  // every call the CLI makes is a read or carries an idempotency key, so
  // retrying is safe.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::Status status;
    auto delay = std::chrono::milliseconds(200);
    for (int attempt = 0; attempt < 4; ++attempt) {
      grpc::ClientContext context;
      Prepare(&context);
      status = (StubOf<Stub>().*rpc)(&context, request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    return status;
  }

  // The user, and a deadline unless `deadline` is false (streams that follow
  // a job or a sweep last as long as it does).
  void Prepare(grpc::ClientContext* context, bool deadline = true) const {
    context->AddMetadata("x-mixsweep-user", globals_.user);
    if (deadline) {
      context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(globals_.timeout_seconds));
    }
  }

  v1::SweepService::Stub& stub() { return *stub_; }

 private:
  template <typename Stub>
  Stub& StubOf() {
    if constexpr (std::is_same_v<Stub, v1::WorkerService::Stub>) {
      return *worker_stub_;
    } else {
      return *stub_;
    }
  }

  const Globals& globals_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
  std::unique_ptr<v1::WorkerService::Stub> worker_stub_;
};

// Ctrl-C (SIGINT) or SIGTERM while a stream is open cancels the stream, so
// the command ends cleanly (output flushed, exit 0) instead of dying. A
// signal handler may only set a flag; a watcher thread turns it into
// ClientContext::TryCancel.
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) { g_interrupted = 1; }

class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context) : context_(context) {
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    watcher_ = std::thread([this] {
      while (!done_.load()) {
        if (g_interrupted != 0) {
          context_->TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  ~CancelOnInterrupt() {
    done_.store(true);
    watcher_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  static bool Interrupted() { return g_interrupted != 0; }

 private:
  grpc::ClientContext* context_;
  std::atomic<bool> done_{false};
  std::thread watcher_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::cout << json;
}

int SubmitSweep(const Globals& globals, const std::string& file, bool validate_only) {
  v1::SubmitSweepRequest request;
  if (!ReadFile(file, request.mutable_spec_yaml())) {
    std::cerr << "error: cannot read " << file << "\n";
    return kUsage;
  }
  request.set_validate_only(validate_only);
  request.set_idempotency_key(NewIdempotencyKey());
  Client client(globals);
  v1::SubmitSweepResponse response;
  grpc::Status status = client.Call(&v1::SweepService::Stub::SubmitSweep, request, &response);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(response);
  } else if (validate_only) {
    std::cout << file << " is valid: " << response.runs() << " runs, " << response.jobs()
              << " jobs\n";
  } else {
    std::cout << "submitted sweep " << response.sweep().id() << ": " << response.runs()
              << " runs, " << response.jobs() << " jobs\n";
  }
  return kOk;
}

int ExtendSweep(const Globals& globals, int64_t id, const std::string& file, bool validate_only) {
  v1::ExtendSweepRequest request;
  request.set_sweep_id(id);
  if (!ReadFile(file, request.mutable_spec_yaml())) {
    std::cerr << "error: cannot read " << file << "\n";
    return kUsage;
  }
  request.set_validate_only(validate_only);
  request.set_idempotency_key(NewIdempotencyKey());
  Client client(globals);
  v1::ExtendSweepResponse response;
  grpc::Status status = client.Call(&v1::SweepService::Stub::ExtendSweep, request, &response);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(response);
  } else {
    std::cout << (validate_only ? "would extend" : "extended") << " sweep " << id << ": +"
              << response.runs_added() << " runs, +" << response.jobs_added() << " jobs\n";
  }
  return kOk;
}

int ListSweeps(const Globals& globals, const std::string& owner) {
  Client client(globals);
  v1::ListSweepsRequest request;
  request.set_owner(owner);
  std::vector<v1::Sweep> all;
  v1::ListSweepsResponse merged;
  do {
    v1::ListSweepsResponse page;
    grpc::Status status = client.Call(&v1::SweepService::Stub::ListSweeps, request, &page);
    if (!status.ok()) return Fail(status);
    for (const auto& sweep : page.sweeps()) {
      all.push_back(sweep);
      *merged.add_sweeps() = sweep;
    }
    request.mutable_page()->set_page_token(page.next_page_token());
  } while (!request.page().page_token().empty());
  if (globals.json) {
    PrintJson(merged);
  } else {
    std::cout << RenderSweepList(all);
  }
  return kOk;
}

int ShowSweep(const Globals& globals, int64_t id, bool jobs) {
  Client client(globals);
  v1::GetSweepRequest request;
  request.set_sweep_id(id);
  request.set_include_runs(true);
  request.set_include_jobs(true);
  v1::GetSweepResponse response;
  grpc::Status status = client.Call(&v1::SweepService::Stub::GetSweep, request, &response);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(response);
    return kOk;
  }
  std::cout << RenderSweepSummary(response, std::chrono::system_clock::now()) << "\n"
            << RenderRuns(response);
  if (jobs) std::cout << "\n" << RenderJobs(response);
  return kOk;
}

int CancelSweep(const Globals& globals, int64_t id, const std::string& reason) {
  Client client(globals);
  v1::CancelSweepRequest request;
  request.set_sweep_id(id);
  request.set_reason(reason);
  request.set_idempotency_key(NewIdempotencyKey());
  v1::CancelSweepResponse response;
  grpc::Status status = client.Call(&v1::SweepService::Stub::CancelSweep, request, &response);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(response);
  } else {
    std::cout << "sweep " << id << " cancelled: " << response.jobs_cancelled()
              << " queued jobs stopped, " << response.jobs_stopping()
              << " running jobs asked to stop\n";
  }
  return kOk;
}

// "12:03:04" in local time: when an update came.
std::string LocalClock() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
  return buffer;
}

int WatchSweep(const Globals& globals, int64_t id) {
  Client client(globals);
  v1::WatchSweepRequest request;
  request.set_sweep_id(id);
  grpc::ClientContext context;
  client.Prepare(&context, /*deadline=*/false);
  CancelOnInterrupt cancel_on_interrupt(&context);
  auto reader = client.stub().WatchSweep(&context, request);
  v1::SweepProgress progress;
  while (reader->Read(&progress)) {
    if (globals.json) {
      PrintJson(progress);
      std::cout << std::flush;
      continue;
    }
    // The update has counts only; the estimate needs the jobs' rates.
    v1::GetSweepRequest get;
    get.set_sweep_id(id);
    get.set_include_jobs(true);
    v1::GetSweepResponse sweep;
    std::optional<double> seconds_left;
    if (client.Call(&v1::SweepService::Stub::GetSweep, get, &sweep).ok()) {
      seconds_left = EstimateSecondsLeft(sweep, std::chrono::system_clock::now());
    } else if (progress.seconds_left_estimate() > 0) {
      seconds_left = progress.seconds_left_estimate();
    }
    std::cout << LocalClock() << "  " << RenderSweepProgressLine(progress.sweep(), seconds_left)
              << "\n"
              << std::flush;
  }
  grpc::Status status = reader->Finish();
  if (CancelOnInterrupt::Interrupted()) return kOk;
  return status.ok() ? kOk : Fail(status);
}

int ShowJob(const Globals& globals, int64_t id) {
  Client client(globals);
  v1::GetJobRequest request;
  request.set_job_id(id);
  v1::Job job;
  grpc::Status status = client.Call(&v1::SweepService::Stub::GetJob, request, &job);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(job);
  } else {
    std::cout << RenderJob(job, std::chrono::system_clock::now());
  }
  return kOk;
}

// Streams the job's log to stdout as raw bytes, flushing per chunk. A
// dropped connection (UNAVAILABLE) is resumed from the next byte, up to 4
// times in a row.
int JobLogs(const Globals& globals, int64_t id, bool follow, int64_t tail) {
  Client client(globals);
  // The log of a job that does not exist reads as empty: ask for the job
  // first, so a wrong id says NOT_FOUND (exit 4).
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  if (grpc::Status status = client.Call(&v1::SweepService::Stub::GetJob, get, &job);
      !status.ok()) {
    return Fail(status);
  }
  v1::ReadJobLogRequest request;
  request.set_job_id(id);
  request.set_offset(tail > 0 ? -tail : 0);
  request.set_follow(follow);
  int attempt = 0;
  int failures = 0;
  auto delay = std::chrono::milliseconds(200);
  while (true) {
    grpc::ClientContext context;
    client.Prepare(&context, /*deadline=*/!follow);
    CancelOnInterrupt cancel_on_interrupt(&context);
    auto reader = client.stub().ReadJobLog(&context, request);
    v1::LogChunk chunk;
    bool got_any = false;
    while (reader->Read(&chunk)) {
      got_any = true;
      if (attempt != 0 && chunk.attempt() != attempt) {
        std::cerr << "mixsweep: --- attempt " << chunk.attempt() << " ---\n";
      }
      attempt = chunk.attempt();
      std::fwrite(chunk.data().data(), 1, chunk.data().size(), stdout);
      std::fflush(stdout);
      request.set_offset(chunk.offset() + static_cast<int64_t>(chunk.data().size()));
    }
    grpc::Status status = reader->Finish();
    if (CancelOnInterrupt::Interrupted()) return kOk;
    if (status.ok()) return kOk;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return Fail(status);
    if (got_any) {
      failures = 0;
      delay = std::chrono::milliseconds(200);
    }
    if (++failures >= 4) return Fail(status);
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

int ListWorkers(const Globals& globals, bool all) {
  Client client(globals);
  v1::ListWorkersRequest request;
  request.set_include_gone(all);
  v1::ListWorkersResponse response;
  grpc::Status status = client.Call(&v1::WorkerService::Stub::ListWorkers, request, &response);
  if (!status.ok()) return Fail(status);
  if (globals.json) {
    PrintJson(response);
  } else {
    std::cout << RenderWorkers(response, std::chrono::system_clock::now());
  }
  return kOk;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// The account running the CLI, when the environment does not say.
std::string LoginName() {
  const passwd* entry = getpwuid(geteuid());
  return entry != nullptr && entry->pw_name != nullptr ? entry->pw_name : "anonymous";
}

int Main(int argc, char** argv) {
  Globals globals;
  globals.server = EnvOr("MIXSWEEP_SERVER", "127.0.0.1:50051");
  globals.user = EnvOr("MIXSWEEP_USER", EnvOr("USER", LoginName()));

  CLI::App app{"mixsweep: run data-mixture sweeps (client of mixsweepd)"};
  app.add_option("--server", globals.server, "mixsweepd address (env MIXSWEEP_SERVER)")
      ->capture_default_str();
  app.add_option("--user", globals.user, "who you are (env MIXSWEEP_USER, else USER)")
      ->capture_default_str();
  app.add_flag("--json", globals.json, "print JSON for scripts");
  app.add_option("--timeout", globals.timeout_seconds, "seconds per call")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.require_subcommand(1);

  std::function<int()> action;
  CLI::App* sweep = app.add_subcommand("sweep", "submit, extend, list, show, watch, cancel sweeps");
  sweep->require_subcommand(1);

  std::string file;
  int64_t id = 0;
  bool validate_only = false;
  CLI::App* submit = sweep->add_subcommand("submit", "submit a sweep spec (YAML)");
  submit->add_option("FILE", file, "the spec")->required();
  submit->add_flag("--validate-only", validate_only, "check and count, store nothing");
  submit->callback([&] { action = [&] { return SubmitSweep(globals, file, validate_only); }; });

  CLI::App* extend = sweep->add_subcommand("extend", "add N values, sources or seeds to a sweep");
  extend->add_option("ID", id, "sweep id")->required();
  extend->add_option("FILE", file, "the extended spec")->required();
  extend->add_flag("--validate-only", validate_only, "check and count, store nothing");
  extend->callback([&] { action = [&] { return ExtendSweep(globals, id, file, validate_only); }; });

  std::string owner;
  CLI::App* list = sweep->add_subcommand("list", "list sweeps, newest first");
  list->add_option("--owner", owner, "only this owner's");
  list->callback([&] { action = [&] { return ListSweeps(globals, owner); }; });

  bool show_jobs = false;
  CLI::App* show = sweep->add_subcommand("show", "a sweep with its runs (and jobs)");
  show->add_option("ID", id, "sweep id")->required();
  show->add_flag("--jobs", show_jobs, "also list the jobs");
  show->callback([&] { action = [&] { return ShowSweep(globals, id, show_jobs); }; });

  CLI::App* watch = sweep->add_subcommand("watch", "follow a sweep's progress until it ends");
  watch->add_option("ID", id, "sweep id")->required();
  watch->callback([&] { action = [&] { return WatchSweep(globals, id); }; });

  std::string reason;
  CLI::App* cancel = sweep->add_subcommand("cancel", "cancel a sweep");
  cancel->add_option("ID", id, "sweep id")->required();
  cancel->add_option("--reason", reason, "recorded with the sweep");
  cancel->callback([&] { action = [&] { return CancelSweep(globals, id, reason); }; });

  CLI::App* job = app.add_subcommand("job", "inspect jobs and read their logs");
  job->require_subcommand(1);
  CLI::App* job_show = job->add_subcommand("show", "a job with its provenance");
  job_show->add_option("ID", id, "job id")->required();
  job_show->callback([&] { action = [&] { return ShowJob(globals, id); }; });

  bool follow = false;
  int64_t tail = 0;
  CLI::App* job_logs = job->add_subcommand("logs", "print a job's log (raw bytes)");
  job_logs->add_option("ID", id, "job id")->required();
  job_logs->add_flag("-f,--follow", follow, "keep printing new output until the job ends");
  job_logs->add_option("--tail", tail, "start this many bytes before the end")
      ->check(CLI::NonNegativeNumber);
  job_logs->callback([&] { action = [&] { return JobLogs(globals, id, follow, tail); }; });

  bool all_workers = false;
  CLI::App* workers = app.add_subcommand("workers", "list worker agents and their GPUs");
  workers->add_flag("--all", all_workers, "include workers that said goodbye");
  workers->callback([&] { action = [&] { return ListWorkers(globals, all_workers); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return action ? action() : kUsage;
}

}  // namespace
}  // namespace mixsweep::cli

int main(int argc, char** argv) { return mixsweep::cli::Main(argc, argv); }
