#pragma once
// dlopen of dposg's optional modules (the CUDA GAN operator, gan/cuda/cuda_gan_operator.cpp; the NCCL
// transport, core/nccl_exchange.cpp): modules keep their heavy libraries (cuBLAS, NCCL) out of the
// dposg executable, so it starts fast and runs where those libraries are absent.
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace dposg {

// Tries $env_var (if set), then `build_path` (the build tree's copy), then its file name next to the
// executable; the first that dlopen loads and for which bind(handle) finds every entry point wins (it
// stays loaded for the life of the process). False when none does, `error` saying what was tried.
template <class Bind>
bool load_module(const char* env_var, const char* build_path, Bind bind, std::string& error) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv(env_var); env && *env) paths.emplace_back(env);
  paths.emplace_back(build_path);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back((exe.parent_path() / std::filesystem::path(build_path).filename()).string());
  std::string tried;
  for (const std::string& path : paths) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = dlerror();
      tried += (tried.empty() ? "" : "; ") + (e ? std::string(e) : path);
      continue;
    }
    if (bind(handle)) return true;
    tried += (tried.empty() ? "" : "; ") + path + ": entry points missing";
  }
  error = tried;
  return false;
}

// dlsym into a typed function pointer; false when the symbol is missing.
template <class F>
bool bind_symbol(void* handle, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(handle, name));
  return f != nullptr;
}

}  // namespace dposg
