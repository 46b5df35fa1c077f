#include "engine/range_copy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/error.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#endif

namespace shortgpt {

namespace {

// Large enough that per-call overhead vanishes, small enough that progress
// and cancellation stay responsive (~10-50 ms per chunk on a disk).
constexpr uint64_t kChunkBytes = 32ull << 20;
constexpr size_t kBufferBytes = 8u << 20;

void check_cancel(const std::atomic<bool>& cancelled) {
  if (cancelled.load(std::memory_order_relaxed)) {
    throw NativeError("ABORT_ERR", "The operation was aborted");
  }
}

// Ranges that continue each other in both files become one: a GGUF's tensors
// are usually back to back, so a rewrite is a handful of large kernel copies
// instead of hundreds of small ones.
std::vector<CopyRange> coalesce(const std::vector<CopyRange>& ranges) {
  std::vector<CopyRange> out;
  out.reserve(ranges.size());
  for (const CopyRange& r : ranges) {
    if (r.length == 0) continue;
    if (!out.empty()) {
      CopyRange& last = out.back();
      if (last.src_offset + last.length == r.src_offset && last.dst_offset + last.length == r.dst_offset) {
        last.length += r.length;
        continue;
      }
    }
    out.push_back(r);
  }
  return out;
}

#ifdef _WIN32

struct Handle {
  HANDLE h = INVALID_HANDLE_VALUE;
  ~Handle() {
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
  }
};

HANDLE open_win(const std::string& path, bool write) {
  int n = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
  std::wstring wide(static_cast<size_t>(n > 0 ? n : 1), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, wide.data(), n);
  HANDLE h = CreateFileW(wide.c_str(), write ? GENERIC_WRITE : GENERIC_READ, FILE_SHARE_READ,
                         nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    throw NativeError("ERR_FILE_OPEN", "cannot open " + path + (write ? " for writing" : ""));
  }
  return h;
}

}  // namespace

void copy_ranges(const std::string& src_path, const std::string& dst_path,
                 const std::vector<CopyRange>& requested,
                 const std::function<void(uint64_t)>& on_progress,
                 const std::atomic<bool>& cancelled) {
  const std::vector<CopyRange> ranges = coalesce(requested);
  Handle src, dst;
  src.h = open_win(src_path, false);
  dst.h = open_win(dst_path, true);
  std::unique_ptr<char[]> buffer(new char[kBufferBytes]);
  uint64_t done = 0;
  for (const CopyRange& r : ranges) {
    uint64_t copied = 0;
    while (copied < r.length) {
      check_cancel(cancelled);
      DWORD want = static_cast<DWORD>(std::min<uint64_t>(kBufferBytes, r.length - copied));
      OVERLAPPED ov = {};
      uint64_t at = r.src_offset + copied;
      ov.Offset = static_cast<DWORD>(at);
      ov.OffsetHigh = static_cast<DWORD>(at >> 32);
      DWORD got = 0;
      if (!ReadFile(src.h, buffer.get(), want, &got, &ov) || got != want) {
        throw NativeError("ERR_FILE_READ", "short read from " + src_path);
      }
      OVERLAPPED ow = {};
      uint64_t to = r.dst_offset + copied;
      ow.Offset = static_cast<DWORD>(to);
      ow.OffsetHigh = static_cast<DWORD>(to >> 32);
      DWORD put = 0;
      if (!WriteFile(dst.h, buffer.get(), want, &put, &ow) || put != want) {
        throw NativeError("ERR_FILE_WRITE", "short write to " + dst_path);
      }
      copied += want;
      done += want;
      on_progress(done);
    }
  }
}

#else

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int open_posix(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    throw NativeError("ERR_FILE_OPEN", "cannot open " + path + ": " + std::strerror(errno));
  }
  return fd;
}

// Copies [src, src+len) to dst with pread/pwrite through a buffer.
void copy_buffered(int in, int out, uint64_t src, uint64_t dst, uint64_t len, char* buffer,
                   const std::string& src_path, const std::string& dst_path) {
  while (len > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(len, kBufferBytes));
    ssize_t got = ::pread(in, buffer, want, static_cast<off_t>(src));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      throw NativeError("ERR_FILE_READ", "cannot read " + src_path + " at byte " +
                                             std::to_string(src) + ": " +
                                             (got == 0 ? "unexpected end of file" : std::strerror(errno)));
    }
    size_t put = 0;
    while (put < static_cast<size_t>(got)) {
      ssize_t w = ::pwrite(out, buffer + put, static_cast<size_t>(got) - put, static_cast<off_t>(dst + put));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        throw NativeError("ERR_FILE_WRITE", "cannot write " + dst_path + ": " + std::strerror(errno));
      }
      put += static_cast<size_t>(w);
    }
    src += static_cast<uint64_t>(got);
    dst += static_cast<uint64_t>(got);
    len -= static_cast<uint64_t>(got);
  }
}

// Copies one chunk; returns false when the kernel path is unavailable here
// (then the caller switches to the buffered path for good).
bool copy_kernel(int in, int out, uint64_t src, uint64_t dst, uint64_t len,
                 const std::string& src_path, const std::string& dst_path) {
#ifdef __linux__
  loff_t off_in = static_cast<loff_t>(src), off_out = static_cast<loff_t>(dst);
  while (len > 0) {
    // The system call itself (Linux 4.5+; ENOSYS before, handled below): glibc declares the
    // copy_file_range wrapper only from 2.27, and the prebuilds link against glibc 2.17.
    ssize_t n = ::syscall(SYS_copy_file_range, in, &off_in, out, &off_out, static_cast<size_t>(len), 0u);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
                  errno == EBADF || errno == EPERM)) {
      if (static_cast<uint64_t>(off_in) == src) return false;  // nothing copied yet: fall back
      throw NativeError("ERR_FILE_WRITE", "copy_file_range failed part-way into " + dst_path +
                                              ": " + std::strerror(errno));
    }
    if (n < 0) {
      throw NativeError("ERR_FILE_WRITE", "cannot copy " + src_path + " into " + dst_path + ": " +
                                              std::strerror(errno));
    }
    if (n == 0) {
      throw NativeError("ERR_FILE_READ", "unexpected end of " + src_path + " at byte " +
                                             std::to_string(off_in));
    }
    len -= static_cast<uint64_t>(n);
  }
  return true;
#else
  (void)in; (void)out; (void)src; (void)dst; (void)len; (void)src_path; (void)dst_path;
  return false;
#endif
}

// Next data segment at or after `pos` within [pos, end): returns {start, stop}
// or start == end when the rest is a hole. Without SEEK_DATA support the whole
// rest counts as data.
std::pair<uint64_t, uint64_t> next_data(int fd, uint64_t pos, uint64_t end) {
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
  off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return {end, end};  // only a hole remains
    return {pos, end};
  }
  uint64_t start = std::min<uint64_t>(static_cast<uint64_t>(data), end);
  off_t hole = ::lseek(fd, static_cast<off_t>(start), SEEK_HOLE);
  uint64_t stop = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
  return {start, stop};
#else
  (void)fd;
  return {pos, end};
#endif
}

}  // namespace

void copy_ranges(const std::string& src_path, const std::string& dst_path,
                 const std::vector<CopyRange>& requested,
                 const std::function<void(uint64_t)>& on_progress,
                 const std::atomic<bool>& cancelled) {
  const std::vector<CopyRange> ranges = coalesce(requested);
  Fd in, out;
  in.fd = open_posix(src_path, O_RDONLY);
  out.fd = open_posix(dst_path, O_WRONLY);
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(in.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  bool use_kernel = true;
  std::unique_ptr<char[]> buffer;
  uint64_t done = 0;
  for (const CopyRange& r : ranges) {
    const uint64_t end = r.src_offset + r.length;
    uint64_t pos = r.src_offset;
    while (pos < end) {
      auto [start, stop] = next_data(in.fd, pos, end);
      done += start - pos;  // a hole: the destination already reads as zeros
      pos = start;
      while (pos < stop) {
        check_cancel(cancelled);
        const uint64_t len = std::min<uint64_t>(kChunkBytes, stop - pos);
        const uint64_t dst = r.dst_offset + (pos - r.src_offset);
        if (use_kernel && !copy_kernel(in.fd, out.fd, pos, dst, len, src_path, dst_path)) {
          use_kernel = false;
        }
        if (!use_kernel) {
          if (!buffer) buffer.reset(new char[kBufferBytes]);
          copy_buffered(in.fd, out.fd, pos, dst, len, buffer.get(), src_path, dst_path);
        }
        pos += len;
        done += len;
        on_progress(done);
      }
    }
  }
}

#endif

}  // namespace shortgpt
