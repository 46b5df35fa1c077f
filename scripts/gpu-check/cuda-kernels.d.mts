// Types of cuda-kernels.mjs for the TypeScript tests that import it.
export interface CudaKernelCheck {
  name: string;
  run(): { ok: boolean; detail: string };
}
/** `random`: the random-blocks module (src/models/random-blocks.ts, or its dist/ build). */
export declare function cudaKernelChecks(addons: { cpu: any; cuda: any; random: typeof import("../../src/models/random-blocks.js") }): CudaKernelCheck[];
