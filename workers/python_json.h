// Python's json module writes NaN, Infinity and -Infinity bare, which is not
// JSON (nlohmann refuses the whole document). Labs' tools write them: a
// diverged loss in a progress line, a NaN reward in an evaluation's results.
// ReplaceBareNonFinite rewrites each one outside string literals, so the
// caller decides what it becomes: null (a progress line still reads) or a
// marker string (a result file names the field that held it).
//
// Example:
//   std::string text = ReplaceBareNonFinite(R"({"loss": NaN, "s": "NaN"})",
//                                           [](std::string_view) { return "null"; });
//   // {"loss": null, "s": "NaN"}
#pragma once

#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace mixsweep::workers {

std::string ReplaceBareNonFinite(std::string_view text,
                                 absl::FunctionRef<std::string(std::string_view bare)> replacement);

}  // namespace mixsweep::workers
