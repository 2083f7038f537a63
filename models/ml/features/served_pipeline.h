// Serving a model trained behind a feature pipeline: WithFeaturePipeline wraps any model loader
// so that an artifact whose metadata names a pipeline file ("preprocessing": {"file":
// "pipeline.json"}) loads as a ServedModel taking the raw columns (numbers, categories, text,
// missing values) of metadata "inputs", running the fitted pipeline (pipeline.h) and then the
// inner model on its numeric outputs. Artifacts without a pipeline go to the inner loader as
// they are. The inner loader sees the same artifact with "inputs" replaced by the pipeline's
// output columns (numeric) and "preprocessing" without "file". "preprocessing": {"impute":
// [...]}, when present, holds the trainer's fill value per pipeline output (null = none); the
// wrapper fills missing outputs with it for every inner kind.
// Thread-safe: the wrapper is immutable; Predict may run concurrently.
#pragma once

#include <memory>

#include "config/base/status.h"
#include "models/ml/features/pipeline.h"
#include "models/serving/model.h"

namespace osprey::models::ml::features {

// A loader that applies the artifact's pipeline (if any) before `inner`'s model.
ModelLoader WithFeaturePipeline(ModelLoader inner);

// `inner` (fed the pipeline's outputs) behind `pipeline` (fed raw rows).
std::unique_ptr<const ServedModel> MakePipelineModel(FeaturePipeline pipeline,
                                                     std::unique_ptr<const ServedModel> inner);

}  // namespace osprey::models::ml::features
