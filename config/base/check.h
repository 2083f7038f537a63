// OSPREY_CHECK: programmer errors only (never user or config input). Logs and aborts.
// Thread-safe.
#pragma once

#include <sstream>

namespace osprey::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace osprey::internal

#define OSPREY_CHECK(cond) \
  if (cond) {              \
  } else                   \
    ::osprey::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()
