// The two steps every integration test starts with: an embedded broker the test owns, and an
// in-process daemon from YAML text. Failures are reported as test failures naming the cause;
// the functions then return null, so callers ASSERT_NE(..., nullptr). Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"

namespace osprey::testing {

std::unique_ptr<daemon::EmbeddedBroker> StartBroker(std::vector<config::EmbeddedTopic> topics);

// Loads `yaml` (named `file_name` in errors) and starts the daemon on it.
std::unique_ptr<daemon::Daemon> StartDaemon(const std::string& yaml,
                                            const std::string& file_name = "test.yaml",
                                            daemon::DaemonHooks hooks = {});

}  // namespace osprey::testing
