/**
 * A per-block bar chart as a standalone SVG string: one bar per block, the
 * removed (or to-be-removed) blocks highlighted, optional line series on the
 * same axis. No dependencies, no scripts: it renders anywhere, offline.
 */

export interface ChartSeries {
  readonly label: string;
  /** One value per block (null = no value for that block). */
  readonly values: readonly (number | null)[];
  readonly color: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly yLabel: string;
  /** Bar heights, one per block. */
  readonly bars: ChartSeries;
  /** Lines drawn over the bars (e.g. angular distance). */
  readonly lines?: readonly ChartSeries[];
  /** Blocks drawn in the highlight color. */
  readonly highlighted?: ReadonlySet<number>;
  readonly highlightColor?: string;
  readonly highlightLabel?: string;
  readonly width?: number;
  readonly height?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : a >= 0.01 ? v.toFixed(3) : v.toExponential(1);
}

export function barChartSvg(o: BarChartOptions): string {
  const width = o.width ?? 880;
  const height = o.height ?? 320;
  const m = { top: 40, right: 20, bottom: 56, left: 64 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const n = o.bars.values.length;
  const all = [...o.bars.values, ...(o.lines ?? []).flatMap((l) => l.values)].filter((v): v is number => v !== null && Number.isFinite(v));
  const yMax = niceMax(Math.max(0, ...all));
  const x = (i: number) => m.left + (i + 0.5) * (w / Math.max(n, 1));
  const y = (v: number) => m.top + h - (Math.max(0, v) / yMax) * h;
  const barWidth = Math.max(1, (w / Math.max(n, 1)) * 0.72);
  const highlight = o.highlightColor ?? "#d9480f";
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(o.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.left}" y="22" font-size="15" font-weight="600" fill="#212529">${escapeXml(o.title)}</text>`);
  // Grid and y axis.
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    const yy = y(v);
    parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#e9ecef"/>`);
    parts.push(`<text x="${m.left - 8}" y="${(yy + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#495057">${fmt(v)}</text>`);
  }
  parts.push(
    `<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#495057">${escapeXml(o.yLabel)}</text>`,
  );
  // Bars.
  o.bars.values.forEach((v, i) => {
    const value = v !== null && Number.isFinite(v) ? v : 0;
    const isHighlighted = o.highlighted?.has(i) ?? false;
    const top = y(value);
    parts.push(
      `<rect class="bar${isHighlighted ? " highlighted" : ""}" data-block="${i}" data-value="${v ?? ""}" x="${(x(i) - barWidth / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${Math.max(0, m.top + h - top).toFixed(1)}" fill="${isHighlighted ? highlight : o.bars.color}"><title>block ${i}: ${escapeXml(o.bars.label)} ${v === null ? "n/a" : fmt(v)}</title></rect>`,
    );
  });
  // Lines.
  for (const line of o.lines ?? []) {
    const pts = line.values.map((v, i) => (v !== null && Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null));
    let d = "";
    let pen = false;
    for (const p of pts) {
      if (p === null) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${p} `;
      pen = true;
    }
    if (d) parts.push(`<path class="line" d="${d.trim()}" fill="none" stroke="${line.color}" stroke-width="2"/>`);
    pts.forEach((p) => {
      if (p) parts.push(`<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="2.5" fill="${line.color}"/>`);
    });
  }
  // X axis labels: every block when they fit, else every k-th.
  const step = Math.max(1, Math.ceil(n / Math.floor(w / 22)));
  for (let i = 0; i < n; i += step) {
    parts.push(`<text x="${x(i).toFixed(1)}" y="${m.top + h + 16}" font-size="11" text-anchor="middle" fill="#495057">${i}</text>`);
  }
  parts.push(`<text x="${m.left + w / 2}" y="${m.top + h + 36}" font-size="12" text-anchor="middle" fill="#495057">block</text>`);
  parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${m.top + h}" y2="${m.top + h}" stroke="#adb5bd"/>`);
  // Legend.
  const legend: [string, string][] = [[o.bars.label, o.bars.color]];
  if (o.highlighted && o.highlighted.size > 0) legend.push([o.highlightLabel ?? "removed", highlight]);
  for (const l of o.lines ?? []) legend.push([l.label, l.color]);
  let lx = m.left;
  for (const [label, color] of legend) {
    parts.push(`<rect x="${lx}" y="${height - 14}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${lx + 14}" y="${height - 5}" font-size="11" fill="#212529">${escapeXml(label)}</text>`);
    lx += 24 + label.length * 6.5;
  }
  parts.push("</svg>");
  return parts.join("\n");
}
