#include "engine/sigbus_guard.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#ifndef _WIN32
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace shortgpt {

#ifdef _WIN32

SigbusGuard::SigbusGuard(const void*, size_t) {}
SigbusGuard::~SigbusGuard() = default;
bool SigbusGuard::tripped() const { return false; }

#else

namespace {

// Open models at once that are guarded; more are mapped unguarded.
constexpr int kSlots = 1024;

struct Slot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> begin{0};  // 0: not watched (being set up or torn down)
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> tripped{false};
};

// Process-wide by necessity: the signal handler reads them. Only lock-free
// atomics (checked below), which are safe to touch in a handler.
Slot g_slots[kSlots];
std::atomic<uintptr_t> g_page_mask{0};
struct sigaction g_previous;
std::once_flag g_install_once;
std::atomic<bool> g_installed{false};

static_assert(std::atomic<uintptr_t>::is_always_lock_free, "the SIGBUS handler needs lock-free atomics");
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGBUS handler needs lock-free atomics");

// What would have happened without us: the previous handler, or the default
// action (which, re-raised, ends the process as SIGBUS always did).
void chain(int sig, siginfo_t* info, void* context) {
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // SIG_IGN cannot be honoured for a fault (the read would fault forever).
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  // Only faults the kernel raised for an address (not kill(2)): a read past
  // the end of a file mapping is BUS_ADRERR; an I/O error reading one, BUS_OBJERR.
  if (info && (info->si_code == BUS_ADRERR || info->si_code == BUS_OBJERR)) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot& slot : g_slots) {
      const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      if (begin == 0 || addr < begin || addr >= slot.end.load(std::memory_order_acquire)) continue;
      const uintptr_t page = addr & g_page_mask.load(std::memory_order_relaxed);
      const uintptr_t end = slot.end.load(std::memory_order_acquire);
      // mmap is a plain system call here; MAP_FIXED swaps the pages in one step.
      void* zeros = mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (zeros == MAP_FAILED) break;
      slot.tripped.store(true, std::memory_order_release);
      return;
    }
  }
  chain(sig, info, context);
}

bool guard_enabled() {
  const char* env = std::getenv("SHORTGPT_SIGBUS_GUARD");
  return !(env && std::strcmp(env, "0") == 0);
}

void install() {
  if (!guard_enabled()) return;
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return;
  g_page_mask.store(~(static_cast<uintptr_t>(page) - 1), std::memory_order_relaxed);
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  // SA_ONSTACK: run on the thread's alternate stack when it has one (as Node's own handlers do).
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &g_previous) == 0) g_installed.store(true, std::memory_order_release);
}

}  // namespace

SigbusGuard::SigbusGuard(const void* base, size_t length) {
  if (!base || length == 0) return;
  std::call_once(g_install_once, install);
  if (!g_installed.load(std::memory_order_acquire)) return;
  const uintptr_t page_mask = g_page_mask.load(std::memory_order_relaxed);
  const uintptr_t begin = reinterpret_cast<uintptr_t>(base);
  // mmap maps whole pages: the region ends at the next page boundary.
  const uintptr_t end = (begin + length + ~page_mask) & page_mask;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    g_slots[i].tripped.store(false, std::memory_order_relaxed);
    g_slots[i].end.store(end, std::memory_order_release);
    g_slots[i].begin.store(begin, std::memory_order_release);
    slot_ = i;
    return;
  }
}

SigbusGuard::~SigbusGuard() {
  if (slot_ < 0) return;
  Slot& slot = g_slots[slot_];
  slot.begin.store(0, std::memory_order_release);
  slot.end.store(0, std::memory_order_release);
  slot.used.store(false, std::memory_order_release);
}

bool SigbusGuard::tripped() const {
  return slot_ >= 0 && g_slots[slot_].tripped.load(std::memory_order_acquire);
}

#endif

}  // namespace shortgpt
