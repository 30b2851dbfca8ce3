import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { TransformOptimizer, adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';
import { gridTensors, buildModel } from './helpers.js';



const FIT = { batchSize: 16, shuffle: false, verbose: 0 } as const;

const READY = {
  emoSens: () => emoSens({ lr: 2e-2 }),
  emoAiry: () => emoAiry({ lr: 2e-2 }),
  emoCats: () => emoCats({ lr: 5e-3 }),
  adam: () => adam({ lr: 2e-2 }),
  adamw: () => adamw({ lr: 2e-2 }),
} as const;

describe('with tfjs-layers', () => {
  it.each(Object.entries(READY))('%s trains a dense network with model.fit: the loss falls', async (_name, make) => {
    const { x, y } = gridTensors();
    const model = buildModel();
    const optimizer = make();
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 40 });
    const losses = history.history['loss'] as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
    // every batch was one step (4 batches per epoch), and the Emo ones saw the loss
    expect(optimizer.iterations).toBe(40 * 4);
    if (_name.startsWith('emo')) expect(Number.isFinite(optimizer.readSignal('emotion'))).toBe(true);
    expect(optimizer.readSkippedSteps()).toBe(0);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });

  it('leaks no tensors from the optimizer across fit epochs', async () => {
    const { x, y } = gridTensors();
    const model = buildModel();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await model.fit(x, y, { ...FIT, epochs: 1 });
    const count = tf.memory().numTensors;
    await model.fit(x, y, { ...FIT, epochs: 3 });
    expect(tf.memory().numTensors).toBe(count);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });

  it('saves with model.save({ includeOptimizer }) and resumes bit for bit after loadLayersModel', async () => {
    const { x, y } = gridTensors();
    // uninterrupted: 6 epochs
    const straight = buildModel();
    const initial = straight.getWeights().map((w) => tf.clone(w));
    straight.compile({ optimizer: emoSens({ lr: 2e-2, useShadow: true }), loss: 'meanSquaredError' });
    await straight.fit(x, y, { ...FIT, epochs: 6 });

    // 3 epochs, save model and optimizer, load into a new model, 3 more epochs
    const first = buildModel();
    first.setWeights(initial);
    first.compile({ optimizer: emoSens({ lr: 2e-2, useShadow: true }), loss: 'meanSquaredError' });
    await first.fit(x, y, { ...FIT, epochs: 3 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    expect(artifacts?.trainingConfig?.optimizer_config).toEqual({
      class_name: 'EmosensOptimizer',
      config: { factory: 'emoSens', options: { lr: 2e-2, useShadow: true }, onNonFinite: 'skip', fused: true },
    });
    expect(artifacts?.weightSpecs?.some((s) => s.group === 'optimizer' && s.name === 'emosens/format')).toBe(true);

    const resumed = (await tfl.loadLayersModel(tf.io.fromMemory(artifacts!))) as tfl.LayersModel;
    expect(resumed.optimizer).toBeInstanceOf(TransformOptimizer);
    const optimizer = resumed.optimizer as unknown as TransformOptimizer;
    expect(optimizer.iterations).toBe(3 * 4);
    // tfjs-layers gave the loaded variables new names: the state is matched by position
    expect(resumed.trainableWeights[0]!.name).not.toBe(first.trainableWeights[0]!.name);
    await resumed.fit(x, y, { ...FIT, epochs: 3 });

    const expected = straight.getWeights();
    const actual = resumed.getWeights();
    expect(actual.length).toBe(expected.length);
    actual.forEach((w, i) => expect(new Float32Array(w.dataSync())).toEqual(new Float32Array(expected[i]!.dataSync())));
    expect(optimizer.iterations).toBe(6 * 4);

    [straight, first, resumed].forEach((m) => {
      (m.optimizer as unknown as TransformOptimizer).dispose();
      m.dispose();
    });
    tf.dispose([x, y, ...initial]);
  });
});
