import * as tf from '@tensorflow/tfjs-core';
import { timeSteps, type TimingOptions } from './timing.js';

/** Invocations per workgroup, as the WGSL fusion target's elementwise programs use. */
const WORKGROUP_SIZE = 64;

/**
 * The floor pass in WGSL: per entry, read the parameter, gradient and two moments and write
 * the parameter and the moments back (`p += g; m += g; v -= g`), four entries per
 * invocation (vec4, as tfjs's own elementwise programs and the fusion target's passes load
 * them), the dispatch folded into two dimensions past 65535 workgroups. No real step can
 * stream less memory than this.
 */
export const FLOOR_WGSL = `@group(0) @binding(0) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * ${WORKGROUP_SIZE}u + lid;
  if (i >= arrayLength(&p)) { return; }
  let gi = g[i];
  p[i] = p[i] + gi;
  m[i] = m[i] + gi;
  v[i] = v[i] - gi;
}
`;

/**
 * The memory floor on the webgpu device: {@link FLOOR_WGSL} over 4 storage buffers of `n`
 * float32 each (rounded up to whole vec4s), on the device of the active tfjs webgpu
 * backend; one pass is timed from its submission until the queue reports it done (median ms).
 */
export async function measureWebGpuFloor(n: number, timing: TimingOptions): Promise<number> {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  if (device === undefined) throw new Error(`the webgpu floor needs the webgpu backend, not '${tf.getBackend()}'`);
  const entries = Math.ceil(n / 4) * 4;
  const buffers = Array.from({ length: 4 }, (_, k) =>
    device.createBuffer({ size: entries * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: `emosens.bench.floor.${k}` }),
  );
  try {
    device.queue.writeBuffer(buffers[1]!, 0, new Float32Array(entries).fill(1e-7)); // the gradient
    const module = device.createShaderModule({ code: FLOOR_WGSL, label: 'emosens.bench.floor' });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const groups = Math.ceil(entries / 4 / WORKGROUP_SIZE);
    const x = Math.min(groups, device.limits.maxComputeWorkgroupsPerDimension);
    const y = Math.ceil(groups / x);
    const pass = async () => {
      const encoder = device.createCommandEncoder();
      const compute = encoder.beginComputePass();
      compute.setPipeline(pipeline);
      compute.setBindGroup(0, bindGroup);
      compute.dispatchWorkgroups(x, y, 1);
      compute.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    return (await timeSteps(pass, timing)).median;
  } finally {
    buffers.forEach((b) => b.destroy());
  }
}
