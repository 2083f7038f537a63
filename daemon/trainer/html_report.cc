#include "daemon/trainer/html_report.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "models/ml/metrics.h"

namespace osprey::daemon::trainer {

namespace {

constexpr double kWidth = 420, kHeight = 300;
constexpr double kLeft = 60, kRight = 15, kTop = 44, kBottom = 45;
constexpr size_t kMaxPoints = 2000;  // scatter plots draw an even sample beyond this

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color;
  enum Kind { kLine, kPoints, kBars, kDots } kind = kLine;  // kDots: large, with a tooltip
};

struct Plot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  // Fixed ranges (NaN = from the data).
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;
  bool diagonal = false;   // y = x reference line
  bool zero_line = false;  // y = 0 reference line
  bool integer_x = false;  // ticks at whole numbers (clusters, components)
  // A vertical marker line at x = marker_x (NaN = none), with its legend text.
  double marker_x = NAN;
  std::string marker_label{};
};

std::string Num(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << v;
  return s.str();
}

std::string Tick(double v) {
  std::ostringstream s;
  if (std::abs(v) >= 1000 && std::abs(v) < 1e7) {
    s << std::fixed << std::setprecision(0) << v;  // "2840", not "2.84e+03" (cut off at the left)
  } else {
    s << std::setprecision(3) << (v == 0 ? 0.0 : v);  // never "-0" (a tick at ceil(-0.5))
  }
  return s.str();
}

void Range(const Plot& p, bool x_axis, double* lo, double* hi) {
  *lo = std::numeric_limits<double>::infinity();
  *hi = -std::numeric_limits<double>::infinity();
  for (const auto& s : p.series) {
    for (double v : x_axis ? s.x : s.y) {
      if (!std::isfinite(v)) continue;
      *lo = std::min(*lo, v);
      *hi = std::max(*hi, v);
    }
  }
  const double fixed_lo = x_axis ? p.x_min : p.y_min, fixed_hi = x_axis ? p.x_max : p.y_max;
  if (!std::isfinite(*lo) || !std::isfinite(*hi)) *lo = 0, *hi = 1;
  // Ends from the data get a margin of 4% of the axis range (a fixed end counts: bars from a
  // fixed 0 get room above the tallest one); fixed ends are kept.
  const double lo_end = std::isnan(fixed_lo) ? *lo : fixed_lo;
  const double hi_end = std::isnan(fixed_hi) ? *hi : fixed_hi;
  const double margin = std::max(0.0, hi_end - lo_end) * 0.04;
  *lo = std::isnan(fixed_lo) ? lo_end - margin : fixed_lo;
  *hi = std::isnan(fixed_hi) ? hi_end + margin : fixed_hi;
  if (*hi <= *lo) {
    const double pad = *lo == 0 ? 1 : std::abs(*lo) * 0.1;
    *lo -= pad;
    *hi += pad;
  }
}

std::string Svg(const Plot& p) {
  double x0, x1, y0, y1;
  Range(p, true, &x0, &x1);
  Range(p, false, &y0, &y1);
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto sx = [&](double v) { return kLeft + (v - x0) / (x1 - x0) * pw; };
  auto sy = [&](double v) { return kTop + ph - (v - y0) / (y1 - y0) * ph; };
  std::ostringstream o;
  o << "<svg class=\"plot\" width=\"" << kWidth
    << "\" height=\"" << kHeight << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" role=\"img\" aria-label=\"" << HtmlEscape(p.title) << "\">";
  o << "<text x=\"" << kWidth / 2 << "\" y=\"18\" text-anchor=\"middle\" class=\"t\">"
    << HtmlEscape(p.title) << "</text>";
  o << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"#fff\" stroke=\"#999\"/>";
  std::vector<double> xticks;
  if (p.integer_x) {
    const double first = std::ceil(x0), last = std::floor(x1);
    const double step = std::max(1.0, std::ceil((last - first + 1) / 10));
    for (double v = first; v <= last; v += step) xticks.push_back(v);
  } else {
    for (int i = 0; i <= 4; ++i) xticks.push_back(x0 + (x1 - x0) * i / 4);
  }
  for (double xv : xticks) {
    o << "<line x1=\"" << Num(sx(xv)) << "\" y1=\"" << kTop << "\" x2=\"" << Num(sx(xv))
      << "\" y2=\"" << kTop + ph << "\" stroke=\"#eee\"/>";
    o << "<text x=\"" << Num(sx(xv)) << "\" y=\"" << kTop + ph + 14
      << "\" text-anchor=\"middle\" class=\"k\">" << Tick(xv) << "</text>";
  }
  for (int i = 0; i <= 4; ++i) {  // y ticks and grid
    const double yv = y0 + (y1 - y0) * i / 4;
    o << "<line x1=\"" << kLeft << "\" y1=\"" << Num(sy(yv)) << "\" x2=\"" << kLeft + pw
      << "\" y2=\"" << Num(sy(yv)) << "\" stroke=\"#eee\"/>";
    o << "<text x=\"" << kLeft - 4 << "\" y=\"" << Num(sy(yv) + 3)
      << "\" text-anchor=\"end\" class=\"k\">" << Tick(yv) << "</text>";
  }
  o << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kHeight - 8
    << "\" text-anchor=\"middle\" class=\"a\">" << HtmlEscape(p.x_label) << "</text>";
  o << "<text x=\"14\" y=\"" << kTop + ph / 2 << "\" text-anchor=\"middle\" class=\"a\" "
    << "transform=\"rotate(-90 14 " << kTop + ph / 2 << ")\">" << HtmlEscape(p.y_label)
    << "</text>";
  if (p.diagonal) {
    const double lo = std::max(x0, y0), hi = std::min(x1, y1);
    if (hi > lo) {
      o << "<line x1=\"" << Num(sx(lo)) << "\" y1=\"" << Num(sy(lo)) << "\" x2=\"" << Num(sx(hi))
        << "\" y2=\"" << Num(sy(hi)) << "\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>";
    }
  }
  if (p.zero_line && y0 < 0 && y1 > 0) {
    o << "<line x1=\"" << kLeft << "\" y1=\"" << Num(sy(0)) << "\" x2=\"" << kLeft + pw
      << "\" y2=\"" << Num(sy(0)) << "\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>";
  }
  for (const auto& s : p.series) {
    const size_t n = std::min(s.x.size(), s.y.size());
    if (s.kind == Series::kLine) {
      o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        o << Num(sx(s.x[i])) << "," << Num(sy(s.y[i])) << " ";
      }
      o << "\"/>";
    } else if (s.kind == Series::kDots) {
      const size_t step = n > kMaxPoints ? (n + kMaxPoints - 1) / kMaxPoints : 1;
      const double r = n > 50 ? 2.5 : 4.5;
      for (size_t i = 0; i < n; i += step) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        o << "<circle cx=\"" << Num(sx(s.x[i])) << "\" cy=\"" << Num(sy(s.y[i])) << "\" r=\""
          << r << "\" fill=\"" << s.color << "\"><title>" << HtmlEscape(s.name) << " "
          << Tick(s.x[i]) << ": " << ReportNumber(s.y[i]) << "</title></circle>";
      }
    } else if (s.kind == Series::kPoints) {
      const size_t step = n > kMaxPoints ? (n + kMaxPoints - 1) / kMaxPoints : 1;
      for (size_t i = 0; i < n; i += step) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        o << "<circle cx=\"" << Num(sx(s.x[i])) << "\" cy=\"" << Num(sy(s.y[i]))
          << "\" r=\"2\" fill=\"" << s.color << "\" fill-opacity=\"0.6\"/>";
      }
    } else {
      const double bw = n > 0 ? pw / static_cast<double>(n) * 0.7 : 0;
      for (size_t i = 0; i < n; ++i) {
        const double base = sy(std::max(y0, 0.0)), top = sy(s.y[i]);
        o << "<rect x=\"" << Num(sx(s.x[i]) - bw / 2) << "\" y=\"" << Num(std::min(base, top))
          << "\" width=\"" << Num(bw) << "\" height=\"" << Num(std::abs(base - top))
          << "\" fill=\"" << s.color << "\"><title>" << HtmlEscape(s.name) << " "
          << Tick(s.x[i]) << ": " << ReportNumber(s.y[i]) << "</title></rect>";
      }
    }
  }
  constexpr const char* kMarkerColor = "#2ca02c";
  if (std::isfinite(p.marker_x) && p.marker_x >= x0 && p.marker_x <= x1) {
    o << "<line class=\"marker\" data-x=\"" << static_cast<int64_t>(std::llround(p.marker_x))
      << "\" x1=\"" << Num(sx(p.marker_x)) << "\" y1=\"" << kTop << "\" x2=\""
      << Num(sx(p.marker_x)) << "\" y2=\"" << kTop + ph << "\" stroke=\"" << kMarkerColor
      << "\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"><title>" << HtmlEscape(p.marker_label)
      << "</title></line>";
  }
  // Legend: one row between the title and the plot.
  double lx = kLeft;
  auto legend = [&](const std::string& name, const std::string& color) {
    o << "<rect x=\"" << lx << "\" y=\"" << kTop - 16 << "\" width=\"10\" height=\"10\" "
      << "fill=\"" << color << "\"/><text x=\"" << lx + 14 << "\" y=\"" << kTop - 7
      << "\" class=\"k\">" << HtmlEscape(name) << "</text>";
    lx += 24 + 6.0 * static_cast<double>(name.size());
  };
  for (const auto& s : p.series) {
    if (!s.name.empty()) legend(s.name, s.color);
  }
  if (std::isfinite(p.marker_x) && !p.marker_label.empty()) legend(p.marker_label, kMarkerColor);
  o << "</svg>";
  return o.str();
}

// One per-iteration curve's section: training and validation series and the marked iteration.
void CurveSection(std::ostringstream& o, const IterationCurve& c) {
  auto iterations = [](size_t n) {
    std::vector<double> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i + 1);
    return x;
  };
  Plot p{c.title,
         c.x_label,
         c.y_label,
         {{"training", iterations(c.train.size()), c.train, "#1f77b4", Series::kLine}}};
  if (!c.validation.empty()) {
    p.series.push_back(
        {"validation", iterations(c.validation.size()), c.validation, "#ff7f0e", Series::kLine});
  }
  p.integer_x = true;
  p.x_min = 1;  // whole iterations from the first to the last, no margin (no tick at 0 or -2)
  p.x_max = static_cast<double>(std::max(c.train.size(), c.validation.size()));
  if (c.marked > 0) {
    p.marker_x = c.marked;
    p.marker_label = c.marked_label;
  }
  o << "<section id=\"" << HtmlEscape(c.section) << "\"><h2>" << HtmlEscape(c.heading)
    << "</h2><div class=\"plots\">" << Svg(p) << "</div>";
  if (!c.caption.empty()) o << "<p class=\"caption\">" << HtmlEscape(c.caption) << "</p>";
  o << "</section>\n";
}

void MetricsTable(std::ostringstream& o, const ReportData& d) {
  const auto& keys = d.test.empty() ? d.validation : d.test;
  o << "<table class=\"metrics\"><thead><tr><th>metric</th><th>validation</th><th>test</th>"
    << "</tr></thead><tbody>";
  for (const auto& [name, unused] : keys) {
    o << "<tr><td>" << HtmlEscape(name) << "</td>";
    for (const auto* set : {&d.validation, &d.test}) {
      std::string cell = "-";
      for (const auto& [n, v] : *set) {
        if (n == name) cell = ReportNumber(v);
      }
      o << "<td class=\"num\" data-metric=\"" << HtmlEscape(name) << "\" data-split=\""
        << (set == &d.validation ? "validation" : "test") << "\">" << cell << "</td>";
    }
    o << "</tr>";
  }
  o << "</tbody></table>";
}

void ConfusionTable(std::ostringstream& o, const ReportData& d) {
  int64_t max = 1;
  for (const auto& r : d.confusion) {
    for (int64_t v : r) max = std::max(max, v);
  }
  auto name = [&](size_t i) {
    return i < d.class_names.size() ? d.class_names[i] : std::to_string(i);
  };
  o << "<table class=\"confusion\"><thead><tr><th>true \\ predicted</th>";
  for (size_t c = 0; c < d.confusion.size(); ++c) o << "<th>" << HtmlEscape(name(c)) << "</th>";
  o << "</tr></thead><tbody>";
  for (size_t t = 0; t < d.confusion.size(); ++t) {
    o << "<tr><th>" << HtmlEscape(name(t)) << "</th>";
    for (size_t p = 0; p < d.confusion[t].size(); ++p) {
      const double share = static_cast<double>(d.confusion[t][p]) / static_cast<double>(max);
      const int light = static_cast<int>(std::lround(97 - 55 * share));  // HSL lightness
      o << "<td class=\"num\" style=\"background:hsl(210,70%," << light << "%);color:"
        << (light < 60 ? "#fff" : "#111") << "\">" << d.confusion[t][p] << "</td>";
    }
    o << "</tr>";
  }
  o << "</tbody></table>";
}

// The per-fold values of cross-validation: a dot per fold with the mean and mean ± one
// standard deviation, then the values (a table up to kMaxFoldRows folds).
void CrossValidationSection(std::ostringstream& o, const ReportData& d) {
  constexpr size_t kMaxFoldRows = 100;
  const size_t n = d.cv_values.size();
  std::vector<double> fold(n);
  for (size_t i = 0; i < n; ++i) fold[i] = static_cast<double>(i + 1);
  const double lo = 0.5, hi = static_cast<double>(n) + 0.5;
  const double up = d.cv_mean + d.cv_stddev, down = d.cv_mean - d.cv_stddev;
  Plot p{"Cross-validation: " + d.cv_metric + " per fold", "fold", d.cv_metric,
         {{"mean ± 1 sd", {lo, hi}, {up, up}, "#bbbbbb", Series::kLine},
          {"", {lo, hi}, {down, down}, "#bbbbbb", Series::kLine},
          {"mean", {lo, hi}, {d.cv_mean, d.cv_mean}, "#ff7f0e", Series::kLine},
          {"fold", fold, d.cv_values, "#1f77b4", Series::kDots}}};
  p.integer_x = true;
  p.x_min = lo;
  p.x_max = hi;
  const auto [min, max] = std::minmax_element(d.cv_values.begin(), d.cv_values.end());
  o << "<section id=\"cross-validation\"><h2>Cross-validation</h2><p>"
    << HtmlEscape(d.cv_scheme) << "; min " << ReportNumber(*min) << ", max "
    << ReportNumber(*max) << ".</p><div class=\"plots\">" << Svg(p) << "</div>";
  if (n <= kMaxFoldRows) {
    o << "<table class=\"folds\"><thead><tr><th>fold</th><th>" << HtmlEscape(d.cv_metric)
      << "</th></tr></thead><tbody>";
    for (size_t i = 0; i < n; ++i) {
      o << "<tr><td>" << i + 1 << "</td><td class=\"num\" data-fold=\"" << i + 1 << "\">"
        << ReportNumber(d.cv_values[i]) << "</td></tr>";
    }
    o << "</tbody><tfoot><tr><th>mean</th><td class=\"num\" data-fold=\"mean\">"
      << ReportNumber(d.cv_mean) << "</td></tr><tr><th>stddev</th><td class=\"num\" "
      << "data-fold=\"stddev\">" << ReportNumber(d.cv_stddev) << "</td></tr></tfoot></table>";
  } else {
    o << "<p>" << n << " folds: every value is in metadata.json (cross_validation.values).</p>";
  }
  o << "</section>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string ReportNumber(double v) {
  std::ostringstream s;
  s << std::setprecision(6) << v;
  return s.str();
}

std::string RenderHtmlReport(const ReportData& d) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << HtmlEscape(d.title) << "</title><style>"
    << "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    << "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}"
    << "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
    << "text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    << ".plots{display:flex;flex-wrap:wrap;gap:12px}svg.plot{border:1px solid #eee}"
    << "svg .t{font-size:13px;font-weight:600}svg .a{font-size:12px}svg .k{font-size:10px;"
    << "fill:#444}pre{background:#f6f6f6;padding:8px;overflow:auto}"
    << ".caption{font-size:.9em;color:#555;margin:4px 0}"
    << "</style></head><body>\n";
  o << "<h1>" << HtmlEscape(d.title) << "</h1>\n";
  o << "<section id=\"summary\"><h2>Summary</h2><table>";
  for (const auto& [k, v] : d.summary) {
    o << "<tr><th>" << HtmlEscape(k) << "</th><td>" << HtmlEscape(v) << "</td></tr>";
  }
  o << "</table>";
  if (!d.hyperparameters.empty()) {
    o << "<h3>Hyperparameters</h3><table>";
    for (const auto& [k, v] : d.hyperparameters) {
      o << "<tr><th>" << HtmlEscape(k) << "</th><td>" << HtmlEscape(v) << "</td></tr>";
    }
    o << "</table>";
  }
  if (!d.tuning_trials.empty()) {
    o << "<h3>Tuning trials</h3><pre>" << HtmlEscape(d.tuning_trials) << "</pre>";
  }
  o << "</section>\n<section id=\"metrics\"><h2>Metrics</h2>";
  MetricsTable(o, d);
  o << "</section>\n";
  if (!d.cv_values.empty()) CrossValidationSection(o, d);

  if (d.binary_labels.size() == d.binary_scores.size() &&
      std::count(d.binary_labels.begin(), d.binary_labels.end(), 1) > 0 &&
      std::count(d.binary_labels.begin(), d.binary_labels.end(), 0) > 0) {
    namespace ml = models::ml;
    const ml::Curve roc = ml::RocCurve(d.binary_labels, d.binary_scores);
    const ml::Curve pr = ml::PrecisionRecallCurve(d.binary_labels, d.binary_scores);
    const double auc = ml::RocAuc(d.binary_labels, d.binary_scores);
    const double ap = ml::AveragePrecision(d.binary_labels, d.binary_scores);
    Plot r{"ROC curve (test), AUC " + ReportNumber(auc), "false-positive rate",
           "true-positive rate", {{"model", roc.x, roc.y, "#1f77b4", Series::kLine}}};
    r.x_min = r.y_min = 0;
    r.x_max = r.y_max = 1;
    r.diagonal = true;
    Plot p{"Precision-recall (test), AP " + ReportNumber(ap), "recall", "precision",
           {{"model", pr.x, pr.y, "#d62728", Series::kLine}}};
    p.x_min = p.y_min = 0;
    p.x_max = p.y_max = 1;
    o << "<section id=\"roc-pr\"><h2>ROC and precision-recall</h2><div class=\"plots\">"
      << Svg(r) << Svg(p) << "</div></section>\n";
  }
  if (!d.confusion.empty()) {
    o << "<section id=\"confusion\"><h2>Confusion matrix (test)</h2>";
    ConfusionTable(o, d);
    o << "</section>\n";
  }
  if (!d.actual.empty() && d.actual.size() == d.predicted.size()) {
    std::vector<double> residual(d.actual.size());
    for (size_t i = 0; i < residual.size(); ++i) residual[i] = d.actual[i] - d.predicted[i];
    Plot res{"Residuals vs predicted (test)", "predicted", "actual - predicted",
             {{"", d.predicted, residual, "#1f77b4", Series::kPoints}}};
    res.zero_line = true;
    Plot pa{"Predicted vs actual (test)", "actual", "predicted",
            {{"", d.actual, d.predicted, "#2ca02c", Series::kPoints}}};
    pa.diagonal = true;
    const auto [lo_a, hi_a] = std::minmax_element(d.actual.begin(), d.actual.end());
    const auto [lo_p, hi_p] = std::minmax_element(d.predicted.begin(), d.predicted.end());
    const double lo = std::min(*lo_a, *lo_p), hi = std::max(*hi_a, *hi_p), pad = (hi - lo) * 0.04;
    if (std::isfinite(lo) && std::isfinite(hi) && hi > lo) {
      pa.x_min = pa.y_min = lo - pad;
      pa.x_max = pa.y_max = hi + pad;
    }
    o << "<section id=\"residuals\"><h2>Residuals</h2><div class=\"plots\">" << Svg(res)
      << Svg(pa) << "</div></section>\n";
  }
  if (!d.train_loss.empty()) {
    std::vector<double> epochs(d.train_loss.size());
    for (size_t i = 0; i < epochs.size(); ++i) epochs[i] = static_cast<double>(i + 1);
    Plot lc{"Learning curve", "epoch", "mean loss",
            {{"training", epochs, d.train_loss, "#1f77b4", Series::kLine}}};
    lc.integer_x = true;  // ticks at whole epochs
    if (!d.validation_loss.empty()) {
      std::vector<double> ve(d.validation_loss.size());
      for (size_t i = 0; i < ve.size(); ++i) ve[i] = static_cast<double>(i + 1);
      lc.series.push_back({"validation", ve, d.validation_loss, "#ff7f0e", Series::kLine});
    }
    o << "<section id=\"learning-curve\"><h2>Learning curve</h2><div class=\"plots\">" << Svg(lc)
      << "</div></section>\n";
  }
  for (const IterationCurve& c : d.curves) {
    if (!c.train.empty()) CurveSection(o, c);
  }
  if (!d.explained_variance_ratio.empty()) {
    std::vector<double> comp, cum;
    double sum = 0;
    for (size_t i = 0; i < d.explained_variance_ratio.size(); ++i) {
      comp.push_back(static_cast<double>(i + 1));
      sum += d.explained_variance_ratio[i];
      cum.push_back(sum);
    }
    Plot ev{"Explained variance", "component", "ratio of total variance",
            {{"per component", comp, d.explained_variance_ratio, "#1f77b4", Series::kBars},
             {"cumulative", comp, cum, "#ff7f0e", Series::kLine}}};
    ev.integer_x = true;
    ev.y_min = 0;
    ev.y_max = 1;
    ev.x_min = 0.5;
    ev.x_max = static_cast<double>(comp.size()) + 0.5;
    o << "<section id=\"explained-variance\"><h2>Explained variance</h2><div class=\"plots\">"
      << Svg(ev) << "</div><table><tr><th>component</th><th>ratio</th><th>cumulative</th></tr>";
    for (size_t i = 0; i < comp.size(); ++i) {
      o << "<tr><td>" << i + 1 << "</td><td class=\"num\">"
        << ReportNumber(d.explained_variance_ratio[i]) << "</td><td class=\"num\">"
        << ReportNumber(cum[i]) << "</td></tr>";
    }
    o << "</table></section>\n";
  }
  if (!d.cluster_sizes.empty()) {
    std::vector<double> idx, sizes, inertia;
    for (size_t i = 0; i < d.cluster_sizes.size(); ++i) {
      idx.push_back(static_cast<double>(i));
      sizes.push_back(static_cast<double>(d.cluster_sizes[i]));
      inertia.push_back(i < d.cluster_inertia.size() ? d.cluster_inertia[i] : 0.0);
    }
    Plot sz{"Cluster sizes (training rows)", "cluster", "rows",
            {{"rows", idx, sizes, "#1f77b4", Series::kBars}}};
    Plot in{"Inertia per cluster (training)", "cluster", "sum of squared distances",
            {{"inertia", idx, inertia, "#9467bd", Series::kBars}}};
    for (Plot* p : {&sz, &in}) {
      p->y_min = 0;
      p->integer_x = true;
      p->x_min = -0.5;
      p->x_max = static_cast<double>(idx.size()) - 0.5;
    }
    o << "<section id=\"clusters\"><h2>Clusters</h2><div class=\"plots\">" << Svg(sz) << Svg(in)
      << "</div><table><tr><th>cluster</th><th>rows</th><th>inertia</th></tr>";
    for (size_t i = 0; i < idx.size(); ++i) {
      o << "<tr><td>" << i << "</td><td class=\"num\">" << d.cluster_sizes[i]
        << "</td><td class=\"num\">" << ReportNumber(inertia[i]) << "</td></tr>";
    }
    o << "</table></section>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace osprey::daemon::trainer
