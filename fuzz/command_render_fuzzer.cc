// Fuzz target: the command template renderer (workers/command_render.h).
//
// A command template (argv or shell, env, checkpoint), the job's values and
// the allowed roots are all built from the fuzz input (FuzzedDataProvider).
// Beyond "no crash, no sanitizer report, no leak, no hang", the result is
// compared with a second, independent implementation of the documented rules
// (reference below):
//   - RenderCommand accepts exactly when the reference does: the template is
//     well-formed and every value a used placeholder takes passes its checks;
//   - an accepted command is exactly the reference rendering (argv, shell
//     quoting, env, checkpoint), so no value reaches the argv unchecked;
//   - in particular, no value a used placeholder takes holds a refused
//     sequence (a control character, ; | & ` < > $( ${, a '..' segment, a
//     '%' that starts no %XX escape), as written or after any number of
//     URL-decoding rounds (after which it must be ASCII), nor starts with
//     '-' (numbers included), nor lies outside the allowed roots;
//   - ShellQuote(s) reads back as s under /bin/sh's quoting rules, for any s.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fuzz/fuzz_check.h"
#include "workers/command_render.h"

namespace mixsweep::fuzz {
namespace {

using workers::CommandTemplate;
using workers::JobValues;
using workers::RenderOptions;

// ---------------------------------------------------------------------------
// The reference: the rules of command_render.h, written again.

enum class Kind { kNumber, kIdentifier, kGpus, kDataset, kPath, kOptionalPath };

struct Ref {
  Kind kind;
  std::string value;
};

// The placeholder's kind and value; nullopt for an unknown name.
std::optional<Ref> Lookup(std::string_view name, const JobValues& v) {
  auto n = [](int64_t x) { return Ref{Kind::kNumber, std::to_string(x)}; };
  if (name == "dataset") return Ref{Kind::kDataset, v.dataset};
  if (name == "dataset_hash") return Ref{Kind::kIdentifier, v.dataset_hash};
  if (name == "subset_manifest") return Ref{Kind::kPath, v.subset_manifest};
  if (name == "n_demos") return n(v.n_demos);
  if (name == "steps") return n(v.steps);
  if (name == "seed") return n(v.seed);
  if (name == "output_dir") return Ref{Kind::kPath, v.output_dir};
  if (name == "gpu") return Ref{Kind::kGpus, v.gpu};
  if (name == "job_id") return n(v.job_id);
  if (name == "run_id") return n(v.run_id);
  if (name == "sweep_id") return n(v.sweep_id);
  if (name == "code_version") return Ref{Kind::kIdentifier, v.code_version};
  if (name == "policy") return Ref{Kind::kIdentifier, v.policy};
  if (name == "task") return Ref{Kind::kIdentifier, v.task};
  if (name == "init_checkpoint") return Ref{Kind::kPath, v.init_checkpoint};
  if (name == "resume_checkpoint") return Ref{Kind::kOptionalPath, v.resume_checkpoint};
  if (name == "checkpoint") return Ref{Kind::kPath, v.checkpoint};
  if (name == "n_episodes") return n(v.n_episodes);
  if (name == "step") return n(v.step);
  return std::nullopt;
}

bool InSet(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

// Every string the value becomes under repeated URL decoding, the value first.
std::vector<std::string> Decodings(const std::string& value) {
  std::vector<std::string> out = {value};
  while (true) {
    const std::string& s = out.back();
    std::string next;
    bool changed = false;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        next += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
        changed = true;
      } else {
        next += s[i];
      }
    }
    if (!changed) return out;
    out.push_back(std::move(next));
  }
}

// `decoded`: `s` came out of URL-decoding, where it must be ASCII.
bool HasRefusedSequence(std::string_view s, bool decoded) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return true;
    if (decoded && u >= 0x80) return true;
    // A '%' must start a %XX escape (%u002e and %%32%65 are refused).
    if (s[i] == '%' && !(i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                         isxdigit(static_cast<unsigned char>(s[i + 2])))) {
      return true;
    }
    if (std::string_view(";|&`<>").find(s[i]) != std::string_view::npos) return true;
    if (s[i] == '$' && i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == '{')) return true;
  }
  // A ".." segment between '/' and '\' separators (or the ends).
  std::string segment;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '/' || s[i] == '\\') {
      if (segment == "..") return true;
      segment.clear();
    } else {
      segment += s[i];
    }
  }
  return false;
}

std::string_view StripFile(std::string_view s) {
  return s.rfind("file://", 0) == 0 ? s.substr(7) : s;
}

bool Confined(std::string_view value, const std::vector<std::string>& roots) {
  if (roots.empty()) return true;
  for (const std::string& root_text : roots) {
    if (root_text.empty()) continue;
    std::string_view root = StripFile(root_text);
    const std::string_view v = StripFile(value);
    while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
    if (root == "/") {
      if (!v.empty() && v[0] == '/') return true;
      continue;
    }
    if (v == root) return true;
    if (v.size() > root.size() && v.substr(0, root.size()) == root && v[root.size()] == '/') {
      return true;
    }
  }
  return false;
}

bool GpuList(std::string_view s) {
  if (s.empty()) return true;
  bool digit = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == ',' && digit) {
      digit = false;
    } else {
      return false;
    }
  }
  return digit;
}

// Whether a value passes the checks of its placeholder, and (every string
// value) has no refused sequence in any of its URL decodings.
bool NoRefusedSequence(const std::string& value) {
  const std::vector<std::string> decodings = Decodings(value);
  for (size_t round = 0; round < decodings.size(); ++round) {
    if (HasRefusedSequence(decodings[round], round > 0)) return false;
  }
  return true;
}

bool ValueAccepted(const Ref& ref, const RenderOptions& options) {
  const std::string& v = ref.value;
  if (ref.kind == Kind::kNumber) return v[0] != '-';  // never negative
  if (v.size() > workers::kMaxValueBytes) return false;
  if (v.empty()) return ref.kind != Kind::kDataset && ref.kind != Kind::kPath;
  if (!NoRefusedSequence(v)) return false;
  if (v[0] == '-') return false;
  switch (ref.kind) {
    case Kind::kIdentifier:  // not a path: starts with a letter or digit
      return InSet(v[0], "") &&
             std::all_of(v.begin(), v.end(), [](char c) { return InSet(c, "._:+@=/-"); });
    case Kind::kGpus:
      return GpuList(v);
    case Kind::kDataset:
      return std::all_of(v.begin(), v.end(), [](char c) { return InSet(c, "._~:/@+=,%-"); });
    case Kind::kPath:
    case Kind::kOptionalPath:
      return std::all_of(v.begin(), v.end(), [](char c) { return InSet(c, "._~:/@+=,%-"); }) &&
             Confined(v, options.allowed_roots);
    case Kind::kNumber:
      break;
  }
  return true;
}

// The rendering of one template text, or nullopt where the renderer must
// refuse it. Values used are collected in `used`.
std::optional<std::string> RenderReference(std::string_view text, const JobValues& values,
                                           const RenderOptions& options, bool quote,
                                           std::vector<Ref>* used) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') return std::nullopt;
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') return std::nullopt;
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view name = text.substr(i + 1, close - i - 1);
    if (name.empty() || !std::all_of(name.begin(), name.end(),
                                     [](char n) { return (n >= 'a' && n <= 'z') || n == '_'; })) {
      return std::nullopt;
    }
    std::optional<Ref> ref = Lookup(name, values);
    if (!ref || !ValueAccepted(*ref, options)) return std::nullopt;
    used->push_back(*ref);
    out += quote ? "'" + ref->value + "'" : ref->value;  // accepted values hold no quote
    i = close;
  }
  return out;
}

bool EnvName(std::string_view name) {
  return !name.empty() && !(name[0] >= '0' && name[0] <= '9') &&
         std::all_of(name.begin(), name.end(), [](char c) { return InSet(c, "_"); });
}

std::optional<workers::RenderedCommand> Reference(const CommandTemplate& command,
                                                  const JobValues& values,
                                                  const RenderOptions& options,
                                                  std::vector<Ref>* used) {
  if (command.argv.empty() == command.shell.empty()) return std::nullopt;
  workers::RenderedCommand out;
  if (!command.shell.empty()) {
    std::optional<std::string> script = RenderReference(command.shell, values, options, true, used);
    if (!script) return std::nullopt;
    out.argv = {"/bin/sh", "-c", *script};
    out.shell = true;
  } else {
    for (const std::string& arg : command.argv) {
      std::optional<std::string> rendered = RenderReference(arg, values, options, false, used);
      if (!rendered) return std::nullopt;
      out.argv.push_back(*rendered);
    }
    if (out.argv[0].empty()) return std::nullopt;
  }
  for (const auto& [name, text] : command.env) {
    if (!EnvName(name)) return std::nullopt;
    std::optional<std::string> value = RenderReference(text, values, options, false, used);
    if (!value) return std::nullopt;
    out.env[name] = *value;
  }
  std::optional<std::string> checkpoint = RenderReference(
      command.checkpoint.empty() ? "{output_dir}" : command.checkpoint, values, options, false,
      used);
  if (!checkpoint) return std::nullopt;
  out.checkpoint = *checkpoint;
  return out;
}

// A /bin/sh word made of single-quoted strings and backslash-escaped
// characters, read back; nullopt if it is not one.
std::optional<std::string> ShellUnquote(std::string_view word) {
  std::string out;
  size_t i = 0;
  while (i < word.size()) {
    if (word[i] == '\'') {
      const size_t close = word.find('\'', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      out += word.substr(i + 1, close - i - 1);
      i = close + 1;
    } else if (word[i] == '\\' && i + 1 < word.size()) {
      out += word[i + 1];
      i += 2;
    } else {
      return std::nullopt;  // an unquoted character
    }
  }
  return out;
}

std::string Show(const workers::RenderedCommand& c) {
  std::vector<std::string> argv;
  for (const std::string& a : c.argv) argv.push_back(absl::CHexEscape(a));
  std::vector<std::string> env;
  for (const auto& [k, v] : c.env) env.push_back(absl::StrCat(k, "=", absl::CHexEscape(v)));
  return absl::StrCat("argv [", absl::StrJoin(argv, "] ["), "] env {", absl::StrJoin(env, ", "),
                      "} checkpoint [", absl::CHexEscape(c.checkpoint), "] shell ", c.shell);
}

// ---------------------------------------------------------------------------
// Inputs.

// Strings short enough to mutate well, sometimes long enough to reach the
// 4096-byte value limit.
std::string Text(FuzzedDataProvider& fdp) {
  return fdp.ConsumeRandomLengthString(fdp.ConsumeBool() ? 64 : 5000);
}

}  // namespace
}  // namespace mixsweep::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mixsweep;
  using namespace mixsweep::fuzz;
  FuzzedDataProvider fdp(data, size);

  CommandTemplate command;
  const int argc = fdp.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < argc; ++i) command.argv.push_back(fdp.ConsumeRandomLengthString(128));
  if (fdp.ConsumeBool()) command.shell = fdp.ConsumeRandomLengthString(256);
  const int envc = fdp.ConsumeIntegralInRange<int>(0, 3);
  for (int i = 0; i < envc; ++i) {
    std::string name = fdp.ConsumeRandomLengthString(16);
    command.env[name] = fdp.ConsumeRandomLengthString(64);
  }
  if (fdp.ConsumeBool()) command.checkpoint = fdp.ConsumeRandomLengthString(64);

  RenderOptions options;
  const int rootc = fdp.ConsumeIntegralInRange<int>(0, 2);
  for (int i = 0; i < rootc; ++i) options.allowed_roots.push_back(fdp.ConsumeRandomLengthString(32));

  JobValues values;
  values.dataset = Text(fdp);
  values.dataset_hash = Text(fdp);
  values.subset_manifest = Text(fdp);
  values.n_demos = fdp.ConsumeIntegral<int64_t>();
  values.steps = fdp.ConsumeIntegral<int64_t>();
  values.seed = fdp.ConsumeIntegral<int64_t>();
  values.output_dir = Text(fdp);
  values.gpu = Text(fdp);
  values.job_id = fdp.ConsumeIntegral<int64_t>();
  values.run_id = fdp.ConsumeIntegral<int64_t>();
  values.sweep_id = fdp.ConsumeIntegral<int64_t>();
  values.code_version = Text(fdp);
  values.policy = Text(fdp);
  values.task = Text(fdp);
  values.init_checkpoint = Text(fdp);
  values.checkpoint = Text(fdp);
  values.n_episodes = fdp.ConsumeIntegral<int64_t>();
  values.step = fdp.ConsumeIntegral<int64_t>();
  values.resume_checkpoint = fdp.ConsumeRemainingBytesAsString();

  absl::StatusOr<workers::RenderedCommand> rendered =
      workers::RenderCommand(command, values, options);
  if (PrintInputs()) {
    std::string env;
    for (const auto& [k, v] : command.env) {
      absl::StrAppend(&env, " [", absl::CHexEscape(k), "]=[", absl::CHexEscape(v), "]");
    }
    std::vector<std::string> argv, roots;
    for (const std::string& a : command.argv) argv.push_back(absl::CHexEscape(a));
    for (const std::string& r : options.allowed_roots) roots.push_back(absl::CHexEscape(r));
    auto q = [](const std::string& s) { return absl::StrCat("[", absl::CHexEscape(s), "]"); };
    std::fprintf(stderr,
                 "template: argv [%s] shell %s env%s checkpoint %s\nroots [%s]\n"
                 "values: dataset %s dataset_hash %s subset_manifest %s n_demos %lld steps %lld "
                 "seed %lld output_dir %s gpu %s job_id %lld run_id %lld sweep_id %lld "
                 "code_version %s policy %s task %s init_checkpoint %s resume_checkpoint %s "
                 "checkpoint %s n_episodes %lld step %lld\n"
                 "result: %s\n",
                 absl::StrJoin(argv, "] [").c_str(), q(command.shell).c_str(), env.c_str(),
                 q(command.checkpoint).c_str(), absl::StrJoin(roots, "] [").c_str(),
                 q(values.dataset).c_str(), q(values.dataset_hash).c_str(),
                 q(values.subset_manifest).c_str(), static_cast<long long>(values.n_demos),
                 static_cast<long long>(values.steps), static_cast<long long>(values.seed),
                 q(values.output_dir).c_str(), q(values.gpu).c_str(),
                 static_cast<long long>(values.job_id), static_cast<long long>(values.run_id),
                 static_cast<long long>(values.sweep_id), q(values.code_version).c_str(),
                 q(values.policy).c_str(), q(values.task).c_str(),
                 q(values.init_checkpoint).c_str(), q(values.resume_checkpoint).c_str(),
                 q(values.checkpoint).c_str(), static_cast<long long>(values.n_episodes),
                 static_cast<long long>(values.step),
                 rendered.ok() ? Show(*rendered).c_str() : rendered.status().ToString().c_str());
  }
  std::vector<Ref> used;
  std::optional<workers::RenderedCommand> expected = Reference(command, values, options, &used);

  FUZZ_CHECK(rendered.ok() == expected.has_value(),
             rendered.ok() ? absl::StrCat("accepted what the rules refuse: ", Show(*rendered))
                           : absl::StrCat("refused what the rules accept: ",
                                          rendered.status().ToString(), "\nexpected ",
                                          Show(*expected)));
  if (!rendered.ok()) {
    FUZZ_CHECK(rendered.status().code() == absl::StatusCode::kInvalidArgument,
               rendered.status().ToString());
  } else {
    FUZZ_CHECK(rendered->argv == expected->argv && rendered->env == expected->env &&
                   rendered->checkpoint == expected->checkpoint &&
                   rendered->shell == expected->shell,
               absl::StrCat("rendered ", Show(*rendered), "\nexpected ", Show(*expected)));
    // Said once more as the property that matters: nothing refused got in.
    for (const Ref& ref : used) {
      FUZZ_CHECK(ref.value.empty() || ref.value[0] != '-', ref.value);
      if (ref.kind == Kind::kNumber) continue;
      FUZZ_CHECK(NoRefusedSequence(ref.value), absl::CHexEscape(ref.value));
    }
    // Deterministic.
    absl::StatusOr<workers::RenderedCommand> again =
        workers::RenderCommand(command, values, options);
    FUZZ_CHECK(again.ok() && again->argv == rendered->argv && again->env == rendered->env &&
                   again->checkpoint == rendered->checkpoint,
               "a second rendering differs");
  }

  // ShellQuote, on the template's own text (any bytes).
  const std::string& any = command.shell.empty() ? values.resume_checkpoint : command.shell;
  std::optional<std::string> back = ShellUnquote(workers::ShellQuote(any));
  FUZZ_CHECK(back && *back == any, absl::StrCat("ShellQuote does not read back: ",
                                                absl::CHexEscape(workers::ShellQuote(any))));
  return 0;
}
