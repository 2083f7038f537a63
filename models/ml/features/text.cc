#include "models/ml/features/text.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include <libstemmer.h>

namespace osprey::models::ml::features {

namespace {

// Osprey's own list: English articles, pronouns, auxiliaries, conjunctions, prepositions and
// common adverbs, written for this project. Sorted (checked by a test).
constexpr std::string_view kStopWords[] = {
    "a",       "about",   "above",    "after",   "again",  "against", "all",     "am",
    "an",      "and",     "any",      "are",     "as",     "at",      "be",      "because",
    "been",    "before",  "being",    "below",   "between", "both",   "but",     "by",
    "can",     "could",   "did",      "do",      "does",   "doing",   "down",    "during",
    "each",    "few",     "for",      "from",    "further", "had",    "has",     "have",
    "having",  "he",      "her",      "here",    "hers",   "herself", "him",     "himself",
    "his",     "how",     "i",        "if",      "in",     "into",    "is",      "it",
    "its",     "itself",  "just",     "me",      "more",   "most",    "my",      "myself",
    "no",      "nor",     "not",      "now",     "of",     "off",     "on",      "once",
    "only",    "or",      "other",    "our",     "ours",   "ourselves", "out",   "over",
    "own",     "same",    "she",      "should",  "so",     "some",    "such",    "than",
    "that",    "the",     "their",    "theirs",  "them",   "themselves", "then", "there",
    "these",   "they",    "this",     "those",   "through", "to",     "too",     "under",
    "until",   "up",      "very",     "was",     "we",     "were",    "what",    "when",
    "where",   "which",   "while",    "who",     "whom",   "why",     "will",    "with",
    "would",   "you",     "your",     "yours",   "yourself", "yourselves",
};

bool IsAsciiPunct(unsigned char c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

struct StemmerDeleter {
  void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};

}  // namespace

const std::vector<std::string_view>& EnglishStopWords() {
  static const std::vector<std::string_view> kList(std::begin(kStopWords), std::end(kStopWords));
  return kList;
}

bool IsEnglishStopWord(std::string_view word) {
  return std::binary_search(std::begin(kStopWords), std::end(kStopWords), word);
}

std::vector<std::string> PorterStem(const std::vector<std::string>& words) {
  // One stemmer per thread: libstemmer's objects are not thread-safe.
  thread_local const std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer(
      sb_stemmer_new("porter", "UTF_8"));
  std::vector<std::string> out;
  out.reserve(words.size());
  for (const auto& w : words) {
    const sb_symbol* s = stemmer == nullptr
                             ? nullptr
                             : sb_stemmer_stem(stemmer.get(),
                                               reinterpret_cast<const sb_symbol*>(w.data()),
                                               static_cast<int>(w.size()));
    if (s == nullptr) {
      out.push_back(w);  // out of memory in the stemmer: keep the word as it is
    } else {
      out.emplace_back(reinterpret_cast<const char*>(s),
                       static_cast<size_t>(sb_stemmer_length(stemmer.get())));
    }
  }
  return out;
}

std::vector<std::string> Tokenize(std::string_view text, const TokenizerOptions& options) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!options.stop_words || !IsEnglishStopWord(word)) words.push_back(std::move(word));
    word.clear();
  };
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsSpace(c) || (options.strip_punctuation && IsAsciiPunct(c))) {
      flush();
      continue;
    }
    word.push_back(options.lowercase && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                                             : ch);
  }
  flush();
  if (options.stem) words = PorterStem(words);
  if (options.ngram_max <= 1) return words;
  std::vector<std::string> terms = words;
  for (int n = 2; n <= options.ngram_max; ++n) {
    const auto len = static_cast<size_t>(n);
    for (size_t start = 0; start + len <= words.size(); ++start) {
      std::string gram = words[start];
      for (size_t k = 1; k < len; ++k) {
        gram.push_back(' ');
        gram += words[start + k];
      }
      terms.push_back(std::move(gram));
    }
  }
  return terms;
}

TfIdf TfIdf::Fit(const std::vector<std::optional<std::string>>& documents,
                 const TfIdfOptions& options) {
  std::map<std::string, size_t> df;
  for (const auto& doc : documents) {
    if (!doc) continue;
    std::vector<std::string> terms = Tokenize(*doc, options.tokenizer);
    std::sort(terms.begin(), terms.end());
    terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
    for (auto& t : terms) ++df[std::move(t)];
  }
  const auto n = static_cast<double>(documents.size());
  std::vector<std::pair<std::string, size_t>> kept;
  for (auto& [term, count] : df) {
    const double share = n > 0 ? static_cast<double>(count) / n : 0.0;
    if (share >= options.min_df && share <= options.max_df) kept.emplace_back(term, count);
  }
  if (options.max_terms > 0 && kept.size() > options.max_terms) {
    std::stable_sort(kept.begin(), kept.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    kept.resize(options.max_terms);
    std::sort(kept.begin(), kept.end());
  }
  std::vector<std::string> terms;
  std::vector<double> idf;
  for (auto& [term, count] : kept) {
    const auto d = static_cast<double>(count);
    idf.push_back(options.smooth_idf ? std::log((1.0 + n) / (1.0 + d)) + 1.0
                                     : std::log(n / d) + 1.0);
    terms.push_back(std::move(term));
  }
  return TfIdf(options, std::move(terms), std::move(idf));
}

TfIdf::TfIdf(TfIdfOptions options, std::vector<std::string> terms, std::vector<double> idf)
    : options_(std::move(options)), terms_(std::move(terms)), idf_(std::move(idf)) {
  for (size_t idx = 0; idx < terms_.size(); ++idx) index_.emplace(terms_[idx], idx);
}

void TfIdf::Transform(const std::vector<std::optional<std::string>>& documents,
                      std::vector<double>* out) const {
  const size_t width = terms_.size();
  std::vector<double> row(width);
  std::vector<size_t> touched;
  for (const auto& doc : documents) {
    std::fill(row.begin(), row.end(), 0.0);
    touched.clear();
    if (doc) {
      for (const auto& t : Tokenize(*doc, options_.tokenizer)) {
        auto it = index_.find(t);
        if (it == index_.end()) continue;
        if (row[it->second] == 0.0) touched.push_back(it->second);
        row[it->second] += 1.0;
      }
    }
    double norm = 0.0;
    for (size_t k : touched) {
      const double tf = options_.sublinear_tf ? 1.0 + std::log(row[k]) : row[k];
      row[k] = tf * idf_[k];
      norm += row[k] * row[k];
    }
    if (options_.l2_normalize && norm > 0.0) {
      const double inv = 1.0 / std::sqrt(norm);
      for (size_t k : touched) row[k] *= inv;
    }
    out->insert(out->end(), row.begin(), row.end());
  }
}

}  // namespace osprey::models::ml::features
