#include "models/ml/prepare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <gtest/gtest.h>

namespace osprey::models::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Dataset WithMissing() {
  Dataset ds;
  ds.columns = {{"a", ColumnType::kNumeric, {}}, {"b", ColumnType::kNumeric, {}}};
  ds.x.resize(5, 2);
  ds.x << 1, 10,  //
      2, kNaN,    //
      kNaN, 10,   //
      9, 30,      //
      2, 20;
  return ds;
}

TEST(ImputerTest, MeanMedianMostFrequent) {
  Dataset train = WithMissing();
  Dataset mean = train;
  Imputer::Fit(train, {MissingPolicy::kMean, false}).Apply(&mean);
  EXPECT_DOUBLE_EQ(mean.x(2, 0), 14.0 / 4);
  EXPECT_DOUBLE_EQ(mean.x(1, 1), 70.0 / 4);
  Dataset median = train;
  Imputer::Fit(train, {MissingPolicy::kMedian, false}).Apply(&median);
  EXPECT_DOUBLE_EQ(median.x(2, 0), 2.0);   // {1, 2, 2, 9}
  EXPECT_DOUBLE_EQ(median.x(1, 1), 15.0);  // {10, 10, 20, 30}
  Dataset frequent = train;
  Imputer::Fit(train, {MissingPolicy::kMostFrequent, false}).Apply(&frequent);
  EXPECT_DOUBLE_EQ(frequent.x(2, 0), 2.0);
  EXPECT_DOUBLE_EQ(frequent.x(1, 1), 10.0);
  EXPECT_EQ(frequent.CountMissing(), 0u);
}

TEST(ImputerTest, FittedOnTrainAppliedToOthersWithIndicators) {
  Dataset train = WithMissing();
  Imputer imp = Imputer::Fit(train, {MissingPolicy::kMean, true});
  Dataset test;
  test.columns = train.columns;
  test.x.resize(1, 2);
  test.x << kNaN, 5;
  imp.Apply(&test);
  ASSERT_EQ(test.cols(), 4u);
  EXPECT_EQ(test.columns[2].name, "a_missing");
  EXPECT_EQ(test.columns[3].name, "b_missing");
  EXPECT_DOUBLE_EQ(test.x(0, 0), 3.5);  // the training mean, not the test row's
  EXPECT_EQ(test.x(0, 2), 1.0);
  EXPECT_EQ(test.x(0, 3), 0.0);
}

TEST(ImputerTest, InfinitiesAreNotMissingValues) {
  // +inf and -inf in one column sum to NaN, like a missing value would: still no gap there.
  Dataset train;
  train.columns = {{"a", ColumnType::kNumeric, {}}, {"b", ColumnType::kNumeric, {}}};
  train.x.resize(3, 2);
  train.x << std::numeric_limits<double>::infinity(), 1,  //
      -std::numeric_limits<double>::infinity(), 2,        //
      1, 6;
  Imputer imp = Imputer::Fit(train, {MissingPolicy::kMean, true});
  Dataset test;
  test.columns = train.columns;
  test.x.resize(1, 2);
  test.x << 4, kNaN;
  imp.Apply(&test);
  ASSERT_EQ(test.cols(), 2u);  // no indicator columns: nothing was missing in training
  EXPECT_DOUBLE_EQ(test.x(0, 1), 3.0);
  EXPECT_EQ(test.x(0, 0), 4.0);
}

TEST(PrepareTest, DropMissingRows) {
  Dataset ds = DropMissingRows(WithMissing());
  ASSERT_EQ(ds.rows(), 3u);
  EXPECT_EQ(ds.x(1, 0), 9.0);
}

TEST(PrepareTest, ShuffleIsSeededPermutation) {
  auto a = ShuffledIndices(100, 7);
  auto b = ShuffledIndices(100, 7);
  auto c = ShuffledIndices(100, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::sort(c.begin(), c.end());
  for (size_t idx = 0; idx < c.size(); ++idx) EXPECT_EQ(c[idx], idx);
}

TEST(SplitTest, DefaultSizesAndDisjoint) {
  Split s = TrainValidationTestSplit(1000, SplitFractions{}, 3);
  EXPECT_EQ(s.train.size(), 700u);
  EXPECT_EQ(s.validation.size(), 100u);
  EXPECT_EQ(s.test.size(), 200u);
  std::set<size_t> all(s.train.begin(), s.train.end());
  all.insert(s.validation.begin(), s.validation.end());
  all.insert(s.test.begin(), s.test.end());
  EXPECT_EQ(all.size(), 1000u);
}

// The linear learner trains large data in place on the premise that the trainer's training
// rows come in random order: about half of the neighbouring pairs ascend, and classes interleave.
TEST(SplitTest, EachPartListsItsRowsInRandomOrder) {
  std::vector<int> classes(2000, 0);
  for (size_t idx = 1000; idx < 2000; ++idx) classes[idx] = 1;  // sorted by class
  for (const bool stratified : {false, true}) {
    SCOPED_TRACE(stratified);
    const Split s = TrainValidationTestSplit(2000, SplitFractions{1.0, 0.0, 0.0}, 11,
                                             stratified ? classes : std::vector<int>{});
    ASSERT_EQ(s.train.size(), 2000u);
    size_t ascents = 0, class_changes = 0;
    for (size_t idx = 1; idx < s.train.size(); ++idx) {
      ascents += s.train[idx] > s.train[idx - 1] ? 1 : 0;
      class_changes += classes[s.train[idx]] != classes[s.train[idx - 1]] ? 1 : 0;
    }
    // Expected 999.5 each, standard deviation ~13 and ~22.
    EXPECT_GT(ascents, 900u);
    EXPECT_LT(ascents, 1100u);
    EXPECT_GT(class_changes, 900u);
    EXPECT_LT(class_changes, 1100u);
  }
}

TEST(PermuteRowsTest, ReordersInPlaceLikeRows) {
  // Several cycles (a random permutation of 1000 rows), a fixed point and the identity.
  Dataset data;
  data.columns = {{"a", ColumnType::kNumeric, {}}, {"b", ColumnType::kNumeric, {}}};
  data.has_label = true;
  data.x.resize(1000, 2);
  data.y.resize(1000);
  for (Eigen::Index r = 0; r < 1000; ++r) {
    data.x(r, 0) = static_cast<double>(r);
    data.x(r, 1) = -0.5 * static_cast<double>(r);
    data.y[r] = static_cast<double>(r % 7);
  }
  std::vector<size_t> fixed_point(1000);
  for (size_t r = 0; r < 1000; ++r) fixed_point[r] = (r == 3 ? 3 : (r + 1 == 1000 ? 0 : r + 1));
  fixed_point[2] = 4;  // 2 skips the fixed point 3
  std::vector<size_t> identity(1000);
  for (size_t r = 0; r < 1000; ++r) identity[r] = r;
  for (const auto& order : {ShuffledIndices(1000, 5), fixed_point, identity}) {
    const Dataset expected = data.Rows(order);
    Dataset permuted = data;
    PermuteRows(order, &permuted);
    EXPECT_EQ(permuted.x, expected.x);
    EXPECT_EQ(permuted.y, expected.y);
  }
  // Without labels.
  Dataset unlabelled = data;
  unlabelled.has_label = false;
  unlabelled.y.resize(0);
  const std::vector<size_t> order = ShuffledIndices(1000, 6);
  PermuteRows(order, &unlabelled);
  EXPECT_EQ(unlabelled.x, data.Rows(order).x);
}

TEST(SplitTest, StratifiedKeepsClassBalance) {
  // 900 of class 0, 100 of class 1.
  std::vector<int> classes(1000, 0);
  for (size_t idx = 0; idx < 100; ++idx) classes[idx * 10] = 1;
  Split s = TrainValidationTestSplit(1000, SplitFractions{}, 11, classes);
  auto ones = [&](const std::vector<size_t>& rows) {
    return std::count_if(rows.begin(), rows.end(), [&](size_t r) { return classes[r] == 1; });
  };
  EXPECT_EQ(ones(s.train), 70);
  EXPECT_EQ(ones(s.validation), 10);
  EXPECT_EQ(ones(s.test), 20);
  EXPECT_FALSE((SplitFractions{0.5, 0.1, 0.1}.Validate().ok()));
}

TEST(KFoldTest, EveryRowTestedOnceNoLeakage) {
  std::vector<int> classes(103);
  for (size_t idx = 0; idx < classes.size(); ++idx) classes[idx] = idx % 5 == 0 ? 1 : 0;
  auto folds = KFold(103, 5, 9, classes);
  ASSERT_EQ(folds.size(), 5u);
  std::vector<int> tested(103, 0);
  for (const Fold& f : folds) {
    std::set<size_t> train(f.train.begin(), f.train.end());
    EXPECT_EQ(f.train.size() + f.test.size(), 103u);
    for (size_t r : f.test) {
      EXPECT_FALSE(train.contains(r));
      ++tested[r];
    }
    EXPECT_GE(f.test.size(), 20u);
    EXPECT_LE(f.test.size(), 21u);
    const auto ones =
        std::count_if(f.test.begin(), f.test.end(), [&](size_t r) { return classes[r] == 1; });
    EXPECT_GE(ones, 4);  // 21 positives over 5 folds
    EXPECT_LE(ones, 5);
  }
  for (int t : tested) EXPECT_EQ(t, 1);
}

TEST(KFoldTest, LeaveOneOutAndSummary) {
  auto folds = LeaveOneOut(4);
  ASSERT_EQ(folds.size(), 4u);
  EXPECT_EQ(folds[2].test, std::vector<size_t>{2});
  EXPECT_EQ(folds[2].train, (std::vector<size_t>{0, 1, 3}));
  auto cv = CrossValidate(folds, [](const std::vector<size_t>&, const std::vector<size_t>& test) {
    return Result<double>(static_cast<double>(test[0]));
  });
  ASSERT_TRUE(cv.ok());
  EXPECT_DOUBLE_EQ(cv->mean, 1.5);
  EXPECT_NEAR(cv->stddev, std::sqrt(5.0 / 3.0), 1e-12);
  auto failing = CrossValidate(folds, [](const std::vector<size_t>&, const std::vector<size_t>&) {
    return Result<double>(Status::InvalidArgument("boom"));
  });
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.status().message(), "fold 1: boom");
}

}  // namespace
}  // namespace osprey::models::ml
