import * as tf from '@tensorflow/tfjs-core';
import { allFinite, isTensor, selectWhere, type FusedStepArgs, type FusedStepResult, type StateValue } from '@emosens/core';
import { replaceStateTensors, type FusedParamSlots, type FusedStepPlan } from '@emosens/optimizers';

/** The reference's constants (the defaults of `trackEmotion`, `rootFiltered`, `withShadow`). */
const SHORT_RATE = 0.3;
const LONG_RATE = 0.01;
const GAIN = 5;
const CALM_MEAN_BELOW = 0.05;
const CALM_VARIANCE_BELOW = 0.005;
const FILTER_BASE = 1e-4;
const SHADOW_FOLLOW = 0.05;

/** Scalars shared by every parameter of one step, each uploaded once per step. */
interface StepScalars {
  readonly b1: tf.Scalar;
  readonly oneMinusB1: tf.Scalar;
  readonly b2: tf.Scalar;
  readonly oneMinusB2: tf.Scalar;
  readonly eps: tf.Scalar;
  /** `1 - lr * wd`: decoupled decay folded into the parameter's own term (undefined when wd = 0). */
  readonly keep?: tf.Scalar;
  /** What multiplies the direction in `p' = keep * p + scale * u`. */
  readonly scale: tf.Scalar;
  /** The filter threshold cubed, `(1e-4 (1 + |s|))^3`: `|g|^(1/3) >= thr` is `|g| >= thr^3`. */
  readonly thresholdCubed?: tf.Scalar;
  /** Its square: `|g| >= thr^3` is `g^2 >= thr^6`, which reuses the moments' `g^2`. */
  readonly thresholdSixth?: tf.Scalar;
  readonly shadow?: { readonly ratio: tf.Scalar; readonly active: tf.Scalar; readonly inactive: tf.Scalar };
}

/**
 * Advances a step count (a float32 scalar) once per step: `count + 1`, recorded as its
 * successor in the next state. A count tensor that two leaves share advances once.
 */
function advanceCount(count: tf.Tensor, replaced: Map<tf.Tensor, tf.Tensor>): tf.Scalar {
  let next = replaced.get(count);
  if (next === undefined) replaced.set(count, (next = tf.add(count, 1)));
  return next as tf.Scalar;
}

/**
 * The emotion of one step (the composed `trackEmotion`), a few scalar ops on the device.
 * The step count is a tensor, so "first step" and "window filled" are scalar conditions
 * on the device too: `where` on scalars (no broadcast) and a logical and.
 */
function emotionStep(plan: FusedStepPlan, loss: number | tf.Tensor, replaced: Map<tf.Tensor, tf.Tensor>) {
  const e = plan.emotion!;
  const value = (isTensor(loss) ? loss : tf.scalar(loss, 'float32')) as tf.Scalar;
  const first = tf.equal(e.count, 0);
  const short = tf.where(first, value, tf.add(tf.mul(value, SHORT_RATE), tf.mul(e.short, 1 - SHORT_RATE)));
  const long = tf.where(first, value, tf.add(tf.mul(value, LONG_RATE), tf.mul(e.long, 1 - LONG_RATE)));
  const scalar = tf.tanh(tf.mul(tf.sub(short, long), GAIN)) as tf.Scalar;
  const window = e.history.size;
  const history = tf.concat([tf.slice(e.history, [1], [window - 1]), tf.reshape(scalar, [1])]);
  const filled = tf.greaterEqual(advanceCount(e.count, replaced), window);
  const { variance } = tf.moments(history);
  const quiet = tf.logicalAnd(tf.less(tf.mean(tf.abs(history)), CALM_MEAN_BELOW), tf.less(variance, CALM_VARIANCE_BELOW));
  const calm = tf.logicalAnd(filled, quiet);
  replaced.set(e.short, short).set(e.long, long).set(e.history, history).set(e.scalar, scalar).set(e.calm, calm);
  return { scalar, calm };
}

function stepScalars(plan: FusedStepPlan, emotion: tf.Scalar | undefined, shadow: boolean, replaced: Map<tf.Tensor, tf.Tensor>): StepScalars {
  const decay = plan.weightDecay > 0 ? { keep: tf.scalar(1 - plan.lr * plan.weightDecay) } : {};
  const common = {
    b1: tf.scalar(plan.b1),
    oneMinusB1: tf.scalar(1 - plan.b1),
    b2: tf.scalar(plan.b2),
    oneMinusB2: tf.scalar(1 - plan.b2),
    eps: tf.scalar(plan.eps),
    ...decay,
  };
  if (!emotion) {
    // AdamW: (m / bc1) / (sqrt(v) / bc2 + eps) = (bc2 / bc1) m / (sqrt(v) + eps bc2), with
    // t = count + 1, bc1 = 1 - b1^t = -expm1(t ln b1) and bc2 = sqrt(-expm1(t ln b2)), as
    // `biasCorrection` of @emosens/moments computes them: scalar ops on the device.
    // -lr bc2 / bc1 = lr bc2 / expm1(t ln b1).
    const t = advanceCount(plan.adamCount!, replaced);
    const bc2 = tf.sqrt(tf.neg(tf.expm1(tf.mul(t, Math.log(plan.b2)))));
    const scale = tf.mul(tf.div(bc2, tf.expm1(tf.mul(t, Math.log(plan.b1)))), plan.lr) as tf.Scalar;
    return { ...common, eps: tf.mul(bc2, plan.eps) as tf.Scalar, scale };
  }
  // the Emo optimizers' Adam moments (no bias correction) only advance their count
  if (plan.adamCount) advanceCount(plan.adamCount, replaced);
  const a = tf.abs(emotion);
  const scale = tf.mul(tf.sub(1, a), -plan.lr) as tf.Scalar;
  const threshold = tf.mul(tf.add(a, 1), FILTER_BASE);
  const thresholdCubed = tf.mul(tf.mul(threshold, threshold), threshold) as tf.Scalar;
  const thresholdSixth = tf.square(thresholdCubed) as tf.Scalar;
  if (!shadow) return { ...common, scale, thresholdCubed, thresholdSixth };
  // the composed shadowRatio, written as the reference writes it
  const high = tf.add(tf.mul(tf.div(tf.sub(a, 0.6), 0.4), 0.4), 0.6);
  const mid = tf.add(tf.mul(tf.div(tf.sub(a, 0.1), 0.5), 0.5), 0.1);
  const ratio = tf.where(tf.greater(a, 0.6), high, tf.where(tf.greater(a, 0.1), mid, tf.zerosLike(a))) as tf.Scalar;
  const active = tf.cast(tf.greater(ratio, 0), 'float32') as tf.Scalar;
  return { ...common, scale, thresholdCubed, thresholdSixth, shadow: { ratio, active, inactive: tf.sub(1, active) as tf.Scalar } };
}

/** `1[stat >= thr^3]` or `1[stat > thr^3]` as float32. */
function passMask(stat: tf.Tensor, thresholdCubed: tf.Scalar, inclusive: boolean): tf.Tensor {
  return tf.cast(inclusive ? tf.greaterEqual(stat, thresholdCubed) : tf.greater(stat, thresholdCubed), 'float32');
}

/**
 * The update direction of one parameter (before the filter and `scale`), its new state
 * tensors, and `g^2` when it was computed (the filter reuses it).
 */
function direction(slot: FusedParamSlots, c: StepScalars): { u: tf.Tensor; state: tf.Tensor[]; squared?: tf.Tensor } {
  const g = slot.grad;
  switch (slot.direction) {
    case 'adam': {
      // AdamW's bias corrections are folded into `eps` and `scale` (see stepScalars)
      const [mu, nu] = slot.state as [tf.Tensor, tf.Tensor];
      const squared = tf.square(g);
      const m = tf.add(tf.mul(mu, c.b1), tf.mul(g, c.oneMinusB1));
      const v = tf.add(tf.mul(nu, c.b2), tf.mul(squared, c.oneMinusB2));
      return { u: tf.div(m, tf.add(tf.sqrt(v), c.eps)), state: [m, v], squared };
    }
    case 'lion': {
      const [moment] = slot.state as [tf.Tensor];
      const u = tf.sign(tf.add(tf.mul(g, c.oneMinusB1), tf.mul(moment, c.b1)));
      return { u, state: [tf.add(tf.mul(moment, c.b2), tf.mul(g, c.oneMinusB2))] };
    }
    case 'factored': {
      const [row, col] = slot.state as [tf.Tensor, tf.Tensor];
      const sq = tf.square(g);
      const rest = Array.from({ length: g.rank - 1 }, (_, i) => i + 1);
      const r = tf.add(tf.mean(sq, rest), c.eps);
      const cStat = tf.add(tf.mean(sq, 0), c.eps);
      const rowNext = tf.add(tf.mul(row, c.b1), tf.mul(tf.sqrt(r), c.oneMinusB1));
      const colNext = tf.add(tf.mul(col, c.b1), tf.mul(tf.sqrt(cStat), c.oneMinusB1));
      const rowShape = [row.shape[0]!, ...col.shape.map(() => 1)];
      const denominator = tf.add(tf.sqrt(tf.mul(tf.reshape(rowNext, rowShape), colNext)), c.eps);
      // masks of rows and columns, folded into one broadcast product
      const rowMask = tf.reshape(passMask(r, c.thresholdCubed!, false), rowShape);
      const colMask = passMask(cStat, c.thresholdCubed!, false);
      const u = tf.mul(tf.mul(tf.div(g, denominator), rowMask), colMask);
      return { u, state: [rowNext, colNext] };
    }
  }
}

/**
 * The non-finite guard of one step (`skipNonFinite`): `ok` (loss and every gradient
 * finite) computed once, and the selects that keep the old value where it is false. The
 * broadcast condition is shared per shape, so a parameter, its moments and its shadow
 * copy cost one broadcast between them.
 */
interface StepGuard {
  readonly ok: tf.Scalar;
  readonly conditions: Map<string, tf.Tensor>;
}

/** `where(ok, next, old)`, or `next` without a guard. */
function guarded(guard: StepGuard | undefined, next: tf.Tensor, old: tf.Tensor): tf.Tensor {
  if (guard === undefined || next === old) return next;
  // a size-1 state leaf of another rank than the new value (a restored `[1]` scalar): select in the old shape
  const value = next.rank === old.rank ? next : tf.reshape(next, old.shape);
  return selectWhere(guard.ok, value, old, guard.conditions);
}

/**
 * One step of a reference optimizer as a short sequence of tf ops that never leave the
 * device: the emotion and the step's scalar factors once per step, then per parameter
 * its moments, its filtered direction and `p' = keep * p + scale * u` (decay, emotion
 * step and learning rate folded into two per-step scalars), assigned in place.
 *
 * With `skipNonFinite`, every value the step writes (each parameter, each state tensor,
 * the counts, the shadow) becomes `where(ok, new, old)` (a parameter `where(ok, p', p)`,
 * which keeps a `-0` exact), so a step with a NaN or an infinity in the loss or a gradient
 * leaves everything as it was, bit for bit, with no readback; `finite` is `ok`. Without
 * it, the step runs no extra op.
 */
export function runOpsStep(plan: FusedStepPlan, args: FusedStepArgs<StateValue>): FusedStepResult<StateValue> {
  return tf.tidy(() => {
    const guard: StepGuard | undefined = args.skipNonFinite === true ? { ok: allFinite(args.loss, args.grads), conditions: new Map() } : undefined;
    const replaced = new Map<tf.Tensor, tf.Tensor>();
    const emotion = plan.emotion ? emotionStep(plan, args.loss!, replaced) : undefined;
    const c = stepScalars(plan, emotion?.scalar, plan.shadow, replaced);
    for (const slot of plan.params) {
      const p = slot.param as tf.Tensor;
      let base = p;
      if (slot.shadow && c.shadow) {
        const { ratio, active, inactive } = c.shadow;
        const { value, taken } = slot.shadow;
        const follow = tf.mul(active, taken); // 1 once taken, while active
        const blendWeight = tf.mul(follow, ratio);
        // blended = p when blendWeight = 0 (exactly), so it is also the inner transform's p
        const blended = tf.add(tf.mul(p, tf.sub(1, blendWeight)), tf.mul(value, blendWeight));
        const followed = tf.add(value, tf.mul(tf.sub(blended, value), SHADOW_FOLLOW));
        const takeNow = tf.mul(active, tf.sub(1, taken));
        // exactly one of the three weights is 1: keep, take a copy, or follow
        const nextValue = tf.add(tf.add(tf.mul(value, inactive), tf.mul(p, takeNow)), tf.mul(followed, follow));
        replaced.set(value, nextValue).set(taken, tf.maximum(taken, active));
        base = blended;
      }
      const d = direction(slot, c);
      let u = d.u;
      if (slot.filter === 'absAtLeast') {
        u = tf.mul(u, d.squared ? passMask(d.squared, c.thresholdSixth!, true) : passMask(tf.abs(slot.grad), c.thresholdCubed!, true));
      } else if (slot.filter === 'squareAbove') {
        u = tf.mul(u, passMask(d.squared ?? tf.square(slot.grad), c.thresholdCubed!, false));
      }
      const kept = c.keep ? tf.mul(base, c.keep) : base;
      slot.param.assign(guarded(guard, tf.add(kept, tf.mul(u, c.scale)), p));
      slot.state.forEach((t, i) => replaced.set(t, d.state[i]!));
    }
    // every state tensor the step wrote (moments, counts, emotion, shadow) under the guard, each once
    if (guard) for (const [old, next] of replaced) replaced.set(old, guarded(guard, next, old));
    const next = replaceStateTensors(args.state, replaced);
    // the signals are the state's own (guarded) emotion scalar and calm flag
    const signals = emotion ? { emotion: replaced.get(plan.emotion!.scalar)!, calm: replaced.get(plan.emotion!.calm)! } : {};
    return { state: next, signals, ...(guard ? { finite: guard.ok } : {}) } as unknown as tf.TensorContainer;
  }) as unknown as FusedStepResult<StateValue>;
}
