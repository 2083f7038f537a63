#include "state/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <map>
#include <mutex>

namespace osprey::state {

namespace {
Status ToStatus(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::Ok();
  std::string msg = context + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}
}  // namespace

struct RocksStore::Impl {
  RocksStoreOptions options;
  rocksdb::ColumnFamilyOptions cf_options;
  std::unique_ptr<rocksdb::DB> db;
  mutable std::mutex mu;  // guards families (creation); RocksDB itself is thread-safe
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> families;

  ~Impl() {
    if (db) {
      for (auto& [name, handle] : families) db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
      db->Close().PermitUncheckedError();
    }
  }

  rocksdb::ColumnFamilyHandle* Find(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = families.find(name);
    return it == families.end() ? nullptr : it->second;
  }

  Result<rocksdb::ColumnFamilyHandle*> FindOrCreate(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = families.find(name);
    if (it != families.end()) return it->second;
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    rocksdb::Status s = db->CreateColumnFamily(cf_options, std::string(name), &handle);
    if (!s.ok()) return ToStatus(s, "state store " + options.dir + ": create family '" + std::string(name) + "'");
    families.emplace(std::string(name), handle);
    return handle;
  }
};

RocksStore::RocksStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksStore::~RocksStore() = default;

Result<std::unique_ptr<RocksStore>> RocksStore::Open(const RocksStoreOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Status::IOError("state store " + options.dir + ": " + ec.message());

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(options.block_cache_bytes));
  table.cache_index_and_filter_blocks = true;
  impl->cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  impl->cf_options.write_buffer_size = static_cast<size_t>(options.write_buffer_bytes);
  impl->cf_options.max_write_buffer_number = 2;
  impl->cf_options.compression = rocksdb::kLZ4Compression;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;

  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, options.dir, &names);
  if (!s.ok()) names = {rocksdb::kDefaultColumnFamilyName};  // a new database
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, impl->cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::Open(db_options, options.dir, descriptors, &handles, &db);
  if (!s.ok()) return ToStatus(s, "state store " + options.dir + ": open");
  impl->db.reset(db);
  for (size_t idx = 0; idx < names.size(); ++idx) impl->families.emplace(names[idx], handles[idx]);
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(impl)));
}

Status RocksStore::Write(const WriteBatch& batch) {
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops()) {
    OSPREY_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * handle, impl_->FindOrCreate(op.family));
    rocksdb::Status s = op.value ? wb.Put(handle, op.key, *op.value) : wb.Delete(handle, op.key);
    if (!s.ok()) return ToStatus(s, "state store " + impl_->options.dir + ": batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  return ToStatus(impl_->db->Write(wo, &wb), "state store " + impl_->options.dir + ": write");
}

Result<std::string> RocksStore::Get(std::string_view family, std::string_view key) const {
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return Status::NotFound("no state family '" + std::string(family) + "'");
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), handle, key, &value);
  if (!s.ok()) return ToStatus(s, "state store " + impl_->options.dir + ": get");
  return value;
}

Result<std::vector<std::pair<std::string, std::string>>> RocksStore::Scan(
    std::string_view family, std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  rocksdb::ColumnFamilyHandle* handle = impl_->Find(family);
  if (handle == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), handle));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
    out.emplace_back(k.ToString(), it->value().ToString());
  }
  if (!it->status().ok()) return ToStatus(it->status(), "state store " + impl_->options.dir + ": scan");
  return out;
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
    if (name != rocksdb::kDefaultColumnFamilyName) out.push_back(name);
  }
  return out;
}

}  // namespace osprey::state
