import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scheduleFromTorch, type TorchScheduleSpec } from '../src/index.js';

// The schedules of @emosens/modifiers, through the runner's mapping of torch's lr_schedulers,
// against every step's recorded lr of the torch-peers recordings (beside the repository:
// <repo>/../shared/golden/torch-peers).
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/torch-peers');

interface Recording {
  readonly schedule?: TorchScheduleSpec;
  readonly hyper: { readonly lr?: number };
  readonly steps: readonly { readonly lr: number }[];
}

const within = (actual: number[], expected: number[]) => {
  const bad = actual.flatMap((x, t) => (Math.abs(x - expected[t]!) <= 1e-6 * Math.abs(expected[t]!) ? [] : [`step ${t}: ${x} vs torch ${expected[t]}`]));
  expect(bad).toEqual([]);
};

describe('schedules against torch lr_scheduler recordings (torch-peers)', () => {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json') : [];
  const cases = files
    .map((f) => [f, JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Recording] as const)
    .filter(([, r]) => r.schedule !== undefined && r.schedule.name !== 'ReduceLROnPlateau');

  it('finds the recordings', (ctx) => {
    if (!existsSync(dir)) ctx.skip(`no recordings at ${dir}`);
    // StepLR, ExponentialLR, PolynomialLR, OneCycleLR, CosineAnnealingWarmRestarts, SequentialLR(LinearLR, CosineAnnealingLR)
    expect(cases.length).toBeGreaterThanOrEqual(6);
  });

  for (const [file, rec] of cases) {
    it(`${file}: ${rec.schedule!.name}, every step's lr within 1e-6 relative`, () => {
      const lr = rec.hyper.lr ?? 1e-3;
      const expected = rec.steps.map((s) => s.lr);
      within(expected.map((_, t) => scheduleFromTorch(rec.schedule!, lr)(t)), expected);
    });
  }
});

describe('scheduleFromTorch (golden)', () => {
  it('maps MultiStepLR and ConstantLR, and refuses ReduceLROnPlateau and unknown names', () => {
    const multi = scheduleFromTorch({ name: 'MultiStepLR', args: { milestones: [2, 4, 4], gamma: 0.5 } }, 1);
    // torch counts a repeated milestone twice: t >= 4 -> 0.5^3
    expect([0, 1, 2, 3, 4, 9].map(multi)).toEqual([1, 1, 0.5, 0.5, 0.125, 0.125]);
    const constant = scheduleFromTorch({ name: 'ConstantLR', args: { factor: 0.5, total_iters: 2 } }, 0.1);
    expect([0, 1, 2, 3].map(constant)).toEqual([0.05, 0.05, 0.1, 0.1]);
    expect(() => scheduleFromTorch({ name: 'ReduceLROnPlateau', args: {} }, 0.1)).toThrow(/reduceOnPlateau/);
    expect(() => scheduleFromTorch({ name: 'CyclicLR', args: {} }, 0.1)).toThrow(/CyclicLR: not a supported/);
    expect(() => scheduleFromTorch({ name: 'StepLR', args: {} }, 0.1)).toThrow(/argument 'step_size' must be a number/);
  });
});
