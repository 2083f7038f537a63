#include "models/ml/features/pipeline.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include <simdjson.h>

#include "models/ml/features/text.h"
#include "models/ml/hyperparameters.h"
#include "models/ml/xgboost.h"

namespace osprey::models::ml::features {

namespace {

namespace dom = simdjson::dom;
using config::FeatureStepKind;
using config::FeatureStepOptions;
using Eigen::Index;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string_view TypeWord(FeatureType t) {
  switch (t) {
    case FeatureType::kNumeric: return "numeric";
    case FeatureType::kCategorical: return "categorical";
    case FeatureType::kText: return "text";
  }
  return "?";
}

std::optional<FeatureType> ParseTypeWord(std::string_view w) {
  if (w == "numeric") return FeatureType::kNumeric;
  if (w == "categorical") return FeatureType::kCategorical;
  if (w == "text") return FeatureType::kText;
  return std::nullopt;
}

std::string NumberText(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// Column indices for `names`, each required to exist with type `type`. With no names, every
// column of that type (for steps whose default is "all").
Result<std::vector<std::string>> Resolve(const Frame& f, const std::vector<std::string>& names,
                                         FeatureType type, bool all_by_default) {
  std::vector<std::string> out;
  if (names.empty()) {
    if (!all_by_default) return Status::InvalidArgument("name its columns");
    for (const auto& c : f.columns) {
      if (c.type == type) out.push_back(c.name);
    }
    return out;
  }
  for (const auto& n : names) {
    const int idx = f.Find(n);
    if (idx < 0) return Status::InvalidArgument("no column '" + n + "'");
    const FrameColumn& c = f.columns[static_cast<size_t>(idx)];
    if (c.type != type) {
      return Status::InvalidArgument("column '" + n + "' is " + std::string(TypeWord(c.type)) +
                                     ", expected " + std::string(TypeWord(type)));
    }
    out.push_back(n);
  }
  return out;
}

// The column named `name` of type `type`, or an error (a frame not matching the fit).
Result<FrameColumn*> Need(Frame* f, const std::string& name, FeatureType type) {
  const int idx = f->Find(name);
  if (idx < 0 || f->columns[static_cast<size_t>(idx)].type != type) {
    return Status::InvalidArgument("column '" + name + "' missing or of another type");
  }
  return &f->columns[static_cast<size_t>(idx)];
}

void Strings(JsonWriter& j, std::string_view key, const std::vector<std::string>& v) {
  j.Key(key).BeginArray();
  for (const auto& s : v) j.String(s);
  j.EndArray();
}

void Doubles(JsonWriter& j, std::string_view key, const std::vector<double>& v) {
  j.Key(key).BeginArray();
  for (double d : v) j.Double(d);
  j.EndArray();
}

// ---- JSON reading helpers (errors are Corruption: the file was written by ToJson).

Status Bad(std::string_view what) {
  return Status::Corruption(std::string(kPipelineFormat) + ": " + std::string(what));
}

Result<std::vector<std::string>> GetStrings(dom::object o, std::string_view key) {
  dom::array a;
  if (o[key].get(a)) return Bad("missing '" + std::string(key) + "'");
  std::vector<std::string> out;
  for (dom::element e : a) {
    std::string_view s;
    if (e.get(s)) return Bad("'" + std::string(key) + "' must hold strings");
    out.emplace_back(s);
  }
  return out;
}

Result<std::vector<double>> GetDoubles(dom::element e, std::string_view what) {
  dom::array a;
  if (e.get(a)) return Bad(std::string(what) + " must be an array");
  std::vector<double> out;
  for (dom::element v : a) {
    double d = kNaN;
    if (!v.is_null() && v.get(d)) return Bad(std::string(what) + " must hold numbers");
    out.push_back(d);
  }
  return out;
}

Result<double> GetDouble(dom::object o, std::string_view key) {
  double d = 0;
  if (o[key].get(d)) return Bad("missing number '" + std::string(key) + "'");
  return d;
}

Result<bool> GetBool(dom::object o, std::string_view key) {
  bool b = false;
  if (o[key].get(b)) return Bad("missing boolean '" + std::string(key) + "'");
  return b;
}

// ---- steps ----------------------------------------------------------------------------------

// In-place numeric maps: standardize, log, power.
class NumericMapStep : public FeatureStep {
 public:
  Status Transform(Frame* f) const final {
    for (size_t k = 0; k < columns_.size(); ++k) {
      OSPREY_ASSIGN_OR_RETURN(FrameColumn * c, Need(f, columns_[k], FeatureType::kNumeric));
      for (double& v : c->numbers) {
        if (!std::isnan(v)) v = Map(k, v);
      }
    }
    return Status::Ok();
  }

 protected:
  virtual double Map(size_t column, double v) const = 0;
  std::vector<std::string> columns_;
};

class StandardizeStep final : public NumericMapStep {
 public:
  std::string_view name() const override { return "standardize"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kNumeric, true));
    for (const auto& n : columns_) {
      const auto& values = f.columns[static_cast<size_t>(f.Find(n))].numbers;
      double sum = 0, sq = 0;
      size_t count = 0;
      for (double v : values) {
        if (std::isnan(v)) continue;
        sum += v;
        ++count;
      }
      const double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
      for (double v : values) {
        if (!std::isnan(v)) sq += (v - mean) * (v - mean);
      }
      const double sd = count > 0 ? std::sqrt(sq / static_cast<double>(count)) : 0.0;
      mean_.push_back(mean);
      scale_.push_back(sd > 0 ? sd : 1.0);  // a constant column stays centred at 0
    }
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    Doubles(j, "mean", mean_);
    Doubles(j, "scale", scale_);
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<StandardizeStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    OSPREY_ASSIGN_OR_RETURN(s->mean_, GetDoubles(o["mean"], "mean"));
    OSPREY_ASSIGN_OR_RETURN(s->scale_, GetDoubles(o["scale"], "scale"));
    if (s->mean_.size() != s->columns_.size() || s->scale_.size() != s->columns_.size()) {
      return Bad("standardize: one mean and scale per column");
    }
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  double Map(size_t k, double v) const override { return (v - mean_[k]) / scale_[k]; }
  std::vector<double> mean_, scale_;
};

class LogStep final : public NumericMapStep {
 public:
  explicit LogStep(double offset = 1.0) : offset_(offset) {}
  std::string_view name() const override { return "log"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kNumeric, true));
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    j.Key("offset").Double(offset_);
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    OSPREY_ASSIGN_OR_RETURN(double offset, GetDouble(o, "offset"));
    auto s = std::make_unique<LogStep>(offset);
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  double Map(size_t, double v) const override {
    return v + offset_ > 0 ? std::log(v + offset_) : kNaN;  // outside the domain: missing
  }
  double offset_;
};

class PowerStep final : public NumericMapStep {
 public:
  explicit PowerStep(double exponent = 2.0) : exponent_(exponent) {}
  std::string_view name() const override { return "power"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kNumeric, true));
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    j.Key("exponent").Double(exponent_);
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    OSPREY_ASSIGN_OR_RETURN(double e, GetDouble(o, "exponent"));
    auto s = std::make_unique<PowerStep>(e);
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  double Map(size_t, double v) const override {
    const double p = std::pow(v, exponent_);
    return std::isfinite(p) ? p : kNaN;  // e.g. a negative base to a fractional power
  }
  double exponent_;
};

// Appends numeric columns computed from existing ones: polynomial, quadratic, numeric cross.
// Each output is the product of its factors (column names, repeated for powers).
class ProductStep final : public FeatureStep {
 public:
  explicit ProductStep(std::string kind) : kind_(std::move(kind)) {}
  std::string_view name() const override { return kind_; }
  Status Fit(const Frame& f, const Vector*) override {
    const bool cross = kind_ == "cross";
    OSPREY_ASSIGN_OR_RETURN(std::vector<std::string> cols,
                            Resolve(f, requested_, FeatureType::kNumeric, !cross));
    if (kind_ == "polynomial") {
      for (const auto& c : cols) {
        for (int p = 2; p <= degree_; ++p) {
          outputs_.push_back(c + "^" + std::to_string(p));
          factors_.emplace_back(static_cast<size_t>(p), c);
        }
      }
    } else if (cross) {
      outputs_.push_back(cols[0] + "*" + cols[1]);
      factors_.push_back({cols[0], cols[1]});
    } else {  // quadratic
      for (size_t a = 0; a < cols.size(); ++a) {
        for (size_t b = a; b < cols.size(); ++b) {
          outputs_.push_back(a == b ? cols[a] + "^2" : cols[a] + "*" + cols[b]);
          factors_.push_back({cols[a], cols[b]});
        }
      }
    }
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    for (size_t k = 0; k < outputs_.size(); ++k) {
      FrameColumn out{outputs_[k], FeatureType::kNumeric, std::vector<double>(f->rows, 1.0), {}};
      for (const auto& factor : factors_[k]) {
        OSPREY_ASSIGN_OR_RETURN(FrameColumn * c, Need(f, factor, FeatureType::kNumeric));
        for (size_t r = 0; r < f->rows; ++r) out.numbers[r] *= c->numbers[r];
      }
      f->columns.push_back(std::move(out));
    }
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "outputs", outputs_);
    j.Key("factors").BeginArray();
    for (const auto& fs : factors_) {
      j.BeginArray();
      for (const auto& s : fs) j.String(s);
      j.EndArray();
    }
    j.EndArray();
  }
  static Result<std::unique_ptr<FeatureStep>> Load(std::string kind, dom::object o) {
    auto s = std::make_unique<ProductStep>(std::move(kind));
    OSPREY_ASSIGN_OR_RETURN(s->outputs_, GetStrings(o, "outputs"));
    dom::array factors;
    if (o["factors"].get(factors)) return Bad("missing 'factors'");
    for (dom::element e : factors) {
      dom::array names;
      if (e.get(names)) return Bad("factors must be arrays of names");
      std::vector<std::string> list;
      for (dom::element n : names) {
        std::string_view name;
        if (n.get(name)) return Bad("factors must be arrays of names");
        list.emplace_back(name);
      }
      s->factors_.push_back(std::move(list));
    }
    if (s->factors_.size() != s->outputs_.size()) return Bad("one factor list per output");
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;
  int degree_ = 2;

 private:
  std::string kind_;
  std::vector<std::string> outputs_;
  std::vector<std::vector<std::string>> factors_;
};

// Categorical × categorical: a new categorical column "a&b" with values "u&v".
class CategoryCrossStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "cross"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kCategorical, false));
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    OSPREY_ASSIGN_OR_RETURN(FrameColumn * a, Need(f, columns_[0], FeatureType::kCategorical));
    OSPREY_ASSIGN_OR_RETURN(FrameColumn * b, Need(f, columns_[1], FeatureType::kCategorical));
    FrameColumn out{columns_[0] + "&" + columns_[1], FeatureType::kCategorical, {}, {}};
    out.strings.resize(f->rows);
    for (size_t r = 0; r < f->rows; ++r) {
      if (a->strings[r] && b->strings[r]) out.strings[r] = *a->strings[r] + "&" + *b->strings[r];
    }
    f->columns.push_back(std::move(out));
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override { Strings(j, "columns", columns_); }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<CategoryCrossStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    if (s->columns_.size() != 2) return Bad("cross: two columns");
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  std::vector<std::string> columns_;
};

// Numeric -> categorical bin number: "0" below the first edge, "k" from edge k-1 on.
class BinStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "bin"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kNumeric, true));
    for (const auto& n : columns_) {
      if (!fixed_edges_.empty()) {
        edges_.push_back(fixed_edges_);
        continue;
      }
      std::vector<double> v;
      for (double x : f.columns[static_cast<size_t>(f.Find(n))].numbers) {
        if (!std::isnan(x)) v.push_back(x);
      }
      std::sort(v.begin(), v.end());
      edges_.push_back(QuantileEdges(v, quantiles_));
    }
    return Status::Ok();
  }
  // Edges at the j/q quantiles (j = 1..q-1; linear interpolation between order statistics),
  // duplicates removed. REQUIRES: `sorted` ascending.
  static std::vector<double> QuantileEdges(const std::vector<double>& sorted, int q) {
    std::vector<double> edges;
    if (sorted.empty()) return edges;
    for (int j = 1; j < q; ++j) {
      const double pos = static_cast<double>(j) / q * static_cast<double>(sorted.size() - 1);
      const auto lo = static_cast<size_t>(std::floor(pos));
      const size_t hi = std::min(lo + 1, sorted.size() - 1);
      const double e = sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
      if (edges.empty() || e > edges.back()) edges.push_back(e);
    }
    return edges;
  }
  Status Transform(Frame* f) const override {
    for (size_t k = 0; k < columns_.size(); ++k) {
      OSPREY_ASSIGN_OR_RETURN(FrameColumn * c, Need(f, columns_[k], FeatureType::kNumeric));
      c->type = FeatureType::kCategorical;
      c->strings.assign(f->rows, std::nullopt);
      for (size_t r = 0; r < f->rows; ++r) {
        const double v = c->numbers[r];
        if (std::isnan(v)) continue;
        const auto bin = std::upper_bound(edges_[k].begin(), edges_[k].end(), v) - edges_[k].begin();
        c->strings[r] = std::to_string(bin);
      }
      c->numbers.clear();
    }
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    j.Key("edges").BeginArray();
    for (const auto& e : edges_) {
      j.BeginArray();
      for (double d : e) j.Double(d);
      j.EndArray();
    }
    j.EndArray();
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<BinStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    dom::array edges;
    if (o["edges"].get(edges)) return Bad("bin: missing 'edges'");
    for (dom::element e : edges) {
      OSPREY_ASSIGN_OR_RETURN(std::vector<double> list, GetDoubles(e, "bin edges"));
      s->edges_.push_back(std::move(list));
    }
    if (s->edges_.size() != s->columns_.size()) return Bad("bin: one edge list per column");
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;
  std::vector<double> fixed_edges_;
  int quantiles_ = 0;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> edges_;
};

// Replaces each of `columns_` (at its position) by the numeric columns `make(k)` produces.
template <typename Make>
Status ReplaceColumns(Frame* f, const std::vector<std::string>& columns, Make make) {
  std::vector<FrameColumn> out;
  out.reserve(f->columns.size());
  std::vector<bool> done(columns.size(), false);
  for (auto& c : f->columns) {
    auto it = std::find(columns.begin(), columns.end(), c.name);
    if (it == columns.end()) {
      out.push_back(std::move(c));
      continue;
    }
    const auto k = static_cast<size_t>(it - columns.begin());
    done[k] = true;
    OSPREY_RETURN_IF_ERROR(make(k, c, &out));
  }
  for (size_t k = 0; k < columns.size(); ++k) {
    if (!done[k]) return Status::InvalidArgument("column '" + columns[k] + "' missing");
  }
  f->columns = std::move(out);
  return Status::Ok();
}

class OneHotStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "one_hot"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kCategorical, true));
    for (const auto& n : columns_) {
      std::set<std::string> seen;
      for (const auto& s : f.columns[static_cast<size_t>(f.Find(n))].strings) {
        if (s) seen.insert(*s);
      }
      categories_.emplace_back(seen.begin(), seen.end());
    }
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    const size_t rows = f->rows;
    return ReplaceColumns(f, columns_, [&](size_t k, const FrameColumn& c,
                                           std::vector<FrameColumn>* out) -> Status {
      if (c.type != FeatureType::kCategorical) {
        return Status::InvalidArgument("column '" + c.name + "' is not categorical");
      }
      const auto& cats = categories_[k];
      const size_t first = out->size();
      for (const auto& v : cats) {
        out->push_back({c.name + "=" + v, FeatureType::kNumeric, std::vector<double>(rows, 0.0), {}});
      }
      for (size_t r = 0; r < rows; ++r) {
        if (!c.strings[r]) continue;
        auto it = std::lower_bound(cats.begin(), cats.end(), *c.strings[r]);
        if (it != cats.end() && *it == *c.strings[r]) {
          (*out)[first + static_cast<size_t>(it - cats.begin())].numbers[r] = 1.0;
        }
      }
      return Status::Ok();
    });
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    j.Key("categories").BeginArray();
    for (const auto& cats : categories_) {
      j.BeginArray();
      for (const auto& s : cats) j.String(s);
      j.EndArray();
    }
    j.EndArray();
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<OneHotStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    dom::array all;
    if (o["categories"].get(all)) return Bad("one_hot: missing 'categories'");
    for (dom::element e : all) {
      dom::array list;
      if (e.get(list)) return Bad("one_hot: categories must be arrays of strings");
      std::vector<std::string> cats;
      for (dom::element v : list) {
        std::string_view sv;
        if (v.get(sv)) return Bad("one_hot: categories must be arrays of strings");
        cats.emplace_back(sv);
      }
      if (!std::is_sorted(cats.begin(), cats.end())) return Bad("one_hot: categories unsorted");
      s->categories_.push_back(std::move(cats));
    }
    if (s->categories_.size() != s->columns_.size()) return Bad("one_hot: one list per column");
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> categories_;  // sorted, per column
};

class TextStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "text"; }
  Status Fit(const Frame& f, const Vector*) override {
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kText, false));
    for (const auto& n : columns_) {
      models_.push_back(TfIdf::Fit(f.columns[static_cast<size_t>(f.Find(n))].strings, options_));
    }
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    const size_t rows = f->rows;
    return ReplaceColumns(f, columns_, [&](size_t k, const FrameColumn& c,
                                           std::vector<FrameColumn>* out) -> Status {
      if (c.type != FeatureType::kText) {
        return Status::InvalidArgument("column '" + c.name + "' is not text");
      }
      const TfIdf& m = models_[k];
      std::vector<double> values;
      values.reserve(rows * m.terms().size());
      m.Transform(c.strings, &values);
      const size_t width = m.terms().size();
      for (size_t t = 0; t < width; ++t) {
        FrameColumn col{c.name + ":" + m.terms()[t], FeatureType::kNumeric, {}, {}};
        col.numbers.resize(rows);
        for (size_t r = 0; r < rows; ++r) col.numbers[r] = values[r * width + t];
        out->push_back(std::move(col));
      }
      return Status::Ok();
    });
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    const TfIdfOptions& o = options_;
    j.Key("lowercase").Bool(o.tokenizer.lowercase);
    j.Key("strip_punctuation").Bool(o.tokenizer.strip_punctuation);
    j.Key("stop_words").Bool(o.tokenizer.stop_words);
    j.Key("stem").Bool(o.tokenizer.stem);
    j.Key("ngram_max").Int(o.tokenizer.ngram_max);
    j.Key("sublinear_tf").Bool(o.sublinear_tf);
    j.Key("smooth_idf").Bool(o.smooth_idf);
    j.Key("l2_normalize").Bool(o.l2_normalize);
    j.Key("vocabularies").BeginArray();
    for (const auto& m : models_) {
      j.BeginObject();
      Strings(j, "terms", m.terms());
      Doubles(j, "idf", m.idf());
      j.EndObject();
    }
    j.EndArray();
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<TextStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    TfIdfOptions& t = s->options_;
    OSPREY_ASSIGN_OR_RETURN(t.tokenizer.lowercase, GetBool(o, "lowercase"));
    OSPREY_ASSIGN_OR_RETURN(t.tokenizer.strip_punctuation, GetBool(o, "strip_punctuation"));
    OSPREY_ASSIGN_OR_RETURN(t.tokenizer.stop_words, GetBool(o, "stop_words"));
    OSPREY_ASSIGN_OR_RETURN(t.tokenizer.stem, GetBool(o, "stem"));
    int64_t ngram = 0;
    if (o["ngram_max"].get(ngram) || ngram < 1 || ngram > 16) return Bad("text: ngram_max");
    t.tokenizer.ngram_max = static_cast<int>(ngram);
    OSPREY_ASSIGN_OR_RETURN(t.sublinear_tf, GetBool(o, "sublinear_tf"));
    OSPREY_ASSIGN_OR_RETURN(t.smooth_idf, GetBool(o, "smooth_idf"));
    OSPREY_ASSIGN_OR_RETURN(t.l2_normalize, GetBool(o, "l2_normalize"));
    dom::array vocab;
    if (o["vocabularies"].get(vocab)) return Bad("text: missing 'vocabularies'");
    for (dom::element e : vocab) {
      dom::object v;
      if (e.get(v)) return Bad("text: a vocabulary must be an object");
      OSPREY_ASSIGN_OR_RETURN(std::vector<std::string> terms, GetStrings(v, "terms"));
      OSPREY_ASSIGN_OR_RETURN(std::vector<double> idf, GetDoubles(v["idf"], "idf"));
      if (idf.size() != terms.size() || !std::is_sorted(terms.begin(), terms.end()) ||
          std::adjacent_find(terms.begin(), terms.end()) != terms.end()) {
        return Bad("text: terms must be sorted and unique, one idf each");
      }
      s->models_.emplace_back(t, std::move(terms), std::move(idf));
    }
    if (s->models_.size() != s->columns_.size()) return Bad("text: one vocabulary per column");
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;
  TfIdfOptions options_;

 private:
  std::vector<std::string> columns_;
  std::vector<TfIdf> models_;
};

// Leaf indices of a gradient-boosted ensemble fitted on the label: one categorical column
// "leaf_t<k>" per tree (values: the leaf's node id), appended.
class TreeLeavesStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "tree_leaves"; }
  Status Fit(const Frame& f, const Vector* label) override {
    if (label == nullptr) return Status::InvalidArgument("tree_leaves needs a label");
    OSPREY_ASSIGN_OR_RETURN(columns_, Resolve(f, requested_, FeatureType::kNumeric, true));
    if (columns_.empty()) return Status::InvalidArgument("tree_leaves: no numeric columns");
    Hyperparameters hp{{"num_round", "10"}, {"max_depth", "3"}};
    for (const auto& [k, v] : hyperparameters_) hp[k] = v;
    std::vector<HyperparameterProblem> problems;
    auto options = XGBoostOptions::FromHyperparameters(hp, &problems);
    if (!options.ok()) {
      std::string text;
      for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p.key + ": " + p.message;
      return Status::InvalidArgument("tree_leaves: " +
                                     (text.empty() ? options.status().message() : text));
    }
    Dataset d;
    OSPREY_ASSIGN_OR_RETURN(d.x, Gather(f));
    d.has_label = true;
    d.y = *label;
    for (const auto& n : columns_) d.columns.push_back({n, ColumnType::kNumeric, {}});
    OSPREY_ASSIGN_OR_RETURN(model_, FitXGBoost(d, nullptr, *options));
    OSPREY_ASSIGN_OR_RETURN(Matrix leaves, model_->PredictLeaves(d.x.topRows(std::min<Index>(1, d.x.rows()))));
    trees_ = static_cast<size_t>(leaves.cols());
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    OSPREY_ASSIGN_OR_RETURN(Matrix x, Gather(*f));
    Matrix leaves(0, static_cast<Index>(trees_));
    if (x.rows() > 0) {
      OSPREY_ASSIGN_OR_RETURN(leaves, model_->PredictLeaves(x));
    }
    if (static_cast<size_t>(leaves.cols()) != trees_ || leaves.rows() != x.rows()) {
      return Status::Internal("tree_leaves: unexpected leaf matrix shape");
    }
    for (size_t t = 0; t < trees_; ++t) {
      FrameColumn c{"leaf_t" + std::to_string(t), FeatureType::kCategorical, {}, {}};
      c.strings.resize(f->rows);
      for (size_t r = 0; r < f->rows; ++r) {
        c.strings[r] = std::to_string(
            std::lround(leaves(static_cast<Index>(r), static_cast<Index>(t))));
      }
      f->columns.push_back(std::move(c));
    }
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override {
    Strings(j, "columns", columns_);
    j.Key("trees").Int(static_cast<int64_t>(trees_));
    auto json = model_->SaveJson();
    j.Key("model").String(json.ok() ? *json : "");
  }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<TreeLeavesStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    int64_t trees = 0;
    std::string_view model;
    if (o["trees"].get(trees) || trees < 1 || o["model"].get(model)) {
      return Bad("tree_leaves: 'trees' and 'model' needed");
    }
    s->trees_ = static_cast<size_t>(trees);
    OSPREY_ASSIGN_OR_RETURN(s->model_, XGBoostModel::Load(model, ModelTask::kRegression));
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;
  std::map<std::string, std::string> hyperparameters_;

 private:
  Result<Matrix> Gather(const Frame& f) const {
    Matrix x(static_cast<Index>(f.rows), static_cast<Index>(columns_.size()));
    for (size_t k = 0; k < columns_.size(); ++k) {
      const int idx = f.Find(columns_[k]);
      if (idx < 0 || f.columns[static_cast<size_t>(idx)].type != FeatureType::kNumeric) {
        return Status::InvalidArgument("column '" + columns_[k] + "' missing or not numeric");
      }
      const auto& v = f.columns[static_cast<size_t>(idx)].numbers;
      for (size_t r = 0; r < f.rows; ++r) x(static_cast<Index>(r), static_cast<Index>(k)) = v[r];
    }
    return x;
  }
  std::vector<std::string> columns_;
  size_t trees_ = 0;
  std::unique_ptr<XGBoostModel> model_;
};

class DropStep final : public FeatureStep {
 public:
  std::string_view name() const override { return "drop"; }
  Status Fit(const Frame& f, const Vector*) override {
    for (const auto& n : requested_) {
      if (f.Find(n) < 0) return Status::InvalidArgument("no column '" + n + "'");
    }
    if (requested_.empty()) return Status::InvalidArgument("name its columns");
    columns_ = requested_;
    return Status::Ok();
  }
  Status Transform(Frame* f) const override {
    for (const auto& n : columns_) {
      const int idx = f->Find(n);
      if (idx < 0) return Status::InvalidArgument("column '" + n + "' missing");
      f->columns.erase(f->columns.begin() + idx);
    }
    return Status::Ok();
  }
  void Save(JsonWriter& j) const override { Strings(j, "columns", columns_); }
  static Result<std::unique_ptr<FeatureStep>> Load(dom::object o) {
    auto s = std::make_unique<DropStep>();
    OSPREY_ASSIGN_OR_RETURN(s->columns_, GetStrings(o, "columns"));
    return std::unique_ptr<FeatureStep>(std::move(s));
  }
  std::vector<std::string> requested_;

 private:
  std::vector<std::string> columns_;
};

// An unfitted step for `o`; a cross is numeric or categorical by its first column's type.
Result<std::unique_ptr<FeatureStep>> MakeStep(const FeatureStepOptions& o, const Frame& f) {
  switch (o.kind) {
    case FeatureStepKind::kStandardize: {
      auto s = std::make_unique<StandardizeStep>();
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kLog: {
      auto s = std::make_unique<LogStep>(o.offset);
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kPower: {
      auto s = std::make_unique<PowerStep>(o.exponent);
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kPolynomial:
    case FeatureStepKind::kQuadratic: {
      if (o.kind == FeatureStepKind::kPolynomial && o.degree < 2) {
        return Status::InvalidArgument("degree must be >= 2");
      }
      auto s = std::make_unique<ProductStep>(o.kind == FeatureStepKind::kPolynomial ? "polynomial"
                                                                                   : "quadratic");
      s->requested_ = o.columns;
      s->degree_ = o.degree;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kCross: {
      if (o.columns.size() != 2) return Status::InvalidArgument("cross takes two columns");
      const int first = f.Find(o.columns[0]);
      if (first >= 0 && f.columns[static_cast<size_t>(first)].type == FeatureType::kCategorical) {
        auto s = std::make_unique<CategoryCrossStep>();
        s->requested_ = o.columns;
        return std::unique_ptr<FeatureStep>(std::move(s));
      }
      auto s = std::make_unique<ProductStep>("cross");
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kBin: {
      if (o.edges.empty() == (o.quantiles == 0)) {
        return Status::InvalidArgument("give either edges or quantiles");
      }
      if (o.edges.empty() && o.quantiles < 2) return Status::InvalidArgument("quantiles must be >= 2");
      for (size_t k = 1; k < o.edges.size(); ++k) {
        if (!(o.edges[k] > o.edges[k - 1])) {
          return Status::InvalidArgument("edges must be strictly increasing");
        }
      }
      auto s = std::make_unique<BinStep>();
      s->requested_ = o.columns;
      s->fixed_edges_ = o.edges;
      s->quantiles_ = o.quantiles;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kOneHot: {
      auto s = std::make_unique<OneHotStep>();
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kText: {
      if (o.ngram_max < 1 || o.ngram_max > 16) return Status::InvalidArgument("ngram_max in [1, 16]");
      if (!(o.min_df >= 0 && o.min_df <= o.max_df && o.max_df <= 1)) {
        return Status::InvalidArgument("need 0 <= min_df <= max_df <= 1");
      }
      auto s = std::make_unique<TextStep>();
      s->requested_ = o.columns;
      TfIdfOptions& t = s->options_;
      t.tokenizer = {o.lowercase, o.strip_punctuation, o.stop_words, o.stem, o.ngram_max};
      t.sublinear_tf = o.sublinear_tf;
      t.smooth_idf = o.smooth_idf;
      t.l2_normalize = o.l2_normalize;
      t.min_df = o.min_df;
      t.max_df = o.max_df;
      t.max_terms = static_cast<size_t>(std::max(0, o.max_terms));
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kTreeLeaves: {
      auto s = std::make_unique<TreeLeavesStep>();
      s->requested_ = o.columns;
      s->hyperparameters_ = o.hyperparameters;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
    case FeatureStepKind::kDrop: {
      auto s = std::make_unique<DropStep>();
      s->requested_ = o.columns;
      return std::unique_ptr<FeatureStep>(std::move(s));
    }
  }
  return Status::InvalidArgument("unknown step");
}

Result<std::unique_ptr<FeatureStep>> LoadStep(dom::object o) {
  std::string_view kind;
  if (o["step"].get(kind)) return Bad("a step without 'step'");
  if (kind == "standardize") return StandardizeStep::Load(o);
  if (kind == "log") return LogStep::Load(o);
  if (kind == "power") return PowerStep::Load(o);
  if (kind == "polynomial" || kind == "quadratic") return ProductStep::Load(std::string(kind), o);
  if (kind == "cross") {
    // Numeric crosses are products (with "outputs"); categorical ones name two columns.
    dom::array outputs;
    if (!o["outputs"].get(outputs)) return ProductStep::Load("cross", o);
    return CategoryCrossStep::Load(o);
  }
  if (kind == "bin") return BinStep::Load(o);
  if (kind == "one_hot") return OneHotStep::Load(o);
  if (kind == "text") return TextStep::Load(o);
  if (kind == "tree_leaves") return TreeLeavesStep::Load(o);
  if (kind == "drop") return DropStep::Load(o);
  return Bad("unknown step '" + std::string(kind) + "'");
}

std::string StepPlace(size_t k, const FeatureStepOptions& o) {
  std::string where = "features[" + std::to_string(k) + "]";
  if (o.location.line > 0) where = o.location.ToString() + ": " + where;
  return where;
}

}  // namespace

int Frame::Find(std::string_view name) const {
  for (size_t idx = 0; idx < columns.size(); ++idx) {
    if (columns[idx].name == name) return static_cast<int>(idx);
  }
  return -1;
}

Frame FrameFromDataset(const Dataset& data) {
  Frame f;
  f.rows = data.rows();
  for (size_t c = 0; c < data.cols(); ++c) {
    const Column& col = data.columns[c];
    FrameColumn fc;
    fc.name = col.name;
    const auto ci = static_cast<Index>(c);
    if (col.type == ColumnType::kNumeric) {
      fc.type = FeatureType::kNumeric;
      fc.numbers.resize(f.rows);
      for (size_t r = 0; r < f.rows; ++r) fc.numbers[r] = data.x(static_cast<Index>(r), ci);
    } else {
      fc.type = col.type == ColumnType::kText ? FeatureType::kText : FeatureType::kCategorical;
      fc.strings.resize(f.rows);
      for (size_t r = 0; r < f.rows; ++r) {
        const double code = data.x(static_cast<Index>(r), ci);
        if (std::isnan(code)) continue;
        const auto k = static_cast<size_t>(code);
        if (k < col.categories.size()) fc.strings[r] = col.categories[k];
      }
    }
    f.columns.push_back(std::move(fc));
  }
  return f;
}

Result<Frame> FrameFromRows(std::span<const FeatureRow> rows,
                            const std::vector<FeatureSpec>& inputs, size_t first_row) {
  Frame f;
  f.rows = rows.size();
  for (const auto& in : inputs) {
    FrameColumn c{in.name, in.type, {}, {}};
    if (in.type == FeatureType::kNumeric) {
      c.numbers.resize(f.rows, kNaN);
    } else {
      c.strings.resize(f.rows);
    }
    f.columns.push_back(std::move(c));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != inputs.size()) {
      return Status::InvalidArgument("row " + std::to_string(first_row + r) + ": " +
                                     std::to_string(rows[r].size()) + " values, expected " +
                                     std::to_string(inputs.size()));
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      const FeatureValue& v = rows[r][k];
      FrameColumn& c = f.columns[k];
      if (std::holds_alternative<std::monostate>(v)) continue;
      if (c.type == FeatureType::kNumeric) {
        if (const double* d = std::get_if<double>(&v)) {
          if (!std::isfinite(*d)) {
            return Status::InvalidArgument("row " + std::to_string(first_row + r) + ", column '" + c.name +
                                           "': not a finite number");
          }
          c.numbers[r] = *d;
          continue;
        }
        const std::string& s = std::get<std::string>(v);
        double d = kNaN;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) {
          if (IsMissingToken(s)) continue;
          return Status::InvalidArgument("row " + std::to_string(first_row + r) + ", column '" + c.name +
                                         "': not a number: '" + s + "'");
        }
        c.numbers[r] = d;
      } else if (const double* d = std::get_if<double>(&v)) {
        c.strings[r] = NumberText(*d);
      } else {
        const std::string& s = std::get<std::string>(v);
        // As the trainer's parsers read them: missing tokens (NA, null, ?, ...) are missing.
        if (IsMissingToken(s)) continue;
        c.strings[r] = s;
      }
    }
  }
  return f;
}

FeaturePipeline::FeaturePipeline() = default;
FeaturePipeline::~FeaturePipeline() = default;
FeaturePipeline::FeaturePipeline(FeaturePipeline&&) noexcept = default;
FeaturePipeline& FeaturePipeline::operator=(FeaturePipeline&&) noexcept = default;

Result<FeaturePipeline> FeaturePipeline::Fit(const std::vector<config::FeatureStepOptions>& steps,
                                             const Frame& train, const Vector* label) {
  FeaturePipeline p;
  for (const auto& c : train.columns) p.inputs_.push_back({c.name, c.type});
  Frame f = train;
  for (size_t k = 0; k < steps.size(); ++k) {
    auto fail = [&](const Status& st) {
      return Status::InvalidArgument(StepPlace(k, steps[k]) + ": " + st.message());
    };
    auto step = MakeStep(steps[k], f);
    if (!step.ok()) return fail(step.status());
    if (Status st = (*step)->Fit(f, label); !st.ok()) return fail(st);
    if (Status st = (*step)->Transform(&f); !st.ok()) return fail(st);
    p.steps_.push_back(std::move(*step));
    std::set<std::string_view> names;
    for (const auto& c : f.columns) {
      if (!names.insert(c.name).second) {
        return fail(Status::InvalidArgument("two columns are named '" + c.name + "'"));
      }
    }
  }
  for (const auto& c : f.columns) {
    if (c.type != FeatureType::kNumeric) {
      return Status::InvalidArgument(
          "features: column '" + c.name + "' is " + std::string(TypeWord(c.type)) +
          " after the last step (" +
          (c.type == FeatureType::kText ? "add a text step" : "add a one_hot step") +
          " or drop it)");
    }
    p.outputs_.push_back(c.name);
  }
  if (p.outputs_.empty()) return Status::InvalidArgument("features: no output columns");
  return p;
}

Result<Matrix> FeaturePipeline::Transform(Frame raw) const {
  if (raw.columns.size() != inputs_.size()) {
    return Status::InvalidArgument("features: " + std::to_string(raw.columns.size()) +
                                   " columns, the pipeline reads " +
                                   std::to_string(inputs_.size()));
  }
  for (size_t k = 0; k < inputs_.size(); ++k) {
    if (raw.columns[k].name != inputs_[k].name || raw.columns[k].type != inputs_[k].type) {
      return Status::InvalidArgument("features: column " + std::to_string(k) + " is '" +
                                     raw.columns[k].name + "', expected '" + inputs_[k].name +
                                     "' (" + std::string(TypeWord(inputs_[k].type)) + ")");
    }
  }
  for (const auto& step : steps_) {
    if (Status st = step->Transform(&raw); !st.ok()) {
      return Status::InvalidArgument("features: " + std::string(step->name()) + ": " +
                                     st.message());
    }
  }
  if (raw.columns.size() != outputs_.size()) {
    return Status::Internal("features: output columns differ from the fitted ones");
  }
  Matrix x(static_cast<Index>(raw.rows), static_cast<Index>(outputs_.size()));
  for (size_t k = 0; k < outputs_.size(); ++k) {
    const FrameColumn& c = raw.columns[k];
    if (c.name != outputs_[k] || c.type != FeatureType::kNumeric) {
      return Status::Internal("features: output column '" + c.name + "' differs from the fit");
    }
    for (size_t r = 0; r < raw.rows; ++r) {
      x(static_cast<Index>(r), static_cast<Index>(k)) = c.numbers[r];
    }
  }
  return x;
}

Result<Dataset> FeaturePipeline::TransformDataset(const Dataset& raw) const {
  Dataset out;
  OSPREY_ASSIGN_OR_RETURN(out.x, Transform(FrameFromDataset(raw)));
  for (const auto& n : outputs_) out.columns.push_back({n, ColumnType::kNumeric, {}});
  out.has_label = raw.has_label;
  out.label_name = raw.label_name;
  out.y = raw.y;
  out.label_classes = raw.label_classes;
  return out;
}

std::string FeaturePipeline::ToJson() const {
  std::string out;
  JsonWriter j(&out);
  j.BeginObject();
  j.Key("format").String(kPipelineFormat);
  j.Key("inputs").BeginArray();
  for (const auto& in : inputs_) {
    j.BeginObject().Key("name").String(in.name).Key("type").String(TypeWord(in.type)).EndObject();
  }
  j.EndArray();
  Strings(j, "outputs", outputs_);
  j.Key("steps").BeginArray();
  for (const auto& s : steps_) {
    j.BeginObject().Key("step").String(s->name());
    s->Save(j);
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  out.push_back('\n');
  return out;
}

Result<FeaturePipeline> FeaturePipeline::FromJson(std::string_view json) {
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element doc;
  if (auto err = parser.parse(padded).get(doc); err) {
    return Bad(std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  dom::object top;
  std::string_view format;
  if (doc.get(top) || top["format"].get(format)) return Bad("not a feature pipeline");
  if (format != kPipelineFormat) {
    return Status::Corruption("feature pipeline: unsupported format '" + std::string(format) + "'");
  }
  FeaturePipeline p;
  dom::array inputs, steps;
  if (top["inputs"].get(inputs) || top["steps"].get(steps)) return Bad("missing inputs or steps");
  for (dom::element e : inputs) {
    std::string_view name, type;
    if (e["name"].get(name) || e["type"].get(type) || !ParseTypeWord(type)) {
      return Bad("an input needs a name and a type (numeric|categorical|text)");
    }
    p.inputs_.push_back({std::string(name), *ParseTypeWord(type)});
  }
  OSPREY_ASSIGN_OR_RETURN(p.outputs_, GetStrings(top, "outputs"));
  for (dom::element e : steps) {
    dom::object o;
    if (e.get(o)) return Bad("a step must be an object");
    OSPREY_ASSIGN_OR_RETURN(std::unique_ptr<FeatureStep> step, LoadStep(o));
    p.steps_.push_back(std::move(step));
  }
  return p;
}

}  // namespace osprey::models::ml::features
