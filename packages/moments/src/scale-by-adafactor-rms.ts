import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym, type SymLike } from '@emosens/core';

/** Options of {@link scaleByAdafactorRms}, optax's `scale_by_factored_rms` arguments in camelCase. */
export interface ScaleByAdafactorRmsOptions {
  /** Factor the second moment of parameters large enough (see `minDimSizeToFactor`). Default true. */
  readonly factored?: boolean;
  /** Exponent of the decay schedule `beta_t = 1 - (t + 1)^(-decayRate)`, >= 0. Default 0.8. */
  readonly decayRate?: number;
  /** Step at which the decay schedule starts (optax's `step_offset`, for fine-tuning), an integer >= 0. Default 0. */
  readonly stepOffset?: number;
  /** Factor a parameter only when its two largest axes, and both sides of the matrix `[d0, d1*...*dn]`, are at least this long (an integer >= 1). Default 128. */
  readonly minDimSizeToFactor?: number;
  /** Added to the squared gradient, >= 0. Default 1e-30. */
  readonly eps?: number;
}

/** State of {@link scaleByAdafactorRms}. */
export type AdafactorRmsState = {
  /** Updates seen so far, float32 scalar. */
  readonly count: tf.Scalar;
  /** Factored parameters only: the row average of `g^2 + eps`, shape `[d0]`. */
  readonly vRow: PerParameter<tf.Tensor>;
  /** Factored parameters only: the column average of `g^2 + eps`, shape `[d1, ..., dn]`. */
  readonly vCol: PerParameter<tf.Tensor>;
  /** Parameters not factored only: the average of `g^2 + eps`, the parameter's shape. */
  readonly v: PerParameter<tf.Tensor>;
};

/**
 * Whether a parameter of `shape` gets a factored second moment: rank >= 2, optax's rule (its
 * second largest axis is at least `minDim`) and both sides of the matrix `[d0, d1*...*dn]` this
 * block factors at least `minDim`. For rank 2 the two rules are one; for rank > 2 a parameter
 * optax keeps whole is kept whole here too.
 */
function isFactored(shape: readonly number[], factored: boolean, minDim: number): boolean {
  if (!factored || shape.length < 2) return false;
  const secondLargest = [...shape].sort((a, b) => b - a)[1]!;
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  return secondLargest >= minDim && Math.min(shape[0]!, cols) >= minDim;
}

/**
 * Rescales updates by Adafactor's second moment (Shazeer & Stern, arXiv 1804.04235), as optax's
 * `scale_by_factored_rms` does: factored into row and column averages for matrices, a full
 * average for the rest.
 *
 * ```
 * beta = 1 - (t - stepOffset + 1)^(-decayRate)          t = steps before this one (0 first)
 * s = g^2 + eps
 * factored:    R = beta R + (1 - beta) mean(s over columns)     per row, [d0]
 *              C = beta C + (1 - beta) mean(s over rows)        per column, [d1..dn]
 *              u = g / sqrt(R ⊗ C / mean(R))
 * otherwise:   v = beta v + (1 - beta) s
 *              u = g / sqrt(v)
 * ```
 *
 * On the first step `beta` is 0, so the averages start at the first step's statistics.
 * Options: `factored = true`, `decayRate = 0.8`, `stepOffset = 0`, `minDimSizeToFactor = 128`,
 * `eps = 1e-30` (optax's defaults).
 *
 * Named apart from {@link scaleByFactoredRms}, which is EmoAiry's factored moment (a fixed decay,
 * averages of square roots, `eps` twice, no normalisation by the mean): the two give different
 * updates and keep different states.
 *
 * The order of operations follows optax: `g * (R / mean(R))^(-1/2) * C^(-1/2)`, where optax
 * normalises the statistic of the shorter side (the second largest axis; rows on a tie), so for a
 * matrix with more rows than columns it is `g * (C / mean(C))^(-1/2) * R^(-1/2)` (equal in exact
 * arithmetic: `mean(R) = mean(C)`, both being the average of `s`).
 *
 * **Differences from optax.** For matrices (rank 2) the update and the rule that decides factoring
 * (both sides >= `minDimSizeToFactor`) are optax's; the state names rows and columns by axis
 * (`vRow` is always `[d0]`, where optax's `v_row` runs along the shorter axis), and keeps no
 * `[1]`-shaped placeholders. For rank > 2 optax factors over the two largest axes and treats the
 * others as batch axes; the fusion IR's row/column domains are axis 0 and the other axes flattened,
 * so this block factors a rank > 2 parameter as the matrix `[d0, d1*...*dn]`, and only when optax
 * would factor it too (its second largest axis >= `minDimSizeToFactor`) and both sides of that
 * matrix are >= `minDimSizeToFactor`; otherwise it keeps the full average, which is exactly what
 * optax does when it does not factor. A conv kernel `[h, w, in, out]` with small `h` is therefore
 * kept whole here where optax factors `in` x `out` per `(h, w)`.
 * `stepOffset` is for a restored state (fine-tuning): while the count is below it, optax raises a
 * number <= 0 to a negative power (a non-finite decay, NaN updates); here the decay is 0 then (each
 * step's statistics are taken as they are) until the count reaches `stepOffset`.
 * The step count is a float32 tensor (exact up to 2^24 steps) where optax's is an int32.
 *
 * ```ts
 * const adafactorLike = chain(scaleByAdafactorRms(), clipByBlockRms(1), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByAdafactorRms(options: ScaleByAdafactorRmsOptions = {}): GradientTransformation<AdafactorRmsState> {
  const name = 'scaleByAdafactorRms';
  const factored = check.boolean(name, 'factored', options.factored ?? true);
  const decayRate = check.number(name, 'decayRate', options.decayRate ?? 0.8, { min: 0 });
  const stepOffset = check.integer(name, 'stepOffset', options.stepOffset ?? 0, 0);
  const minDim = check.integer(name, 'minDimSizeToFactor', options.minDimSizeToFactor ?? 128, 1);
  const eps = check.number(name, 'eps', options.eps ?? 1e-30, { min: 0 });

  // beta * m + (1 - beta) * x with a per-step beta, in optax's order
  const decayed = (m: Sym, x: Sym, beta: Sym) => fx.add(fx.mul(beta, m), fx.mul(fx.sub(1, beta), x));
  const rsqrt = (x: SymLike) => fx.pow(x, -0.5);

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const s = state as { count: LeafRef; vRow: Record<string, LeafRef | Sym>; vCol: Record<string, LeafRef | Sym>; v: Record<string, LeafRef | Sym> };
      const count = fx.step(s.count);
      // optax's t + 1 with t = count - stepOffset; below stepOffset optax's power is of a number <= 0
      // (a non-finite beta), here it is held at 1 (beta = 0) until the count reaches stepOffset
      const t1 = fx.add(fx.sub(count, stepOffset), 1);
      const beta = fx.sub(1, fx.pow(stepOffset > 0 ? fx.max(t1, 1) : t1, -decayRate));
      const vRow = { ...s.vRow };
      const vCol = { ...s.vCol };
      const v = { ...s.v };
      const out: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        const sq = fx.add(fx.square(g), eps);
        if (s.vRow[key] !== undefined) {
          const r = decayed(fx.row(s.vRow[key] as LeafRef, key), fx.div(fx.rowSum(sq), fx.cols(g)), beta);
          const c = decayed(fx.col(s.vCol[key] as LeafRef, key), fx.div(fx.colSum(sq), fx.rows(g)), beta);
          vRow[key] = r;
          vCol[key] = c;
          const shape = context.parameter(key).shape;
          const rowsShorter = shape[0]! <= shape.slice(1).reduce((a, b) => a * b, 1);
          const [short, long] = rowsShorter ? [r, c] : [c, r];
          const shortMean = fx.div(fx.sum(short), rowsShorter ? fx.rows(g) : fx.cols(g));
          out[key] = fx.mul(fx.mul(g, rsqrt(fx.div(short, shortMean))), rsqrt(long));
        } else {
          const next = decayed(fx.elem(s.v[key] as LeafRef, key), sq, beta);
          v[key] = next;
          out[key] = fx.mul(g, rsqrt(next));
        }
      }
      return { updates: out, state: { count: fx.add(count, 1), vRow, vCol, v } };
    },
  };

  return {
    name,
    init: (params) => {
      const vRow: Record<string, tf.Tensor> = {};
      const vCol: Record<string, tf.Tensor> = {};
      const v: Record<string, tf.Tensor> = {};
      for (const [key, p] of Object.entries(params)) {
        if (isFactored(p.shape, factored, minDim)) {
          vRow[key] = tf.zeros([p.shape[0]!]);
          vCol[key] = tf.zeros(p.shape.slice(1));
        } else {
          v[key] = tf.zerosLike(p);
        }
      }
      return { count: tf.scalar(0), vRow, vCol, v };
    },
    update: composedUpdate(name, fusion),
    fusion,
  };
}
