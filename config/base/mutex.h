// Mutex with clang thread-safety annotations (libstdc++'s std::mutex is not annotated), as
// leveldb's port::Mutex. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define OSPREY_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define OSPREY_THREAD_ANNOTATION_(x)
#endif

#define OSPREY_CAPABILITY(x) OSPREY_THREAD_ANNOTATION_(capability(x))
#define OSPREY_SCOPED_CAPABILITY OSPREY_THREAD_ANNOTATION_(scoped_lockable)
#define OSPREY_GUARDED_BY(x) OSPREY_THREAD_ANNOTATION_(guarded_by(x))
#define OSPREY_PT_GUARDED_BY(x) OSPREY_THREAD_ANNOTATION_(pt_guarded_by(x))
#define OSPREY_REQUIRES(...) OSPREY_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define OSPREY_EXCLUDES(...) OSPREY_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define OSPREY_ACQUIRE(...) OSPREY_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define OSPREY_RELEASE(...) OSPREY_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))

namespace osprey {

class OSPREY_CAPABILITY("mutex") Mutex {
 public:
  void Lock() OSPREY_ACQUIRE() { mu_.lock(); }
  void Unlock() OSPREY_RELEASE() { mu_.unlock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class OSPREY_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) OSPREY_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() OSPREY_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace osprey
