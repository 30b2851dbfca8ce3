import { HOST_FLOOR, sizeLabel, type BenchRecord, type BenchResult } from './bench.js';

/** The ratios the issue sets targets for, per backend and size. */
export interface Ratios {
  readonly backend: string;
  readonly params: number;
  /** tf.train.adam ms / fused emoSens ms (target on cpu at 1M: >= 30). */
  readonly speedupVsTfAdam: number;
  /** fused emoSens ms / floor ms (target on cpu at 1M: <= 2). */
  readonly fusedOverFloor: number;
}

function find(records: readonly BenchRecord[], backend: string, params: number, optimizer: string, path: string): BenchRecord | undefined {
  return records.find((r) => r.backend === backend && r.params === params && r.optimizer === optimizer && r.path === path);
}

export function computeRatios(records: readonly BenchRecord[]): Ratios[] {
  const keys = [...new Set(records.map((r) => `${r.backend}\u0000${r.params}`))];
  return keys.flatMap((key) => {
    const [backend, paramsText] = key.split('\u0000') as [string, string];
    const params = Number(paramsText);
    const fused = find(records, backend, params, 'emoSens', 'fused');
    const adam = find(records, backend, params, 'tf.train.adam', 'tfjs');
    if (!fused || !adam) return [];
    return [{ backend, params, speedupVsTfAdam: adam.msPerStep / fused.msPerStep, fusedOverFloor: fused.msPerStep / fused.floorMs }];
  });
}

/** A torch.optim peer against tfjs's optimizer of the same name, per backend and size. */
export interface PeerRatio {
  readonly backend: string;
  readonly params: number;
  /** The emosens optimizer (`sgd`, `sgd-momentum`, `rmsprop`, ...). */
  readonly optimizer: string;
  /** tfjs's optimizer of the same name (`tf.train.sgd`, ...). */
  readonly tfjsPeer: string;
  /** tfjs ms / fused ms. */
  readonly fusedSpeedup: number;
  /** tfjs ms / composed ms (the same tf ops as tfjs's, arranged as a chain of blocks). */
  readonly composedSpeedup: number;
}

/** Each torch.optim peer's fused and composed steps against its tfjs optimizer. */
export function computePeerRatios(records: readonly BenchRecord[]): PeerRatio[] {
  return records.flatMap((r) => {
    if (r.path !== 'fused' || r.tfjsPeer === undefined) return [];
    const composed = find(records, r.backend, r.params, r.optimizer, 'composed');
    const peer = find(records, r.backend, r.params, r.tfjsPeer, 'tfjs');
    if (!composed || !peer) return [];
    return [
      {
        backend: r.backend,
        params: r.params,
        optimizer: r.optimizer,
        tfjsPeer: r.tfjsPeer,
        fusedSpeedup: peer.msPerStep / r.msPerStep,
        composedSpeedup: peer.msPerStep / composed.msPerStep,
      },
    ];
  });
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** A readable table of the records, then the ratios against the targets. */
export function formatReport(result: BenchResult): string {
  const header = ['backend', 'params', 'optimizer', 'path', 'ms/step', 'x floor', 'vs composed', 'state MB'];
  const rows = result.records.map((r) => {
    const composed = r.path === 'fused' ? find(result.records, r.backend, r.params, r.optimizer, 'composed') : undefined;
    return [
      r.backend,
      sizeLabel(r.params),
      r.optimizer,
      r.path,
      ms(r.msPerStep),
      (r.msPerStep / r.floorMs).toFixed(1),
      composed ? `${(composed.msPerStep / r.msPerStep).toFixed(1)}x faster` : '',
      mb(r.stateBytes),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];

  const floors = [...new Map(result.records.map((r) => [`${r.backend} ${sizeLabel(r.params)}`, r])).entries()];
  if (floors.length) {
    out.push('', 'Memory floor (a pass that reads 4 and writes 3 float32 arrays of the size):');
    for (const [where, r] of floors) out.push(`  ${where}: ${ms(r.floorMs)} ms (${result.floors?.[r.backend] ?? HOST_FLOOR})`);
  }
  const ratios = computeRatios(result.records);
  if (ratios.length) {
    out.push('', 'Fused emoSens:');
    for (const r of ratios) {
      out.push(
        `  ${r.backend} ${sizeLabel(r.params)}: ${r.speedupVsTfAdam.toFixed(1)}x faster than tf.train.adam, ` +
          `${r.fusedOverFloor.toFixed(2)}x the memory floor`,
      );
    }
    out.push('  (targets at 1M: on cpu at least 30x faster than tf.train.adam and within 2x of the floor; on wasm at least 1.5x faster than tf.train.adam; on webgpu at least 5x faster than tf.train.adam on the same adapter)');
  }
  const peers = computePeerRatios(result.records);
  if (peers.length) {
    out.push('', 'torch.optim peers against the tfjs optimizer of the same name (tfjs ms / ours):');
    for (const r of peers) {
      out.push(
        `  ${r.backend} ${sizeLabel(r.params)}: ${r.optimizer} fused ${r.fusedSpeedup.toFixed(1)}x, ` +
          `composed ${r.composedSpeedup.toFixed(2)}x faster than ${r.tfjsPeer}`,
      );
    }
  }
  for (const s of result.skipped) out.push('', `${s.backend}: skipped: ${s.reason}`);
  return out.join('\n');
}
