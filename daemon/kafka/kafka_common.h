// Shared librdkafka plumbing: building a client configuration from KafkaOptions, and RAII
// owners for librdkafka handles. Only daemon/ includes librdkafka.
// Thread-compatible.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::daemon {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
  void operator()(rd_kafka_headers_t* hdrs) const { rd_kafka_headers_destroy(hdrs); }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using RdKafkaConfPtr = std::unique_ptr<rd_kafka_conf_t, RdKafkaDeleter>;
using RdPartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, RdKafkaDeleter>;

enum class ClientKind { kConsumer, kProducer };

// Builds a configuration: Osprey's defaults for the kind, then kafka.properties, then the
// kind's own properties, then `overrides`; bootstrap.servers from `bootstrap` when non-empty.
// InvalidArgument naming the property when librdkafka rejects one.
Result<RdKafkaConfPtr> MakeKafkaConf(const config::KafkaOptions& options, ClientKind kind,
                                     const std::string& bootstrap,
                                     const std::map<std::string, std::string>& overrides = {});

// Routes librdkafka's log lines to spdlog (logger "kafka").
void InstallKafkaLogger(rd_kafka_conf_t* conf);

}  // namespace osprey::daemon
