import { describe, expect, it } from 'vitest';
import { createProgressBar } from '../src/progress.js';

function capture(isTTY: boolean): { text: () => string; stream: { write(s: string): void; isTTY: boolean } } {
  const chunks: string[] = [];
  return { text: () => chunks.join(''), stream: { write: (s: string) => void chunks.push(s), isTTY } };
}

describe('createProgressBar', () => {
  it('prints about ten plain lines when the stream is not a terminal', () => {
    const out = capture(false);
    const bar = createProgressBar('Adam', 95, out.stream);
    for (let step = 1; step <= 95; step++) bar.update({ step, total: 95, loss: 1 / step, msPerStep: 3 });
    bar.finish('done');
    const lines = out.text().trimEnd().split('\n');
    expect(out.text()).not.toContain('\r');
    expect(lines.length).toBe(11);
    expect(lines[0]).toBe('Adam: step 10/95  loss 0.1000  3.0 ms/step');
    expect(lines[9]).toContain('step 95/95');
    expect(lines[10]).toBe('Adam: done');
  });

  it('redraws one line with \\r on a terminal and always draws the last step', () => {
    const out = capture(true);
    const bar = createProgressBar('EmoSens', 3, out.stream);
    for (let step = 1; step <= 3; step++) bar.update({ step, total: 3, loss: 0.5, msPerStep: 2 });
    bar.finish('done');
    const text = out.text();
    expect(text.startsWith('\rEmoSens')).toBe(true);
    expect(text).toContain('step 3/3');
    expect(text).toContain('#');
    expect(text.endsWith('\nEmoSens: done\n')).toBe(true);
  });
});
