import { makeShaderSource, HYPER_BYTES, packHyper, type FusedProgram, type HyperField } from './wgsl.js';
import type { WebGpuInternals } from './backend-internals.js';

const pipelineCaches = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
const scratchCaches = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();

/**
 * What a scratch buffer holds: EmoAiry's row/column masks, AdamW's bias corrections, or the
 * guard words of a step with `skipNonFinite` (written by the host, copied to a tensor).
 */
export type ScratchPurpose = 'mask' | 'corrections' | 'guard';

/** The compute pipeline of a program on a device, compiled once per cache key. */
export function getPipeline(device: GPUDevice, program: FusedProgram): GPUComputePipeline {
  let cache = pipelineCaches.get(device);
  if (!cache) pipelineCaches.set(device, (cache = new Map()));
  let pipeline = cache.get(program.cacheKey);
  if (!pipeline) {
    const module = device.createShaderModule({ code: makeShaderSource(program), label: program.cacheKey });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: program.cacheKey });
    cache.set(program.cacheKey, pipeline);
  }
  return pipeline;
}

/** How many pipelines are cached for a device (for tests of the cache). */
export function cachedPipelineCount(device: GPUDevice): number {
  return pipelineCaches.get(device)?.size ?? 0;
}

/**
 * A storage buffer of `floats` 4-byte words kept per device for values that live only
 * within a step (written by one dispatch, read by the next ones). Reusing it across steps
 * is safe: every use is encoded on the same queue, in order, and each step is submitted
 * before the next one writes it.
 */
export function scratchBuffer(device: GPUDevice, purpose: ScratchPurpose, floats: number): GPUBuffer {
  let cache = scratchCaches.get(device);
  if (!cache) scratchCaches.set(device, (cache = new Map()));
  const key = `${purpose}.${floats}`;
  let buffer = cache.get(key);
  if (!buffer) {
    const usage = GPUBufferUsage.STORAGE | (purpose === 'guard' ? GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC : 0);
    buffer = device.createBuffer({ size: Math.max(4, floats * 4), usage, label: `emosens.${purpose}` });
    cache.set(key, buffer);
  }
  return buffer;
}

/** Destroys the scratch buffers kept for a device. */
export function releaseScratch(device: GPUDevice): void {
  scratchCaches.get(device)?.forEach((b) => b.destroy());
  scratchCaches.delete(device);
}

/**
 * Records one fused step into the backend's own command encoder and compute pass, so the
 * dispatches run in order with the work tfjs has queued before and after them.
 */
export class StepRecorder {
  private readonly hyper: GPUBuffer;
  dispatches = 0;

  constructor(
    private readonly internals: WebGpuInternals,
    hyper: Readonly<Record<HyperField, number>>,
  ) {
    const usage = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.hyper = internals.bufferManager.acquireBuffer(HYPER_BYTES, usage);
    internals.queue.writeBuffer(this.hyper, 0, packHyper(hyper));
    // Returned to the pool once the commands that read it are submitted, as tfjs does.
    internals.uniformPendingDisposal.push(this.hyper);
  }

  /** Dispatches `program` over `invocations` invocations with its storage `buffers` in binding order. */
  dispatch(program: FusedProgram, buffers: readonly GPUBuffer[], invocations: number): void {
    if (buffers.length !== program.bindings.length) {
      throw new Error(`${program.cacheKey}: expected ${program.bindings.length} buffers, got ${buffers.length}`);
    }
    const { device } = this.internals;
    const pipeline = getPipeline(device, program);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        ...(program.usesHyper === false ? [] : [{ binding: 0, resource: { buffer: this.hyper } }]),
        ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
      ],
    });
    const groups = Math.max(1, Math.ceil(invocations / program.workgroupSize));
    const x = Math.min(groups, device.limits.maxComputeWorkgroupsPerDimension);
    const y = Math.ceil(groups / x);
    const pass = this.pass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, 1);
    this.dispatches += 1;
  }

  /** Records a copy of `bytes` bytes between buffers, after the dispatches recorded so far. */
  copy(source: GPUBuffer, sourceOffset: number, target: GPUBuffer, bytes: number): void {
    const b = this.internals;
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.commandEncoder!.copyBufferToBuffer(source, sourceOffset, target, 0, bytes);
  }

  /** Ends the pass and submits everything queued so far (tfjs's pending work included). */
  submit(): void {
    this.internals.endComputePassEncoder();
    this.internals.submitQueue();
  }

  private pass(): GPUComputePassEncoder {
    const b = this.internals;
    b.ensureCommandEncoderReady();
    if (!b.computePassEncoder) b.computePassEncoder = b.commandEncoder!.beginComputePass();
    return b.computePassEncoder;
  }
}
