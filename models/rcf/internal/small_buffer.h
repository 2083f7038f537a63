// Stack-first scratch buffers for the RCF hot paths (no heap allocation per point for the usual
// sizes; larger sizes fall back to the heap). Internal to models/rcf.
// Thread-compatible.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace osprey::models::rcf::internal {

// A fixed-size array of `n` elements: inline when n <= N, heap otherwise. Contents uninitialised.
template <typename T, size_t N>
class ScratchArray {
 public:
  explicit ScratchArray(size_t n) {
    if (n > N) {
      heap_.resize(n);
      data_ = heap_.data();
    } else {
      data_ = inline_;
    }
  }
  ScratchArray(const ScratchArray&) = delete;
  ScratchArray& operator=(const ScratchArray&) = delete;
  T* data() { return data_; }
  T& operator[](size_t idx) { return data_[idx]; }

 private:
  T inline_[N];
  std::vector<T> heap_;
  T* data_;
};

// A stack (push/pop/index) that is inline up to N elements and spills to the heap beyond.
template <typename T, size_t N>
class ScratchStack {
 public:
  ScratchStack() = default;
  ScratchStack(const ScratchStack&) = delete;
  ScratchStack& operator=(const ScratchStack&) = delete;
  void push_back(T v) {
    if (size_ < N) {
      inline_[size_] = v;
    } else {
      if (heap_.size() < size_ + 1 - N) heap_.resize(size_ + 1 - N);
      heap_[size_ - N] = v;
    }
    ++size_;
  }
  T operator[](size_t idx) const { return idx < N ? inline_[idx] : heap_[idx - N]; }
  T back() const { return (*this)[size_ - 1]; }
  void pop_back() { --size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

 private:
  T inline_[N];
  std::vector<T> heap_;
  size_t size_ = 0;
};

}  // namespace osprey::models::rcf::internal

namespace osprey::models::rcf::internal {

// Allocator returning kAlign-aligned storage (cached boxes start on cache lines).
template <typename T, size_t kAlign>
struct AlignedAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = AlignedAllocator<U, kAlign>;
  };
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U, kAlign>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kAlign}));
  }
  void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{kAlign}); }
  template <typename U>
  bool operator==(const AlignedAllocator<U, kAlign>&) const {
    return true;
  }
};

}  // namespace osprey::models::rcf::internal
