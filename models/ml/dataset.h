// Dataset: the trainer's in-memory table. A dense row-major Eigen matrix of features (NaN marks a
// missing value: missing values are data, not errors), the columns' names and types, and an
// optional label vector. Parsers for CSV (SageMaker's convention: label first, no header; or a
// header line with a named label column) and JSON Lines read text already in memory (models/
// does no I/O); a bad value fails with the 1-based line and the column named.
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "config/base/status.h"

namespace osprey::models::ml {

// Row-major so that one example (a row) is contiguous: mini-batches gather rows.
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;

enum class ColumnType {
  kNumeric,
  // Strings coded as 0, 1, 2, ... in order of first appearance (`categories`).
  kCategorical,
  // Free text, stored as kCategorical is (each distinct text once in `categories`); turned into
  // numbers only by a feature pipeline (models/ml/features/pipeline.h).
  kText,
};

struct Column {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  std::vector<std::string> categories;  // kCategorical and kText only
};

struct Dataset {
  Matrix x;                     // rows() x columns.size(); NaN = missing
  std::vector<Column> columns;  // one per column of x
  bool has_label = false;
  std::string label_name;
  // The label per row (never NaN). When the label column held strings, y[i] indexes
  // label_classes (sorted); otherwise label_classes is empty and y holds the numbers.
  Vector y;
  std::vector<std::string> label_classes;

  size_t rows() const { return static_cast<size_t>(x.rows()); }
  size_t cols() const { return static_cast<size_t>(x.cols()); }
  // The rows at `indices`, in that order (labels and column metadata copied).
  Dataset Rows(std::span<const size_t> indices) const;
  // Number of NaN cells.
  size_t CountMissing() const;
};

// Whether any cell is NaN: one vectorisable pass over the storage (Eigen's hasNaN() is not
// vectorised for row-major dynamic matrices).
bool HasMissing(const Matrix& x);

// Cells that read as missing: empty, NA, N/A, NaN, nan, null, NULL, ?.
bool IsMissingToken(std::string_view cell);

struct CsvOptions {
  // The first line names the columns. Default: false (SageMaker's convention).
  bool header = false;
  // Without a header: the 0-based column holding the label; -1 = no label. Default: 0.
  int label_index = 0;
  // With a header: the label column's name; empty = no label.
  std::string label_column;
  // Columns (by name; "x<k>" without a header, k 1-based over the feature columns) whose
  // values are categories rather than numbers.
  std::vector<std::string> categorical_columns;
  // Columns (named as above) holding free text (ColumnType::kText).
  std::vector<std::string> text_columns;
  char delimiter = ',';
};

// Parses CSV text (RFC 4180 quoting, \n or \r\n line ends; blank lines skipped). Errors:
// InvalidArgument "line L, column C ('name'): ..." for a non-numeric value in a numeric column,
// a missing label, or a row with the wrong number of fields.
Result<Dataset> ParseCsv(std::string_view text, const CsvOptions& options);

struct JsonLinesOptions {
  // The key holding the label; empty = no label.
  std::string label;
  // The feature keys, in order; empty = the keys of the first record (minus the label), in
  // its order. Keys absent from a record are missing values.
  std::vector<std::string> features;
  // Keys whose string values are categories.
  std::vector<std::string> categorical_columns;
  // Keys whose string values are free text (ColumnType::kText).
  std::vector<std::string> text_columns;
};

// Parses one JSON object per line. Numbers, booleans (0/1), null (missing) and strings (in
// categorical columns, or holding a number) are accepted. Errors name the line and the key;
// a key that is not a feature or the label is an error (it would otherwise be silently lost).
Result<Dataset> ParseJsonLines(std::string_view text, const JsonLinesOptions& options);

}  // namespace osprey::models::ml
