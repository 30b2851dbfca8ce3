import { describe, expect, it } from 'vitest';
import { adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';
import { quadraticBowl, rosenbrock, train, type Problem } from './problems.js';

/**
 * The convergence table (also in docs/convergence.md): each optimizer, with lr 0.05 and
 * no weight decay, first gets below `target` within `steps` steps. The Emo optimizers
 * cool their step while the loss falls fast, so they take longer than Adam here; EmoCats
 * moves by signed steps of size lr and settles to a coarser loss.
 */
const TABLE: ReadonlyArray<[string, typeof emoSens, Problem, number, number]> = [
  ['emoSens', emoSens, quadraticBowl, 1e-4, 250],
  ['emoAiry', emoAiry, quadraticBowl, 1e-4, 250],
  ['emoCats', emoCats, quadraticBowl, 1e-4, 300],
  ['adam', adam, quadraticBowl, 1e-4, 50],
  ['adamw', adamw, quadraticBowl, 1e-4, 50],
  ['emoSens', emoSens, rosenbrock, 1e-4, 3000],
  ['emoAiry', emoAiry, rosenbrock, 1e-4, 3000],
  ['emoCats', emoCats, rosenbrock, 1e-2, 3700],
  ['adam', adam, rosenbrock, 1e-4, 1500],
  ['adamw', adamw, rosenbrock, 1e-4, 1500],
];

describe('convergence table', () => {
  for (const [name, make, problem, target, steps] of TABLE) {
    it(`${name} on the ${problem.name} reaches ${target} within ${steps} steps`, () => {
      const losses = train(problem, make({ lr: 0.05, weightDecay: 0 }), steps);
      const first = losses.findIndex((l) => l < target);
      expect(losses[0]).toBeGreaterThan(target * 100);
      expect(first, `best loss ${Math.min(...losses).toExponential(2)}`).toBeGreaterThan(-1);
      expect(first).toBeLessThanOrEqual(steps);
    });
  }
});
