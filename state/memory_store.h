// MemoryStore: a Store held in memory, for tests and for pipelines that run without durable
// state. Same semantics as RocksStore (atomic batches, ordered prefix scans). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "state/store.h"

namespace osprey::state {

class MemoryStore final : public Store {
 public:
  Status Write(const WriteBatch& batch) override;
  Result<std::string> Get(std::string_view family, std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view family, std::string_view prefix) const override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>, std::less<>> families_;  // Protected by mu_
};

}  // namespace osprey::state
