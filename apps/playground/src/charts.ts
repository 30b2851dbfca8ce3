import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A distinct colour per series (up to 20, then repeated). */
export const PALETTE = [
  '#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#469990', '#000075',
  '#808000', '#800000', '#bfef45', '#dcbeff', '#fabed4', '#ffd8b1', '#aaffc3', '#a9a9a9', '#ffe119', '#000000',
];

export const colorOf = (i: number): string => PALETTE[i % PALETTE.length]!;

/** A uPlot line chart of several series over the step, rebuilt when the series change. */
export class LineChart {
  private plot: uPlot | undefined;
  private labels: readonly string[] = [];

  constructor(
    private readonly element: HTMLElement,
    private readonly title: string,
    private readonly options: { log?: boolean; width?: number; height?: number } = {},
  ) {}

  /** Draws `series[i][step]` against the step; null or (on a log chart) non-positive values leave gaps. */
  update(labels: readonly string[], series: readonly (readonly (number | null)[])[]): void {
    const length = Math.max(0, ...series.map((s) => s.length));
    const steps = Array.from({ length }, (_, i) => i);
    const clean = series.map((s) =>
      Array.from({ length }, (_, i) => {
        const v = s[i];
        if (v === null || v === undefined || !Number.isFinite(v)) return null;
        return this.options.log && v <= 0 ? null : v;
      }),
    );
    const data = [steps, ...clean] as uPlot.AlignedData;
    if (this.plot === undefined || labels.join('\u0000') !== this.labels.join('\u0000')) {
      this.plot?.destroy();
      this.labels = [...labels];
      this.plot = new uPlot(
        {
          title: this.title,
          width: this.options.width ?? 460,
          height: this.options.height ?? 200,
          scales: { x: { time: false }, y: this.options.log ? { distr: 3 } : {} },
          // Labels only (no live values): twenty series stay readable.
          legend: { live: false },
          series: [{ label: 'step' }, ...labels.map((label, i) => ({ label, stroke: colorOf(i), width: 1.5, spanGaps: false }))],
          axes: [{}, { size: 60 }],
        },
        data,
        this.element,
      );
    } else {
      this.plot.setData(data);
    }
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.labels = [];
  }
}
