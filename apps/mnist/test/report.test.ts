import { describe, expect, it } from 'vitest';
import { describePath, movingAverage, renderReportHtml, renderStepSizeChart, renderTable, type JobResults } from '../src/report.js';
import type { RunResult } from '../src/train.js';

function run(optimizer: RunResult['optimizer'], label: string, emotion: boolean, stepSize = false): RunResult {
  const losses = Array.from({ length: 40 }, (_, i) => 2.3 * Math.exp(-i / 15));
  return {
    optimizer,
    label,
    lr: optimizer === 'adam' ? 0.001 : 0.002,
    backend: 'cpu',
    path: emotion ? 'fused' : 'composed',
    fusedSteps: emotion ? losses.length : 0,
    finalLoss: 0.25,
    heldOutAccuracy: 0.9125,
    msPerStep: 12.34,
    stateBytes: 814_204,
    calmStep: emotion ? 31 : null,
    losses,
    emotion: losses.map((_, i) => (emotion ? Math.sin(i / 5) : null)),
    stepSize: losses.map((_, i) => (stepSize ? 2e-4 * (1 + i / 10) : null)),
  };
}

const results: JobResults = {
  job: 'mnist-mlp',
  createdAt: '2024-01-01T00:00:00.000Z',
  options: {
    steps: 40,
    seed: 1,
    backend: 'cpu',
    backendDetail: 'JavaScript cpu backend',
    fusedKernels: 'registerCpuKernels (@emosens/backend-cpu)',
    batchSize: 64,
    lr: null,
    model: '784-128-10 MLP',
    trainCount: 8000,
    heldOutCount: 2000,
    finalLossWindow: 50,
    optimizers: ['emosens', 'emosens-v3', 'adam'],
    tfjsVersion: '4.22.0',
    node: 'v20',
  },
  runs: [run('emosens', 'EmoSens', true), run('emosens-v3', 'EmoSens v3', true, true), run('adam', 'Adam <b>', false)],
};

describe('renderTable', () => {
  it('aligns one row per optimizer with every column', () => {
    const lines = renderTable(results.runs).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^optimizer\s+lr\s+backend\s+path\s+final loss\s+held-out acc\s+ms\/step\s+state bytes\s+calm at step$/);
    expect(lines[2]).toMatch(/^EmoSens\s+0\.002\s+cpu\s+fused\s+0\.2500\s+0\.9125\s+12\.3\s+814,204\s+31$/);
    expect(lines[4]).toMatch(/^Adam <b>\s+0\.001\s+cpu\s+composed\s+.*never$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });
});

describe('describePath', () => {
  it('names the path of a run, with the fused count when its steps took both', () => {
    expect(describePath({ path: 'fused', fusedSteps: 40 })).toBe('fused');
    expect(describePath({ path: 'composed', fusedSteps: 0 })).toBe('composed');
    expect(describePath({ path: 'mixed', fusedSteps: 39 })).toBe('mixed (39 fused)');
  });
});

describe('renderReportHtml', () => {
  const html = renderReportHtml(results);

  it('is a self-contained page with no external references', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/<script[^>]+src/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });

  it('draws a loss curve per optimizer, an emotion curve for the Emo ones and the step size of each', () => {
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(3);
    expect(svgs[0]!.match(/<polyline/g)).toHaveLength(3);
    expect(svgs[1]!.match(/<polyline/g)).toHaveLength(2);
    expect(svgs[1]).toContain('EmoSens');
    expect(svgs[2]).toContain('Step size per step');
    expect(svgs[2]!.match(/<polyline/g)).toHaveLength(3);
    // v3 publishes its step size; v2 and Adam are drawn at their constant lr, and say so.
    expect(svgs[2]).toContain('<title>EmoSens v3</title>');
    expect(svgs[2]).toContain('<title>EmoSens (lr, constant)</title>');
    expect(svgs[2]).toContain('<title>Adam &#60;b&#62; (lr, constant)</title>');
    expect(html).toContain('signal <code>stepSize</code>');
  });

  it('says which backend and path each optimizer ran on', () => {
    expect(html).toContain('<th>lr</th><th>backend</th><th>path</th>');
    expect(html).toMatch(/<td>EmoSens<\/td><td>0\.002<\/td><td>cpu<\/td><td>fused<\/td>/);
    expect(html).toMatch(/<td>Adam &#60;b&#62;<\/td><td>0\.001<\/td><td>cpu<\/td><td>composed<\/td>/);
    expect(html).toContain('lr per optimizer (table)');
    expect(html).toContain('fused kernels: registerCpuKernels (@emosens/backend-cpu)');
  });

  it('escapes labels', () => {
    expect(html).toContain('Adam &#60;b&#62;');
    expect(html).not.toContain('Adam <b>');
  });
});

describe('renderStepSizeChart', () => {
  it('spans whole decades on a log axis around the step sizes and the flat lrs', () => {
    const svg = renderStepSizeChart(results.runs, 40);
    // 2e-4 .. 7.8e-4 (v3) and 1e-3, 2e-3 (flat): from 1e-4 to 1e-2.
    expect(svg).toContain('>1.0e-4</text>');
    expect(svg).toContain('>0.01</text>');
    // The v3 series rises: its first point sits lower on the page than its last.
    const points = /<polyline[^>]*points="([^"]+)"><title>EmoSens v3<\/title>/.exec(svg)![1]!.split(' ');
    const yOf = (p: string): number => Number(p.split(',')[1]);
    expect(yOf(points[0]!)).toBeGreaterThan(yOf(points.at(-1)!));
  });

  it('says so when nothing has a step size', () => {
    expect(renderStepSizeChart([], 10)).toBe('<p>No step sizes to plot.</p>');
  });
});

describe('movingAverage', () => {
  it('averages a trailing window, shorter at the start', () => {
    expect(movingAverage([1, 2, 3, 4, 5], 2)).toEqual([1, 1.5, 2.5, 3.5, 4.5]);
  });
});
