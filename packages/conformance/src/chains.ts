import { chain, composedUpdate, partition, type FusionForm, type GradientTransformation, type StateValue } from '@emosens/core';
import { fixedEmotion, trackEmotion } from '@emosens/emotion';
import {
  addDecayedWeights,
  applyIfFinite,
  cautious,
  emaParams,
  lookahead,
  masked,
  multiSteps,
  rescaleToPreviousNorm,
  scaleByEmotionStep,
  scaleByLearningRate,
  scaleBySign,
  scaleBySoftsign,
  withPreviousNormRescale,
} from '@emosens/modifiers';
import { rootFiltered, scaleByAdam, scaleByFactoredRms, scaleByLionMoment } from '@emosens/moments';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { withShadow } from '@emosens/shadow';

type Tx = GradientTransformation<StateValue>;

/** A named transform maker (fresh state each call). */
export interface NamedTransform {
  readonly name: string;
  readonly make: () => Tx;
  /** Whether it publishes the emotion signals. */
  readonly emotion: boolean;
}

/** The reference optimizers and their variants. */
export const REFERENCE_OPTIMIZERS: readonly NamedTransform[] = [
  { name: 'emoSens', make: () => emoSens({ lr: 1e-2 }), emotion: true },
  { name: 'emoSens shadow', make: () => emoSens({ lr: 1e-2, useShadow: true }), emotion: true },
  { name: 'emoAiry', make: () => emoAiry({ lr: 1e-2 }), emotion: true },
  { name: 'emoAiry shadow', make: () => emoAiry({ lr: 1e-2, useShadow: true, weightDecay: 0.1 }), emotion: true },
  { name: 'emoCats', make: () => emoCats({ lr: 1e-3 }), emotion: true },
  { name: 'emoCats shadow decoupled', make: () => emoCats({ lr: 1e-3, useShadow: true, decoupledWeightDecay: true }), emotion: true },
  { name: 'adam', make: () => adam({ lr: 1e-2 }), emotion: false },
  { name: 'adamw', make: () => adamw({ lr: 1e-2, weightDecay: 0.05 }), emotion: false },
];

/**
 * The host values of the v3.9.1 generation (`emotion`, `trust`, `stepSize`, `shouldStop`, as
 * `trackEmotionV3()` and `emoPulse()` publish them), made up per step from a host counter:
 * the v3 blocks are checked without reading a tensor loss back (which WebGPU in Node cannot
 * do synchronously). |s| passes 0.625 on some steps; shouldStop turns on every fifth step.
 */
function v3HostValues(): GradientTransformation<{ readonly t: number }> {
  const name = 'v3HostValues';
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const t = (state as { t: number }).t;
      const s = 0.9 * Math.sin(1.7 * t + 0.3);
      context.publishValue('emotion', s, name);
      context.publishValue('trust', Math.sign(s) * (1 - Math.abs(s)), name);
      context.publishValue('stepSize', 1e-3 * (1.5 + Math.cos(t)), name);
      context.publishValue('shouldStop', t % 5 === 3 ? 1 : 0, name);
      return { updates, state: { t: t + 1 } };
    },
  };
  return { name, init: () => ({ t: 0 }), update: composedUpdate(name, fusion), fusion };
}

/**
 * The wrapper blocks of `@emosens/modifiers`, each around a chain that fuses, and all of them
 * nested in one: host counters (multiSteps, lookahead), per-parameter selection (masked),
 * device-side selects of an inner state (applyIfFinite), an average of p + u (emaParams).
 */
export const WRAPPER_CHAINS: readonly NamedTransform[] = [
  { name: 'multiSteps(adamw, { everyK: 3 })', make: () => multiSteps(adamw({ lr: 1e-2 }), { everyK: 3 }) as Tx, emotion: false },
  { name: 'lookahead(adam, { syncPeriod: 3, alpha: 0.4 })', make: () => lookahead(adam({ lr: 1e-2 }), { syncPeriod: 3, alpha: 0.4 }) as Tx, emotion: false },
  {
    name: 'chain(scaleByAdam(), masked(addDecayedWeights(0.1), rank >= 2), scaleByLearningRate(schedule), emaParams())',
    make: () =>
      chain(scaleByAdam(), masked(addDecayedWeights(0.1), (_name, p) => p.rank >= 2), scaleByLearningRate((t: number) => 0.01 / (1 + 0.1 * t)), emaParams({ decay: 0.9 })) as Tx,
    emotion: false,
  },
  { name: 'applyIfFinite(emoSens, { maxConsecutiveErrors: 2 })', make: () => applyIfFinite(emoSens({ lr: 1e-2 }), { maxConsecutiveErrors: 2 }) as Tx, emotion: true },
  {
    name: 'chain(applyIfFinite(multiSteps(lookahead(adamw), 2), 1), emaParams({ debias: false }))',
    make: () =>
      chain(
        applyIfFinite(multiSteps(lookahead(adamw({ lr: 1e-2 }), { syncPeriod: 2 }), { everyK: 2 }), { maxConsecutiveErrors: 1 }),
        emaParams({ decay: 0.8, debias: false }),
      ) as Tx,
    emotion: false,
  },
  // The v3.9.1 blocks, on made-up host values (v3HostValues()): the v3 shadow rule
  // (host branch, uniforms) and EmoVoid's rescale (a short warm-up, so it ends). EmoTion's
  // scaleByFreshnessMoment is not here: its state `prev = L |L - prev| / prev` and its rate
  // tanh(ratio / 0.03) are ill-conditioned while the weights barely move, so they differ by
  // backend with the float32 sums of L (the steps agree; see its own tests and the golden replay).
  {
    name: "chain(v3HostValues(), withShadow(chain(scaleBySign(), addDecayedWeights(0.01), lr(stepSize)), { rule: 'v3' }))",
    make: () =>
      chain(
        v3HostValues(),
        withShadow(chain(scaleBySign(), addDecayedWeights(0.01), scaleByLearningRate({ fromValue: 'stepSize' })), { rule: 'v3' }),
      ) as Tx,
    emotion: false,
  },
  {
    name: "chain(v3HostValues(), withPreviousNormRescale(withShadow(chain(scaleBySign(), lr(stepSize)), { rule: 'v3' }), { steps: 3 }))",
    make: () =>
      chain(
        v3HostValues(),
        withPreviousNormRescale(withShadow(chain(scaleBySign(), scaleByLearningRate({ fromValue: 'stepSize' })), { rule: 'v3' }), { steps: 3 }),
      ) as Tx,
    emotion: false,
  },
  {
    name: 'chain(v3HostValues(), scaleBySign(), lr(stepSize), rescaleToPreviousNorm({ steps: 4 }))',
    make: () => chain(v3HostValues(), scaleBySign(), scaleByLearningRate({ fromValue: 'stepSize' }), rescaleToPreviousNorm({ steps: 4 })) as Tx,
    emotion: false,
  },
];

/** AdamW under applyIfFinite (one non-finite step in a row skipped), for the non-finite check of the wrapper. */
export const GUARDED_BY_APPLY_IF_FINITE: NamedTransform = {
  name: 'applyIfFinite(adamw, { maxConsecutiveErrors: 1 })',
  make: () => applyIfFinite(adamw({ lr: 1e-2 }), { maxConsecutiveErrors: 1 }) as Tx,
  emotion: false,
};

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** Directions a random chain may use: every moment, filter and sign block, alone or wrapped. */
const DIRECTIONS: readonly [string, () => Tx][] = [
  ['scaleByAdam()', () => scaleByAdam() as Tx],
  ['scaleByAdam({ biasCorrection: false })', () => scaleByAdam({ biasCorrection: false }) as Tx],
  ["rootFiltered(scaleByAdam(), 'abs')", () => rootFiltered(scaleByAdam({ b2: 0.99 })) as Tx],
  ["rootFiltered(scaleByAdam(), 'square')", () => rootFiltered(scaleByAdam(), { statistic: 'square' }) as Tx],
  ['chain(scaleByLionMoment(), scaleBySign())', () => chain(scaleByLionMoment(), scaleBySign()) as Tx],
  ['rootFiltered(chain(scaleByLionMoment(), scaleBySign()))', () => rootFiltered(chain(scaleByLionMoment(), scaleBySign())) as Tx],
  ['cautious(scaleByAdam())', () => cautious(scaleByAdam()) as Tx],
  ['scaleBySoftsign()', () => scaleBySoftsign() as Tx],
  [
    'partition(factored: rootFiltered(scaleByFactoredRms()), dense: scaleByAdam())',
    () =>
      partition(
        { factored: rootFiltered(scaleByFactoredRms({ decay: 0.8 }), { statistic: 'factored' }), dense: scaleByAdam() },
        (_name, p) => (p.rank >= 2 ? 'factored' : 'dense'),
      ) as Tx,
  ],
];

/**
 * A random chain assembled from every block with a fused form: an emotion source, a
 * direction, some of the modifiers in a random order, a learning rate (a number or a
 * schedule), maybe wrapped in the shadow system. The same `rand` state gives the same chain.
 */
export function randomChain(rand: () => number): NamedTransform {
  const tracked = rand() < 0.75;
  const fixed = Math.round((rand() * 1.6 - 0.8) * 100) / 100;
  const [directionName, direction] = pick(rand, DIRECTIONS);
  const modifiers: [string, () => Tx][] = [];
  if (rand() < 0.6) modifiers.push(['scaleByEmotionStep()', () => scaleByEmotionStep() as Tx]);
  if (rand() < 0.6) {
    const wd = Math.round(rand() * 10) / 100;
    modifiers.push([`addDecayedWeights(${wd})`, () => addDecayedWeights(wd) as Tx]);
  }
  if (rand() < 0.5) modifiers.reverse();
  const scheduled = rand() < 0.4;
  const lr = Math.round((0.001 + rand() * 0.02) * 1e4) / 1e4;
  const shadow = rand() < 0.35;
  const parts = [directionName, ...modifiers.map(([n]) => n), scheduled ? `scaleByLearningRate((t) => ${lr} / (1 + 0.1 t))` : `scaleByLearningRate(${lr})`];
  const stepName = `chain(${parts.join(', ')})`;
  const name = `chain(${tracked ? 'trackEmotion()' : `fixedEmotion(${fixed})`}, ${shadow ? `withShadow(${stepName})` : stepName})`;
  return {
    name,
    emotion: true,
    make: () => {
      const step = chain(
        direction(),
        ...modifiers.map(([, m]) => m()),
        (scheduled ? scaleByLearningRate((t: number) => lr / (1 + 0.1 * t)) : scaleByLearningRate(lr)) as Tx,
      ) as Tx;
      return chain(tracked ? trackEmotion() : fixedEmotion(fixed), shadow ? (withShadow(step) as Tx) : step) as Tx;
    },
  };
}
