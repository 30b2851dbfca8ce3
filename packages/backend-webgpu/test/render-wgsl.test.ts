import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeState, traceStep, type GradientTransformation, type StateValue, type TracedStep } from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { addDecayedWeights, cautious, scaleByLearningRate } from '@emosens/modifiers';
import { scaleByAdam } from '@emosens/moments';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderWgsl, type LossKind, type WgslPlan } from '../src/index.js';
import { elementType } from '../src/target/render-wgsl.js';
import { webgpu } from './webgpu.js';

type Tx = GradientTransformation<StateValue>;

const CHAINS: Record<string, () => Tx> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens shadow': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01 }),
  'emoAiry shadow': () => emoAiry({ lr: 0.01, useShadow: true }),
  emoCats: () => emoCats({ lr: 0.001 }),
  'emoCats shadow decoupled': () => emoCats({ lr: 0.001, useShadow: true, decoupledWeightDecay: true }),
  adam: () => adam({ lr: 0.01 }),
  adamw: () => adamw({ lr: 0.01 }),
  'adam + decay + lr': () => chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-2)) as Tx,
  'cautious adam + schedule': () => chain(cautious(scaleByAdam()), scaleByLearningRate((t: number) => 1e-2 / (1 + t))) as Tx,
  'fixed emotion': () => chain(fixedEmotion(0.25), scaleByAdam(), scaleByLearningRate(1e-2)) as Tx,
};

const SHAPES: Record<string, number[]> = { w: [5, 3], b: [3], k: [2, 3, 2], s: [] };

/** Traces one step of `make()` on the cpu backend (tracing runs nothing). */
function trace(make: () => Tx, loss: number | tf.Scalar | undefined = 1.5): { step: TracedStep; dispose(): void } {
  const params = Object.fromEntries(Object.entries(SHAPES).map(([n, s]) => [n, tf.variable(tf.ones(s))]));
  const grads = Object.fromEntries(Object.entries(SHAPES).map(([n, s]) => [n, tf.fill(s, 0.5)]));
  const tx = make();
  const state = tx.init(params);
  const traced = traceStep(tx, params, state, grads, loss);
  if ('decline' in traced) throw new Error(traced.decline);
  return {
    step: traced.step,
    dispose: () => {
      disposeState(state);
      tf.dispose([...Object.values(params), ...Object.values(grads)]);
    },
  };
}

function plansOf(make: () => Tx): WgslPlan[] {
  const { step, dispose } = trace(make);
  const plans: WgslPlan[] = [];
  for (const guarded of [false, true]) for (const loss of ['tensor', 'number', 'none'] as LossKind[]) plans.push(renderWgsl(step, { guarded, loss }));
  dispose();
  return plans;
}

describe('the WGSL renderer (no device needed)', () => {
  it('depends only on structure: two learning rates give the same sources, the constants travel as uniforms', () => {
    const a = trace(() => emoSens({ lr: 0.01 }));
    const b = trace(() => emoSens({ lr: 0.0123 }));
    const pa = renderWgsl(a.step, { guarded: false, loss: 'number' });
    const pb = renderWgsl(b.step, { guarded: false, loss: 'number' });
    expect(pb.programs.map((p) => p.shaderKey)).toEqual(pa.programs.map((p) => p.shaderKey));
    for (const p of pa.programs) {
      expect(p.shaderKey).toBe(p.source);
      expect(p.source).not.toMatch(/0\.01\b|0\.0123|-0\.01/);
    }
    const constants = pa.uniforms.filter((u) => u.kind === 'const').map((u) => (a.step.graph.node((u as { node: number }).node) as { value: number }).value);
    expect(constants).toContain(-0.01);
    a.dispose();
    b.dispose();
  });

  it('splits a step into the schedule\'s programs: one for the values that are not per element, one per parameter, one for the writes', () => {
    const labels = (make: () => Tx, guarded = false) => {
      const { step, dispose } = trace(make);
      const plan = renderWgsl(step, { guarded, loss: 'number' });
      dispose();
      return plan.programs.map((p) => p.label);
    };
    // four elements per invocation, the rest (w: 15 = 3 * 4 + 3) one by one; b has fewer than 4
    const elems = ['elem w', 'elem w tail', 'elem b', 'elem k', 'elem s'];
    expect(labels(() => emoSens())).toEqual(['scalar', ...elems, 'writes']);
    expect(labels(() => emoSens(), true)).toEqual(['check 0', 'scalar', ...elems, 'writes']);
    // EmoAiry's matrices: row and column sums of g^2, then their rows/columns, then the update
    expect(labels(() => emoAiry())).toEqual([
      'scalar',
      'rowSum w (sweep 0)',
      'colSum w (sweep 0)',
      'elem b',
      'rowSum k (sweep 0)',
      'colSum k (sweep 0)',
      'elem s',
      'rows/cols w (sweeps 0-1)',
      'elem w',
      'rows/cols k (sweeps 0-1)',
      'elem k',
      'writes',
    ]);
    // cautious: a sum over each parameter's elements (one workgroup), the scale from it, then the update
    expect(labels(() => chain(cautious(scaleByAdam()), scaleByLearningRate(1e-2)) as Tx)).toEqual([
      'scalar',
      'sum w (sweep 0)',
      'sum b (sweep 0)',
      'sum k (sweep 0)',
      'sum s (sweep 0)',
      'scalar',
      ...elems,
      'writes',
    ]);
  });

  it('renders a pass four lanes wide (vec4) where the lanes share a row, and one element per invocation otherwise', () => {
    const { step, dispose } = trace(() => emoAiry());
    const plan = renderWgsl(step, { guarded: false, loss: 'number' });
    const source = (label: string) => plan.programs.find((p) => p.label === label)!.source;
    // w [5, 3] and k [2, 3, 2]: rows of 3 and 6 columns, so one element per invocation
    expect(source('elem w')).toMatch(/var<storage, read_write> P: array<f32>;/);
    expect(source('elem k')).toMatch(/var<storage, read_write> P: array<f32>;/);
    dispose();
    // a [3, 8] matrix: two invocations per row, the per-column values four at a time
    const w = tf.variable(tf.ones([3, 8]));
    const g = tf.ones([3, 8]);
    const tx = emoAiry();
    const state = tx.init({ w });
    const wide = traceStep(tx, { w }, state, { w: g }, 1);
    if ('decline' in wide) throw new Error(wide.decline);
    const elem = renderWgsl(wide.step, { guarded: false, loss: 'number' }).programs.find((p) => p.label === 'elem w')!;
    expect(elem.source).toMatch(/var<storage, read_write> P: array<vec4<f32>>;/);
    expect(elem.source).toMatch(/let i = x \* 4u \/ 8u;/);
    expect(elem.source).toMatch(/vec4<f32>\(bitcast<f32>\(S\[\d+u \+ j\]\), bitcast<f32>\(S\[\d+u \+ j \+ 1u\]\)/);
    expect(elem.invocations).toBe(6);
    disposeState(state);
    tf.dispose([w, g]);
  });

  it("turns the root filter's pow(|g|, 1/3) >= t into one cutoff per step: no pow per element", () => {
    const { step, dispose } = trace(() => emoSens());
    const plan = renderWgsl(step, { guarded: false, loss: 'number' });
    expect(plan.programs[0]!.source).toMatch(/emosensPowCutoff\(/);
    for (const p of plan.programs.filter((q) => q.label.startsWith('elem'))) expect(p.source, p.label).not.toMatch(/pow/i);
    dispose();
  });

  it('checks at most 7 gradients per program (8 storage bindings with the scratch buffer)', () => {
    const { step, dispose } = trace(() => adamw());
    const plan = renderWgsl(step, { guarded: true, loss: 'tensor' });
    expect(plan.programs[0]!.bindings.map((b) => b.name)).toEqual(['S', 'I0', 'I1', 'I2', 'I3']);
    expect(plan.programs[0]!.source).toMatch(/nonFinite\(S\[1u\]\)/); // the loss, copied to word 1
    dispose();
  });

  for (const [name, make] of Object.entries(CHAINS)) {
    it(`${name}: no program binds more than 8 storage buffers, and each declares the uniform block exactly when it reads it`, () => {
      for (const plan of plansOf(make)) {
        expect(plan.maxStorageBindings).toBeLessThanOrEqual(8);
        for (const p of plan.programs) {
          expect(p.usesUniforms, p.label).toBe(/\bU\.v\[/.test(p.source));
          expect(p.bindings.length, p.label).toBeLessThanOrEqual(8);
          // every storage binding is declared once, in order
          p.bindings.forEach((b, k) => expect(p.source).toContain(`@binding(${k + 1}) var<storage, ${b.access}> ${b.name}: array<${elementType(b)}>;`));
        }
      }
    });
  }
});

describe.skipIf(!webgpu.ok)('the rendered programs on the device', () => {
  beforeAll(async () => {
    await tf.setBackend('webgpu');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('every program of every chain compiles and builds a pipeline without validation errors', async () => {
    const { device } = tf.backend() as unknown as { device: GPUDevice };
    await tf.setBackend('cpu'); // trace on cpu; compile on the webgpu device
    try {
      const sources = new Map<string, string>();
      for (const [name, make] of Object.entries(CHAINS)) for (const plan of plansOf(make)) for (const p of plan.programs) sources.set(p.source, `${name}: ${p.label}`);
      for (const [source, label] of sources) {
        device.pushErrorScope('validation');
        const module = device.createShaderModule({ code: source });
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
        expect(errors, `${label}\n${source}`).toEqual([]);
        const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
        pipeline.getBindGroupLayout(0);
        const error = await device.popErrorScope();
        expect(error?.message, label).toBeUndefined();
      }
    } finally {
      await tf.setBackend('webgpu');
    }
  });
});
