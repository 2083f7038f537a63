// The strict loader for `osprey train` configurations (config/train_options.h): unknown keys,
// wrong types and out-of-range values are errors "FILE:LINE:COLUMN: key.path: message", all
// reported at once, as config/loader.h does for the daemon's file; ${VAR} interpolation too.
// Thread-safe: no state.
#pragma once

#include <string>
#include <string_view>

#include "config/base/status.h"
#include "config/loader.h"
#include "config/train_options.h"

namespace osprey::config {

Result<TrainConfig> LoadTrainConfigFile(const std::string& path, const Environment* env = nullptr);
Result<TrainConfig> LoadTrainConfigString(std::string_view yaml, const std::string& file_name,
                                          const Environment* env = nullptr);

}  // namespace osprey::config
