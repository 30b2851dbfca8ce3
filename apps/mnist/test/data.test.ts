import { describe, expect, it } from 'vitest';
import { createBatchOrder, IMAGE_SIZE, loadMnist, splitDataset } from '../src/data.js';

const data = loadMnist();

describe('loadMnist', () => {
  it('returns the 10,000 real digits as 784 floats in [0, 1] with labels 0-9', () => {
    expect(data.count).toBe(10_000);
    expect(data.images).toBeInstanceOf(Float32Array);
    expect(data.images.length).toBe(10_000 * IMAGE_SIZE);
    expect(data.labels.length).toBe(10_000);
    let min = Infinity;
    let max = -Infinity;
    for (const v of data.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    const perLabel = new Array<number>(10).fill(0);
    for (const label of data.labels) perLabel[label]!++;
    // Every digit is present in a realistic share (about 1,000 each).
    for (const n of perLabel) expect(n).toBeGreaterThan(800);
    // Real images: mostly background with some ink, not noise or blanks.
    const first = data.images.subarray(0, IMAGE_SIZE);
    const ink = first.filter((v) => v > 0.5).length;
    expect(ink).toBeGreaterThan(30);
    expect(ink).toBeLessThan(400);
  });
});

describe('splitDataset', () => {
  it('splits 8,000 / 2,000, the same way for the same seed', () => {
    const a = splitDataset(data, 2000, 42);
    const b = splitDataset(data, 2000, 42);
    expect(a.train.count).toBe(8000);
    expect(a.heldOut.count).toBe(2000);
    expect(a.train.labels).toEqual(b.train.labels);
    expect(a.heldOut.images).toEqual(b.heldOut.images);
  });

  it('shuffles differently for another seed', () => {
    const a = splitDataset(data, 2000, 1);
    const b = splitDataset(data, 2000, 2);
    expect(a.heldOut.labels).not.toEqual(b.heldOut.labels);
    // Shuffled: the held-out set holds every digit, not just the last ones.
    expect(new Set(a.heldOut.labels).size).toBe(10);
  });

  it('rejects an impossible held-out size', () => {
    expect(() => splitDataset(data, 0, 1)).toThrow(/heldOutCount/);
    expect(() => splitDataset(data, 10_000, 1)).toThrow(/heldOutCount/);
  });
});

describe('createBatchOrder', () => {
  it('gives the same batches for the same seed and covers an epoch without repeats', () => {
    const a = createBatchOrder(100, 10, 3);
    const b = createBatchOrder(100, 10, 3);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const batch = a();
      expect(batch).toEqual(b());
      for (const index of batch) seen.add(index);
    }
    expect(seen.size).toBe(100);
    expect(a().length).toBe(10); // next epoch
  });
});
