// Command rendering: see command_render.h for the rules. Every value is
// checked where it is used, by the rules of its placeholder, and an error
// names the placeholder so that a lab can tell which of its inputs to fix.
#include "workers/command_render.h"

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::workers {
namespace {

using Kind = PlaceholderKind;
using Placeholder = PlaceholderInfo;

const Placeholder kPlaceholders[] = {
    {"dataset", Kind::kDataset, &JobValues::dataset},
    {"dataset_hash", Kind::kIdentifier, &JobValues::dataset_hash},
    {"subset_manifest", Kind::kPath, &JobValues::subset_manifest},
    {"n_demos", Kind::kNumber, &JobValues::n_demos},
    {"steps", Kind::kNumber, &JobValues::steps},
    {"seed", Kind::kNumber, &JobValues::seed},
    {"output_dir", Kind::kPath, &JobValues::output_dir},
    {"gpu", Kind::kGpus, &JobValues::gpu},
    {"job_id", Kind::kNumber, &JobValues::job_id},
    {"run_id", Kind::kNumber, &JobValues::run_id},
    {"sweep_id", Kind::kNumber, &JobValues::sweep_id},
    {"code_version", Kind::kIdentifier, &JobValues::code_version},
    {"policy", Kind::kIdentifier, &JobValues::policy},
    {"task", Kind::kIdentifier, &JobValues::task},
    {"init_checkpoint", Kind::kPath, &JobValues::init_checkpoint},
    {"resume_checkpoint", Kind::kOptionalPath, &JobValues::resume_checkpoint},
    {"checkpoint", Kind::kPath, &JobValues::checkpoint},
    {"n_episodes", Kind::kNumber, &JobValues::n_episodes},
    {"step", Kind::kNumber, &JobValues::step},
};

const Placeholder* FindPlaceholder(std::string_view name) {
  for (const Placeholder& placeholder : kPlaceholders) {
    if (placeholder.name == name) return &placeholder;
  }
  return nullptr;
}

std::string KnownNames() {
  std::vector<std::string> names;
  for (const Placeholder& placeholder : kPlaceholders) {
    names.push_back(absl::StrCat("{", std::string(placeholder.name), "}"));
  }
  return absl::StrJoin(names, " ");
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ---------------------------------------------------------------------------
// Value checks.

int HexDigit(char c);

// A character or sequence that ends an argument or starts a command in
// /bin/sh (and in tools that hand their arguments to one), as shown in
// messages; nullopt when `text` has none. `decoded`: `text` came out of
// URL-decoding, where a byte >= 0x80 can only have been encoded: overlong
// UTF-8 (%c0%ae is '.' to a lax decoder) or a look-alike of '.' or '/'
// (U+FF0E, U+2024, U+2215, ...) that Unicode normalisation may turn into
// one. A '%' that does not start a %XX escape is refused too: %u002e is '.'
// to IIS-style decoders, and %%32%65 is %2e once decoded.
std::optional<std::string> FindEscape(std::string_view text, bool decoded) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::StrCat("a control character (\\x", absl::Hex(c, absl::kZeroPad2), ")");
    }
    if (decoded && c >= 0x80) {
      return absl::StrCat("a non-ASCII byte (\\x", absl::Hex(c, absl::kZeroPad2),
                          "), such as overlong UTF-8 or a look-alike of '.' or '/',");
    }
    if (c == '%' && (i + 2 >= text.size() || HexDigit(text[i + 1]) < 0 ||
                     HexDigit(text[i + 2]) < 0)) {
      return "a '%' that does not start a %XX escape,";
    }
    switch (c) {
      case ';': case '|': case '&': case '`': case '<': case '>':
        return absl::StrCat("'", std::string(1, static_cast<char>(c)), "'");
      case '$':
        if (i + 1 < text.size() && (text[i + 1] == '(' || text[i + 1] == '{')) {
          return absl::StrCat("'", std::string(text.substr(i, 2)), "'");
        }
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

// Whether `text` has a ".." segment between '/' or '\' separators.
bool HasParentSegment(std::string_view text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = text.size();
    if (text.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One pass of URL decoding: %XX -> the byte; anything else is kept.
std::string UrlDecodeOnce(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = HexDigit(text[i + 1]);
      const int low = HexDigit(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

absl::Status Refused(std::string_view name, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("{", std::string(name), "}: ", why));
}

// The checks every string value passes, whatever its placeholder: written
// as is, and after each round of URL decoding (a tool may decode it, and
// some decode twice), it has no escape and no ".." segment.
absl::Status CheckEscapes(std::string_view name, std::string_view value) {
  std::string decoded(value);
  for (int round = 0;; ++round) {
    const std::string said = round == 0   ? "value"
                             : round == 1 ? "value, once URL-decoded,"
                                          : absl::StrCat("value, URL-decoded ", round, " times,");
    if (std::optional<std::string> escape = FindEscape(decoded, round > 0)) {
      return Refused(name, absl::StrCat(said, " contains ", *escape,
                                        " which could escape its argument"));
    }
    if (HasParentSegment(decoded)) {
      return Refused(name, absl::StrCat(said, " contains a '..' path segment"));
    }
    std::string next = UrlDecodeOnce(decoded);
    if (next == decoded) return absl::OkStatus();  // shorter each round: this ends
    decoded = std::move(next);
  }
}

bool IsIdentifierChar(char c) {
  return IsAsciiAlnum(c) || std::string_view("._:+@=/-").find(c) != std::string_view::npos;
}

bool IsLocationChar(char c) {
  return IsAsciiAlnum(c) || std::string_view("._~:/@+=,%-").find(c) != std::string_view::npos;
}

absl::Status CheckCharset(std::string_view name, std::string_view value, bool (*allowed)(char),
                          std::string_view described) {
  for (char c : value) {
    if (allowed(c)) continue;
    const std::string shown = c == ' '    ? "a space"
                              : c == '\'' ? "a quote (')"
                                          : absl::StrCat("'", absl::CHexEscape(std::string(1, c)), "'");
    return Refused(name, absl::StrCat("value contains ", shown, " which is not allowed here (",
                                      std::string(described), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckGpus(std::string_view value) {
  bool digit_before = false;
  for (char c : value) {
    if (c >= '0' && c <= '9') {
      digit_before = true;
    } else if (c == ',' && digit_before) {
      digit_before = false;
    } else {
      return Refused("gpu", absl::StrCat("value \"", absl::CHexEscape(std::string(value)),
                                         "\" is not a comma-separated list of GPU indices"));
    }
  }
  if (!value.empty() && !digit_before) {
    return Refused("gpu", "value ends with ',' (expected GPU indices such as 0 or 2,3)");
  }
  return absl::OkStatus();
}

// "file:///art" -> "/art": a file URI and its path name the same place.
std::string_view WithoutFileScheme(std::string_view location) {
  constexpr std::string_view kFile = "file://";
  if (location.substr(0, kFile.size()) == kFile) location.remove_prefix(kFile.size());
  return location;
}

// Whether `location` is `root` or lies below it, at a '/' boundary.
bool IsUnder(std::string_view location, std::string_view root) {
  location = WithoutFileScheme(location);
  root = WithoutFileScheme(root);
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  if (root == "/") return location.substr(0, 1) == "/";
  if (location.substr(0, root.size()) != root) return false;
  return location.size() == root.size() || location[root.size()] == '/';
}

absl::Status CheckConfined(std::string_view name, std::string_view value,
                           const std::vector<std::string>& roots) {
  if (roots.empty()) return absl::OkStatus();  // no confinement asked for
  for (const std::string& root : roots) {
    // An unset root ("") must not admit everything.
    if (!root.empty() && IsUnder(value, root)) return absl::OkStatus();
  }
  return Refused(name, absl::StrCat(std::string(value), " is not under an allowed root (",
                                    absl::StrJoin(roots, ", "), ")"));
}

absl::Status CheckString(const Placeholder& placeholder, std::string_view value,
                         const RenderOptions& options) {
  const std::string_view name = placeholder.name;
  if (value.size() > kMaxValueBytes) {
    return Refused(name, absl::StrCat("value is longer than ", kMaxValueBytes, " bytes"));
  }
  if (value.empty()) {
    if (placeholder.kind != Kind::kDataset && placeholder.kind != Kind::kPath) {
      return absl::OkStatus();  // an identifier, GPU list or resume point may be unset
    }
    const std::string why = name == "init_checkpoint" ? ": the pretrain's checkpoint is unknown"
                            : name == "checkpoint"    ? ": the checkpoint to evaluate is unknown"
                                                      : "";
    return absl::InvalidArgumentError(absl::StrCat("{", std::string(name), "} is empty", why));
  }
  if (absl::Status status = CheckEscapes(name, value); !status.ok()) return status;
  if (value.front() == '-') {
    return Refused(name, "value starts with '-' and could be read as an option");
  }
  switch (placeholder.kind) {
    case Kind::kIdentifier:
      // Not a path: "/etc/shadow" or ".hidden" is no policy or task name.
      if (!IsAsciiAlnum(value.front())) {
        return Refused(name, "value must start with a letter or digit");
      }
      return CheckCharset(name, value, IsIdentifierChar, "letters, digits and ._:+@=/-");
    case Kind::kGpus:
      return CheckGpus(value);
    case Kind::kDataset:
      return CheckCharset(name, value, IsLocationChar, "letters, digits and ._~:/@+=,%-");
    case Kind::kPath:
    case Kind::kOptionalPath:
      if (absl::Status status =
              CheckCharset(name, value, IsLocationChar, "letters, digits and ._~:/@+=,%-");
          !status.ok()) {
        return status;
      }
      return CheckConfined(name, value, options.allowed_roots);
    case Kind::kNumber:
      break;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Templates.

// Checked values by placeholder name, each checked once however often the
// template uses it.
class ValueSource {
 public:
  ValueSource(const JobValues& values, const RenderOptions& options)
      : values_(values), options_(options) {}

  absl::StatusOr<std::string> Get(const Placeholder& placeholder) {
    auto cached = checked_.find(placeholder.name);
    if (cached != checked_.end()) return cached->second;
    std::string value;
    if (auto number = std::get_if<int64_t JobValues::*>(&placeholder.field)) {
      // No job has a negative count, step, seed or id; "-1" standing alone
      // is an option to most tools.
      if (values_.**number < 0) {
        return Refused(placeholder.name, absl::StrCat("value ", values_.**number,
                                                      " is negative and could be read as an "
                                                      "option"));
      }
      value = std::to_string(values_.**number);
    } else {
      value = values_.*std::get<std::string JobValues::*>(placeholder.field);
      if (absl::Status status = CheckString(placeholder, value, options_); !status.ok()) {
        return status;
      }
    }
    checked_.emplace(placeholder.name, value);
    return value;
  }

 private:
  const JobValues& values_;
  const RenderOptions& options_;
  std::map<std::string_view, std::string> checked_;
};

bool IsPlaceholderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

absl::Status TemplateError(std::string_view where, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": ", why));
}

// Replaces the placeholders of `text` (`where` names it in errors: "argv[2]",
// "shell", "env.WANDB_MODE", "checkpoint"), single-quoting each value when
// `quote` (a shell script).
absl::StatusOr<std::string> RenderText(std::string_view text, std::string_view where,
                                       ValueSource& values, bool quote) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool doubled = i + 1 < text.size() && text[i + 1] == c;
    if (c == '\0') return TemplateError(where, "contains a NUL byte");
    if ((c == '{' || c == '}') && doubled) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') {
      return TemplateError(where, absl::StrCat("unbalanced '}' at character ", i + 1,
                                               "; write }} for a literal brace"));
    }
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) {
      return TemplateError(where, absl::StrCat("unbalanced '{' at character ", i + 1,
                                               "; write {{ for a literal brace"));
    }
    const std::string_view name = text.substr(i + 1, close - i - 1);
    if (!IsPlaceholderName(name)) {
      return TemplateError(
          where, absl::StrCat("malformed placeholder {",
                              absl::CHexEscape(std::string(name.substr(0, 40))),
                              "} (names are lower-case letters and '_'); write {{ and }} for "
                              "literal braces"));
    }
    const Placeholder* placeholder = FindPlaceholder(name);
    if (placeholder == nullptr) {
      return TemplateError(where, absl::StrCat("unknown placeholder {", std::string(name),
                                               "} (known: ", KnownNames(), ")"));
    }
    absl::StatusOr<std::string> value = values.Get(*placeholder);
    if (!value.ok()) return value.status();
    out += quote ? ShellQuote(*value) : *value;
    i = close;
  }
  return out;
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!IsAsciiAlnum(c) && c != '_') return false;
  }
  return true;
}

absl::Status RenderArgv(const CommandTemplate& command, ValueSource& values,
                        RenderedCommand& out) {
  if (!command.shell.empty()) {
    absl::StatusOr<std::string> script = RenderText(command.shell, "shell", values, true);
    if (!script.ok()) return script.status();
    out.argv = {"/bin/sh", "-c", *std::move(script)};
    out.shell = true;
    return absl::OkStatus();
  }
  for (size_t i = 0; i < command.argv.size(); ++i) {
    absl::StatusOr<std::string> arg =
        RenderText(command.argv[i], absl::StrCat("argv[", i, "]"), values, false);
    if (!arg.ok()) return arg.status();
    out.argv.push_back(*std::move(arg));
  }
  if (out.argv[0].empty()) return TemplateError("argv[0]", "the program is empty");
  return absl::OkStatus();
}

}  // namespace

std::span<const PlaceholderInfo> KnownPlaceholders() { return kPlaceholders; }

absl::Status CheckPlaceholderValue(std::string_view placeholder, const JobValues& values,
                                   const RenderOptions& options) {
  const Placeholder* known = FindPlaceholder(placeholder);
  if (known == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown placeholder {",
                                                   std::string(placeholder), "}"));
  }
  ValueSource source(values, options);
  absl::StatusOr<std::string> value = source.Get(*known);
  return value.status();
}

absl::StatusOr<std::string> RenderLocation(std::string_view text, std::string_view where,
                                           const JobValues& values,
                                           const RenderOptions& options) {
  if (text.empty()) return TemplateError(where, "the template is empty");
  ValueSource source(values, options);
  return RenderText(text, where, source, false);
}

std::string ShellQuote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

absl::StatusOr<RenderedCommand> RenderCommand(const CommandTemplate& command,
                                              const JobValues& values,
                                              const RenderOptions& options) {
  if (command.argv.empty() == command.shell.empty()) {
    return absl::InvalidArgumentError(
        "command: give exactly one of argv (run without a shell) and shell (a script for "
        "/bin/sh -c)");
  }
  ValueSource source(values, options);
  RenderedCommand out;
  if (absl::Status status = RenderArgv(command, source, out); !status.ok()) return status;
  for (const auto& [name, text] : command.env) {
    if (!IsEnvName(name)) {
      return TemplateError(absl::StrCat("env.", absl::CHexEscape(name)),
                           "is not a valid environment variable name");
    }
    absl::StatusOr<std::string> value = RenderText(text, absl::StrCat("env.", name), source, false);
    if (!value.ok()) return value.status();
    out.env[name] = *std::move(value);
  }
  const std::string_view checkpoint =
      command.checkpoint.empty() ? std::string_view("{output_dir}") : command.checkpoint;
  absl::StatusOr<std::string> rendered = RenderText(checkpoint, "checkpoint", source, false);
  if (!rendered.ok()) return rendered.status();
  out.checkpoint = *std::move(rendered);
  return out;
}

}  // namespace mixsweep::workers
