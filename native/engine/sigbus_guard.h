// Reads of a memory-mapped model whose file shrinks underneath (someone
// truncates or rewrites it while it is open) raise SIGBUS, which would kill
// the whole process, and in Electron the whole app. This guard turns them
// into an error the engine reports.
//
// How: each mapping registers its address range. A SIGBUS handler, installed
// once per process, looks at the faulting address; inside a registered range
// it maps anonymous zero pages over the rest of that mapping (everything from
// the faulting page on lies past the new end of the file, since truncation
// removes a tail), marks the mapping as tripped and returns, so the faulting
// read, in whatever thread, finishes on zeros. The engine checks the mark
// between blocks and after every call and throws ERR_FILE_CHANGED: the zeros
// never reach a result. Any other SIGBUS goes to the handler that was there
// before (Node's, Electron's crash reporter) or to the default action, as if
// the guard did not exist. No thread is interrupted and no longjmp crosses
// the engine's code.
//
// The range table is process-wide (a signal handler has no other kind of
// state): a fixed array of lock-free atomic slots, which the handler can read
// safely. Mappings beyond its size are simply unguarded.
//
// SHORTGPT_SIGBUS_GUARD=0 in the environment leaves SIGBUS alone (then a
// truncation during a call is fatal again; the size check before each call
// still applies). On Windows a mapped file cannot be truncated, so there is
// nothing to guard.
#pragma once

#include <cstddef>

namespace shortgpt {

class SigbusGuard {
 public:
  // Guards [base, base + length) (a whole mmap'ed region). Installs the
  // handler on first use.
  SigbusGuard(const void* base, size_t length);
  ~SigbusGuard();
  SigbusGuard(const SigbusGuard&) = delete;
  SigbusGuard& operator=(const SigbusGuard&) = delete;

  // A read hit a page past the end of the file since the guard was made.
  // Cheap (one atomic load): checked between blocks.
  bool tripped() const;
  // The range is watched (false on Windows, when disabled, or when the table is full).
  bool active() const { return slot_ >= 0; }

 private:
  int slot_ = -1;
};

}  // namespace shortgpt
