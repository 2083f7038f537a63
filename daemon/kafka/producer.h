// Producer: the idempotent librdkafka producer every sink, the dead-letter path and the demo
// stream write through. Delivery reports are served by the producer's own poll thread.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/base/metrics.h"
#include "config/base/status.h"
#include "config/options.h"

typedef struct rd_kafka_s rd_kafka_t;                  // NOLINT: librdkafka's handle
typedef struct rd_kafka_message_s rd_kafka_message_t;  // NOLINT

namespace osprey::daemon {

struct RecordHeader {
  std::string_view name;
  std::string_view value;
};

// The records one writer (a source runner) has in flight, so it can wait for its own outputs
// without waiting for everybody else's. Thread-safe.
class DeliveryGroup {
 public:
  int64_t in_flight() const { return in_flight_.load(); }
  // True once one of the group's records could not be delivered after librdkafka's retries.
  bool failed() const { return failed_.load(); }
  // Waits until no record of the group is in flight; false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  friend class Producer;
  void Done(bool ok);

  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::condition_variable idle_;
};

// Where a record's delivery report goes: a per-sink counter and the writer's group. Either may
// be null. Must outlive the record's delivery.
struct DeliveryTarget {
  Counter* delivered = nullptr;
  DeliveryGroup* group = nullptr;
};

class Producer {
 public:
  // `metrics` must outlive the producer.
  static Result<std::unique_ptr<Producer>> Create(const config::KafkaOptions& options,
                                                  const std::string& bootstrap,
                                                  MetricsRegistry& metrics);
  ~Producer();  // flushes for up to 5 s, then stops the poll thread
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one record (copied). `target` (optional) is told of its delivery. Waits while
  // librdkafka's local queue is full. Fails only for errors that retrying cannot fix (unknown
  // topic, record too large).
  Status Produce(const std::string& topic, std::string_view key, std::string_view value,
                 const std::vector<RecordHeader>& headers = {},
                 const DeliveryTarget* target = nullptr, int32_t partition = -1);

  // Waits until every record enqueued so far is acknowledged or has failed. Unavailable on
  // timeout; Internal when a delivery has failed permanently since the producer started (the
  // caller must then not commit the offsets of the inputs).
  Status Flush(std::chrono::milliseconds timeout);

  // True once a delivery has failed after librdkafka's retries (delivery.timeout.ms).
  bool failed() const { return failed_.load(); }
  rd_kafka_t* handle() const { return rk_; }

 private:
  Producer() = default;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);

  rd_kafka_t* rk_ = nullptr;  // Owned
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  Counter* delivery_errors_ = nullptr;  // Constant after construction
};

}  // namespace osprey::daemon
