// The CPU matmul (native/cpu) per weight format: GFLOP/s of Y = X·Wᵀ at T = 1, 32 and 512
// activation rows on a SmolLM2-135M-sized (576 x 1536) and a 4096 x 4096 weight, on one
// thread and on all physical cores, beside the machine's measured f32 FMA peak; and
// llama.cpp (node-llama-cpp 3.21.1, same run) on prompt processing of one-block models made
// of 4096 x 4096 matrices of one format, whose time is almost all those matmuls.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";

import { compareTimes, formatComparison, median, warningsMarkdown } from "./_stats.mjs";

export const description =
  "CPU matmul Y[T×n_out] = X[T×n_in]·Wᵀ per weight format (activation conversion included), medians of repeated calls; llama.cpp prompt processing on one-format models in the same run.";

const FORMATS = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"];
const TYPE_IDS = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, IQ4_NL: 20, IQ4_XS: 23, BF16: 30 };
const BLOCK = { F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34], IQ4_NL: [32, 18], Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210], IQ4_XS: [256, 136] };
// Offsets of each block's f16 scale fields, set to finite values in random blocks.
const F16_FIELDS = { Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], IQ4_NL: [0], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208], IQ4_XS: [0] };
const T_VALUES = [1, 32, 512];
// Seconds of matmul calls per measurement and thread count, in ROUNDS rounds; the median call is reported.
const TARGET_SECONDS = 0.4;
const ROUNDS = 3;
const LLAMA_FORMATS = ["Q4_0", "Q8_0", "Q4_K", "Q6_K", "F16"];

function randomWeights(format, nIn, nOut, seed) {
  const [be, bb] = BLOCK[format];
  const bytes = new Uint8Array((nIn / be) * bb * nOut);
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const view = new DataView(bytes.buffer);
  if (format === "F32") {
    for (let i = 0; i < nIn * nOut; i++) view.setFloat32(4 * i, (next() - 0.5) * 0.1, true);
  } else if (format === "F16" || format === "BF16") {
    // Bit patterns of small finite values: exponent field kept below the top.
    for (let i = 0; i < nIn * nOut; i++) view.setUint16(2 * i, format === "F16" ? 0x2000 + Math.floor(next() * 0x1000) + (next() < 0.5 ? 0x8000 : 0) : 0x3c00 + Math.floor(next() * 0x200), true);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
    for (let b = 0; b < bytes.length / bb; b++) for (const off of F16_FIELDS[format]) view.setUint16(b * bb + off, 0x1c00 + Math.floor(next() * 0x100), true);
  }
  return bytes;
}

function shapesFor(format) {
  // The K-quants need rows of a multiple of 256: 512 stands in for SmolLM2's 576.
  const small = BLOCK[format][0] === 256 ? [512, 1536] : [576, 1536];
  return [small, [4096, 4096]];
}

function gflops(nIn, nOut, T, seconds) {
  return (2 * nIn * nOut * T) / seconds / 1e9;
}

// Median seconds per call for each thread count. Rounds alternate the thread
// counts, so a neighbour's load on this shared machine hits all of them alike.
function measure(kernels, format, nIn, nOut, T, threadsList, w, x) {
  const type = TYPE_IDS[format];
  const probe = kernels.matmulBench(type, w, nIn, nOut, x, T, { threads: 1, iterations: 1, warmup: 1 })[0];
  const perRound = Math.max(1, Math.min(20, Math.ceil(TARGET_SECONDS / ROUNDS / Math.max(probe, 1e-6))));
  const times = Object.fromEntries(threadsList.map((t) => [t, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const threads of threadsList) {
      times[threads].push(...kernels.matmulBench(type, w, nIn, nOut, x, T, { threads, iterations: perRound, warmup: 1 }));
    }
  }
  return Object.fromEntries(threadsList.map((t) => [t, median(times[t])]));
}

function fmt(v, digits = 1) {
  return v >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

// ---------------------------------------------------------------------------------------------
// llama.cpp: one-block llama models whose seven matrices are 4096 x 4096 of one format

const MODEL_SCRIPT = String.raw`
import sys, numpy as np, gguf
out, name = sys.argv[1], sys.argv[2]
qt = gguf.GGMLQuantizationType[name]
n = 4096; vocab = 256
w = gguf.GGUFWriter(out, "llama")
w.add_block_count(1); w.add_context_length(4096); w.add_embedding_length(n)
w.add_feed_forward_length(n); w.add_head_count(n // 128); w.add_head_count_kv(n // 128)
w.add_rope_dimension_count(128); w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
w.add_tokenizer_model("llama")
w.add_token_list([b"<unk>", b"<s>", b"</s>"] + [("<0x%02X>" % i).encode() for i in range(vocab - 3)])
w.add_token_scores([0.0] * vocab); w.add_token_types([2, 3, 3] + [6] * (vocab - 3))
w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
rng = np.random.default_rng(0)
def f32(shape): return (rng.standard_normal(shape) * 0.02).astype(np.float32)
w.add_tensor("token_embd.weight", f32((vocab, n)))
w.add_tensor("output_norm.weight", np.ones(n, dtype=np.float32))
w.add_tensor("output.weight", f32((vocab, n)))
w.add_tensor("blk.0.attn_norm.weight", np.ones(n, dtype=np.float32))
w.add_tensor("blk.0.ffn_norm.weight", np.ones(n, dtype=np.float32))
for t in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]:
    if name == "F16":
        w.add_tensor(f"blk.0.{t}.weight", f32((n, n)).astype(np.float16))
    elif name in ("Q4_0", "Q8_0"):
        w.add_tensor(f"blk.0.{t}.weight", gguf.quants.quantize(f32((n, n)), qt), raw_dtype=qt)
    else:  # random valid blocks: gguf-py cannot quantize K-quants
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, size=(n, n // bs * ts), dtype=np.uint8)
        h = raw.view(np.uint16)
        h[((h >> 10) & 31) >= 30] = 0x2000
        w.add_tensor(f"blk.0.{t}.weight", raw, raw_dtype=qt)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
`;

async function llamaComparison({ root, log, threadsList, kernels }) {
  const { cacheDir } = await import(join(root, "dist", "models", "fetch.js"));
  const python = join(cacheDir(), "pyenv-gguf-0.19.0", process.platform === "win32" ? "Scripts/python.exe" : "bin/python");
  if (!existsSync(python)) return { skipped: `no gguf-py venv at ${python} (run the tests once to create it)` };
  let llamaCpp;
  try {
    llamaCpp = await import("node-llama-cpp");
  } catch (error) {
    return { skipped: `node-llama-cpp is not installed (${error.message})` };
  }
  const llama = await llamaCpp.getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const dir = join(root, ".cache", "bench", "kernels");
  mkdirSync(dir, { recursive: true });
  const T = 512;
  const ids = [1, ...Array.from({ length: T - 1 }, (_, i) => 3 + ((i * 37) % 253))];
  // FLOPs of the seven 4096 x 4096 matmuls and the 256 x 4096 output matmul per token;
  // attention and the rest are not counted, so this slightly understates llama.cpp.
  const flops = T * 2 * (7 * 4096 * 4096 + 256 * 4096);
  const out = {};
  for (const format of LLAMA_FORMATS) {
    const path = join(dir, `llama-4096-${format}.gguf`);
    if (!existsSync(path) || statSync(path).size < 1e6) {
      log(`making ${path}`);
      execFileSync(python, ["-c", MODEL_SCRIPT, path, format], { stdio: "ignore" });
    }
    const model = await llama.loadModel({ modelPath: path });
    const w = randomWeights(format, 4096, 4096, 99);
    const x = new Float32Array(T * 4096).map((_, i) => Math.sin(i * 0.37) * 2);
    out[format] = {};
    const theirs = Object.fromEntries(threadsList.map((t) => [t, []]));
    const ours = Object.fromEntries(threadsList.map((t) => [t, []]));
    const oursPerRound = Object.fromEntries(threadsList.map((t) => [t, []])); // median call of each round
    // Rounds alternate llama.cpp and ours and the thread counts, so both see the same
    // load on this shared machine; the first round warms caches and is dropped.
    for (let round = 0; round < 4; round++) {
      for (const threads of threadsList) {
        const context = await model.createContext({ contextSize: T + 1, batchSize: T, threads, sequences: 1 });
        const sequence = context.getSequence();
        const t0 = performance.now();
        await sequence.evaluateWithoutGeneratingNewTokens(ids);
        const seconds = (performance.now() - t0) / 1000;
        await context.dispose();
        // Ours: the same seven 4096 x 4096 matmuls at T = 512.
        const mine = kernels.matmulBench(TYPE_IDS[format], w, 4096, 4096, x, T, { threads, iterations: 7, warmup: 0 });
        if (round > 0) {
          theirs[threads].push(seconds);
          ours[threads].push(...mine);
          oursPerRound[threads].push(median(Array.from(mine)));
        }
      }
    }
    for (const threads of threadsList) {
      // Seconds per FLOP on each side, round by round: their ratio is our GFLOP/s over llama.cpp's.
      const comparison = compareTimes(
        theirs[threads].map((s) => s / flops),
        oursPerRound[threads].map((s) => s / (2 * 4096 * 4096 * T)),
        `${format}, ${threads} thread${threads > 1 ? "s" : ""}: ours vs llama.cpp`,
      );
      out[format][threads] = { theirs: flops / median(theirs[threads]) / 1e9, ours: gflops(4096, 4096, T, median(ours[threads])), comparison };
      log(`${format} threads=${threads}: llama.cpp ${fmt(out[format][threads].theirs)}, ours ${fmt(out[format][threads].ours)} GFLOP/s`);
    }
    await model.dispose();
  }
  return { results: out, release: llama.llamaCppRelease };
}

// ---------------------------------------------------------------------------------------------

export async function run({ log, root }) {
  const { addon } = await import(join(root, "dist", "engine.js"));
  const native = addon();
  const kernels = native.kernels;
  const simd = native.buildInfo().simd;
  const cores = kernels.physicalCores();
  const threadsList = cores > 1 ? [1, cores] : [1];

  // The peak is the best rate seen: samples at the start, between formats and at the
  // end, since other work on this shared machine can only lower it.
  const peakRuns = Object.fromEntries(threadsList.map((t) => [t, []]));
  const samplePeak = (seconds) => {
    for (const threads of threadsList) peakRuns[threads].push(kernels.fmaPeak({ threads, seconds }) / 1e9);
  };
  for (let round = 0; round < 3; round++) samplePeak(0.2);

  const results = {}; // format -> shapeKey -> T -> threads -> GFLOP/s
  const availability = {}; // format -> N-thread / 1-thread FMA rate just before its runs
  for (const [fi, format] of FORMATS.entries()) {
    results[format] = {};
    if (threadsList.length > 1) {
      const one = kernels.fmaPeak({ threads: 1, seconds: 0.1 }), all = kernels.fmaPeak({ threads: cores, seconds: 0.1 });
      availability[format] = all / one;
      peakRuns[1].push(one / 1e9);
      peakRuns[cores].push(all / 1e9);
    } else {
      samplePeak(0.1);
    }
    for (const [nIn, nOut] of shapesFor(format)) {
      const w = randomWeights(format, nIn, nOut, 17 + fi);
      const key = nIn === 4096 ? "big" : "small";
      results[format][key] = { shape: `${nIn}×${nOut}` };
      for (const T of T_VALUES) {
        const x = new Float32Array(T * nIn);
        for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 2;
        const seconds = measure(kernels, format, nIn, nOut, T, threadsList, w, x);
        results[format][key][T] = Object.fromEntries(threadsList.map((t) => [t, gflops(nIn, nOut, T, seconds[t])]));
      }
      log(`${format} ${nIn}x${nOut}: ${T_VALUES.map((T) => `T=${T} ${threadsList.map((t) => fmt(results[format][key][T][t])).join("/")}`).join(", ")} GFLOP/s`);
    }
  }

  for (let round = 0; round < 3; round++) samplePeak(0.2);
  const peak = Object.fromEntries(threadsList.map((t) => [t, Math.max(...peakRuns[t])]));
  for (const threads of threadsList) log(`f32 FMA peak, ${threads} thread(s): ${fmt(peak[threads])} GFLOP/s (best of ${peakRuns[threads].length})`);

  // The scalar reference path on one shape, for scale.
  const scalarW = randomWeights("Q4_0", 576, 1536, 3);
  const scalarX = new Float32Array(32 * 576).map((_, i) => Math.cos(i));
  const scalarTimes = kernels.matmulBench(2, scalarW, 576, 1536, scalarX, 32, { simd: "scalar", threads: 1, iterations: 3, warmup: 1 });
  const scalarGflops = gflops(576, 1536, 32, median(Array.from(scalarTimes)));

  let llamaCpp;
  try {
    llamaCpp = await llamaComparison({ root, log, threadsList, kernels });
  } catch (error) {
    llamaCpp = { skipped: `failed: ${error.message}` };
  }

  // ------------------------------------------------------------------ markdown
  const lines = [];
  const nt = threadsList[threadsList.length - 1];
  lines.push(
    `SIMD level: **${simd.active}** (compiled: ${simd.compiled.join(", ")}; CPU features: ${Object.entries(simd.features)
      .filter(([, v]) => v)
      .map(([k]) => k)
      .join(", ")}). Physical cores: ${cores}. GFLOP/s = 2·n_in·n_out·T / median wall time of a \`matmul\` call (converting X to the activation format included), weights of random valid blocks.`,
  );
  lines.push("");
  lines.push(`**Machine peak** (f32 FMA, widest vectors, independent chains; best of ${peakRuns[1].length} samples taken through the run):`);
  lines.push("");
  lines.push(`| threads | ${threadsList.map((t) => `${t}`).join(" | ")} |`);
  lines.push(`| --- | ${threadsList.map(() => "---:").join(" | ")} |`);
  lines.push(`| f32 FMA peak GFLOP/s | ${threadsList.map((t) => fmt(peak[t])).join(" | ")} |`);
  lines.push("");
  for (const threads of threadsList) {
    lines.push(`**Matmul GFLOP/s, ${threads} thread${threads > 1 ? "s" : ""}** (576×1536 is 512×1536 for the K-quants and IQ4_XS, whose rows are multiples of 256):`);
    lines.push("");
    const probe = threads > 1;
    lines.push(`| format | act | 576×1536 T=1 | T=32 | T=512 | 4096×4096 T=1 | T=32 | T=512 | T=512 / FMA peak |${probe ? " cores free (FMA probe) |" : ""}`);
    lines.push(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${probe ? " ---: |" : ""}`);
    for (const format of FORMATS) {
      const r = results[format];
      const act = format === "F32" ? "f32" : format === "F16" ? "f16" : format === "BF16" ? "bf16" : ["Q4_1", "Q5_1"].includes(format) ? "q8_1" : BLOCK[format][0] === 256 ? "q8_K" : "q8_0";
      const cells = ["small", "big"].flatMap((k) => T_VALUES.map((T) => fmt(r[k][T][threads])));
      const free = threads > 1 ? ` ${availability[format].toFixed(1)} |` : "";
      lines.push(`| ${format} | ${act} | ${cells.join(" | ")} | ${(r.big[512][threads] / peak[threads]).toFixed(2)} |${free}`);
    }
    lines.push("");
  }
  if (nt > 1) {
    lines.push(`Scaling ${nt} threads / 1 thread at 4096×4096, T=512: ${FORMATS.map((f) => `${f} ${(results[f].big[512][nt] / results[f].big[512][1]).toFixed(2)}×`).join(", ")} (FMA peak: ${(peak[nt] / peak[1]).toFixed(2)}×).`);
    lines.push("");
    lines.push(`"Cores free" is ${nt}-thread / 1-thread FMA throughput measured just before each format's runs: this machine's cores are shared with other work, and where it is near 1.0 a second core was not available, so ${nt}-thread figures in that row (and llama.cpp's, below) measure time-sharing, not the kernels. Where it is near ${nt}.0 the matmul scales with it.`);
    lines.push("");
  }
  lines.push(`Scalar reference path (SHORTGPT_SIMD=scalar), Q4_0 576×1536 T=32, 1 thread: ${fmt(scalarGflops)} GFLOP/s (${simd.active}: ${fmt(results.Q4_0.small[32][1] / scalarGflops)}× faster).`);
  lines.push("");
  if (llamaCpp.results) {
    lines.push(`**llama.cpp** (node-llama-cpp, llama.cpp ${llamaCpp.release.repo} ${llamaCpp.release.release}, CPU): prompt processing of 512 tokens in one batch on a one-block llama model whose seven matrices are 4096×4096 of the format (vocabulary 256), counted as matmul GFLOP/s (the attention, norms and activation quantization it also does are not counted, so its figure is slightly understated). Ours: the same seven 4096×4096 T=512 matmuls, measured in alternation with llama.cpp (3 rounds after a warm-up round), so both saw the same machine load; medians, and a ratio whose rounds differ by more than 25% flagged as too noisy to trust.`);
    lines.push("");
    lines.push(`| format | ${threadsList.map((t) => `ours ${t}T | llama.cpp ${t}T | ratio ${t}T`).join(" | ")} |`);
    lines.push(`| --- | ${threadsList.map(() => "---: | ---: | ---:").join(" | ")} |`);
    for (const format of LLAMA_FORMATS) {
      const cells = threadsList.map((t) => {
        const { ours, theirs, comparison } = llamaCpp.results[format][t];
        return `${fmt(ours)} | ${fmt(theirs)} | **${formatComparison(comparison)}**`;
      });
      lines.push(`| ${format} | ${cells.join(" | ")} |`);
    }
    lines.push("");
    lines.push("The ratio is ours over llama.cpp's GFLOP/s from the medians, with the range of the round-by-round ratios in parentheses.");
    lines.push("");
    const noisy = warningsMarkdown(LLAMA_FORMATS.flatMap((f) => threadsList.map((t) => llamaCpp.results[f][t].comparison)));
    if (noisy) lines.push(noisy, "");
  } else {
    lines.push(`llama.cpp comparison skipped: ${llamaCpp.skipped}.`);
    lines.push("");
  }
  lines.push(
    "How the kernels work (native/cpu/gemm_generic.inl): activations are quantized once per call to the weight's llama.cpp activation format; each task unpacks a tile of 32 weight rows into a row-interleaved panel (4 codes of 8 rows per AVX2 vector, 16 rows per AVX-512 vector) and runs u8×s8 multiply-adds against 4 broadcast activation quants, so the per-block float work is shared by 8/16 rows. On this CPU `vpmaddubsw` issues at about 2.3 G/s per core (≈146 GOP/s of int8), which bounds the integer formats; f32 weights are bounded by the FMA peak.",
  );
  return { markdown: lines.join("\n") };
}
