// The one place where model kinds are registered (no static-initializer registries): the
// registry's loaders for every kind this build serves. Thread-compatible (call once at start).
#pragma once

#include "models/serving/model.h"

namespace osprey::models {

// Registers "rcf", "xgboost", "linear" and the trainer's "kmeans" and "pca".
void RegisterBuiltinKinds(ModelKindRegistry& registry);

}  // namespace osprey::models
