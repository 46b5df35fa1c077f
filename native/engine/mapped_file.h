// A file mapped read-only into memory. The mapping never reaches JavaScript
// (Electron's V8 memory cage forbids external buffers); native code reads
// weights straight from it, so the OS pages them in and out as needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shortgpt {

class MappedFile {
 public:
  // Throws NativeError ERR_FILE_OPEN / ERR_FILE_MAP naming the path.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Hint that [offset, offset+length) will be read soon, in order.
  void advise_sequential(uint64_t offset, uint64_t length) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
#ifdef _WIN32
  void* file_handle_ = nullptr;
  void* mapping_handle_ = nullptr;
#endif
};

}  // namespace shortgpt
