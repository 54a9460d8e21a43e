// Child processes for end-to-end and crash tests: start a real binary, read
// its output, signal it, wait for it.
//
// Example:
//   auto daemon = Process::Start({"/path/mixsweepd", "--listen", "127.0.0.1:0"});
//   daemon.Kill(SIGKILL);
//   int status = daemon.Wait();
//   auto r = RunCommand({"/path/mixsweep", "sweep", "list"});  // r.exit_code, r.out
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mixsweep::testing {

class Process {
 public:
  // Starts argv[0] (a path) with extra environment variables; stdout and
  // stderr go to `log_path` (appended) when given, else are inherited.
  static Process Start(const std::vector<std::string>& argv,
                       const std::string& log_path = "",
                       const std::map<std::string, std::string>& env = {});
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();  // SIGKILLs and reaps a child still running

  void Kill(int signal);
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
  bool reaped_ = false;  // waited for; status_ holds its wait status
  int status_ = 0;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs a command to completion, with optional stdin text.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_text = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(60),
                         const std::map<std::string, std::string>& env = {});

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// The last `lines` lines of a file (a process's log), for failure messages.
std::string FileTail(const std::string& path, size_t lines = 40);

}  // namespace mixsweep::testing
