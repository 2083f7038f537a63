// Savepoints without a daemon: the manifest describes the copy exactly, a restore refuses to
// overwrite a store or to read a newer format, and --force replaces.
#include "daemon/savepoint.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "config/loader.h"
#include "state/rocksdb_store.h"
#include "state/store.h"
#include "tests/testing/fake_clock.h"

namespace osprey::daemon {
namespace {

std::unique_ptr<state::RocksStore> StoreWithState(const std::string& dir) {
  state::RocksStoreOptions options;
  options.dir = dir;
  auto store = state::RocksStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  state::WriteBatch batch;
  batch.Put("offsets", state::EncodeStateKey("m", "", "in", 0, ""), "42");
  batch.Put("offsets", state::EncodeStateKey("m", "", "in", 1, ""), "-1");
  for (const char* key : {"a", "b", "c"}) {
    batch.Put("baseline", state::EncodeStateKey("p", "baseline", "in", 0, key), "x");
  }
  EXPECT_TRUE((*store)->Write(batch).ok());
  return std::move(store).value();
}

config::DaemonConfig Config(const std::string& state_dir) {
  auto cfg = config::LoadConfigString(R"(
kafka: {bootstrap_servers: "localhost:9092"}
sources:
  m: {topics: [in], value_fields: [v], dead_letter: dlq}
sinks:
  dlq: {topic: d}
pipelines:
  p: {source: m, operators: [{type: baseline}], sinks: [dlq]}
state: {dir: ")" + state_dir + R"("}
)",
                                      "c.yaml");
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  return std::move(cfg).value();
}

TEST(SavepointFilesTest, ManifestDescribesTheCopy) {
  testing::TempDir dir;
  auto store = StoreWithState(dir.path() + "/db");
  auto manifest = CreateSavepoint(*store, Config(dir.path() + "/db"), dir.path() + "/sp");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  for (const char* part :
       {"\"savepoint_format_version\":1", "\"state_format_version\":2", "\"osprey_version\":\"",
        "\"config_file\":\"c.yaml\"",
        "\"pipelines\":[{\"name\":\"p\",\"source\":\"m\",\"operators\":[{\"name\":\"baseline\","
        "\"type\":\"baseline\"}]}]",
        "{\"source\":\"m\",\"topic\":\"in\",\"partition\":0,\"next_offset\":42}",
        "{\"source\":\"m\",\"topic\":\"in\",\"partition\":1,\"next_offset\":-1}",
        "\"families\":{\"baseline\":3,\"offsets\":2}"}) {
    EXPECT_NE(manifest->find(part), std::string::npos) << part << "\n" << *manifest;
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/sp/manifest.json"));
  // Later writes to the store are not in the savepoint.
  state::WriteBatch batch;
  batch.Put("baseline", state::EncodeStateKey("p", "baseline", "in", 0, "d"), "y");
  ASSERT_TRUE(store->Write(batch).ok());
  auto copy = state::RocksStore::OpenReadOnly(dir.path() + "/sp/store");
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ((*copy)->Scan("baseline", "")->size(), 3u);
  // An existing directory is refused, not merged into.
  auto again = CreateSavepoint(*store, Config(dir.path() + "/db"), dir.path() + "/sp");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kInvalidArgument);
}

TEST(SavepointFilesTest, RestoreRefusesANonEmptyStateDirUnlessForced) {
  testing::TempDir dir;
  {
    auto store = StoreWithState(dir.path() + "/db");
    ASSERT_TRUE(CreateSavepoint(*store, Config(dir.path() + "/db"), dir.path() + "/sp").ok());
  }
  ASSERT_TRUE(RestoreSavepoint(dir.path() + "/sp", dir.path() + "/new", false).ok());
  {
    auto restored = state::RocksStore::OpenReadOnly(dir.path() + "/new");
    ASSERT_TRUE(restored.ok());
    EXPECT_EQ(*(*restored)->Get("offsets", state::EncodeStateKey("m", "", "in", 0, "")), "42");
  }
  auto refused = RestoreSavepoint(dir.path() + "/sp", dir.path() + "/db", false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is not empty"), std::string::npos);
  std::ofstream(dir.path() + "/db/stray") << "x";
  ASSERT_TRUE(RestoreSavepoint(dir.path() + "/sp", dir.path() + "/db", true).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/db/stray"));
}

TEST(SavepointFilesTest, RestoreRefusesNewerFormatsAndNonSavepoints) {
  testing::TempDir dir;
  {
    auto store = StoreWithState(dir.path() + "/db");
    ASSERT_TRUE(CreateSavepoint(*store, Config(dir.path() + "/db"), dir.path() + "/sp").ok());
  }
  const std::string path = dir.path() + "/sp/manifest.json";
  std::ifstream in(path);
  std::string manifest((std::istreambuf_iterator<char>(in)), {});
  in.close();
  auto pos = manifest.find("\"state_format_version\":2");
  ASSERT_NE(pos, std::string::npos);
  manifest.replace(pos, 24, "\"state_format_version\":9");
  std::ofstream(path, std::ios::trunc) << manifest;
  auto newer = RestoreSavepoint(dir.path() + "/sp", dir.path() + "/new", false);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("state format 9"), std::string::npos)
      << newer.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/new/CURRENT"));

  std::ofstream(path, std::ios::trunc) << "{}";
  EXPECT_EQ(RestoreSavepoint(dir.path() + "/sp", dir.path() + "/new", false).status().code(),
            Status::Code::kCorruption);
  EXPECT_EQ(RestoreSavepoint(dir.path() + "/nothing", dir.path() + "/new", false).status().code(),
            Status::Code::kNotFound);
}

}  // namespace
}  // namespace osprey::daemon
