// How many threads the CPU kernels should use by default: the physical cores
// this process may run on. SMT siblings share a core's vector units, so a
// second thread per core adds little to matmul throughput and costs cache.
#pragma once

namespace shortgpt::cpu {

// Physical cores available to this process: on Linux the distinct
// (package, core) pairs among the CPUs in the affinity mask (sysfs topology,
// else /proc/cpuinfo), capped by a cgroup CPU quota; sysctl on macOS;
// GetLogicalProcessorInformation on Windows. Falls back to
// std::thread::hardware_concurrency(), and never returns less than 1.
int physical_cores();

}  // namespace shortgpt::cpu
