/**
 * JSON Schema (draft 2020-12) of `shortgpt score --json` output (ScoreReport).
 * Tests validate real output against it; users can validate theirs.
 */
export const SCORE_REPORT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://github.com/shortgpt/shortgpt/score-report.schema.json",
  title: "shortgpt score report",
  type: "object",
  required: ["model", "architecture", "blockCount", "metric", "span", "ctx", "windows", "tokens", "layers", "order"],
  additionalProperties: false,
  properties: {
    model: { type: "string", description: "path of the scored GGUF file" },
    architecture: { type: "string" },
    blockCount: { type: "integer", minimum: 1 },
    metric: { enum: ["bi", "angular", "rm"], description: "metric that `order` ranks by" },
    span: { type: "integer", minimum: 1, description: "span n of the angular distance" },
    ctx: { type: "integer", minimum: 2 },
    windows: { type: "integer", minimum: 1 },
    windowsRequested: { type: "integer", minimum: 1, description: "windows asked for; more than `windows` when the text was too short" },
    tokens: { type: "integer", minimum: 1 },
    seconds: { type: "number", minimum: 0 },
    calibration: {
      type: "object",
      required: ["sources", "characters", "textTokens"],
      additionalProperties: false,
      properties: {
        sources: { type: "array", items: { type: "string" } },
        characters: { type: "integer", minimum: 0 },
        textTokens: { type: "integer", minimum: 0 },
      },
    },
    layers: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["index", "bi", "rm", "angular", "angularAllPositions"],
        additionalProperties: false,
        properties: {
          index: { type: "integer", minimum: 0 },
          bi: { type: "number", minimum: 0, maximum: 2 },
          rm: { type: "number", minimum: 0 },
          angular: { type: ["number", "null"], minimum: 0, maximum: 1 },
          angularAllPositions: { type: ["number", "null"], minimum: 0, maximum: 1 },
        },
      },
    },
    order: { type: "array", items: { type: "integer", minimum: 0 }, uniqueItems: true },
    device: {
      type: "object",
      description: "the device that scored the model",
      required: ["backend", "requested", "name", "memoryBytes"],
      additionalProperties: false,
      properties: {
        backend: { enum: ["cpu", "cuda"], description: "the backend that ran the model" },
        requested: { enum: ["cpu", "cuda", "auto"], description: "the device asked for" },
        name: { type: "string", description: "GPU name, or the CPU's model name" },
        memoryBytes: { type: "integer", minimum: 0, description: "GPU memory, or the machine's RAM" },
        threads: { type: "integer", minimum: 1, description: "CPU: threads used" },
        simd: { type: "string", description: "CPU: SIMD level used" },
        index: { type: "integer", minimum: 0, description: "CUDA: device ordinal" },
        computeCapability: { type: "string" },
        driverVersion: { type: "string", description: "CUDA: the driver's CUDA version" },
        runtimeVersion: { type: "string", description: "CUDA: the runtime linked into the addon" },
        cublasVersion: { type: "string" },
        peakDeviceBytes: { type: "integer", minimum: 0, description: "CUDA: most GPU memory held" },
        fallbackReason: { type: "string", description: "device auto ran on the CPU: why CUDA was not used" },
      },
    },
  },
} as const;
