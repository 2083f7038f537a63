#include "config/base/clock.h"

#include <chrono>

namespace osprey {

int64_t SystemClock::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::MonotonicNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Clock& SystemClock::Default() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace osprey
