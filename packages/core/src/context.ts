import { getBackend, scalar, type Scalar } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import { describeValue, isTensor } from './internal/is-tensor.js';
import type { Loss, SignalName, Signals, StepContext } from './types.js';


/**
 * Creates the context of one step.
 *
 * A number loss becomes a float32 scalar tensor the first time a block asks for it, so
 * blocks always compute on tensors and a tensor loss is never read back to the CPU.
 */
export function createStepContext(loss?: Loss): StepContext {
  if (loss !== undefined) validateLoss(loss);
  const signals: Partial<Record<string, unknown>> = {};
  const publishers: Record<string, string> = {};
  let lossTensor: Scalar | undefined;
  let lossNumber: number | undefined;
  const values = createHostValues();

  return {
    ...values,
    lossValue(block: string): number {
      if (loss === undefined) throw missingLoss(block);
      if (lossNumber === undefined) lossNumber = typeof loss === 'number' ? loss : readLossNumber(loss as Scalar, block);
      return lossNumber;
    },
    loss,
    signals: signals as Partial<Signals>,
    requireLoss(block: string): Scalar {
      if (loss === undefined) throw missingLoss(block);
      if (lossTensor === undefined) {
        lossTensor = typeof loss === 'number' ? scalar(loss, 'float32') : (loss as Scalar);
      }
      return lossTensor;
    },
    publish<K extends SignalName>(name: K, value: Signals[K], block: string): void {
      const previous = publishers[name];
      if (previous !== undefined) {
        throw new EmosensError(
          'DUPLICATE_SIGNAL',
          `Block '${block}' published signal '${name}', which block '${previous}' already ` +
            'published this step. Each signal is published by one block per step.',
        );
      }
      publishers[name] = block;
      signals[name] = value;
    },
    read<K extends SignalName>(name: K, block: string): Signals[K] {
      if (!(name in publishers)) {
        const known = Object.keys(publishers);
        throw new EmosensError(
          'MISSING_SIGNAL',
          `Block '${block}' reads signal '${name}', but no earlier block in the chain published ` +
            `it this step (published so far: ${known.length ? known.join(', ') : 'none'}). ` +
            `Put the block that produces '${name}' before '${block}' in the chain.`,
        );
      }
      return signals[name] as Signals[K];
    },
    has(name: SignalName): boolean {
      return name in publishers;
    },
  };
}

/**
 * Reads a tensor loss back as a number (`dataSync`), for a block that needs it on the host.
 * A backend without synchronous reads (webgpu in Node) gets a named error saying to pass
 * the loss as a number.
 */
export function readLossNumber(loss: Scalar, block: string): number {
  const backend = getBackend();
  // tfjs-webgpu's synchronous read fails in Node and, in headless Chromium, returns zeros for a
  // value computed on the GPU: never trust it for a rule that steers the step
  if (backend === 'webgpu') {
    throw new EmosensError(
      'INVALID_LOSS',
      `Block '${block}' needs this step's loss as a number, and the ${backend} backend cannot read a tensor back synchronously ` +
        `(it fails in Node and may read zeros in a browser). Pass the loss as a number, e.g. step(grads, { loss: (await lossTensor.data())[0] }).`,
    );
  }
  try {
    return loss.dataSync()[0]!;
  } catch (error) {
    throw new EmosensError(
      'INVALID_LOSS',
      `Block '${block}' needs this step's loss as a number, and reading the tensor loss back synchronously failed ` +
        `(${(error as Error).message}). Pass the loss as a number, e.g. step(grads, { loss: (await lossTensor.data())[0] }).`,
    );
  }
}

/** The error of a block that needs the loss when the step was given none. */
export function missingLoss(block: string): EmosensError {
  return new EmosensError(
    'MISSING_LOSS',
    `Block '${block}' needs this step's loss, but none was given. Pass it with the step, e.g. step(grads, { loss }).`,
  );
}

/** The host numbers of one step (`publishValue`, `readValue`, `hasValue`), each published once. */
export function createHostValues(): Pick<StepContext, 'publishValue' | 'readValue' | 'hasValue'> {
  const values = new Map<string, { value: number; block: string }>();
  return {
    publishValue(name: string, value: number, block: string): void {
      const previous = values.get(name);
      if (previous !== undefined) {
        throw new EmosensError(
          'DUPLICATE_SIGNAL',
          `Block '${block}' published value '${name}', which block '${previous.block}' already published this step. Each value is published by one block per step.`,
        );
      }
      if (typeof value !== 'number') throw new EmosensError('INVALID_STATE', `Block '${block}' published value '${name}' as ${typeof value}; expected a number.`);
      values.set(name, { value, block });
    },
    readValue(name: string, block: string): number {
      const found = values.get(name);
      if (found === undefined) {
        const known = [...values.keys()];
        throw new EmosensError(
          'MISSING_SIGNAL',
          `Block '${block}' reads value '${name}', but no earlier block in the chain published it this step ` +
            `(published so far: ${known.length ? known.join(', ') : 'none'}). Put the block that produces '${name}' before '${block}' in the chain.`,
        );
      }
      return found.value;
    },
    hasValue: (name: string): boolean => values.has(name),
  };
}

/** Checks that a loss is a finite-typed number or a float scalar tensor. */
export function validateLoss(loss: unknown): asserts loss is Loss {
  if (typeof loss === 'number') return;
  if (isTensor(loss)) {
    if (loss.size !== 1) {
      throw new EmosensError(
        'INVALID_LOSS',
        `loss: expected a number or a scalar tensor, got a tensor of shape [${loss.shape.join(', ')}].`,
      );
    }
    if (loss.dtype !== 'float32') {
      throw new EmosensError('INVALID_LOSS', `loss: expected a float32 tensor, got dtype ${loss.dtype}.`);
    }
    if (loss.isDisposed) {
      throw new EmosensError('INVALID_LOSS', 'loss: the tensor was already disposed.');
    }
    return;
  }
  throw new EmosensError('INVALID_LOSS', `loss: expected a number or a scalar tensor, got ${describeValue(loss)}.`);
}


