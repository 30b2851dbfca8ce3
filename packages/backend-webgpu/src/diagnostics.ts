/** What the last fused WebGPU step recorded. */
export interface StepReport {
  /** The optimizer's fused key. */
  readonly key: string;
  /** Compute dispatches recorded for the step. */
  readonly dispatches: number;
  /** Tensors copied before being written in place, because their storage was shared. */
  readonly copies: number;
}

let lastReport: StepReport | undefined;
let lastDecline: string | undefined;

/** The report of the last fused WebGPU step in this process, if any (for tests and diagnostics). */
export function lastWebGpuStep(): StepReport | undefined {
  return lastReport;
}

/** Why the last step that a WebGPU kernel declined ran composed instead, if any. */
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
