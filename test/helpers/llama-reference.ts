/**
 * llama.cpp as the reference, through node-llama-cpp@3.21.1's prebuilt CPU
 * binaries (../shared/docs/node-llama-cpp-as-reference.md): never built, never
 * downloaded. One Llama instance per test process.
 */
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";

let llamaPromise: Promise<Llama> | undefined;

export function referenceLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    logLevel: "error" as never,
    progressLogs: false,
  });
  return llamaPromise;
}

export async function loadReferenceModel(path: string): Promise<LlamaModel> {
  const llama = await referenceLlama();
  return llama.loadModel({ modelPath: path });
}

/**
 * Greedy continuation of `promptIds` for `count` tokens with llama.cpp.
 * The context is one token larger than needed (the context-shift trap).
 */
export async function generateGreedy(model: LlamaModel, promptIds: readonly number[], count: number, threads = 2): Promise<number[]> {
  const context = await model.createContext({ contextSize: promptIds.length + count + 1, threads });
  try {
    const sequence = context.getSequence();
    const out: number[] = [];
    for await (const token of sequence.evaluate(promptIds as never, { temperature: 0 })) {
      out.push(token as number);
      if (out.length >= count) break;
    }
    return out;
  } finally {
    await context.dispose();
  }
}
