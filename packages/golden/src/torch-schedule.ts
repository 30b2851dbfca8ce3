import {
  constantSchedule,
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
} from '@emosens/modifiers';
import { GoldenFormatError } from './format.js';

/** A recording's `schedule` field: a `torch.optim.lr_scheduler` class name and its arguments. */
export interface TorchScheduleSpec {
  readonly name: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The emosens schedule equivalent to a torch lr_scheduler stepped once after every optimizer
 * step on an optimizer of learning rate `lr`: its value at step t is the lr torch's step t
 * uses (after t scheduler steps). Missing arguments take torch 1.13's defaults.
 *
 * Supported: `StepLR`, `MultiStepLR`, `ConstantLR`, `LinearLR`, `ExponentialLR`,
 * `PolynomialLR`, `CosineAnnealingLR` (up to `T_max`: past it torch's value rises again
 * along the cosine, this one holds `eta_min`), `CosineAnnealingWarmRestarts`, `OneCycleLR`
 * (`three_phase=False`; it ignores `lr`, as torch does) and `SequentialLR` of those.
 * `ReduceLROnPlateau` depends on the losses, not on the step: it is the block
 * `reduceOnPlateau` of `@emosens/modifiers`, not a schedule. Anything else throws
 * {@link GoldenFormatError}.
 */
export function scheduleFromTorch(spec: TorchScheduleSpec, lr: number): Schedule {
  if (!isObject(spec) || typeof spec.name !== 'string') throw new GoldenFormatError(`schedule: expected { name, args }, got ${JSON.stringify(spec)}`);
  const args = spec.args ?? {};
  if (!isObject(args)) throw new GoldenFormatError(`schedule ${spec.name}: 'args' must be an object`);
  const num = (key: string, fallback?: number): number => {
    const v = args[key] ?? fallback;
    if (typeof v !== 'number') throw new GoldenFormatError(`schedule ${spec.name}: argument '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  switch (spec.name) {
    case 'StepLR':
      return stepDecaySchedule({ initValue: lr, stepSize: num('step_size'), gamma: num('gamma', 0.1) });
    case 'MultiStepLR': {
      const milestones = args['milestones'];
      if (!Array.isArray(milestones) || !milestones.every((m) => typeof m === 'number')) {
        throw new GoldenFormatError(`schedule MultiStepLR: 'milestones' must be a list of numbers`);
      }
      const gamma = num('gamma', 0.1);
      // torch counts a repeated milestone as many times as it appears
      const sorted = [...(milestones as number[])].sort((a, b) => a - b);
      return (step) => lr * gamma ** sorted.filter((m) => m <= step).length;
    }
    case 'ConstantLR': {
      const total = num('total_iters', 5);
      const factor = num('factor', 1 / 3);
      return total === 0 ? constantSchedule(lr) : joinSchedules([constantSchedule(lr * factor), constantSchedule(lr)], [total]);
    }
    case 'LinearLR':
      return linearSchedule({ initValue: lr * num('start_factor', 1 / 3), endValue: lr * num('end_factor', 1), transitionSteps: num('total_iters', 5) });
    case 'ExponentialLR':
      return exponentialDecay({ initValue: lr, transitionSteps: 1, decayRate: num('gamma') });
    case 'PolynomialLR':
      return polynomialSchedule({ initValue: lr, endValue: 0, power: num('power', 1), transitionSteps: num('total_iters', 5) });
    case 'CosineAnnealingLR': {
      const etaMin = num('eta_min', 0);
      return cosineDecaySchedule({ initValue: lr, decaySteps: num('T_max'), alpha: lr === 0 ? 0 : etaMin / lr });
    }
    case 'CosineAnnealingWarmRestarts':
      return cosineWarmRestartsSchedule({ initValue: lr, firstPeriod: num('T_0'), periodMultiplier: num('T_mult', 1), minValue: num('eta_min', 0) });
    case 'OneCycleLR': {
      if (args['three_phase'] === true) throw new GoldenFormatError(`schedule OneCycleLR: three_phase=True is not supported`);
      const total = args['total_steps'] ?? (typeof args['epochs'] === 'number' && typeof args['steps_per_epoch'] === 'number' ? args['epochs'] * args['steps_per_epoch'] : undefined);
      const strategy = args['anneal_strategy'] ?? 'cos';
      if (strategy !== 'cos' && strategy !== 'linear') throw new GoldenFormatError(`schedule OneCycleLR: anneal_strategy must be 'cos' or 'linear', got ${JSON.stringify(strategy)}`);
      const options = {
        transitionSteps: total as number,
        peakValue: num('max_lr'),
        pctStart: num('pct_start', 0.3),
        divFactor: num('div_factor', 25),
        finalDivFactor: num('final_div_factor', 1e4),
      };
      return strategy === 'cos' ? cosineOnecycleSchedule(options) : linearOnecycleSchedule(options);
    }
    case 'SequentialLR': {
      const schedulers = args['schedulers'];
      const milestones = args['milestones'];
      if (!Array.isArray(schedulers) || !Array.isArray(milestones)) {
        throw new GoldenFormatError(`schedule SequentialLR: 'schedulers' and 'milestones' must be lists`);
      }
      return joinSchedules(
        schedulers.map((s) => scheduleFromTorch(s as TorchScheduleSpec, lr)),
        milestones as number[],
      );
    }
    case 'ReduceLROnPlateau':
      throw new GoldenFormatError(`schedule ReduceLROnPlateau depends on the losses: build it as the block reduceOnPlateau (@emosens/modifiers), not as a schedule`);
    default:
      throw new GoldenFormatError(`schedule ${spec.name}: not a supported torch lr_scheduler`);
  }
}
