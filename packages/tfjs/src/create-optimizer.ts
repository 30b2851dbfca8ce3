import { EmosensError } from '@emosens/core';
import { getTransformFactory, type FactoryOptions } from './registry.js';
import { TransformOptimizer, type TransformOptimizerOptions } from './transform-optimizer.js';

/**
 * Builds a {@link TransformOptimizer} from a registered transform factory, recording the
 * factory name and options so that `getConfig` / `fromConfig` (and tfjs-layers'
 * `model.save` with `includeOptimizer: true`) can rebuild it.
 *
 * ```ts
 * const opt = createOptimizer('emoSens', { lr: 1e-3 }, { onNonFinite: 'throw' });
 * ```
 */
export function createOptimizer(
  factory: string,
  options: FactoryOptions = {},
  optimizerOptions: Omit<TransformOptimizerOptions, 'source'> = {},
): TransformOptimizer {
  assertConfigData(options, `createOptimizer('${factory}'): options`);
  const transform = getTransformFactory(factory)(options);
  return new TransformOptimizer(transform, { ...optimizerOptions, source: { factory, options } });
}

/** Checks that options are JSON-like (what a saved config can hold). */
function assertConfigData(value: unknown, where: string): void {
  const visit = (v: unknown, path: string): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') return;
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${path}[${i}]`));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v)) if (x !== undefined) visit(x, `${path}.${k}`);
      return;
    }
    throw new EmosensError(
      'INVALID_OPTION',
      `${where}: '${path}' must be plain data (numbers, strings, booleans, arrays, objects) to be saved in a config, got ${typeof v}.`,
    );
  };
  visit(value, 'options');
}
