#include "cpu/thread_pool.h"

#include <chrono>
#include <string>

#include "common/error.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#define SHORTGPT_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SHORTGPT_PAUSE() __asm__ __volatile__("yield")
#else
#define SHORTGPT_PAUSE() std::this_thread::yield()
#endif

namespace shortgpt::cpu {

namespace {

// How long an idle worker polls for the next job before sleeping: long enough
// to cover the gap between the matmuls of one forward pass, short enough not
// to burn a shared core for long.
constexpr auto kSpin = std::chrono::microseconds(300);
// Pause-polling only this long, then yield while polling: when the machine
// has fewer free cores than threads, the thread we wait for may be queued on
// our core, and busy-waiting would keep it from running at all.
constexpr auto kPauseOnly = std::chrono::microseconds(20);

template <class Pred>
bool spin_until(Pred ready) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      SHORTGPT_PAUSE();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= kSpin) return ready();
    if (waited >= kPauseOnly) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads > 1024) {
    throw NativeError("ERR_INVALID_ARG", "threads must be at most 1024, not " + std::to_string(threads));
  }
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<size_t>(threads - 1));
  try {
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { worker_main(w); });
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(int worker) {
  for (;;) {
    if (failed_.load(std::memory_order_relaxed)) return;
    const int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) return;
    try {
      (*fn_)(task, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::worker_main(int worker) {
  // Every worker must take part in every job (parallel_for waits for all of
  // them), so start from the generation the pool was built with, not from
  // whatever a job started before this thread got scheduled set it to.
  uint64_t seen = 0;
  for (;;) {
    auto changed = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(changed)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, changed);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    run_tasks(worker);
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n_tasks, const Task& fn) {
  if (n_tasks <= 0) return;
  const std::thread::id self = std::this_thread::get_id();
  // A task that calls back into the pool (on a worker, or on the thread that
  // started the job) must not wait for itself: such calls, and jobs too small
  // to share, run serially here.
  bool serial = workers_.empty() || n_tasks == 1 || caller_.load(std::memory_order_relaxed) == self;
  for (const auto& t : workers_) serial = serial || t.get_id() == self;
  if (serial) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  std::lock_guard<std::mutex> call(call_mutex_);
  caller_.store(self, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_tasks_ = n_tasks;
    next_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    active_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(0);
  auto finished = [&] { return active_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
  fn_ = nullptr;
  caller_.store(std::thread::id(), std::memory_order_relaxed);
  if (error_) std::rethrow_exception(error_);
}

}  // namespace shortgpt::cpu
