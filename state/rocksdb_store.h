// RocksStore: the Store on RocksDB. One column family per state family (created on first write),
// every WriteBatch applied atomically with the WAL synced, bounded memory (one shared block cache,
// capped write buffers). Values carry a CRC-32 over key and value (state format 2), so a value
// altered on disk or by a foreign writer is reported as Corruption naming the family and key
// instead of being decoded. RocksDB headers stay in rocksdb_store.cc.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "state/store.h"

namespace osprey::state {

// The on-disk state format this build writes, and the newest it reads. Recorded in the store
// (family "meta", key "format_version") and in savepoint manifests.
//   1: values are the bare operator snapshots (osprey 0.1.0 before savepoints); no meta family.
//   2: every value is followed by a CRC-32 (zlib) of key || value, 4 bytes little-endian.
// A format-1 store is upgraded in place (one atomic batch) when opened read-write.
inline constexpr int kStateFormatVersion = 2;

// A fault-injection switch for tests: while `fail` is set, every append, sync and new file of the
// store fails with an IOError as a full disk would (RocksDB then refuses further writes until
// reopened). Works as root, unlike a read-only directory.
struct WriteFaults {
  std::atomic<bool> fail{false};
};

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
  // Tests only: injects write failures while set. Default: none.
  std::shared_ptr<WriteFaults> faults;
  // Tests only: 1 writes a store as format 1 did (bare values, no meta), to build fixtures of
  // the old format. Default: kStateFormatVersion.
  int write_format_version = kStateFormatVersion;
};

class RocksStore final : public Store {
 public:
  // IOError naming the directory when it cannot be opened (missing permission, locked by another
  // process, corrupt); InvalidArgument when it was written by a newer state format.
  static Result<std::unique_ptr<RocksStore>> Open(const RocksStoreOptions& options);
  // Read-only view of a store no process writes (a checkpoint, a savepoint, a stopped daemon's).
  static Result<std::unique_ptr<RocksStore>> OpenReadOnly(const std::string& dir);
  // Read-only view of a store a live daemon keeps writing (a RocksDB secondary instance; its own
  // bookkeeping goes to `secondary_dir`). Sees the primary as of the open or the last
  // CatchUpWithPrimary.
  static Result<std::unique_ptr<RocksStore>> OpenSecondary(const std::string& primary_dir,
                                                           const std::string& secondary_dir);
  ~RocksStore() override;

  Status Write(const WriteBatch& batch) override;
  Result<std::string> Get(std::string_view family, std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view family, std::string_view prefix) const override;

  // Calls `fn(key, value)` for the keys of `family` in [begin, end) in order (end "" = to the
  // last key) until it returns false. O(1) memory.
  Status ForEach(std::string_view family, std::string_view begin, std::string_view end,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const;
  // Deletes the keys of `family` in [begin, end) (one range tombstone).
  Status DeleteRange(std::string_view family, std::string_view begin, std::string_view end);
  // The last key of `family` in [begin, end); NotFound when there is none.
  Result<std::string> LastKey(std::string_view family, std::string_view begin,
                              std::string_view end) const;
  // Compacts `family`'s keys in [begin, end), dropping deleted data from disk.
  Status CompactRange(std::string_view family, std::string_view begin, std::string_view end);
  // Approximate bytes on disk and in memtables of `family`'s keys in [begin, end).
  Result<uint64_t> ApproximateBytes(std::string_view family, std::string_view begin,
                                    std::string_view end) const;
  // Secondary instances: reads what the primary wrote since.
  Status CatchUpWithPrimary();

  // A consistent on-disk copy (hard links where possible) in `dir`, which must not exist. Every
  // Write is atomic, so the copy holds whole checkpoints only.
  Status CreateCheckpoint(const std::string& dir);
  // Names of the column families in use (without "default" and "meta").
  std::vector<std::string> families() const;
  // The format of the values in this store (1 or 2).
  int format_version() const;
  const std::string& dir() const;

  // Bytes exactly as stored, envelope included (tools and fault tests).
  Result<std::string> GetRaw(std::string_view family, std::string_view key) const;
  Status PutRaw(std::string_view family, std::string_view key, std::string_view bytes);

 private:
  struct Impl;
  explicit RocksStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::state
