// A file mapped read-only into memory. The mapping never reaches JavaScript
// (Electron's V8 memory cage forbids external buffers); native code reads
// weights straight from it, so the OS pages them in and out as needed.
//
// The file can shrink while mapped (another program truncates or rewrites
// it). check_intact() compares its size with the mapping (one fstat: callers
// run it before each call), and a read past the new end during a call is
// caught by the SIGBUS guard (sigbus_guard.h) and reported by tripped()
// instead of killing the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shortgpt {

class SigbusGuard;

class MappedFile {
 public:
  // Throws NativeError ERR_FILE_OPEN / ERR_FILE_NOT_REGULAR / ERR_FILE_MAP naming the path.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Hint that [offset, offset+length) will be read soon, in order.
  void advise_sequential(uint64_t offset, uint64_t length) const;

  // Throws ERR_FILE_CHANGED when the file is now shorter than the mapping,
  // or a read already went past its end (tripped()).
  void check_intact() const;
  // A read of the mapping hit a page past the end of the file (the bytes read
  // were zeros, not the model's): cheap, for checks between blocks.
  bool tripped() const;
  // Throws ERR_FILE_CHANGED when tripped().
  void check_not_tripped() const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::unique_ptr<SigbusGuard> guard_;
#ifdef _WIN32
  void* file_handle_ = nullptr;
  void* mapping_handle_ = nullptr;
#else
  int fd_ = -1;  // kept open for check_intact's fstat
#endif
};

}  // namespace shortgpt
