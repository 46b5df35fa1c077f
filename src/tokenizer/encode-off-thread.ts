/**
 * Tokenizing long texts off the calling thread. The tokenizer is JavaScript:
 * 2.6 MB of text took 1.2 s of the event loop (plus ~0.3-0.5 s to build the
 * tokenizer the first time), which froze an Electron UI and starved every
 * timer during `score`. An OffThreadEncoder runs the same tokenizer, loaded
 * from the model's own file, in a worker_thread (encode-worker.ts), so the
 * ids are the same. One worker per model, started on first use and kept
 * for the next texts; it never keeps the process alive while idle.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { AbortError, ShortgptError } from "../errors.js";
import type { EncodeReply, EncodeRequest } from "./encode-worker.js";
import type { EncodeOptions } from "./tokenizer.js";

/**
 * Texts shorter than this (characters, or bytes for a Uint8Array) are best
 * encoded on the calling thread: at ~2 MB/s that blocks it for at most
 * ~30 ms, less than a worker's start.
 */
export const OFF_THREAD_MIN_CHARACTERS = 64 * 1024;

/**
 * The worker entry beside this module (dist/tokenizer/encode-worker.js), or
 * undefined when it is not there: running from the TypeScript sources
 * (tests) or from a bundle that left it out. Callers then encode
 * synchronously, as before, rather than fail.
 */
export function encodeWorkerEntry(): URL | undefined {
  try {
    // Inside the try: a CommonJS bundle from esbuild leaves import.meta.url undefined, and new URL throws.
    const url = new URL("./encode-worker.js", import.meta.url);
    return url.protocol === "file:" && existsSync(fileURLToPath(url)) ? url : undefined;
  } catch {
    return undefined;
  }
}

export interface OffThreadEncodeOptions extends EncodeOptions {
  signal?: AbortSignal;
}

/** Encoded ids, with the tokenizer's BOS rule (what cutting windows needs) so the caller need not load it. */
export interface OffThreadEncoding {
  readonly ids: Int32Array;
  readonly addBos: boolean;
  readonly bos: number | null;
}

interface Pending {
  resolve(value: OffThreadEncoding): void;
  reject(error: unknown): void;
}

/** One started worker and the requests it owes an answer; a stopped worker fails only its own. */
interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** A worker_thread holding one GGUF file's tokenizer. */
export class OffThreadEncoder {
  private running: Running | undefined;
  private nextId = 0;

  constructor(
    private readonly path: string,
    private readonly entry: URL,
  ) {}

  /** tokenizer.encode(text) in the worker. Rejects with AbortError (cause: the signal's reason) when `signal` fires. */
  encode(text: string | Uint8Array, options: OffThreadEncodeOptions = {}): Promise<OffThreadEncoding> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    const running = this.start();
    const id = this.nextId++;
    const request: EncodeRequest = { id, text, addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false };
    return new Promise<OffThreadEncoding>((resolve, reject) => {
      const onAbort = () => {
        settle(running, id);
        reject(new AbortError(undefined, { cause: signal!.reason }));
        // The text cannot be taken back from a busy worker: stop it unless others wait on it.
        if (running.pending.size === 0) this.stop(running);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      running.pending.set(id, {
        resolve: (value) => {
          done();
          resolve(value);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      running.worker.ref();
      running.worker.postMessage(request);
    });
  }

  /** Stops the worker; texts still being encoded reject with ERR_TOKENIZER. */
  close(): void {
    if (this.running) this.stop(this.running);
  }

  private stop(running: Running): void {
    if (this.running === running) this.running = undefined;
    void running.worker.terminate();
    failAll(running, new ShortgptError("ERR_TOKENIZER", `${this.path}: the tokenizer worker was stopped`));
  }

  private start(): Running {
    if (this.running) return this.running;
    const running: Running = { worker: new Worker(this.entry, { workerData: { path: this.path } }), pending: new Map() };
    running.worker.on("message", (reply: EncodeReply) => {
      const p = settle(running, reply.id);
      if (!p) return; // aborted meanwhile
      if ("ids" in reply) p.resolve({ ids: reply.ids, addBos: reply.addBos, bos: reply.bos });
      else p.reject(new ShortgptError(reply.error.code ?? "ERR_TOKENIZER", reply.error.message));
    });
    running.worker.on("error", (error) => {
      if (this.running === running) this.running = undefined;
      failAll(running, error);
    });
    running.worker.on("exit", (code) => {
      if (this.running === running) this.running = undefined;
      failAll(running, new ShortgptError("ERR_TOKENIZER", `${this.path}: the tokenizer worker stopped (exit code ${code})`));
    });
    this.running = running;
    return running;
  }
}

/** Forgets request `id`; an idle worker stops holding the process open. */
function settle(running: Running, id: number): Pending | undefined {
  const p = running.pending.get(id);
  running.pending.delete(id);
  if (running.pending.size === 0) running.worker.unref();
  return p;
}

function failAll(running: Running, error: unknown): void {
  const all = [...running.pending.values()];
  running.pending.clear();
  for (const p of all) p.reject(error);
}
