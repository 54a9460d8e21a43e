// services/cli/csv.h: RFC 4180 CSV out (--csv exports) and in (trial files).
#include "services/cli/csv.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mixsweep::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CliCsvFieldTest, PlainFieldsStayAsTheyAre) {
  EXPECT_EQ(CsvField("P-7K2Q"), "P-7K2Q");
  EXPECT_EQ(CsvField("0.5"), "0.5");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a;b"), "a;b");
}

TEST(CliCsvFieldTest, CommasQuotesAndLineBreaksAreQuoted) {
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
  // Blanks at either end would be trimmed by some spreadsheets.
  EXPECT_EQ(CsvField(" padded"), "\" padded\"");
  EXPECT_EQ(CsvField("padded "), "\"padded \"");
}

TEST(CliRenderCsvTest, RecordsEndWithCrlfAndShortRowsAreFilled) {
  EXPECT_EQ(RenderCsv({"a", "b", "c"}, {{"1", "x,y", "3"}, {"4"}}),
            "a,b,c\r\n1,\"x,y\",3\r\n4,,\r\n");
  EXPECT_EQ(RenderCsv({"only"}, {}), "only\r\n");
}

TEST(CliParseCsvTest, ReadsQuotedFieldsWithCommasQuotesAndLineBreaks) {
  auto records = ParseCsv("a,b,c\r\n1,\"x, \"\"y\"\"\",\"two\nlines\"\n2,,\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].line, 1);
  EXPECT_THAT((*records)[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_EQ((*records)[1].line, 2);
  EXPECT_THAT((*records)[1].fields, ElementsAre("1", "x, \"y\"", "two\nlines"));
  // The quoted line break moved the next record to line 4.
  EXPECT_EQ((*records)[2].line, 4);
  EXPECT_THAT((*records)[2].fields, ElementsAre("2", "", ""));
}

TEST(CliParseCsvTest, SkipsAByteOrderMarkAndEmptyLinesAndTakesBareCr) {
  auto records = ParseCsv("\xEF\xBB\xBFh1,h2\n\n\r\nx,y\ry,z");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_THAT((*records)[0].fields, ElementsAre("h1", "h2"));
  EXPECT_EQ((*records)[1].line, 4);
  EXPECT_THAT((*records)[1].fields, ElementsAre("x", "y"));
  EXPECT_EQ((*records)[2].line, 5);
  EXPECT_THAT((*records)[2].fields, ElementsAre("y", "z"));
}

TEST(CliParseCsvTest, ATrailingCommaIsAnEmptyLastField) {
  auto records = ParseCsv("a,");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_THAT((*records)[0].fields, ElementsAre("a", ""));
}

TEST(CliParseCsvTest, WhatRenderCsvWritesReadsBack) {
  const std::vector<std::vector<std::string>> rows = {{"1", "a,b", "say \"hi\"", "multi\r\nline"},
                                                      {"", " x ", "", "\""}};
  auto records = ParseCsv(RenderCsv({"w", "x", "y", "z"}, rows));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[1].fields, rows[0]);
  EXPECT_EQ((*records)[2].fields, rows[1]);
}

TEST(CliParseCsvTest, AQuoteInsideAnUnquotedFieldNamesLineAndColumn) {
  auto records = ParseCsv("a,b,c\n1,x\"y,3\n");
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(records.status().message(), HasSubstr("line 2, column 2"));
  EXPECT_THAT(records.status().message(), HasSubstr("quote inside an unquoted field"));
}

TEST(CliParseCsvTest, TextAfterAClosingQuoteNamesLineAndColumn) {
  auto records = ParseCsv("a,b\n1,2\n\"x\"y,2\n");
  ASSERT_FALSE(records.ok());
  EXPECT_THAT(records.status().message(), HasSubstr("line 3, column 1"));
  EXPECT_THAT(records.status().message(), HasSubstr("after the closing quote"));
}

TEST(CliParseCsvTest, AnUnclosedQuoteNamesWhereItOpened) {
  auto records = ParseCsv("a,b,c\n1,2,\"never\nclosed\n");
  ASSERT_FALSE(records.ok());
  EXPECT_THAT(records.status().message(), HasSubstr("line 2, column 3"));
  EXPECT_THAT(records.status().message(), HasSubstr("never closed"));
}

}  // namespace
}  // namespace mixsweep::cli
