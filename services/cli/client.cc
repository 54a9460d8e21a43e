#include "services/cli/client.h"

#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::cli {

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
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return kNotAllowed;
    default: return kError;
  }
}

namespace {

// The code's name as google.rpc names it ("INVALID_ARGUMENT"); absl and
// gRPC number the codes alike.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

int Fail(const grpc::Status& status) {
  std::cerr << "error: " << CodeName(status.error_code()) << ": " << status.error_message() << "\n";
  return ExitCodeFor(status);
}

std::string IdempotencyKey(const Globals& globals) {
  if (!globals.idempotency_key.empty()) return globals.idempotency_key;
  static const std::string key = [] {
    std::random_device device;
    std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
    return absl::StrCat("cli-", absl::Hex(rng(), absl::kZeroPad16),
                        absl::Hex(rng(), absl::kZeroPad16));
  }();
  return key;
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::cout << json;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

std::string LocalClock() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
  return buffer;
}

Client::Client(const Globals& globals)
    : globals_(globals),
      channel_(globals.channel),
      stub_(v1::SweepService::NewStub(channel_)),
      worker_stub_(v1::WorkerService::NewStub(channel_)),
      evaluation_stub_(v1::EvaluationService::NewStub(channel_)),
      utilization_stub_(v1::UtilizationService::NewStub(channel_)),
      auth_stub_(v1::AuthService::NewStub(channel_)) {}

void Client::Prepare(grpc::ClientContext* context, bool deadline) const {
  if (deadline) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(globals_.timeout_seconds));
  }
}

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) { g_interrupted = 1; }

}  // namespace

CancelOnInterrupt::CancelOnInterrupt(grpc::ClientContext* context) : context_(context) {
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

CancelOnInterrupt::~CancelOnInterrupt() {
  done_.store(true);
  watcher_.join();
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool CancelOnInterrupt::Interrupted() { return g_interrupted != 0; }

void OnRun(CLI::App* command, const Globals& globals, Action& action,
           std::function<int(const Globals&)> run) {
  command->callback([globals = &globals, action = &action, run = std::move(run)] {
    *action = [globals, run] { return run(*globals); };
  });
}

}  // namespace mixsweep::cli
