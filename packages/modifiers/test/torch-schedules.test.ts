import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// By source path: @emosens/golden depends on @emosens/modifiers, so a devDependency back
// would close a package cycle. This checks the golden runner's mapping on the same files.
import { scheduleFromTorch } from '../../golden/src/torch-schedule.js';
import {
  cosineDecaySchedule,
  cosineOnecycleSchedule,
  cosineWarmRestartsSchedule,
  exponentialDecay,
  joinSchedules,
  linearOnecycleSchedule,
  linearSchedule,
  polynomialSchedule,
  stepDecaySchedule,
  type Schedule,
} from '../src/index.js';

// The recordings live beside the repository: <repo>/../shared/golden/torch-peers.
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/torch-peers');

interface Spec {
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}
interface Recording {
  readonly schedule?: Spec;
  readonly hyper: { readonly lr?: number };
  readonly steps: readonly { readonly lr: number }[];
}

/** The schedule equivalent to the torch scheduler `spec` on an optimizer of base lr `lr` (the test's own mapping). */
function torchSchedule(spec: Spec, lr: number): Schedule {
  const a = spec.args as Record<string, number & unknown[]>;
  switch (spec.name) {
    case 'StepLR':
      return stepDecaySchedule({ initValue: lr, stepSize: a['step_size']!, gamma: a['gamma'] ?? 0.1 });
    case 'ExponentialLR':
      return exponentialDecay({ initValue: lr, transitionSteps: 1, decayRate: a['gamma']! });
    case 'PolynomialLR':
      return polynomialSchedule({ initValue: lr, endValue: 0, power: a['power'] ?? 1, transitionSteps: a['total_iters'] ?? 5 });
    case 'LinearLR':
      return linearSchedule({ initValue: lr * (a['start_factor'] ?? 1 / 3), endValue: lr * (a['end_factor'] ?? 1), transitionSteps: a['total_iters'] ?? 5 });
    case 'CosineAnnealingLR':
      return cosineDecaySchedule({ initValue: lr, decaySteps: a['T_max']!, alpha: (a['eta_min'] ?? 0) / lr });
    case 'CosineAnnealingWarmRestarts':
      return cosineWarmRestartsSchedule({ initValue: lr, firstPeriod: a['T_0']!, periodMultiplier: a['T_mult'] ?? 1, minValue: a['eta_min'] ?? 0 });
    case 'OneCycleLR': {
      const options = { transitionSteps: a['total_steps']!, peakValue: a['max_lr']!, pctStart: a['pct_start'] ?? 0.3, divFactor: a['div_factor'] ?? 25, finalDivFactor: a['final_div_factor'] ?? 1e4 };
      return (spec.args['anneal_strategy'] ?? 'cos') === 'cos' ? cosineOnecycleSchedule(options) : linearOnecycleSchedule(options);
    }
    case 'SequentialLR':
      return joinSchedules(
        (spec.args['schedulers'] as Spec[]).map((s) => torchSchedule(s, lr)),
        spec.args['milestones'] as number[],
      );
    default:
      throw new Error(`no mapping for torch scheduler ${spec.name}`);
  }
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
      within(expected.map((_, t) => torchSchedule(rec.schedule!, lr)(t)), expected);
      // the golden runner's mapping gives the same
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
