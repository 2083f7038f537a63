#include "daemon/savepoint.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "config/base/clock.h"
#include "config/base/json_writer.h"
#include "daemon/daemon.h"

namespace osprey::daemon {

namespace {

namespace fs = std::filesystem;

constexpr char kOffsetsFamily[] = "offsets";  // as written by the source runners

std::string UtcTime(int64_t ms, const char* format) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

const char* KindName(config::OperatorKind kind) {
  switch (kind) {
    case config::OperatorKind::kBaseline:
      return "baseline";
    case config::OperatorKind::kRcf:
      return "rcf";
    case config::OperatorKind::kWindow:
      return "window";
    case config::OperatorKind::kHotspots:
      return "hotspots";
  }
  return "other";
}

Result<std::string> Manifest(state::RocksStore& copy, const config::DaemonConfig& config,
                             int64_t now_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("savepoint_format_version").Int(kSavepointFormatVersion);
  w.Key("state_format_version").Int(copy.format_version());
  w.Key("osprey_version").String(OspreyVersion());
  w.Key("created_at_ms").Int(now_ms);
  w.Key("created_at").String(UtcTime(now_ms, "%Y-%m-%dT%H:%M:%SZ"));
  w.Key("config_file").String(config.file);
  w.Key("config_digest").String(config.digest);
  w.Key("pipelines").BeginArray();
  for (const auto& p : config.pipelines) {
    w.BeginObject();
    w.Key("name").String(p.name);
    w.Key("source").String(p.source);
    w.Key("operators").BeginArray();
    for (const auto& op : p.operators) {
      w.BeginObject();
      w.Key("name").String(op.name);
      w.Key("type").String(KindName(op.kind));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  // Next offset to read per source partition; -1 = started, nothing checkpointed yet.
  w.Key("offsets").BeginArray();
  Status st = copy.ForEach(kOffsetsFamily, "", "", [&](std::string_view key, std::string_view v) {
    auto decoded = state::DecodeStateKey(key);
    if (!decoded.ok()) return true;
    int64_t offset = -1;
    try {
      offset = std::stoll(std::string(v));
    } catch (const std::exception&) {
      return true;
    }
    w.BeginObject();
    w.Key("source").String(decoded->pipeline);
    w.Key("topic").String(decoded->topic);
    w.Key("partition").Int(decoded->partition);
    w.Key("next_offset").Int(offset);
    w.EndObject();
    return true;
  });
  OSPREY_RETURN_IF_ERROR(st);
  w.EndArray();
  w.Key("families").BeginObject();
  for (const auto& family : copy.families()) {
    int64_t count = 0;
    OSPREY_RETURN_IF_ERROR(copy.ForEach(family, "", "", [&](std::string_view, std::string_view) {
      ++count;
      return true;
    }));
    w.Key(family).Int(count);
  }
  w.EndObject();
  w.EndObject();
  return out;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string DefaultSavepointDir(const config::DaemonConfig& config, int64_t now_ms) {
  return (fs::path(config.state.dir) / "savepoints" /
          ("savepoint-" + UtcTime(now_ms, "%Y%m%dT%H%M%S") + "-" + std::to_string(now_ms % 1000) +
           "Z"))
      .string();
}

Result<std::string> CreateSavepoint(state::RocksStore& store, const config::DaemonConfig& config,
                                    const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Status::InvalidArgument("savepoint directory " + dir + " already exists");
  }
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("savepoint directory " + dir + ": " + ec.message());
  const int64_t now_ms = SystemClock::Default().NowMillis();
  const std::string store_dir = (fs::path(dir) / "store").string();
  Status st = store.CreateCheckpoint(store_dir);
  if (!st.ok()) {
    fs::remove_all(dir, ec);
    return st;
  }
  // The manifest describes the copy, not the live store, so offsets and counts match it exactly.
  Result<std::string> manifest = [&]() -> Result<std::string> {
    OSPREY_ASSIGN_OR_RETURN(auto copy, state::RocksStore::OpenReadOnly(store_dir));
    return Manifest(*copy, config, now_ms);
  }();
  if (!manifest.ok()) {
    fs::remove_all(dir, ec);
    return manifest.status();
  }
  const fs::path path = fs::path(dir) / "manifest.json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << *manifest << "\n";
    out.flush();
    if (!out) {
      fs::remove_all(dir, ec);
      return Status::IOError("cannot write " + path.string());
    }
  }
  spdlog::info("savepoint written to {}", dir);
  return manifest;
}

Result<std::string> RestoreSavepoint(const std::string& dir, const std::string& state_dir,
                                     bool force) {
  OSPREY_ASSIGN_OR_RETURN(std::string manifest, ReadFile(fs::path(dir) / "manifest.json"));
  simdjson::dom::parser parser;
  simdjson::padded_string padded(manifest);
  simdjson::dom::element root;
  int64_t savepoint_format = 0, state_format = 0;
  if (parser.parse(padded).get(root) || root["savepoint_format_version"].get(savepoint_format) ||
      root["state_format_version"].get(state_format)) {
    return Status::Corruption("savepoint " + dir + ": manifest.json is not a savepoint manifest");
  }
  if (savepoint_format > kSavepointFormatVersion || state_format > state::kStateFormatVersion) {
    return Status::InvalidArgument("savepoint " + dir + " has savepoint format " +
                                   std::to_string(savepoint_format) + " and state format " +
                                   std::to_string(state_format) + "; this build reads up to " +
                                   std::to_string(kSavepointFormatVersion) + " and " +
                                   std::to_string(state::kStateFormatVersion));
  }
  const fs::path source = fs::path(dir) / "store";
  std::error_code ec;
  if (!fs::is_directory(source, ec)) {
    return Status::NotFound("savepoint " + dir + ": no store/ directory");
  }
  if (fs::exists(state_dir, ec) && !fs::is_empty(state_dir, ec)) {
    if (!force) {
      return Status::InvalidArgument("state directory " + state_dir +
                                     " is not empty; refusing to overwrite it with savepoint " +
                                     dir + " (use --force to replace it)");
    }
    for (const auto& entry : fs::directory_iterator(state_dir, ec)) fs::remove_all(entry, ec);
    if (ec) return Status::IOError("clearing " + state_dir + ": " + ec.message());
  }
  fs::create_directories(state_dir, ec);
  if (ec) return Status::IOError("state directory " + state_dir + ": " + ec.message());
  fs::copy(source, state_dir, fs::copy_options::recursive, ec);
  if (ec)
    return Status::IOError("copying " + source.string() + " to " + state_dir + ": " + ec.message());
  {  // Check that it opens before a daemon relies on it.
    OSPREY_ASSIGN_OR_RETURN(auto copy, state::RocksStore::OpenReadOnly(state_dir));
    (void)copy;
  }
  spdlog::info("state directory {} restored from savepoint {}", state_dir, dir);
  return manifest;
}

}  // namespace osprey::daemon
