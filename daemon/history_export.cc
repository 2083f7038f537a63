#include "daemon/history_export.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include <unistd.h>

#include "config/base/json_writer.h"
#include "config/loader.h"
#include "state/history.h"
#include "state/rocksdb_store.h"

namespace osprey::daemon {

namespace {

namespace fs = std::filesystem;

void AppendCsvCell(std::string& out, std::string_view cell) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(cell);
    return;
  }
  out.push_back('"');
  for (char c : cell) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendDouble(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

// Removes the secondary instance's bookkeeping directory on every path out.
struct ScopedDir {
  std::string path;
  ~ScopedDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

Result<int64_t> ExportHistory(const HistoryExportOptions& options) {
  if (options.format != "csv" && options.format != "jsonl") {
    return Status::InvalidArgument("--format must be csv or jsonl, got '" + options.format + "'");
  }
  OSPREY_ASSIGN_OR_RETURN(config::DaemonConfig cfg, config::LoadConfigFile(options.config_path));
  const config::PipelineOptions* pipeline = cfg.FindPipeline(options.pipeline);
  if (pipeline == nullptr) {
    return Status::InvalidArgument("no pipeline '" + options.pipeline + "' in " +
                                   options.config_path);
  }
  if (pipeline->history.fields.empty()) {
    return Status::InvalidArgument("pipeline '" + options.pipeline +
                                   "' keeps no history (set history.fields in " +
                                   options.config_path + ")");
  }

  std::unique_ptr<state::RocksStore> store;
  ScopedDir secondary;
  if (!options.store_dir.empty()) {
    std::string dir = options.store_dir;
    if (fs::exists(fs::path(dir) / "manifest.json")) dir = (fs::path(dir) / "store").string();
    OSPREY_ASSIGN_OR_RETURN(store, state::RocksStore::OpenReadOnly(dir));
  } else {
    std::string primary = cfg.state.dir;
    if (cfg.kafka.embedded.enabled) primary = (fs::path(primary) / "embedded").string();
    secondary.path =
        (fs::temp_directory_path() / ("osprey-history-" + std::to_string(::getpid()) + "-" +
                                      std::to_string(reinterpret_cast<uintptr_t>(&options))))
            .string();
    OSPREY_ASSIGN_OR_RETURN(store, state::RocksStore::OpenSecondary(primary, secondary.path));
    OSPREY_RETURN_IF_ERROR(store->CatchUpWithPrimary());
  }

  std::ofstream file;
  std::ostream* out = &std::cout;
  if (options.sink != nullptr) {
    out = options.sink;
  } else if (!options.output_path.empty() && options.output_path != "-") {
    file.open(options.output_path, std::ios::binary | std::ios::trunc);
    if (!file) return Status::IOError("cannot write " + options.output_path);
    out = &file;
  }

  const auto& fields = pipeline->history.fields;
  std::string buf;
  if (options.format == "csv") {
    buf = "event_time_ms,topic,partition,offset,key";
    for (const auto& f : fields) {
      buf.push_back(',');
      AppendCsvCell(buf, f);
    }
    buf.push_back('\n');
  }
  const std::string begin = options.since_ms
                                ? state::HistoryTimeBound(options.pipeline, *options.since_ms)
                                : state::HistoryBegin(options.pipeline);
  const std::string end = options.until_ms
                              ? state::HistoryTimeBound(options.pipeline, *options.until_ms)
                              : state::HistoryEnd(options.pipeline);
  int64_t rows = 0;
  Status decode_error;
  Status st = store->ForEach(state::kHistoryFamily, begin, end,
                             [&](std::string_view key, std::string_view value) {
                               auto row = state::DecodeHistoryRow(key, value);
                               if (!row.ok()) {
                                 decode_error = row.status();
                                 return false;
                               }
                               if (options.format == "csv") {
                                 buf += std::to_string(row->event_time_ms);
                                 buf.push_back(',');
                                 AppendCsvCell(buf, row->topic);
                                 buf.push_back(',');
                                 buf += std::to_string(row->partition);
                                 buf.push_back(',');
                                 buf += std::to_string(row->offset);
                                 buf.push_back(',');
                                 AppendCsvCell(buf, row->key);
                                 for (const auto& f : fields) {
                                   buf.push_back(',');
                                   for (const auto& [name, v] : row->fields) {
                                     if (name == f) {
                                       AppendDouble(buf, v);
                                       break;
                                     }
                                   }
                                 }
                               } else {
                                 JsonWriter w(&buf);
                                 w.BeginObject();
                                 w.Key("event_time_ms").Int(row->event_time_ms);
                                 w.Key("topic").String(row->topic);
                                 w.Key("partition").Int(row->partition);
                                 w.Key("offset").Int(row->offset);
                                 w.Key("key").String(row->key);
                                 w.Key("fields").BeginObject();
                                 for (const auto& [name, v] : row->fields) w.Key(name).Double(v);
                                 w.EndObject();
                                 w.EndObject();
                               }
                               buf.push_back('\n');
                               ++rows;
                               if (buf.size() > (1 << 20)) {
                                 out->write(buf.data(), static_cast<std::streamsize>(buf.size()));
                                 buf.clear();
                               }
                               return true;
                             });
  OSPREY_RETURN_IF_ERROR(st);
  if (!decode_error.ok()) {
    return Status::Corruption("history of pipeline '" + options.pipeline +
                              "': " + decode_error.message());
  }
  out->write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out->flush();
  if (!*out) return Status::IOError("writing " + options.output_path);
  return rows;
}

}  // namespace osprey::daemon
