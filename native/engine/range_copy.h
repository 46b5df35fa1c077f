// Copying byte ranges from one file into another, for the GGUF rewrite:
// tensor bytes move unchanged from the input model to their new offsets in the
// output, with no per-model memory (the rewrite's memory must not grow with the
// model). On Linux the kernel copies (copy_file_range), like cp does; holes in
// sparse inputs are skipped, so sparse stays sparse.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shortgpt {

struct CopyRange {
  uint64_t src_offset;
  uint64_t dst_offset;
  uint64_t length;
};

// How bytes move. Kernel: copy_file_range where the system has it (falling
// back to Buffered when it refuses); Buffered: pread/pwrite through a buffer
// (forced by tests, so both paths stay covered).
enum class CopyMethod { Kernel, Buffered };

// Copies every range from `src_path` into the existing file `dst_path`.
// Contract: every destination range reads as zeros beforehand (the caller
// created and sized the file), which is what lets holes be skipped.
// `on_progress(bytes_done)` is called after each chunk; `cancelled` is polled
// between chunks and makes the copy stop with NativeError ABORT_ERR.
//
// The source must be a regular file that covers every range, before, during
// and after the copy: a source that shrinks (someone truncates or rewrites it
// meanwhile) is ERR_FILE_CHANGED, never bytes past its end read as zeros.
// Errors: NativeError ERR_FILE_OPEN / ERR_FILE_NOT_REGULAR / ERR_FILE_CHANGED /
// ERR_FILE_READ / ERR_FILE_WRITE naming the path.
void copy_ranges(const std::string& src_path, const std::string& dst_path,
                 const std::vector<CopyRange>& ranges,
                 const std::function<void(uint64_t)>& on_progress,
                 const std::atomic<bool>& cancelled, CopyMethod method = CopyMethod::Kernel);

}  // namespace shortgpt
