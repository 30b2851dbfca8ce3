/** What the last fused WebGPU step recorded. */
export interface StepReport {
  /** Compute dispatches recorded for the step (0 when a non-finite number loss skipped it on the host). */
  readonly dispatches: number;
  /** Tensors copied before being written in place, because their storage was shared. */
  readonly copies: number;
  /** What each dispatched program did, in order (e.g. `check 0`, `scalar`, `elem w`, `writes`). */
  readonly programs: readonly string[];
}

let lastReport: StepReport | undefined;
let lastDecline: string | undefined;

/** The report of the last fused WebGPU step in this process, if any (for tests and diagnostics). */
export function lastWebGpuStep(): StepReport | undefined {
  return lastReport;
}

/**
 * Why the WebGPU target last declined a step (which then ran composed), if it did. Reasons
 * found while tracing (a block without a fused form) come from core's `explainFusion`.
 */
export function lastWebGpuDecline(): string | undefined {
  return lastDecline;
}

/** @internal */
export function recordStep(report: StepReport): void {
  lastReport = report;
}

/** @internal */
export function recordDecline(reason: string): void {
  lastDecline = reason;
}
