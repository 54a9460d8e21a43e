#include "workers/python_json.h"

namespace mixsweep::workers {

std::string ReplaceBareNonFinite(std::string_view text,
                                 absl::FunctionRef<std::string(std::string_view bare)> replacement) {
  // -Infinity before Infinity: the longer spelling wins.
  static constexpr std::string_view kBare[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view bare : kBare) {
      if (text.substr(i, bare.size()) == bare) {
        out += replacement(bare);
        i += bare.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

}  // namespace mixsweep::workers
