#include "daemon/replay.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/clock.h"
#include "config/loader.h"
#include "daemon/decode/timestamp.h"
#include "operators/operator_factory.h"
#include "operators/operator.h"

namespace osprey::daemon {
namespace {

using operators::Emitter;
using operators::Event;

// Processing time = the event time of the row being replayed.
class ReplayClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_ms_; }
  int64_t MonotonicNanos() const override { return now_ms_ * 1'000'000; }
  void Set(int64_t now_ms) { now_ms_ = now_ms; }

 private:
  int64_t now_ms_ = 0;
};

// Feeds what an operator emits into the next one.
class Link final : public Emitter {
 public:
  Link(operators::Operator* next, Emitter* after) : next_(next), after_(after) {}
  void Emit(Event event) override { next_->Process(std::move(event), *after_); }

 private:
  operators::Operator* next_;
  Emitter* after_;
};

// The end of the chain: keeps what the last operator emitted for the current row.
class Collect final : public Emitter {
 public:
  void Emit(Event event) override { events.push_back(std::move(event)); }
  std::vector<Event> events;
};

// Splits one CSV line; a field may be double-quoted ("" inside is a quote). False on an
// unterminated quote.
bool SplitCsv(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) return false;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      size_t comma = line.find(',', i);
      field.append(line.substr(i, comma == std::string_view::npos ? line.npos : comma - i));
      i = comma;
    } else {
      size_t comma = line.find(',', i);
      field.assign(line.substr(i, comma == std::string_view::npos ? line.npos : comma - i));
      i = comma;
    }
    fields->push_back(field);
    if (i == std::string_view::npos) return true;
    ++i;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The last number written after "\"<key>\":" in an annotation string, if any.
std::optional<double> NumberOf(const std::string& annotations, std::string_view key) {
  std::string needle = "\"";
  needle += key;
  needle += "\":";
  const size_t at = annotations.rfind(needle);
  if (at == std::string::npos) return std::nullopt;
  const char* begin = annotations.data() + at + needle.size();
  double v = 0;
  auto res = std::from_chars(begin, annotations.data() + annotations.size(), v);
  if (res.ec != std::errc()) return std::nullopt;
  return v;
}

void AppendDouble(std::string& out, double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

}  // namespace

Status ReplayCsv(const config::DaemonConfig& config, const config::PipelineOptions& pipeline,
                 std::istream& in, const std::string& input_name, std::ostream& out) {
  const config::SourceOptions* source = config.FindSource(pipeline.source);
  if (source == nullptr) {
    return Status::InvalidArgument("pipeline '" + pipeline.name + "': unknown source '" +
                                   pipeline.source + "'");
  }

  // Operators, chained back to front as the source runner does.
  ReplayClock clock;
  std::vector<std::unique_ptr<operators::Operator>> ops;
  std::optional<config::OperatorKind> detector;  // the last scoring operator's kind
  for (const auto& op_options : pipeline.operators) {
    if (op_options.kind == config::OperatorKind::kWindow ||
        op_options.kind == config::OperatorKind::kHotspots) {
      return Status::InvalidArgument("pipeline '" + pipeline.name + "' operator '" +
                                     op_options.name + "': this operator type is not supported "
                                     "by replay");
    }
    OSPREY_ASSIGN_OR_RETURN(auto op, operators::MakeOperator(op_options, {clock, {}}));
    if (op_options.kind == config::OperatorKind::kBaseline ||
        op_options.kind == config::OperatorKind::kRcf) {
      detector = op_options.kind;
    }
    ops.push_back(std::move(op));
  }
  if (ops.empty()) return Status::InvalidArgument("pipeline '" + pipeline.name + "' has no operators");
  Collect sink;
  std::vector<std::unique_ptr<Link>> links(ops.size() - 1);
  auto after = [&](size_t idx) -> Emitter& {
    return idx + 1 < ops.size() ? static_cast<Emitter&>(*links[idx]) : sink;
  };
  for (size_t idx = links.size(); idx-- > 0;) {
    links[idx] = std::make_unique<Link>(ops[idx + 1].get(), &after(idx + 1));
  }

  // Header.
  std::string line;
  int64_t line_no = 1;
  auto fail = [&](const std::string& why) {
    return Status::InvalidArgument(input_name + ":" + std::to_string(line_no) + ": " + why);
  };
  if (!std::getline(in, line)) return fail("empty file: expected a header line");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> header;
  if (!SplitCsv(line, &header)) return fail("unterminated quote");
  for (auto& h : header) h = std::string(Trim(h));
  auto column = [&](const std::string& name) -> std::optional<size_t> {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return std::nullopt;
    return static_cast<size_t>(it - header.begin());
  };

  const std::string ts_name = source->timestamp_field.empty() ? "timestamp" : source->timestamp_field;
  const config::TimestampFormat ts_format = source->timestamp_format == config::TimestampFormat::kKafka
                                                ? config::TimestampFormat::kIso8601
                                                : source->timestamp_format;
  const auto ts_col = column(ts_name);
  if (!ts_col) return fail("no timestamp column '" + ts_name + "' in the header");
  std::vector<size_t> value_cols;
  for (const auto& field : source->value_fields) {
    auto col = column(field);
    if (!col && source->value_fields.size() == 1) col = column("value");
    if (!col) return fail("no value column '" + field + "' in the header");
    value_cols.push_back(*col);
  }
  std::optional<size_t> key_col;
  if (!source->key_field.empty()) key_col = column(source->key_field);
  auto schema = std::make_shared<const operators::Schema>(
      operators::Schema{std::vector<std::string>(source->value_fields)});

  // Output header.
  std::string row_out = header[*ts_col];
  for (size_t col : value_cols) {
    row_out += ',';
    row_out += header[col];
  }
  row_out += ",anomaly_score,grade\n";
  out << row_out;

  std::vector<std::string> fields;
  int64_t last_tick_ms = 0;
  bool ticked = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) continue;
    if (!SplitCsv(line, &fields)) return fail("unterminated quote");
    if (fields.size() != header.size()) {
      return fail("expected " + std::to_string(header.size()) + " fields, got " +
                  std::to_string(fields.size()));
    }
    Event event;
    const std::string_view ts_text = Trim(fields[*ts_col]);
    auto ts = ParseTimestampMillis(ts_text, ts_format);
    if (!ts.ok()) return fail("column '" + ts_name + "': " + ts.status().message());
    event.event_time_ms = *ts;
    event.key = key_col ? fields[*key_col] : "replay";
    event.schema = schema;
    for (size_t col : value_cols) {
      const std::string_view text = Trim(fields[col]);
      double v = 0;
      auto res = std::from_chars(text.data(), text.data() + text.size(), v);
      if (res.ec != std::errc() || res.ptr != text.data() + text.size() || text.empty()) {
        return fail("column '" + header[col] + "': not a number '" + std::string(text) + "'");
      }
      if (!std::isfinite(v)) {
        return fail("column '" + header[col] + "': not a finite number '" + std::string(text) + "'");
      }
      event.values.push_back(v);
    }

    clock.Set(event.event_time_ms);
    if (!ticked || event.event_time_ms - last_tick_ms >= 100) {
      for (size_t idx = 0; idx < ops.size(); ++idx) ops[idx]->Tick(after(idx));
      last_tick_ms = event.event_time_ms;
      ticked = true;
    }
    sink.events.clear();
    ops.front()->Process(std::move(event), after(0));

    // The row's result: the first emitted event carrying a score.
    double anomaly_score = 0;
    std::optional<double> grade;
    for (const Event& e : sink.events) {
      if (!e.score) continue;
      if (detector == config::OperatorKind::kRcf) {
        // The forest's anomaly_score (grade or out-of-range, first report per episode); the
        // grade when an older operator did not annotate one.
        grade = NumberOf(e.annotations, "grade");
        anomaly_score = std::clamp(
            NumberOf(e.annotations, "anomaly_score").value_or(grade.value_or(0.0)), 0.0, 1.0);
      } else {
        anomaly_score = 1 - std::exp(-std::max(0.0, std::abs(*e.score) - 1) / 3);
      }
      break;
    }
    row_out.assign(fields[*ts_col]);
    for (size_t col : value_cols) {
      row_out += ',';
      row_out += fields[col];
    }
    row_out += ',';
    AppendDouble(row_out, anomaly_score);
    row_out += ',';
    if (grade) AppendDouble(row_out, *grade);
    row_out += '\n';
    out << row_out;
  }
  if (in.bad()) return Status::IOError(input_name + ": read error");
  return Status::Ok();
}

Status Replay(const ReplayOptions& options) {
  OSPREY_ASSIGN_OR_RETURN(config::DaemonConfig config, config::LoadConfigFile(options.config_path));
  if (config.pipelines.empty()) {
    return Status::InvalidArgument(options.config_path + ": no pipelines");
  }
  const config::PipelineOptions* pipeline = &config.pipelines.front();
  if (!options.pipeline.empty()) {
    pipeline = config.FindPipeline(options.pipeline);
    if (pipeline == nullptr) {
      return Status::InvalidArgument(options.config_path + ": no pipeline '" + options.pipeline +
                                     "'");
    }
  }
  std::ifstream in(options.input_path);
  if (!in) return Status::IOError(options.input_path + ": cannot open for reading");
  std::ofstream out(options.output_path, std::ios::trunc);
  if (!out) return Status::IOError(options.output_path + ": cannot open for writing");
  OSPREY_RETURN_IF_ERROR(ReplayCsv(config, *pipeline, in, options.input_path, out));
  out.flush();
  if (!out) return Status::IOError(options.output_path + ": write failed");
  return Status::Ok();
}

}  // namespace osprey::daemon
