/** One line naming a device, for the terminal, the HTML report and bench. */
import type { DeviceReport } from "./select.js";

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/**
 * "NVIDIA H100 80GB HBM3 (CUDA device 0, 79.2 GiB, compute 9.0; driver 13.0, runtime 13.5,
 * cuBLAS 13.1.0)" or "AMD EPYC 7B13 (CPU, 2 threads, avx2; 23.5 GiB RAM)"; with the reason
 * when `auto` fell back to the CPU.
 */
export function describeDevice(d: DeviceReport): string {
  let text: string;
  if (d.backend === "cuda") {
    const versions = [
      d.driverVersion !== undefined ? `driver ${d.driverVersion}` : "",
      d.runtimeVersion !== undefined ? `runtime ${d.runtimeVersion}` : "",
      d.cublasVersion !== undefined ? `cuBLAS ${d.cublasVersion}` : "",
    ].filter(Boolean);
    const peak = d.peakDeviceBytes !== undefined ? `, peak ${gib(d.peakDeviceBytes)} used` : "";
    const streamed = d.streamedBlocks ? `, ${d.streamedBlocks} blocks streamed` : "";
    text = `${d.name} (CUDA device ${d.index ?? 0}, ${gib(d.memoryBytes)}${peak}${streamed}${d.computeCapability ? `, compute ${d.computeCapability}` : ""}${versions.length ? `; ${versions.join(", ")}` : ""})`;
  } else {
    const threads = d.threads !== undefined ? `, ${d.threads} thread${d.threads === 1 ? "" : "s"}` : "";
    text = `${d.name} (CPU${threads}${d.simd ? `, ${d.simd}` : ""}; ${gib(d.memoryBytes)} RAM)`;
  }
  if (d.fallbackReason !== undefined) text += `; device ${d.requested} ran on the CPU: ${d.fallbackReason}`;
  return text;
}
