import type { WebGpuInternals } from '../internal/backend-internals.js';
import type { WgslProgram } from './render-wgsl.js';

const pipelineCaches = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The compute pipeline of a program on a device, compiled once per `shaderKey` (its source). */
export function getPipeline(device: GPUDevice, program: WgslProgram): GPUComputePipeline {
  let cache = pipelineCaches.get(device);
  if (!cache) pipelineCaches.set(device, (cache = new Map()));
  let pipeline = cache.get(program.shaderKey);
  if (!pipeline) {
    const module = device.createShaderModule({ code: program.source, label: program.label });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: program.label });
    cache.set(program.shaderKey, pipeline);
  }
  return pipeline;
}

/** How many pipelines are cached for a device (for tests of the cache). */
export function cachedPipelineCount(device: GPUDevice): number {
  return pipelineCaches.get(device)?.size ?? 0;
}

/** A storage buffer binding: a buffer and the bytes of it the program sees. */
export interface BoundBuffer {
  readonly buffer: GPUBuffer;
  readonly size: number;
}

/**
 * Records one fused step into the backend's own command encoder and compute pass, so the
 * step runs in order with the work tfjs has queued before and after it.
 */
export class StepRecorder {
  dispatches = 0;

  constructor(private readonly internals: WebGpuInternals) {}

  /** Dispatches `program` with the uniform block and its storage `buffers` in binding order. */
  dispatch(program: WgslProgram, uniforms: GPUBuffer, buffers: readonly BoundBuffer[]): void {
    if (buffers.length !== program.bindings.length) {
      throw new Error(`${program.label}: expected ${program.bindings.length} buffers, got ${buffers.length}`);
    }
    const { device } = this.internals;
    const pipeline = getPipeline(device, program);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        ...(program.usesUniforms ? [{ binding: 0, resource: { buffer: uniforms } }] : []),
        ...buffers.map((b, i) => ({ binding: i + 1, resource: { buffer: b.buffer, offset: 0, size: b.size } })),
      ],
    });
    const groups = Math.max(1, Math.ceil(program.invocations / program.workgroupSize));
    const x = Math.min(groups, device.limits.maxComputeWorkgroupsPerDimension);
    const y = Math.ceil(groups / x);
    const pass = this.pass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, 1);
    this.dispatches += 1;
  }

  /** Records a copy of `bytes` bytes between buffers, in order with the dispatches. */
  copy(source: GPUBuffer, sourceOffset: number, target: GPUBuffer, targetOffset: number, bytes: number): void {
    const b = this.internals;
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.commandEncoder!.copyBufferToBuffer(source, sourceOffset, target, targetOffset, bytes);
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
