import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { EmosensError } from '@emosens/core';
import { TransformOptimizer, emoSens } from '../src/index.js';
import { buildModel, gridTensors } from './helpers.js';

const FIT = { batchSize: 16, shuffle: false, verbose: 0 } as const;

async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return artifacts!;
}

describe('one TransformOptimizer per model', () => {
  it('compiling one optimizer into a second model throws a named error at its first step, and nothing changes', async () => {
    const { x, y } = gridTensors();
    const optimizer = emoSens({ lr: 1e-2 });
    const a = buildModel();
    const b = buildModel();
    a.compile({ optimizer, loss: 'meanSquaredError' });
    b.compile({ optimizer, loss: 'meanSquaredError' });
    await a.fit(x, y, { ...FIT, epochs: 1 });
    const names = [...optimizer.parameterNames];
    const before = b.getWeights().map((w) => Array.from(w.dataSync()));
    const iterations = optimizer.iterations;

    const error = await b.fit(x, y, { ...FIT, epochs: 1 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(/TransformOptimizer: this step's variables .* share none with the 4 variables this optimizer trains/);
    expect((error as Error).message).toMatch(/one optimizer per model/);
    // Nothing was mixed: same variables, same iteration count, b's weights unchanged.
    expect(optimizer.parameterNames).toEqual(names);
    expect(optimizer.iterations).toBe(iterations);
    expect(b.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);

    optimizer.dispose();
    a.dispose();
    b.dispose();
    tf.dispose([x, y]);
  });

  it('new variables next to known ones still extend the state (a layer unfrozen later)', () => {
    const v1 = tf.variable(tf.tensor1d([1, 2]), true, 'ext-v1');
    const v2 = tf.variable(tf.tensor1d([3]), true, 'ext-v2');
    const opt = emoSens({ lr: 1e-2 });
    const f = () => tf.add(tf.sum(tf.square(v1)), tf.sum(tf.square(v2))) as tf.Scalar;
    opt.minimize(f, false, [v1]);
    opt.minimize(f, false, [v1, v2]);
    expect(opt.parameterNames).toEqual(['ext-v1', 'ext-v2']);
    opt.dispose();
    tf.dispose([v1, v2]);
  });

  it('reloading a save whose optimizer state covers more variables than the model says what is wrong', async () => {
    const { x, y } = gridTensors();
    // A state over 8 variables: one optimizer stepping two models' variables at once.
    const a = buildModel();
    const b = buildModel();
    const optimizer = emoSens({ lr: 1e-2 });
    const vars = [...a.trainableWeights, ...b.trainableWeights].map((w) => w.read() as tf.Variable);
    optimizer.minimize(() => tf.tidy(() => {
      const pa = a.predict(x) as tf.Tensor;
      const pb = b.predict(x) as tf.Tensor;
      return tf.add(tf.mean(tf.square(tf.sub(pa, y))), tf.mean(tf.square(tf.sub(pb, y)))) as tf.Scalar;
    }), false, vars);
    a.compile({ optimizer, loss: 'meanSquaredError' });
    const artifacts = await saveToMemory(a);
    const loaded = (await tfl.loadLayersModel(tf.io.fromMemory(artifacts))) as tfl.LayersModel;
    expect(loaded.optimizer).toBeInstanceOf(TransformOptimizer);

    const error = await loaded.fit(x, y, { ...FIT, epochs: 1 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as Error).message).toMatch(/the restored optimizer state covers 8 variables .* but this model trains 4/);
    expect((error as Error).message).toMatch(/saved from a different model, or from an optimizer shared between models/);

    (loaded.optimizer as unknown as TransformOptimizer).dispose();
    [a, b, loaded].forEach((m) => m.dispose());
    optimizer.dispose();
    tf.dispose([x, y]);
  });
});
