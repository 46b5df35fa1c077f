#include "engine/mapped_file.h"

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "engine/sigbus_guard.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace shortgpt {

#ifdef _WIN32

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int wide_len = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
  std::wstring wide(static_cast<size_t>(wide_len > 0 ? wide_len : 1), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, wide.data(), wide_len);
  HANDLE file = CreateFileW(wide.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                            FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    throw NativeError("ERR_FILE_OPEN", "cannot open " + path + " for reading");
  }
  LARGE_INTEGER size;
  if (!GetFileSizeEx(file, &size)) {
    CloseHandle(file);
    throw NativeError("ERR_FILE_OPEN", "cannot read the size of " + path);
  }
  size_ = static_cast<uint64_t>(size.QuadPart);
  file_handle_ = file;
  if (size_ == 0) return;  // an empty file cannot be mapped; data() stays null
  HANDLE mapping = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!mapping) {
    CloseHandle(file);
    throw NativeError("ERR_FILE_MAP", "cannot map " + path);
  }
  void* view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  if (!view) {
    CloseHandle(mapping);
    CloseHandle(file);
    throw NativeError("ERR_FILE_MAP", "cannot map " + path);
  }
  mapping_handle_ = mapping;
  data_ = static_cast<const uint8_t*>(view);
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_handle_) CloseHandle(static_cast<HANDLE>(mapping_handle_));
  if (file_handle_) CloseHandle(static_cast<HANDLE>(file_handle_));
}

void MappedFile::advise_sequential(uint64_t, uint64_t) const {}

// Windows refuses to truncate a file while a view of it is mapped; the size
// check is kept for other ways a file can change (a network share).
void MappedFile::check_intact() const {
  LARGE_INTEGER size;
  if (file_handle_ && GetFileSizeEx(static_cast<HANDLE>(file_handle_), &size) &&
      static_cast<uint64_t>(size.QuadPart) < size_) {
    throw NativeError("ERR_FILE_CHANGED", path_ + " changed while open: it is now " + std::to_string(size.QuadPart) +
                                              " bytes, it was " + std::to_string(size_) + "; open it again");
  }
}

#else

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: open() of a FIFO would otherwise wait for a writer forever
  // (refused just below); it changes nothing for regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    throw NativeError(err == ENOENT ? "ERR_FILE_NOT_FOUND" : err == EISDIR ? "ERR_FILE_NOT_REGULAR" : "ERR_FILE_OPEN",
                      "cannot open " + path + " for reading: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw NativeError("ERR_FILE_OPEN", "cannot stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw NativeError("ERR_FILE_NOT_REGULAR", path + " is not a regular file (a folder, FIFO or device)");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    void* addr = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw NativeError("ERR_FILE_MAP", "cannot map " + path + ": " + std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(addr);
    guard_ = std::make_unique<SigbusGuard>(data_, size_);
  }
  fd_ = fd;
}

MappedFile::~MappedFile() {
  // Unwatch first: once unmapped, the addresses may be reused by anything.
  guard_.reset();
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::check_intact() const {
  check_not_tripped();
  struct stat st;
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) < size_) {
    throw NativeError("ERR_FILE_CHANGED", path_ + " changed while open: it is now " + std::to_string(st.st_size) +
                                              " bytes, it was " + std::to_string(size_) +
                                              " when opened (truncated or rewritten?); open it again");
  }
}

void MappedFile::advise_sequential(uint64_t offset, uint64_t length) const {
  if (!data_ || offset >= size_) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset / page * page;
  const uint64_t end = (offset + length < size_) ? offset + length : size_;
  ::madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_WILLNEED);
}

#endif

bool MappedFile::tripped() const { return guard_ && guard_->tripped(); }

void MappedFile::check_not_tripped() const {
  if (tripped()) {
    throw NativeError("ERR_FILE_CHANGED", path_ + " changed while in use: a read went past its end (it was truncated or "
                                              "rewritten meanwhile); the result is discarded; open it again");
  }
}

}  // namespace shortgpt
