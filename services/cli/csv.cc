#include "services/cli/csv.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::cli {

std::string CsvField(absl::string_view value) {
  const bool needs_quotes = value.find_first_of(",\"\r\n") != absl::string_view::npos ||
                            (!value.empty() && (value.front() == ' ' || value.front() == '\t' ||
                                                value.back() == ' ' || value.back() == '\t'));
  if (!needs_quotes) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string RenderCsv(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows) {
  auto record = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < header.size(); ++i) {
      if (i > 0) out += ',';
      if (i < row.size()) out += CsvField(row[i]);
    }
    return out + "\r\n";
  };
  std::string out = record(header);
  for (const auto& row : rows) out += record(row);
  return out;
}

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<CsvRecord> records;
  size_t i = 0;
  int line = 1;
  const size_t n = text.size();
  // Consumes one line break at i (CRLF, LF or CR), if any.
  auto at_break = [&](size_t at) { return at < n && (text[at] == '\n' || text[at] == '\r'); };
  auto skip_break = [&] {
    if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
    ++i;
    ++line;
  };
  while (i < n) {
    if (at_break(i)) {  // an empty line
      skip_break();
      continue;
    }
    CsvRecord record;
    record.line = line;
    while (true) {
      const int column = static_cast<int>(record.fields.size()) + 1;
      std::string field;
      if (i < n && text[i] == '"') {
        const int opened_on = line;
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n' || (c == '\r' && !(i + 1 < n && text[i + 1] == '\n'))) ++line;
          field += c;
          ++i;
        }
        if (!closed) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", opened_on, ", column ", column,
                           ": the quoted field is never closed (a missing \")"));
        }
        if (i < n && text[i] != ',' && !at_break(i)) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", line, ", column ", column,
                           ": text after the closing quote; a quote inside a quoted field "
                           "is written twice (\"\")"));
        }
      } else {
        while (i < n && text[i] != ',' && !at_break(i)) {
          if (text[i] == '"') {
            return absl::InvalidArgumentError(
                absl::StrCat("line ", line, ", column ", column,
                             ": a quote inside an unquoted field; quote the whole field and "
                             "write the quote twice (\"\")"));
          }
          field += text[i];
          ++i;
        }
      }
      record.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      break;  // end of line or of text
    }
    records.push_back(std::move(record));
    if (i < n) skip_break();
  }
  return records;
}

}  // namespace mixsweep::cli
