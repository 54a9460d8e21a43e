// mixsweep: the command-line client of mixsweepd.
//
//   mixsweep sweep submit docs/examples/pick_dual_bottles.yaml
//   mixsweep sweep show 1 --jobs
//   mixsweep sweep watch 1
//   mixsweep --json sweep list
//   mixsweep job show 4
//   mixsweep job logs 4 --follow --tail 4096
//   mixsweep workers --all
//   mixsweep robot add aloha-1 --platform aloha-agilex-2.0 --location "bay 3"
//   mixsweep eval next --robot aloha-1
//   mixsweep eval record P-7K2Q --robot aloha-1          (prompts per trial)
//   mixsweep eval record P-7K2Q --csv trials.csv
//   mixsweep eval results 1 --csv > results.csv
//   mixsweep util show 1 --scenario in_domain
//   mixsweep util recommend 1 --scenario in_domain --source sim --budget 100
//
// The commands live in files per group: sweep_commands.cc (sweep, job,
// workers), eval_commands.cc (robot, eval), util_commands.cc (util);
// client.h has what they share, and the exit codes:
//   0 success; 1 other error; 2 bad command line; 3 the request was invalid
//   (e.g. a bad spec); 4 not found; 5 refused in the current state
//   (FAILED_PRECONDITION, ABORTED); 6 the server is unreachable.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "services/cli/client.h"

namespace mixsweep::cli {
namespace {

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
  globals.user = EnvOr("MIXSWEEP_USER", EnvOr("USER", LoginName()));

  CLI::App app{"mixsweep: run data-mixture sweeps (client of mixsweepd)"};
  client::AddConnectionFlags(app, &globals.connection);
  app.add_flag("--json", globals.json, "print JSON for scripts");
  app.add_option("--timeout", globals.timeout_seconds, "seconds per call")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--idempotency-key", globals.idempotency_key,
                 "key of this command's write (default: random); the same key again "
                 "returns the first answer and writes nothing more")
      ->check([](const std::string& key) {
        // Room for the "-t<index>" a per-trial key adds (the server takes 128 bytes).
        return key.size() > 112 ? std::string("at most 112 bytes") : std::string();
      });
  app.require_subcommand(1);
  // Global options may also follow the command: `mixsweep eval results 1 --json`.
  app.fallthrough();

  Action action;
  AddSweepCommands(app, globals, action);
  AddEvalCommands(app, globals, action);
  AddUtilCommands(app, globals, action);
  AddTokenCommands(app, globals, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  if (!action) return kUsage;
  auto channel = client::MakeChannel(globals.connection);
  if (!channel.ok()) {
    std::cerr << "error: " << channel.status().message() << "\n";
    return kUsage;
  }
  globals.channel = *std::move(channel);
  return action();
}

}  // namespace
}  // namespace mixsweep::cli

int main(int argc, char** argv) { return mixsweep::cli::Main(argc, argv); }
