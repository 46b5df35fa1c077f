/**
 * The standalone HTML report: one file, inline CSS and SVG, no scripts and no
 * network. It shows the per-block scores, what was removed, the calibration
 * and, when known, perplexity, speed and size before and after.
 */
import { formatLayerList } from "../arch/layer-rules.js";
import { describeDevice } from "../device/describe.js";
import type { PruneOutcome, ScoreReport } from "../score/report-types.js";
import { VERSION } from "../package-info.js";
import { barChartSvg, escapeXml } from "./svg-chart.js";

export interface HtmlReportInput {
  readonly scores: ScoreReport;
  readonly outcome?: PruneOutcome;
  /** Title override (default: the model file name). */
  readonly title?: string;
  readonly generatedAt?: Date;
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function num(v: number | undefined | null, digits = 3): string {
  return v === undefined || v === null || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

function bytes(v: number | undefined): string {
  if (v === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = v;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${x.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function change(before: number | undefined, after: number | undefined, digits: number, lowerIsBetter: boolean): string {
  if (before === undefined || after === undefined) return "";
  const pct = (100 * (after - before)) / before;
  const good = lowerIsBetter ? pct <= 0 : pct >= 0;
  return ` <span class="${good ? "good" : "bad"}">(${pct >= 0 ? "+" : ""}${pct.toFixed(digits)}%)</span>`;
}

export function renderHtmlReport(input: HtmlReportInput): string {
  const { scores, outcome } = input;
  const removed = new Set(outcome?.removed ?? []);
  const title = input.title ?? `shortgpt: ${baseName(scores.model)}`;
  const bi = scores.layers.map((l) => l.bi);
  const charts = [
    barChartSvg({
      title: "Block Influence per block (lower = more redundant)",
      yLabel: "BI = 1 − mean cos(x_i, x_i+1)",
      bars: { label: "BI", values: bi, color: "#1c7ed6" },
      highlighted: removed,
      highlightLabel: "removed",
    }),
    barChartSvg({
      title: `Angular distance over ${scores.span} block${scores.span > 1 ? "s" : ""} and relative magnitude`,
      yLabel: "distance / ratio",
      bars: { label: `angular (last position, span ${scores.span})`, values: scores.layers.map((l) => l.angular), color: "#74c0fc" },
      lines: [
        { label: "angular (all positions)", values: scores.layers.map((l) => l.angularAllPositions), color: "#5f3dc4" },
        { label: "relative magnitude", values: scores.layers.map((l) => l.rm), color: "#2b8a3e" },
      ],
      highlighted: removed,
      highlightLabel: "removed",
    }),
  ];

  const facts: [string, string][] = [
    ["model", escapeXml(scores.model)],
    ["architecture", `${escapeXml(scores.architecture)}, ${scores.blockCount} blocks`],
    ["calibration", `${scores.windows} windows × ${scores.ctx} tokens = ${scores.tokens.toLocaleString("en-US")} tokens${scores.calibration ? ` from ${escapeXml(scores.calibration.sources.join(", "))}` : ""}`],
    ["ranking metric", escapeXml(scores.metric)],
    ["most removable first", escapeXml(scores.order.slice(0, 12).join(", ") + (scores.order.length > 12 ? ", …" : ""))],
  ];
  if (scores.seconds !== undefined) facts.push(["scoring time", `${scores.seconds.toFixed(1)} s`]);
  if (scores.device) facts.push(["device", escapeXml(describeDevice(scores.device))]);
  if (outcome) {
    facts.push(["removed", `${outcome.removed.length} block${outcome.removed.length === 1 ? "" : "s"}: ${escapeXml(formatLayerList(outcome.removed))} (strategy ${escapeXml(outcome.strategy)})`]);
    if (outcome.output) facts.push(["written to", escapeXml(outcome.output)]);
  }

  const compare: string[] = [];
  if (outcome) {
    const row = (label: string, before: string, after: string, delta = "") =>
      compare.push(`<tr><th>${label}</th><td>${before}</td><td>${after}${delta}</td></tr>`);
    if (outcome.perplexityBefore !== undefined || outcome.perplexityAfter !== undefined) {
      row(
        `perplexity${outcome.evalText ? ` (${escapeXml(outcome.evalText)})` : ""}`,
        num(outcome.perplexityBefore),
        num(outcome.perplexityAfter),
        change(outcome.perplexityBefore, outcome.perplexityAfter, 1, true),
      );
    }
    if (outcome.bytesBefore !== undefined) row("file size", bytes(outcome.bytesBefore), bytes(outcome.bytesAfter), change(outcome.bytesBefore, outcome.bytesAfter, 1, true));
    if (outcome.parametersBefore !== undefined) {
      row("parameters", (outcome.parametersBefore / 1e6).toFixed(1) + " M", outcome.parametersAfter !== undefined ? (outcome.parametersAfter / 1e6).toFixed(1) + " M" : "—", change(outcome.parametersBefore, outcome.parametersAfter, 1, true));
    }
    if (outcome.prefillTokensPerSecondBefore !== undefined) {
      row("prefill tokens/s", num(outcome.prefillTokensPerSecondBefore, 0), num(outcome.prefillTokensPerSecondAfter, 0), change(outcome.prefillTokensPerSecondBefore, outcome.prefillTokensPerSecondAfter, 1, false));
    }
    if (outcome.decodeTokensPerSecondBefore !== undefined) {
      row("decode tokens/s", num(outcome.decodeTokensPerSecondBefore, 1), num(outcome.decodeTokensPerSecondAfter, 1), change(outcome.decodeTokensPerSecondBefore, outcome.decodeTokensPerSecondAfter, 1, false));
    }
  }

  const rows = scores.layers
    .map(
      (l) =>
        `<tr class="${removed.has(l.index) ? "removed" : ""}"><td>${l.index}</td><td>${num(l.bi, 5)}</td><td>${num(l.angular, 4)}</td><td>${num(l.angularAllPositions, 4)}</td><td>${num(l.rm, 4)}</td><td>${scores.order.indexOf(l.index) + 1}</td><td>${removed.has(l.index) ? "removed" : ""}</td></tr>`,
    )
    .join("\n");

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; margin: 0; background: #f8f9fa; }
  main { max-width: 940px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .sub { color: #6c757d; margin: 0 0 20px; }
  section { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 16px 20px; margin: 0 0 18px; }
  h2 { font-size: 16px; margin: 0 0 10px; }
  dl { display: grid; grid-template-columns: 180px 1fr; gap: 4px 12px; margin: 0; }
  dt { color: #6c757d; } dd { margin: 0; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 3px 8px; border-bottom: 1px solid #f1f3f5; }
  th:first-child, td:first-child { text-align: left; }
  tr.removed td { background: #fff4e6; color: #d9480f; }
  .good { color: #2b8a3e; } .bad { color: #c92a2a; }
  svg.chart { max-width: 100%; height: auto; display: block; margin: 6px 0 14px; }
  footer { color: #868e96; font-size: 12px; }
</style>
</head>
<body>
<main>
<h1>${escapeXml(title)}</h1>
<p class="sub">ShortGPT layer analysis: Block Influence per transformer block, and what removing blocks costs.</p>
<section><h2>Summary</h2><dl>
${facts.map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${v}</dd>`).join("\n")}
</dl></section>
${compare.length > 0 ? `<section><h2>Before and after</h2><table><thead><tr><th></th><th>before</th><th>after</th></tr></thead><tbody>\n${compare.join("\n")}\n</tbody></table></section>` : ""}
<section><h2>Scores per block</h2>
${charts.join("\n")}
<table><thead><tr><th>block</th><th>BI</th><th>angular (last)</th><th>angular (all)</th><th>rel. magnitude</th><th>rank</th><th></th></tr></thead>
<tbody>
${rows}
</tbody></table></section>
<footer>Generated by shortgpt ${escapeXml(VERSION)}${input.generatedAt ? ` on ${input.generatedAt.toISOString().slice(0, 19).replace("T", " ")} UTC` : ""}. BI: Men et al. 2024 (ShortGPT); angular distance: Gromov et al. 2024.</footer>
</main>
</body>
</html>
`;
}
