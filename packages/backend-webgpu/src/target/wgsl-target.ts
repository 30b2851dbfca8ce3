import { EmosensError, isTensor, type FusionRunOptions, type FusionRunResult, type FusionTarget, type Signals, type TracedStep } from '@emosens/core';
import { backend, engine, type Scalar, type Tensor } from '@tensorflow/tfjs-core';
import { recordDecline, recordStep } from '../diagnostics.js';
import { bufferOf, clearCpuCopy, exclusiveStorage, findInternals, type WebGpuInternals } from '../internal/backend-internals.js';
import { OK_WORD, packUniforms, renderWgsl, type LossKind, type WgslBinding, type WgslPlan } from './render-wgsl.js';
import { StepRecorder, type BoundBuffer } from './step-recorder.js';

const plans = new Map<string, WgslPlan>();

/** The rendered plan of a step's program, rendered once per program, loss kind and guard. */
export function planFor(step: TracedStep, guarded: boolean, loss: LossKind): WgslPlan {
  const key = `${guarded ? 'guarded' : 'plain'}|${loss}|${step.key}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = renderWgsl(step, { guarded, loss });
    if (plans.size > 256) plans.clear();
    plans.set(key, plan);
  }
  return plan;
}

function lossKindOf(step: TracedStep): LossKind {
  return isTensor(step.loss) ? 'tensor' : typeof step.loss === 'number' ? 'number' : 'none';
}

/**
 * The WGSL target of the fusion compiler for tfjs-backend-webgpu: renders a traced step
 * (see `renderWgsl`) as a few compute programs, compiled once per source, and records them
 * into the backend's command encoder: parameters and per-element state are written in
 * place by the programs; the state that is not per element travels through a small
 * scratch buffer, filled and emptied with buffer copies. Nothing is read back.
 *
 * It guards non-finite input itself (`guardsNonFinite`): with `skipNonFinite`, check
 * programs first clear the scratch buffer's guard flag when the loss or a gradient holds
 * NaN or ±Infinity, every writing program then returns at once, and `finite` is a bool
 * scalar tensor copied from the flag, on the device.
 */
export function createWgslTarget(): FusionTarget {
  return {
    name: 'wgsl',
    guardsNonFinite: true,
    check(step) {
      const reason = checkStep(step);
      if (reason !== undefined) recordDecline(reason);
      return reason;
    },
    run(step, options) {
      const found = findInternals(backend());
      if ('reason' in found) throw new EmosensError('INVALID_STATE', `the wgsl fusion target cannot run: ${found.reason}.`);
      return runWgslStep(found.internals, step, options);
    },
  };
}

/** Why the active webgpu backend cannot run `step`, or undefined. */
function checkStep(step: TracedStep): string | undefined {
  const found = findInternals(backend());
  if ('reason' in found) return found.reason;
  const { internals } = found;
  const tensors: [Tensor, string][] = [
    ...step.params.flatMap((p): [Tensor, string][] => [
      [p.variable, `parameter '${p.name}'`],
      [p.grad, `the gradient of '${p.name}'`],
    ]),
    ...step.leafTensors.map((t, i): [Tensor, string] => [t, `state '${step.graph.leaves[i]!.path}'`]),
    ...(isTensor(step.loss) ? [[step.loss, 'the loss'] as [Tensor, string]] : []),
  ];
  for (const [t, what] of tensors) {
    if (t.isDisposed) return `${what} was disposed`;
    if (internals.tensorMap.get(t.dataId) === undefined) return `${what} lives on another backend`;
  }
  for (const p of step.params) {
    if (p.variable.dtype !== 'float32' || p.grad.dtype !== 'float32') return `parameter '${p.name}' or its gradient is not float32`;
    if (p.variable.size * 4 > internals.device.limits.maxStorageBufferBindingSize) return `parameter '${p.name}' is larger than one storage binding allows`;
  }
  if (isTensor(step.loss) && (step.loss.dtype !== 'float32' || step.loss.size !== 1)) return 'the loss tensor is not a float32 scalar';
  let plan: WgslPlan;
  try {
    plan = planFor(step, false, lossKindOf(step));
  } catch (error) {
    return `the step cannot be rendered: ${(error as Error).message}`;
  }
  const limit = internals.device.limits.maxStorageBuffersPerShaderStage;
  if (plan.maxStorageBindings > limit) {
    return `a program of the step binds ${plan.maxStorageBindings} storage buffers; the device allows ${limit} per shader stage`;
  }
  return undefined;
}

const scratchBuffers = new WeakMap<GPUDevice, GPUBuffer>();

/**
 * The scratch buffer of a device, at least `bytes` long. Every step's use of it is recorded
 * in order on the one queue and submitted before the next step starts, so one buffer
 * serves every step; a larger one replaces it when a step needs more.
 */
function scratchBuffer(device: GPUDevice, bytes: number): GPUBuffer {
  const current = scratchBuffers.get(device);
  if (current && current.size >= bytes) return current;
  const size = Math.max(256, 2 ** Math.ceil(Math.log2(bytes)));
  const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'emosens.scratch' });
  scratchBuffers.set(device, buffer);
  // Destroyed once the work already submitted with it is done.
  if (current) void device.queue.onSubmittedWorkDone().then(() => current.destroy());
  return buffer;
}

/** The signals of a step skipped on the host: state signals are their (unchanged) tensors; others keep their previous value. */
function skippedSignals(step: TracedStep, plan: WgslPlan | undefined, options: FusionRunOptions): Partial<Signals> {
  const signals: Record<string, Tensor> = {};
  step.signals.forEach((s, k) => {
    const place = plan?.signals[k];
    const previous = options.previousSignals?.[s.name as keyof Signals] as Tensor | undefined;
    if (place !== undefined && 'leaf' in place) signals[s.name] = step.leafTensors[place.leaf]!;
    else if (previous !== undefined) signals[s.name] = previous;
  });
  return signals as Partial<Signals>;
}

function runWgslStep(internals: WebGpuInternals, step: TracedStep, options: FusionRunOptions): FusionRunResult {
  const guarded = options.skipNonFinite;
  const lossKind = lossKindOf(step);
  const plan = planFor(step, guarded, lossKind);
  // A number loss is known here: a non-finite one skips the step before anything is recorded.
  if (guarded && typeof step.loss === 'number' && !Number.isFinite(Math.fround(step.loss))) {
    recordStep({ dispatches: 0, copies: 0, programs: [] });
    return { state: step.state, signals: skippedSignals(step, plan, options), finite: false };
  }

  // Parameters (variables) and written state get storage of their own, then are written in place.
  let copies = 0;
  for (const p of step.params) {
    if (p.variable.size === 0) continue; // nothing to write, no storage to bind
    const own = exclusiveStorage(internals, p.variable);
    if (own !== p.variable) {
      p.variable.assign(own);
      own.dispose();
      copies += 1;
    }
  }
  const replaced = new Map<number, Tensor>();
  for (const leaf of step.writes.keys()) {
    const t = step.leafTensors[leaf]!;
    if (t.size === 0) continue;
    const own = exclusiveStorage(internals, t);
    if (own !== t) {
      replaced.set(leaf, own);
      copies += 1;
    }
  }
  const leafTensor = (leaf: number) => replaced.get(leaf) ?? step.leafTensors[leaf]!;

  // Every buffer is resolved (uploads encoded) before anything of the step is recorded.
  const { device, queue } = internals;
  const scratchBytes = plan.scratchWords * 4;
  const scratch = scratchBuffer(device, scratchBytes);
  // A binding covers the tensor's entries (arrayLength is exact), or its whole vec4s.
  const bound = (binding: WgslBinding): BoundBuffer => {
    const ref = binding.buffer;
    if (ref.kind === 'scratch') return { buffer: scratch, size: scratchBytes };
    const t = ref.kind === 'leaf' ? leafTensor(ref.leaf) : ref.kind === 'param' ? step.params[ref.index]!.variable : step.params[ref.index]!.grad;
    const size = binding.lanes === 4 ? Math.floor(t.size / 4) * 16 : t.size * 4;
    return { buffer: bufferOf(internals, t), size };
  };
  const programBuffers = plan.programs.map((p) => p.bindings.map(bound));
  const lossBuffer = isTensor(step.loss) ? bufferOf(internals, step.loss) : undefined;
  const leafBuffers = new Map([...plan.copyIn, ...plan.copyOut].map((c) => [c.leaf, bufferOf(internals, leafTensor(c.leaf))]));

  const previous = step.signals.map((s, k) => {
    const p = options.previousSignals?.[s.name as keyof Signals] as Tensor | undefined;
    const usable =
      guarded &&
      'offset' in plan.signals[k]! &&
      isTensor(p) &&
      !p.isDisposed &&
      p.dtype === s.dtype &&
      p.size === 1 &&
      internals.tensorMap.get(p.dataId) !== undefined;
    return usable ? bufferOf(internals, p) : undefined;
  });
  const signalInfos = step.signals.map((s, k) => ('offset' in plan.signals[k]! ? internals.makeTensorInfo([], s.dtype) : undefined));
  const signalBuffers = signalInfos.map((info) => (info ? bufferOf(internals, info) : undefined));
  const finiteInfo = guarded ? internals.makeTensorInfo([], 'bool') : undefined;
  const finiteBuffer = finiteInfo ? bufferOf(internals, finiteInfo) : undefined;

  const uniformData = packUniforms(plan, step, previous.map((b) => b !== undefined));
  const uniforms = internals.bufferManager.acquireBuffer(uniformData.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  queue.writeBuffer(uniforms, 0, uniformData);
  // Returned to the backend's pool once the commands that read it are submitted, as tfjs does.
  internals.uniformPendingDisposal.push(uniforms);
  // The guard flag starts set; queued now, so after every earlier step (each submits) and before this one.
  queue.writeBuffer(scratch, OK_WORD * 4, Uint32Array.of(1));

  const recorder = new StepRecorder(internals);
  if (plan.lossOffset !== undefined && lossBuffer) recorder.copy(lossBuffer, 0, scratch, plan.lossOffset * 4, 4);
  for (const c of plan.copyIn) recorder.copy(leafBuffers.get(c.leaf)!, 0, scratch, c.offset * 4, c.words * 4);
  previous.forEach((buffer, k) => {
    if (buffer) recorder.copy(buffer, 0, scratch, (plan.signals[k] as { offset: number }).offset * 4, 4);
  });
  plan.programs.forEach((program, k) => recorder.dispatch(program, uniforms, programBuffers[k]!));
  for (const c of plan.copyOut) recorder.copy(scratch, c.offset * 4, leafBuffers.get(c.leaf)!, 0, c.words * 4);
  signalBuffers.forEach((buffer, k) => {
    if (buffer) recorder.copy(scratch, (plan.signals[k] as { offset: number }).offset * 4, buffer, 0, 4);
  });
  // `finite` is the final guard flag (bool tensors are stored as i32 0/1).
  if (finiteBuffer) recorder.copy(scratch, OK_WORD * 4, finiteBuffer, 0, 4);
  recorder.submit();

  for (const p of step.params) if (p.variable.size > 0) clearCpuCopy(internals, p.variable);
  for (const leaf of step.writes.keys()) if (leafTensor(leaf).size > 0) clearCpuCopy(internals, leafTensor(leaf));
  recordStep({ dispatches: recorder.dispatches, copies, programs: plan.programs.map((p) => p.label) });

  const tensorOf = (leaf: number, old: Tensor) => replaced.get(leaf) ?? old;
  const signals: Record<string, Tensor> = {};
  step.signals.forEach((s, k) => {
    const place = plan.signals[k]!;
    signals[s.name] = 'leaf' in place ? tensorOf(place.leaf, step.leafTensors[place.leaf]!) : engine().makeTensorFromTensorInfo(signalInfos[k]!);
  });
  const state = step.newState(tensorOf);
  if (!finiteInfo) return { state, signals: signals as Partial<Signals> };
  return { state, signals: signals as Partial<Signals>, finite: engine().makeTensorFromTensorInfo(finiteInfo) as Scalar };
}
