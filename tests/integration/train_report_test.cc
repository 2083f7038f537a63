// `osprey train`'s HTML report, checked as a reader's browser would get it: for each algorithm
// and task the real binary writes report.html next to the published model (or where --report
// says), and tests/integration/check_train_report.py parses it (tags balance, each inline SVG
// is well-formed XML, no URL or script, exactly the task's sections, every metric equal to
// metadata.json's, AUC / AP in the ROC / PR titles, text from the configuration escaped).
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";
const std::string kChecker =
    std::string("/usr/bin/python3 ") + OSPREY_SOURCE_DIR + "/tests/integration/check_train_report.py";

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Header cls,a,b,c,y: cls in {0,1,2} by the nearest of three centres, y = 2a - b + noise.
std::string Data(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  out << "cls,a,b,c,y\n";
  const double centres[3][3] = {{0, 0, 0}, {4, 0, 2}, {0, 4, -2}};
  for (int r = 0; r < rows; ++r) {
    const int k = r % 3;
    const double a = centres[k][0] + g(rng), b = centres[k][1] + g(rng), c = centres[k][2] + g(rng);
    const int cls = (r % 11 == 0) ? (k + 1) % 3 : k;  // some label noise
    out << cls << ',' << a << ',' << b << ',' << c << ',' << 2 * a - b + 0.3 * g(rng) << '\n';
  }
  return out.str();
}

// Binary, SageMaker layout (label first, no header).
std::string BinaryCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  for (int r = 0; r < rows; ++r) {
    const double a = g(rng), b = g(rng);
    out << (a - 0.5 * b + 0.8 * g(rng) > 0 ? 1 : 0) << ',' << a << ',' << b << '\n';
  }
  return out.str();
}

// Trains `yaml` in `dir` and checks the report at `report` (relative to dir) against
// `version_dir`/metadata.json. `extra` goes to the checker (raw and escaped strings).
void TrainAndCheck(const std::string& dir, const std::string& yaml, const std::string& args,
                   const std::string& report, const std::string& version_dir,
                   const std::string& sections, const std::string& extra = "") {
  auto [code, output] =
      testing::RunCommand("cd " + dir + " && " + kOsprey + " train --config " + yaml + args + " 2>&1");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("report     "), std::string::npos) << output;
  auto [ccode, coutput] = testing::RunCommand("cd " + dir + " && " + kChecker + " " + report + " " +
                                              version_dir + "/metadata.json " + sections + " " +
                                              extra + " 2>&1");
  EXPECT_EQ(ccode, 0) << yaml << ":\n" << coutput;
}

TEST(TrainReportTest, EachAlgorithmWritesAWellFormedSelfContainedReport) {
  testing::TempDir dir;
  const std::string d = dir.path();
  // The data file's name holds markup: it is shown in the summary, escaped.
  WriteFile(d + "/we<i>rd&.csv", BinaryCsv(1200, 3));
  WriteFile(d + "/data.csv", Data(1500, 5));
  WriteFile(d + "/binary.yaml", R"(name: binary
registry: ./registry
data: {path: "we<i>rd&.csv"}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 15, optimizer: adam}
)");
  TrainAndCheck(d, "binary.yaml", "", "registry/binary/1/report.html", "registry/binary/1",
                "summary,metrics,roc-pr,confusion,learning-curve",
                "'we<i>rd&.csv' 'we&lt;i&gt;rd&amp;.csv'");

  WriteFile(d + "/regression.yaml", R"(name: regression
registry: ./registry
data: {path: data.csv, header: true, label: y}
algorithm: linear_learner
hyperparameters: {predictor_type: regressor, epochs: 10}
)");
  TrainAndCheck(d, "regression.yaml", " --report custom.html", "custom.html",
                "registry/regression/1", "summary,metrics,residuals,learning-curve");
  EXPECT_FALSE(std::ifstream(d + "/registry/regression/1/report.html").good());

  // Class names with markup: the confusion matrix's headers, escaped.
  {
    std::istringstream in(Data(1500, 5));
    std::ostringstream out;
    const char* names[3] = {"<b>zero</b>", "one & two", "two"};
    std::string line;
    std::getline(in, line);
    out << line << "\n";
    while (std::getline(in, line)) out << names[line[0] - '0'] << line.substr(1) << "\n";
    WriteFile(d + "/named.csv", out.str());
  }
  WriteFile(d + "/multi.yaml", R"(name: multi
registry: ./registry
data: {path: named.csv, header: true, label: cls}
algorithm: xgboost
hyperparameters: {objective: "multi:softprob", num_class: 3, num_round: 10, nthread: 1}
)");
  TrainAndCheck(d, "multi.yaml", "", "registry/multi/1/report.html", "registry/multi/1",
                "summary,metrics,confusion,learning-curve",
                "'<b>zero' '<th>&lt;b&gt;zero&lt;/b&gt;</th>'");

  WriteFile(d + "/xgr.yaml", R"(name: xgr
registry: ./registry
data: {path: data.csv, header: true, label: y}
algorithm: xgboost
hyperparameters: {objective: "reg:squarederror", num_round: 10, nthread: 1}
tuning:
  strategy: random
  max_jobs: 3
  objective: {metric: "validation:rmse", type: minimize}
  parameter_ranges: {max_depth: {type: integer, min: 2, max: 4}}
)");
  TrainAndCheck(d, "xgr.yaml", "", "registry/xgr/1/report.html", "registry/xgr/1",
                "summary,metrics,residuals,learning-curve");
  std::ostringstream xgr;
  xgr << std::ifstream(d + "/registry/xgr/1/report.html").rdbuf();
  EXPECT_NE(xgr.str().find("Tuning trials"), std::string::npos);

  WriteFile(d + "/km.yaml", R"(name: km
registry: ./registry
data: {path: data.csv, header: true}
algorithm: kmeans
hyperparameters: {k: 3}
)");
  TrainAndCheck(d, "km.yaml", "", "registry/km/1/report.html", "registry/km/1",
                "summary,metrics,clusters,inertia-curve");

  WriteFile(d + "/pca.yaml", R"(name: pca
registry: ./registry
data: {path: data.csv, header: true}
algorithm: pca
hyperparameters: {num_components: 3}
)");
  TrainAndCheck(d, "pca.yaml", "", "registry/pca/1/report.html", "registry/pca/1",
                "summary,metrics,explained-variance");
}

}  // namespace
}  // namespace osprey
