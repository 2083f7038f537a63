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
