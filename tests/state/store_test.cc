// Every Store implementation must behave alike: one typed suite runs over each.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>

#include "state/memory_store.h"
#include "state/rocksdb_store.h"
#include "state/store.h"
#include "tests/testing/fake_clock.h"

namespace osprey::state {
namespace {

template <typename T>
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<T, RocksStore>) {
      RocksStoreOptions options;
      options.dir = dir_.path() + "/db";
      auto store = RocksStore::Open(options);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      store_ = std::move(store).value();
    } else {
      store_ = std::make_unique<MemoryStore>();
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

using Implementations = ::testing::Types<MemoryStore, RocksStore>;
TYPED_TEST_SUITE(StoreTest, Implementations);

TYPED_TEST(StoreTest, BatchIsAppliedAndReadBack) {
  WriteBatch batch;
  batch.Put("baseline", "a", "1");
  batch.Put("baseline", "b", std::string("\0x", 2));
  batch.Put("offsets", "in/0", "42");
  ASSERT_TRUE(this->store_->Write(batch).ok());
  EXPECT_EQ(*this->store_->Get("baseline", "a"), "1");
  EXPECT_EQ(*this->store_->Get("baseline", "b"), std::string("\0x", 2));
  EXPECT_EQ(*this->store_->Get("offsets", "in/0"), "42");
  EXPECT_EQ(this->store_->Get("baseline", "zz").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(this->store_->Get("nofamily", "a").status().code(), Status::Code::kNotFound);
}

TYPED_TEST(StoreTest, DeleteAndOverwrite) {
  WriteBatch batch;
  batch.Put("f", "k", "v1");
  batch.Put("f", "k", "v2");
  ASSERT_TRUE(this->store_->Write(batch).ok());
  EXPECT_EQ(*this->store_->Get("f", "k"), "v2");
  batch.Clear();
  batch.Delete("f", "k");
  ASSERT_TRUE(this->store_->Write(batch).ok());
  EXPECT_FALSE(this->store_->Get("f", "k").ok());
}

TYPED_TEST(StoreTest, PrefixScanFindsExactlyOnePartition) {
  WriteBatch batch;
  for (int p : {-1, 0, 1, 2, 10}) {
    for (const char* key : {"a", "b", ""}) {
      batch.Put("f", EncodeStateKey("pipe", "op", "in", p, key), std::to_string(p) + key);
    }
  }
  batch.Put("f", EncodeStateKey("pipe", "op2", "in", 1, "a"), "other operator");
  batch.Put("f", EncodeStateKey("pipe", "op", "in2", 1, "a"), "other topic");
  ASSERT_TRUE(this->store_->Write(batch).ok());
  auto rows = this->store_->Scan("f", EncodeStatePrefix("pipe", "op", "in", 1));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  for (const auto& [k, v] : *rows) {
    auto key = DecodeStateKey(k);
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->pipeline, "pipe");
    EXPECT_EQ(key->op, "op");
    EXPECT_EQ(key->topic, "in");
    EXPECT_EQ(key->partition, 1);
    EXPECT_EQ(v, "1" + key->key);
  }
  // Partitions sort numerically, so a scan over the operator sees them in order.
  auto all = this->store_->Scan("f", EncodeStatePrefix("pipe", "op", "in", 0).substr(0, 11));
  ASSERT_TRUE(all.ok());
  int last = -2;
  for (const auto& [k, v] : *all) {
    auto key = DecodeStateKey(k);
    ASSERT_TRUE(key.ok());
    if (key->op != "op" || key->topic != "in") continue;
    EXPECT_GE(key->partition, last);
    last = key->partition;
  }
}

TEST(RocksStoreTest, SurvivesReopen) {
  testing::TempDir dir;
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  {
    auto store = RocksStore::Open(options);
    ASSERT_TRUE(store.ok());
    WriteBatch batch;
    batch.Put("baseline", "k", "v");
    batch.Put("rcf", "k", "w");
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  auto store = RocksStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*(*store)->Get("baseline", "k"), "v");
  EXPECT_EQ(*(*store)->Get("rcf", "k"), "w");
  EXPECT_EQ((*store)->families(), (std::vector<std::string>{"baseline", "rcf"}));
}

TEST(RocksStoreTest, CheckpointIsAConsistentCopy) {
  testing::TempDir dir;
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  auto store = RocksStore::Open(options);
  ASSERT_TRUE(store.ok());
  WriteBatch batch;
  batch.Put("f", "k", "before");
  ASSERT_TRUE((*store)->Write(batch).ok());
  ASSERT_TRUE((*store)->CreateCheckpoint(dir.path() + "/cp").ok());
  batch.Clear();
  batch.Put("f", "k", "after");
  ASSERT_TRUE((*store)->Write(batch).ok());
  RocksStoreOptions cp_options;
  cp_options.dir = dir.path() + "/cp";
  auto copy = RocksStore::Open(cp_options);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(*(*copy)->Get("f", "k"), "before");
}

TEST(RocksStoreTest, UnwritableDirectoryIsAClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0500);
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  auto store = RocksStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(options.dir), std::string::npos);
}

TEST(RocksStoreTest, SecondOpenOfALockedStoreFailsWithTheDirectory) {
  testing::TempDir dir;
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  auto first = RocksStore::Open(options);
  ASSERT_TRUE(first.ok());
  auto second = RocksStore::Open(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find(options.dir), std::string::npos)
      << second.status().message();
}

std::unique_ptr<RocksStore> OpenAt(const std::string& dir, int format = kStateFormatVersion) {
  RocksStoreOptions options;
  options.dir = dir;
  options.write_format_version = format;
  auto store = RocksStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(RocksStoreTest, AFlippedByteIsCorruptionNamingTheKey) {
  testing::TempDir dir;
  auto store = OpenAt(dir.path() + "/db");
  ASSERT_NE(store, nullptr);
  const std::string key = EncodeStateKey("pipe", "rcf", "in", 3, "host-7");
  WriteBatch batch;
  batch.Put("rcf", key, "snapshot bytes");
  ASSERT_TRUE(store->Write(batch).ok());
  EXPECT_EQ(store->format_version(), 2);
  auto raw = store->GetRaw("rcf", key);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), std::string("snapshot bytes").size() + 4);
  for (size_t pos : {size_t{0}, size_t{5}, raw->size() - 1}) {
    std::string flipped = *raw;
    flipped[pos] = static_cast<char>(flipped[pos] ^ 0x10);
    ASSERT_TRUE(store->PutRaw("rcf", key, flipped).ok());
    auto got = store->Get("rcf", key);
    ASSERT_FALSE(got.ok()) << "flip at " << pos;
    EXPECT_EQ(got.status().code(), Status::Code::kCorruption);
    const std::string& msg = got.status().message();
    EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("key 'host-7' (pipeline 'pipe', operator 'rcf', in [3])"), std::string::npos)
        << msg;
    auto rows = store->Scan("rcf", EncodeStatePrefix("pipe", "rcf", "in", 3));
    ASSERT_FALSE(rows.ok());
    EXPECT_EQ(rows.status().message(), msg);
  }
}

TEST(RocksStoreTest, ANewerFormatIsRefusedWithTheVersions) {
  testing::TempDir dir;
  {
    auto store = OpenAt(dir.path() + "/db");
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutRaw("meta", "format_version", "3").ok());
  }
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  auto store = RocksStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(store.status().message().find("state format version 3"), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("versions up to 2"), std::string::npos);
  EXPECT_FALSE(RocksStore::OpenReadOnly(options.dir).ok());
}

// A store written by format 1 (bare values, no meta family) is read as it is by read-only
// opens and upgraded in place, values unchanged, by a read-write open.
TEST(RocksStoreTest, ReadsAndUpgradesAFormat1Store) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/db";
  const std::string key = EncodeStateKey("p", "baseline", "in", 0, "h");
  {
    auto old = OpenAt(path, /*format=*/1);
    ASSERT_NE(old, nullptr);
    WriteBatch batch;
    batch.Put("baseline", key, std::string("\x01old\0bytes", 10));
    batch.Put("offsets", "in/0", "42");
    ASSERT_TRUE(old->Write(batch).ok());
    EXPECT_EQ(*old->GetRaw("baseline", key), std::string("\x01old\0bytes", 10));  // no envelope
  }
  {
    auto ro = RocksStore::OpenReadOnly(path);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    EXPECT_EQ((*ro)->format_version(), 1);
    EXPECT_EQ(*(*ro)->Get("baseline", key), std::string("\x01old\0bytes", 10));
  }
  auto store = OpenAt(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->format_version(), 2);
  EXPECT_EQ(*store->Get("baseline", key), std::string("\x01old\0bytes", 10));
  EXPECT_EQ(*store->Get("offsets", "in/0"), "42");
  EXPECT_EQ(store->GetRaw("offsets", "in/0")->size(), 6u);  // now sealed
  EXPECT_EQ(store->families(), (std::vector<std::string>{"baseline", "offsets"}));
}

TEST(RocksStoreTest, InjectedWriteFaultsFailWritesUntilReopened) {
  testing::TempDir dir;
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  options.faults = std::make_shared<WriteFaults>();
  {
    auto store = RocksStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    WriteBatch batch;
    batch.Put("f", "k", "stored");
    ASSERT_TRUE((*store)->Write(batch).ok());
    options.faults->fail = true;
    batch.Clear();
    batch.Put("f", "k", "lost");
    Status st = (*store)->Write(batch);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), Status::Code::kIOError);
    EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
    options.faults->fail = false;
    EXPECT_FALSE((*store)->Write(batch).ok()) << "RocksDB stays read-only after a failed WAL write";
  }
  auto store = RocksStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*(*store)->Get("f", "k"), "stored");
}

TEST(RocksStoreTest, SecondarySeesThePrimaryAfterCatchingUp) {
  testing::TempDir dir;
  auto primary = OpenAt(dir.path() + "/db");
  ASSERT_NE(primary, nullptr);
  WriteBatch batch;
  batch.Put("history", "a", "1");
  ASSERT_TRUE(primary->Write(batch).ok());
  auto secondary = RocksStore::OpenSecondary(dir.path() + "/db", dir.path() + "/sec");
  ASSERT_TRUE(secondary.ok()) << secondary.status().ToString();
  EXPECT_EQ(*(*secondary)->Get("history", "a"), "1");
  batch.Clear();
  batch.Put("history", "b", "2");
  ASSERT_TRUE(primary->Write(batch).ok());
  ASSERT_TRUE((*secondary)->CatchUpWithPrimary().ok());
  EXPECT_EQ(*(*secondary)->Get("history", "b"), "2");
  EXPECT_FALSE((*secondary)->Write(batch).ok());
}

TEST(RocksStoreTest, ForEachAndDeleteRangeWorkOnKeyRanges) {
  testing::TempDir dir;
  auto store = OpenAt(dir.path() + "/db");
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (char c = 'a'; c <= 'j'; ++c) batch.Put("h", std::string(1, c), std::string(100, c));
  ASSERT_TRUE(store->Write(batch).ok());
  std::string seen;
  ASSERT_TRUE(store
                  ->ForEach("h", "c", "f",
                            [&](std::string_view k, std::string_view v) {
                              seen += k;
                              EXPECT_EQ(v, std::string(100, k[0]));
                              return true;
                            })
                  .ok());
  EXPECT_EQ(seen, "cde");
  auto before = store->ApproximateBytes("h", "a", "z");
  ASSERT_TRUE(before.ok());
  EXPECT_GT(*before, 0u);
  ASSERT_TRUE(store->DeleteRange("h", "a", "e").ok());
  seen.clear();
  ASSERT_TRUE(store
                  ->ForEach("h", "", "",
                            [&](std::string_view k, std::string_view) {
                              seen += k;
                              return k != "g";
                            })
                  .ok());
  EXPECT_EQ(seen, "efg");
}

TEST(StateKeyTest, RoundTripsAnyBytes) {
  std::string weird("k\0\xff/", 4);
  auto key = DecodeStateKey(EncodeStateKey("p", "o", "t", -7, weird));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->pipeline, "p");
  EXPECT_EQ(key->op, "o");
  EXPECT_EQ(key->topic, "t");
  EXPECT_EQ(key->partition, -7);
  EXPECT_EQ(key->key, weird);
  EXPECT_FALSE(DecodeStateKey("\x05pi").ok());
}

}  // namespace
}  // namespace osprey::state
