#include "models/rcf/options.h"

#include <cmath>
#include <string>

namespace osprey::models::rcf {
namespace {

Status OutOfRange(const char* field, const std::string& range, double value) {
  std::string shown = std::to_string(value);
  return Status::InvalidArgument(std::string(field) + ": must be in " + range + ", got " + shown);
}

}  // namespace

Status RcfOptions::Validate() const {
  if (input_dim < 1 || input_dim > 10000) return OutOfRange("input_dim", "[1, 10000]", input_dim);
  if (shingle_size < 1 || shingle_size > 1024) {
    return OutOfRange("shingle_size", "[1, 1024]", shingle_size);
  }
  if (static_cast<int64_t>(input_dim) * shingle_size > 10000) {
    return Status::InvalidArgument("input_dim * shingle_size: must be at most 10000, got " +
                                   std::to_string(static_cast<int64_t>(input_dim) * shingle_size));
  }
  if (number_of_trees < 1 || number_of_trees > 1000) {
    return OutOfRange("number_of_trees", "[1, 1000]", number_of_trees);
  }
  if (sample_size < 4 || sample_size > 32767) {
    return OutOfRange("sample_size", "[4, 32767]", sample_size);
  }
  if (time_decay && !(*time_decay >= 0 && *time_decay <= 1)) {
    return OutOfRange("time_decay", "[0, 1]", *time_decay);
  }
  if (output_after && (*output_after < 1 || *output_after > 1'000'000'000'000)) {
    return OutOfRange("output_after", "[1, 1e12]", static_cast<double>(*output_after));
  }
  if (!(initial_accept_fraction > 0 && initial_accept_fraction <= 1)) {
    return OutOfRange("initial_accept_fraction", "(0, 1]", initial_accept_fraction);
  }
  if (box_cache_min_mass < 2 || box_cache_min_mass > 32767) {
    return OutOfRange("box_cache_min_mass", "[2, 32767]", box_cache_min_mass);
  }
  return Status::Ok();
}

Status ThresholdedOptions::Validate() const {
  OSPREY_RETURN_IF_ERROR(forest.Validate());
  if (!(z_factor >= 1 && z_factor <= 100)) return OutOfRange("z_factor", "[1, 100]", z_factor);
  if (!(absolute_threshold >= 0 && absolute_threshold <= 100)) {
    return OutOfRange("absolute_threshold", "[0, 100]", absolute_threshold);
  }
  if (!(initial_threshold >= 0 && initial_threshold <= 100)) {
    return OutOfRange("initial_threshold", "[0, 100]", initial_threshold);
  }
  if (minimum_scores < 1 || minimum_scores > 1'000'000'000) {
    return OutOfRange("minimum_scores", "[1, 1e9]", minimum_scores);
  }
  if (statistics_decay && !(*statistics_decay > 0 && *statistics_decay <= 1)) {
    return OutOfRange("statistics_decay", "(0, 1]", *statistics_decay);
  }
  if (!(ignore_near_expected_absolute >= 0) || std::isinf(ignore_near_expected_absolute)) {
    return OutOfRange("ignore_near_expected_absolute", "[0, inf)", ignore_near_expected_absolute);
  }
  if (!(ignore_near_expected_relative >= 0) || std::isinf(ignore_near_expected_relative)) {
    return OutOfRange("ignore_near_expected_relative", "[0, inf)", ignore_near_expected_relative);
  }
  if (!(ignore_near_expected_noise_factor >= 0 && ignore_near_expected_noise_factor <= 100)) {
    return OutOfRange("ignore_near_expected_noise_factor", "[0, 100]",
                      ignore_near_expected_noise_factor);
  }
  if (!(normalize_clip >= 1 && normalize_clip <= 1e6)) {
    return OutOfRange("normalize_clip", "[1, 1e6]", normalize_clip);
  }
  return Status::Ok();
}

}  // namespace osprey::models::rcf
