import { chain, type GradientTransformation, type StateValue } from '@emosens/core';
import { trackEmotion } from '@emosens/emotion';
import {
  addDecayedWeights,
  cautious,
  clip,
  clipByGlobalNorm,
  cosineDecaySchedule,
  exponentialDecay,
  scaleByEmotionStep,
  scaleByLearningRate,
  scaleBySign,
  warmupCosineDecaySchedule,
  type Schedule,
} from '@emosens/modifiers';
import { rootFiltered, scaleByAdam, scaleByLionMoment, scaleByRms, trace } from '@emosens/moments';
import { TransformOptimizer } from '@emosens/tfjs';

/** The blocks the page's form offers. */
export interface ChainSpec {
  direction: 'adam' | 'rms' | 'lion' | 'momentum' | 'sign';
  /** trackEmotion() first and scaleByEmotionStep() after the direction: the step cools as the emotion rises. */
  emotion: boolean;
  /** The Emo cube-root filter around the direction (needs `emotion`). */
  rootFilter: boolean;
  /** Cautious masking around the direction. */
  cautious: boolean;
  /** Decoupled weight decay; 0 leaves the block out. */
  weightDecay: number;
  clipping: 'none' | 'globalNorm' | 'value';
  clipAt: number;
  schedule: 'constant' | 'cosine' | 'warmupCosine' | 'exponential';
  /** Learning rate (the schedule's peak) on the 2-D test functions. */
  lr: number;
  /** Learning rate (the schedule's peak) on MNIST. */
  mnistLr: number;
  /** Steps the schedule spans. */
  scheduleSteps: number;
}

export const DEFAULT_CHAIN: ChainSpec = {
  direction: 'adam',
  emotion: true,
  rootFilter: true,
  cautious: false,
  weightDecay: 0,
  clipping: 'globalNorm',
  clipAt: 10,
  schedule: 'cosine',
  lr: 0.05,
  mnistLr: 2e-3,
  scheduleSteps: 300,
};

export const DIRECTIONS: Readonly<Record<ChainSpec['direction'], string>> = {
  adam: 'scaleByAdam (Adam moments)',
  rms: 'scaleByRms (RMSprop)',
  lion: "scaleByLionMoment (Lion's moment)",
  momentum: 'trace (heavy-ball momentum)',
  sign: 'scaleBySign (signSGD)',
};

export const SCHEDULES: Readonly<Record<ChainSpec['schedule'], string>> = {
  constant: 'constant lr',
  cosine: 'cosineDecaySchedule',
  warmupCosine: 'warmupCosineDecaySchedule',
  exponential: 'exponentialDecay',
};

export const CLIPPINGS: Readonly<Record<ChainSpec['clipping'], string>> = {
  none: 'no clipping',
  globalNorm: 'clipByGlobalNorm',
  value: 'clip (per value)',
};

/** A built chain: the transform, the TypeScript that builds the same, and the learning rate it was built with. */
export interface BuiltChain {
  transform: GradientTransformation<StateValue>;
  code: string;
}

const num = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/**
 * Builds the chain the form describes, and the TypeScript a user would write for it
 * (one named member per block, in the order they run).
 */
export function buildChain(spec: ChainSpec, lr = spec.lr): BuiltChain {
  const members: Record<string, GradientTransformation<StateValue>> = {};
  const lines: string[] = [];
  const imports = {
    core: new Set(['chain']),
    emotion: new Set<string>(),
    modifiers: new Set(['scaleByLearningRate']),
    moments: new Set<string>(),
  };
  const add = (key: string, block: GradientTransformation<StateValue>, code: string): void => {
    members[key] = block;
    lines.push(`  ${key}: ${code},`);
  };

  if (spec.clipping === 'globalNorm') {
    imports.modifiers.add('clipByGlobalNorm');
    add('clip', clipByGlobalNorm(spec.clipAt), `clipByGlobalNorm(${num(spec.clipAt)})`);
  } else if (spec.clipping === 'value') {
    imports.modifiers.add('clip');
    add('clip', clip(spec.clipAt), `clip(${num(spec.clipAt)})`);
  }
  if (spec.emotion) {
    imports.emotion.add('trackEmotion');
    add('emotion', trackEmotion() as GradientTransformation<StateValue>, 'trackEmotion()');
  }

  let direction: GradientTransformation<StateValue>;
  let code: string;
  switch (spec.direction) {
    case 'adam':
      imports.moments.add('scaleByAdam');
      direction = scaleByAdam() as GradientTransformation<StateValue>;
      code = 'scaleByAdam()';
      break;
    case 'rms':
      imports.moments.add('scaleByRms');
      direction = scaleByRms() as GradientTransformation<StateValue>;
      code = 'scaleByRms()';
      break;
    case 'lion':
      imports.moments.add('scaleByLionMoment');
      direction = scaleByLionMoment() as GradientTransformation<StateValue>;
      code = 'scaleByLionMoment()';
      break;
    case 'momentum':
      imports.moments.add('trace');
      direction = trace({ decay: 0.9 }) as GradientTransformation<StateValue>;
      code = 'trace({ decay: 0.9 })';
      break;
    case 'sign':
      imports.modifiers.add('scaleBySign');
      direction = scaleBySign() as GradientTransformation<StateValue>;
      code = 'scaleBySign()';
      break;
  }
  if (spec.rootFilter && spec.emotion) {
    imports.moments.add('rootFiltered');
    direction = rootFiltered(direction);
    code = `rootFiltered(${code})`;
  }
  if (spec.cautious) {
    imports.modifiers.add('cautious');
    direction = cautious(direction);
    code = `cautious(${code})`;
  }
  add('direction', direction, code);

  if (spec.emotion) {
    imports.modifiers.add('scaleByEmotionStep');
    add('emotionStep', scaleByEmotionStep() as GradientTransformation<StateValue>, 'scaleByEmotionStep()');
  }
  if (spec.weightDecay > 0) {
    imports.modifiers.add('addDecayedWeights');
    add('decay', addDecayedWeights(spec.weightDecay) as GradientTransformation<StateValue>, `addDecayedWeights(${num(spec.weightDecay)})`);
  }

  const steps = Math.max(1, Math.round(spec.scheduleSteps));
  let schedule: Schedule | undefined;
  let scheduleCode = num(lr);
  switch (spec.schedule) {
    case 'constant':
      break;
    case 'cosine':
      imports.modifiers.add('cosineDecaySchedule');
      schedule = cosineDecaySchedule({ initValue: lr, decaySteps: steps, alpha: 0.05 });
      scheduleCode = `cosineDecaySchedule({ initValue: ${num(lr)}, decaySteps: ${steps}, alpha: 0.05 })`;
      break;
    case 'warmupCosine': {
      const warmup = Math.max(1, Math.round(steps / 10));
      imports.modifiers.add('warmupCosineDecaySchedule');
      schedule = warmupCosineDecaySchedule({ initValue: 0, peakValue: lr, warmupSteps: warmup, decaySteps: steps + warmup });
      scheduleCode = `warmupCosineDecaySchedule({ initValue: 0, peakValue: ${num(lr)}, warmupSteps: ${warmup}, decaySteps: ${steps + warmup} })`;
      break;
    }
    case 'exponential': {
      const every = Math.max(1, Math.round(steps / 10));
      imports.modifiers.add('exponentialDecay');
      schedule = exponentialDecay({ initValue: lr, transitionSteps: every, decayRate: 0.8 });
      scheduleCode = `exponentialDecay({ initValue: ${num(lr)}, transitionSteps: ${every}, decayRate: 0.8 })`;
      break;
    }
  }
  add(
    'lr',
    (schedule === undefined ? scaleByLearningRate(lr) : scaleByLearningRate(schedule)) as GradientTransformation<StateValue>,
    `scaleByLearningRate(${scheduleCode})`,
  );

  const importLine = (names: Set<string>, from: string): string[] =>
    names.size === 0 ? [] : [`import { ${[...names].sort().join(', ')} } from '${from}';`];
  const source = [
    ...importLine(imports.core, '@emosens/core'),
    ...importLine(imports.emotion, '@emosens/emotion'),
    ...importLine(imports.modifiers, '@emosens/modifiers'),
    ...importLine(imports.moments, '@emosens/moments'),
    "import { TransformOptimizer } from '@emosens/tfjs';",
    '',
    'const transform = chain({',
    ...lines,
    '});',
    '// A tf.Optimizer: optimizer.minimize(f), or model.compile({ optimizer, ... })',
    'const optimizer = new TransformOptimizer(transform);',
  ].join('\n');
  return { transform: chain(members) as GradientTransformation<StateValue>, code: source };
}

/** The custom chain as a tf.Optimizer. */
export function makeCustomOptimizer(spec: ChainSpec, lr = spec.lr): TransformOptimizer {
  return new TransformOptimizer(buildChain(spec, lr).transform);
}
