/**
 * The standalone HTML report renders in headless Chromium with one bar per
 * block, removed blocks highlighted, and a chart that is actually drawn
 * (checked on a screenshot), without any network access.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";

import { renderHtmlReport } from "../src/report/html-report.js";
import { renderScoreTable } from "../src/report/terminal.js";
import type { ScoreReport } from "../src/score/report-types.js";
import { CHROMIUM_PATH, launchChromium } from "./helpers/chromium.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A 30-block profile shaped like SmolLM2's (first block large, a valley in the upper middle).
const bi = Array.from({ length: 30 }, (_, i) => (i === 0 ? 0.42 : 0.04 + 0.05 * Math.abs(Math.sin(i / 4)) + (i === 29 ? 0.2 : 0)));
const scores: ScoreReport = {
  model: "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
  architecture: "llama",
  blockCount: 30,
  metric: "bi",
  span: 1,
  ctx: 256,
  windows: 64,
  tokens: 16384,
  calibration: { sources: ["nlp-corpus <script>"], characters: 90000, textTokens: 21000 },
  layers: bi.map((v, index) => ({ index, bi: v, rm: v * 1.3, angular: index < 29 ? Math.acos(1 - v) / Math.PI : null, angularAllPositions: index < 29 ? Math.acos(1 - v * 0.9) / Math.PI : null })),
  order: [...bi.keys()].sort((a, b) => bi[a]! - bi[b]!),
};
const removed = scores.order.slice(0, 6);

describe("the terminal table", () => {
  it("has one row per block and marks the removed ones", () => {
    const text = renderScoreTable(scores, { marked: new Set(removed) });
    const rows = text.split("\n").slice(1, -1);
    expect(rows).toHaveLength(30);
    expect(rows.filter((r) => r.includes("◀ remove"))).toHaveLength(6);
    expect(rows[0]).toMatch(/^\s+0\s+0\.42000/);
  });
});

describe("the HTML report", () => {
  const html = renderHtmlReport({
    scores,
    outcome: { removed, strategy: "bi", perplexityBefore: 12.1, perplexityAfter: 19.7, bytesBefore: 98362432, bytesAfter: 78409696, evalText: "wiki.test.raw" },
    generatedAt: new Date("2026-11-29T00:00:00Z"),
  });

  it("is self-contained and escapes what it prints", () => {
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg|json-schema)/);
    expect(html).toContain("nlp-corpus &lt;script&gt;");
    expect(html.match(/class="bar[ "]/g)?.length).toBe(60); // two charts
  });

  it.skipIf(!CHROMIUM_PATH)("renders in headless Chromium with one drawn bar per block", async () => {
    const path = join(dir, "report.html");
    writeFileSync(path, html);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1600 } });
      await page.route("**/*", (route) => (route.request().url().startsWith("file://") ? route.continue() : route.abort()));
      await page.goto(`file://${path}`);
      const chart = page.locator("svg.chart").first();
      const bars = await chart.locator("rect.bar").evaluateAll((els) =>
        els.map((e) => {
          const r = e.getBoundingClientRect();
          return { block: Number(e.getAttribute("data-block")), height: r.height, width: r.width, highlighted: e.classList.contains("highlighted") };
        }),
      );
      expect(bars.map((b) => b.block)).toEqual([...Array(30).keys()]);
      for (const b of bars) {
        expect(b.height).toBeGreaterThan(0);
        expect(b.width).toBeGreaterThan(0);
      }
      expect(bars.filter((b) => b.highlighted).map((b) => b.block).sort((a, b) => a - b)).toEqual([...removed].sort((a, b) => a - b));
      // The tallest bar is block 0 (largest BI).
      expect(bars.reduce((a, b) => (b.height > a.height ? b : a)).block).toBe(0);

      const png = PNG.sync.read(await chart.screenshot());
      const colors = new Map<string, number>();
      for (let i = 0; i < png.data.length; i += 4) {
        const key = `${png.data[i]},${png.data[i + 1]},${png.data[i + 2]}`;
        colors.set(key, (colors.get(key) ?? 0) + 1);
      }
      const count = (rgb: [number, number, number]) => colors.get(rgb.join(",")) ?? 0;
      // Not blank: plenty of pixels in the bar color and in the highlight color.
      expect(count([0x1c, 0x7e, 0xd6])).toBeGreaterThan(2000);
      expect(count([0xd9, 0x48, 0x0f])).toBeGreaterThan(300);
      writeFileSync(join(dir, "chart.png"), PNG.sync.write(png));
    } finally {
      await browser.close();
    }
  });
});
