#include "daemon/model_registry.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "config/base/clock.h"

namespace osprey::daemon {

namespace fs = std::filesystem;

namespace {

// Largest file read from an artifact; larger ones fail the version.
constexpr uintmax_t kMaxFileBytes = uintmax_t{1} << 30;

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::optional<int64_t> ParseVersion(std::string_view name) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || ptr != name.data() + name.size() || v <= 0 || name[0] == '0') {
    return std::nullopt;
  }
  return v;
}

// Regular files directly in `dir`, sorted; "" fingerprint on error.
std::string Fingerprint(const fs::path& dir, std::vector<fs::path>* files) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) found.push_back(it->path());
  }
  if (ec) return "";
  std::sort(found.begin(), found.end());
  std::string out;
  for (const fs::path& f : found) {
    const uintmax_t size = fs::file_size(f, ec);
    const auto mtime = fs::last_write_time(f, ec).time_since_epoch().count();
    out += f.filename().string() + ":" + std::to_string(size) + ":" + std::to_string(mtime) + ";";
  }
  if (files != nullptr) *files = std::move(found);
  return out;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::IOError(path.string() + ": " + ec.message());
  if (size > kMaxFileBytes) return Status::ResourceExhausted(path.string() + ": larger than 1 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path.string() + ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::IOError(path.string() + ": read failed");
  return buf.str();
}

}  // namespace

int64_t NextModelVersion(const std::string& registry_dir, const std::string& name) {
  int64_t highest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(registry_dir) / name, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (auto v = ParseVersion(it->path().filename().string())) highest = std::max(highest, *v);
  }
  return highest + 1;
}

Result<int64_t> PublishModelVersion(const std::string& registry_dir, const std::string& name,
                                    const std::map<std::string, std::string>& files) {
  if (!ValidName(name)) {
    return Status::InvalidArgument("model name '" + name +
                                   "' must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  }
  if (files.count("metadata.json") == 0) {
    return Status::InvalidArgument("a model version needs a metadata.json");
  }
  const int64_t version = NextModelVersion(registry_dir, name);
  const fs::path dir = fs::path(registry_dir) / name;
  const fs::path tmp = dir / (".tmp-" + std::to_string(version) + "-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError(tmp.string() + ": " + ec.message());
  auto fail = [&](const std::string& what) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    return Status::IOError(what);
  };
  auto sync_path = [](const fs::path& p, int flags) {
    const int fd = ::open(p.c_str(), flags);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    return ::close(fd) == 0 && ok;
  };
  for (const auto& [file, bytes] : files) {
    if (file.empty() || file.find('/') != std::string::npos || file[0] == '.') {
      return fail("bad file name '" + file + "'");
    }
    const fs::path path = tmp / file;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) return fail(path.string() + ": write failed");
    }
    if (!sync_path(path, O_RDONLY)) return fail(path.string() + ": fsync failed");
  }
  if (!sync_path(tmp, O_RDONLY | O_DIRECTORY)) return fail(tmp.string() + ": fsync failed");
  const fs::path final_dir = dir / std::to_string(version);
  fs::rename(tmp, final_dir, ec);
  if (ec) return fail("rename to " + final_dir.string() + ": " + ec.message());
  if (!sync_path(dir, O_RDONLY | O_DIRECTORY)) {
    return Status::IOError(dir.string() + ": fsync failed after publishing version " +
                           std::to_string(version));
  }
  return version;
}

std::shared_ptr<const LoadedModel> RegistrySnapshot::Latest(std::string_view name) const {
  auto it = models.find(name);
  if (it == models.end() || it->second.empty()) return nullptr;
  return it->second.rbegin()->second;
}

std::shared_ptr<const LoadedModel> RegistrySnapshot::Find(std::string_view name,
                                                          int64_t version) const {
  auto it = models.find(name);
  if (it == models.end()) return nullptr;
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second;
}

ModelRegistry::ModelRegistry(const config::ModelsOptions& options,
                             const models::ModelKindRegistry& kinds, MetricsRegistry* metrics)
    : options_(options), kinds_(kinds), metrics_(metrics) {
  MutexLock lock(&mu_);
  current_ = std::make_shared<const RegistrySnapshot>();
}

ModelRegistry::~ModelRegistry() { StopWatching(); }

Result<std::unique_ptr<ModelRegistry>> ModelRegistry::Open(const config::ModelsOptions& options,
                                                           const models::ModelKindRegistry& kinds,
                                                           MetricsRegistry* metrics) {
  std::unique_ptr<ModelRegistry> registry(new ModelRegistry(options, kinds, metrics));
  if (options.registry_dir.empty()) return registry;
  std::error_code ec;
  fs::create_directories(options.registry_dir, ec);
  if (ec || !fs::is_directory(options.registry_dir, ec)) {
    return Status::IOError("models.registry_dir " + options.registry_dir +
                           ": cannot create or read it: " + ec.message());
  }
  ReloadReport report = registry->Reload();
  spdlog::info("model registry {}: {} versions loaded, {} errors", options.registry_dir,
               report.loaded, report.errors.size());
  return registry;
}

std::shared_ptr<const RegistrySnapshot> ModelRegistry::snapshot() const {
  MutexLock lock(&mu_);
  return current_;
}

ModelRegistry::ReloadReport ModelRegistry::Reload() {
  MutexLock reload_lock(&reload_mu_);
  ReloadReport report;
  const std::shared_ptr<const RegistrySnapshot> previous = snapshot();
  auto next = std::make_shared<RegistrySnapshot>();
  next->generation = previous->generation + 1;
  const fs::path root(options_.registry_dir);
  std::error_code ec;
  if (!options_.registry_dir.empty()) {
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || !it->is_directory()) continue;
      if (!ValidName(name)) {
        report.errors.push_back(name + ": not a valid model name (see REGISTRY.md); skipped");
        continue;
      }
      std::error_code vec;
      for (fs::directory_iterator v(it->path(), vec), vend; !vec && v != vend; v.increment(vec)) {
        const std::string vname = v->path().filename().string();
        if (vname.empty() || vname[0] == '.' || !v->is_directory()) continue;
        const std::string where = name + "/" + vname;
        const std::optional<int64_t> version = ParseVersion(vname);
        if (!version) {
          report.errors.push_back(where + ": version directory must be a positive integer");
          continue;
        }
        std::vector<fs::path> files;
        const std::string fingerprint = Fingerprint(v->path(), &files);
        const std::shared_ptr<const LoadedModel> old = previous->Find(name, *version);
        if (old != nullptr && old->fingerprint == fingerprint) {
          next->models[name][*version] = old;
          ++report.unchanged;
          continue;
        }
        // Load it; on failure keep the old one (if any).
        auto loaded = [&]() -> Result<std::shared_ptr<const LoadedModel>> {
          models::ModelArtifact artifact;
          artifact.name = name;
          artifact.version = vname;
          bool have_metadata = false;
          for (const fs::path& f : files) {
            OSPREY_ASSIGN_OR_RETURN(std::string bytes, ReadFile(f));
            if (f.filename() == "metadata.json") {
              artifact.metadata_json = std::move(bytes);
              have_metadata = true;
            } else {
              artifact.files[f.filename().string()] = std::move(bytes);
            }
          }
          if (!have_metadata) return Status::NotFound("no metadata.json");
          OSPREY_ASSIGN_OR_RETURN(models::ModelMetadata meta,
                                  models::ParseMetadata(artifact.metadata_json));
          if ((!meta.name.empty() && meta.name != name) ||
              (!meta.version.empty() && meta.version != vname)) {
            spdlog::warn("model {}: metadata says {}/{}; the path wins", where, meta.name,
                         meta.version);
          }
          artifact.kind = meta.kind;
          const models::ModelLoader* loader = kinds_.Find(meta.kind);
          if (loader == nullptr) {
            std::string known;
            for (const std::string& k : kinds_.kinds()) known += (known.empty() ? "" : ", ") + k;
            return Status::InvalidArgument("unknown kind '" + meta.kind + "' (this daemon serves " +
                                           known + ")");
          }
          auto model = (*loader)(artifact);
          if (!model.ok()) return model.status();
          auto out = std::make_shared<LoadedModel>();
          out->name = name;
          out->version = *version;
          out->metadata_json = std::move(artifact.metadata_json);
          out->metadata = std::move(meta);
          out->model = std::shared_ptr<const models::ServedModel>(std::move(*model));
          out->loaded_at_ms = SystemClock::Default().NowMillis();
          out->fingerprint = fingerprint;
          return std::shared_ptr<const LoadedModel>(std::move(out));
        }();
        if (loaded.ok()) {
          next->models[name][*version] = *loaded;
          ++report.loaded;
          spdlog::info("model {} loaded (kind {})", where, (*loaded)->metadata.kind);
        } else {
          // Loaders name the artifact themselves; others get it here.
          const std::string& why = loaded.status().message();
          std::string msg = why.rfind(where + ":", 0) == 0 ? why : where + ": " + why;
          if (old != nullptr) {
            next->models[name][*version] = old;
            msg += " (the previously loaded files keep serving)";
          }
          spdlog::error("model registry: {}", msg);
          report.errors.push_back(std::move(msg));
        }
      }
      if (vec) report.errors.push_back(name + ": " + vec.message());
    }
    if (ec) report.errors.push_back(options_.registry_dir + ": " + ec.message());
  }
  for (const auto& [name, versions] : previous->models) {
    for (const auto& [version, model] : versions) {
      if (next->Find(name, version) == nullptr) ++report.removed;
    }
  }
  next->errors = report.errors;
  if (metrics_ != nullptr) {
    metrics_->GetCounter("osprey_model_reloads_total", "Model registry rescans").Inc();
    metrics_->GetGauge("osprey_model_versions", "Model versions being served")
        .Set(static_cast<double>(report.loaded + report.unchanged));
    for (const auto& [name, versions] : next->models) {
      for (const auto& [version, model] : versions) {
        metrics_
            ->GetGauge("osprey_model_memory_bytes", "Approximate bytes a served model holds",
                       {{"model", name}, {"version", std::to_string(version)}})
            .Set(static_cast<double>(model->model->memory_bytes()));
      }
    }
    for (const auto& [name, versions] : previous->models) {
      for (const auto& [version, model] : versions) {
        if (next->Find(name, version) != nullptr) continue;
        metrics_
            ->GetGauge("osprey_model_memory_bytes", "Approximate bytes a served model holds",
                       {{"model", name}, {"version", std::to_string(version)}})
            .Set(0);  // no longer served
      }
    }
  }
  {
    MutexLock lock(&mu_);
    current_ = std::move(next);
  }
  return report;
}

void ModelRegistry::StartWatching() {
  if (options_.registry_dir.empty() || options_.poll_interval_ms <= 0 || watcher_.joinable()) {
    return;
  }
  watcher_ = std::thread([this] { WatchLoop(); });
}

void ModelRegistry::StopWatching() {
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void ModelRegistry::WatchLoop() {
  // A cheap listing of every version's fingerprint: reload only when it changed.
  auto scan = [this] {
    std::string all;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(options_.registry_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it.depth() > 1) {
        it.disable_recursion_pending();
        continue;
      }
      if (it.depth() == 1 && it->is_directory(ec)) {
        all += it->path().string() + "|" + Fingerprint(it->path(), nullptr) + "\n";
      } else {
        all += it->path().string() + "\n";
      }
    }
    return all;
  };
  // Empty: the first poll always rescans, so a change made between Open and this thread's
  // start is not missed (unchanged versions are reused, so the rescan is cheap).
  std::string last;
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(options_.poll_interval_ms));
    if (stop_) break;
    lock.unlock();
    std::string now = scan();
    if (now != last) {
      ReloadReport report = Reload();
      spdlog::info("model registry changed: {} loaded, {} removed, {} errors", report.loaded,
                   report.removed, report.errors.size());
      last = std::move(now);
    }
    lock.lock();
  }
}

}  // namespace osprey::daemon
