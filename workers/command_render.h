// Rendering a job's command template into the argv the worker executes.
//
// Placeholders ({dataset}, {steps}, ...) are filled from typed values only,
// never through a shell unless the template asks for one (`shell:`), and
// then every value is single-quoted for /bin/sh. A value that could escape
// its argument (`;`, `$(`, backticks, newlines or other control characters,
// `..` path segments, and their URL-encoded or double-encoded forms) is
// refused, as is a path outside the allowed roots.
//
// Template syntax: `{name}` with name in [a-z_]+; `{{` and `}}` are literal
// braces (a shell script writes `${{HOME}}`). An unknown or malformed
// placeholder, or a lone brace, is INVALID_ARGUMENT.
//
// Values, by placeholder (every string value is at most kMaxValueBytes, and
// none may start with '-', which a tool could read as an option):
//   {n_demos} {steps} {seed} {job_id} {run_id} {sweep_id} {n_episodes} {step}
//       decimal integers, never negative (a "-1" alone could be read as an
//       option; none of these is negative in a job the scheduler makes)
//   {policy} {task} {code_version} {dataset_hash}
//       identifiers: [A-Za-z0-9._:+@=/-]*, starting with a letter or digit
//       (not a path such as /etc/shadow), e.g. "git:4f1c2e9", "sha256:9b2f..."
//   {gpu}
//       GPU indices: "" (no GPU) or digits separated by commas, e.g. "2,3"
//   {dataset}
//       a URI or path, never empty: [A-Za-z0-9._~:/@+=,%-]+
//   {output_dir} {subset_manifest} {init_checkpoint} {resume_checkpoint}
//   {checkpoint}
//       paths or URIs with {dataset}'s characters, under an allowed root.
//       {init_checkpoint} and {checkpoint} (the checkpoint an evaluate job
//       evaluates) must not be empty (the checkpoint is unknown);
//       {resume_checkpoint} may be: it renders as "" (a template passes it
//       optionally), or '' in a shell script.
//   {n_episodes} is an evaluate job's episode count; {step} is the training
//   step of an intermediate checkpoint, rendered only in
//   JobSpec.checkpoint_at_step_template (RenderLocation), 0 elsewhere.
// In every value, whatever its placeholder: no control character, ';', '|',
// '&', '`', '<', '>', "$(", "${" and no ".." path segment (split at '/' and
// '\'), neither as written nor after URL-decoding (repeated until nothing
// changes, so %2e%2e and %252e%252e are both ".."). Once decoded, a value
// must still be ASCII (so no overlong UTF-8 such as %c0%ae for '.', and no
// look-alike such as U+FF0E or U+2215 that a tool normalising Unicode
// would turn into '.' or '/'), and a '%' must start a %XX escape (no
// %u002e, which some decoders read as '.'). No value may hold a
// space, a quote or a backslash either (the character sets above): a value
// must stay one argument even for a tool that later splits or re-shells
// its arguments, so the same values are accepted with and without a shell.
//
// Path confinement (RenderOptions::allowed_roots): a `file://` prefix is
// dropped from both sides, then the root must be the value or a prefix of it
// ending at a '/' ("/art" allows "/art/x", never "/artifacts2/x"). Other
// URIs ("s3://bucket/prefix") compare as text by the same rule. The check is
// textual: symbolic links under a root are the root owner's business. No
// roots: no confinement (the agent always passes its artifact root).
//
// Shell mode (CommandTemplate::shell non-empty): argv is
// {"/bin/sh", "-c", script} where every value is ShellQuote()d, so a
// placeholder must not be quoted again in the script ("{output_dir}/x" is
// right; '{output_dir}' still works, "{output_dir}" does not). Env values
// and the checkpoint are rendered unquoted: they never pass through a shell.
//
// Example:
//   JobValues v{.dataset = "file:///data/pdb", .n_demos = 50, .steps = 13000, ...};
//   auto cmd = RenderCommand(command_template, v, {.allowed_roots = {"/art"}});
//   // cmd->argv == {"python", "train.py", "task.dataset_path=file:///data/pdb", ...}
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace mixsweep::workers {

// Longest string value a placeholder takes (PATH_MAX).
inline constexpr size_t kMaxValueBytes = 4096;

// What a placeholder's value is, which decides how it is checked.
enum class PlaceholderKind {
  kNumber,        // int64, rendered in decimal, never negative
  kIdentifier,    // policy, task, code_version, dataset_hash
  kGpus,          // "", "0", "2,3"
  kDataset,       // a URI or path anywhere, never empty
  kPath,          // a URI or path under an allowed root, never empty
  kOptionalPath,  // the same, or empty
};

// The template as the scheduler sends it (mixsweep.v1.JobSpec).
struct CommandTemplate {
  std::vector<std::string> argv;
  std::string shell;  // non-empty: run `/bin/sh -c <rendered shell>`
  std::map<std::string, std::string> env;
  std::string checkpoint;  // empty: "{output_dir}"
};

// Typed values of a job's placeholders.
struct JobValues {
  std::string dataset;          // {dataset}: a URI or path
  std::string dataset_hash;     // {dataset_hash}
  std::string subset_manifest;  // {subset_manifest}: path of the manifest file
  int64_t n_demos = 0;          // {n_demos}
  int64_t steps = 0;            // {steps}
  int64_t seed = 0;             // {seed}
  std::string output_dir;       // {output_dir}: a path under the artifact root
  std::string gpu;              // {gpu}: comma-separated indices, e.g. "0" or "2,3"
  int64_t job_id = 0;           // {job_id}
  int64_t run_id = 0;           // {run_id}: the job's first run
  int64_t sweep_id = 0;         // {sweep_id}
  std::string code_version;     // {code_version}
  std::string policy;           // {policy}
  std::string task;             // {task}
  std::string init_checkpoint;  // {init_checkpoint}: finetune only
  std::string resume_checkpoint;  // {resume_checkpoint}: a preempted attempt's
  std::string checkpoint;       // {checkpoint}: the checkpoint an evaluate job evaluates
  int64_t n_episodes = 0;       // {n_episodes}: an evaluate job's episode count
  int64_t step = 0;             // {step}: an intermediate checkpoint's training step
};

// One placeholder the renderer knows: its name (without braces), its kind
// and the JobValues member it takes its value from.
struct PlaceholderInfo {
  std::string_view name;
  PlaceholderKind kind;
  std::variant<std::string JobValues::*, int64_t JobValues::*> field;
};

// Every placeholder the renderer knows: the one list that rendering, the
// worker's own path checks and the tests enumerate. (Which stage may use
// which is the spec's business: spec::IsKnownPlaceholder.)
std::span<const PlaceholderInfo> KnownPlaceholders();

struct RenderedCommand {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
                                  // shell mode: {"/bin/sh", "-c", script}
  std::map<std::string, std::string> env;
  std::string checkpoint;  // the rendered checkpoint path or URI
  bool shell = false;
};

struct RenderOptions {
  // Paths that {output_dir}, {subset_manifest}, {init_checkpoint},
  // {resume_checkpoint} and {checkpoint} must lie under (file:// URIs or
  // plain paths).
  std::vector<std::string> allowed_roots;
};

// INVALID_ARGUMENT naming the placeholder and why, for an unknown
// placeholder, a value that could escape, or a path outside the roots, e.g.
//   {dataset}: value contains ';' which could escape its argument
// Also INVALID_ARGUMENT unless exactly one of argv and shell is set. Only
// the values of placeholders the template uses are checked.
absl::StatusOr<RenderedCommand> RenderCommand(const CommandTemplate& command,
                                              const JobValues& values,
                                              const RenderOptions& options);

// One location template outside the command (a result file, an
// intermediate checkpoint), rendered as RenderCommand renders the
// checkpoint: no shell, no quoting, the same checks. `where` names it in
// errors ("result_file", "checkpoint_at_step"). An empty template is
// INVALID_ARGUMENT.
//   RenderLocation("{output_dir}/checkpoints/{step}.ckpt", "checkpoint_at_step",
//                  {.output_dir = "/art/jobs/7", .step = 2000}, options)
//   -> "/art/jobs/7/checkpoints/2000.ckpt"
absl::StatusOr<std::string> RenderLocation(std::string_view text, std::string_view where,
                                           const JobValues& values,
                                           const RenderOptions& options);

// The checks RenderCommand makes on the value of `placeholder` where a
// template uses it, for a caller that needs the value safe whether or not
// the template uses it (the worker checks its own paths this way). The
// same INVALID_ARGUMENT as rendering; also for an unknown placeholder.
absl::Status CheckPlaceholderValue(std::string_view placeholder, const JobValues& values,
                                   const RenderOptions& options);

// `value` as one /bin/sh word: in single quotes, an embedded ' written as
// '\'' (close, escaped quote, reopen). "it's" -> 'it'\''s'; "" -> ''.
std::string ShellQuote(std::string_view value);

}  // namespace mixsweep::workers
