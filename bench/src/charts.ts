/**
 * The bench's results as SVG charts, written next to the run's JSON (hand-written SVG, no
 * dependencies): server CPU µs per delivered message against subscribers per server, delivered
 * against offered rate, and publish→deliver latency percentiles. One colour per server in every chart.
 */
import { writeFileSync } from 'node:fs';
import type { RunResult } from './report.js';
import type { TargetResult } from './suite.js';

export interface Chart {
  /** File name suffix: `<run>-<name>.svg`. */
  name: string;
  title: string;
  svg: string;
}

interface Series {
  label: string;
  colour: string;
  dashed?: boolean;
  points: [number, number][];
}

const W = 640;
const H = 360;
const M = { left: 64, top: 52, bottom: 48 };
/** Room on the right for the legend: its longest label (~7 px a character at 12 px), none without one. */
const rightMargin = (legend: { label: string }[]) =>
  legend.length === 0 ? 24 : Math.max(120, 44 + 7 * Math.max(...legend.map((l) => l.label.length)));
const COLOURS: Record<string, string> = { River: '#1f6feb', 'bare ws': '#2da44e', 'Socket.IO': '#cf222e', raw: '#6e7781' };
const FALLBACK = ['#8250df', '#bf8700', '#0a3069'];

/** Text for SVG content and attributes (&, <, >, quotes escaped). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function colourOf(name: string, i: number): string {
  const key = Object.keys(COLOURS).find((k) => name.startsWith(k));
  return key ? COLOURS[key]! : FALLBACK[i % FALLBACK.length]!;
}

/** A round upper bound for an axis (1, 2, 5 × 10^n). */
export function niceMax(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

const n = (v: number) => (Math.round(v * 10) / 10).toString();
const tick = (v: number) => (v >= 10_000 ? `${n(v / 1000)}k` : n(v));

function frame(
  title: string,
  subtitle: string,
  xLabel: string,
  yLabel: string,
  xMax: number,
  yMax: number,
  body: string[],
  legend: Series[],
): string {
  const right = rightMargin(legend);
  const pw = W - M.left - right;
  const ph = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left}" y="38" font-size="11" fill="#57606a">${esc(subtitle)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = M.top + ph - (ph * i) / 4;
    out.push(`<line x1="${M.left}" y1="${n(y)}" x2="${M.left + pw}" y2="${n(y)}" stroke="#d0d7de" stroke-width="1"/>`);
    out.push(`<text x="${M.left - 6}" y="${n(y + 4)}" text-anchor="end">${esc(tick((yMax * i) / 4))}</text>`);
    if (xMax > 0) {
      const x = M.left + (pw * i) / 4;
      out.push(`<text x="${n(x)}" y="${M.top + ph + 16}" text-anchor="middle">${esc(tick((xMax * i) / 4))}</text>`);
    }
  }
  out.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#57606a"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#57606a"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  out.push(...body);
  legend.forEach((s, i) => {
    const y = M.top + 10 + i * 20;
    const x = W - right + 16;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${s.colour}" stroke-width="3"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${x + 28}" y="${y + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A line chart (each series a polyline with a dot per point); undefined when there is nothing to draw. */
export function lineChart(
  title: string,
  subtitle: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  diagonal = false,
): string | undefined {
  const drawn = series.filter((s) => s.points.some(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (drawn.length === 0) return undefined;
  const all = drawn.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xMax = niceMax(Math.max(...all.map(([x]) => x)));
  const yMax = niceMax(Math.max(...all.map(([, y]) => y), diagonal ? xMax : 0));
  const pw = W - M.left - rightMargin(drawn);
  const ph = H - M.top - M.bottom;
  const px = (x: number) => n(M.left + (pw * x) / xMax);
  const py = (y: number) => n(M.top + ph - (ph * Math.min(y, yMax)) / yMax);
  const body: string[] = [];
  if (diagonal) {
    const end = Math.min(xMax, yMax);
    body.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(end)}" y2="${py(end)}" stroke="#8c959f" stroke-dasharray="2 4"/>`);
  }
  for (const s of drawn) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    body.push(
      `<polyline fill="none" stroke="${s.colour}" stroke-width="2"${dash} points="${pts.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"><title>${esc(s.label)}</title></polyline>`,
    );
    for (const [x, y] of pts)
      body.push(
        `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.colour}"><title>${esc(`${s.label}: ${n(y)} at ${n(x)}`)}</title></circle>`,
      );
  }
  return frame(title, subtitle, xLabel, yLabel, xMax, yMax, body, drawn);
}

/** Grouped bars: one group per category (a server), one bar per measure (p50, p99). */
export function barChart(
  title: string,
  subtitle: string,
  yLabel: string,
  groups: { label: string; colour: string; values: { label: string; value: number }[] }[],
): string | undefined {
  const drawn = groups.filter((g) => g.values.some((v) => Number.isFinite(v.value)));
  if (drawn.length === 0) return undefined;
  const yMax = niceMax(Math.max(...drawn.flatMap((g) => g.values.map((v) => v.value)).filter(Number.isFinite)));
  const pw = W - M.left - rightMargin([]);
  const ph = H - M.top - M.bottom;
  const gw = pw / drawn.length;
  const body: string[] = [];
  drawn.forEach((g, gi) => {
    const bw = (gw * 0.7) / g.values.length;
    g.values.forEach((v, vi) => {
      if (!Number.isFinite(v.value)) return;
      const h = (ph * Math.min(v.value, yMax)) / yMax;
      const x = M.left + gi * gw + gw * 0.15 + vi * bw;
      const opacity = vi === 0 ? '0.55' : '1';
      body.push(
        `<rect x="${n(x)}" y="${n(M.top + ph - h)}" width="${n(bw - 2)}" height="${n(h)}" fill="${g.colour}" fill-opacity="${opacity}"><title>${esc(`${g.label} ${v.label}: ${n(v.value)}`)}</title></rect>`,
      );
      body.push(
        `<text x="${n(x + bw / 2)}" y="${n(M.top + ph - h - 4)}" text-anchor="middle" font-size="10">${esc(`${v.label} ${Math.round(v.value)}`)}</text>`,
      );
    });
    body.push(`<text x="${n(M.left + gi * gw + gw / 2)}" y="${M.top + ph + 16}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  return frame(title, subtitle, '', yLabel, 0, yMax, body, []);
}

function series(run: RunResult, pick: (t: TargetResult) => [number, number][], dashed = false, suffix = ''): Series[] {
  return run.targets.map((t, i) => ({ label: `${t.name}${suffix}`, colour: colourOf(t.name, i), dashed, points: pick(t) }));
}

/** The charts a run has data for. */
export function renderCharts(run: RunResult): Chart[] {
  const charts: Chart[] = [];
  const when = `${run.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${run.machine.cpus} × ${run.machine.model}, Node ${run.machine.node} (${run.mode} run; lower is better)`;
  const cost = lineChart('Server CPU per delivered message', when, 'subscribers per server', 'µs per delivered message', [
    ...series(run, (t) => t.steps.filter((s) => s.label === 'single').map((s) => [s.subscribers, s.usPerMsg])),
    ...series(run, (t) => t.steps.filter((s) => s.label === 'batch10').map((s) => [s.subscribers, s.usPerMsg]), true, ', batch of 10'),
  ]);
  if (cost) charts.push({ name: 'us-per-message', title: 'µs per message against subscribers', svg: cost });
  const rate = lineChart(
    'Delivered against offered rate, 5,000 subscribers',
    when.replace('lower is better', 'on the diagonal: everything delivered'),
    'offered deliveries per second',
    'delivered per second',
    series(run, (t) => [...t.rateSteps, ...(t.halfLoad ? [t.halfLoad] : [])].map((s) => [s.offeredPerSec, s.deliveredPerSec])),
    true,
  );
  if (rate) charts.push({ name: 'delivered-vs-offered', title: 'delivered against offered rate', svg: rate });
  const size = Math.max(0, ...run.targets.flatMap((t) => t.steps.filter((s) => s.label === 'single').map((s) => s.subscribers)));
  const latency = barChart(
    `Publish→deliver latency, single messages to ${size.toLocaleString('en-US')} subscribers`,
    when,
    'ms',
    run.targets.map((t, i) => {
      const s = t.steps.find((x) => x.label === 'single' && x.subscribers === size);
      return {
        label: t.name,
        colour: colourOf(t.name, i),
        values: [
          { label: 'p50', value: s?.latency.p50 ?? Number.NaN },
          { label: 'p99', value: s?.latency.p99 ?? Number.NaN },
        ],
      };
    }),
  );
  if (latency) charts.push({ name: 'latency', title: 'latency percentiles', svg: latency });
  return charts;
}

/** Writes the run's charts as `<json path without .json>-<name>.svg`; returns the files written. */
export function writeCharts(run: RunResult, jsonFile: string): string[] {
  const base = jsonFile.replace(/\.json$/, '');
  return renderCharts(run).map((c) => {
    const file = `${base}-${c.name}.svg`;
    writeFileSync(file, c.svg);
    return file;
  });
}
