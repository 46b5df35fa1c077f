// Types of cuda-kernels.mjs for the TypeScript tests that import it.
export declare const CUDA_KERNEL_TYPES: string[];
export declare function randomBlocks(name: string, rows: number, nIn: number, seed: number, extremes?: boolean, tame?: number): { type: number; bytes: Uint8Array };
export interface CudaKernelCheck {
  name: string;
  run(): { ok: boolean; detail: string };
}
export declare function cudaKernelChecks(addons: { cpu: any; cuda: any }): CudaKernelCheck[];
