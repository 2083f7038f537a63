// The trainer's cross-validation (daemon/trainer/cross_validation.h), the one code path every
// algorithm of `osprey train` goes through: the folds partition Prepare's train + validation
// rows (never the test split), classifiers' folds keep the class proportions, leave-one-out has
// one fold per row, each fold's feature pipeline and imputer are fitted on that fold's training
// rows only (no leakage), and bad fold counts fail with the configuration's file:line. An `id`
// column carries each row's number through the preparation so the tests see which rows a fold
// got.
#include "daemon/trainer/cross_validation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/train_loader.h"
#include "models/ml/dataset.h"

namespace osprey::daemon::trainer {
namespace {

namespace ml = models::ml;

constexpr size_t kRows = 100;

// Columns y (label: 1 for every 5th row), id, x = id^2 (far from uniform, so a pipeline fitted
// on other rows is visibly off), b (missing in every 7th row).
std::string Csv(size_t rows) {
  std::ostringstream out;
  out << "y,id,x,b\n";
  for (size_t r = 0; r < rows; ++r) {
    out << (r % 5 == 0 ? 1 : 0) << ',' << r << ',' << static_cast<double>(r * r) << ',';
    if (r % 7 != 0) out << static_cast<double>((r * 3) % 11);
    out << '\n';
  }
  return out.str();
}

ml::Dataset Data(size_t rows = kRows) {
  ml::CsvOptions o;
  o.header = true;
  o.label_column = "y";
  auto d = ml::ParseCsv(Csv(rows), o);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : ml::Dataset{};
}

config::TrainConfig Config(const std::string& cross_validation, const std::string& extra = "") {
  auto cfg = config::LoadTrainConfigString(
      "name: m\n"
      "data: {path: d.csv, header: true, label: y}\n"
      "preparation:\n"
      "  seed: 4\n"
      "  cross_validation: " +
          cross_validation + "\n" + extra + "algorithm: linear_learner\n",
      "t.yaml");
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  return cfg.ok() ? *cfg : config::TrainConfig{};
}

size_t Column(const ml::Dataset& d, const std::string& name) {
  for (size_t c = 0; c < d.columns.size(); ++c) {
    if (d.columns[c].name == name) return c;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}

std::vector<size_t> Ids(const ml::Dataset& d) {
  const auto c = static_cast<Eigen::Index>(Column(d, "id"));
  std::vector<size_t> out;
  for (Eigen::Index r = 0; r < d.x.rows(); ++r) out.push_back(static_cast<size_t>(d.x(r, c)));
  return out;
}

// What each fold was given, by row id.
struct Seen {
  std::vector<std::vector<size_t>> train, test;
};

CvTask Recording(Seen* seen, bool classifier) {
  CvTask task;
  task.metric = "fold_rows";
  task.classifier = classifier;
  task.fit_and_score = [seen](const ml::Dataset& train, const ml::Dataset& test) -> Result<double> {
    seen->train.push_back(Ids(train));
    seen->test.push_back(Ids(test));
    return static_cast<double>(test.rows()) * (seen->test.size() % 2 == 0 ? 1.5 : 1.0);
  };
  return task;
}

TEST(CrossValidationTest, KFoldsPartitionTrainPlusValidationAndNeverShareRows) {
  const config::TrainConfig cfg = Config("{folds: 5}");
  const ml::Dataset data = Data();
  auto prepared = Prepare(cfg, data, false);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  std::set<size_t> pool;
  for (const auto* split : {&prepared->train, &prepared->validation}) {
    for (size_t id : Ids(*split)) pool.insert(id);
  }
  const std::vector<size_t> test_split = Ids(prepared->test);
  ASSERT_EQ(pool.size() + test_split.size(), kRows);

  Seen seen;
  std::vector<std::pair<int, int>> progress;
  auto run = CrossValidateRows(cfg, data, Recording(&seen, false),
                               [&](int done, int total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->metric, "fold_rows");
  EXPECT_EQ(run->rows, pool.size());
  EXPECT_FALSE(run->stratified);
  EXPECT_FALSE(run->leave_one_out);
  ASSERT_EQ(seen.test.size(), 5u);
  ASSERT_EQ(run->summary.values.size(), 5u);
  EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 5}, {2, 5}, {3, 5}, {4, 5}, {5, 5}}));

  std::multiset<size_t> tested;
  for (size_t f = 0; f < 5; ++f) {
    const std::set<size_t> train(seen.train[f].begin(), seen.train[f].end());
    const std::set<size_t> test(seen.test[f].begin(), seen.test[f].end());
    EXPECT_EQ(train.size(), seen.train[f].size()) << "fold " << f << " repeats a training row";
    EXPECT_EQ(train.size() + test.size(), pool.size()) << f;
    for (size_t id : test) {
      EXPECT_EQ(train.count(id), 0u) << "fold " << f << " trains and tests on row " << id;
      EXPECT_EQ(pool.count(id), 1u) << "fold " << f << " tests a row outside train + validation";
      tested.insert(id);
    }
    for (size_t id : train) EXPECT_EQ(pool.count(id), 1u) << id;
    // Fold sizes differ by at most one.
    EXPECT_LE(test.size(), pool.size() / 5 + 1);
    EXPECT_GE(test.size(), pool.size() / 5);
    // The summary holds what each fold returned, in fold order.
    EXPECT_DOUBLE_EQ(run->summary.values[f],
                     static_cast<double>(test.size()) * (f % 2 == 1 ? 1.5 : 1.0));
  }
  // Every train + validation row is held out exactly once; no test-split row ever is.
  EXPECT_EQ(tested, std::multiset<size_t>(pool.begin(), pool.end()));
  const auto& v = run->summary.values;
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / 5;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  EXPECT_NEAR(run->summary.mean, mean, 1e-12);
  EXPECT_NEAR(run->summary.stddev, std::sqrt(ss / 4), 1e-12);
  EXPECT_GT(run->summary.stddev, 0.0);
}

TEST(CrossValidationTest, ClassifierFoldsKeepTheClassProportions) {
  const ml::Dataset data = Data();
  for (const bool stratify : {true, false}) {
    SCOPED_TRACE(stratify ? "stratified" : "stratify: false");
    const config::TrainConfig cfg = Config("{folds: 4}", stratify ? "" : "  stratify: false\n");
    Seen seen;
    auto run = CrossValidateRows(cfg, data, Recording(&seen, true));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->stratified, stratify);
    ASSERT_EQ(seen.test.size(), 4u);
    size_t positives = 0;
    std::vector<size_t> fold_positives;
    for (const auto& test : seen.test) {
      const auto n = static_cast<size_t>(
          std::count_if(test.begin(), test.end(), [](size_t id) { return id % 5 == 0; }));
      fold_positives.push_back(n);
      positives += n;
    }
    ASSERT_GT(positives, 8u);
    if (stratify) {
      // Each fold holds its share of the minority class, give or take one row.
      for (size_t n : fold_positives) {
        EXPECT_LE(std::abs(static_cast<double>(n) - static_cast<double>(positives) / 4), 1.0)
            << n << " of " << positives;
      }
    }
  }
}

TEST(CrossValidationTest, LeaveOneOutHasOneFoldPerRow) {
  const config::TrainConfig cfg = Config("{leave_one_out: true}");
  const ml::Dataset data = Data(20);
  Seen seen;
  auto run = CrossValidateRows(cfg, data, Recording(&seen, true));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  // 20 rows: 14 train + 2 validation (70/10/20) are cross-validated.
  EXPECT_EQ(run->rows, 16u);
  EXPECT_TRUE(run->leave_one_out);
  EXPECT_FALSE(run->stratified);
  ASSERT_EQ(run->summary.values.size(), 16u);
  std::set<size_t> held_out;
  for (size_t f = 0; f < seen.test.size(); ++f) {
    ASSERT_EQ(seen.test[f].size(), 1u);
    EXPECT_EQ(seen.train[f].size(), 15u);
    EXPECT_EQ(std::count(seen.train[f].begin(), seen.train[f].end(), seen.test[f][0]), 0);
    held_out.insert(seen.test[f][0]);
  }
  EXPECT_EQ(held_out.size(), 16u);
}

// Leakage: the standardisation of x and the mean imputation of b, as a fold's model sees them,
// must be those of the fold's own training rows (computed here from the raw rows by id), not
// of all train + validation rows. x = id^2 makes every fold's training mean differ from the
// pool's, so a pipeline fitted before splitting fails these checks.
TEST(CrossValidationTest, EachFoldFitsItsOwnFeaturePipelineAndImputer) {
  const config::TrainConfig cfg =
      Config("{folds: 5}", "features:\n  - {step: standardize, columns: [x]}\n");
  ASSERT_EQ(cfg.features.size(), 1u);
  const ml::Dataset data = Data();
  auto raw_x = [](size_t id) { return static_cast<double>(id * id); };
  auto raw_b = [](size_t id) { return id % 7 == 0 ? NAN : static_cast<double>((id * 3) % 11); };
  int folds = 0;
  CvTask task;
  task.metric = "checked";
  task.fit_and_score = [&](const ml::Dataset& train, const ml::Dataset& test) -> Result<double> {
    ++folds;
    const std::vector<size_t> train_ids = Ids(train), test_ids = Ids(test);
    double sum = 0, b_sum = 0;
    size_t b_count = 0;
    for (size_t id : train_ids) {
      sum += raw_x(id);
      if (!std::isnan(raw_b(id))) {
        b_sum += raw_b(id);
        ++b_count;
      }
    }
    const double mean = sum / static_cast<double>(train_ids.size());
    double ss = 0;
    for (size_t id : train_ids) ss += (raw_x(id) - mean) * (raw_x(id) - mean);
    const double sd = std::sqrt(ss / static_cast<double>(train_ids.size()));  // population
    const double b_mean = b_sum / static_cast<double>(b_count);
    const auto x = static_cast<Eigen::Index>(Column(train, "x"));
    const auto b = static_cast<Eigen::Index>(Column(train, "b"));
    EXPECT_NEAR(train.x.col(x).mean(), 0.0, 1e-9) << "fold " << folds;
    for (const auto& [d, ids] : {std::pair{&train, &train_ids}, std::pair{&test, &test_ids}}) {
      for (size_t r = 0; r < ids->size(); ++r) {
        const auto row = static_cast<Eigen::Index>(r);
        const size_t id = (*ids)[r];
        EXPECT_NEAR(d->x(row, x), (raw_x(id) - mean) / sd, 1e-9)
            << "fold " << folds << " id " << id;
        const double want_b = std::isnan(raw_b(id)) ? b_mean : raw_b(id);
        EXPECT_NEAR(d->x(row, b), want_b, 1e-12) << "fold " << folds << " id " << id;
      }
    }
    return 0.0;
  };
  auto run = CrossValidateRows(cfg, data, task);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(folds, 5);
}

// missing: drop removes the rows before the split, so no fold sees them.
TEST(CrossValidationTest, DroppedRowsAreInNoFold) {
  const config::TrainConfig cfg = Config("{folds: 3}", "  missing: drop\n");
  Seen seen;
  auto run = CrossValidateRows(cfg, Data(), Recording(&seen, false));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const size_t kept = kRows - (kRows + 6) / 7;  // b is missing in every 7th row
  EXPECT_NEAR(static_cast<double>(run->rows), 0.8 * static_cast<double>(kept), 1.0);
  for (const auto& fold : {seen.train, seen.test}) {
    for (const auto& ids : fold) {
      for (size_t id : ids) EXPECT_NE(id % 7, 0u) << id;
    }
  }
}

TEST(CrossValidationTest, TooFewRowsIsAConfigErrorWithItsPosition) {
  const ml::Dataset data = Data(6);  // 4 train + 1 validation
  Seen seen;
  auto run = CrossValidateRows(Config("{folds: 6}"), data, Recording(&seen, false));
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(run.status().message().find("t.yaml:5:3: preparation.cross_validation: 5 rows (train "
                                        "+ validation) are too few for 6 folds"),
            std::string::npos)
      << run.status().message();
  EXPECT_TRUE(seen.test.empty());

  auto loo = CrossValidateRows(Config("{leave_one_out: true}"), Data(1), Recording(&seen, false));
  ASSERT_FALSE(loo.ok());
  EXPECT_NE(loo.status().message().find("t.yaml:5:3: preparation.cross_validation: 1 row (train + "
                                        "validation) is too few for leave-one-out"),
            std::string::npos)
      << loo.status().message();

  // Exactly one row per fold is fine.
  auto five = CrossValidateRows(Config("{folds: 5}"), data, Recording(&seen, false));
  ASSERT_TRUE(five.ok()) << five.status().ToString();
  EXPECT_EQ(five->summary.values, std::vector<double>({1, 1.5, 1, 1.5, 1}));
}

TEST(CrossValidationTest, AFailingFoldIsNamed) {
  CvTask task;
  task.metric = "m";
  int calls = 0;
  task.fit_and_score = [&](const ml::Dataset&, const ml::Dataset&) -> Result<double> {
    if (++calls == 3) return Status::InvalidArgument("k = 9 exceeds the rows");
    return 1.0;
  };
  auto run = CrossValidateRows(Config("{folds: 4}"), Data(), task);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "cross-validation: fold 3: k = 9 exceeds the rows");
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace osprey::daemon::trainer
