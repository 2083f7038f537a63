// Clock: injected processing time. Event time is carried by events and never read from here.
// SystemClock is thread-safe; FakeClock (tests/testing) is thread-safe too.
#pragma once

#include <cstdint>

namespace osprey {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch.
  virtual int64_t NowMillis() const = 0;
  // Monotonic nanoseconds, for durations and latency.
  virtual int64_t MonotonicNanos() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
  int64_t MonotonicNanos() const override;
  // A process-wide instance. Never destroyed.
  static Clock& Default();
};

}  // namespace osprey
