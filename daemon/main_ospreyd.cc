// ospreyd: the streaming anomaly-detection daemon.
//   ospreyd --config FILE            run
//   ospreyd --config FILE --from-savepoint DIR [--force]
//                                    copy a savepoint into state.dir first, then run from it
//   ospreyd validate --config FILE   check a configuration, print every error, exit 0 or 1
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "daemon/savepoint.h"
#include "daemon/signals.h"

namespace {

int Validate(const std::string& path) {
  auto cfg = osprey::config::LoadConfigFile(path);
  if (!cfg.ok()) {
    std::cerr << cfg.status().message() << "\n";
    return 1;
  }
  std::cout << path << ": OK (" << cfg->sources.size() << " sources, " << cfg->pipelines.size()
            << " pipelines, " << cfg->sinks.size() << " sinks)\n";
  return 0;
}

int Run(const std::string& path, const std::string& log_level, const std::string& savepoint,
        bool force) {
  auto cfg = osprey::config::LoadConfigFile(path);
  if (!cfg.ok()) {
    std::cerr << cfg.status().message() << "\n";
    return 1;
  }
  osprey::config::LoggingOptions logging = cfg->logging;
  if (!log_level.empty()) {
    static const std::pair<const char*, osprey::config::LogLevel> kLevels[] = {
        {"trace", osprey::config::LogLevel::kTrace}, {"debug", osprey::config::LogLevel::kDebug},
        {"info", osprey::config::LogLevel::kInfo},   {"warn", osprey::config::LogLevel::kWarn},
        {"error", osprey::config::LogLevel::kError}};
    for (const auto& [name, level] : kLevels) {
      if (log_level == name) logging.level = level;
    }
  }
  osprey::daemon::ConfigureLogging(logging);
  spdlog::info("ospreyd {} starting with {} (sha256 {})", osprey::daemon::OspreyVersion(), path,
               cfg->digest.substr(0, 12));
  if (!savepoint.empty()) {
    if (cfg->kafka.embedded.enabled) {
      spdlog::error("--from-savepoint: kafka.embedded is enabled; the embedded broker starts "
                    "empty, so the savepoint's offsets would mean nothing");
      return 1;
    }
    auto manifest = osprey::daemon::RestoreSavepoint(savepoint, cfg->state.dir, force);
    if (!manifest.ok()) {
      spdlog::error("--from-savepoint: {}", manifest.status().ToString());
      return 1;
    }
    spdlog::info("starting from savepoint {}: {}", savepoint, *manifest);
  }
  auto daemon = osprey::daemon::Daemon::Start(std::move(cfg).value());
  if (!daemon.ok()) {
    spdlog::error("start-up failed: {}", daemon.status().ToString());
    return 1;
  }
  int sig = 0;
  while (sig == 0) {
    sig = osprey::daemon::WaitForTerminationSignal(std::chrono::milliseconds(500));
    if (sig == 0 && !(*daemon)->health().ok()) break;
  }
  if (sig != 0) spdlog::info("received signal {}; stopping", sig);
  // A second signal, or 10 s without finishing, ends the process at once.
  std::thread([] {
    int again = osprey::daemon::WaitForTerminationSignal(std::chrono::milliseconds(10000));
    spdlog::error(again != 0 ? "second signal: exiting now" : "shutdown took over 10 s: exiting");
    spdlog::default_logger()->flush();
    std::_Exit(3);
  }).detach();
  osprey::Status health = (*daemon)->Shutdown();
  daemon->reset();
  spdlog::default_logger()->flush();
  if (!health.ok()) {
    std::cerr << "ospreyd stopped on an error: " << health.ToString() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  osprey::daemon::BlockTerminationSignals();
  CLI::App app{"ospreyd: streaming anomaly detection on Kafka"};
  app.set_version_flag("--version", std::string("ospreyd ") + osprey::daemon::OspreyVersion());
  std::string config_path;
  std::string log_level;
  app.add_option("-c,--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "Override logging.level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string savepoint;
  bool force = false;
  app.add_option("--from-savepoint", savepoint,
                 "Start from this savepoint (copied into state.dir, which must be empty)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--force", force, "With --from-savepoint: replace a non-empty state.dir");
  auto* validate = app.add_subcommand("validate", "Check a configuration file and exit 0 or 1");
  std::string validate_path;
  validate->add_option("-c,--config", validate_path, "YAML configuration file")->required();
  CLI11_PARSE(app, argc, argv);
  if (*validate) return Validate(validate_path);
  if (config_path.empty()) {
    std::cerr << "ospreyd: --config FILE is required (see --help)\n";
    return 1;
  }
  return Run(config_path, log_level, savepoint, force);
}
