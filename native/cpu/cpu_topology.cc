#include "cpu/cpu_topology.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#elif defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#endif

namespace shortgpt::cpu {

namespace {

int logical_fallback() {
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

#if defined(__linux__)

bool read_int(const std::string& path, long* out) {
  std::ifstream f(path);
  return static_cast<bool>(f >> *out);
}

// CPUs this process may run on (taskset, cpusets).
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  return cpus;
}

// Distinct (package, core) pairs from sysfs; 0 if the topology is not readable.
int cores_from_sysfs(const std::vector<int>& cpus) {
  std::set<std::pair<long, long>> cores;
  for (int c : cpus) {
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    long pkg = 0, core = 0;
    if (!read_int(dir + "physical_package_id", &pkg) || !read_int(dir + "core_id", &core)) return 0;
    cores.insert({pkg, core});
  }
  return static_cast<int>(cores.size());
}

// Distinct (physical id, core id) pairs from /proc/cpuinfo for the allowed CPUs.
int cores_from_cpuinfo(const std::vector<int>& cpus) {
  std::ifstream f("/proc/cpuinfo");
  if (!f) return 0;
  std::set<int> allowed(cpus.begin(), cpus.end());
  std::set<std::pair<long, long>> cores;
  long processor = -1, pkg = 0, core = -1;
  auto flush = [&] {
    if (processor >= 0 && core >= 0 && allowed.count(static_cast<int>(processor))) cores.insert({pkg, core});
    processor = -1;
    pkg = 0;
    core = -1;
  };
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) {
      flush();
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    std::istringstream value(line.substr(colon + 1));
    if (key == "processor") value >> processor;
    else if (key == "physical id") value >> pkg;
    else if (key == "core id") value >> core;
  }
  flush();
  return static_cast<int>(cores.size());
}

// A cgroup v2 quota ("max 100000" = none; "200000 100000" = 2 CPUs), rounded up; 0 if none.
int cgroup_cpu_limit() {
  std::ifstream f("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
  const double cpus = std::stod(quota) / static_cast<double>(period);
  return cpus > 0 ? static_cast<int>(std::ceil(cpus)) : 0;
}

int detect() {
  std::vector<int> cpus = allowed_cpus();
  if (cpus.empty()) return logical_fallback();
  int cores = cores_from_sysfs(cpus);
  if (cores <= 0) cores = cores_from_cpuinfo(cpus);
  if (cores <= 0) cores = static_cast<int>(cpus.size());
  const int quota = cgroup_cpu_limit();
  if (quota > 0) cores = std::min(cores, quota);
  return cores;
}

#elif defined(__APPLE__)

int detect() {
  int n = 0;
  size_t len = sizeof n;
  if (sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
  return logical_fallback();
}

#elif defined(_WIN32)

int detect() {
  DWORD bytes = 0;
  GetLogicalProcessorInformation(nullptr, &bytes);
  if (bytes == 0) return logical_fallback();
  std::vector<SYSTEM_LOGICAL_PROCESSOR_INFORMATION> info(bytes / sizeof(SYSTEM_LOGICAL_PROCESSOR_INFORMATION));
  if (!GetLogicalProcessorInformation(info.data(), &bytes)) return logical_fallback();
  int cores = 0;
  for (const auto& i : info) cores += i.Relationship == RelationProcessorCore;
  return cores > 0 ? cores : logical_fallback();
}

#else

int detect() { return logical_fallback(); }

#endif

}  // namespace

int physical_cores() {
  try {
    return std::max(1, detect());
  } catch (...) {
    return logical_fallback();
  }
}

}  // namespace shortgpt::cpu
