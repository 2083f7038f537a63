#include "daemon/output_log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "daemon/kafka/kafka_common.h"

namespace osprey::daemon {

namespace {
constexpr int kTimeoutMs = 10000;

bool ParseSourceHeader(std::string_view v, TopicPartition* tp, OutputPosition* pos) {
  // topic/partition/offset/seq; the topic may itself contain '/', so parse from the right.
  size_t c3 = v.rfind('/');
  if (c3 == std::string_view::npos) return false;
  size_t c2 = v.rfind('/', c3 - 1);
  if (c2 == std::string_view::npos || c2 == 0) return false;
  size_t c1 = v.rfind('/', c2 - 1);
  if (c1 == std::string_view::npos) return false;
  try {
    tp->topic = std::string(v.substr(0, c1));
    tp->partition = std::stoi(std::string(v.substr(c1 + 1, c2 - c1 - 1)));
    pos->first = std::stoll(std::string(v.substr(c2 + 1, c3 - c2 - 1)));
    pos->second = std::stoi(std::string(v.substr(c3 + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}
}  // namespace

std::string OutputLog::SourceHeader(const std::string& topic, int32_t partition, int64_t offset,
                                    int32_t seq) {
  return topic + "/" + std::to_string(partition) + "/" + std::to_string(offset) + "/" +
         std::to_string(seq);
}

OutputLog::~OutputLog() {
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

Result<std::unique_ptr<OutputLog>> OutputLog::Create(const config::KafkaOptions& kafka,
                                                     const std::string& bootstrap,
                                                     const std::vector<std::string>& topics) {
  OSPREY_ASSIGN_OR_RETURN(
      RdKafkaConfPtr conf,
      MakeKafkaConf(kafka, ClientKind::kConsumer, bootstrap,
                    {{"group.id", kafka.group_id + ".output-log"}, {"client.id", "osprey-output-log"},
                     {"enable.auto.commit", "false"}}));
  std::unique_ptr<OutputLog> log(new OutputLog());
  char err[512];
  log->rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf.release(), err, sizeof(err));
  if (log->rk_ == nullptr) return Status::InvalidArgument(std::string("output log: ") + err);
  for (const auto& topic : topics) {
    int32_t count = 0;
    for (int attempt = 0; attempt < 50 && count == 0; ++attempt) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(log->rk_, topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(log->rk_, 0, rkt, &md, kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = md->topics[0].partition_cnt;
      }
      if (md != nullptr) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(rkt);
      if (count == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (count == 0) {
      return Status::InvalidArgument("output topic '" + topic +
                                     "' does not exist (or its metadata is unavailable)");
    }
    log->partitions_[topic] = count;
  }
  return log;
}

int32_t OutputLog::PartitionFor(const std::string& topic, std::string_view key) const {
  auto it = partitions_.find(topic);
  int32_t count = it == partitions_.end() ? 1 : it->second;
  // The Java client's murmur2 partitioner; the rkt argument is unused by it.
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), count, nullptr, nullptr);
}

Result<std::vector<std::pair<TopicPartition, int64_t>>> OutputLog::EndOffsets() {
  RdPartitionListPtr list(rd_kafka_topic_partition_list_new(8));
  for (const auto& [topic, count] : partitions_) {
    for (int32_t p = 0; p < count; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_END;
    }
  }
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_, list.get(), kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("output end offsets: ") + rd_kafka_err2str(err));
  }
  std::vector<std::pair<TopicPartition, int64_t>> out;
  for (int idx = 0; idx < list->cnt; ++idx) {
    const auto& e = list->elems[idx];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0) {
      return Status::Unavailable(std::string("output end offset of ") + e.topic + ": " +
                                 rd_kafka_err2str(e.err));
    }
    out.push_back({{e.topic, e.partition}, e.offset});
  }
  return out;
}

Result<std::map<TopicPartition, SeenOutputs>> OutputLog::ReadTail(
    const std::map<TopicPartition, int64_t>& from, const std::set<TopicPartition>& sources) {
  OSPREY_ASSIGN_OR_RETURN(auto ends, EndOffsets());
  std::map<TopicPartition, SeenOutputs> seen;
  RdPartitionListPtr list(rd_kafka_topic_partition_list_new(8));
  std::map<TopicPartition, int64_t> remaining;  // partitions still to read, to their end
  for (const auto& [tp, end] : ends) {
    auto it = from.find(tp);
    int64_t start = 0;
    if (it != from.end()) {
      start = it->second;
    } else {
      // No stored position (e.g. a sink added since the checkpoint): from the first record
      // still held, so an empty partition is not waited on.
      int64_t low = 0, high = 0;
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          rk_, tp.topic.c_str(), tp.partition, &low, &high, kTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::Unavailable("output start offset of " + tp.topic + ": " +
                                   rd_kafka_err2str(err));
      }
      start = low;
    }
    if (start >= end) continue;
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = start;
    remaining[tp] = end;
  }
  if (remaining.empty()) return seen;
  rd_kafka_assign(rk_, list.get());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  Status result = Status::Ok();
  int64_t records = 0;
  while (!remaining.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      result = Status::Unavailable("reading the output tail timed out");
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++records;
      TopicPartition out{rd_kafka_topic_name(m->rkt), m->partition};
      rd_kafka_headers_t* hdrs = nullptr;
      const void* src = nullptr;
      const void* pipe = nullptr;
      size_t src_size = 0, pipe_size = 0;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(hdrs, "osprey.source", &src, &src_size) ==
              RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rd_kafka_header_get_last(hdrs, "osprey.pipeline", &pipe, &pipe_size) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          pipe_size = 0;
        }
        TopicPartition source;
        OutputPosition pos;
        if (ParseSourceHeader(std::string_view(static_cast<const char*>(src), src_size), &source,
                              &pos) &&
            sources.count(source) != 0) {
          auto& slot = seen[source][{out.topic, out.partition,
                                     std::string(static_cast<const char*>(pipe), pipe_size)}];
          slot = std::max(slot, pos);
        }
      }
      auto it = remaining.find(out);
      if (it != remaining.end() && m->offset + 1 >= it->second) remaining.erase(it);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk_, nullptr);
  spdlog::info("output log: read {} records of output tails to suppress replayed outputs", records);
  if (!result.ok()) return result;
  return seen;
}

}  // namespace osprey::daemon
