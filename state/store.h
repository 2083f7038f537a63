// Store: the key-value interface operator state and consumed offsets are checkpointed through.
// The RocksDB implementation lives behind it (RocksDB headers never appear in state/*.h).
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"

namespace osprey::state {

// A set of writes applied atomically by Store::Write.
class WriteBatch {
 public:
  struct Op {
    std::string family;
    std::string key;
    std::optional<std::string> value;  // nullopt = delete
  };
  void Put(std::string_view family, std::string_view key, std::string_view value) {
    ops_.push_back({std::string(family), std::string(key), std::string(value)});
  }
  void Delete(std::string_view family, std::string_view key) {
    ops_.push_back({std::string(family), std::string(key), std::nullopt});
  }
  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  void Clear() { ops_.clear(); }

 private:
  std::vector<Op> ops_;
};

class Store {
 public:
  virtual ~Store() = default;
  // Applies every op of `batch` or none; durable when it returns OK.
  virtual Status Write(const WriteBatch& batch) = 0;
  // NotFound when absent.
  virtual Result<std::string> Get(std::string_view family, std::string_view key) const = 0;
  // Every (key, value) of `family` whose key starts with `prefix`, in key order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view family, std::string_view prefix) const = 0;
};

// State keys: (pipeline, operator, source topic, source partition, key), encoded so that a
// prefix scan over (pipeline, operator, topic, partition) finds exactly that partition's keys.
// Components are length-prefixed, so any bytes may appear in a key.
std::string EncodeStateKey(std::string_view pipeline, std::string_view op, std::string_view topic,
                           int32_t partition, std::string_view key);
std::string EncodeStatePrefix(std::string_view pipeline, std::string_view op,
                              std::string_view topic, int32_t partition);
struct StateKey {
  std::string pipeline;
  std::string op;
  std::string topic;
  int32_t partition = -1;
  std::string key;
};
Result<StateKey> DecodeStateKey(std::string_view encoded);

// `bytes` with every byte outside printable ASCII (and '\\') written as \xNN: keys and messages
// that may hold any bytes, made safe for logs and JSON.
std::string PrintableBytes(std::string_view bytes);

}  // namespace osprey::state
