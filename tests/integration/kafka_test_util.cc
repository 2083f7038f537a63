#include "tests/integration/kafka_test_util.h"

#include <librdkafka/rdkafka.h>

#include <stdexcept>
#include <thread>

namespace osprey::testing {

namespace {

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::string& bootstrap,
                      const std::map<std::string, std::string>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) throw std::runtime_error(err);
  return rk;
}

int PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0) {
      int n = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
      return n;
    }
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

}  // namespace

bool ProduceAll(const std::string& bootstrap, const std::vector<KafkaRecord>& records) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, bootstrap, {{"linger.ms", "5"}});
  for (const auto& r : records) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!r.headers.empty()) {
      hdrs = rd_kafka_headers_new(r.headers.size());
      for (const auto& [k, v] : r.headers) {
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
    }
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
        rd_kafka_destroy(rk);
        return false;
      }
      break;
    }
  }
  bool ok = rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_destroy(rk);
  return ok;
}

std::vector<KafkaRecord> ReadTopics(const std::string& bootstrap,
                                    const std::vector<std::string>& topics, size_t expected,
                                    std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds settle) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", "osprey-test-reader"},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "false"}});
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  for (const auto& t : topics) {
    int n = PartitionCount(rk, t);
    for (int p = 0; p < n; ++p) {
      rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<KafkaRecord> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::steady_clock::time_point settle_until{};
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (out.size() >= expected && settle_until == std::chrono::steady_clock::time_point{}) {
      settle_until = now + settle;
    }
    if (now >= deadline) break;
    if (settle_until != std::chrono::steady_clock::time_point{} && now >= settle_until) break;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t idx = 0;
             rd_kafka_header_get_all(hdrs, idx, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++idx) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

std::map<int32_t, int64_t> CommittedOffsets(const std::string& bootstrap, const std::string& group,
                                            const std::string& topic, int partitions) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap, {{"group.id", group}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  std::map<int32_t, int64_t> out;
  if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int idx = 0; idx < list->cnt; ++idx) {
      out[list->elems[idx].partition] = list->elems[idx].offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

int64_t EndOffsetSum(const std::string& bootstrap, const std::string& topic) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, bootstrap, {});
  int n = PartitionCount(rk, topic);
  int64_t sum = 0;
  for (int p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 5000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      sum += high;
    }
  }
  rd_kafka_destroy(rk);
  return sum;
}

}  // namespace osprey::testing
