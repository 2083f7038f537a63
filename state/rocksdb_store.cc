#include "state/rocksdb_store.h"

#include <filesystem>
#include <map>
#include <mutex>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <zlib.h>

namespace osprey::state {

namespace {

constexpr char kMetaFamily[] = "meta";
constexpr char kFormatKey[] = "format_version";

Status ToStatus(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::Ok();
  std::string msg = context + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Fails every write while `faults->fail` is set (see WriteFaults).
rocksdb::IOStatus Injected() {
  return rocksdb::IOStatus::NoSpace("No space left on device (injected write fault)");
}

class FaultyFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::shared_ptr<WriteFaults> faults)
      : FSWritableFileOwnerWrapper(std::move(file)), faults_(std::move(faults)) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  std::shared_ptr<WriteFaults> faults_;
};

class FaultyFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFileSystem(std::shared_ptr<WriteFaults> faults)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), faults_(std::move(faults)) {}
  const char* Name() const override { return "OspreyFaultyFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(fname, options, &file, dbg);
    if (s.ok()) *result = std::make_unique<FaultyFile>(std::move(file), faults_);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    if (faults_->fail.load()) return Injected();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(fname, options, &file, dbg);
    if (s.ok()) *result = std::make_unique<FaultyFile>(std::move(file), faults_);
    return s;
  }

 private:
  std::shared_ptr<WriteFaults> faults_;
};

uint32_t Crc(std::string_view key, std::string_view value) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(key.data()), static_cast<uInt>(key.size()));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(value.data()), static_cast<uInt>(value.size()));
  return static_cast<uint32_t>(crc);
}

std::string Printable(std::string_view bytes) { return PrintableBytes(bytes); }

std::string DescribeKey(std::string_view family, std::string_view key) {
  auto decoded = DecodeStateKey(key);
  std::string where = "family '" + std::string(family) + "' ";
  if (!decoded.ok()) return where + "key '" + Printable(key) + "'";
  return where + "key '" + Printable(decoded->key) + "' (pipeline '" +
         Printable(decoded->pipeline) + "', operator '" + Printable(decoded->op) + "', " +
         Printable(decoded->topic) + " [" + std::to_string(decoded->partition) + "])";
}

enum class OpenMode { kReadWrite, kReadOnly, kSecondary };

}  // namespace

struct RocksStore::Impl {
  static Result<std::unique_ptr<Impl>> OpenDb(const RocksStoreOptions& options, OpenMode mode,
                                              const std::string& secondary_dir);

  RocksStoreOptions options;
  rocksdb::ColumnFamilyOptions cf_options;
  std::unique_ptr<rocksdb::Env> env;  // with fault injection; outlives db
  std::unique_ptr<rocksdb::DB> db;
  bool read_only = false;
  int format = kStateFormatVersion;  // Constant after Open
  mutable std::mutex mu;  // guards families (creation); RocksDB itself is thread-safe
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> families;

  ~Impl() {
    if (db) {
      for (auto& [name, handle] : families) db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
      db->Close().PermitUncheckedError();
    }
  }

  std::string Context() const { return "state store " + options.dir; }

  rocksdb::ColumnFamilyHandle* Find(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = families.find(name);
    return it == families.end() ? nullptr : it->second;
  }

  Result<rocksdb::ColumnFamilyHandle*> FindOrCreate(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = families.find(name);
    if (it != families.end()) return it->second;
    if (read_only) return Status::InvalidArgument(Context() + ": opened read-only");
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    rocksdb::Status s = db->CreateColumnFamily(cf_options, std::string(name), &handle);
    if (!s.ok()) return ToStatus(s, Context() + ": create family '" + std::string(name) + "'");
    families.emplace(std::string(name), handle);
    return handle;
  }

  std::string Seal(std::string_view key, std::string_view value) const {
    std::string out(value);
    if (format < 2) return out;
    uint32_t crc = Crc(key, value);
    for (int idx = 0; idx < 4; ++idx) out.push_back(static_cast<char>(crc >> (8 * idx)));
    return out;
  }

  // The value without its envelope; Corruption naming family and key when it does not check.
  Result<std::string_view> Unseal(std::string_view family, std::string_view key,
                                  std::string_view stored) const {
    if (format < 2) return stored;
    if (stored.size() < 4) {
      return Status::Corruption(Context() + ": " + DescribeKey(family, key) +
                                ": value shorter than its checksum");
    }
    std::string_view value = stored.substr(0, stored.size() - 4);
    uint32_t crc = 0;
    for (int idx = 0; idx < 4; ++idx) {
      crc |= static_cast<uint32_t>(static_cast<uint8_t>(stored[value.size() + idx])) << (8 * idx);
    }
    if (crc != Crc(key, value)) {
      return Status::Corruption(Context() + ": " + DescribeKey(family, key) +
                                ": checksum mismatch (the stored value was altered)");
    }
    return value;
  }

  // 0 = a new, empty store.
  Result<int> ReadFormat() const {
    rocksdb::ColumnFamilyHandle* meta = Find(kMetaFamily);
    if (meta == nullptr) {
      for (const auto& [name, handle] : families) {
        if (name != rocksdb::kDefaultColumnFamilyName) return 1;
      }
      return 0;
    }
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, kFormatKey, &value);
    if (!s.ok()) return ToStatus(s, Context() + ": reading the format version");
    int version = 0;
    try {
      version = std::stoi(value);
    } catch (const std::exception&) {
      return Status::Corruption(Context() + ": format version '" + Printable(value) +
                                "' is not a number");
    }
    if (version > kStateFormatVersion) {
      return Status::InvalidArgument(Context() + ": written in state format version " +
                                     std::to_string(version) +
                                     " by a newer osprey; this build reads versions up to " +
                                     std::to_string(kStateFormatVersion));
    }
    return version;
  }

  // Rewrites every value of a format-1 store with its checksum and records format 2, in one
  // atomic batch.
  Status UpgradeToFormat2() {
    rocksdb::WriteBatch wb;
    size_t values = 0;
    for (const auto& [name, handle] : families) {
      if (name == rocksdb::kDefaultColumnFamilyName) continue;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        uint32_t crc = Crc(std::string_view(it->key().data(), it->key().size()),
                           std::string_view(it->value().data(), it->value().size()));
        std::string sealed = it->value().ToString();
        for (int idx = 0; idx < 4; ++idx) sealed.push_back(static_cast<char>(crc >> (8 * idx)));
        rocksdb::Status s = wb.Put(handle, it->key(), sealed);
        if (!s.ok()) return ToStatus(s, Context() + ": upgrade");
        ++values;
      }
      if (!it->status().ok()) return ToStatus(it->status(), Context() + ": upgrade");
    }
    OSPREY_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * meta, FindOrCreate(kMetaFamily));
    rocksdb::Status s = wb.Put(meta, kFormatKey, std::to_string(kStateFormatVersion));
    if (!s.ok()) return ToStatus(s, Context() + ": upgrade");
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return ToStatus(db->Write(wo, &wb),
                    Context() + ": upgrade to format 2 (" + std::to_string(values) + " values)");
  }

  Status InitFormat() {
    OSPREY_ASSIGN_OR_RETURN(int found, ReadFormat());
    if (read_only) {
      format = found == 0 ? kStateFormatVersion : found;
      return Status::Ok();
    }
    if (found == 0) {
      format = options.write_format_version;
      if (format < 2) return Status::Ok();  // format 1 had no meta family
      OSPREY_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * meta, FindOrCreate(kMetaFamily));
      rocksdb::WriteOptions wo;
      wo.sync = true;
      return ToStatus(db->Put(wo, meta, kFormatKey, std::to_string(format)),
                      Context() + ": writing the format version");
    }
    format = found;
    if (found == 1 && options.write_format_version >= 2) {
      OSPREY_RETURN_IF_ERROR(UpgradeToFormat2());
      format = 2;
    }
    return Status::Ok();
  }
};

RocksStore::RocksStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksStore::~RocksStore() = default;

Result<std::unique_ptr<RocksStore::Impl>> RocksStore::Impl::OpenDb(
    const RocksStoreOptions& options, OpenMode mode, const std::string& secondary_dir) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->read_only = mode != OpenMode::kReadWrite;
  std::error_code ec;
  if (mode == OpenMode::kReadWrite) {
    std::filesystem::create_directories(options.dir, ec);
    if (ec) return Status::IOError("state store " + options.dir + ": " + ec.message());
  } else if (!std::filesystem::is_directory(options.dir, ec)) {
    return Status::NotFound("state store " + options.dir + ": no such directory");
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(options.block_cache_bytes));
  table.cache_index_and_filter_blocks = true;
  impl->cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  impl->cf_options.write_buffer_size = static_cast<size_t>(options.write_buffer_bytes);
  impl->cf_options.max_write_buffer_number = 2;
  impl->cf_options.compression = rocksdb::kLZ4Compression;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = mode == OpenMode::kReadWrite;
  db_options.create_missing_column_families = mode == OpenMode::kReadWrite;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;
  if (options.faults) {
    impl->env = rocksdb::NewCompositeEnv(std::make_shared<FaultyFileSystem>(options.faults));
    db_options.env = impl->env.get();
  }
  if (mode == OpenMode::kSecondary) db_options.max_open_files = -1;  // required by secondaries

  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, options.dir, &names);
  if (!s.ok()) {
    if (mode != OpenMode::kReadWrite) return ToStatus(s, "state store " + options.dir + ": open");
    names = {rocksdb::kDefaultColumnFamilyName};  // a new database
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, impl->cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  switch (mode) {
    case OpenMode::kReadWrite:
      s = rocksdb::DB::Open(db_options, options.dir, descriptors, &handles, &db);
      break;
    case OpenMode::kReadOnly:
      s = rocksdb::DB::OpenForReadOnly(db_options, options.dir, descriptors, &handles, &db);
      break;
    case OpenMode::kSecondary:
      s = rocksdb::DB::OpenAsSecondary(db_options, options.dir, secondary_dir, descriptors,
                                       &handles, &db);
      break;
  }
  if (!s.ok()) return ToStatus(s, "state store " + options.dir + ": open");
  impl->db.reset(db);
  for (size_t idx = 0; idx < names.size(); ++idx) impl->families.emplace(names[idx], handles[idx]);
  OSPREY_RETURN_IF_ERROR(impl->InitFormat());
  return impl;
}

Result<std::unique_ptr<RocksStore>> RocksStore::Open(const RocksStoreOptions& options) {
  OSPREY_ASSIGN_OR_RETURN(auto impl, Impl::OpenDb(options, OpenMode::kReadWrite, ""));
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(impl)));
}

Result<std::unique_ptr<RocksStore>> RocksStore::OpenReadOnly(const std::string& dir) {
  RocksStoreOptions options;
  options.dir = dir;
  options.block_cache_bytes = 8LL << 20;
  OSPREY_ASSIGN_OR_RETURN(auto impl, Impl::OpenDb(options, OpenMode::kReadOnly, ""));
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(impl)));
}

Result<std::unique_ptr<RocksStore>> RocksStore::OpenSecondary(const std::string& primary_dir,
                                                              const std::string& secondary_dir) {
  RocksStoreOptions options;
  options.dir = primary_dir;
  options.block_cache_bytes = 8LL << 20;
  std::error_code ec;
  std::filesystem::create_directories(secondary_dir, ec);
  if (ec) return Status::IOError("secondary directory " + secondary_dir + ": " + ec.message());
  OSPREY_ASSIGN_OR_RETURN(auto impl, Impl::OpenDb(options, OpenMode::kSecondary, secondary_dir));
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(impl)));
}

Status RocksStore::Write(const WriteBatch& batch) {
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops()) {
    OSPREY_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * handle, impl_->FindOrCreate(op.family));
    rocksdb::Status s = op.value ? wb.Put(handle, op.key, impl_->Seal(op.key, *op.value))
                                 : wb.Delete(handle, op.key);
    if (!s.ok()) return ToStatus(s, impl_->Context() + ": batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  return ToStatus(impl_->db->Write(wo, &wb), impl_->Context() + ": write");
}

Result<std::string> RocksStore::GetRaw(std::string_view family, std::string_view key) const {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::NotFound("no state family '" + std::string(family) + "'");
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), handle, ToSlice(key), &value);
  if (!s.ok()) return ToStatus(s, impl_->Context() + ": get");
  return value;
}

Status RocksStore::PutRaw(std::string_view family, std::string_view key, std::string_view bytes) {
  OSPREY_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * handle, impl_->FindOrCreate(family));
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  return ToStatus(impl_->db->Put(wo, handle, ToSlice(key), ToSlice(bytes)),
                  impl_->Context() + ": put");
}

Result<std::string> RocksStore::Get(std::string_view family, std::string_view key) const {
  OSPREY_ASSIGN_OR_RETURN(std::string stored, GetRaw(family, key));
  OSPREY_ASSIGN_OR_RETURN(std::string_view value, impl_->Unseal(family, key, stored));
  return std::string(value);
}

Status RocksStore::ForEach(
    std::string_view family, std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::Ok();
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, handle));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    OSPREY_ASSIGN_OR_RETURN(
        std::string_view value,
        impl_->Unseal(family, key, std::string_view(it->value().data(), it->value().size())));
    if (!fn(key, value)) break;
  }
  return ToStatus(it->status(), impl_->Context() + ": scan");
}

Result<std::vector<std::pair<std::string, std::string>>> RocksStore::Scan(
    std::string_view family, std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  Status st = ForEach(family, prefix, "", [&](std::string_view key, std::string_view value) {
    if (key.substr(0, prefix.size()) != prefix) return false;
    out.emplace_back(std::string(key), std::string(value));
    return true;
  });
  if (!st.ok()) return st;
  return out;
}

Status RocksStore::DeleteRange(std::string_view family, std::string_view begin,
                               std::string_view end) {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  return ToStatus(impl_->db->DeleteRange(wo, handle, ToSlice(begin), ToSlice(end)),
                  impl_->Context() + ": delete range");
}

Result<uint64_t> RocksStore::ApproximateBytes(std::string_view family, std::string_view begin,
                                              std::string_view end) const {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return uint64_t{0};
  rocksdb::Range range(ToSlice(begin), ToSlice(end));
  uint64_t size = 0;
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  options.include_files = true;
  rocksdb::Status s = impl_->db->GetApproximateSizes(options, handle, &range, 1, &size);
  if (!s.ok()) return ToStatus(s, impl_->Context() + ": approximate size");
  return size;
}

Result<std::string> RocksStore::LastKey(std::string_view family, std::string_view begin,
                                        std::string_view end) const {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::NotFound("no state family '" + std::string(family) + "'");
  rocksdb::ReadOptions ro;
  rocksdb::Slice lower = ToSlice(begin), upper = ToSlice(end);
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, handle));
  it->SeekToLast();
  if (!it->status().ok()) return ToStatus(it->status(), impl_->Context() + ": last key");
  if (!it->Valid()) return Status::NotFound("no key in range");
  return it->key().ToString();
}

Status RocksStore::CompactRange(std::string_view family, std::string_view begin,
                                std::string_view end) {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::Ok();
  rocksdb::Slice b = ToSlice(begin), e = ToSlice(end);
  return ToStatus(impl_->db->CompactRange(rocksdb::CompactRangeOptions(), handle, &b, &e),
                  impl_->Context() + ": compact");
}

Status RocksStore::CatchUpWithPrimary() {
  return ToStatus(impl_->db->TryCatchUpWithPrimary(), impl_->Context() + ": catch up");
}

Status RocksStore::CreateCheckpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  if (!s.ok()) return ToStatus(s, "checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return ToStatus(checkpoint->CreateCheckpoint(dir), "checkpoint into " + dir);
}

std::vector<std::string> RocksStore::families() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [name, handle] : impl_->families) {
    if (name != rocksdb::kDefaultColumnFamilyName && name != kMetaFamily) out.push_back(name);
  }
  return out;
}

int RocksStore::format_version() const { return impl_->format; }
const std::string& RocksStore::dir() const { return impl_->options.dir; }

}  // namespace osprey::state
