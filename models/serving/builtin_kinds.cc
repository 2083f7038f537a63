#include "models/serving/builtin_kinds.h"

#include "models/ml/features/served_pipeline.h"
#include "models/ml/served.h"
#include "models/serving/linear_model.h"
#include "models/serving/rcf_model.h"
#include "models/serving/xgboost_model.h"

namespace osprey::models {

void RegisterBuiltinKinds(ModelKindRegistry& registry) {
  // A model trained behind a feature pipeline (metadata "preprocessing": {"file": ...}) takes
  // raw inputs through it; WithFeaturePipeline is transparent for every other artifact.
  registry.Register("linear", ml::features::WithFeaturePipeline(LoadLinearModel));
  registry.Register("rcf", LoadRcfModel);
  registry.Register("xgboost", ml::features::WithFeaturePipeline(LoadXgboostModel));
  ml::RegisterModelKinds(registry);  // kmeans, pca
}

}  // namespace osprey::models
