#include "daemon/kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "daemon/kafka/kafka_common.h"

namespace osprey::daemon {

struct EmbeddedBroker::Impl {
  RdKafkaPtr handle;  // the mock cluster lives on this handle's threads
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

EmbeddedBroker::~EmbeddedBroker() = default;

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const config::EmbeddedBrokerOptions& options) {
  auto impl = std::make_unique<Impl>();
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  char err[512];
  // The handle only hosts the mock cluster; it connects nowhere, so its configuration warnings
  // ("no bootstrap.servers") are noise.
  if (rd_kafka_conf_set(conf.get(), "client.id", "osprey-embedded-broker", err, sizeof(err)) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf.get(), "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return Status::Internal(err);
  }
  InstallKafkaLogger(conf.get());
  impl->handle.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof(err)));
  if (!impl->handle) return Status::Internal(std::string("embedded broker: ") + err);
  impl->cluster = rd_kafka_mock_cluster_new(impl->handle.get(), options.brokers);
  if (impl->cluster == nullptr) {
    return Status::Internal("embedded broker: could not start librdkafka's mock cluster");
  }
  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker(std::move(impl)));
  for (const auto& topic : options.topics) {
    OSPREY_RETURN_IF_ERROR(broker->CreateTopic(topic.name, topic.partitions));
  }
  return broker;
}

Status EmbeddedBroker::CreateTopic(const std::string& name, int partitions) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument("embedded broker: create topic '" + name +
                                   "': " + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

Status EmbeddedBroker::SetBrokerDown(int32_t broker_id) {
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(impl_->cluster, broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::InvalidArgument(rd_kafka_err2str(err));
  return Status::Ok();
}

Status EmbeddedBroker::SetBrokerUp(int32_t broker_id) {
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(impl_->cluster, broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::InvalidArgument(rd_kafka_err2str(err));
  return Status::Ok();
}

}  // namespace osprey::daemon
