// Text features: a tokenizer (lowercasing, ASCII punctuation removal, an English stop-word list,
// Porter stemming through Snowball's libstemmer, n-grams) and TF-IDF (sub-linear tf, smoothed
// idf, document-frequency cut-offs, L2-normalised rows). Pure computation on strings.
// Thread-safe: each thread stems with its own libstemmer object; TfIdf is immutable once fitted.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::models::ml::features {

struct TokenizerOptions {
  // ASCII letters to lower case. Default: true.
  bool lowercase = true;
  // ASCII punctuation becomes a word break (otherwise words split at white space only).
  // Default: true.
  bool strip_punctuation = true;
  // Drop the words of EnglishStopWords() (compared after lowercasing, before stemming).
  // Default: true.
  bool stop_words = true;
  // Porter's stemmer (libstemmer's "porter"). Default: true.
  bool stem = true;
  // Terms are the 1-grams .. ngram_max-grams of the remaining words, joined by one space.
  // Default: 1.
  int ngram_max = 1;
};

// The built-in English stop words (lower case, sorted).
const std::vector<std::string_view>& EnglishStopWords();
bool IsEnglishStopWord(std::string_view word);

// Porter stems of `words` (UTF-8; lower-case input expected).
std::vector<std::string> PorterStem(const std::vector<std::string>& words);

// The terms of one document, in order (with repeats).
std::vector<std::string> Tokenize(std::string_view text, const TokenizerOptions& options);

struct TfIdfOptions {
  TokenizerOptions tokenizer;
  // tf = 1 + ln(count) instead of count. Default: true.
  bool sublinear_tf = true;
  // idf = ln((1 + n) / (1 + df)) + 1 (as if one extra document held every term); otherwise
  // ln(n / df) + 1. Default: true.
  bool smooth_idf = true;
  // Each row divided by its Euclidean norm (rows without terms stay 0). Default: true.
  bool l2_normalize = true;
  // Terms kept have df / n in [min_df, max_df], n = training documents. Defaults: 0, 1.
  double min_df = 0.0;
  double max_df = 1.0;
  // At most this many terms, the highest df first (ties alphabetical); 0 = all.
  size_t max_terms = 0;
};

// A fitted TF-IDF vocabulary. Missing documents (nullopt) are empty documents.
class TfIdf {
 public:
  static TfIdf Fit(const std::vector<std::optional<std::string>>& documents,
                   const TfIdfOptions& options);
  // From saved parameters. REQUIRES: terms sorted and unique, idf.size() == terms.size().
  TfIdf(TfIdfOptions options, std::vector<std::string> terms, std::vector<double> idf);

  // One row of terms().size() values per document (row-major, appended to *out).
  void Transform(const std::vector<std::optional<std::string>>& documents,
                 std::vector<double>* out) const;

  const TfIdfOptions& options() const { return options_; }
  // Sorted vocabulary and its idf weights.
  const std::vector<std::string>& terms() const { return terms_; }
  const std::vector<double>& idf() const { return idf_; }

 private:
  TfIdfOptions options_;
  std::vector<std::string> terms_;  // Constant after construction
  std::vector<double> idf_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace osprey::models::ml::features
