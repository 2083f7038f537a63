#include "state/memory_store.h"

namespace osprey::state {

Status MemoryStore::Write(const WriteBatch& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& op : batch.ops()) {
    auto& family = families_[op.family];
    if (op.value) {
      family[op.key] = *op.value;
    } else {
      family.erase(op.key);
    }
  }
  return Status::Ok();
}

Result<std::string> MemoryStore::Get(std::string_view family, std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto fit = families_.find(family);
  if (fit == families_.end()) return Status::NotFound("no state family '" + std::string(family) + "'");
  auto it = fit->second.find(std::string(key));
  if (it == fit->second.end()) return Status::NotFound("no such key");
  return it->second;
}

Result<std::vector<std::pair<std::string, std::string>>> MemoryStore::Scan(
    std::string_view family, std::string_view prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  auto fit = families_.find(family);
  if (fit == families_.end()) return out;
  for (auto it = fit->second.lower_bound(std::string(prefix));
       it != fit->second.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

}  // namespace osprey::state
