/**
 * An open model on the forward engine: `openModel(path)` reads the GGUF
 * header, resolves the architecture's ModelConfig (src/arch), and hands the
 * file, tensor table and config to the native Engine, which maps the weights
 * and checks every tensor before anything runs.
 *
 *   const model = await openModel("model.gguf", { threads: 4 });
 *   const { perplexity } = await model.perplexity(text, { ctx: 512, chunks: 20, skip: [12, 13] });
 *   const stats = await model.hiddenStats(windows, { spans: [1, 4] });
 *   const { tokens } = await model.generate(promptIds, { maxTokens: 64 });
 *   model.close();
 *
 * Every long call runs off the JS thread, accepts { signal, onProgress }
 * and rejects with AbortError when the signal fires. Calls on one model run
 * one after another; separate models run in parallel.
 */
import { modelConfig, type ModelConfig } from "./arch/model-config.js";
import { checkCallOptions, invalidOption } from "./call-options.js";
import { checkDeviceOptions, deviceReport, openEngine, type DeviceOptions, type DeviceReport, type DeviceSelection } from "./device/select.js";
import { cancelTokenFor, normalizeNativeError, throwIfAborted, type NativeAddon, type NativeEngine, type NativeEngineInfo } from "./engine.js";
import { AbortError, ShortgptError } from "./errors.js";
import { hiddenStatsFromNative, type HiddenStats } from "./evaluate/hidden-stats.js";
import { perplexityOfTokens, type PerplexityOptions, type PerplexityResult } from "./evaluate/perplexity.js";
import { contextLengthOf, optionalInteger } from "./gguf/metadata.js";
import { assertUnchanged, readGguf, type GgufFile } from "./gguf/read.js";
import type { CalibrationText } from "./data/calibration.js";
import { scoreModel, type ScoreOptions, type ScoreResult } from "./score/score.js";
import { encodeWorkerEntry, OFF_THREAD_MIN_CHARACTERS, OffThreadEncoder } from "./tokenizer/encode-off-thread.js";
import { loadTokenizer, type EncodeOptions, type Tokenizer } from "./tokenizer/index.js";

export interface OpenModelOptions extends DeviceOptions {
  /** Threads of this model's pool, 1..1024 (the CUDA backend uses them for host work); leave it out for one per physical core. */
  threads?: number;
  /** Bytes of working memory a call may use for activations; batches are sized to fit. Default 512 MiB. */
  memoryBudget?: number;
  /**
   * Precision of K and V in attention: "f16" rounds them as llama.cpp's
   * default F16 KV cache does (default); "f32" keeps full precision.
   */
  kvCache?: "f16" | "f32";
}

/** Progress of a long call: `done` of `total` sequences (fractional within a batch). */
export interface EngineProgress {
  readonly done: number;
  readonly total: number;
}

export interface RunOptions {
  /** Aborting rejects the call with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called on the JS thread as the work advances (never after an abort). If it
   * throws, the work stops and the call rejects with that error.
   */
  onProgress?: (progress: EngineProgress) => void;
  /** Block indices to skip (run as identity): simulates removing them. */
  skip?: readonly number[];
  /**
   * Run sequences longer than the model's training context
   * (`{arch}.context_length`). Off by default: positions the model never saw
   * give meaningless numbers, and attention's cost grows with the square of
   * the length (ERR_CONTEXT_LENGTH).
   */
  allowLongContext?: boolean;
}

export interface LogitsOptions extends RunOptions {
  /** Positions whose logits to return (default: every position). */
  positions?: readonly number[];
}

export interface HiddenStatsOptions extends RunOptions {
  /** Spans n for cos(x_i, x_{i+n}) and angular distance (default [1]). */
  spans?: readonly number[];
}

export interface GenerateOptions {
  /** Tokens to generate at most (≥ 1); the prompt plus these must fit in the model's context. */
  maxTokens: number;
  /** Block indices to skip (run as identity, no KV cache kept for them): decodes as the pruned model would. */
  skip?: readonly number[];
  signal?: AbortSignal;
  /**
   * Called with each token as it is generated (index 0, 1, …), on the JS thread, while the
   * generation runs. Throwing stops the generation and rejects the call with that error.
   */
  onToken?: (token: number, index: number) => void;
  /** Keep going past end-of-generation tokens (EOS, EOT, <|im_end|>, …) until maxTokens. Default false. */
  ignoreEos?: boolean;
  /** Also return the logits each token was chosen from (tokens × vocab floats). */
  returnLogits?: boolean;
}

export interface GenerateResult {
  /** Generated token ids (the prompt and a final end-of-generation token not included). */
  readonly tokens: number[];
  /** "eos": an end-of-generation token was sampled; "maxTokens": the limit was reached. */
  readonly finishReason: "eos" | "maxTokens";
  readonly promptTokens: number;
  /** The prompt through every block in one batch, and the first token: time to first token. */
  readonly prefillSeconds: number;
  /** Every later step: one token through every block against the KV cache. */
  readonly decodeSeconds: number;
  /** Forward passes of one token (tokens sampled − 1: the last token is never fed back). */
  readonly decodeSteps: number;
  readonly prefillTokensPerSecond: number;
  /** decodeSteps / decodeSeconds (0 when there was no step). */
  readonly decodeTokensPerSecond: number;
  /** Bytes the KV cache held at the end (f16 K and V of the blocks kept, for the context used). */
  readonly kvCacheBytes: number;
  /** returnLogits: row i (vocab floats) = the logits token i was chosen from; one row more when generation stopped at an end-of-generation token. */
  readonly logits?: Float32Array;
}

export interface TokenizeOptions extends EncodeOptions {
  signal?: AbortSignal;
}

/** Windows for hiddenStats: token arrays, or calibrationWindows' output (windows × ctx ids). */
export type Windows = readonly ArrayLike<number>[] | { readonly ids: Int32Array; readonly ctx: number };

export const DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024;

/** A model dropped without close() stops its tokenizer worker when it is collected. */
const encoderOfCollectedModel = new FinalizationRegistry<OffThreadEncoder>((encoder) => encoder.close());

export class Model {
  readonly path: string;
  readonly file: GgufFile;
  readonly config: ModelConfig;
  private engine: NativeEngine | undefined;
  /** The addon that made the engine: its cancel tokens are the ones the engine reads. */
  private readonly native_addon: NativeAddon;
  private readonly selection: DeviceSelection;
  private tokenizerCache: Tokenizer | undefined;
  private stopTokensCache: Int32Array | undefined;
  /** BOS rule of the vocabulary, known from the main-thread tokenizer or the worker's answer. */
  private bosCache: { addBos: boolean; bos: number | null } | undefined;
  private encoder: OffThreadEncoder | undefined;
  private closeRequested = false;
  /** Calls in progress that have not queued their native work yet (tokenizing, scoring): close() waits for them. */
  private retained = 0;
  /** Calls on one engine share its buffers: they run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  /** @internal use openModel */
  constructor(path: string, file: GgufFile, config: ModelConfig, engine: NativeEngine, nativeAddon: NativeAddon, selection: DeviceSelection) {
    this.path = path;
    this.file = file;
    this.config = config;
    this.engine = engine;
    this.native_addon = nativeAddon;
    this.selection = selection;
  }

  get architecture(): string {
    return this.config.architecture;
  }

  get blockCount(): number {
    return this.config.nLayer;
  }

  get vocabSize(): number {
    return this.config.nVocab;
  }

  /** Backend, threads, SIMD level and memory budget in use (CUDA: the device and its peak memory so far). */
  get info(): NativeEngineInfo {
    return this.native().info;
  }

  /**
   * The device this model runs on, as reports record it: the GPU (name, memory, compute
   * capability, CUDA driver / runtime / cuBLAS versions, peak memory so far) or the CPU
   * (model name, RAM, threads, SIMD); with `device: "auto"` on the CPU, why CUDA was not used.
   */
  get device(): DeviceReport {
    return deviceReport(this.native().info, this.selection);
  }

  /** The model's tokenizer (loaded on first use). */
  get tokenizer(): Tokenizer {
    this.tokenizerCache ??= loadTokenizer(this.file);
    return this.tokenizerCache;
  }

  /**
   * `tokenizer.encode(text)` without blocking the event loop: a long text
   * (64 Ki characters or more) is encoded in a worker_thread with the same
   * tokenizer, so the ids are identical; a short one right here.
   */
  async tokenize(text: string | Uint8Array, options: TokenizeOptions = {}): Promise<Int32Array> {
    checkCallOptions("model.tokenize", options, []);
    if (typeof text !== "string" && !(text instanceof Uint8Array)) {
      throw new ShortgptError("ERR_INVALID_ARG", `model.tokenize: text must be a string or a Uint8Array, got ${typeof text}`);
    }
    const { signal } = options;
    throwIfAborted(signal);
    const encodeOptions = { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false };
    const entry = text.length >= OFF_THREAD_MIN_CHARACTERS ? encodeWorkerEntry() : undefined;
    if (!entry) return Int32Array.from(this.tokenizer.encode(text, encodeOptions));
    const release = this.retain();
    try {
      if (!this.encoder) {
        this.encoder = new OffThreadEncoder(this.path, entry);
        encoderOfCollectedModel.register(this, this.encoder, this);
      }
      const out = await this.encoder.encode(text, { ...encodeOptions, ...(signal ? { signal } : {}) });
      this.bosCache ??= { addBos: out.addBos, bos: out.bos };
      return out.ids;
    } finally {
      release();
    }
  }

  /**
   * @internal The token each window or chunk starts with (BOS where the
   * vocabulary adds it, else null), without building the tokenizer on this
   * thread when a worker already told.
   */
  windowStartToken(): number | null {
    this.bosCache ??= { addBos: this.tokenizer.addBos, bos: this.tokenizer.special.bos };
    return this.bosCache.addBos ? this.bosCache.bos : null;
  }

  /**
   * @internal Keeps the engine open until the returned function is called:
   * a call that prepares its input (tokenizing) before it queues native work
   * still runs when close() comes meanwhile.
   */
  retain(): () => void {
    this.native();
    this.retained++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.retained--;
      this.releaseIfClosed();
    };
  }

  /** Logits of one sequence (starting at position 0): positions × vocab floats, row-major. */
  async logits(ids: ArrayLike<number>, options: LogitsOptions = {}): Promise<Float32Array> {
    checkCallOptions("model.logits", options);
    const tokens = this.tokenArray(ids);
    this.checkContext(tokens.length, options, "a sequence");
    const positions = options.positions ?? Array.from({ length: tokens.length }, (_, i) => i);
    const rows = new Int32Array(positions.length);
    positions.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 0 || p >= tokens.length) {
        throw new ShortgptError("ERR_INVALID_ARG", `position ${p} is outside 0..${tokens.length - 1}`);
      }
      rows[i] = p;
    });
    const skip = this.skipMask(options.skip);
    return this.run(options, 1, (engine, cancel, progress) => engine.logits(tokens, rows, skip, cancel, progress));
  }

  /**
   * Perplexity exactly as llama-perplexity computes it: `text` tokenized once
   * with BOS, chunks of `ctx` tokens with BOS over each first token, positions
   * ctx/2 … ctx−2 scored. Pass `{ tokens }` to skip tokenization.
   */
  async perplexity(
    text: string | { readonly tokens: ArrayLike<number>; readonly bos?: number | null },
    options: PerplexityOptions = {},
  ): Promise<PerplexityResult> {
    checkCallOptions("model.perplexity", options);
    this.checkContext(options.ctx ?? 512, options, "a perplexity chunk (ctx)");
    const skip = this.skipMask(options.skip);
    const release = this.retain();
    try {
      const tokens =
        typeof text === "string"
          ? await this.tokenize(text, { addSpecial: true, parseSpecial: false, ...(options.signal ? { signal: options.signal } : {}) })
          : text.tokens;
      // BOS over each chunk's first token where the vocabulary adds BOS (or as the caller says).
      const bos = typeof text !== "string" && text.bos !== undefined ? text.bos : this.windowStartToken();
      return await perplexityOfTokens(tokens, bos, options, (ids, ctx, first, runOptions, total) =>
        this.run(runOptions, total, (engine, cancel, progress) => engine.perplexity(ids, ctx, first, skip, cancel, progress)),
      );
    } finally {
      release();
    }
  }

  /**
   * ShortGPT scores of every block on calibration text: tokenized once, cut
   * into windows (default 64 × 256 tokens), one pass with hooks. See
   * src/score/score.ts.
   */
  score(text: CalibrationText | string, options: ScoreOptions = {}): Promise<ScoreResult> {
    return scoreModel(this, text, options);
  }

  /** The raw hook sums over `windows` (each an independent sequence from position 0). */
  async hiddenStats(windows: Windows, options: HiddenStatsOptions = {}): Promise<HiddenStats> {
    checkCallOptions("model.hiddenStats", options);
    let tokens: Int32Array;
    let lengths: Int32Array;
    if ("ids" in windows && "ctx" in windows && !Array.isArray(windows)) {
      const { ids, ctx } = windows as { ids: Int32Array; ctx: number };
      if (!Number.isInteger(ctx) || ctx < 1 || ids.length % ctx !== 0) {
        throw new ShortgptError("ERR_INVALID_ARG", "windows.ids must hold a whole number of windows of ctx tokens");
      }
      tokens = this.tokenArray(ids);
      lengths = new Int32Array(ids.length / ctx).fill(ctx);
    } else {
      const list = windows as readonly ArrayLike<number>[];
      const total = list.reduce((n, w) => n + w.length, 0);
      tokens = new Int32Array(total);
      lengths = new Int32Array(list.length);
      let at = 0;
      list.forEach((w, i) => {
        tokens.set(this.tokenArray(w), at);
        at += w.length;
        lengths[i] = w.length;
      });
    }
    if (lengths.length === 0 || lengths.some((l) => l < 1)) {
      throw new ShortgptError("ERR_INVALID_ARG", "hiddenStats needs at least one window, each with at least one token");
    }
    this.checkContext(Math.max(...lengths), options, "a window");
    const spans = options.spans ?? [1];
    for (const n of spans) {
      if (!Number.isInteger(n) || n < 1 || n > this.blockCount) {
        throw new ShortgptError("ERR_INVALID_ARG", `span ${n} is outside 1..${this.blockCount}`);
      }
    }
    const skip = this.skipMask(options.skip);
    const raw = await this.run(options, lengths.length, (engine, cancel, progress) =>
      engine.hiddenStats(tokens, lengths, Int32Array.from(spans), skip, cancel, progress),
    );
    return hiddenStatsFromNative(raw, this.blockCount);
  }

  /**
   * The model's training context ({arch}.context_length): prompt plus generated tokens must fit
   * (2^31 when the file does not say).
   */
  get contextLength(): number {
    return contextLengthOf(this.file) ?? 2 ** 31;
  }

  /**
   * Greedy continuation of `promptIds` (used as they are: add BOS yourself where the model
   * wants it) with a KV cache: the prompt in one batch, then one token at a time; the highest
   * logit wins (the lowest id on ties), as llama.cpp's greedy sampler. Stops at an
   * end-of-generation token unless `ignoreEos`. Runs off the JS thread; abortable.
   */
  async generate(promptIds: ArrayLike<number>, options: GenerateOptions): Promise<GenerateResult> {
    if (options === undefined) throw new ShortgptError("ERR_INVALID_ARG", "model.generate: options with maxTokens are required");
    checkCallOptions("model.generate", options, ["onToken"]);
    const prompt = this.tokenArray(promptIds);
    if (prompt.length === 0) throw new ShortgptError("ERR_INVALID_ARG", "the prompt needs at least one token");
    const maxTokens = options.maxTokens;
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) {
      throw new ShortgptError("ERR_INVALID_ARG", `maxTokens must be a positive integer, got ${String(maxTokens)}`);
    }
    const context = Math.min(this.contextLength, 2 ** 31);
    if (prompt.length + maxTokens > context) {
      throw new ShortgptError(
        "ERR_CONTEXT_LENGTH",
        `a prompt of ${prompt.length} tokens plus ${maxTokens} new tokens does not fit in the model's context of ${context} tokens`,
      );
    }
    const skip = this.skipMask(options.skip);
    const stop = options.ignoreEos ? new Int32Array(0) : this.stopTokens();
    const onToken = options.onToken;

    // An onToken that throws stops the generation: its own abort, beside the caller's signal
    // (whose reason is forwarded, so an AbortError's cause is the caller's reason).
    const internal = new AbortController();
    const forward = () => internal.abort(options.signal!.reason);
    options.signal?.addEventListener("abort", forward, { once: true });
    if (options.signal?.aborted) internal.abort(options.signal.reason);
    let callbackError: { error: unknown } | undefined;
    let delivered = 0;
    let settled = false;
    const deliver = (tokens: ArrayLike<number>) => {
      for (let i = 0; i < tokens.length && !callbackError; i++) {
        try {
          onToken!(tokens[i]!, delivered++);
        } catch (error) {
          callbackError = { error };
          internal.abort();
        }
      }
    };
    const onTokens = onToken
      ? (chunk: Int32Array) => {
          if (!settled) deliver(chunk);
        }
      : undefined;
    try {
      const raw = await this.run({ signal: internal.signal }, 0, (engine, cancel) =>
        engine.generate(prompt, maxTokens, stop, skip, context, options.returnLogits === true, cancel, onTokens),
      );
      settled = true;
      // Tokens whose progress message had not arrived yet.
      if (onToken && delivered < raw.tokens.length) deliver(raw.tokens.subarray(delivered));
      if (callbackError) throw callbackError.error;
      return {
        tokens: Array.from(raw.tokens),
        finishReason: raw.stopped ? "eos" : "maxTokens",
        promptTokens: prompt.length,
        prefillSeconds: raw.prefillSeconds,
        decodeSeconds: raw.decodeSeconds,
        decodeSteps: raw.decodeSteps,
        prefillTokensPerSecond: raw.prefillSeconds > 0 ? prompt.length / raw.prefillSeconds : 0,
        decodeTokensPerSecond: raw.decodeSteps > 0 && raw.decodeSeconds > 0 ? raw.decodeSteps / raw.decodeSeconds : 0,
        kvCacheBytes: raw.kvCacheBytes,
        ...(raw.logits ? { logits: raw.logits } : {}),
      };
    } catch (error) {
      settled = true;
      if (callbackError && error instanceof AbortError) throw callbackError.error;
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", forward);
    }
  }

  /** End-of-generation token ids of the vocabulary (EOS, EOT, <|im_end|>, …). */
  private stopTokens(): Int32Array {
    if (!this.stopTokensCache) {
      const ids: number[] = [];
      let tokenizer: Tokenizer | undefined;
      try {
        tokenizer = this.tokenizer;
      } catch {
        // A vocabulary our tokenizer refuses still names its EOS / EOT ids.
        for (const key of ["eos", "eot", "eom"]) {
          const id = optionalInteger(this.file, `tokenizer.ggml.${key}_token_id`);
          if (id !== undefined && id >= 0 && id < this.vocabSize) ids.push(id);
        }
      }
      if (tokenizer) {
        const n = Math.min(tokenizer.vocabSize, this.vocabSize);
        for (let id = 0; id < n; id++) if (tokenizer.isEndOfGeneration(id)) ids.push(id);
      }
      this.stopTokensCache = Int32Array.from(ids);
    }
    return this.stopTokensCache;
  }

  /**
   * Windows of `seqLen` tokens that one batch holds under the memory budget
   * (with hooks keeping `maxSpan` extra states for hiddenStats; 0 for perplexity).
   */
  sequencesPerBatch(seqLen: number, maxSpan = 0): number {
    return this.native().sequencesPerBatch(seqLen, maxSpan);
  }

  /** Seconds per step of the block since open or the last resetProfile() (for benchmarks). */
  profile(): Record<string, number> {
    return this.native().profile();
  }

  resetProfile(): void {
    this.native().resetProfile();
  }

  /**
   * No new calls after this; calls already made finish (tokenizing included),
   * then the mapping, buffers and tokenizer worker are released (otherwise
   * they go at garbage collection).
   */
  close(): void {
    this.closeRequested = true;
    this.releaseIfClosed();
  }

  get closed(): boolean {
    return this.closeRequested;
  }

  private releaseIfClosed(): void {
    if (!this.closeRequested || this.retained > 0 || !this.engine) return;
    const engine = this.engine;
    this.engine = undefined;
    const encoder = this.encoder;
    this.encoder = undefined;
    if (encoder) {
      encoderOfCollectedModel.unregister(this);
      encoder.close();
    }
    void this.queue.finally(() => engine.close());
  }

  private native(): NativeEngine {
    if (!this.engine || (this.closeRequested && this.retained === 0)) {
      throw new ShortgptError("ERR_MODEL_CLOSED", `${this.path}: the model has been closed`);
    }
    return this.engine;
  }

  private tokenArray(ids: ArrayLike<number>): Int32Array {
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new ShortgptError("ERR_TOKEN_RANGE", `token id ${id} at index ${i} is outside the vocabulary (0..${this.vocabSize - 1})`);
      }
      out[i] = id;
    }
    return out;
  }

  private skipMask(skip: readonly number[] | undefined): Uint8Array {
    const mask = new Uint8Array(this.blockCount);
    for (const i of skip ?? []) {
      if (!Number.isInteger(i) || i < 0 || i >= this.blockCount) {
        throw new ShortgptError("ERR_INVALID_SKIP", `cannot skip block ${i}: the model has blocks 0-${this.blockCount - 1}`);
      }
      mask[i] = 1;
    }
    return mask;
  }

  /** ERR_CONTEXT_LENGTH for a sequence longer than the training context, unless allowed. */
  private checkContext(length: number, options: Pick<RunOptions, "allowLongContext">, what: string): void {
    const limit = this.contextLength;
    if (options.allowLongContext || length <= limit) return;
    throw new ShortgptError(
      "ERR_CONTEXT_LENGTH",
      `${what} of ${length} tokens is longer than the ${limit}-token context ${this.path} was trained on ` +
        `(${this.architecture}.context_length): use at most ${limit} tokens, or allowLongContext (CLI: --force-context) to run it anyway`,
    );
  }

  /** Native errors about the model's contents (ERR_NON_FINITE) name the file. */
  private withPath(error: unknown): unknown {
    if (error instanceof Error && (error as { code?: unknown }).code === "ERR_NON_FINITE" && !error.message.startsWith(this.path)) {
      error.message = `${this.path}: ${error.message}`;
    }
    return error;
  }

  /** Queues a native call: abort and progress wiring, one call at a time per model. */
  private run<T>(
    options: RunOptions,
    total: number,
    call: (engine: NativeEngine, cancel: ReturnType<typeof cancelTokenFor>["token"], progress?: (done: number) => void) => Promise<T>,
  ): Promise<T> {
    // The engine is taken now: a call made before close() still runs.
    const engine = this.native();
    const start = async (): Promise<T> => {
      const { signal, onProgress } = options;
      throwIfAborted(signal);
      const { token, dispose } = cancelTokenFor(signal, this.native_addon);
      try {
        // A throwing onProgress cancels the native task, which rejects with that error.
        return await call(engine, token, onProgress ? (done) => {
          if (!signal?.aborted) onProgress({ done, total });
        } : undefined);
      } catch (error) {
        throw this.withPath(normalizeNativeError(error, signal));
      } finally {
        dispose();
      }
    };
    const result = this.queue.then(start, start);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/**
 * Opens a GGUF model for the forward engine. Throws ERR_UNSUPPORTED_ARCH
 * (naming the supported architectures), ERR_UNSUPPORTED_TYPE (naming the
 * tensor and its type), ERR_MISSING_TENSOR, ERR_TENSOR_SHAPE or ERR_GGUF_*
 * before anything runs.
 *
 * `device`: "cpu" (default); "cuda" runs on the GPU through the CUDA addon
 * (ERR_CUDA_UNAVAILABLE naming what is missing: the CUDA addon, the driver, a
 * usable GPU, cuBLAS); "auto" takes CUDA when all of that is there, else the
 * CPU, and `model.device.fallbackReason` says why.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<Model> {
  checkCallOptions("openModel", options, []);
  checkDeviceOptions(options);
  // 0 is the native side's "one per physical core"; a caller asks for that by leaving threads out.
  const threads = options.threads ?? 0;
  if (options.threads !== undefined && (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw invalidOption("openModel", "threads", "an integer 1..1024 (leave it out for one per physical core)", options.threads);
  }
  const memoryBudget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  if (typeof memoryBudget !== "number" || !Number.isSafeInteger(memoryBudget) || memoryBudget < 16 * 1024 * 1024) {
    throw invalidOption("openModel", "memoryBudget", "a whole number of bytes, at least 16 MiB", options.memoryBudget);
  }
  const kv = options.kvCache ?? "f16";
  if (kv !== "f16" && kv !== "f32") throw invalidOption("openModel", "kvCache", "'f16' or 'f32'", options.kvCache);
  const file = readGguf(path);
  const config = modelConfig(file);
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, offset: t.offset, size: t.size }));
  const { engine, addon, selection } = openEngine([path, tensors, config], { threads, kv, memoryBudget }, options);
  try {
    // The file mapped must be the one whose header was read (not replaced or rewritten in between).
    assertUnchanged(file);
  } catch (error) {
    engine.close();
    throw error;
  }
  return new Model(path, file, config, engine, addon, selection);
}
