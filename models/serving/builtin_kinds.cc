#include "models/serving/builtin_kinds.h"

#include "models/ml/served.h"
#include "models/serving/linear_model.h"
#include "models/serving/rcf_model.h"
#include "models/serving/xgboost_model.h"

namespace osprey::models {

void RegisterBuiltinKinds(ModelKindRegistry& registry) {
  registry.Register("linear", LoadLinearModel);
  registry.Register("rcf", LoadRcfModel);
  registry.Register("xgboost", LoadXgboostModel);
  ml::RegisterModelKinds(registry);  // kmeans, pca
}

}  // namespace osprey::models
