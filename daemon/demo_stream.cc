#include "daemon/demo_stream.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "config/base/clock.h"
#include "config/base/json_writer.h"

namespace osprey::daemon {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kShiftLength = 200;

// Per-field shape: a daily-ish sine around a per-key level, with noise.
double BaseValue(size_t field, int key, int64_t t) {
  double level = 20.0 + 10.0 * static_cast<double>(field) + 3.0 * (key % 5);
  double amp = 2.0 + static_cast<double>(field);
  return level + amp * std::sin(2 * kPi * static_cast<double>(t) / 3000.0 + key);
}
}  // namespace

DemoStream::Generator::Generator(const config::SourceOptions& source)
    : source_(source),
      rng_state_(source.demo->seed * 0x9E3779B97F4A7C15ULL + 1),
      per_key_count_(source.demo->keys, 0),
      shift_until_(source.demo->keys, -1) {}

uint64_t DemoStream::Generator::NextRandom() {
  // splitmix64: fixed algorithm, same stream on every platform.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double DemoStream::Generator::Gaussian() {
  double u1 = (static_cast<double>(NextRandom() >> 11) + 0.5) * 0x1.0p-53;
  double u2 = static_cast<double>(NextRandom() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
}

DemoStream::Record DemoStream::Generator::Next(int64_t now_ms) {
  const config::DemoOptions& demo = *source_.demo;
  const int64_t n = n_++;
  int key = static_cast<int>(NextRandom() % static_cast<uint64_t>(demo.keys));
  int64_t t = per_key_count_[key]++;
  const char* planted = "none";

  if (demo.burst_every > 0 && n % demo.burst_every == demo.burst_every - 1) {
    burst_left_ = demo.burst_size;
  }
  bool burst = burst_left_ > 0;
  if (burst) --burst_left_;
  if (demo.level_shift_every > 0 && t > 0 && t % demo.level_shift_every == 0) {
    shift_until_[key] = t + kShiftLength;
  }
  bool shifted = t < shift_until_[key];
  double u = static_cast<double>(NextRandom() >> 11) * 0x1.0p-53;
  bool spike = !burst && u < demo.spike_probability;

  const size_t nv = source_.value_fields.size();
  std::vector<double> values(nv);
  for (size_t f = 0; f < nv; ++f) {
    double noise_sd = 1.0;
    double v = BaseValue(f, key, t) + noise_sd * Gaussian();
    if (burst) {
      // A tight box far from every key's normal range.
      v = 95.0 + 5.0 * static_cast<double>(f) + 0.2 * Gaussian();
    } else if (spike) {
      double sign = (NextRandom() & 1) != 0 ? 1.0 : -1.0;
      v += sign * (8.0 + 4.0 * static_cast<double>(NextRandom() % 1000) / 1000.0) * noise_sd *
           (1.0 + static_cast<double>(f));
    } else if (shifted) {
      v += 6.0 * noise_sd * (1.0 + static_cast<double>(f));
    }
    values[f] = std::round(v * 1000.0) / 1000.0;
  }
  if (burst) {
    planted = "burst";
  } else if (spike) {
    planted = "spike";
  } else if (shifted) {
    planted = "level_shift";
  }

  char key_buf[32];
  std::snprintf(key_buf, sizeof(key_buf), "host-%02d", key);
  Record rec;
  rec.key = key_buf;
  auto value_of = [&](const std::string& field) -> std::string {
    if (field == source_.key_field) return rec.key;
    if (field == source_.timestamp_field) {
      switch (source_.timestamp_format) {
        case config::TimestampFormat::kEpochSeconds: return std::to_string(now_ms / 1000);
        case config::TimestampFormat::kEpochMicros: return std::to_string(now_ms * 1000);
        case config::TimestampFormat::kIso8601: {
          std::time_t secs = now_ms / 1000;
          std::tm tm{};
          gmtime_r(&secs, &tm);
          char buf[64];
          std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(now_ms % 1000));
          return buf;
        }
        default: return std::to_string(now_ms);
      }
    }
    for (size_t f = 0; f < nv; ++f) {
      if (field == source_.value_fields[f]) {
        std::string s;
        JsonWriter(&s).Double(values[f]);
        return s;
      }
    }
    if (field == "planted") return planted;
    return "";
  };
  if (source_.format == config::RecordFormat::kCsv) {
    for (size_t c = 0; c < source_.csv_columns.size(); ++c) {
      if (c > 0) rec.payload += source_.csv_delimiter;
      rec.payload += value_of(source_.csv_columns[c]);
    }
    return rec;
  }
  JsonWriter w(&rec.payload);
  w.BeginObject();
  if (!source_.timestamp_field.empty()) {
    std::string ts = value_of(source_.timestamp_field);
    if (source_.timestamp_format == config::TimestampFormat::kIso8601) {
      w.Key(source_.timestamp_field).String(ts);
    } else {
      w.Key(source_.timestamp_field).Int(std::stoll(ts));
    }
  }
  if (!source_.key_field.empty()) w.Key(source_.key_field).String(rec.key);
  for (size_t f = 0; f < nv; ++f) w.Key(source_.value_fields[f]).Double(values[f]);
  w.Key("planted").String(planted);
  w.EndObject();
  return rec;
}

DemoStream::DemoStream(const config::SourceOptions& source, Producer& producer)
    : source_(source), producer_(producer) {}

DemoStream::~DemoStream() { Stop(); }

void DemoStream::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void DemoStream::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void DemoStream::Run() {
  const config::DemoOptions& demo = *source_.demo;
  const std::string& topic = source_.topics.front();
  Generator gen(source_);
  Clock& clock = SystemClock::Default();
  const int64_t start_ns = clock.MonotonicNanos();
  spdlog::info("demo stream: writing {} records/s over {} keys to '{}'", demo.rate_per_sec,
               demo.keys, topic);
  while (!stop_.load()) {
    if (demo.max_records > 0 && written_.load() >= demo.max_records) break;
    // Pace: the n-th record is due at start + n / rate.
    double due_s = static_cast<double>(written_.load()) / demo.rate_per_sec;
    double now_s = static_cast<double>(clock.MonotonicNanos() - start_ns) * 1e-9;
    if (due_s > now_s) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::min<int64_t>(static_cast<int64_t>((due_s - now_s) * 1e6), 50000)));
      continue;
    }
    Record rec = gen.Next(clock.NowMillis());
    Status st = producer_.Produce(topic, rec.key, rec.payload);
    if (!st.ok()) {
      spdlog::error("demo stream: {}", st.ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    written_.fetch_add(1);
  }
}

}  // namespace osprey::daemon
