import type { StepProgress } from './train.js';

/** Where progress goes: a writable stream such as `process.stderr`. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBar {
  update(progress: StepProgress): void;
  /** Ends the bar with a final line. */
  finish(summary: string): void;
}

/** Lines printed per run when the stream is not a terminal. */
const PLAIN_LINES = 10;
/** Minimum milliseconds between redraws of the terminal bar. */
const REDRAW_MS = 100;

/**
 * A one-line progress bar for one run. On a terminal it redraws in place with `\r`
 * (step/total, loss, ms/step); otherwise (CI, turbo, a pipe) it prints a plain line
 * every tenth of the run, so logs stay short.
 */
export function createProgressBar(label: string, total: number, stream: ProgressStream): ProgressBar {
  const tty = stream.isTTY === true;
  const every = Math.max(1, Math.ceil(total / PLAIN_LINES));
  let lastDraw = 0;
  let drawn = false;
  const describe = (p: StepProgress): string =>
    `step ${String(p.step).padStart(String(total).length)}/${total}  loss ${p.loss.toFixed(4)}  ${p.msPerStep.toFixed(1)} ms/step`;
  return {
    update(p) {
      if (tty) {
        const now = Date.now();
        if (p.step !== total && now - lastDraw < REDRAW_MS) return;
        lastDraw = now;
        const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 70));
        const filled = Math.round((p.step / total) * width);
        stream.write(`\r${label.padEnd(8)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${describe(p)}\x1b[K`);
        drawn = true;
      } else if (p.step % every === 0 || p.step === total) {
        stream.write(`${label}: ${describe(p)}\n`);
      }
    },
    finish(summary) {
      if (tty && drawn) stream.write('\n');
      stream.write(`${label}: ${summary}\n`);
    },
  };
}
