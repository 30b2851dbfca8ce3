import * as tf from '@tensorflow/tfjs-core';
import { chain, createStepContext, identity, runTransform, stateless, type GradientTransformation, type StateValue } from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { describe, expect, it } from 'vitest';
import {
  rootFiltered,
  scaleByAdam,
  scaleByFactoredRms,
  scaleByLionMoment,
} from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

function once<S extends StateValue>(t: GradientTransformation<S>, params: Record<string, tf.Tensor>, grads: Record<string, tf.Tensor>) {
  return t.update(grads, t.init(params), params, createStepContext(1));
}

describe('scaleByAdam', () => {
  const p = { x: tf.zeros([1]) };
  const g = { x: tf.tensor([2]) };
  it('with bias correction, the first step is g / (|g| + eps) = 1', () => {
    // m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004; m^ = 0.2 / 0.1 = 2, sqrt(v)/sqrt(0.001) = 2  ->  2 / (2 + 1e-8)
    const r = once(scaleByAdam(), p, g);
    expect(v(r.updates.x)[0]).toBeCloseTo(1, 6);
    expect(v(r.state.mu.x)[0]).toBeCloseTo(0.2, 7);
    expect(v(r.state.nu.x)[0]).toBeCloseTo(0.004, 8);
    expect(v(r.state.count)).toEqual([1]);
  });
  it('without bias correction (the Emo optimizers): m / (sqrt(v) + eps)', () => {
    // 0.2 / (sqrt(0.004) + 1e-8) = 0.2 / 0.0632456 = 3.162277
    const r = once(scaleByAdam({ biasCorrection: false }), p, g);
    expect(v(r.updates.x)[0]).toBeCloseTo(3.162277, 4);
  });
  it('second step by hand (bias corrected)', () => {
    // g1 = 2, g2 = -1: m2 = 0.9*0.2 + 0.1*(-1) = 0.08; v2 = 0.999*0.004 + 0.001*1 = 0.004996
    // m^ = 0.08 / (1 - 0.81) = 0.421053; sqrt(v2)/sqrt(1 - 0.998001) = 0.0706824 / 0.0447102 = 1.580903
    const t = scaleByAdam();
    const s1 = t.update(g, t.init(p), p, createStepContext()).state;
    const r = t.update({ x: tf.tensor([-1]) }, s1, p, createStepContext());
    expect(v(r.updates.x)[0]).toBeCloseTo(0.421053 / 1.580903, 4);
  });
  it('validates options, naming them', () => {
    expect(() => scaleByAdam({ b1: 1 })).toThrowError(/'b1' must be in \[0, 1\)/);
    expect(() => scaleByAdam({ eps: -1 })).toThrowError(/'eps'/);
  });
});

describe('scaleByFactoredRms', () => {
  it('one step on a 2x2 matrix by hand', () => {
    // g = [[1, 2], [3, 4]], g^2 = [[1, 4], [9, 16]]
    // r = row means = [2.5, 12.5], c = column means = [5, 10]   (+ eps 1e-8)
    // R = 0.1 * sqrt(r) = [0.158114, 0.353553], C = 0.1 * sqrt(c) = [0.223607, 0.316228]
    // u_ij = g_ij / (sqrt(R_i * C_j) + eps): u_00 = 1 / sqrt(0.158114 * 0.223607) = 5.318296
    const p = { w: tf.zeros([2, 2]) };
    const r = once(scaleByFactoredRms(), p, { w: tf.tensor([[1, 2], [3, 4]]) });
    const R = [0.158114, 0.353553];
    const C = [0.223607, 0.316228];
    const expected = [1, 2, 3, 4].map((g, k) => g / Math.sqrt(R[Math.floor(k / 2)]! * C[k % 2]!));
    v(r.updates.w).forEach((x, k) => expect(x).toBeCloseTo(expected[k]!, 3));
    expect(v(r.state.w!.row)).toEqual(R.map((x) => expect.closeTo(x, 5)));
    expect(r.state.w!.col.shape).toEqual([2]);
  });
  it('keeps d0 + d1*...*dn numbers for a rank-3 tensor', () => {
    const p = { k: tf.zeros([3, 2, 4]) };
    const s = scaleByFactoredRms().init(p);
    expect(s.k!.row.shape).toEqual([3]);
    expect(s.k!.col.shape).toEqual([2, 4]);
    // g = 1 everywhere: r = c = 1 + eps, so the moments after one step are (1 - 0.9) * sqrt(1 + eps)
    const r = once(scaleByFactoredRms(), p, { k: tf.ones([3, 2, 4]) });
    expect(v(r.state.k!.row)).toEqual([0.1, 0.1, 0.1].map((x) => expect.closeTo(x, 6)));
    expect(r.state.k!.col.shape).toEqual([2, 4]);
  });
  it('refuses vectors, naming the parameter', () => {
    expect(() => scaleByFactoredRms().init({ b: tf.zeros([3]) })).toThrowError(/parameter 'b' has rank 1/);
  });
});

describe('scaleByLionMoment', () => {
  it('direction (1-b1) g + b1 m, then m = b2 m + (1-b2) g', () => {
    // m0 = 0, g = [1, -2]: u = 0.1 * g = [0.1, -0.2]; m = 0.01 * g = [0.01, -0.02]
    const r = once(scaleByLionMoment(), { x: tf.zeros([2]) }, { x: tf.tensor([1, -2]) });
    expect(v(r.updates.x)).toEqual([expect.closeTo(0.1, 6), expect.closeTo(-0.2, 6)]);
    expect(v(r.state.x)).toEqual([expect.closeTo(0.01, 7), expect.closeTo(-0.02, 7)]);
  });
});

describe('root filter (the emotion filter)', () => {
  // |g|^(1/3): 1e-14 -> 2.15e-5, 3e-12 -> 1.44e-4, 1e-6 -> 1e-2, 0.5 -> 0.79
  const g = tf.tensor([1e-14, 3e-12, 1e-6, 0.5]);
  /** Which entries of `grad` the filter keeps at emotion `s` (the inner block passes updates through). */
  const kept = (grad: tf.Tensor, s: number, options: Parameters<typeof rootFiltered>[1] = {}) => {
    const p = { x: tf.zerosLike(grad) };
    const t = chain(fixedEmotion(s), rootFiltered(identity(), options));
    const r = t.update({ x: grad }, t.init(p), p, createStepContext());
    return v(r.updates.x).map((u) => (u !== 0 ? 1 : 0));
  };
  it('threshold = 1e-4 * (1 + |s|)', () => {
    // |g|^(1/3) = 1.2e-4: above 1e-4 (s = 0), below 1.5e-4 (s = -0.5)
    const edge = tf.tensor([1.2e-4 ** 3]);
    expect(kept(edge, 0)).toEqual([1]);
    expect(kept(edge, -0.5)).toEqual([0]);
  });
  it("'abs': keeps |g|^(1/3) >= threshold; a large |s| masks more", () => {
    expect(kept(g, 0)).toEqual([0, 1, 1, 1]);
    expect(kept(g, 0.9)).toEqual([0, 0, 1, 1]);
  });
  it("'square': (g^2)^(1/3) > threshold, strict", () => {
    // (g^2)^(1/3) = |g|^(2/3): 3e-12 -> 2.1e-8 (masked), 1e-5 -> 4.6e-4 (kept)
    expect(kept(tf.tensor([3e-12, 1e-5]), 0, { statistic: 'square' })).toEqual([0, 1]);
  });
  it("'factored': an entry passes when its row and its column both pass", () => {
    // g = [[1, 1], [1e-14, 1e-14]] with eps 0: r = [1, 1e-28] -> row 1 fails; c = [0.5, 0.5] -> both pass
    const g2 = tf.tensor([[1, 1], [1e-14, 1e-14]]);
    expect(kept(g2, 0, { statistic: 'factored', eps: 0 })).toEqual([1, 1, 0, 0]);
    // With the reference's eps 1e-8 added to r and c, every root is at least (1e-8)^(1/3) = 2.2e-3,
    // above any threshold (at most 2e-4): the factored mask of EmoAiry keeps every entry.
    expect(kept(g2, 0.99, { statistic: 'factored' })).toEqual([1, 1, 1, 1]);
    expect(() => kept(g, 0, { statistic: 'factored' })).toThrowError(/'factored' statistic needs rank >= 2, got rank 1 for 'x'/);
  });
  it('wraps a block without a fused form too (its tensors, the same mask)', () => {
    const double = stateless('double', (u) => tf.mul(u, 2)); // composed only
    const p = { x: tf.zeros([4]) };
    const t = chain(fixedEmotion(0), rootFiltered(double));
    expect(t.fusion).toEqual({ blocked: "block 'double' has no fused form (stateless() was given no fused function)" });
    const r = t.update({ x: g }, t.init(p), p, createStepContext());
    expect(v(r.updates.x)).toEqual([0, 6e-12, 2e-6, 1].map((x) => expect.closeTo(x, 12)));
  });
  it('masks the inner output, from the incoming gradient, and keeps the inner state whole', () => {
    const p = { x: tf.zeros([4]) };
    const t = chain(fixedEmotion(0), rootFiltered(scaleByAdam({ biasCorrection: false })));
    const r = t.update({ x: g }, t.init(p), p, createStepContext());
    const u = v(r.updates.x);
    expect(u[0]).toBe(0);
    expect(u[3]).toBeCloseTo(3.162277, 4);
    // the moment still saw the masked entry: m = 0.1 * 1e-14
    expect(v(r.state[1].mu.x)[0]).toBeCloseTo(1e-15, 20);
  });
  it('needs the emotion signal, naming itself', () => {
    const p = { x: tf.zeros([4]) };
    const t = rootFiltered(scaleByAdam());
    expect(() => t.update({ x: g }, t.init(p), p, createStepContext())).toThrowError(/reads signal 'emotion'.*rootFiltered\(scaleByAdam\)/);
  });
  it('validates options', () => {
    expect(() => rootFiltered(scaleByAdam(), { statistic: 'cube' as never })).toThrowError(/'statistic' must be/);
    expect(() => rootFiltered(scaleByAdam(), { root: 0 })).toThrowError(/'root'/);
  });
});

describe("scaleByFactoredRms({ average: 'square' }) (EmoAiry v3.9)", () => {
  it('averages mean(g^2) per row and column (no root, no eps inside), and divides by sqrt(R C) + eps', () => {
    const g = [
      [1, 2],
      [3, -4],
    ];
    const decay = 0.5;
    const eps = 1e-3;
    const tx = scaleByFactoredRms({ decay, eps, average: 'square' });
    const p = { w: tf.zeros([2, 2]) };
    const state = tx.init(p);
    const grads = { w: tf.tensor(g) };
    const r = runTransform(tx as never, p, state as never, grads);
    const rows = g.map((row) => (1 - decay) * (row[0]! ** 2 + row[1]! ** 2) / 2);
    const cols = [0, 1].map((j) => (1 - decay) * (g[0]![j]! ** 2 + g[1]![j]! ** 2) / 2);
    const expected = g.flatMap((row, i) => row.map((x, j) => x / (Math.sqrt(rows[i]! * cols[j]!) + eps)));
    Array.from(r.updates.w!.dataSync()).forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 5));
    expect(() => scaleByFactoredRms({ average: 'mean' as never })).toThrowError(/option 'average' must be 'root' or 'square'/);
    tf.dispose([p.w, grads.w, ...Object.values(r.updates)]);
  });
});
