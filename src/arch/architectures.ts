/**
 * The architecture table: one entry per `general.architecture` value
 * shortgpt knows. Two users read it: the pruner (which removal sets keep a
 * model correct: the layer-index rules below) and the forward engine (how to
 * run a block; see src/arch/model-config.ts). Facts are from llama.cpp's
 * src/models/*.cpp and llama-model.cpp (../shared/docs/llama-cpp-facts.md §3).
 */
import type { GgufFile } from "../gguf/read.js";
import { optionalInteger } from "../gguf/metadata.js";
import { GEMMA2, GEMMA3, LLAMA, PHI3, QWEN2, QWEN3, swaPeriodOf, type ForwardDescriptor } from "./forward-descriptors.js";

/** What ties a block's behaviour to its index in one architecture. */
export interface LayerIndexPattern {
  /**
   * Blocks behave by `index % period`: every run of removed blocks must be a
   * multiple of `period` long, unless it runs to the last block.
   */
  readonly period: number;
  /** Plain words for users, e.g. "sliding-window period 6 (5 local : 1 global)". */
  readonly description: string;
}

/** Block counts at which llama.cpp changes behaviour (e.g. an attention scale chosen by size). */
export interface BlockCountRule {
  readonly counts: readonly number[];
  readonly description: string;
}

export interface ArchitectureRules {
  /** Index pattern, or undefined when blocks do not depend on their index. */
  readonly pattern?: LayerIndexPattern;
  /** The last (non-MTP) block behaves differently and cannot be removed. */
  readonly lastBlockFixed?: string;
  /** Changing the block count from or to one of these counts changes the model. */
  readonly blockCountRule?: BlockCountRule;
  /** Metadata that must be present for the block count to be changed safely. */
  readonly requiredKeys?: readonly { key: string; why: string }[];
}

export interface ArchitectureEntry {
  readonly name: string;
  /** Layer-index rules for this file (some depend on metadata such as the SWA period key). */
  rules(file: GgufFile): ArchitectureRules;
  /** How the forward engine runs this architecture; absent when it cannot. */
  readonly forward?: ForwardDescriptor;
}

function periodFromKey(file: GgufFile, arch: string, fallback: number): { period: number; fromKey: boolean } {
  return swaPeriodOf(file, arch, fallback);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const independent: ArchitectureEntry["rules"] = () => ({});

function entry(name: string, rules: ArchitectureEntry["rules"] = independent, forward?: ForwardDescriptor): ArchitectureEntry {
  return forward ? { name, rules, forward } : { name, rules };
}

const ENTRIES: readonly ArchitectureEntry[] = [
  // Blocks independent of their index: any removal set keeps the model correct.
  entry("llama", independent, LLAMA),
  entry("mistral3"),
  entry("qwen2", independent, QWEN2),
  entry("qwen2moe"),
  entry("qwen3", independent, QWEN3),
  entry("qwen3moe"),
  entry("phi2"),
  // phi3: even with sliding_window set, llama.cpp disables SWA (pattern 1).
  entry("phi3", independent, PHI3),
  entry("granite"),
  entry("granitemoe"),
  entry("starcoder2"),
  entry("stablelm"),
  entry("gptneox"),
  entry("falcon"),
  entry("olmo"),
  entry("olmo2"),
  entry("internlm2"),
  entry("gemma"),
  entry("command-r"),
  entry("exaone"),
  entry("minicpm"),
  entry("gemma2", (file) => {
    const { period, fromKey } = periodFromKey(file, "gemma2", 2);
    return {
      pattern: {
        period,
        description: `sliding-window period ${period} (${period - 1} local : 1 global${fromKey ? "" : ", llama.cpp default"})`,
      },
      blockCountRule: {
        counts: [46],
        description: "llama.cpp uses a different attention scale when gemma2 has exactly 46 blocks (the 27B model)",
      },
    };
  }, GEMMA2),
  entry("gemma3", (file) => {
    const window = optionalInteger(file, "gemma3.attention.sliding_window");
    const rules: ArchitectureRules = {
      blockCountRule: {
        counts: [62],
        description: "llama.cpp uses a different attention scale when gemma3 has exactly 62 blocks (the 27B model)",
      },
    };
    // With sliding_window = 0 every block is global and uses the same RoPE base.
    if (window === 0) return rules;
    const { period, fromKey } = periodFromKey(file, "gemma3", 6);
    return {
      ...rules,
      pattern: {
        period,
        description: `sliding-window period ${period} (${period - 1} local : 1 global, each kind with its own RoPE base${fromKey ? "" : "; llama.cpp default"})`,
      },
    };
  }, GEMMA3),
  entry("cohere2", (file) => {
    const { period } = periodFromKey(file, "cohere2", 4);
    return {
      pattern: { period, description: `sliding-window period ${period} (local blocks use RoPE, global blocks none)` },
    };
  }),
  entry("smollm3", () => ({
    pattern: { period: 4, description: "every 4th block uses no RoPE (NoPE step 4, fixed in llama.cpp)" },
  })),
  entry("llama4", (file) => {
    const moeStep = optionalInteger(file, "llama4.interleave_moe_layer_step") ?? 1;
    const window = optionalInteger(file, "llama4.attention.sliding_window");
    if (window === 0) {
      return {
        ...(moeStep > 1 ? { pattern: { period: moeStep, description: `MoE on every ${moeStep}th block` } } : {}),
        lastBlockFixed: "llama4 without chunked attention skips RoPE on the last block only",
      };
    }
    const period = (4 * moeStep) / gcd(4, moeStep);
    return {
      pattern: {
        period,
        description: `period ${period}: chunked attention on 3 of 4 blocks, NoPE on every 4th${moeStep > 1 ? `, MoE on every ${moeStep}th` : ""}`,
      },
    };
  }),
  entry("deepseek2", () => ({
    blockCountRule: {
      counts: [26, 27],
      description: "llama.cpp treats deepseek2 with 26 or 27 blocks as the 'lite' variant (different attention tensors)",
    },
    requiredKeys: [
      {
        key: "deepseek2.expert_gating_func",
        why: "without it llama.cpp picks the gating function from compatibility rules that can change with the block count",
      },
    ],
  })),
];

const BY_NAME: ReadonlyMap<string, ArchitectureEntry> = new Map(ENTRIES.map((e) => [e.name, e]));

/** The table entry for an architecture, or undefined when shortgpt does not know it. */
export function architectureEntry(name: string): ArchitectureEntry | undefined {
  return BY_NAME.get(name);
}

/** Architectures the forward engine runs (entries with a forward descriptor). */
export function forwardArchitectures(): string[] {
  return ENTRIES.filter((e) => e.forward !== undefined).map((e) => e.name);
}

/** Names of every architecture in the table. */
export function knownArchitectures(): string[] {
  return ENTRIES.map((e) => e.name);
}
