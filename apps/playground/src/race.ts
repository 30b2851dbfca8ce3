import type { StepPath } from '@emosens/core';
import type { TransformOptimizer } from '@emosens/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import type { TestFunction } from './functions';

/** One runner of a race: an optimizer built fresh for each race. */
export interface Racer {
  readonly id: string;
  readonly label: string;
  /** The learning rate it runs at (the step-size chart shows it when the optimizer publishes no `stepSize`). */
  readonly lr: number;
  readonly make: () => TransformOptimizer;
}

/** What a racer did, step by step (index 0 is the start). */
export interface RaceTrace {
  readonly id: string;
  readonly label: string;
  readonly xs: number[];
  readonly ys: number[];
  /** The function's value (without noise) at each point. */
  readonly losses: number[];
  /** The emotion scalar after each step; null when the optimizer has none. */
  readonly emotion: (number | null)[];
  /** The `stepSize` signal after each step where published (the v3 emoPulse), else the lr. */
  readonly stepSize: number[];
  /** Which path ran each step: the fused pass or the composed ops. */
  readonly paths: StepPath[];
  /** Set when the racer left the finite numbers (it stops there). */
  diverged: boolean;
}

let raceCount = 0;

/**
 * Runs every racer from the function's start for `steps` steps, in lockstep (one step of
 * each, then the next), reading back the position, the emotion and the step size each
 * step. `onFrame` is called after every `frameEvery` steps; `shouldStop` ends the race early.
 */
export async function runRace(
  fn: TestFunction,
  racers: readonly Racer[],
  steps: number,
  hooks: { onFrame?: (traces: readonly RaceTrace[], step: number) => void; shouldStop?: () => boolean; frameEvery?: number } = {},
): Promise<RaceTrace[]> {
  const run = ++raceCount;
  const [x0, y0] = fn.start;
  const runners = racers.map((racer, i) => ({
    racer,
    optimizer: racer.make(),
    xy: tf.variable(tf.tensor1d([x0, y0]), true, `race${run}_${i}_xy`),
    trace: {
      id: racer.id,
      label: racer.label,
      xs: [x0],
      ys: [y0],
      losses: [fn.value(x0, y0)],
      emotion: [],
      stepSize: [],
      paths: [],
      diverged: false,
    } as RaceTrace,
  }));
  const frameEvery = hooks.frameEvery ?? 5;
  try {
    for (let step = 0; step < steps; step++) {
      if (hooks.shouldStop?.()) break;
      for (const runner of runners) {
        const { optimizer, xy, trace, racer } = runner;
        if (trace.diverged) continue;
        // The loss goes to the optimizer as a number (read asynchronously): the v3
        // optimizers read it on the host, and a synchronous read is slow (and on webgpu
        // can come back stale) in the browser.
        const { value, grads } = tf.variableGrads(() => fn.loss(xy, step), [xy]);
        const loss = (await value.data())[0]!;
        optimizer.setLoss(loss);
        optimizer.applyGradients(grads);
        tf.dispose([value, ...Object.values(grads)]);
        const [x, y] = await xy.data();
        const emotion = optimizer.signals.emotion;
        const stepSize = optimizer.signals.stepSize;
        trace.xs.push(x!);
        trace.ys.push(y!);
        trace.losses.push(fn.value(x!, y!));
        trace.emotion.push(emotion === undefined ? null : ((await emotion.data())[0] ?? null));
        trace.stepSize.push(stepSize === undefined ? racer.lr : ((await stepSize.data())[0] ?? racer.lr));
        if (optimizer.path !== undefined) trace.paths.push(optimizer.path);
        if (!Number.isFinite(x) || !Number.isFinite(y)) trace.diverged = true;
      }
      if (hooks.onFrame && (step % frameEvery === frameEvery - 1 || step === steps - 1)) {
        hooks.onFrame(runners.map((r) => r.trace), step + 1);
        // Let the page paint.
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }
    }
  } finally {
    for (const runner of runners) {
      runner.optimizer.dispose();
      runner.xy.dispose();
    }
  }
  return runners.map((r) => r.trace);
}
