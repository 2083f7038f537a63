#include "operators/operator_factory.h"

#include "operators/baseline_operator.h"
#include "operators/hotspot_operator.h"
#include "operators/rcf_operator.h"

namespace osprey::operators {

namespace {
template <typename T>
Result<std::unique_ptr<Operator>> Upcast(Result<std::unique_ptr<T>> made, const std::string& name) {
  if (!made.ok()) {
    return Status::InvalidArgument("operator '" + name + "': " + made.status().message());
  }
  return std::unique_ptr<Operator>(std::move(made).value());
}
}  // namespace

Result<std::unique_ptr<Operator>> MakeOperator(const config::OperatorOptions& options,
                                               const OperatorContext& context) {
  switch (options.kind) {
    case config::OperatorKind::kBaseline:
      return std::unique_ptr<Operator>(std::make_unique<BaselineOperator>(options));
    case config::OperatorKind::kRcf:
      return std::unique_ptr<Operator>(std::make_unique<RcfOperator>(options, context.clock));
    case config::OperatorKind::kWindow:
      return Upcast(WindowOperator::Create(options.name, options.window, context.clock,
                                           context.late_sink),
                    options.name);
    case config::OperatorKind::kHotspots:
      return Upcast(HotspotOperator::Create(options.name, options.hotspots), options.name);
  }
  return Status::Internal("operator '" + options.name + "': unknown kind");
}

}  // namespace osprey::operators
