#include "daemon/kafka/producer.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "daemon/kafka/kafka_common.h"

namespace osprey::daemon {

bool DeliveryGroup::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return in_flight_.load() == 0; });
}

void DeliveryGroup::Done(bool ok) {
  if (!ok) failed_.store(true);
  if (in_flight_.fetch_sub(1) == 1) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.notify_all();
  }
}

void Producer::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) {
  (void)rk;
  auto* self = static_cast<Producer*>(opaque);
  const auto* target = static_cast<const DeliveryTarget*>(msg->_private);
  bool ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!ok) {
    self->failed_.store(true);
    self->delivery_errors_->Inc();
    spdlog::error("delivery to {} [{}] failed: {}", rd_kafka_topic_name(msg->rkt), msg->partition,
                  rd_kafka_err2str(msg->err));
  }
  if (target == nullptr) return;
  if (ok && target->delivered != nullptr) target->delivered->Inc();
  if (target->group != nullptr) target->group->Done(ok);
}

Result<std::unique_ptr<Producer>> Producer::Create(const config::KafkaOptions& options,
                                                   const std::string& bootstrap,
                                                   MetricsRegistry& metrics) {
  OSPREY_ASSIGN_OR_RETURN(RdKafkaConfPtr conf,
                          MakeKafkaConf(options, ClientKind::kProducer, bootstrap));
  std::unique_ptr<Producer> p(new Producer());
  p->delivery_errors_ = &metrics.GetCounter("osprey_delivery_errors_total",
                                            "Records the broker did not acknowledge after retries");
  rd_kafka_conf_set_opaque(conf.get(), p.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), OnDelivery);
  char err[512];
  p->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof(err));
  if (p->rk_ == nullptr) {
    return Status::InvalidArgument(std::string("kafka producer: ") + err);
  }
  Producer* raw = p.get();
  p->poller_ = std::thread([raw] {
    while (!raw->stop_.load()) rd_kafka_poll(raw->rk_, 100);
  });
  return p;
}

Producer::~Producer() {
  if (rk_ == nullptr) return;
  Status st = Flush(std::chrono::seconds(5));
  if (!st.ok()) spdlog::warn("producer closing: {}", st.ToString());
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
  rd_kafka_destroy(rk_);
}

Status Producer::Produce(const std::string& topic, std::string_view key, std::string_view value,
                         const std::vector<RecordHeader>& headers,
                         const DeliveryTarget* target, int32_t partition) {
  DeliveryGroup* group = target != nullptr ? target->group : nullptr;
  if (group != nullptr) group->in_flight_.fetch_add(1);
  for (int attempt = 0;; ++attempt) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& h : headers) {
        rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value.data(), static_cast<ssize_t>(h.value.size()));
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(const_cast<DeliveryTarget*>(target)),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken over on failure
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (attempt % 1000 == 999) spdlog::warn("producer queue full; waiting for the broker");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (group != nullptr) group->in_flight_.fetch_sub(1);  // never enqueued
    return Status::Unavailable("produce to '" + topic + "': " + rd_kafka_err2str(err));
  }
}

Status Producer::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return Status::Unavailable("producer flush timed out with " +
                               std::to_string(rd_kafka_outq_len(rk_)) + " records in flight");
  }
  if (failed_.load()) return Status::Internal("a record could not be delivered (see log)");
  return Status::Ok();
}

}  // namespace osprey::daemon
