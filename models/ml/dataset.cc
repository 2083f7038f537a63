#include "models/ml/dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <simdjson.h>

#include "models/ml/parallel.h"

namespace osprey::models::ml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses a finite number (leading '+' allowed). False when `s` is not entirely a number.
bool ParseNumber(std::string_view s, double* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

// Category coder for one column: string -> code in order of first appearance.
struct Coder {
  std::unordered_map<std::string, int> codes;
  std::vector<std::string>* categories = nullptr;
  double Code(std::string_view v) {
    auto [it, inserted] = codes.try_emplace(std::string(v), static_cast<int>(codes.size()));
    if (inserted) categories->emplace_back(v);
    return it->second;
  }
};

// Turns the raw label texts into y: numbers when every label is one, sorted classes otherwise.
void FinishLabels(std::vector<std::string>& labels, Dataset* ds) {
  ds->y.resize(static_cast<Eigen::Index>(labels.size()));
  bool numeric = true;
  for (size_t row = 0; row < labels.size() && numeric; ++row) {
    numeric = ParseNumber(labels[row], &ds->y[static_cast<Eigen::Index>(row)]);
  }
  if (numeric) return;
  std::set<std::string> distinct(labels.begin(), labels.end());
  ds->label_classes.assign(distinct.begin(), distinct.end());
  for (size_t row = 0; row < labels.size(); ++row) {
    auto it = std::lower_bound(ds->label_classes.begin(), ds->label_classes.end(), labels[row]);
    ds->y[static_cast<Eigen::Index>(row)] = static_cast<double>(it - ds->label_classes.begin());
  }
}

// Reads CSV records. A field is either a view into the text or, when it was quoted with
// doubled quotes inside, a view into `scratch_`.
class CsvReader {
 public:
  CsvReader(std::string_view text, char delimiter) : text_(text), delimiter_(delimiter) {}

  // Next non-blank record into *fields; false at the end. *line is the 1-based line it starts
  // on. Errors (an unterminated quote) go to *error.
  bool Next(std::vector<std::string_view>* fields, int64_t* line, std::string* error) {
    while (pos_ < text_.size()) {
      *line = line_;
      record_begin_ = pos_;
      // Skip blank lines.
      size_t eol = text_.find('\n', pos_);
      std::string_view rest = text_.substr(pos_, eol == std::string_view::npos ? eol : eol - pos_);
      if (Trim(rest).empty()) {
        pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
        ++line_;
        continue;
      }
      if (rest.find('"') == std::string_view::npos) {
        // Fast path: no quotes, so the record is this line, split at each delimiter.
        fields->clear();
        size_t start = 0;
        while (true) {
          const size_t cut = rest.find(delimiter_, start);
          fields->push_back(
              Trim(rest.substr(start, cut == std::string_view::npos ? cut : cut - start)));
          if (cut == std::string_view::npos) break;
          start = cut + 1;
        }
        pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
        ++line_;
        return true;
      }
      return ReadRecord(fields, error);
    }
    record_begin_ = text_.size();
    return false;
  }

  // Offset in the text of the record Next() returned last.
  size_t record_begin() const { return record_begin_; }

 private:
  struct Span {
    bool scratch;
    size_t offset;
    size_t size;
  };

  bool ReadRecord(std::vector<std::string_view>* fields, std::string* error) {
    spans_.clear();
    scratch_.clear();
    while (true) {
      // One field.
      size_t p = pos_;
      while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t')) ++p;
      if (p < text_.size() && text_[p] == '"') {
        const int64_t start_line = line_;
        size_t start = scratch_.size();
        ++p;
        while (true) {
          if (p >= text_.size()) {
            *error = "line " + std::to_string(start_line) + ": unterminated quoted field";
            return false;
          }
          char c = text_[p++];
          if (c == '"') {
            if (p < text_.size() && text_[p] == '"') {
              scratch_.push_back('"');
              ++p;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          scratch_.push_back(c);
        }
        spans_.push_back({true, start, scratch_.size() - start});
        while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\r')) ++p;
      } else {
        size_t start = p;
        while (p < text_.size() && text_[p] != delimiter_ && text_[p] != '\n') ++p;
        spans_.push_back({false, start, p - start});
      }
      if (p < text_.size() && text_[p] == delimiter_) {
        pos_ = p + 1;
        continue;
      }
      if (p < text_.size() && text_[p] != '\n') {
        *error = "line " + std::to_string(line_) + ", column " + std::to_string(spans_.size()) +
                 ": unexpected character after a quoted field";
        return false;
      }
      pos_ = p < text_.size() ? p + 1 : p;
      ++line_;
      break;
    }
    fields->clear();
    for (const Span& s : spans_) {
      fields->push_back(s.scratch ? std::string_view(scratch_).substr(s.offset, s.size)
                                  : Trim(text_.substr(s.offset, s.size)));
    }
    return true;
  }

  std::string_view text_;
  char delimiter_;
  size_t pos_ = 0;
  size_t record_begin_ = 0;
  int64_t line_ = 1;
  std::vector<Span> spans_;
  std::string scratch_;
};

// Row-major cell buffer grown row by row, then moved into the matrix.
Matrix ToMatrix(const std::vector<double>& cells, size_t cols) {
  const size_t rows = cols == 0 ? 0 : cells.size() / cols;
  Matrix x(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  if (!cells.empty()) std::copy(cells.begin(), cells.end(), x.data());
  return x;
}

// What ParseCsv settles from the header and the first record, for the body's parsers.
struct CsvLayout {
  size_t width = 0;              // fields per record
  std::vector<int> feature_of;   // input column -> feature index; -1 = the label
  std::vector<std::string> names;  // per input column
  char delimiter = ',';
};

Status FieldCountError(int64_t line, size_t fields, size_t width) {
  return Status::InvalidArgument("line " + std::to_string(line) + ": " + std::to_string(fields) +
                                 " fields, expected " + std::to_string(width));
}

Status CellError(int64_t line, size_t col, const std::string& name, const std::string& what) {
  return Status::InvalidArgument("line " + std::to_string(line) + ", column " +
                                 std::to_string(col + 1) + " (" + Quote(name) + "): " + what);
}

// Bytes per chunk of the parallel numeric parse. Chunks end after a '\n', so their boundaries
// depend on the text only and the result is the same for any number of threads.
constexpr size_t kCsvChunkBytes = size_t{1} << 20;

// `body` cut into chunks of about kCsvChunkBytes, each ending after a line end (or at the end).
std::vector<std::string_view> CutAtLineEnds(std::string_view body) {
  std::vector<std::string_view> chunks;
  size_t begin = 0;
  while (begin < body.size()) {
    size_t end = body.size();
    if (body.size() - begin > kCsvChunkBytes) {
      const size_t eol = body.find('\n', begin + kCsvChunkBytes - 1);
      if (eol != std::string_view::npos) end = eol + 1;
    }
    chunks.push_back(body.substr(begin, end - begin));
    begin = end;
  }
  return chunks;
}

// Calls fn(line) for each line of `chunk` (without its '\n'); fn returns false to stop.
template <typename Fn>
void ForEachLine(std::string_view chunk, const Fn& fn) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    const size_t eol = chunk.find('\n', pos);
    const size_t end = eol == std::string_view::npos ? chunk.size() : eol;
    if (!fn(chunk.substr(pos, end - pos))) return;
    pos = end + 1;
  }
}

// The body of a CSV whose feature columns are all numeric and which holds no quote: every record
// is one line, so the text is cut at line ends and the chunks are parsed in parallel straight
// into the matrix (two passes: count the records per chunk, then parse each chunk at its first
// row). Errors and values are exactly those of the sequential reader: the first error in text
// order is reported. `first_line` is the 1-based line `body` starts on.
Result<Dataset> ParseNumericCsvBody(std::string_view body, int64_t first_line,
                                    const CsvLayout& layout, Dataset ds) {
  const std::vector<std::string_view> chunks = CutAtLineEnds(body);
  const int threads = ResolveThreads(0);
  // Pass 1: records (non-blank lines) and line ends per chunk.
  std::vector<size_t> records(chunks.size(), 0);
  std::vector<int64_t> lines(chunks.size(), 0);
  ParallelChunks(chunks.size(), threads, [&](size_t c) {
    size_t n = 0;
    ForEachLine(chunks[c], [&](std::string_view line) {
      if (!Trim(line).empty()) ++n;
      return true;
    });
    records[c] = n;
    lines[c] = static_cast<int64_t>(std::count(chunks[c].begin(), chunks[c].end(), '\n'));
  });
  std::vector<size_t> row_begin(chunks.size() + 1, 0);
  std::vector<int64_t> line_begin(chunks.size() + 1, first_line);
  for (size_t c = 0; c < chunks.size(); ++c) {
    row_begin[c + 1] = row_begin[c] + records[c];
    line_begin[c + 1] = line_begin[c] + lines[c];
  }
  const size_t rows = row_begin.back();
  const size_t n_features = ds.columns.size();
  ds.x.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(n_features));
  std::vector<std::string_view> label_text(ds.has_label ? rows : 0);
  if (ds.has_label) ds.y.resize(static_cast<Eigen::Index>(rows));
  // Pass 2: parse. Each chunk stops at its first error; each writes only its own rows.
  std::vector<Status> errors(chunks.size(), Status::Ok());
  std::vector<char> labels_numeric(chunks.size(), 1);
  const size_t width = layout.width;
  const char delimiter = layout.delimiter;
  ParallelChunks(chunks.size(), threads, [&](size_t c) {
    size_t row = row_begin[c];
    int64_t line = line_begin[c] - 1;
    ForEachLine(chunks[c], [&](std::string_view text) {
      ++line;
      if (Trim(text).empty()) return true;
      double* out = ds.x.data() + row * n_features;
      // A CRLF line's '\r' goes first: CsvReader trims it from the last field anyway.
      if (text.back() == '\r' && delimiter != '\r') text.remove_suffix(1);
      const char* const line_end = text.data() + text.size();
      Status error = Status::Ok();
      size_t col = 0;
      const char* p = text.data();
      while (true) {
        // Fast path: the field is exactly a finite number (no padding), parsed in place; its end
        // is where the number ends, so the field is scanned once.
        if (col < width && layout.feature_of[col] >= 0 && error.ok()) {
          double v = 0;
          auto [ptr, ec] = std::from_chars(p, line_end, v);
          if (ec == std::errc() && (ptr == line_end || *ptr == delimiter) && std::isfinite(v)) {
            out[layout.feature_of[col]] = v;
            ++col;
            if (ptr == line_end) break;
            p = ptr + 1;
            continue;
          }
        }
        // Otherwise the field is cut at the next delimiter and trimmed, as CsvReader does.
        const void* found = std::memchr(p, delimiter, static_cast<size_t>(line_end - p));
        const char* stop = found == nullptr ? line_end : static_cast<const char*>(found);
        if (col < width && error.ok()) {
          const std::string_view cell = Trim(std::string_view(p, static_cast<size_t>(stop - p)));
          const int f = layout.feature_of[col];
          if (f < 0) {
            if (IsMissingToken(cell)) {
              error = CellError(line, col, layout.names[col], "missing label");
            } else {
              label_text[row] = cell;
              if (!ParseNumber(cell, &ds.y[static_cast<Eigen::Index>(row)])) labels_numeric[c] = 0;
            }
          } else {
            double v = kNaN;
            if (!IsMissingToken(cell) && !ParseNumber(cell, &v)) {
              error = CellError(line, col, layout.names[col], "not a number: " + Quote(cell));
            }
            out[f] = v;
          }
        }
        ++col;
        if (found == nullptr) break;
        p = stop + 1;
      }
      // A wrong field count is reported before any bad value of the record.
      if (col != width) error = FieldCountError(line, col, width);
      if (!error.ok()) {
        errors[c] = std::move(error);
        return false;
      }
      ++row;
      return true;
    });
  });
  for (Status& st : errors) {
    if (!st.ok()) return std::move(st);
  }
  if (ds.has_label &&
      std::find(labels_numeric.begin(), labels_numeric.end(), 0) != labels_numeric.end()) {
    std::vector<std::string> labels(label_text.begin(), label_text.end());
    FinishLabels(labels, &ds);
  }
  return ds;
}

}  // namespace

bool HasMissing(const Matrix& x) {
  const double* p = x.data();
  const auto n = static_cast<size_t>(x.size());
  constexpr size_t kChunk = 4096;
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t end = std::min(n, begin + kChunk);
    bool nan = false;
    for (size_t idx = begin; idx < end; ++idx) nan |= p[idx] != p[idx];  // NOLINT: NaN test
    if (nan) return true;
  }
  return false;
}

bool IsMissingToken(std::string_view cell) {
  cell = Trim(cell);
  return cell.empty() || cell == "NA" || cell == "N/A" || cell == "NaN" || cell == "nan" ||
         cell == "null" || cell == "NULL" || cell == "?";
}

Dataset Dataset::Rows(std::span<const size_t> indices) const {
  Dataset out;
  out.columns = columns;
  out.has_label = has_label;
  out.label_name = label_name;
  out.label_classes = label_classes;
  out.x.resize(static_cast<Eigen::Index>(indices.size()), x.cols());
  if (has_label) out.y.resize(static_cast<Eigen::Index>(indices.size()));
  // Chunk-parallel copy (each row written by one thread; a large copy is bound by page faults
  // and memory bandwidth, which a second core helps).
  constexpr size_t kChunkRows = 16384;
  const size_t chunks = (indices.size() + kChunkRows - 1) / kChunkRows;
  // Source rows are scattered: each is prefetched a few rows ahead (a row of 50 doubles spans 7
  // cache lines the hardware prefetcher cannot guess).
  constexpr size_t kAhead = 8;
  const auto row_bytes = static_cast<size_t>(x.cols()) * sizeof(double);
  ParallelChunks(chunks, ResolveThreads(0), [&](size_t chunk) {
    const size_t end = std::min(indices.size(), (chunk + 1) * kChunkRows);
    for (size_t row = chunk * kChunkRows; row < end; ++row) {
      if (row + kAhead < end) {
        const auto* ahead = reinterpret_cast<const char*>(
            x.row(static_cast<Eigen::Index>(indices[row + kAhead])).data());
        for (size_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(ahead + byte);
      }
      const auto src = static_cast<Eigen::Index>(indices[row]);
      out.x.row(static_cast<Eigen::Index>(row)) = x.row(src);
      if (has_label) out.y[static_cast<Eigen::Index>(row)] = y[src];
    }
  });
  return out;
}

size_t Dataset::CountMissing() const {
  if (!HasMissing(x)) return 0;
  return static_cast<size_t>(x.array().isNaN().count());
}

Result<Dataset> ParseCsv(std::string_view text, const CsvOptions& options) {
  CsvReader reader(text, options.delimiter);
  std::vector<std::string_view> fields;
  int64_t line = 0;
  std::string error;
  Dataset ds;
  std::vector<std::string> names;  // per input column
  int label_col = -1;
  size_t width = 0;

  bool have_first = reader.Next(&fields, &line, &error);
  if (!error.empty()) return Status::InvalidArgument(error);
  if (!have_first) return Status::InvalidArgument("no data rows");
  width = fields.size();
  if (options.header) {
    for (auto f : fields) names.emplace_back(f);
    if (!options.label_column.empty()) {
      auto it = std::find(names.begin(), names.end(), options.label_column);
      if (it == names.end()) {
        return Status::InvalidArgument("line " + std::to_string(line) + ": no column named " +
                                       Quote(options.label_column) + " for the label");
      }
      label_col = static_cast<int>(it - names.begin());
    }
    have_first = reader.Next(&fields, &line, &error);
    if (!error.empty()) return Status::InvalidArgument(error);
    if (!have_first) return Status::InvalidArgument("no data rows after the header");
  } else {
    label_col = options.label_index;
    if (label_col >= static_cast<int>(width)) {
      return Status::InvalidArgument("line " + std::to_string(line) + ": label_index " +
                                     std::to_string(label_col) + " but the row has " +
                                     std::to_string(width) + " columns");
    }
    int feature_no = 0;
    for (size_t col = 0; col < width; ++col) {
      names.push_back(static_cast<int>(col) == label_col ? "label"
                                                         : "x" + std::to_string(++feature_no));
    }
  }
  ds.has_label = label_col >= 0;
  if (ds.has_label) ds.label_name = names[static_cast<size_t>(label_col)];
  std::vector<int> feature_of(width, -1);  // input column -> feature index
  for (size_t col = 0; col < width; ++col) {
    if (static_cast<int>(col) == label_col) continue;
    feature_of[col] = static_cast<int>(ds.columns.size());
    Column& c = ds.columns.emplace_back();
    c.name = names[col];
  }
  for (const auto& name : options.categorical_columns) {
    auto it = std::find_if(ds.columns.begin(), ds.columns.end(),
                           [&](const Column& c) { return c.name == name; });
    if (it == ds.columns.end()) {
      return Status::InvalidArgument("categorical column " + Quote(name) + " is not a feature");
    }
    it->type = ColumnType::kCategorical;
  }
  for (const auto& name : options.text_columns) {
    auto it = std::find_if(ds.columns.begin(), ds.columns.end(),
                           [&](const Column& c) { return c.name == name; });
    if (it == ds.columns.end()) {
      return Status::InvalidArgument("text column " + Quote(name) + " is not a feature");
    }
    it->type = ColumnType::kText;
  }
  // Numeric features and no quote anywhere in the data rows: the parallel parser.
  const std::string_view body = text.substr(reader.record_begin());
  const bool all_numeric = std::all_of(ds.columns.begin(), ds.columns.end(), [](const Column& c) {
    return c.type == ColumnType::kNumeric;
  });
  if (all_numeric && body.find('"') == std::string_view::npos) {
    CsvLayout layout;
    layout.width = width;
    layout.feature_of = feature_of;
    layout.names = std::move(names);
    layout.delimiter = options.delimiter;
    return ParseNumericCsvBody(body, line, layout, std::move(ds));
  }
  std::vector<Coder> coders(ds.columns.size());
  for (size_t f = 0; f < ds.columns.size(); ++f) coders[f].categories = &ds.columns[f].categories;

  const size_t n_features = ds.columns.size();
  std::vector<double> cells;
  // Reserve for every remaining line (an upper bound on the rows): no regrowth copies.
  cells.reserve(n_features * (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1));
  std::vector<std::string> labels;
  do {
    if (fields.size() != width) {
      return Status::InvalidArgument("line " + std::to_string(line) + ": " +
                                     std::to_string(fields.size()) + " fields, expected " +
                                     std::to_string(width));
    }
    for (size_t col = 0; col < width; ++col) {
      std::string_view cell = fields[col];
      const int f = feature_of[col];
      if (f < 0) {
        if (IsMissingToken(cell)) {
          return Status::InvalidArgument("line " + std::to_string(line) + ", column " +
                                         std::to_string(col + 1) + " (" + Quote(names[col]) +
                                         "): missing label");
        }
        labels.emplace_back(Trim(cell));
        continue;
      }
      double v = kNaN;
      if (ds.columns[static_cast<size_t>(f)].type == ColumnType::kNumeric) {
        // Fast path: the whole (already trimmed) cell is a number.
        const char* end = cell.data() + cell.size();
        auto [ptr, ec] = std::from_chars(cell.data(), end, v);
        if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
          if (IsMissingToken(cell)) {
            v = kNaN;
          } else if (!ParseNumber(cell, &v)) {
            return Status::InvalidArgument("line " + std::to_string(line) + ", column " +
                                           std::to_string(col + 1) + " (" + Quote(names[col]) +
                                           "): not a number: " + Quote(cell));
          }
        }
      } else if (!IsMissingToken(cell)) {
        // Categories are trimmed; text is kept as written (its tokenizer splits on spaces).
        const bool is_text = ds.columns[static_cast<size_t>(f)].type == ColumnType::kText;
        v = coders[static_cast<size_t>(f)].Code(is_text ? cell : Trim(cell));
      }
      cells.push_back(v);
    }
  } while (reader.Next(&fields, &line, &error));
  if (!error.empty()) return Status::InvalidArgument(error);
  ds.x = ToMatrix(cells, n_features);
  if (n_features == 0) ds.x.resize(static_cast<Eigen::Index>(labels.size()), 0);
  if (ds.has_label) FinishLabels(labels, &ds);
  return ds;
}

Result<Dataset> ParseJsonLines(std::string_view text, const JsonLinesOptions& options) {
  namespace dom = simdjson::dom;
  dom::parser parser;
  Dataset ds;
  ds.has_label = !options.label.empty();
  ds.label_name = options.label;
  std::unordered_map<std::string, size_t> index;  // feature key -> column
  auto add_feature = [&](std::string_view key) {
    index.emplace(std::string(key), ds.columns.size());
    ds.columns.push_back(Column{std::string(key), ColumnType::kNumeric, {}});
  };
  for (const auto& f : options.features) add_feature(f);
  bool have_schema = !options.features.empty();
  std::vector<Coder> coders;
  std::vector<double> cells;
  std::vector<double> row;
  std::vector<std::string> labels;
  simdjson::padded_string padded;
  int64_t line_no = 0;
  size_t pos = 0;
  auto finish_schema = [&]() -> Status {
    for (const auto& name : options.categorical_columns) {
      auto it = index.find(name);
      if (it == index.end()) {
        return Status::InvalidArgument("categorical column " + Quote(name) + " is not a feature");
      }
      ds.columns[it->second].type = ColumnType::kCategorical;
    }
    for (const auto& name : options.text_columns) {
      auto it = index.find(name);
      if (it == index.end()) {
        return Status::InvalidArgument("text column " + Quote(name) + " is not a feature");
      }
      ds.columns[it->second].type = ColumnType::kText;
    }
    coders.resize(ds.columns.size());
    for (size_t f = 0; f < ds.columns.size(); ++f) coders[f].categories = &ds.columns[f].categories;
    have_schema = true;
    return Status::Ok();
  };
  if (have_schema) OSPREY_RETURN_IF_ERROR(finish_schema());
  while (pos < text.size()) {
    ++line_no;
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (Trim(line).empty()) continue;
    const std::string where = "line " + std::to_string(line_no);
    padded = simdjson::padded_string(line);
    dom::element doc;
    if (auto err = parser.parse(padded).get(doc); err) {
      return Status::InvalidArgument(where + ": invalid JSON: " + simdjson::error_message(err));
    }
    dom::object obj;
    if (doc.get_object().get(obj)) {
      return Status::InvalidArgument(where + ": expected a JSON object");
    }
    if (!have_schema) {
      for (auto field : obj) {
        if (field.key != options.label) add_feature(field.key);
      }
      OSPREY_RETURN_IF_ERROR(finish_schema());
    }
    row.assign(ds.columns.size(), kNaN);
    bool have_label = false;
    for (auto field : obj) {
      const std::string key(field.key);
      const std::string at = where + ", key " + Quote(key);
      dom::element v = field.value;
      if (ds.has_label && key == options.label) {
        std::string label;
        if (v.is_string()) {
          label = std::string(v.get_string().value_unsafe());
        } else if (v.is_number()) {
          double d = v.get_double().value_unsafe();
          if (!std::isfinite(d)) return Status::InvalidArgument(at + ": label is not finite");
          char buf[32];
          auto res = std::to_chars(buf, buf + sizeof(buf), d);
          label.assign(buf, res.ptr);
        } else if (v.is_bool()) {
          label = v.get_bool().value_unsafe() ? "1" : "0";
        } else if (v.is_null()) {
          return Status::InvalidArgument(at + ": missing label");
        } else {
          return Status::InvalidArgument(at + ": label must be a number or a string");
        }
        if (IsMissingToken(label)) return Status::InvalidArgument(at + ": missing label");
        labels.push_back(std::move(label));
        have_label = true;
        continue;
      }
      auto it = index.find(key);
      if (it == index.end()) {
        return Status::InvalidArgument(at + ": not a feature or the label");
      }
      const size_t f = it->second;
      double d = kNaN;
      if (v.is_null()) {
        // missing
      } else if (v.is_number()) {
        d = v.get_double().value_unsafe();
        if (!std::isfinite(d)) return Status::InvalidArgument(at + ": not a finite number");
      } else if (v.is_bool()) {
        d = v.get_bool().value_unsafe() ? 1.0 : 0.0;
      } else if (v.is_string()) {
        std::string_view s = v.get_string().value_unsafe();
        if (ds.columns[f].type == ColumnType::kCategorical ||
            ds.columns[f].type == ColumnType::kText) {
          if (!IsMissingToken(s)) d = coders[f].Code(s);
        } else if (!IsMissingToken(s) && !ParseNumber(s, &d)) {
          return Status::InvalidArgument(at + ": not a number: " + Quote(s));
        }
      } else {
        return Status::InvalidArgument(at + ": expected a number, string or null");
      }
      row[f] = d;
    }
    if (ds.has_label && !have_label) {
      return Status::InvalidArgument(where + ": missing label key " + Quote(options.label));
    }
    cells.insert(cells.end(), row.begin(), row.end());
  }
  if (line_no == 0 || (cells.empty() && labels.empty())) {
    return Status::InvalidArgument("no data rows");
  }
  ds.x = ToMatrix(cells, ds.columns.size());
  if (ds.has_label) FinishLabels(labels, &ds);
  return ds;
}

}  // namespace osprey::models::ml
