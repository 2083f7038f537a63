#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "models/ml/features/pipeline.h"
#include "models/ml/features/served_pipeline.h"
#include "models/ml/features/text.h"
#include "models/ml/linear_learner.h"
#include "models/ml/served.h"
#include "models/ml/xgboost.h"
#include "models/serving/linear_model.h"
#include "models/serving/xgboost_model.h"

namespace osprey::models::ml::features {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using config::FeatureStepKind;
using config::FeatureStepOptions;
using Strings = std::vector<std::optional<std::string>>;

FrameColumn Numeric(std::string name, std::vector<double> v) {
  return {std::move(name), FeatureType::kNumeric, std::move(v), {}};
}
FrameColumn Category(std::string name, Strings v, FeatureType type = FeatureType::kCategorical) {
  return {std::move(name), type, {}, std::move(v)};
}
Frame MakeFrame(std::vector<FrameColumn> cols) {
  Frame f;
  f.rows = cols.empty() ? 0 : std::max(cols[0].numbers.size(), cols[0].strings.size());
  f.columns = std::move(cols);
  return f;
}
FeatureStepOptions Step(FeatureStepKind kind, std::vector<std::string> columns = {}) {
  FeatureStepOptions o;
  o.kind = kind;
  o.columns = std::move(columns);
  return o;
}

// Fits `steps` on `frame` and returns the pipeline and the transformed training rows.
std::pair<FeaturePipeline, Matrix> FitTransform(const std::vector<FeatureStepOptions>& steps,
                                                const Frame& frame, const Vector* label = nullptr) {
  auto p = FeaturePipeline::Fit(steps, frame, label);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return {};
  auto x = p->Transform(frame);
  EXPECT_TRUE(x.ok()) << x.status().ToString();
  return {std::move(*p), x.ok() ? *x : Matrix()};
}

TEST(FeatureStepsTest, StandardizeUsesTrainingMeanAndPopulationStddev) {
  const Frame f = MakeFrame({Numeric("a", {1, 2, 3, kNaN}), Numeric("c", {5, 5, 5, 5})});
  auto [p, x] = FitTransform({Step(FeatureStepKind::kStandardize)}, f);
  // mean 2, stddev sqrt(2/3) over the three present values; NaN stays missing.
  EXPECT_NEAR(x(0, 0), -1.224744871391589, 1e-12);
  EXPECT_NEAR(x(1, 0), 0.0, 1e-12);
  EXPECT_NEAR(x(2, 0), 1.224744871391589, 1e-12);
  EXPECT_TRUE(std::isnan(x(3, 0)));
  EXPECT_EQ(x(0, 1), 0.0);  // a constant column: centred, scale 1
  // Applied to new rows with the training parameters.
  auto y = p.Transform(MakeFrame({Numeric("a", {4}), Numeric("c", {7})}));
  ASSERT_TRUE(y.ok());
  EXPECT_NEAR((*y)(0, 0), 2.449489742783178, 1e-12);
  EXPECT_EQ((*y)(0, 1), 2.0);
}

TEST(FeatureStepsTest, LogPowerAndPolynomial) {
  const Frame f = MakeFrame({Numeric("a", {0, std::exp(1.0) - 1, -1, 4})});
  auto [p1, x1] = FitTransform({Step(FeatureStepKind::kLog)}, f);
  EXPECT_EQ(x1(0, 0), 0.0);
  EXPECT_NEAR(x1(1, 0), 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(x1(2, 0)));  // ln(0): outside the domain -> missing
  EXPECT_NEAR(x1(3, 0), std::log(5.0), 1e-12);

  FeatureStepOptions root = Step(FeatureStepKind::kPower);
  root.exponent = 0.5;
  auto [p2, x2] = FitTransform({root}, f);
  EXPECT_EQ(x2(3, 0), 2.0);
  EXPECT_TRUE(std::isnan(x2(2, 0)));  // sqrt(-1)

  FeatureStepOptions poly = Step(FeatureStepKind::kPolynomial);
  poly.degree = 3;
  auto [p3, x3] = FitTransform({poly}, f);
  ASSERT_EQ(p3.outputs(), (std::vector<std::string>{"a", "a^2", "a^3"}));
  EXPECT_EQ(x3(3, 1), 16.0);
  EXPECT_EQ(x3(3, 2), 64.0);
  EXPECT_EQ(x3(2, 2), -1.0);
}

TEST(FeatureStepsTest, FixedEdgeBinsThenOneHot) {
  FeatureStepOptions bin = Step(FeatureStepKind::kBin, {"a"});
  bin.edges = {0, 10};
  const Frame f = MakeFrame({Numeric("a", {-1, 0, 5, 10, kNaN})});
  auto [p, x] = FitTransform({bin, Step(FeatureStepKind::kOneHot)}, f);
  ASSERT_EQ(p.outputs(), (std::vector<std::string>{"a=0", "a=1", "a=2"}));
  const double expected[5][3] = {{1, 0, 0}, {0, 1, 0}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0}};
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(x(r, c), expected[r][c]) << r << "," << c;
  }
}

TEST(FeatureStepsTest, QuantileBinsAtInterpolatedOrderStatistics) {
  // Quartile edges of 1..5: positions 1, 2, 3 of the sorted values -> 2, 3, 4.
  FeatureStepOptions bin = Step(FeatureStepKind::kBin);
  bin.quantiles = 4;
  const Frame train = MakeFrame({Numeric("a", {5, 1, 4, 2, 3})});
  auto p = FeaturePipeline::Fit({bin, Step(FeatureStepKind::kOneHot)}, train, nullptr);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->outputs(), (std::vector<std::string>{"a=0", "a=1", "a=2", "a=3"}));
  auto x = p->Transform(MakeFrame({Numeric("a", {1.5, 2, 4.5, 100})}));
  ASSERT_TRUE(x.ok());
  const int bins[] = {0, 1, 3, 3};
  for (int r = 0; r < 4; ++r) EXPECT_EQ((*x)(r, bins[r]), 1.0) << r;
}

TEST(FeatureStepsTest, CrossesAndQuadratic) {
  const Frame f = MakeFrame({Numeric("a", {2, 3}), Numeric("b", {5, kNaN}),
                             Category("u", {"x", "y"}), Category("v", {"p", std::nullopt})});
  // Duplicate names are rejected; so quadratic on a, b after a cross a*b must fail.
  auto dup = FeaturePipeline::Fit(
      {Step(FeatureStepKind::kCross, {"a", "b"}), Step(FeatureStepKind::kQuadratic, {"a", "b"}),
       Step(FeatureStepKind::kOneHot)},
      f, nullptr);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), "features[1]: two columns are named 'a*b'");

  auto [q, y] = FitTransform({Step(FeatureStepKind::kCross, {"u", "v"}),
                              Step(FeatureStepKind::kQuadratic, {"a", "b"}),
                              Step(FeatureStepKind::kDrop, {"u", "v"}),
                              Step(FeatureStepKind::kOneHot)},
                             f);
  // one_hot replaces the crossed column where it stands; quadratic terms are appended.
  ASSERT_EQ(q.outputs(), (std::vector<std::string>{"a", "b", "u&v=x&p", "a^2", "a*b", "b^2"}));
  EXPECT_EQ(y(0, 3), 4.0);
  EXPECT_EQ(y(0, 4), 10.0);
  EXPECT_EQ(y(0, 5), 25.0);
  EXPECT_TRUE(std::isnan(y(1, 4)));  // a missing factor: missing product
  EXPECT_EQ(y(0, 2), 1.0);
  EXPECT_EQ(y(1, 2), 0.0);  // v missing: no crossed category
}

TEST(FeatureStepsTest, OneHotUnknownAndMissingCategoriesAreAllZero) {
  const Frame f = MakeFrame({Category("colour", {"red", "blue", "red"})});
  auto [p, x] = FitTransform({Step(FeatureStepKind::kOneHot)}, f);
  ASSERT_EQ(p.outputs(), (std::vector<std::string>{"colour=blue", "colour=red"}));
  EXPECT_EQ(x(0, 1), 1.0);
  EXPECT_EQ(x(1, 0), 1.0);
  auto y = p.Transform(MakeFrame({Category("colour", {"green", std::nullopt})}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->sum(), 0.0);
}

TEST(TextTest, PorterStemsOfKnownWords) {
  // Examples from Porter's 1980 paper (step 1) and common words.
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"caresses", "caress"}, {"ponies", "poni"},     {"ties", "ti"},       {"cats", "cat"},
      {"feed", "feed"},       {"agreed", "agre"},     {"plastered", "plaster"},
      {"motoring", "motor"},  {"sing", "sing"},       {"hopping", "hop"},   {"falling", "fall"},
      {"filing", "file"},     {"happy", "happi"},     {"relational", "relat"},
      {"running", "run"}};
  std::vector<std::string> words;
  for (const auto& [w, s] : pairs) words.push_back(w);
  const auto stems = PorterStem(words);
  ASSERT_EQ(stems.size(), pairs.size());
  for (size_t k = 0; k < pairs.size(); ++k) EXPECT_EQ(stems[k], pairs[k].second) << pairs[k].first;
}

TEST(TextTest, StopWordListIsSortedLowerCase) {
  const auto& list = EnglishStopWords();
  ASSERT_GT(list.size(), 100u);
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  EXPECT_TRUE(IsEnglishStopWord("the"));
  EXPECT_FALSE(IsEnglishStopWord("osprey"));
}

TEST(TextTest, TokenizeLowercasesStripsStopsStemsAndMakesNgrams) {
  TokenizerOptions o;
  o.ngram_max = 2;
  EXPECT_EQ(Tokenize("The Cats, running!  to the HILLS", o),
            (std::vector<std::string>{"cat", "run", "hill", "cat run", "run hill"}));
  TokenizerOptions raw{false, false, false, false, 1};
  EXPECT_EQ(Tokenize("The Cats, running!", raw),
            (std::vector<std::string>{"The", "Cats,", "running!"}));
}

TEST(TextTest, TfIdfByHand) {
  TfIdfOptions o;
  o.tokenizer = {true, true, false, false, 1};
  const Strings docs = {"apple banana", "apple apple cherry", std::nullopt};
  const TfIdf m = TfIdf::Fit(docs, o);
  ASSERT_EQ(m.terms(), (std::vector<std::string>{"apple", "banana", "cherry"}));
  // n = 3; idf = ln((1 + 3) / (1 + df)) + 1: apple (df 2) 1.28768..., others (df 1) 1.69314...
  EXPECT_NEAR(m.idf()[0], 1.2876820724517808, 1e-15);
  EXPECT_NEAR(m.idf()[1], 1.6931471805599454, 1e-15);
  std::vector<double> x;
  m.Transform(docs, &x);
  ASSERT_EQ(x.size(), 9u);
  // Row 0: (1.2877, 1.6931, 0) / norm. Row 1: apple tf 1 + ln 2 -> (2.1802, 0, 1.6931) / norm.
  EXPECT_NEAR(x[0], 0.6053485081062916, 1e-12);
  EXPECT_NEAR(x[1], 0.7959605415681652, 1e-12);
  EXPECT_EQ(x[2], 0.0);
  EXPECT_NEAR(x[3], 0.7898069290660905, 1e-12);
  EXPECT_EQ(x[4], 0.0);
  EXPECT_NEAR(x[5], 0.6133555370249717, 1e-12);
  EXPECT_EQ(x[6] + x[7] + x[8], 0.0);  // missing document

  // Document-frequency cut-offs: apple is in 2/3 of the documents, the others in 1/3.
  TfIdfOptions common = o;
  common.min_df = 0.5;
  EXPECT_EQ(TfIdf::Fit(docs, common).terms(), (std::vector<std::string>{"apple"}));
  TfIdfOptions rare = o;
  rare.max_df = 0.5;
  EXPECT_EQ(TfIdf::Fit(docs, rare).terms(), (std::vector<std::string>{"banana", "cherry"}));
  TfIdfOptions top = o;
  top.max_terms = 1;
  EXPECT_EQ(TfIdf::Fit(docs, top).terms(), (std::vector<std::string>{"apple"}));
}

TEST(FeaturePipelineTest, ParsersKeepTextColumnsAsStrings) {
  JsonLinesOptions jo;
  jo.label = "y";
  jo.categorical_columns = {"plan"};
  jo.text_columns = {"note"};
  auto j = ParseJsonLines(
      "{\"n\": 1, \"plan\": \"gold\", \"note\": \"Fast, friendly\", \"y\": 1}\n"
      "{\"n\": 2, \"plan\": null, \"note\": null, \"y\": 0}\n",
      jo);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->columns[2].type, ColumnType::kText);
  CsvOptions co;
  co.header = true;
  co.label_column = "y";
  co.text_columns = {"note"};
  auto c = ParseCsv("n,note,y\n1,\" Fast, friendly \",1\n2,,0\n", co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (const Frame& f : {FrameFromDataset(*j), FrameFromDataset(*c)}) {
    const int note = f.Find("note");
    ASSERT_GE(note, 0);
    const FrameColumn& col = f.columns[static_cast<size_t>(note)];
    EXPECT_EQ(col.type, FeatureType::kText);
    ASSERT_TRUE(col.strings[0].has_value());
    EXPECT_NE(col.strings[0]->find("Fast, friendly"), std::string::npos);
    EXPECT_FALSE(col.strings[1].has_value());  // missing
  }
  co.text_columns = {"nope"};
  EXPECT_EQ(ParseCsv("n,note,y\n1,a,1\n", co).status().message(),
            "text column 'nope' is not a feature");
}

TEST(FeaturePipelineTest, ErrorsNameTheStepAndColumn) {
  const Frame f = MakeFrame({Numeric("a", {1, 2}), Category("t", {"x y", "z"}, FeatureType::kText)});
  FeatureStepOptions s = Step(FeatureStepKind::kStandardize, {"nope"});
  s.location = {"train.yaml", 12, 5};
  auto p = FeaturePipeline::Fit({s}, f, nullptr);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "train.yaml:12:5: features[0]: no column 'nope'");
  auto left = FeaturePipeline::Fit({Step(FeatureStepKind::kStandardize)}, f, nullptr);
  ASSERT_FALSE(left.ok());
  EXPECT_NE(left.status().message().find("column 't' is text after the last step"),
            std::string::npos);
  auto wrong = FeaturePipeline::Fit({Step(FeatureStepKind::kStandardize, {"t"})}, f, nullptr);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("column 't' is text, expected numeric"),
            std::string::npos);
}

// Rows of a churn-like table: numeric spend (sometimes missing), a plan category, a review.
Dataset MixedData(size_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const char* plans[] = {"basic", "gold", "silver"};
  const char* good[] = {"Great service, very happy!", "Loved the fast support", "happy happy"};
  const char* bad[] = {"Terrible: slow and broken.", "cancelled, SLOW support", "broken again"};
  Dataset d;
  d.columns = {{"spend", ColumnType::kNumeric, {}},
               {"plan", ColumnType::kCategorical, {"basic", "gold", "silver"}},
               {"review", ColumnType::kText, {}}};
  for (const char* t : good) d.columns[2].categories.emplace_back(t);
  for (const char* t : bad) d.columns[2].categories.emplace_back(t);
  d.x.resize(static_cast<Eigen::Index>(rows), 3);
  d.y.resize(static_cast<Eigen::Index>(rows));
  d.has_label = true;
  d.label_name = "churn";
  for (size_t r = 0; r < rows; ++r) {
    const auto row = static_cast<Eigen::Index>(r);
    const int plan = static_cast<int>(rng() % 3);
    const bool churn = (rng() % 2) == 0;
    d.x(row, 0) = r % 17 == 0 ? kNaN : std::exp(2 + 0.5 * g(rng) + (churn ? 0.3 : 0.0));
    d.x(row, 1) = r % 23 == 0 ? kNaN : plan;
    d.x(row, 2) = r % 19 == 0 ? kNaN : static_cast<double>((churn ? 3 : 0) + rng() % 3);
    d.y[row] = churn ? 1 : 0;
  }
  return d;
}

std::vector<FeatureStepOptions> MixedSteps() {
  FeatureStepOptions text = Step(FeatureStepKind::kText, {"review"});
  text.ngram_max = 2;
  return {Step(FeatureStepKind::kLog, {"spend"}),  Step(FeatureStepKind::kStandardize, {"spend"}),
          Step(FeatureStepKind::kPolynomial, {"spend"}), text, Step(FeatureStepKind::kOneHot)};
}

// The rows of `d` as a client sends them: numbers, category and text strings, missing.
std::vector<FeatureRow> RawRows(const Dataset& d) {
  std::vector<FeatureRow> rows(d.rows());
  for (size_t r = 0; r < d.rows(); ++r) {
    for (size_t c = 0; c < d.cols(); ++c) {
      const double v = d.x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
      if (std::isnan(v)) {
        rows[r].emplace_back(std::monostate{});
      } else if (d.columns[c].type == ColumnType::kNumeric) {
        rows[r].emplace_back(v);
      } else {
        rows[r].emplace_back(d.columns[c].categories[static_cast<size_t>(v)]);
      }
    }
  }
  return rows;
}

TEST(FeaturePipelineTest, SaveLoadRoundTripTransformsIdentically) {
  const Dataset d = MixedData(200, 7);
  std::vector<FeatureStepOptions> steps = MixedSteps();
  FeatureStepOptions bin = Step(FeatureStepKind::kBin, {"spend^2"});
  bin.quantiles = 3;
  steps.insert(steps.end() - 1, bin);
  steps.insert(steps.end() - 1, Step(FeatureStepKind::kCross, {"plan", "spend^2"}));
  FeatureStepOptions power = Step(FeatureStepKind::kPower, {"spend^2"});
  power.exponent = 3;
  steps.insert(steps.begin() + 3, power);
  auto p = FeaturePipeline::Fit(steps, FrameFromDataset(d), &d.y);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::string json = p->ToJson();
  auto loaded = FeaturePipeline::FromJson(json);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->ToJson(), json);
  EXPECT_EQ(loaded->outputs(), p->outputs());
  const Dataset fresh = MixedData(50, 8);
  auto a = p->Transform(FrameFromDataset(fresh));
  auto b = loaded->Transform(FrameFromDataset(fresh));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->cols(), b->cols());
  for (Eigen::Index k = 0; k < a->size(); ++k) {
    const double u = a->data()[k], v = b->data()[k];
    ASSERT_TRUE((std::isnan(u) && std::isnan(v)) || u == v) << k;
  }
  EXPECT_FALSE(FeaturePipeline::FromJson("{\"format\":\"osprey-features/9\"}").ok());
  EXPECT_FALSE(FeaturePipeline::FromJson("not json").ok());
}

std::string Metadata(const std::string& kind, const std::string& task,
                     const std::string& extra_preprocessing) {
  return "{\"format_version\":1,\"kind\":\"" + kind + "\",\"task\":\"" + task +
         "\",\"model_file\":\"model.json\",\"inputs\":[{\"name\":\"spend\",\"type\":\"numeric\"},"
         "{\"name\":\"plan\",\"type\":\"categorical\"},{\"name\":\"review\",\"type\":\"text\"}],"
         "\"preprocessing\":{\"file\":\"pipeline.json\"" +
         extra_preprocessing + "}}";
}

TEST(ServedPipelineTest, LinearModelServesWhatTheTrainerPredicts) {
  const Dataset train_raw = MixedData(300, 11);
  auto p = FeaturePipeline::Fit(MixedSteps(), FrameFromDataset(train_raw), &train_raw.y);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto train = p->TransformDataset(train_raw);
  ASSERT_TRUE(train.ok());
  // The trainer's imputer runs after the pipeline: here spend and spend^2 (the only outputs
  // with missing values) are filled with 0, recorded as metadata "impute" per output column.
  std::vector<bool> filled(train->cols());
  std::string impute = ",\"impute\":[";
  for (size_t c = 0; c < train->cols(); ++c) {
    filled[c] = p->outputs()[c] == "spend" || p->outputs()[c] == "spend^2";
    impute += c == 0 ? "" : ",";
    impute += filled[c] ? "0" : "null";
  }
  impute += "]";
  auto fill = [&](Dataset* d) {
    for (Eigen::Index r = 0; r < d->x.rows(); ++r) {
      for (Eigen::Index c = 0; c < d->x.cols(); ++c) {
        if (filled[static_cast<size_t>(c)] && std::isnan(d->x(r, c))) d->x(r, c) = 0;
      }
    }
  };
  fill(&*train);
  LinearLearnerOptions lo;
  lo.predictor_type = PredictorType::kBinaryClassifier;
  lo.epochs = 5;
  auto model = FitLinearLearner(*train, nullptr, lo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();

  ModelArtifact artifact;
  artifact.name = "churn";
  artifact.version = "1";
  artifact.kind = "linear";
  artifact.metadata_json = Metadata("linear", "binary", impute);
  artifact.files["model.json"] = model->ToJson();
  artifact.files["pipeline.json"] = p->ToJson();
  auto served = WithFeaturePipeline(::osprey::models::LoadLinearModel)(artifact);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  ASSERT_EQ((*served)->inputs().size(), 3u);
  EXPECT_EQ((*served)->inputs()[2].type, FeatureType::kText);

  const Dataset test_raw = MixedData(80, 12);
  auto test = p->TransformDataset(test_raw);
  ASSERT_TRUE(test.ok());
  fill(&*test);
  const Matrix expected = model->Predict(test->x);
  const std::vector<FeatureRow> rows = RawRows(test_raw);
  auto preds = (*served)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  // The daemon's linear kind sums w·x in its own order: equal to the trainer's Eigen product
  // up to rounding (relative 1e-12), as the end-to-end serving-parity tests require.
  for (size_t r = 0; r < rows.size(); ++r) {
    const double want = expected(static_cast<Eigen::Index>(r), 0);
    EXPECT_NEAR((*preds)[r].score, want, 1e-12 * std::max(1.0, std::abs(want))) << r;
  }
  // Concurrent callers (each thread stems with its own libstemmer object) get the same.
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        auto again = (*served)->Predict(rows);
        if (!again.ok()) {
          ++mismatches[static_cast<size_t>(t)];
          continue;
        }
        for (size_t r = 0; r < rows.size(); ++r) {
          mismatches[static_cast<size_t>(t)] += (*again)[r].score != (*preds)[r].score;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
  // A category never seen and a numeric string are served; a non-number for spend is an error.
  std::vector<FeatureRow> odd{{std::string("12.5"), std::string("platinum"), std::string("ok")}};
  EXPECT_TRUE((*served)->Predict(odd).ok());
  std::vector<FeatureRow> bad{{std::string("lots"), std::string("gold"), std::string("ok")}};
  auto err = (*served)->Predict(bad);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "row 0, column 'spend': not a number: 'lots'");
  // Large requests run in parts; an error still names the row of the whole request.
  std::vector<FeatureRow> many(1000, odd[0]);
  many[700] = bad[0];
  auto late = (*served)->Predict(many);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().message(), "row 700, column 'spend': not a number: 'lots'");
  many[700] = odd[0];
  auto all = (*served)->Predict(many);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1000u);
  EXPECT_EQ((*all)[999].score, (*all)[0].score);
}

TEST(ServedPipelineTest, TreeLeavesAndXGBoostServeWhatTheTrainerPredicts) {
  const Dataset train_raw = MixedData(300, 21);
  std::vector<FeatureStepOptions> steps = MixedSteps();
  FeatureStepOptions leaves = Step(FeatureStepKind::kTreeLeaves, {"spend", "spend^2"});
  leaves.hyperparameters = {{"num_round", "3"}, {"max_depth", "2"},
                            {"objective", "binary:logistic"}};
  steps.insert(steps.end() - 1, leaves);
  auto p = FeaturePipeline::Fit(steps, FrameFromDataset(train_raw), &train_raw.y);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto& outs = p->outputs();
  EXPECT_NE(std::find_if(outs.begin(), outs.end(),
                         [](const std::string& n) { return n.rfind("leaf_t2=", 0) == 0; }),
            outs.end());
  auto train = p->TransformDataset(train_raw);
  ASSERT_TRUE(train.ok());
  XGBoostOptions xo;
  xo.num_round = 5;
  xo.booster_params = {{"objective", "binary:logistic"}, {"max_depth", "3"}};
  auto model = FitXGBoost(*train, nullptr, xo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();

  ModelArtifact artifact;
  artifact.name = "churn";
  artifact.version = "2";
  artifact.kind = "xgboost";
  artifact.metadata_json = Metadata("xgboost", "binary", "");
  auto json = (*model)->SaveJson();
  ASSERT_TRUE(json.ok());
  artifact.files["model.json"] = *json;
  artifact.files["pipeline.json"] = p->ToJson();
  auto served = WithFeaturePipeline(::osprey::models::LoadXgboostModel)(artifact);
  ASSERT_TRUE(served.ok()) << served.status().ToString();

  const Dataset test_raw = MixedData(60, 22);
  auto test = p->TransformDataset(test_raw);
  ASSERT_TRUE(test.ok());
  auto expected = (*model)->Predict(test->x);
  ASSERT_TRUE(expected.ok());
  auto preds = (*served)->Predict(RawRows(test_raw));
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  for (size_t r = 0; r < preds->size(); ++r) {
    EXPECT_EQ((*preds)[r].score, (*expected)(static_cast<Eigen::Index>(r), 0)) << r;
  }
  auto none = (*served)->Predict({});
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST(ServedPipelineTest, ArtifactsWithoutAPipelineAndBrokenOnesAreReported) {
  ModelArtifact artifact;
  artifact.name = "m";
  artifact.version = "1";
  artifact.kind = "linear";
  artifact.metadata_json = "{\"inputs\":[]}";
  bool inner_called = false;
  ModelLoader inner = [&](const ModelArtifact&) -> Result<std::unique_ptr<const ServedModel>> {
    inner_called = true;
    return Status::NotFound("inner");
  };
  EXPECT_EQ(WithFeaturePipeline(inner)(artifact).status().message(), "inner");
  EXPECT_TRUE(inner_called);
  inner_called = false;
  artifact.metadata_json = Metadata("linear", "binary", "");
  auto missing = WithFeaturePipeline(inner)(artifact);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "model 'm' version 1: preprocessing file 'pipeline.json' is missing");
  artifact.files["pipeline.json"] = "{\"format\":\"osprey-features/1\"";
  EXPECT_EQ(WithFeaturePipeline(inner)(artifact).status().code(), Status::Code::kCorruption);
  EXPECT_FALSE(inner_called);
}

}  // namespace
}  // namespace osprey::models::ml::features
