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
#include <sys/stat.h>
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

// Bytes of the source the ranges reach: the file must stay at least this long.
uint64_t bytes_needed(const std::vector<CopyRange>& ranges) {
  uint64_t end = 0;
  for (const CopyRange& r : ranges) end = std::max(end, r.src_offset + r.length);
  return end;
}

[[noreturn]] void throw_changed(const std::string& path, uint64_t size, uint64_t needed) {
  throw NativeError("ERR_FILE_CHANGED", path + " changed while it was being copied: it is now " + std::to_string(size) +
                                            " bytes, but its tensors reach byte " + std::to_string(needed) +
                                            " (was it truncated or rewritten meanwhile?); nothing was written");
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
  (void)method;  // Windows has no in-kernel copy of ranges: always buffered
  const std::vector<CopyRange> ranges = coalesce(requested);
  const uint64_t needed = bytes_needed(ranges);
  Handle src, dst;
  src.h = open_win(src_path, false);
  dst.h = open_win(dst_path, true);
  if (GetFileType(src.h) != FILE_TYPE_DISK) {
    throw NativeError("ERR_FILE_NOT_REGULAR", src_path + " is not a regular file");
  }
  auto source_size = [&]() -> uint64_t {
    LARGE_INTEGER size;
    if (!GetFileSizeEx(src.h, &size)) throw NativeError("ERR_FILE_READ", "cannot read the size of " + src_path);
    return static_cast<uint64_t>(size.QuadPart);
  };
  if (const uint64_t size = source_size(); size < needed) throw_changed(src_path, size, needed);
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
      if (!ReadFile(src.h, buffer.get(), want, &got, &ov)) {
        if (GetLastError() == ERROR_HANDLE_EOF) throw_changed(src_path, source_size(), needed);
        throw NativeError("ERR_FILE_READ", "cannot read " + src_path + " at byte " + std::to_string(at));
      }
      if (got != want) throw_changed(src_path, source_size(), needed);
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
  if (const uint64_t size = source_size(); size < needed) throw_changed(src_path, size, needed);
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

// The source's current size; it must be a regular file (a FIFO or device has
// no ranges to copy, and opening one without O_NONBLOCK would hang).
uint64_t source_size(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw NativeError("ERR_FILE_READ", "cannot stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw NativeError("ERR_FILE_NOT_REGULAR", path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

void require_covers(int fd, const std::string& path, uint64_t needed) {
  const uint64_t size = source_size(fd, path);
  if (size < needed) throw_changed(path, size, needed);
}

// Copies [src, src+len) to dst with pread/pwrite through a buffer. The end
// of the file before `len` bytes were read means the source shrank.
void copy_buffered(int in, int out, uint64_t src, uint64_t dst, uint64_t len, char* buffer,
                   const std::string& src_path, const std::string& dst_path, uint64_t needed) {
  while (len > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(len, kBufferBytes));
    ssize_t got = ::pread(in, buffer, want, static_cast<off_t>(src));
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) throw_changed(src_path, source_size(in, src_path), needed);
    if (got < 0) {
      throw NativeError("ERR_FILE_READ", "cannot read " + src_path + " at byte " + std::to_string(src) + ": " +
                                             std::strerror(errno));
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
                 const std::string& src_path, const std::string& dst_path, uint64_t needed) {
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
    if (n == 0) throw_changed(src_path, source_size(in, src_path), needed);  // end of file before the range ends
    len -= static_cast<uint64_t>(n);
  }
  return true;
#else
  (void)in; (void)out; (void)src; (void)dst; (void)len; (void)src_path; (void)dst_path; (void)needed;
  return false;
#endif
}

// Next data segment at or after `pos` within [pos, end): returns {start, stop}
// or start == end when the rest is a hole. Without SEEK_DATA support the whole
// rest counts as data. SEEK_DATA also answers ENXIO at or past the end of the
// file, so "only a hole remains" is believed only while the file still covers
// `needed`: a source that shrank is ERR_FILE_CHANGED, not a hole of zeros.
std::pair<uint64_t, uint64_t> next_data(int fd, uint64_t pos, uint64_t end, const std::string& path, uint64_t needed) {
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
  off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) {
      require_covers(fd, path, needed);
      return {end, end};  // only a hole remains
    }
    return {pos, end};
  }
  uint64_t start = std::min<uint64_t>(static_cast<uint64_t>(data), end);
  off_t hole = ::lseek(fd, static_cast<off_t>(start), SEEK_HOLE);
  uint64_t stop = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
  return {start, stop};
#else
  (void)fd; (void)path; (void)needed;
  return {pos, end};
#endif
}

}  // namespace

void copy_ranges(const std::string& src_path, const std::string& dst_path,
                 const std::vector<CopyRange>& requested,
                 const std::function<void(uint64_t)>& on_progress,
                 const std::atomic<bool>& cancelled, CopyMethod method) {
  const std::vector<CopyRange> ranges = coalesce(requested);
  const uint64_t needed = bytes_needed(ranges);
  Fd in, out;
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
  // It changes nothing for the regular files that pass the check below.
  in.fd = open_posix(src_path, O_RDONLY | O_NONBLOCK);
  require_covers(in.fd, src_path, needed);
  out.fd = open_posix(dst_path, O_WRONLY);
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(in.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  bool use_kernel = method == CopyMethod::Kernel;
  std::unique_ptr<char[]> buffer;
  uint64_t done = 0;
  for (const CopyRange& r : ranges) {
    const uint64_t end = r.src_offset + r.length;
    uint64_t pos = r.src_offset;
    while (pos < end) {
      auto [start, stop] = next_data(in.fd, pos, end, src_path, needed);
      done += start - pos;  // a hole: the destination already reads as zeros
      pos = start;
      while (pos < stop) {
        check_cancel(cancelled);
        const uint64_t len = std::min<uint64_t>(kChunkBytes, stop - pos);
        const uint64_t dst = r.dst_offset + (pos - r.src_offset);
        if (use_kernel && !copy_kernel(in.fd, out.fd, pos, dst, len, src_path, dst_path, needed)) {
          use_kernel = false;
        }
        if (!use_kernel) {
          if (!buffer) buffer.reset(new char[kBufferBytes]);
          copy_buffered(in.fd, out.fd, pos, dst, len, buffer.get(), src_path, dst_path, needed);
        }
        pos += len;
        done += len;
        on_progress(done);
      }
    }
  }
  // A shrink during the last skipped hole shows only now.
  require_covers(in.fd, src_path, needed);
}

#endif

}  // namespace shortgpt
