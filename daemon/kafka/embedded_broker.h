// EmbeddedBroker: librdkafka's mock cluster started in-process — the real Kafka protocol on
// loopback TCP, for the quickstart, tests and `osprey broker`. Not for production data: it keeps
// everything in memory and implements no transactions.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::daemon {

class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>> Start(const config::EmbeddedBrokerOptions& options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstrap_; }
  Status CreateTopic(const std::string& name, int partitions);
  // Makes a broker (1-based id) refuse connections, or accept them again.
  Status SetBrokerDown(int32_t broker_id);
  Status SetBrokerUp(int32_t broker_id);

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace osprey::daemon
