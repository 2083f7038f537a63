// The "linear" model kind: a linear model with an identity, logistic or softmax link, stored as
// model.json {"format":"osprey-linear/1","task":"regression|binary|multiclass",
// "link":"identity|logistic|softmax","weights":[[w_1..w_F] per output],"bias":[b per output],
// "classes":[optional labels]} (the trainer's linear learner writes it). Inputs are the
// metadata's numeric `inputs`, F of them. Immutable after loading; thread-safe.
#pragma once

#include <memory>

#include "config/base/status.h"
#include "models/serving/model.h"

namespace osprey::models {

// ModelLoader for kind "linear". InvalidArgument/Corruption naming the field on a malformed
// model.json or weights that do not match the inputs.
Result<std::unique_ptr<const ServedModel>> LoadLinearModel(const ModelArtifact& artifact);

}  // namespace osprey::models
