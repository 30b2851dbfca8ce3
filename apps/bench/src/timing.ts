/** How long to measure one case. */
export interface TimingOptions {
  /** Untimed steps first (the first fused step also adopts the storage). */
  readonly warmup: number;
  /** Aim for about this much measured time... */
  readonly budgetMs: number;
  /** ...with at least and at most this many measured steps. */
  readonly minSteps: number;
  readonly maxSteps: number;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Times `run` (one step, awaited so GPU backends can wait for their queue): warm-up
 * steps, then as many measured steps as fit the budget at the warm-up's pace (within
 * the bounds), and returns the median and the samples in ms.
 */
export async function timeSteps(run: () => unknown, options: TimingOptions): Promise<{ median: number; samples: number[] }> {
  let estimate = 0;
  for (let i = 0; i < Math.max(1, options.warmup); i++) {
    const t0 = performance.now();
    await run();
    estimate = performance.now() - t0;
  }
  const steps = Math.min(options.maxSteps, Math.max(options.minSteps, Math.ceil(options.budgetMs / Math.max(estimate, 1e-3))));
  const samples: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return { median: median(samples), samples };
}
