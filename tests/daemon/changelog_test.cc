// Changelog against the embedded broker: a checkpoint appended by one store's owner rebuilds
// the rows in another (empty or stale) store; a checkpoint cut short (its marker missing from a
// pipeline's changelog) is skipped; a changelog with too few partitions fails at creation.
#include "daemon/changelog.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

#include "config/loader.h"
#include "daemon/kafka/embedded_broker.h"
#include "state/memory_store.h"

namespace osprey::daemon {
namespace {

constexpr int kPartitions = 2;

class ChangelogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::EmbeddedBrokerOptions options;
    options.topics = {{"in", kPartitions},
                      {"cl.p.changelog", kPartitions},
                      {"cl.q.changelog", kPartitions}};
    auto broker = EmbeddedBroker::Start(options);
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    config_.kafka.group_id = "changelog-test";
    config_.state.changelog = true;
    config_.state.changelog_prefix = "cl";
    source_.name = "m";
    source_.topics = {"in"};
  }

  std::unique_ptr<Changelog> Open(state::Store& store, std::vector<std::string> pipelines = {"p",
                                                                                            "q"}) {
    auto log = Changelog::Create(config_, source_, broker_->bootstrap_servers(),
                                 std::move(pipelines), store);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  // Writes one checkpoint through `log` and into `store`, as the source runner does.
  void Checkpoint(Changelog& log, state::Store& store, const TopicPartition& task,
                  const std::vector<std::pair<std::string, std::optional<std::string>>>& rows,
                  const std::string& offset) {
    state::WriteBatch batch;
    for (const auto& [key, value] : rows) {
      std::string k = state::EncodeStateKey("p", "baseline", task.topic, task.partition, key);
      if (value) {
        batch.Put("baseline", k, *value);
      } else {
        batch.Delete("baseline", k);
      }
      log.AddState("p", task, "baseline", k, value ? std::optional<std::string_view>(*value)
                                                    : std::nullopt);
    }
    std::string offset_key = state::EncodeStateKey("m", "", task.topic, task.partition, "");
    batch.Put("offsets", offset_key, offset);
    log.AddBookkeeping(task, "offsets", offset_key, offset);
    ASSERT_TRUE(log.Commit(batch).ok());
    ASSERT_TRUE(store.Write(batch).ok());
  }

  static std::string Value(const state::Store& store, const TopicPartition& task,
                           const std::string& key) {
    auto v = store.Get("baseline", state::EncodeStateKey("p", "baseline", task.topic,
                                                         task.partition, key));
    return v.ok() ? *v : "<none>";
  }
  static std::string Offset(const state::Store& store, const TopicPartition& task) {
    auto v = store.Get("offsets", state::EncodeStateKey("m", "", task.topic, task.partition, ""));
    return v.ok() ? *v : "<none>";
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  config::DaemonConfig config_;
  config::SourceOptions source_;
};

TEST_F(ChangelogTest, ANewOwnerRebuildsTheStateAndOnlyReadsWhatIsNew) {
  const TopicPartition task{"in", 1};
  state::MemoryStore owner_store;
  auto owner = Open(owner_store);
  ASSERT_NE(owner, nullptr);
  Checkpoint(*owner, owner_store, task, {{"a", "A1"}, {"b", "B1"}}, "10");
  Checkpoint(*owner, owner_store, {"in", 0}, {{"z", "Z1"}}, "3");  // another task

  state::MemoryStore next_store;
  auto next = Open(next_store);
  ASSERT_NE(next, nullptr);
  auto applied = next->Restore(task);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(*applied, 1);
  EXPECT_EQ(Value(next_store, task, "a"), "A1");
  EXPECT_EQ(Value(next_store, task, "b"), "B1");
  EXPECT_EQ(Value(next_store, task, "z"), "<none>");  // not this task's
  EXPECT_EQ(Offset(next_store, task), "10");

  // Current: nothing to apply.
  applied = next->Restore(task);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 0);

  // Two more checkpoints (one deletes a key); the new owner applies just those.
  Checkpoint(*owner, owner_store, task, {{"a", "A2"}}, "20");
  Checkpoint(*owner, owner_store, task, {{"b", std::nullopt}, {"c", "C3"}}, "30");
  applied = next->Restore(task);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 2);
  EXPECT_EQ(Value(next_store, task, "a"), "A2");
  EXPECT_EQ(Value(next_store, task, "b"), "<none>");
  EXPECT_EQ(Value(next_store, task, "c"), "C3");
  EXPECT_EQ(Offset(next_store, task), "30");
  // And the positions it stored equal the owner's: the owner's store is current too.
  auto own = owner->Restore(task);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(*own, 0);
}

TEST_F(ChangelogTest, ACheckpointCutShortByACrashIsSkipped) {
  const TopicPartition task{"in", 0};
  state::MemoryStore owner_store;
  auto owner = Open(owner_store);
  ASSERT_NE(owner, nullptr);
  Checkpoint(*owner, owner_store, task, {{"a", "A1"}}, "5");

  // A crashed writer's checkpoint: a state record and the marker of pipeline p only (q's never
  // made it).
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", broker_->bootstrap_servers().c_str(), err,
                    sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  ASSERT_NE(rk, nullptr);
  auto produce = [&](const std::string& topic, const std::string& key, const std::string& value,
                     const char* extra, const std::string& extra_value) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(3);
    rd_kafka_header_add(hdrs, "osprey.cp", -1, "crashed/0", 9);
    rd_kafka_header_add(hdrs, "osprey.task", -1, "in/0", 4);
    rd_kafka_header_add(hdrs, extra, -1, extra_value.data(), extra_value.size());
    void* k = const_cast<char*>(key.data());
    void* v = const_cast<char*>(value.data());
    size_t key_size = key.size();
    size_t value_size = value.size();
    ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                                RD_KAFKA_V_KEY(k, key_size), RD_KAFKA_V_VALUE(v, value_size),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  };
  produce("cl.p.changelog", state::EncodeStateKey("p", "baseline", "in", 0, "a"), "A-orphan",
          "osprey.family", "baseline");
  produce("cl.p.changelog", "osprey.marker/in/0", std::string(1, '\0'), "osprey.marker",
          "crashed/0");
  ASSERT_EQ(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);

  state::MemoryStore next_store;
  auto next = Open(next_store);
  ASSERT_NE(next, nullptr);
  auto applied = next->Restore(task);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(*applied, 1);  // the owner's checkpoint, not the crashed one
  EXPECT_EQ(Value(next_store, task, "a"), "A1");
  EXPECT_EQ(Offset(next_store, task), "5");

  // A later complete checkpoint still applies on top.
  Checkpoint(*owner, owner_store, task, {{"b", "B2"}}, "9");
  applied = next->Restore(task);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 1);
  EXPECT_EQ(Value(next_store, task, "a"), "A1");
  EXPECT_EQ(Value(next_store, task, "b"), "B2");
  EXPECT_EQ(Offset(next_store, task), "9");
}

TEST_F(ChangelogTest, AChangelogWithFewerPartitionsThanTheSourceFailsNamingIt) {
  config::EmbeddedBrokerOptions options;
  options.topics = {{"in", kPartitions}, {"cl.p.changelog", 1}};
  auto broker = EmbeddedBroker::Start(options);
  ASSERT_TRUE(broker.ok());
  state::MemoryStore store;
  auto log = Changelog::Create(config_, source_, (*broker)->bootstrap_servers(), {"p"}, store);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("'cl.p.changelog' has 1 partitions"), std::string::npos)
      << log.status().ToString();
}

}  // namespace
}  // namespace osprey::daemon
