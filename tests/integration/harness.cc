#include "tests/integration/harness.h"

#include <gtest/gtest.h>

#include "config/loader.h"

namespace osprey::testing {

std::unique_ptr<daemon::EmbeddedBroker> StartBroker(std::vector<config::EmbeddedTopic> topics) {
  config::EmbeddedBrokerOptions options;
  options.topics = std::move(topics);
  auto broker = daemon::EmbeddedBroker::Start(options);
  if (!broker.ok()) {
    ADD_FAILURE() << "embedded broker: " << broker.status().ToString();
    return nullptr;
  }
  return std::move(broker).value();
}

std::unique_ptr<daemon::Daemon> StartDaemon(const std::string& yaml,
                                            const std::string& file_name,
                                            daemon::DaemonHooks hooks) {
  auto cfg = config::LoadConfigString(yaml, file_name);
  if (!cfg.ok()) {
    ADD_FAILURE() << cfg.status().ToString();
    return nullptr;
  }
  auto d = daemon::Daemon::Start(std::move(cfg).value(), std::move(hooks));
  if (!d.ok()) {
    ADD_FAILURE() << "daemon: " << d.status().ToString();
    return nullptr;
  }
  return std::move(d).value();
}

}  // namespace osprey::testing
