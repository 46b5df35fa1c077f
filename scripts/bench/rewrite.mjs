// The layer-removal rewrite vs `cp` of a file of the same output size, in the
// same run: throughput ratio and peak RSS. Two inputs: the largest real model
// in the cache (Gemma 3 270M) and a 2 GiB synthetic dense model (real bytes,
// no holes) so the rewrite's memory can be seen not to grow with the model.
// The sides alternate run by run; the per-run ratios show how far each median
// ratio can be trusted (src/cli/bench-stats.ts flags one whose runs differ by
// more than 25%).
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

import { compareTimes, formatComparison, median, runMeasured, warningsMarkdown } from "./_stats.mjs";

export const description =
  "`shortgpt prune` (remove a quarter of the blocks) against `cp` of a file of the pruned size, same run, alternating; medians of 5.";

const RUNS = 5;

async function makeSyntheticModel(root, path, gib) {
  const { layoutGguf } = await import(join(root, "dist", "gguf", "write.js"));
  const { kv } = await import(join(root, "dist", "gguf", "value.js"));
  const blocks = 16;
  const perBlock = Math.floor((gib * 2 ** 30) / blocks / 4 / 4096) * 4096; // F32 elements per block tensor
  const tensors = [{ name: "token_embd.weight", dims: [4096, 64], type: 0 }];
  for (let b = 0; b < blocks; b++) tensors.push({ name: `blk.${b}.ffn_down.weight`, dims: [4096, perBlock / 4096], type: 0 });
  const layout = layoutGguf({
    version: 3,
    kv: [kv.string("general.architecture", "llama"), kv.u32("llama.block_count", blocks), kv.u32("llama.embedding_length", 4096)],
    tensors,
  });
  if (existsSync(path) && statSync(path).size === layout.fileSize) return { path, removed: "4-7" };
  const fd = openSync(path, "w");
  try {
    writeSync(fd, layout.header, 0, layout.header.length, 0);
    const chunk = Buffer.alloc(64 << 20);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let at = layout.dataOffset; at < layout.fileSize; at += chunk.length) {
      writeSync(fd, chunk, 0, Math.min(chunk.length, layout.fileSize - at), at);
    }
  } finally {
    closeSync(fd);
  }
  return { path, removed: "4-7" };
}

export async function run({ log, root }) {
  const cli = join(root, "dist", "cli", "main.js");
  const work = join(root, ".cache", "bench");
  mkdirSync(work, { recursive: true });
  const { cachedModelPath, fetchModel } = await import(join(root, "dist", "models", "fetch.js"));
  await fetchModel("gemma3-270m", { log });
  const synthetic = await makeSyntheticModel(root, join(work, "synthetic-2gib.gguf"), 2);
  const inputs = [
    { label: "Gemma 3 270M Q4_K_M (real)", path: cachedModelPath("gemma3-270m"), removed: "12-17" },
    { label: "synthetic 2 GiB F32 (dense)", ...synthetic },
  ];

  const rows = [];
  for (const input of inputs) {
    const out = join(work, "pruned.gguf");
    const cpOut = join(work, "cp-copy.gguf");
    const ours = [];
    const oursInner = [];
    const cps = [];
    const cpSyncs = [];
    let rss = 0;
    let bytesAfter = 0;
    for (let i = 0; i < RUNS + 1; i++) {
      rmSync(out, { force: true });
      rmSync(cpOut, { force: true });
      const r = await runMeasured(process.execPath, [cli, "prune", input.path, "-o", out, "--layers", input.removed, "--json"]);
      const json = JSON.parse(r.stdout);
      bytesAfter = json.bytesAfter;
      // The pruned output has exactly the output size: cp copies it.
      const c = await runMeasured("cp", [out, cpOut]);
      rmSync(cpOut, { force: true });
      // shortgpt fsyncs before renaming (a crash never leaves a torn model): cp + sync is the like-for-like baseline.
      const cs = await runMeasured("sh", ["-c", 'cp "$0" "$1" && sync "$1"', out, cpOut]);
      if (i === 0) continue; // warm-up: page cache
      ours.push(r.seconds);
      oursInner.push(json.seconds);
      cps.push(c.seconds);
      cpSyncs.push(cs.seconds);
      rss = Math.max(rss, r.maxRssBytes ?? 0);
      log(`${input.label}: run ${i}: shortgpt ${r.seconds.toFixed(3)} s (rewrite ${json.seconds.toFixed(3)} s), cp ${c.seconds.toFixed(3)} s, cp+sync ${cs.seconds.toFixed(3)} s`);
    }
    rmSync(out, { force: true });
    rmSync(cpOut, { force: true });
    const mb = bytesAfter / 2 ** 20;
    rows.push({
      label: input.label,
      mib: mb,
      ours: median(ours),
      inner: median(oursInner),
      cp: median(cps),
      cpSync: median(cpSyncs),
      rss,
      // baseline time / ours, run by run: above 1, shortgpt is faster.
      vsCpSyncInner: compareTimes(cpSyncs, oursInner, `${input.label}: rewrite vs cp + sync`),
      vsCpSyncProcess: compareTimes(cpSyncs, ours, `${input.label}: shortgpt prune process vs cp + sync`),
      vsCpInner: compareTimes(cps, oursInner, `${input.label}: rewrite vs plain cp`),
    });
  }

  const lines = [
    "| input | output | shortgpt prune (process) | rewrite (in-process) | cp | cp + sync | vs cp + sync (rewrite) | vs cp + sync (process) | vs plain cp (rewrite) | peak RSS |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.mib.toFixed(0)} MiB | ${r.ours.toFixed(3)} s | ${r.inner.toFixed(3)} s (${(r.mib / r.inner).toFixed(0)} MiB/s) | ${r.cp.toFixed(3)} s | ${r.cpSync.toFixed(3)} s (${(r.mib / r.cpSync).toFixed(0)} MiB/s) | ${formatComparison(r.vsCpSyncInner)} | ${formatComparison(r.vsCpSyncProcess)} | ${formatComparison(r.vsCpInner)} | ${(r.rss / 2 ** 20).toFixed(0)} MiB |`,
    ),
    ...(warningsMarkdown(rows.flatMap((r) => [r.vsCpSyncInner, r.vsCpSyncProcess, r.vsCpInner])) ? ["", warningsMarkdown(rows.flatMap((r) => [r.vsCpSyncInner, r.vsCpSyncProcess, r.vsCpInner]))] : []),
    "",
    "Ratios are baseline median time / shortgpt median time for the same number of output bytes (1.00× = as fast), with the range of the run-by-run ratios in parentheses. " +
      "shortgpt fsyncs the output before renaming it into place, so `cp` followed by `sync FILE` is the like-for-like baseline; plain `cp` leaves the data in the page cache. " +
      "\"Process\" includes starting Node.js and parsing the header (262k-token vocabulary for Gemma); \"rewrite\" is the `seconds` the command reports. " +
      "All read from the page cache after a warm-up run. Peak RSS is the whole `shortgpt` process (/usr/bin/time).",
  ];
  return { markdown: lines.join("\n") };
}
