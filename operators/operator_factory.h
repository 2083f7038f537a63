// MakeOperator: builds the operator an OperatorOptions describes (baseline, rcf, window,
// hotspots). The one place operator kinds are registered (no static registries).
// Thread-safe (keeps no state).
#pragma once

#include <memory>

#include "config/base/clock.h"
#include "config/base/status.h"
#include "config/options.h"
#include "operators/operator.h"
#include "operators/window_operator.h"

namespace osprey::operators {

// What operators may need from their task. The caller keeps `clock` alive for the operator's
// lifetime; `late_sink` may be empty (late window events are then dropped and counted).
struct OperatorContext {
  const Clock& clock;
  LateSink late_sink;
};

// InvalidArgument (naming the operator) when its options do not validate.
Result<std::unique_ptr<Operator>> MakeOperator(const config::OperatorOptions& options,
                                               const OperatorContext& context);

}  // namespace osprey::operators
