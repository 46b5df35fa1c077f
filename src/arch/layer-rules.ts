/**
 * Which sets of blocks can be removed from a model without changing what the
 * remaining blocks do. Combines the architecture table's index rules with the
 * generic metadata llama.cpp reads per block (MTP blocks at the end, a count
 * of leading dense blocks, per-layer arrays).
 */
import type { GgufFile } from "../gguf/read.js";
import { architectureOf, blockCountOf, optionalInteger } from "../gguf/metadata.js";
import { GgufValueType } from "../gguf/types.js";
import { isArrayKv } from "../gguf/value.js";
import { ShortgptError } from "../errors.js";
import { architectureEntry, knownArchitectures, type ArchitectureRules } from "./architectures.js";

export interface LayerRules extends ArchitectureRules {
  readonly architecture: string;
  /** False when the architecture is not in shortgpt's table. */
  readonly known: boolean;
  /** `{arch}.block_count`, MTP blocks included. */
  readonly blockCount: number;
  /** `{arch}.nextn_predict_layers`: MTP blocks at the end, never removed. */
  readonly mtpBlocks: number;
  /** Blocks that may be removed: indices [0, removableBlocks). */
  readonly removableBlocks: number;
  /** `{arch}.leading_dense_block_count`, when present. */
  readonly leadingDenseBlocks?: number;
  /** Metadata arrays with one entry per block; pruning slices them. */
  readonly perLayerKeys: readonly string[];
  /** Keys from `requiredKeys` that this file lacks: pruning it is refused without --force. */
  readonly missingKeys: readonly { key: string; why: string }[];
}

/** Arrays under the architecture prefix that are not per block even when their length matches. */
const NOT_PER_LAYER_SUFFIXES = [".rope.dimension_sections"];

export function layerRules(file: GgufFile): LayerRules {
  const architecture = architectureOf(file);
  const blockCount = blockCountOf(file, architecture);
  const mtpBlocks = optionalInteger(file, `${architecture}.nextn_predict_layers`) ?? 0;
  if (mtpBlocks < 0 || mtpBlocks >= blockCount) {
    throw new ShortgptError(
      "ERR_GGUF_KEY_VALUE",
      `${file.path}: ${architecture}.nextn_predict_layers = ${mtpBlocks} does not fit block_count ${blockCount}`,
    );
  }
  const leadingDenseBlocks = optionalInteger(file, `${architecture}.leading_dense_block_count`);
  const perLayerKeys = file.kv
    .filter(
      (e) =>
        e.key.startsWith(`${architecture}.`) &&
        isArrayKv(e) &&
        e.itemType !== GgufValueType.STRING &&
        e.value.length === blockCount &&
        !NOT_PER_LAYER_SUFFIXES.some((s) => e.key.endsWith(s)),
    )
    .map((e) => e.key);
  const entry = architectureEntry(architecture);
  const archRules = entry ? entry.rules(file) : {};
  return {
    ...archRules,
    missingKeys: (archRules.requiredKeys ?? []).filter((r) => file.get(r.key) === undefined),
    architecture,
    known: entry !== undefined,
    blockCount,
    mtpBlocks,
    removableBlocks: blockCount - mtpBlocks,
    ...(leadingDenseBlocks !== undefined ? { leadingDenseBlocks } : {}),
    perLayerKeys,
  };
}

/** Plain-words summary of the rules, for `inspect` and error messages. */
export function describeRules(rules: LayerRules): string[] {
  const lines: string[] = [];
  const a = rules.architecture;
  if (!rules.known) {
    lines.push(`${a}: not in shortgpt's architecture table; pruning needs --force`);
    return lines;
  }
  if (rules.pattern) lines.push(`${a}: ${rules.pattern.description}; removed runs must be multiples of ${rules.pattern.period} blocks or reach the last block`);
  if (rules.lastBlockFixed) lines.push(`${a}: the last block cannot be removed (${rules.lastBlockFixed})`);
  if (rules.blockCountRule) lines.push(`${a}: ${rules.blockCountRule.description}`);
  for (const r of rules.missingKeys) lines.push(`${a}: pruning needs '${r.key}', which this file lacks (${r.why})`);
  if (rules.mtpBlocks > 0) lines.push(`${a}: the last ${rules.mtpBlocks} block(s) are multi-token-prediction blocks and are kept`);
  if (rules.leadingDenseBlocks !== undefined) lines.push(`${a}: ${rules.leadingDenseBlocks} leading dense block(s); the count is updated when they are removed`);
  if (rules.perLayerKeys.length > 0) lines.push(`${a}: per-block metadata sliced on removal: ${rules.perLayerKeys.join(", ")}`);
  if (lines.length === 0) lines.push(`${a}: blocks do not depend on their index; any set can be removed`);
  return lines;
}

export interface RemovalProblem {
  readonly code: string;
  readonly message: string;
}

export interface RemovalCheck {
  /** Sorted, unique original block indices. */
  readonly removed: readonly number[];
  readonly problems: readonly RemovalProblem[];
  /** When the index pattern is broken: the nearest valid set(s), best first. */
  readonly suggestions: readonly (readonly number[])[];
}

/** Maximal runs of consecutive indices in a sorted list, as [first, last] pairs. */
export function runsOf(sorted: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const i of sorted) {
    const last = runs[runs.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else runs.push([i, i]);
  }
  return runs;
}

/** True when removing `sorted` keeps every remaining block's index mod `period`. */
export function keepsPattern(sorted: readonly number[], period: number, removableBlocks: number): boolean {
  if (period <= 1) return true;
  return runsOf(sorted).every(([a, b]) => b === removableBlocks - 1 || (b - a + 1) % period === 0);
}

/** Whether a removal set is acceptable under `rules`: problems are empty when it is. */
export function checkRemoval(rules: LayerRules, layers: readonly number[]): RemovalCheck {
  const removed = [...new Set(layers)].sort((x, y) => x - y);
  const problems: RemovalProblem[] = [];
  const bad = removed.filter((i) => !Number.isInteger(i) || i < 0 || i >= rules.blockCount);
  if (bad.length > 0) {
    problems.push({
      code: "ERR_PRUNE_LAYER_RANGE",
      message: `block ${bad.join(", ")} does not exist: the model has blocks 0-${rules.blockCount - 1}`,
    });
    return { removed, problems, suggestions: [] };
  }
  if (removed.length === 0) {
    problems.push({ code: "ERR_PRUNE_EMPTY", message: "no blocks to remove" });
  }
  const mtp = removed.filter((i) => i >= rules.removableBlocks);
  if (mtp.length > 0) {
    problems.push({
      code: "ERR_PRUNE_MTP",
      message: `block ${mtp.join(", ")} ${mtp.length > 1 ? "are" : "is a"} multi-token-prediction block${mtp.length > 1 ? "s" : ""} (${rules.architecture}.nextn_predict_layers = ${rules.mtpBlocks}) and cannot be removed`,
    });
  }
  const kept = rules.blockCount - removed.length;
  if (removed.length > 0 && rules.removableBlocks - (removed.length - mtp.length) < 1) {
    problems.push({ code: "ERR_PRUNE_ALL", message: `removing ${removed.length} of ${rules.blockCount} blocks leaves no transformer block` });
  }
  if (!rules.known) {
    problems.push({
      code: "ERR_UNSUPPORTED_ARCH",
      message: `shortgpt does not know whether ${rules.architecture}'s blocks depend on their index (known: ${knownArchitectures().join(", ")}); use --force if you know they do not`,
    });
  }
  if (rules.lastBlockFixed && removed.includes(rules.removableBlocks - 1)) {
    problems.push({ code: "ERR_PRUNE_LAST_BLOCK", message: `block ${rules.removableBlocks - 1} cannot be removed: ${rules.lastBlockFixed}` });
  }
  if (rules.blockCountRule) {
    const { counts, description } = rules.blockCountRule;
    if (counts.includes(rules.blockCount) !== counts.includes(kept)) {
      problems.push({
        code: "ERR_PRUNE_BLOCK_COUNT_RULE",
        message: `going from ${rules.blockCount} to ${kept} blocks changes how llama.cpp runs this model: ${description}`,
      });
    }
  }
  for (const r of rules.missingKeys) {
    problems.push({ code: "ERR_PRUNE_MISSING_KEY", message: `cannot change the block count safely: '${r.key}' is missing (${r.why})` });
  }
  let suggestions: number[][] = [];
  const candidates = removed.filter((i) => i < rules.removableBlocks);
  if (rules.pattern && candidates.length > 0 && !keepsPattern(candidates, rules.pattern.period, rules.removableBlocks)) {
    suggestions = nearestValidRemovals(candidates, rules.pattern.period, rules.removableBlocks, rules.lastBlockFixed !== undefined);
    const offending = runsOf(candidates)
      .filter(([a, b]) => b !== rules.removableBlocks - 1 && (b - a + 1) % rules.pattern!.period !== 0)
      .map(([a, b]) => formatLayerList(range(a, b)));
    const nearest = suggestions.length > 0
      ? ` Nearest valid set: ${formatLayerList(suggestions[0]!)}${suggestions.length > 1 ? ` (also: ${suggestions.slice(1).map(formatLayerList).join("; ")})` : ""}.`
      : "";
    problems.push({
      code: "ERR_PRUNE_PATTERN",
      message: `removing ${offending.join(" and ")} breaks ${rules.architecture}'s ${rules.pattern.description}: every run of removed blocks must be a multiple of ${rules.pattern.period} long or reach the last block (${rules.removableBlocks - 1}).${nearest}`,
    });
  }
  return { removed, problems, suggestions };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, k) => a + k);
}

/**
 * The valid removal sets closest to `wanted` (fewest blocks added or dropped;
 * ties prefer the same number of blocks, then the same first block), best first.
 * Each offending run is shrunk or extended to a multiple of the period, or
 * extended to the last block.
 */
export function nearestValidRemovals(
  wanted: readonly number[],
  period: number,
  removableBlocks: number,
  lastBlockFixed = false,
  limit = 3,
): number[][] {
  const n = removableBlocks;
  const isValid = (set: readonly number[]) =>
    set.length > 0 && set.length < n && keepsPattern(set, period, n) && !(lastBlockFixed && set.includes(n - 1));
  const options = runsOf(wanted).map(([a, b]) => {
    const len = b - a + 1;
    if (b === n - 1 || len % period === 0) return [range(a, b)];
    const down = Math.floor(len / period) * period;
    const up = Math.ceil(len / period) * period;
    const out: number[][] = [];
    if (down > 0) out.push(range(a, a + down - 1), range(b - down + 1, b));
    else out.push([]);
    // Every window of the next multiple that covers the run.
    for (let s = Math.max(0, b - up + 1); s <= a && s + up - 1 < n; s++) out.push(range(s, s + up - 1));
    out.push(range(a, n - 1));
    return out;
  });
  // Cartesian product over runs, capped: real requests have a handful of runs.
  let combos: number[][] = [[]];
  for (const opts of options) {
    const next: number[][] = [];
    for (const c of combos) for (const o of opts) next.push([...c, ...o]);
    combos = next.slice(0, 4096);
  }
  const wantedSet = new Set(wanted);
  const scored = new Map<string, { set: number[]; diff: number; sizeDelta: number; shift: number }>();
  for (const combo of combos) {
    const set = [...new Set(combo)].sort((x, y) => x - y);
    if (!isValid(set)) continue;
    const key = set.join(",");
    if (scored.has(key)) continue;
    const inter = set.filter((i) => wantedSet.has(i)).length;
    const diff = set.length + wanted.length - 2 * inter;
    scored.set(key, { set, diff, sizeDelta: Math.abs(set.length - wanted.length), shift: Math.abs(set[0]! - wanted[0]!) });
  }
  return [...scored.values()]
    .sort((x, y) => x.diff - y.diff || x.sizeDelta - y.sizeDelta || x.shift - y.shift || x.set[0]! - y.set[0]!)
    .slice(0, limit)
    .map((s) => s.set);
}

/** "3,5,21-29" from [3, 5, 21, ..., 29]. */
export function formatLayerList(layers: readonly number[]): string {
  const sorted = [...new Set(layers)].sort((x, y) => x - y);
  return runsOf(sorted)
    .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
    .join(",");
}

/** Parses "3,5,21-29" (0-based, inclusive ranges) into sorted unique indices. */
export function parseLayerList(text: string): number[] {
  const out = new Set<number>();
  const parts = text.split(",").map((p) => p.trim());
  for (const part of parts) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) {
      throw new ShortgptError("ERR_INVALID_LAYER_LIST", `'${text}' is not a layer list: expected comma-separated indices and ranges such as 3,5,21-29`);
    }
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) throw new ShortgptError("ERR_INVALID_LAYER_LIST", `range ${part} runs backwards`);
    if (b - a > 100000) throw new ShortgptError("ERR_INVALID_LAYER_LIST", `range ${part} is too long`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}
