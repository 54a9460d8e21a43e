// CSV in and out, RFC 4180: what the CLI exports for spreadsheets (--csv)
// and reads back (trial files). Pure functions, unit-tested.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mixsweep::cli {

// One CSV field: unchanged unless it holds a comma, a double quote, CR or LF
// (or starts or ends with a blank, which some spreadsheets would trim); then
// in double quotes, a quote inside doubled ("a ""b""").
std::string CsvField(absl::string_view value);

// A header and rows as CSV: fields by CsvField, comma-separated, each record
// ended by CRLF (RFC 4180). Short rows are filled with empty fields.
std::string RenderCsv(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows);

// One record of a parsed CSV text, with the line it starts on (1-based;
// fields may span lines inside quotes).
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};

// Parses RFC 4180 text: records end with CRLF, LF or CR; a field in double
// quotes may hold commas, line breaks and doubled quotes. A UTF-8 byte-order
// mark at the start (as spreadsheets write it) is skipped, and so are empty
// lines. INVALID_ARGUMENT, naming the line and the column (1-based field
// number), for a quote inside an unquoted field, text after a closing quote,
// or a quoted field that is never closed.
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text);

}  // namespace mixsweep::cli
