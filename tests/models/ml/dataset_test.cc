#include "models/ml/dataset.h"

#include <cmath>

#include <gtest/gtest.h>

namespace osprey::models::ml {
namespace {

TEST(ParseCsvTest, SageMakerConventionLabelFirstNoHeader) {
  auto ds = ParseCsv("1,2.5,3\n0,-1,4e2\n\n1,,7\n", CsvOptions{});
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->rows(), 3u);
  ASSERT_EQ(ds->cols(), 2u);
  EXPECT_EQ(ds->columns[0].name, "x1");
  EXPECT_EQ(ds->columns[1].name, "x2");
  EXPECT_TRUE(ds->has_label);
  EXPECT_EQ(ds->y[1], 0.0);
  EXPECT_EQ(ds->x(1, 1), 400.0);
  EXPECT_TRUE(std::isnan(ds->x(2, 0)));  // missing is data
  EXPECT_EQ(ds->CountMissing(), 1u);
  EXPECT_TRUE(ds->label_classes.empty());
}

TEST(ParseCsvTest, HeaderModeNamedLabelAndQuotedFields) {
  CsvOptions o;
  o.header = true;
  o.label_column = "species";
  o.categorical_columns = {"color"};
  auto ds = ParseCsv(
      "a,species,color\r\n1,\"setosa\",red\r\n2,virginica,\"bl\"\"ue\"\r\n3,setosa,NA\r\n", o);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->cols(), 2u);
  EXPECT_EQ(ds->columns[0].name, "a");
  EXPECT_EQ(ds->columns[1].type, ColumnType::kCategorical);
  EXPECT_EQ(ds->columns[1].categories, (std::vector<std::string>{"red", "bl\"ue"}));
  EXPECT_EQ(ds->x(1, 1), 1.0);
  EXPECT_TRUE(std::isnan(ds->x(2, 1)));
  EXPECT_EQ(ds->label_name, "species");
  EXPECT_EQ(ds->label_classes, (std::vector<std::string>{"setosa", "virginica"}));
  EXPECT_EQ(ds->y[0], 0.0);
  EXPECT_EQ(ds->y[1], 1.0);
}

TEST(ParseCsvTest, NoLabel) {
  CsvOptions o;
  o.label_index = -1;
  auto ds = ParseCsv("1,2\n3,4\n", o);
  ASSERT_TRUE(ds.ok());
  EXPECT_FALSE(ds->has_label);
  EXPECT_EQ(ds->cols(), 2u);
  EXPECT_EQ(ds->x(1, 0), 3.0);
}

TEST(ParseCsvTest, ErrorsNameLineAndColumn) {
  auto bad = ParseCsv("1,2,3\n0,abc,4\n", CsvOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "line 2, column 2 ('x1'): not a number: 'abc'");
  auto arity = ParseCsv("1,2,3\n0,1\n", CsvOptions{});
  ASSERT_FALSE(arity.ok());
  EXPECT_EQ(arity.status().message(), "line 2: 2 fields, expected 3");
  auto label = ParseCsv("1,2\n,3\n", CsvOptions{});
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.status().message().find("line 2, column 1 ('label'): missing label"),
            std::string::npos);
  CsvOptions header;
  header.header = true;
  header.label_column = "y";
  auto no_label = ParseCsv("a,b\n1,2\n", header);
  ASSERT_FALSE(no_label.ok());
  EXPECT_NE(no_label.status().message().find("no column named 'y'"), std::string::npos);
  auto quote = ParseCsv("1,\"2\n", CsvOptions{});
  ASSERT_FALSE(quote.ok());
  EXPECT_NE(quote.status().message().find("unterminated"), std::string::npos);
  EXPECT_FALSE(ParseCsv("", CsvOptions{}).ok());
}

// Numeric rows of a few MB, so the parallel parser cuts them into several chunks: blank lines,
// CRLF ends, padded cells, missing tokens, '+' signs, exponents. Seeded; deterministic.
std::string ManyRows(int rows, bool quote_first_label) {
  std::string out = quote_first_label ? "\"1\",2,3,4,5\n" : "1,2,3,4,5\n";
  for (int row = 1; row < rows; ++row) {
    out += std::to_string(row % 7) + "," + std::to_string(row) + ".25, +" +
           std::to_string(row % 13) + "e-3 ," + (row % 11 == 0 ? "NA" : "-0.5") + "," +
           (row % 17 == 0 ? "" : "1234567.875");
    out += row % 5 == 0 ? "\r\n" : "\n";
    if (row % 1000 == 0) out += "\n  \n";
  }
  return out;
}

bool SameCells(const Matrix& a, const Matrix& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index idx = 0; idx < a.size(); ++idx) {
    const double u = a.data()[idx], v = b.data()[idx];
    if (!(u == v || (std::isnan(u) && std::isnan(v)))) return false;
  }
  return true;
}

TEST(ParseCsvTest, ParallelNumericParseMatchesSequentialReader) {
  // The quoted first label sends the second text through the sequential RFC 4180 reader.
  const std::string fast_text = ManyRows(120000, false);
  ASSERT_GT(fast_text.size(), 3u << 20);  // several chunks
  auto fast = ParseCsv(fast_text, CsvOptions{});
  auto slow = ParseCsv(ManyRows(120000, true), CsvOptions{});
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  ASSERT_EQ(fast->rows(), 120000u);
  EXPECT_TRUE(SameCells(fast->x, slow->x));
  EXPECT_EQ(fast->y, slow->y);
  EXPECT_EQ(fast->x(99999, 0), 99999.25);
  EXPECT_EQ(fast->x(99999, 1), (99999 % 13) * 1e-3);
  EXPECT_TRUE(std::isnan(fast->x(11, 2)));
  EXPECT_TRUE(std::isnan(fast->x(17, 3)));
  EXPECT_EQ(fast->CountMissing(), slow->CountMissing());
}

TEST(ParseCsvTest, ParallelParseReportsTheFirstErrorWithItsLine) {
  std::string text = ManyRows(120000, false);
  // About 120 240 lines (2 blank lines every 1000 rows); errors on lines 100 000 and 110 000.
  auto line_start = [&](int line) {
    size_t pos = 0;
    for (int l = 1; l < line; ++l) pos = text.find('\n', pos) + 1;
    return pos;
  };
  const size_t late = line_start(110000);
  text.replace(text.find(',', late) + 1, 0, "x");  // "x<number>" in column 2 of a late line
  const size_t early = line_start(100000);
  text.replace(text.find(',', early), 1, ";");  // 4 fields on an earlier line
  auto bad = ParseCsv(text, CsvOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "line 100000: 4 fields, expected 5");
  text.replace(text.find(';', early), 1, ",");
  bad = ParseCsv(text, CsvOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("line 110000, column 2 ('x1'): not a number: 'x", 0), 0u)
      << bad.status().message();
}

TEST(ParseCsvTest, ParallelParseCodesStringLabels) {
  std::string text;
  for (int row = 0; row < 200000; ++row) {
    text += std::string(row % 3 == 0 ? "cat" : "dog") + "," + std::to_string(row) + "\n";
  }
  auto ds = ParseCsv(text, CsvOptions{});
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->label_classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(ds->y[0], 0.0);
  EXPECT_EQ(ds->y[199999], 1.0);
  EXPECT_EQ(ds->x(199999, 0), 199999.0);
}

TEST(ParseJsonLinesTest, InfersSchemaFromFirstRecord) {
  JsonLinesOptions o;
  o.label = "y";
  o.categorical_columns = {"c"};
  auto ds = ParseJsonLines(
      "{\"a\": 1.5, \"c\": \"x\", \"y\": 3}\n"
      "{\"a\": null, \"c\": \"z\", \"y\": 4.5}\n"
      "\n"
      "{\"c\": \"x\", \"y\": 5, \"a\": \"7\"}\n",
      o);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->rows(), 3u);
  ASSERT_EQ(ds->cols(), 2u);
  EXPECT_EQ(ds->columns[0].name, "a");
  EXPECT_TRUE(std::isnan(ds->x(1, 0)));
  EXPECT_EQ(ds->x(2, 0), 7.0);
  EXPECT_EQ(ds->x(1, 1), 1.0);
  EXPECT_EQ(ds->x(2, 1), 0.0);
  EXPECT_EQ(ds->y[1], 4.5);
}

TEST(ParseJsonLinesTest, ErrorsNameLineAndKey) {
  JsonLinesOptions o;
  o.label = "y";
  auto bad = ParseJsonLines("{\"a\": 1, \"y\": 0}\n{\"a\": \"oops\", \"y\": 1}\n", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "line 2, key 'a': not a number: 'oops'");
  auto extra = ParseJsonLines("{\"a\": 1, \"y\": 0}\n{\"a\": 1, \"b\": 2, \"y\": 1}\n", o);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().message(), "line 2, key 'b': not a feature or the label");
  auto syntax = ParseJsonLines("{\"a\": 1, \"y\": 0}\n{\"a\": 1,\n", o);
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("line 2: invalid JSON"), std::string::npos);
  auto missing = ParseJsonLines("{\"a\": 1}\n", o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing label"), std::string::npos);
}

TEST(DatasetTest, RowsSelectsInOrder) {
  auto ds = ParseCsv("0,1\n1,2\n2,3\n", CsvOptions{});
  ASSERT_TRUE(ds.ok());
  std::vector<size_t> idx{2, 0};
  Dataset sub = ds->Rows(idx);
  ASSERT_EQ(sub.rows(), 2u);
  EXPECT_EQ(sub.x(0, 0), 3.0);
  EXPECT_EQ(sub.y[1], 0.0);
}

}  // namespace
}  // namespace osprey::models::ml
