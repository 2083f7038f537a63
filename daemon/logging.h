// Process-wide logging set-up (spdlog): text for people, or one JSON object per line for log
// pipelines. Call once at start-up, before other threads log. Thread-safe afterwards.
#pragma once

#include "config/options.h"

namespace osprey::daemon {

void ConfigureLogging(const config::LoggingOptions& options);

}  // namespace osprey::daemon
