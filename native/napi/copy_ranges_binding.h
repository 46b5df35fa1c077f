#pragma once

#include <napi.h>

namespace shortgpt {

// copyRanges(src, dst, ranges: Float64Array of (srcOffset, dstOffset, length)
// triples, cancelToken?, onProgress?(bytesDone)) -> Promise<void>
Napi::Value copy_ranges_js(const Napi::CallbackInfo& info);

}  // namespace shortgpt
