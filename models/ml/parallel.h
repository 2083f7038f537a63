// Deterministic data parallelism for the batch trainers: work is cut into FIXED chunks (their
// boundaries depend on the data size only, never on the thread count), threads take chunks from
// an atomic counter, and each chunk writes its own result slot. Callers then merge the slots in
// chunk order, so a result is bit-identical for any number of threads and any timing.
// Thread-safe: ParallelChunks may be called from several threads; `fn` must be safe to call
// concurrently for different chunk indices.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace osprey::models::ml {

// Threads to use for `requested` (0 = the hardware's concurrency), at least 1.
inline int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
}

// Calls fn(chunk) for every chunk in [0, num_chunks) on up to `threads` threads (the caller's
// thread included); returns when all are done. Threads are started per call, so use it for
// passes worth at least ~1 ms each.
template <typename Fn>
void ParallelChunks(size_t num_chunks, int threads, const Fn& fn) {
  const size_t workers = std::min<size_t>(num_chunks, static_cast<size_t>(std::max(1, threads)));
  if (workers <= 1) {
    for (size_t c = 0; c < num_chunks; ++c) fn(c);
    return;
  }
  std::atomic<size_t> next{0};
  auto run = [&] {
    for (size_t c = next.fetch_add(1); c < num_chunks; c = next.fetch_add(1)) fn(c);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
}

}  // namespace osprey::models::ml
