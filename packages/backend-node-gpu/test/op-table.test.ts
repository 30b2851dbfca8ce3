import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BINARY, DeviceValue, foldIdentity, UNARY, type Operands, type Value } from '../src/target/op-table.js';
import { BACKENDS, useTfOpsTarget } from './helpers.js';

// The op table folds values on the host (float32) that the device would compute: a folded
// constant must be the value the tf op gives, bit for bit (ulps apart only where a backend's
// transcendental functions are its own, e.g. wasm's `exp`).

/**
 * Where tfjs-wasm follows C rather than JavaScript (and the graph's own rules, those of
 * JavaScript's Math): `fmin`/`fmax` drop a NaN operand and may return either zero of
 * `min(-0, 0)`; `powf(±1, ±Infinity)` is 1. A folded constant never meets these in
 * practice; they are not compared on wasm.
 */
function cOwnRule(op: string, x: number, y: number): boolean {
  if (op === 'min' || op === 'max') return Number.isNaN(x) || Number.isNaN(y) || (x === 0 && y === 0);
  return op === 'pow' && Math.abs(x) === 1 && !Number.isFinite(y);
}

const SAMPLES = [0, -0, 1, -1, 0.5, -2.75, 3e-12, -1e-14, 1e30, -1e-38, Infinity, -Infinity, NaN].map(Math.fround);
const OWN_MATH = new Set(['exp', 'expm1', 'log', 'tanh', 'pow']);

const operands: Operands = {
  float: (v) => (typeof v === 'number' ? tf.scalar(v) : v.float()),
  bool: (v) => (typeof v === 'number' ? tf.scalar(v !== 0, 'bool') : v.bool()),
};

/** The device's results for `op` over `xs` (and `ys`), as float32 numbers. */
function onDevice(device: (o: Operands, ...args: Value[]) => DeviceValue, xs: number[], ys?: number[]): Float32Array {
  return tf.tidy(() => {
    const args = [xs, ...(ys ? [ys] : [])].map((v) => DeviceValue.float(tf.tensor1d(v)));
    return device(operands, ...args).float().dataSync() as Float32Array;
  });
}

const sameBits = (a: number, b: number) => Object.is(a, b);
const ulps = (a: number, b: number) => {
  if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(a) || !Number.isFinite(b)) return Object.is(a, b) ? 0 : Infinity;
  const [x, y] = [new Float32Array([a, b]), new Int32Array(2)];
  y.set(new Int32Array(x.buffer));
  return Math.abs(y[0]! - y[1]!);
};

describe.each(BACKENDS)('the op table on the %s backend', (backend) => {
  useTfOpsTarget(backend);

  for (const [op, rule] of Object.entries(UNARY)) {
    it(`${op}: the host fold is the device's value`, () => {
      const device = onDevice(rule.device as never, SAMPLES);
      SAMPLES.forEach((x, i) => {
        const [h, d] = [rule.host(x), device[i]!];
        if (backend === 'wasm' && OWN_MATH.has(op)) expect(ulps(h, d), `${op}(${x}): host ${h}, device ${d}`).toBeLessThanOrEqual(2);
        else expect(sameBits(h, d), `${op}(${x}): host ${h}, device ${d}`).toBe(true);
      });
    });
  }

  for (const [op, rule] of Object.entries(BINARY)) {
    it(`${op}: the host fold is the device's value`, () => {
      const xs = SAMPLES.flatMap((x) => SAMPLES.map(() => x));
      const ys = SAMPLES.flatMap(() => SAMPLES);
      const device = onDevice(rule.device as never, xs, ys);
      xs.forEach((x, i) => {
        const [h, d] = [rule.host(x, ys[i]!), device[i]!];
        if (backend === 'wasm' && cOwnRule(op, x, ys[i]!)) return;
        if (backend === 'wasm' && OWN_MATH.has(op)) expect(ulps(h, d), `${op}(${x}, ${ys[i]}): host ${h}, device ${d}`).toBeLessThanOrEqual(2);
        // NaN payloads and the sign of a NaN are not compared
        else if (!(Number.isNaN(h) && Number.isNaN(d))) expect(sameBits(h, d), `${op}(${x}, ${ys[i]}): host ${h}, device ${d}`).toBe(true);
      });
    });
  }

  it('sign is 0 for 0, -0 and NaN and exact for tiny values (tfjs-wasm Sign gives 0 for 3e-12)', () => {
    expect(Array.from(onDevice(UNARY.sign.device as never, [3e-12, -1e-14, 0, -0, NaN, -Infinity]))).toEqual([1, -1, 0, 0, 0, -1]);
  });
});

describe('foldIdentity', () => {
  const x = DeviceValue.float(tf.zeros([2]));
  it('folds only identities that keep every value bit for bit', () => {
    expect(foldIdentity('mul', x, 1)).toBe(x);
    expect(foldIdentity('mul', 1, x)).toBe(x);
    expect(foldIdentity('div', x, 1)).toBe(x);
    expect(foldIdentity('pow', x, 1)).toBe(x);
    expect(foldIdentity('sub', x, 0)).toBe(x);
    expect(foldIdentity('sub', x, -0)).toBeUndefined(); // -0 - -0 is +0
    expect(foldIdentity('add', x, -0)).toBe(x);
    expect(foldIdentity('add', x, 0)).toBeUndefined(); // -0 + 0 is +0
    expect(foldIdentity('and', x, 0)).toBe(0);
    expect(foldIdentity('or', x, NaN)).toBe(1); // NaN != 0
    expect(foldIdentity('mul', x, 0)).toBeUndefined(); // Inf * 0 is NaN
  });
});
