// RocksStore: the Store on RocksDB. One column family per state family (created on first write),
// every WriteBatch applied atomically with the WAL synced, bounded memory (one shared block cache,
// capped write buffers). RocksDB headers stay in rocksdb_store.cc.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "state/store.h"

namespace osprey::state {

struct RocksStoreOptions {
  // Directory of the database; created when missing.
  std::string dir;
  // Shared LRU block cache, bytes. Default: 64 MiB.
  int64_t block_cache_bytes = 64LL << 20;
  // Memtable size per column family, bytes; at most 2 per family. Default: 16 MiB.
  int64_t write_buffer_bytes = 16LL << 20;
  // Sync the WAL on every Write (durable against power loss, not just process death).
  // Default: true.
  bool sync = true;
};

class RocksStore final : public Store {
 public:
  // IOError naming the directory when it cannot be opened (missing permission, locked by another
  // process, corrupt).
  static Result<std::unique_ptr<RocksStore>> Open(const RocksStoreOptions& options);
  ~RocksStore() override;

  Status Write(const WriteBatch& batch) override;
  Result<std::string> Get(std::string_view family, std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view family, std::string_view prefix) const override;

  // A consistent on-disk copy (hard links where possible) in `dir`, which must not exist.
  Status CreateCheckpoint(const std::string& dir);
  // Names of the column families in use (without "default").
  std::vector<std::string> families() const;

 private:
  struct Impl;
  explicit RocksStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::state
