// The "rcf" model kind: a ThresholdedForest snapshot (models/rcf/thresholded.h Save() bytes,
// file model.bin), taken from a live pipeline key by `osprey model export` or built offline.
// Each row (the forest's input_dim values) is scored on its own against the snapshot, as the
// next input after the snapshot's shingle, without changing it (ThresholdedForest::Peek):
// score = forest score, extra grade/threshold/confidence, values = per-input attribution.
// Immutable after loading; thread-safe.
#pragma once

#include <memory>

#include "config/base/status.h"
#include "models/serving/model.h"

namespace osprey::models {

// ModelLoader for kind "rcf". Corruption when the snapshot does not load; InvalidArgument when
// the metadata's inputs do not match the forest's input_dim.
Result<std::unique_ptr<const ServedModel>> LoadRcfModel(const ModelArtifact& artifact);

}  // namespace osprey::models
