// What every `mixsweep` command shares: global options, exit codes, the gRPC
// client with its retry of UNAVAILABLE, idempotency keys, JSON output,
// Ctrl-C for streams, and CallAndPrint, the shape of most commands
// ("build request -> call -> print JSON or the rendered text").
//
// Exit codes (scripts may rely on them):
//   0 success; 1 other error; 2 bad command line; 3 the request was invalid
//   (e.g. a bad spec); 4 not found; 5 refused in the current state
//   (FAILED_PRECONDITION, ABORTED); 6 the server is unreachable;
//   7 not allowed (UNAUTHENTICATED: no or bad token; PERMISSION_DENIED: the
//   token's role may not do this).
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "mixsweep/v1/auth.grpc.pb.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "services/channel/channel.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"

namespace CLI {
class App;
}

namespace mixsweep::cli {

enum ExitCode {
  kOk = 0,
  kError = 1,
  kUsage = 2,
  kInvalid = 3,
  kNotFound = 4,
  kRefused = 5,
  kUnreachable = 6,
  kNotAllowed = 7,
};

struct Globals {
  // --server, --token-file, --tls-*: how to reach mixsweepd.
  client::ConnectionFlags connection;
  // Made once the command line is parsed; every Client shares it.
  std::shared_ptr<grpc::Channel> channel;
  // The operator name recorded with trials unless a command names one
  // ($MIXSWEEP_USER, else the login name). Who the caller *is* comes from
  // the token.
  std::string user;
  bool json = false;
  int timeout_seconds = 30;
  // --idempotency-key: the key of this invocation's write (empty: random).
  std::string idempotency_key;
};

// The command to run once the command line is parsed.
using Action = std::function<int()>;

int ExitCodeFor(const grpc::Status& status);
// Prints "error: CODE: message" to stderr; returns ExitCodeFor(status).
int Fail(const grpc::Status& status);

// The key of this invocation's write: --idempotency-key, else a random one,
// made once per process, so the retry of UNAVAILABLE (and any second call of
// this function) reuses it and a lost answer never writes twice.
std::string IdempotencyKey(const Globals& globals);

void PrintJson(const google::protobuf::Message& message);

bool ReadFile(const std::string& path, std::string* out);

// "12:03:04" in local time: when a streamed update came.
std::string LocalClock();

class Client {
 public:
  explicit Client(const Globals& globals);

  // Calls `rpc` (of any mixsweep service), retrying UNAVAILABLE with
  // backoff: every call the CLI makes is a read or carries an idempotency
  // key, so retrying is safe.
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

  // A deadline unless `deadline` is false (streams that follow a job or a
  // sweep last as long as it does). The token rides on the channel.
  void Prepare(grpc::ClientContext* context, bool deadline = true) const;

  template <typename Stub>
  Stub& StubOf() {
    if constexpr (std::is_same_v<Stub, v1::WorkerService::Stub>) {
      return *worker_stub_;
    } else if constexpr (std::is_same_v<Stub, v1::EvaluationService::Stub>) {
      return *evaluation_stub_;
    } else if constexpr (std::is_same_v<Stub, v1::UtilizationService::Stub>) {
      return *utilization_stub_;
    } else if constexpr (std::is_same_v<Stub, v1::AuthService::Stub>) {
      return *auth_stub_;
    } else {
      static_assert(std::is_same_v<Stub, v1::SweepService::Stub>);
      return *stub_;
    }
  }

  v1::SweepService::Stub& stub() { return *stub_; }

 private:
  const Globals& globals_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
  std::unique_ptr<v1::WorkerService::Stub> worker_stub_;
  std::unique_ptr<v1::EvaluationService::Stub> evaluation_stub_;
  std::unique_ptr<v1::UtilizationService::Stub> utilization_stub_;
  std::unique_ptr<v1::AuthService::Stub> auth_stub_;
};

// The shape of most commands: call `rpc` with `request`; on error print it
// and return its exit code; else print the response as JSON (--json) or
// `render(response)` (a string) and return 0.
template <typename Stub, typename Request, typename Response, typename Render>
int CallAndPrint(const Globals& globals,
                 grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                 const Request& request, Render&& render) {
  Client client(globals);
  Response response;
  if (grpc::Status status = client.Call(rpc, request, &response); !status.ok()) {
    return Fail(status);
  }
  if (globals.json) {
    PrintJson(response);
  } else {
    std::cout << render(response) << std::flush;
  }
  return kOk;
}

// Ctrl-C (SIGINT) or SIGTERM while a stream is open cancels the stream, so
// the command ends cleanly (output flushed, exit 0) instead of dying. A
// signal handler may only set a flag; a watcher thread turns it into
// ClientContext::TryCancel.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  static bool Interrupted();

 private:
  grpc::ClientContext* context_;
  std::atomic<bool> done_{false};
  std::thread watcher_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Makes `command`, once the command line chose it, set `action` to run
// `run` with the parsed global options.
void OnRun(CLI::App* command, const Globals& globals, Action& action,
           std::function<int(const Globals&)> run);

// The command groups, each in its own file: they add their subcommands to
// `app`; the one the command line names sets `action`.
void AddSweepCommands(CLI::App& app, Globals& globals, Action& action);  // sweep, job, workers
void AddEvalCommands(CLI::App& app, Globals& globals, Action& action);   // robot, eval
void AddUtilCommands(CLI::App& app, Globals& globals, Action& action);   // util
void AddTokenCommands(CLI::App& app, Globals& globals, Action& action);  // token, whoami

}  // namespace mixsweep::cli
