// Helpers shared by the operator tests: an Emitter that keeps what it receives, and the
// snapshots an operator reports as changed. Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operators/operator.h"

namespace osprey::operators::test_util {

class Collect final : public Emitter {
 public:
  void Emit(Event event) override { events.push_back(std::move(event)); }
  std::vector<Event> events;
};

// key -> snapshot of every key `op` reports as changed (and forgets the changes).
inline std::map<std::string, std::string> Dirty(Operator& op) {
  std::map<std::string, std::string> out;
  op.SnapshotDirty([&](std::string_view key, std::string snapshot) {
    out.emplace(std::string(key), std::move(snapshot));
  });
  return out;
}

}  // namespace osprey::operators::test_util
