// Test-side Kafka clients on plain librdkafka: a producer that writes given records, and a reader
// that drains topics from the beginning (assign, not subscribe), so assertions see exactly what
// the broker holds. Thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace osprey::testing {

struct KafkaRecord {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Produces every record (topic, key, value; partition -1 = partitioner) and waits for all acks.
// Returns false if any delivery failed.
bool ProduceAll(const std::string& bootstrap, const std::vector<KafkaRecord>& records);

// Reads all partitions of `topics` from offset 0 until `expected` records arrived or `timeout`
// passed; then keeps reading for `settle` to catch extras (duplicates).
std::vector<KafkaRecord> ReadTopics(const std::string& bootstrap,
                                    const std::vector<std::string>& topics, size_t expected,
                                    std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds settle = std::chrono::milliseconds(500));

// The group's committed offset per partition of `topic` (-1 when none).
std::map<int32_t, int64_t> CommittedOffsets(const std::string& bootstrap, const std::string& group,
                                            const std::string& topic, int partitions);

// Sum of the end offsets of every partition of `topic` (records written so far).
int64_t EndOffsetSum(const std::string& bootstrap, const std::string& topic);

}  // namespace osprey::testing
