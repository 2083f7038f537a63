// The executables as a user runs them: ospreyd on the quickstart configuration (embedded broker,
// demo stream) shows alerts and stops cleanly on SIGTERM; validate reports errors with their
// position; osprey broker serves real Kafka clients (kcat, when installed).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

const std::string kOspreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A Prometheus sample's value, summed over the series of `name` whose labels contain `labels`.
double MetricSum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST(ProcessTest, QuickstartShowsAlertsAndStopsCleanlyOnSigterm) {
  testing::TempDir dir;
  uint16_t port = testing::PickFreePort();
  std::string yaml = ReadFile(std::string(OSPREY_SOURCE_DIR) + "/config/examples/quickstart.yaml");
  ASSERT_FALSE(yaml.empty());
  yaml = std::regex_replace(yaml, std::regex("127\\.0\\.0\\.1:8080"),
                            "127.0.0.1:" + std::to_string(port));
  std::string path = dir.path() + "/quickstart.yaml";
  std::ofstream(path) << yaml;

  testing::Subprocess daemon({kOspreyd, "--config", path});
  // Alerts within 30 s, in the log and on /metrics.
  bool alerted = false;
  std::string metrics;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !alerted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto r = testing::HttpGet(port, "/metrics");
    if (r.status == 200) {
      metrics = r.body;
      alerted = MetricSum(metrics, "osprey_alerts_total") > 0;
    }
  }
  ASSERT_TRUE(alerted) << "no alert within 30 s\n" << metrics << "\n" << daemon.Output();
  EXPECT_TRUE(daemon.WaitForOutput("ALERT {", std::chrono::seconds(5))) << daemon.Output();
  EXPECT_GT(MetricSum(metrics, "osprey_events_in_total"), 0);
  EXPECT_EQ(testing::HttpGet(port, "/readyz").status, 200);

  auto start = std::chrono::steady_clock::now();
  daemon.Signal(SIGTERM);
  auto code = daemon.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM\n" << daemon.Output();
  EXPECT_EQ(*code, 0) << daemon.Output();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(daemon.Output().find("stopped"), std::string::npos);
}

TEST(ProcessTest, ValidateReportsEveryErrorWithItsPosition) {
  testing::TempDir dir;
  std::string path = dir.path() + "/bad.yaml";
  std::ofstream(path) << "sources:\n  s:\n    topics: [a]\n    value_fields: [v]\n"
                         "    dead_letter: nowhere\n    colour: red\n"
                         "sinks:\n  out: {topic: o}\n"
                         "pipelines:\n  p: {source: s, operators: [{type: baseline}], sinks: [out]}\n";
  auto [code, out] = testing::RunCommand(kOspreyd + " validate --config " + path);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find(path + ":6:5: sources.s.colour"), std::string::npos) << out;
  EXPECT_NE(out.find(path + ":5:18: sources.s.dead_letter"), std::string::npos) << out;

  auto [ok_code, ok_out] = testing::RunCommand(
      kOspreyd + " validate --config " + std::string(OSPREY_SOURCE_DIR) +
      "/config/examples/quickstart.yaml");
  EXPECT_EQ(ok_code, 0) << ok_out;
}

TEST(ProcessTest, HelpAndVersion) {
  for (const auto& exe : {kOspreyd, kOsprey}) {
    auto [vcode, vout] = testing::RunCommand(exe + " --version");
    EXPECT_EQ(vcode, 0);
    EXPECT_NE(vout.find("0.1.0"), std::string::npos) << vout;
    auto [hcode, hout] = testing::RunCommand(exe + " --help");
    EXPECT_EQ(hcode, 0);
    EXPECT_NE(hout.find("validate"), std::string::npos) << hout;
  }
}

TEST(ProcessTest, KcatTalksToOspreyBroker) {
  if (testing::RunCommand("command -v kcat").first != 0) {
    GTEST_SKIP() << "kcat is not installed (deploy/install-deps.sh installs it)";
  }
  testing::Subprocess broker({kOsprey, "broker", "--topic", "greetings:2"});
  ASSERT_TRUE(broker.WaitForOutput("bootstrap.servers=", std::chrono::seconds(10)))
      << broker.Output();
  std::smatch m;
  std::string out = broker.Output();
  ASSERT_TRUE(std::regex_search(out, m, std::regex("bootstrap.servers=([0-9.:,]+)")));
  std::string bootstrap = m[1];
  auto [pcode, pout] = testing::RunCommand("printf 'hello\\nworld\\n' | kcat -b " + bootstrap +
                                           " -P -t greetings -p 0");
  ASSERT_EQ(pcode, 0) << pout;
  auto [ccode, cout] = testing::RunCommand("timeout 20 kcat -b " + bootstrap +
                                           " -C -t greetings -p 0 -o beginning -c 2 -q");
  ASSERT_EQ(ccode, 0) << cout;
  EXPECT_EQ(cout, "hello\nworld\n");
  broker.Signal(SIGTERM);
  EXPECT_EQ(broker.Wait(std::chrono::seconds(5)), 0);
}

}  // namespace
}  // namespace osprey
