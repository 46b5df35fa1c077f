// TempFileGuard: a temporary file that must not outlive its JS environment.
// The GGUF writer fills a temp file beside the output and removes it itself on
// error or abort, but when a worker_thread is terminated (or an Electron
// window closes) no JavaScript runs again, not even a `finally`: the env
// cleanup hook registered here removes the file then. release() drops the
// hook once the file was renamed into place or removed.
#pragma once

#include <napi.h>

namespace shortgpt {

// new TempFileGuard(path: string); guard.release()
Napi::Function define_temp_file_guard_class(Napi::Env env);

}  // namespace shortgpt
