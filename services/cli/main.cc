// mixsweep: the command-line client of mixsweepd.
//
//   mixsweep sweep submit docs/examples/pick_dual_bottles.yaml
//   mixsweep sweep show 1
//   mixsweep --json sweep list
//
// Exit codes (scripts may rely on them):
//   0 success; 1 other error; 2 bad command line; 3 the request was invalid
//   (e.g. a bad spec); 4 not found; 5 refused in the current state
//   (FAILED_PRECONDITION, ABORTED); 6 the server is unreachable.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
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

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
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
        stub_(v1::SweepService::NewStub(
            grpc::CreateChannel(globals.server, grpc::InsecureChannelCredentials()))) {}

  // Calls `rpc`, retrying UNAVAILABLE with backoff: every call the CLI
  // makes is a read or carries an idempotency key, so retrying is safe.
  template <typename Request, typename Response, typename Rpc>
  grpc::Status Call(Rpc rpc, const Request& request, Response* response) {
    grpc::Status status;
    auto delay = std::chrono::milliseconds(200);
    for (int attempt = 0; attempt < 4; ++attempt) {
      grpc::ClientContext context;
      Prepare(&context);
      status = (stub_.get()->*rpc)(&context, request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    return status;
  }

  void Prepare(grpc::ClientContext* context) const {
    context->AddMetadata("x-mixsweep-user", globals_.user);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(globals_.timeout_seconds));
  }

  v1::SweepService::Stub& stub() { return *stub_; }

 private:
  const Globals& globals_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
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
  std::cout << RenderSweepSummary(response.sweep()) << "\n" << RenderRuns(response);
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

int WatchSweep(const Globals& globals, int64_t id) {
  Client client(globals);
  v1::WatchSweepRequest request;
  request.set_sweep_id(id);
  grpc::ClientContext context;
  context.AddMetadata("x-mixsweep-user", globals.user);
  auto reader = client.stub().WatchSweep(&context, request);
  v1::SweepProgress progress;
  while (reader->Read(&progress)) {
    if (globals.json) {
      PrintJson(progress);
    } else {
      std::cout << RenderProgressBar(progress.sweep().counts()) << "  ["
                << ShortEnumName(v1::SweepState_Name(progress.sweep().state())) << "]\n"
                << std::flush;
    }
  }
  grpc::Status status = reader->Finish();
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
    std::cout << RenderJob(job);
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

  CLI::App* job = app.add_subcommand("job", "inspect jobs");
  job->require_subcommand(1);
  CLI::App* job_show = job->add_subcommand("show", "a job with its provenance");
  job_show->add_option("ID", id, "job id")->required();
  job_show->callback([&] { action = [&] { return ShowJob(globals, id); }; });

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
