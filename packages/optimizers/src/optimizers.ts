import { chain, check, partition, type GradientTransformation, type StateValue } from '@emosens/core';
import { trackEmotion } from '@emosens/emotion';
import { addDecayedWeights, scaleByEmotionStep, scaleByLearningRate, scaleBySign } from '@emosens/modifiers';
import { rootFiltered, scaleByAdam, scaleByFactoredRms, scaleByLionMoment } from '@emosens/moments';
import { withShadow } from '@emosens/shadow';
import { resolveOptions, type AdamOptions, type EmoCatsOptions, type EmoOptions, type ResolvedOptions } from './options.js';
import { resolveAdamFamily } from './torch-optimizers.js';

/**
 * The shape shared by the Emo optimizers:
 *
 * ```
 * chain(
 *   emotion: trackEmotion(),                  publishes the emotion scalar and calm signal
 *   step:    [withShadow](chain(              blends toward the shadow first, when on
 *     direction,                              the optimizer's own filtered direction
 *     scaleByEmotionStep(),                   * (1 - |s|)
 *     addDecayedWeights(wd),                  + wd * p
 *     scaleByLearningRate(lr))))              * -lr
 * ```
 */
function emoChain(direction: GradientTransformation<StateValue>, o: ResolvedOptions, weightDecay = o.weightDecay) {
  const step = chain({
    direction,
    emotionStep: scaleByEmotionStep(),
    decay: addDecayedWeights(weightDecay),
    lr: scaleByLearningRate(o.lr),
  });
  return chain({
    emotion: trackEmotion(),
    step: o.useShadow ? (withShadow(step) as GradientTransformation<StateValue>) : (step as GradientTransformation<StateValue>),
  });
}

/**
 * EmoSens (Emo family v2.0): Adam moments without bias correction, the cube-root
 * emotion filter, a step cooled by the emotion scalar, decoupled weight decay, and
 * the optional shadow system.
 *
 * ```
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 * p -= lr * (1 - |s|) * m / (sqrt(v) + eps) * 1[|g|^(1/3) >= 1e-4 (1 + |s|)]  +  lr * wd * p
 * ```
 *
 * Needs the loss every step. Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01, shadow off.
 */
export function emoSens(options: EmoOptions = {}): GradientTransformation<StateValue> {
  const o = resolveOptions('emoSens', options, { betas: [0.9, 0.999], weightDecay: 0.01 });
  return emoChain(rootFiltered(scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, biasCorrection: false })), o);
}

/**
 * EmoAiry (Emo family v2.0): factored row/column second moments for tensors of rank
 * >= 2 (memory `d0 + d1*...*dn` per tensor) with a row/column cube-root filter, and
 * EmoSens-like moments with a strict `(g^2)^(1/3)` filter for vectors.
 *
 * Needs the loss every step. Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01, shadow off.
 */
export function emoAiry(options: EmoOptions = {}): GradientTransformation<StateValue> {
  const o = resolveOptions('emoAiry', options, { betas: [0.9, 0.999], weightDecay: 0.01 });
  const direction = partition(
    {
      factored: rootFiltered(scaleByFactoredRms({ decay: o.b1, eps: o.eps }), { statistic: 'factored', eps: o.eps }),
      dense: rootFiltered(scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, biasCorrection: false }), { statistic: 'square' }),
    },
    (_name, p) => (p.rank >= 2 ? 'factored' : 'dense'),
  );
  return emoChain(direction as GradientTransformation<StateValue>, o);
}

/**
 * EmoCats (Emo family v2.0): Lion's signed interpolated moment with the cube-root
 * emotion filter.
 *
 * ```
 * u = sign((1-b1) g + b1 m) * 1[|g|^(1/3) >= 1e-4 (1 + |s|)];  m = b2 m + (1-b2) g
 * p -= lr * (1 - |s|) * u  +  lr * wd' * p       wd' = wd / lr with decoupledWeightDecay, else wd
 * ```
 *
 * Needs the loss every step. Defaults: lr 1e-3, betas (0.9, 0.99), weightDecay 0.01, shadow off,
 * decoupledWeightDecay off.
 */
export function emoCats(options: EmoCatsOptions = {}): GradientTransformation<StateValue> {
  const o = resolveOptions('emoCats', options, { betas: [0.9, 0.99], weightDecay: 0.01 }, ['decoupledWeightDecay']);
  const decoupled = check.boolean('emoCats', 'decoupledWeightDecay', options.decoupledWeightDecay ?? false);
  const direction = rootFiltered(chain(scaleByLionMoment({ b1: o.b1, b2: o.b2 }), scaleBySign()));
  const weightDecay = decoupled && o.lr > 0 ? o.weightDecay / o.lr : o.weightDecay;
  return emoChain(direction as GradientTransformation<StateValue>, o, weightDecay);
}

/**
 * Adam (Kingma & Ba, arXiv 1412.6980), as `torch.optim.Adam` (torch 1.13), options in camelCase:
 *
 * ```
 * chain(addDecayedWeights(weightDecay),              g + wd * p   (L2, as torch's Adam)
 *       scaleByAdam({ b1, b2, eps, amsgrad }),       m_hat / (sqrt(v_hat) + eps)
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * `weightDecay` is torch's Adam's: an L2 penalty added to the gradient before the moments,
 * so the decay is normalised with the gradient; for decoupled decay use {@link adamw}.
 * `amsgrad: true` is torch's `amsgrad=True` (the denominator uses the running maximum of
 * the second moment). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0,
 * amsgrad false.
 */
export function adam(options: AdamOptions = {}): GradientTransformation<StateValue> {
  const o = resolveAdamFamily('adam', options, { lr: 1e-3, weightDecay: 0 }, ['amsgrad']);
  const amsgrad = check.boolean('adam', 'amsgrad', options.amsgrad ?? false);
  const tx = chain({
    decay: addDecayedWeights(o.weightDecay),
    moments: scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, amsgrad }),
    lr: scaleByLearningRate(o.lr),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * AdamW (Loshchilov & Hutter, arXiv 1711.05101), as `torch.optim.AdamW` (torch 1.13):
 *
 * ```
 * chain(scaleByAdam({ b1, b2, eps, amsgrad }),       m_hat / (sqrt(v_hat) + eps)
 *       addDecayedWeights(weightDecay),              + wd * p   (decoupled)
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01, amsgrad false.
 */
export function adamw(options: AdamOptions = {}): GradientTransformation<StateValue> {
  const o = resolveAdamFamily('adamw', options, { lr: 1e-3, weightDecay: 0.01 }, ['amsgrad']);
  const amsgrad = check.boolean('adamw', 'amsgrad', options.amsgrad ?? false);
  const tx = chain({
    moments: scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, amsgrad }),
    decay: addDecayedWeights(o.weightDecay),
    lr: scaleByLearningRate(o.lr),
  });
  return tx as GradientTransformation<StateValue>;
}
