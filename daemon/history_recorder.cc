#include "daemon/history_recorder.h"

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include "state/history.h"

namespace osprey::daemon {

std::unique_ptr<HistoryRecorder> HistoryRecorder::Create(
    const config::SourceOptions& source,
    const std::vector<const config::PipelineOptions*>& pipelines) {
  std::unique_ptr<HistoryRecorder> recorder(new HistoryRecorder());
  for (const auto* p : pipelines) {
    if (p->history.fields.empty()) continue;
    Keeper keeper{&p->name, {}};
    for (const auto& name : p->history.fields) {
      // The loader checked that each field is one of the source's value fields.
      auto it = std::find(source.value_fields.begin(), source.value_fields.end(), name);
      if (it == source.value_fields.end()) continue;
      keeper.fields.emplace_back(name, static_cast<size_t>(it - source.value_fields.begin()));
    }
    recorder->keepers_.push_back(std::move(keeper));
  }
  if (recorder->keepers_.empty()) return nullptr;
  return recorder;
}

void HistoryRecorder::Add(const std::string& topic, int32_t partition, int64_t offset,
                          const operators::Event& event) {
  auto& rows = pending_[{topic, partition}];
  for (const auto& keeper : keepers_) {
    scratch_.clear();
    for (const auto& [name, idx] : keeper.fields) {
      if (idx < event.values.size()) scratch_.emplace_back(name, event.values[idx]);
    }
    rows.emplace_back(
        state::EncodeHistoryKey(*keeper.pipeline, event.event_time_ms, topic, partition, offset),
        state::EncodeHistoryValue(event.key, scratch_));
  }
}

void HistoryRecorder::Flush(const std::string& topic, int32_t partition, state::WriteBatch& batch) {
  auto it = pending_.find({topic, partition});
  if (it == pending_.end()) return;
  for (const auto& [key, value] : it->second) batch.Put(state::kHistoryFamily, key, value);
  pending_.erase(it);
}

void HistoryRecorder::Drop(const std::string& topic, int32_t partition) {
  pending_.erase({topic, partition});
}

std::unique_ptr<HistoryJanitor> HistoryJanitor::Start(state::RocksStore& store,
                                                      const config::DaemonConfig& config) {
  bool any = false;
  for (const auto& p : config.pipelines) any = any || !p.history.fields.empty();
  if (!any) return nullptr;
  std::unique_ptr<HistoryJanitor> janitor(new HistoryJanitor(store, config));
  HistoryJanitor* raw = janitor.get();
  janitor->thread_ = std::thread([raw] {
    const auto period = std::chrono::milliseconds(raw->config_.state.history_retention_interval_ms);
    std::unique_lock<std::mutex> lock(raw->mu_);
    while (!raw->cv_.wait_for(lock, period, [raw] { return raw->stop_; })) {
      lock.unlock();
      Status st = raw->RunOnce();
      if (!st.ok()) spdlog::warn("history retention: {}", st.ToString());
      lock.lock();
    }
  });
  return janitor;
}

HistoryJanitor::~HistoryJanitor() { Stop(); }

void HistoryJanitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status HistoryJanitor::RunOnce() {
  for (const auto& p : config_.pipelines) {
    if (p.history.fields.empty()) continue;
    state::HistoryRetention retention{p.history.max_age_ms, p.history.max_bytes};
    OSPREY_ASSIGN_OR_RETURN(int64_t cut, state::EnforceHistoryRetention(store_, p.name, retention));
    if (cut != std::numeric_limits<int64_t>::min()) {
      spdlog::info("history of pipeline '{}': rows with event time before {} deleted (retention)",
                   p.name, cut);
    }
  }
  return Status::Ok();
}

}  // namespace osprey::daemon
