#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <random>
#include <set>
#include <vector>

#include <Eigen/QR>
#include <gtest/gtest.h>

#include "models/ml/kmeans.h"
#include "models/ml/metrics.h"
#include "models/ml/pca.h"

namespace osprey::models::ml {
namespace {

// k well-separated clusters in 3-D around planted centres.
Matrix Clusters(const Matrix& centres, int per_cluster, double sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, sd);
  Matrix x(centres.rows() * per_cluster, centres.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (Eigen::Index c = 0; c < x.cols(); ++c) x(r, c) = centres(r % centres.rows(), c) + g(rng);
  }
  return x;
}

Matrix Centres() {
  Matrix c(4, 3);
  c << 0, 0, 0,  //
      10, 0, 0,  //
      0, 10, 0,  //
      0, 0, 10;
  return c;
}

// Every planted centre has a fitted centroid within `tol`.
void ExpectRecovered(const Matrix& fitted, const Matrix& planted, double tol) {
  ASSERT_EQ(fitted.rows(), planted.rows());
  for (Eigen::Index p = 0; p < planted.rows(); ++p) {
    double best = 1e300;
    for (Eigen::Index f = 0; f < fitted.rows(); ++f) {
      best = std::min(best, (fitted.row(f) - planted.row(p)).norm());
    }
    EXPECT_LT(best, tol) << "planted centre " << p;
  }
}

TEST(KMeansTest, LloydAndElkanRecoverPlantedClustersIdentically) {
  Matrix x = Clusters(Centres(), 500, 1.0, 3);
  KMeansOptions o;
  o.k = 4;
  auto lloyd = FitKMeans(x, o);
  ASSERT_TRUE(lloyd.ok());
  ExpectRecovered(lloyd->centroids, Centres(), 0.2);
  o.algorithm = KMeansAlgorithm::kElkan;
  auto elkan = FitKMeans(x, o);
  ASSERT_TRUE(elkan.ok());
  EXPECT_LT((elkan->centroids - lloyd->centroids).norm(), 1e-9);
  EXPECT_NEAR(elkan->inertia, lloyd->inertia, 1e-6 * lloyd->inertia);
  // Inertia ~ n * d * sd^2.
  EXPECT_NEAR(lloyd->inertia / (2000.0 * 3), 1.0, 0.1);
  std::vector<int> labels;
  std::vector<double> dist;
  lloyd->Assign(x, &labels, &dist);
  EXPECT_NEAR(Inertia(x, lloyd->centroids, labels), lloyd->inertia, 1e-6 * lloyd->inertia);
  EXPECT_NEAR(dist[0], (x.row(0) - lloyd->centroids.row(labels[0])).norm(), 1e-9);
  // Rows planted in the same cluster share a label.
  for (Eigen::Index r = 4; r < x.rows(); ++r) EXPECT_EQ(labels[r], labels[r % 4]);
}

TEST(KMeansTest, RandomInitAndMiniBatch) {
  Matrix x = Clusters(Centres(), 1000, 1.0, 4);
  KMeansOptions o;
  o.k = 4;
  o.init_method = KMeansInit::kRandom;
  o.seed = 2;
  auto random = FitKMeans(x, o);
  ASSERT_TRUE(random.ok());
  EXPECT_EQ(random->centroids.rows(), 4);
  KMeansOptions mb;
  mb.k = 4;
  mb.mini_batch_size = 100;
  mb.epochs = 3;
  auto mini = FitKMeans(x, mb);
  ASSERT_TRUE(mini.ok());
  ExpectRecovered(mini->centroids, Centres(), 0.5);
}

TEST(KMeansTest, ErrorsAndHyperparameters) {
  Matrix x = Clusters(Centres(), 1, 1.0, 5);
  KMeansOptions o;
  o.k = 5;
  EXPECT_FALSE(FitKMeans(x, o).ok());
  x(0, 0) = std::nan("");
  o.k = 2;
  EXPECT_FALSE(FitKMeans(x, o).ok());
  auto hp = KMeansOptions::FromHyperparameters(
      {{"k", "7"}, {"init_method", "random"}, {"mini_batch_size", "500"}, {"epochs", "2"}});
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->k, 7);
  EXPECT_EQ(hp->init_method, KMeansInit::kRandom);
  EXPECT_FALSE(KMeansOptions::FromHyperparameters({{"init_method", "random"}}).ok());
  EXPECT_FALSE(KMeansOptions::FromHyperparameters({{"k", "2"}, {"init_method", "x"}}).ok());
}

// Data stretched along planted orthogonal axes with standard deviations 5, 2, 0.5, 0.1.
Matrix Stretched(size_t n, Matrix* axes) {
  std::mt19937_64 rng(6);
  std::normal_distribution<double> g(0.0, 1.0);
  Matrix random(4, 4);
  for (Eigen::Index idx = 0; idx < random.size(); ++idx) random.data()[idx] = g(rng);
  Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(random).householderQ();
  *axes = q.transpose();  // rows = axes
  const double sd[4] = {5, 2, 0.5, 0.1};
  Matrix x(static_cast<Eigen::Index>(n), 4);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    Eigen::RowVector4d z;
    for (int c = 0; c < 4; ++c) z[c] = sd[c] * g(rng);
    x.row(r) = z * *axes;
    x.row(r).array() += 7.0;  // an offset the mean removes
  }
  return x;
}

TEST(PcaTest, ExactAndRandomizedRecoverPrincipalAxes) {
  Matrix axes;
  Matrix x = Stretched(20000, &axes);
  for (PcaMode mode : {PcaMode::kRegular, PcaMode::kRandomized}) {
    PcaOptions o;
    o.num_components = 2;
    o.algorithm_mode = mode;
    auto pca = FitPca(x, o);
    ASSERT_TRUE(pca.ok()) << pca.status().ToString();
    for (int k = 0; k < 2; ++k) {
      EXPECT_NEAR(std::abs(pca->components.row(k).dot(axes.row(k))), 1.0, 1e-3);
      EXPECT_NEAR(pca->components.row(k).norm(), 1.0, 1e-9);
    }
    EXPECT_NEAR(pca->explained_variance[0], 25.0, 25.0 * 0.05);
    EXPECT_NEAR(pca->explained_variance[1], 4.0, 4.0 * 0.05);
    EXPECT_NEAR(pca->explained_variance_ratio[0], 25.0 / 29.26, 0.01);
    EXPECT_NEAR(pca->mean[0], 7.0, 0.1);
    Matrix p = pca->Project(x.topRows(10));
    EXPECT_EQ(p.cols(), 2);
    EXPECT_NEAR(p(0, 0), (x.row(0) - pca->mean).dot(pca->components.row(0)), 1e-9);
  }
}

TEST(PcaTest, ErrorsAndHyperparameters) {
  Matrix x(3, 2);
  x << 1, 2, 3, 4, 5, 7;
  PcaOptions o;
  o.num_components = 3;
  EXPECT_FALSE(FitPca(x, o).ok());
  auto hp = PcaOptions::FromHyperparameters(
      {{"num_components", "2"}, {"algorithm_mode", "randomized"}, {"subtract_mean", "false"}});
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->algorithm_mode, PcaMode::kRandomized);
  EXPECT_FALSE(hp->subtract_mean);
  EXPECT_FALSE(PcaOptions::FromHyperparameters({{"num_components", "0"}}).ok());
}

// Fits `x` once per thread count; every model must equal the first bit for bit. Returns it.
KMeansModel FitWithEachThreadCount(const Matrix& x, KMeansOptions o,
                                   std::initializer_list<int> thread_counts) {
  std::vector<KMeansModel> models;
  for (int threads : thread_counts) {
    o.num_threads = threads;
    auto m = FitKMeans(x, o);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return {};
    models.push_back(*m);
  }
  for (const KMeansModel& m : models) {
    EXPECT_EQ(m.centroids, models[0].centroids);
    EXPECT_EQ(m.inertia, models[0].inertia);
    EXPECT_EQ(m.iterations, models[0].iterations);
  }
  return models[0];
}

TEST(KMeansTest, ThreadCountDoesNotChangeTheModel) {
  // 20 000 rows: several row chunks for the parallel k-means++ and Lloyd passes.
  Matrix x = Clusters(Centres(), 5000, 2.0, 17);
  KMeansOptions o;
  o.k = 4;
  const KMeansModel model = FitWithEachThreadCount(x, o, {1, 2, 3, 1});
  ExpectRecovered(model.centroids, Centres(), 0.2);
}

TEST(KMeansTest, ThreadCountDoesNotChangeTheModelWithWideRows) {
  // 8 clusters in 10-D (the distance kernel's 2-row x 4-centroid blocks and a 2-feature tail),
  // 24 000 rows: several row chunks.
  std::mt19937_64 rng(29);
  std::uniform_real_distribution<double> u(-20.0, 20.0);
  Matrix centres(8, 10);
  for (Eigen::Index idx = 0; idx < centres.size(); ++idx) centres.data()[idx] = u(rng);
  const Matrix x = Clusters(centres, 3000, 1.0, 31);
  KMeansOptions o;
  o.k = 8;
  FitWithEachThreadCount(x, o, {1, 2, 3});
}

TEST(KMeansTest, DistancesMatchDirectComputation) {
  // Every centroid-group shape of the kernel (k = 1..17: full and partial 4-centroid groups, and
  // the GEMM above 16) and feature counts with and without a tail.
  std::mt19937_64 rng(41);
  std::normal_distribution<double> g(0.0, 3.0);
  for (Eigen::Index d : {1, 4, 7, 50}) {
    Matrix x(257, d);
    for (Eigen::Index idx = 0; idx < x.size(); ++idx) x.data()[idx] = g(rng);
    for (int k : {1, 2, 3, 5, 7, 8, 9, 13, 16, 17}) {
      KMeansModel model;
      model.centroids.resize(k, d);
      for (Eigen::Index idx = 0; idx < model.centroids.size(); ++idx) {
        model.centroids.data()[idx] = g(rng);
      }
      std::vector<int> labels;
      std::vector<double> dist;
      model.Assign(x, &labels, &dist);
      ASSERT_EQ(labels.size(), static_cast<size_t>(x.rows()));
      for (Eigen::Index r = 0; r < x.rows(); ++r) {
        Eigen::Index best = 0;
        const double best_d2 =
            (model.centroids.rowwise() - x.row(r)).rowwise().squaredNorm().minCoeff(&best);
        const auto ri = static_cast<size_t>(r);
        EXPECT_NEAR(dist[ri], std::sqrt(best_d2), 1e-9 * (1.0 + std::sqrt(best_d2)))
            << "d " << d << " k " << k << " row " << r;
        // A different label only on a near tie.
        if (labels[ri] != best) {
          const double other = (x.row(r) - model.centroids.row(labels[ri])).squaredNorm();
          EXPECT_NEAR(other, best_d2, 1e-9 * (1.0 + best_d2)) << "d " << d << " k " << k;
        }
      }
    }
  }
}

TEST(KMeansTest, TrainAssignmentIsTheModelsAssignment) {
  const Matrix x = Clusters(Centres(), 500, 2.0, 43);
  KMeansOptions o;
  o.k = 4;
  KMeansAssignment a;
  auto m = FitKMeans(x, o, nullptr, &a);
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::vector<int> labels;
  std::vector<double> dist;
  m->Assign(x, &labels, &dist);
  EXPECT_EQ(a.labels, labels);
  ASSERT_EQ(a.squared_distances.size(), dist.size());
  double inertia = 0.0;
  for (size_t r = 0; r < dist.size(); ++r) {
    EXPECT_NEAR(a.squared_distances[r], dist[r] * dist[r], 1e-9 * (1.0 + dist[r] * dist[r]));
    inertia += a.squared_distances[r];
  }
  EXPECT_NEAR(inertia, m->inertia, 1e-12 * inertia);
}

}  // namespace
}  // namespace osprey::models::ml
