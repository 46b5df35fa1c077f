#include "cuda/cublas_loader.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <type_traits>
#include <string>
#include <vector>

#include "common/error.h"

namespace shortgpt::cuda {

namespace {

// Sonames in order of preference: the CUDA 13 library first (it matches the
// runtime linked into the addon), then CUDA 12's.
const char* const kSonames[] = {"libcublas.so.13", "libcublas.so.12"};

std::string lt_name_for(const std::string& soname) {
  // libcublas.so.13 -> libcublasLt.so.13
  return "libcublasLt" + soname.substr(std::string("libcublas").size());
}

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string dir_of(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

// A folder (its libcublas.so.13, then .so.12) or a file. A place the user
// named is kept even when it does not exist, so the error can say so;
// guessed folders are only tried when they exist.
void add_place(std::vector<std::string>& out, const std::string& place, bool named_by_user) {
  if (place.empty()) return;
  if (is_dir(place)) {
    for (const char* so : kSonames) out.push_back(place + "/" + so);
  } else if (named_by_user) {
    out.push_back(place);
  }
}

// site-packages / dist-packages folders where pip puts NVIDIA's wheels.
std::vector<std::string> python_site_dirs() {
  std::vector<std::string> roots;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (const char* v = std::getenv(var)) roots.push_back(std::string(v) + "/lib/python3*/site-packages");
  }
  if (const char* home = std::getenv("HOME")) roots.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  roots.push_back("/usr/local/lib/python3*/dist-packages");
  roots.push_back("/usr/local/lib/python3*/site-packages");
  roots.push_back("/usr/lib/python3/dist-packages");
  roots.push_back("/usr/lib/python3*/site-packages");
  std::vector<std::string> out;
  for (const std::string& r : roots) {
    for (const std::string& d : glob_paths(r)) out.push_back(d);
  }
  return out;
}

}  // namespace

std::vector<std::string> cublas_candidates(const std::string& user_path) {
  std::vector<std::string> out;
  add_place(out, user_path, true);
  if (const char* env = std::getenv("SHORTGPT_CUBLAS_PATH")) add_place(out, env, true);
  for (const char* so : kSonames) out.emplace_back(so);  // default loader path
  for (const std::string& d : glob_paths("/usr/local/cuda/lib64")) add_place(out, d, false);
  for (const std::string& d : glob_paths("/usr/local/cuda-*/lib64")) add_place(out, d, false);
  for (const std::string& site : python_site_dirs()) {
    add_place(out, site + "/nvidia/cu13/lib", false);
    add_place(out, site + "/nvidia/cublas/lib", false);
  }
  return out;
}

bool CublasLibrary::try_load(const std::string& lib, const std::string& dir, std::vector<std::string>& tried) {
  const size_t slash = lib.rfind('/');
  const std::string soname = slash == std::string::npos ? lib : lib.substr(slash + 1);
  // libcublas needs libcublasLt; its RPATH ($ORIGIN) finds one beside it, but
  // a copy elsewhere may not have that, so load Lt from the same folder first.
  void* lt = nullptr;
  if (!dir.empty() && soname.rfind("libcublas.so.", 0) == 0) {
    lt = dlopen((dir + "/" + lt_name_for(soname)).c_str(), RTLD_NOW | RTLD_GLOBAL);
  }
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    tried.push_back(lib + " (" + (why ? why : "not loadable") + ")");
    if (lt) dlclose(lt);
    return false;
  }
  CublasApi api;
  std::string missing;
  auto bind = [&](auto& fn, const char* name) {
    void* sym = dlsym(h, name);
    if (!sym) missing += std::string(missing.empty() ? "" : ", ") + name;
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
  bind(api.create, "cublasCreate_v2");
  bind(api.destroy, "cublasDestroy_v2");
  bind(api.set_stream, "cublasSetStream_v2");
  bind(api.set_math_mode, "cublasSetMathMode");
  bind(api.get_property, "cublasGetProperty");
  bind(api.status_string, "cublasGetStatusString");
  bind(api.gemm_ex, "cublasGemmEx");
  if (!missing.empty()) {
    tried.push_back(lib + " (loaded, but it lacks " + missing + ")");
    dlclose(h);
    if (lt) dlclose(lt);
    return false;
  }
  int major = 0, minor = 0, patch = 0;
  api.get_property(MAJOR_VERSION, &major);
  api.get_property(MINOR_VERSION, &minor);
  api.get_property(PATCH_LEVEL, &patch);
  if (major < 12) {
    tried.push_back(lib + " (cuBLAS " + std::to_string(major) + " is too old; 12 or newer is needed)");
    dlclose(h);
    if (lt) dlclose(lt);
    return false;
  }
  lib_ = h;
  lt_ = lt;
  api_ = api;
  version_ = major * 10000 + minor * 100 + patch;
  // Report the file the loader actually opened (a bare soname resolves somewhere).
  Dl_info info{};
  path_ = dladdr(reinterpret_cast<void*>(api.create), &info) && info.dli_fname ? info.dli_fname : lib;
  return true;
}

CublasLibrary::CublasLibrary(const std::string& user_path) {
  std::vector<std::string> tried;
  for (const std::string& c : cublas_candidates(user_path)) {
    if (try_load(c, dir_of(c), tried)) return;
  }
  std::string msg =
      "cuBLAS (libcublas.so.13 or .so.12) could not be loaded; install the CUDA toolkit or `pip install "
      "nvidia-cublas`, or give its folder as cublasPath / $SHORTGPT_CUBLAS_PATH. Tried: ";
  for (size_t i = 0; i < tried.size(); ++i) msg += (i ? "; " : "") + tried[i];
  throw NativeError("ERR_CUDA_UNAVAILABLE", msg);
}

CublasLibrary::~CublasLibrary() {
  // cuBLAS registers process-wide state; unloading it while a CUDA context
  // lives is what NVIDIA's samples avoid too, so the handles stay loaded for
  // the life of the process (dlopen reference-counts repeated loads).
}

void check_cublas(const CublasApi& api, cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const char* s = api.status_string ? api.status_string(status) : nullptr;
  // cublasCreate and the GEMMs allocate device memory (handle, workspace): a
  // full device is the same condition as a failed cudaMalloc.
  const char* code = status == CUBLAS_STATUS_ALLOC_FAILED ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA";
  throw NativeError(code, std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)) +
                                    (s ? std::string(" (") + s + ")" : std::string()));
}

}  // namespace shortgpt::cuda
