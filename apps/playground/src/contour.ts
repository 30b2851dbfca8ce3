import { colorOf } from './charts';
import type { TestFunction } from './functions';
import type { RaceTrace } from './race';

/**
 * Draws the function as filled contour bands (log-spaced levels) on the canvas, its minima
 * as crosses, and each trace as a polyline in its series colour.
 */
export function drawContour(canvas: HTMLCanvasElement, fn: TestFunction, traces: readonly RaceTrace[] = []): void {
  const context = canvas.getContext('2d');
  if (context === null) return;
  const { width, height } = canvas;
  const [min, max] = fn.domain;
  const toX = (x: number): number => ((x - min) / (max - min)) * width;
  const toY = (y: number): number => height - ((y - min) / (max - min)) * height;

  const cell = 4;
  const cols = Math.ceil(width / cell);
  const rows = Math.ceil(height / cell);
  const values = new Float64Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = min + ((c + 0.5) / cols) * (max - min);
      const y = max - ((r + 0.5) / rows) * (max - min);
      const v = Math.log10(1e-3 + Math.max(0, fn.value(x, y)));
      values[r * cols + c] = v;
    }
  }
  // Band edges at quantiles of the plotted values: every band covers about as much of the
  // square, whatever the function's range (Rosenbrock's valley and Rastrigin's bumps alike).
  const bands = 18;
  const sorted = Float64Array.from(values).sort();
  const edges = Array.from({ length: bands - 1 }, (_, k) => sorted[Math.floor(((k + 1) / bands) * sorted.length)]!);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c]!;
      let index = 0;
      while (index < edges.length && v > edges[index]!) index++;
      const band = index / (bands - 1);
      // Dark blue (low) to pale yellow (high).
      const red = Math.round(20 + 235 * band);
      const green = Math.round(30 + 200 * band);
      const blue = Math.round(90 + 80 * (1 - band));
      context.fillStyle = `rgb(${red},${green},${blue})`;
      context.fillRect(c * cell, r * cell, cell, cell);
    }
  }

  context.lineWidth = 2;
  context.strokeStyle = '#fff';
  for (const [mx, my] of fn.minima) {
    const px = toX(mx);
    const py = toY(my);
    context.beginPath();
    context.moveTo(px - 6, py - 6);
    context.lineTo(px + 6, py + 6);
    context.moveTo(px + 6, py - 6);
    context.lineTo(px - 6, py + 6);
    context.stroke();
  }

  traces.forEach((trace, i) => {
    context.strokeStyle = colorOf(i);
    context.lineWidth = 2;
    context.beginPath();
    for (let k = 0; k < trace.xs.length; k++) {
      const px = Math.max(-10, Math.min(width + 10, toX(trace.xs[k]!)));
      const py = Math.max(-10, Math.min(height + 10, toY(trace.ys[k]!)));
      if (k === 0) context.moveTo(px, py);
      else context.lineTo(px, py);
    }
    context.stroke();
    const last = trace.xs.length - 1;
    context.fillStyle = colorOf(i);
    context.beginPath();
    context.arc(toX(trace.xs[last]!), toY(trace.ys[last]!), 4, 0, 2 * Math.PI);
    context.fill();
  });

  context.fillStyle = '#fff';
  context.beginPath();
  context.arc(toX(fn.start[0]), toY(fn.start[1]), 5, 0, 2 * Math.PI);
  context.fill();
  context.font = '13px sans-serif';
  context.fillText(`${fn.label}  [${min}, ${max}]²`, 8, 18);
}
