import { check, elementwise, fx, type EmptyState, type GradientTransformation } from '@emosens/core';

/** Options of {@link scaleByParamBlockRms}. */
export interface ScaleByParamBlockRmsOptions {
  /** The smallest scale, > 0 (optax's `min_scale`). Default 1e-3. */
  readonly minScale?: number;
}

/**
 * Multiplies each parameter's update by the root mean square of the parameter, at least
 * `minScale`, as optax's `scale_by_param_block_rms` (Adafactor's `multiply_by_parameter_scale`):
 *
 * ```
 * u <- u * max(rms(p), minScale),   rms(p) = sqrt(sum(p^2) / numel(p))    (minScale when rms <= minScale)
 * ```
 *
 * Stateless; needs the parameters. Option: `minScale = 1e-3`.
 *
 * ```ts
 * chain(scaleByAdafactorRms(), clipByBlockRms(1), scale(1e-2), scaleByParamBlockRms(), scale(-1))
 * ```
 */
export function scaleByParamBlockRms(options: ScaleByParamBlockRmsOptions = {}): GradientTransformation<EmptyState> {
  const name = 'scaleByParamBlockRms';
  const minScale = check.number(name, 'minScale', options.minScale ?? 1e-3, { min: 0, minExclusive: true });
  return elementwise(name, (u, p) => {
    const rms = fx.sqrt(fx.div(fx.sum(fx.square(p)), fx.size(p)));
    return fx.mul(u, fx.select(fx.le(rms, minScale), minScale, rms));
  });
}
