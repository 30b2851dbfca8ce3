// The adversarial suite (issue 12): what a careful but hostile user does to an optimizer
// (zero-size parameters, corrupt checkpoints, bad options, extreme values, disposed
// tensors), on the composed path and fused on cpu (the typed-array target), for each
// optimizer family where it matters. Each case refuses with a named error, or agrees
// between the paths, and never leaves a NaN behind silently. The cases that depend on the
// backend (zero-size parameters under the skip guard, a NaN loss, disposed tensors, 1e30
// gradients) also run on every fusion target through @emosens/conformance ('adversarial inputs').
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { EmosensError, flattenState, isTensor, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import * as transforms from '@emosens/optimizers';
import { registerCpuKernels } from '@emosens/backend-cpu';
import { TransformOptimizer, type NamedTensor } from '../src/index.js';

let unregister: (() => void) | undefined;
afterEach(() => {
  unregister?.();
  unregister = undefined;
});

const PATHS = ['composed', 'fused (cpu)'] as const;
type Path = (typeof PATHS)[number];

/** Registers the cpu fusion target for the fused path; returns the `fused` option. */
function onPath(path: Path): boolean {
  if (path === 'fused (cpu)') unregister = registerCpuKernels();
  return path !== 'composed';
}

const FAMILIES: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => transforms.emoSens({ lr: 1e-2 }) as unknown as GradientTransformation<StateValue>,
  emoAiry: () => transforms.emoAiry({ lr: 1e-2 }) as unknown as GradientTransformation<StateValue>,
  emoCats: () => transforms.emoCats({ lr: 1e-2 }) as unknown as GradientTransformation<StateValue>,
  adam: () => transforms.adam({ lr: 1e-2 }) as unknown as GradientTransformation<StateValue>,
  adamw: () => transforms.adamw({ lr: 1e-2 }) as unknown as GradientTransformation<StateValue>,
};

/** Whether any tensor leaf of a state holds NaN (one read per leaf). */
function stateHasNaN(state: unknown): string | undefined {
  for (const { path, value } of flattenState(state)) {
    if (isTensor(value) && Array.from(value.dataSync()).some((v) => Number.isNaN(v))) return path;
  }
  return undefined;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof EmosensError ? error.code : `not an EmosensError: ${String(error)}`;
  }
  return undefined;
}

async function asyncCodeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return error instanceof EmosensError ? error.code : `not an EmosensError: ${String(error)}`;
  }
  return undefined;
}

describe('item 1: zero-size parameters next to normal ones', () => {
  describe.each(PATHS)('%s', (path) => {
    it.each(Object.keys(FAMILIES))("%s trains under the 'skip' guard and leaves no NaN in the state", (family) => {
      const fused = onPath(path);
      const params = { w: tf.tensor2d([[0.5, -0.5, 1, 2], [1, 1, -1, 0]]), e: tf.zeros([0]), f: tf.zeros([0, 5]) };
      const opt = statefulOptimizer(FAMILIES[family]!(), params, { skipNonFinite: true, fused });
      const before = Array.from(opt.params.w!.dataSync());
      for (let i = 0; i < 3; i++) {
        const grads = { w: tf.fill([2, 4], 0.3 - i * 0.1), e: tf.zeros([0]), f: tf.zeros([0, 5]) };
        opt.step(grads, { loss: 1 - i * 0.1 });
        tf.dispose(Object.values(grads));
      }
      expect(opt.skippedSteps!.dataSync()[0]).toBe(0);
      expect(Array.from(opt.params.w!.dataSync())).not.toEqual(before);
      expect(stateHasNaN(opt.state)).toBeUndefined();
      opt.dispose();
      tf.dispose(Object.values(params));
    });
  });

  it("the tfjs adapter's default 'skip' trains a model with a zero-size variable", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const e = tf.variable(tf.zeros([0, 5]));
    const opt = new TransformOptimizer(transforms.adam({ lr: 0.1 }));
    opt.minimize(() => tf.add(tf.sum(tf.square(w)), tf.sum(e)) as tf.Scalar, false, [w, e]);
    expect(opt.readSkippedSteps()).toBe(0);
    expect(w.dataSync()[0]).toBeCloseTo(0.9, 5);
    opt.dispose();
    tf.dispose([w, e]);
  });
});

/** A TransformOptimizer that has taken two steps on w and b, with its weights. */
async function savedOptimizer(make: () => GradientTransformation<StateValue> = FAMILIES['emoSens']!) {
  const w = tf.variable(tf.tensor1d([1, 2, 3]));
  const b = tf.variable(tf.scalar(0.5));
  const loss = () => tf.add(tf.sum(tf.square(w)), tf.square(b)) as tf.Scalar;
  const opt = new TransformOptimizer(make());
  opt.minimize(loss);
  opt.minimize(loss);
  const weights = await opt.getWeights();
  const copy: NamedTensor[] = weights.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
  const release = () => {
    opt.dispose();
    tf.dispose([w, b, ...copy.map((x) => x.tensor)]);
  };
  return { w, b, opt, loss, weights: copy, release };
}

/** The weights with the entry `name` replaced by `tensor` (or removed, for `undefined`). */
function edit(weights: NamedTensor[], name: string, tensor: tf.Tensor | undefined): NamedTensor[] {
  const out = weights.filter((x) => x.name !== name);
  return tensor === undefined ? out : [...out, { name, tensor }];
}

/** Weights and state as numbers, to check that a refused restore changed nothing. */
async function snapshot(opt: TransformOptimizer, w: tf.Variable): Promise<unknown> {
  const weights = await opt.getWeights();
  return { w: Array.from(w.dataSync()), state: weights.map(({ name, tensor }) => [name, Array.from(tensor.dataSync())]) };
}

describe('items 2 and 7: a corrupt checkpoint is refused by setWeights, changing nothing', () => {
  const firstState = (weights: NamedTensor[]) => weights.find((x) => x.name.startsWith('emosens/state/') && x.tensor.dtype === 'float32' && x.tensor.size > 1)!;

  const CORRUPTIONS: Record<string, (weights: NamedTensor[]) => NamedTensor[]> = {
    'NaN in a state tensor': (weights) => {
      const leaf = firstState(weights);
      return edit(weights, leaf.name, tf.fill(leaf.tensor.shape, NaN));
    },
    'a missing state leaf': (weights) => edit(weights, firstState(weights).name, undefined),
    'an extra state leaf': (weights) => [...weights, { name: 'emosens/state/nothing/here', tensor: tf.zeros([3]) }],
    'a state leaf of the wrong shape': (weights) => edit(weights, firstState(weights).name, tf.zeros([7])),
    'iter: 3.5': (weights) => edit(weights, 'iter', tf.scalar(3.5)),
    'iter: -1': (weights) => edit(weights, 'iter', tf.scalar(-1, 'int32')),
  };

  it.each(Object.keys(CORRUPTIONS))('%s: INVALID_STATE at setWeights, weights and state unchanged', async (kind) => {
    const { w, opt, weights, release } = await savedOptimizer();
    const before = await snapshot(opt, w);
    expect(await asyncCodeOf(() => opt.setWeights(CORRUPTIONS[kind]!(weights)))).toBe('INVALID_STATE');
    expect(await snapshot(opt, w)).toEqual(before);
    release();
  });

  it('a fresh optimizer refuses the same checkpoints before it knows its variables', async () => {
    const { weights, release } = await savedOptimizer();
    for (const [kind, corrupt] of Object.entries(CORRUPTIONS)) {
      const fresh = new TransformOptimizer(FAMILIES['emoSens']!());
      expect(await asyncCodeOf(() => fresh.setWeights(corrupt(weights))), kind).toBe('INVALID_STATE');
      fresh.dispose();
    }
    release();
  });

  it('accepts an intact checkpoint, and Infinity where a state leaf may hold it', async () => {
    const { weights, release } = await savedOptimizer();
    const fresh = new TransformOptimizer(FAMILIES['emoSens']!());
    await fresh.setWeights(weights);
    const leaf = firstState(weights);
    await fresh.setWeights(edit(weights, leaf.name, tf.fill(leaf.tensor.shape, Infinity)));
    fresh.dispose();
    release();
  });

  it('StatefulOptimizer.setState refuses a state of the wrong layout (INVALID_STATE), keeping its own', () => {
    const opt = statefulOptimizer(transforms.adam(), { w: tf.zeros([3]) });
    const bad = transforms.adam().init({ w: tf.zeros([4]) });
    expect(codeOf(() => opt.setState(bad))).toBe('INVALID_STATE');
    const other = transforms.adam().init({ v: tf.zeros([3]) });
    expect(codeOf(() => opt.setState(other))).toBe('INVALID_STATE');
    expect(stateHasNaN(opt.state)).toBeUndefined();
    opt.dispose();
  });
});

describe('item 3: eps <= 0 is refused where a step divides by sqrt(v) + eps', () => {
  const FACTORIES: Record<string, (eps: number) => unknown> = {
    emoSens: (eps) => transforms.emoSens({ eps }),
    emoAiry: (eps) => transforms.emoAiry({ eps }),
    emoCats: (eps) => transforms.emoCats({ eps }),
    adam: (eps) => transforms.adam({ eps }),
    adamw: (eps) => transforms.adamw({ eps }),
  };
  it.each(Object.keys(FACTORIES))("%s({ eps: 0 }) throws INVALID_OPTION naming 'eps'", (name) => {
    expect(codeOf(() => FACTORIES[name]!(0))).toBe('INVALID_OPTION');
    expect(() => FACTORIES[name]!(0)).toThrow(/'eps'/);
    expect(codeOf(() => FACTORIES[name]!(1e-12))).toBeUndefined();
  });
});

describe('item 4: a huge finite gradient moves the weights the same on both paths', () => {
  it.each(Object.keys(FAMILIES))('%s with a gradient of 1e30', (family) => {
    const run = (path: Path) => {
      const fused = onPath(path);
      const opt = statefulOptimizer(FAMILIES[family]!(), { w: tf.tensor1d([1, -1, 0.5, 2]) }, { fused });
      for (let i = 0; i < 3; i++) {
        const g = tf.tensor1d(i === 1 ? [1e30, -1e30, 1e30, 0.1] : [0.1, -0.2, 0.3, 0.1]);
        opt.step({ w: g }, { loss: 1 - i * 0.1 });
        g.dispose();
      }
      const out = Array.from(opt.params.w!.dataSync());
      expect(opt.path).toBe(path === 'composed' ? 'composed' : 'fused');
      opt.dispose();
      unregister?.();
      unregister = undefined;
      return out;
    };
    const composed = run('composed');
    const fused = run('fused (cpu)');
    fused.forEach((v, i) => {
      if (Number.isNaN(composed[i]!)) expect(v).toBeNaN();
      else expect(v).toBeCloseTo(composed[i]!, 5);
    });
  });
});

describe("item 5: a NaN loss with the 'apply' policy gives the same weights on both paths", () => {
  it.each(Object.keys(FAMILIES))('%s', (family) => {
    const run = (path: Path) => {
      const fused = onPath(path);
      const opt = statefulOptimizer(FAMILIES[family]!(), { w: tf.tensor1d([1, -1, 0.5]) }, { fused });
      for (let i = 0; i < 3; i++) {
        const g = tf.tensor1d([0.1, -0.2, 0.3]);
        opt.step({ w: g }, { loss: i === 1 ? NaN : 1 - i * 0.1 });
        g.dispose();
      }
      const out = Array.from(opt.params.w!.dataSync());
      opt.dispose();
      unregister?.();
      unregister = undefined;
      return out;
    };
    const composed = run('composed');
    const fused = run('fused (cpu)');
    fused.forEach((v, i) => {
      if (Number.isNaN(composed[i]!)) expect(v).toBeNaN();
      else expect(v).toBeCloseTo(composed[i]!, 5);
    });
  });
});

describe('item 8: disposed tensors and disposed optimizers give a named error', () => {
  describe.each(PATHS)('%s', (path) => {
    it('a disposed gradient: DISPOSED, nothing changed', () => {
      const fused = onPath(path);
      const opt = statefulOptimizer(transforms.adam(), { w: tf.tensor1d([1, 2]) }, { fused });
      const g = tf.tensor1d([1, 1]);
      g.dispose();
      expect(codeOf(() => opt.step({ w: g }))).toBe('DISPOSED');
      expect(Array.from(opt.params.w!.dataSync())).toEqual([1, 2]);
      opt.dispose();
    });

    it('a disposed parameter', () => {
      const fused = onPath(path);
      const w = tf.variable(tf.tensor1d([1, 2]));
      const opt = statefulOptimizer(transforms.adam(), { w }, { fused });
      w.dispose();
      const g = tf.tensor1d([1, 1]);
      expect(codeOf(() => opt.step({ w: g }))).toBe('DISPOSED');
      g.dispose();
      opt.dispose();
    });

    it('step() after dispose()', () => {
      const fused = onPath(path);
      const opt = statefulOptimizer(transforms.adam(), { w: tf.tensor1d([1, 2]) }, { fused });
      opt.dispose();
      const g = tf.tensor1d([1, 1]);
      expect(codeOf(() => opt.step({ w: g }))).toBe('DISPOSED');
      g.dispose();
    });
  });

  it("the tfjs adapter's minimize after dispose() throws instead of restarting", () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const opt = new TransformOptimizer(transforms.adam());
    const loss = () => tf.sum(tf.square(w)) as tf.Scalar;
    opt.minimize(loss);
    opt.dispose();
    const before = Array.from(w.dataSync());
    expect(codeOf(() => opt.minimize(loss))).toBe('DISPOSED');
    expect(Array.from(w.dataSync())).toEqual(before);
    w.dispose();
  });
});
