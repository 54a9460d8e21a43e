#include "db/command_json.h"

#include <map>
#include <vector>

namespace mixsweep::db {

using nlohmann::json;

json CommandJson(const spec::CommandTemplate& command) {
  return json{{"argv", command.argv},
              {"shell", command.shell},
              {"env", command.env},
              {"checkpoint", command.checkpoint},
              {"no_retry_exit_codes", command.no_retry_exit_codes},
              {"progress_pattern", command.progress_pattern},
              {"checkpoint_at_step", command.checkpoint_at_step},
              {"result_file", command.result_file},
              {"result_format", command.result_format}};
}

spec::CommandTemplate CommandFromJson(const std::string& text) {
  spec::CommandTemplate command;
  const json j = json::parse(text);
  command.argv = j.value("argv", std::vector<std::string>{});
  command.shell = j.value("shell", std::string());
  command.env = j.value("env", std::map<std::string, std::string>{});
  command.checkpoint = j.value("checkpoint", std::string());
  command.no_retry_exit_codes = j.value("no_retry_exit_codes", std::vector<int>{});
  command.progress_pattern = j.value("progress_pattern", std::string());
  command.checkpoint_at_step = j.value("checkpoint_at_step", std::string());
  command.result_file = j.value("result_file", std::string());
  command.result_format = j.value("result_format", std::string());
  return command;
}

}  // namespace mixsweep::db
