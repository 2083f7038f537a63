// History rows: keys sort by pipeline then event time, rows round-trip, and retention deletes by
// age (relative to the newest row) and by size, oldest first, one pipeline at a time.
#include "state/history.h"

#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

namespace osprey::state {
namespace {

std::vector<HistoryRow> Rows(RocksStore& store, const std::string& pipeline) {
  std::vector<HistoryRow> out;
  Status st = store.ForEach(kHistoryFamily, HistoryBegin(pipeline), HistoryEnd(pipeline),
                            [&](std::string_view k, std::string_view v) {
                              auto row = DecodeHistoryRow(k, v);
                              EXPECT_TRUE(row.ok()) << row.status().ToString();
                              if (row.ok()) out.push_back(*row);
                              return true;
                            });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

std::unique_ptr<RocksStore> Open(const std::string& dir) {
  RocksStoreOptions options;
  options.dir = dir;
  auto store = RocksStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

TEST(HistoryTest, RowsRoundTripAndReadBackInTimeOrderPerPipeline) {
  testing::TempDir dir;
  auto store = Open(dir.path() + "/db");
  WriteBatch batch;
  // Written out of order, negative times included, two pipelines whose names share a prefix.
  for (int64_t t : std::vector<int64_t>{50, -20, 7, 1000000000000, 0}) {
    batch.Put(kHistoryFamily, EncodeHistoryKey("p", t, "in", 1, t + 100),
              EncodeHistoryValue("host-" + std::to_string(t), {{"v", t * 0.5}, {"w", -1.25}}));
    batch.Put(kHistoryFamily, EncodeHistoryKey("pp", t, "in", 0, 1), EncodeHistoryValue("x", {}));
  }
  ASSERT_TRUE(store->Write(batch).ok());
  auto rows = Rows(*store, "p");
  ASSERT_EQ(rows.size(), 5u);
  std::vector<int64_t> times;
  for (const auto& r : rows) times.push_back(r.event_time_ms);
  EXPECT_EQ(times, (std::vector<int64_t>{-20, 0, 7, 50, 1000000000000}));
  EXPECT_EQ(rows[2].pipeline, "p");
  EXPECT_EQ(rows[2].topic, "in");
  EXPECT_EQ(rows[2].partition, 1);
  EXPECT_EQ(rows[2].offset, 107);
  EXPECT_EQ(rows[2].key, "host-7");
  ASSERT_EQ(rows[2].fields.size(), 2u);
  EXPECT_EQ(rows[2].fields[0], (std::pair<std::string, double>{"v", 3.5}));
  EXPECT_EQ(rows[2].fields[1], (std::pair<std::string, double>{"w", -1.25}));
  EXPECT_EQ(Rows(*store, "pp").size(), 5u);
  EXPECT_FALSE(DecodeHistoryRow(EncodeHistoryKey("p", 1, "in", 0, 0), "\x02").ok());
  EXPECT_FALSE(DecodeHistoryRow("\x01", EncodeHistoryValue("k", {})).ok());
}

TEST(HistoryTest, RetentionByAgeKeepsTheNewestWindowOfEventTime) {
  testing::TempDir dir;
  auto store = Open(dir.path() + "/db");
  WriteBatch batch;
  for (int64_t t = 0; t < 100; ++t) {
    batch.Put(kHistoryFamily, EncodeHistoryKey("p", t * 1000, "in", 0, t),
              EncodeHistoryValue("k", {{"v", 1.0}}));
    batch.Put(kHistoryFamily, EncodeHistoryKey("other", t * 1000, "in", 0, t),
              EncodeHistoryValue("k", {{"v", 1.0}}));
  }
  ASSERT_TRUE(store->Write(batch).ok());
  auto cut = EnforceHistoryRetention(*store, "p", {.max_age_ms = 30'000, .max_bytes = 0});
  ASSERT_TRUE(cut.ok()) << cut.status().ToString();
  EXPECT_EQ(*cut, 99'000 - 30'000);
  auto rows = Rows(*store, "p");
  ASSERT_EQ(rows.size(), 31u);
  EXPECT_EQ(rows.front().event_time_ms, 69'000);
  EXPECT_EQ(Rows(*store, "other").size(), 100u) << "another pipeline's rows were touched";
  // Nothing more to do: idempotent.
  cut = EnforceHistoryRetention(*store, "p", {.max_age_ms = 30'000, .max_bytes = 0});
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(*cut, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Rows(*store, "p").size(), 31u);
}

TEST(HistoryTest, RetentionBySizeDropsTheOldestRows) {
  testing::TempDir dir;
  RocksStoreOptions options;
  options.dir = dir.path() + "/db";
  options.write_buffer_bytes = 64 << 10;  // flush often: sizes are estimated from files
  options.sync = false;
  auto store = RocksStore::Open(options);
  ASSERT_TRUE(store.ok());
  std::mt19937 rng(301);  // incompressible keys, so sizes on disk follow row counts
  for (int64_t t = 0; t < 2000; ++t) {
    std::string noise;
    for (int idx = 0; idx < 200; ++idx) noise.push_back(static_cast<char>(rng()));
    WriteBatch batch;
    batch.Put(kHistoryFamily, EncodeHistoryKey("p", t, "in", 0, t),
              EncodeHistoryValue(noise, {{"v", static_cast<double>(t)}}));
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  ASSERT_TRUE((*store)->CompactRange(kHistoryFamily, HistoryBegin("p"), HistoryEnd("p")).ok());
  auto before = (*store)->ApproximateBytes(kHistoryFamily, HistoryBegin("p"), HistoryEnd("p"));
  ASSERT_TRUE(before.ok());
  ASSERT_GT(*before, 200'000u) << "the test needs data on disk";
  const int64_t max_bytes = static_cast<int64_t>(*before / 4);
  auto cut = EnforceHistoryRetention(**store, "p", {.max_age_ms = 0, .max_bytes = max_bytes});
  ASSERT_TRUE(cut.ok()) << cut.status().ToString();
  auto rows = Rows(**store, "p");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().event_time_ms, 1999) << "the newest rows stay";
  EXPECT_EQ(rows.front().event_time_ms, *cut) << "the oldest went first";
  EXPECT_GT(rows.size(), 300u);
  EXPECT_LT(rows.size(), 700u);
  auto after = (*store)->ApproximateBytes(kHistoryFamily, HistoryBegin("p"), HistoryEnd("p"));
  ASSERT_TRUE(after.ok());
  EXPECT_LE(*after, static_cast<uint64_t>(max_bytes) * 5 / 4);
}

}  // namespace
}  // namespace osprey::state
