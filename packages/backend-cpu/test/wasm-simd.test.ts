import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, scheduleStep, statefulOptimizer, traceStep, type GradientTransformation, type StateValue } from '@emosens/core';
import { adaptiveGradClip, cautious, scaleByLearningRate } from '@emosens/modifiers';
import { scaleByAdam } from '@emosens/moments';
import { adafactor, adamw, emoCats, emoSens, lamb } from '@emosens/optimizers';
import { bits, randomGradValues, randomValues, seeded } from '@emosens/conformance';
import { registerWasmKernels, renderJs } from '../src/index.js';
import { WasmPasses } from '../src/target/render-wasm.js';

let ready: string | undefined;
beforeAll(async () => {
  await import('@tensorflow/tfjs-backend-wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  ready = (await tf.setBackend('wasm')) ? undefined : "tf.setBackend('wasm') failed";
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

const chains: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ lr: 1e-2, useShadow: true }),
  emoCats: () => emoCats({ lr: 1e-3 }),
  adamw: () => adamw({ lr: 1e-2 }),
  'cautious(scaleByAdam())': () => chain(cautious(scaleByAdam()), scaleByLearningRate(1e-2)) as unknown as GradientTransformation<StateValue>,
  'adafactor (factored, momentum)': () => adafactor({ lr: 0.05, minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 0.01 }),
  lamb: () => lamb({ lr: 1e-2, weightDecay: 0.01 }),
  'chain(adaptiveGradClip, scaleByAdam())': () => chain(adaptiveGradClip({ clipping: 0.05 }), scaleByAdam(), scaleByLearningRate(1e-2)) as unknown as GradientTransformation<StateValue>,
};

describe('WebAssembly SIMD element passes on the wasm backend', () => {
  it('an element pass becomes a call into a compiled SIMD function (the rest of the elements stay in JavaScript)', (ctx) => {
    if (ready) ctx.skip(ready);
    const tx = emoSens();
    const params = { w: tf.variable(tf.ones([7, 3])) };
    const traced = traceStep(tx, params, tx.init(params), { w: tf.ones([7, 3]) }, 1);
    if (!('step' in traced)) throw new Error(traced.decline);
    const wasm = new WasmPasses();
    const source = renderJs(traced.step, 'fast', scheduleStep(traced.step), { wasm });
    expect(wasm.size).toBe(1);
    expect(source).toMatch(/K\[0\]\(80, /); // 20 of the 21 elements, 4 bytes each
    expect(source).toMatch(/for \(let x = 20; x < 21; x\+\+\)/);
  });

  it('a parameter used by a matrix product sees its new values after every fused step (tfjs-wasm caches packed weights by storage)', (ctx) => {
    if (ready) ctx.skip(ready);
    const unregister = registerWasmKernels();
    const w = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25], [1, 1]]));
    const x = tf.tensor2d([[1, 2, 3], [-1, 0.5, 2]]);
    const opt = statefulOptimizer(emoSens({ lr: 0.1 }), { w });
    try {
      for (let t = 0; t < 4; t++) {
        const y = tf.matMul(x, w); // caches an operator with w packed
        const expected = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(x, 2), tf.expandDims(w, 0)), 1)); // the same product without the cache
        expect(Array.from(y.dataSync())).toEqual(Array.from(expected.dataSync()).map((v) => expect.closeTo(v, 5)));
        tf.dispose([y, expected]);
        const g = tf.tensor2d([[1, -2], [0.5, 1], [-1, 3]]);
        opt.step({ w: g }, { loss: 2 - 0.3 * t });
        expect(opt.path).toBe('fused');
        g.dispose();
      }
    } finally {
      opt.dispose();
      tf.dispose([w, x]);
      unregister();
    }
  });

  for (const [name, make] of Object.entries(chains)) {
    it(`${name}: SIMD steps equal the 'exact' JavaScript steps bit for bit (sizes that leave a remainder)`, (ctx) => {
      if (ready) ctx.skip(ready);
      const rand = seeded(11);
      const shapes = [[5, 7], [9], [], [4]];
      const init: Record<string, tf.Tensor> = {};
      shapes.forEach((s, i) => (init[`p${i}`] = tf.tensor(randomValues(rand, tf.util.sizeFromShape(s)), s)));
      const run = (simd: boolean) => {
        const unregister = registerWasmKernels({ simd, precision: 'exact' });
        const opt = statefulOptimizer(make(), init);
        const r = seeded(5);
        for (let t = 0; t < 12; t++) {
          const grads: Record<string, tf.Tensor> = {};
          shapes.forEach((s, i) => (grads[`p${i}`] = tf.tensor(randomGradValues(r, tf.util.sizeFromShape(s)), s)));
          opt.step(grads, { loss: 2 - 0.1 * t + (t === 6 ? 3 : 0) });
          tf.dispose(Object.values(grads));
        }
        expect(opt.path).toBe('fused');
        const out = Object.values(opt.params).map((p) => bits(p.dataSync()));
        opt.dispose();
        unregister();
        return out;
      };
      expect(run(true)).toEqual(run(false));
      tf.dispose(Object.values(init));
    });
  }
});
