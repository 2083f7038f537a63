// DemoStream: writes a synthetic multi-key stream with planted anomalies into a source's first
// topic, shaped to that source's configuration (JSON or CSV, its key, timestamp and value
// fields), so the quickstart shows the whole path: Kafka in, detectors, alerts out.
// Planted anomalies: spikes (single points 8–12 σ away), level shifts (a key's mean moves by
// 6 σ for 200 records), and dense bursts (burst_size records in a small box of value space).
// Each record carries a "planted" field ("none", "spike", "level_shift", "burst") so results
// can be checked against the truth. Thread-safe: Start/Stop from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "config/options.h"
#include "daemon/kafka/producer.h"

namespace osprey::daemon {

class DemoStream {
 public:
  // `source.demo` must be set. `source` and `producer` must outlive the stream.
  DemoStream(const config::SourceOptions& source, Producer& producer);
  ~DemoStream();  // Stop()s

  void Start();
  void Stop();
  int64_t records_written() const { return written_.load(); }

  // The record the generator writes as its n-th record (deterministic in the seed); exposed so
  // tests and benchmarks can produce the same stream without the pacing thread.
  struct Record {
    std::string key;
    std::string payload;
  };
  class Generator {
   public:
    explicit Generator(const config::SourceOptions& source);
    Record Next(int64_t now_ms);

   private:
    double Gaussian();
    uint64_t NextRandom();

    const config::SourceOptions& source_;
    uint64_t rng_state_;
    int64_t n_ = 0;
    std::vector<int64_t> per_key_count_;
    std::vector<int64_t> shift_until_;
    int64_t burst_left_ = 0;
  };

 private:
  void Run();

  const config::SourceOptions& source_;
  Producer& producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> written_{0};
};

}  // namespace osprey::daemon
