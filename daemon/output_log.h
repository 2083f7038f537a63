// OutputLog: what makes outputs exactly-once across crashes, without Kafka transactions.
//  - Every output goes to a partition chosen deterministically (the Java client's murmur2 of the
//    key), so a replayed record's output lands where its first copy did.
//  - Every output carries its origin in headers: "osprey.source" = "topic/partition/offset/seq"
//    (seq numbers the outputs of one input record within one pipeline) and "osprey.pipeline".
//    Within one output partition, the outputs of one source partition and pipeline are therefore
//    ordered by (offset, seq), and the ones a crashed run delivered form a prefix.
//  - At each checkpoint the end offsets of all output partitions are stored; on restore the
//    tail after them is read to find, per (output partition, source partition, pipeline), the
//    last (offset, seq) already written. The replay suppresses outputs up to it; checkpoints
//    inside such a replay keep the positions it was read from (the source runner's job).
// Thread-compatible: used from its source runner's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "config/options.h"
#include "daemon/kafka/producer.h"
#include "daemon/source_runner.h"

typedef struct rd_kafka_s rd_kafka_t;  // NOLINT

namespace osprey::daemon {

// (offset, seq) of an output's input record.
using OutputPosition = std::pair<int64_t, int32_t>;

// The last output already present, per (output topic, output partition, pipeline), for one
// source partition.
using SeenOutputs = std::map<std::tuple<std::string, int32_t, std::string>, OutputPosition>;

class OutputLog {
 public:
  // `topics`: every topic the runner writes to. Looks up their partition counts (InvalidArgument
  // naming a topic that does not exist).
  static Result<std::unique_ptr<OutputLog>> Create(const config::KafkaOptions& kafka,
                                                   const std::string& bootstrap,
                                                   const std::vector<std::string>& topics);
  ~OutputLog();

  // The partition of `topic` that an output with `key` goes to.
  int32_t PartitionFor(const std::string& topic, std::string_view key) const;

  // End offsets of every output partition now (one round trip to the leaders).
  Result<std::vector<std::pair<TopicPartition, int64_t>>> EndOffsets();

  // Reads every output partition from `from` (missing entries: from the beginning) to its current
  // end and returns, per source partition in `sources`, what is already there.
  Result<std::map<TopicPartition, SeenOutputs>> ReadTail(
      const std::map<TopicPartition, int64_t>& from, const std::set<TopicPartition>& sources);

  // The header value for an output of source `topic` [partition] @offset, output seq.
  static std::string SourceHeader(const std::string& topic, int32_t partition, int64_t offset,
                                  int32_t seq);

 private:
  OutputLog() = default;

  rd_kafka_t* rk_ = nullptr;  // Owned: a consumer used for metadata, offsets and tail reads
  std::map<std::string, int32_t, std::less<>> partitions_;  // Constant after construction
};

}  // namespace osprey::daemon
