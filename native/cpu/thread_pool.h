// A fixed set of worker threads owned by one engine instance (no global
// pool: the addon must stay context-aware, and two engines must not share or
// starve each other's workers).
//
//   ThreadPool pool(4);                       // 4 threads in all: 3 workers + the caller
//   pool.parallel_for(n_tasks, [&](int64_t task, int worker) { ... });
//
// parallel_for hands out task indices dynamically (an atomic counter), so
// uneven tasks balance; `worker` (0..size()-1) indexes per-thread scratch.
// The calling thread works too. Workers spin briefly after a job before
// sleeping, so back-to-back small jobs (decode-sized matmuls) do not pay a
// wake-up each. A call made from inside a task runs serially on that thread;
// calls from different threads are serialized.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shortgpt::cpu {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t task, int worker)>;

  // threads >= 1 (values < 1 are treated as 1). Throws ERR_INVALID_ARG above 1024.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, worker) for every task in [0, n_tasks) and returns when all
  // are done. The first exception thrown by a task is rethrown here (the
  // remaining tasks are skipped).
  void parallel_for(int64_t n_tasks, const Task& fn);

 private:
  void worker_main(int worker);
  void run_tasks(int worker);

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> caller_{};  // thread running the current job
  std::atomic<uint64_t> generation_{0};

  // The current job.
  const Task* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};  // workers still inside the current job
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

}  // namespace shortgpt::cpu
