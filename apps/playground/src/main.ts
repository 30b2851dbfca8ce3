import './style.css';
// tfjs-core's browser build registers no gradient functions itself: register them all.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { BACKENDS, isBackendName, useBackend, type BackendName, type BackendResult } from './backends';
import { CLIPPINGS, DEFAULT_CHAIN, DIRECTIONS, SCHEDULES, buildChain, makeCustomOptimizer, type ChainSpec } from './chain-builder';
import { LineChart } from './charts';
import { drawContour } from './contour';
import { TEST_FUNCTIONS, findFunction } from './functions';
import { trainMnist, type TrainResult } from './mnist';
import { READY_MADE, READY_MADE_NAMES, isReadyMade } from './optimizers';
import { runRace, type RaceTrace, type Racer } from './race';

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`playground: #${id} is missing from index.html`);
  return element as T;
};

/** Every optimizer the page offers: the ready-made ones and the chain built in the form. */
const CUSTOM = 'custom';
const OPTIMIZER_IDS = [...READY_MADE_NAMES, CUSTOM] as const;
const labelOf = (id: string): string => (isReadyMade(id) ? READY_MADE[id].label : 'Custom chain');

const chainSpec: ChainSpec = { ...DEFAULT_CHAIN };
const selected = new Set<string>(['emoSens', 'emoSensV3', 'adamw', 'lion', CUSTOM]);

// ---- Optimizer list --------------------------------------------------------------------
function renderOptimizerList(): void {
  const list = $('optimizer-list');
  list.replaceChildren();
  for (const id of OPTIMIZER_IDS) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = id;
    box.checked = selected.has(id);
    box.addEventListener('change', () => (box.checked ? selected.add(id) : selected.delete(id)));
    const rates = isReadyMade(id) ? ` (lr ${READY_MADE[id].raceLr} / ${READY_MADE[id].mnistLr})` : '';
    label.append(box, ` ${labelOf(id)}`);
    const small = document.createElement('small');
    small.textContent = rates;
    label.append(small);
    list.append(label);
  }
  const all = document.createElement('button');
  all.type = 'button';
  all.textContent = 'All';
  all.addEventListener('click', () => {
    OPTIMIZER_IDS.forEach((id) => selected.add(id));
    renderOptimizerList();
  });
  const none = document.createElement('button');
  none.type = 'button';
  none.textContent = 'None';
  none.addEventListener('click', () => {
    selected.clear();
    renderOptimizerList();
  });
  list.append(all, none);
}

// ---- Custom chain form ---------------------------------------------------------------------
function renderChainForm(): void {
  const form = $<HTMLFormElement>('chain-form');
  const select = (key: 'direction' | 'clipping' | 'schedule', options: Readonly<Record<string, string>>, text: string): HTMLLabelElement => {
    const label = document.createElement('label');
    const element = document.createElement('select');
    element.name = key;
    for (const [value, name] of Object.entries(options)) element.add(new Option(name, value, false, chainSpec[key] === value));
    element.addEventListener('change', () => {
      (chainSpec as unknown as Record<string, string>)[key] = element.value;
      showChainCode();
    });
    label.append(`${text} `, element);
    return label;
  };
  const check = (key: 'emotion' | 'rootFilter' | 'cautious', text: string): HTMLLabelElement => {
    const label = document.createElement('label');
    const element = document.createElement('input');
    element.type = 'checkbox';
    element.name = key;
    element.checked = chainSpec[key];
    element.addEventListener('change', () => {
      chainSpec[key] = element.checked;
      showChainCode();
    });
    label.append(element, ` ${text}`);
    return label;
  };
  const number = (key: 'weightDecay' | 'clipAt' | 'lr' | 'mnistLr' | 'scheduleSteps', text: string): HTMLLabelElement => {
    const label = document.createElement('label');
    const element = document.createElement('input');
    element.type = 'number';
    element.name = key;
    element.step = 'any';
    element.value = String(chainSpec[key]);
    element.addEventListener('change', () => {
      const value = Number(element.value);
      if (Number.isFinite(value) && value >= 0) chainSpec[key] = value;
      showChainCode();
    });
    label.append(`${text} `, element);
    return label;
  };
  form.replaceChildren(
    select('direction', DIRECTIONS, 'Direction'),
    check('emotion', 'emotion (trackEmotion + scaleByEmotionStep)'),
    check('rootFilter', 'cube-root emotion filter (rootFiltered)'),
    check('cautious', 'cautious'),
    number('weightDecay', 'weight decay'),
    select('clipping', CLIPPINGS, 'Clipping'),
    number('clipAt', 'clip at'),
    select('schedule', SCHEDULES, 'Schedule'),
    number('scheduleSteps', 'over steps'),
    number('lr', 'lr (race)'),
    number('mnistLr', 'lr (MNIST)'),
  );
  form.addEventListener('submit', (event) => event.preventDefault());
}

function showChainCode(): void {
  const code = $('chain-code').querySelector('code')!;
  try {
    code.textContent = buildChain(chainSpec).code;
  } catch (error) {
    code.textContent = `// ${error instanceof Error ? error.message : String(error)}`;
  }
}

// ---- Backend ----------------------------------------------------------------------------
async function switchBackend(name: BackendName): Promise<BackendResult> {
  const status = $('backend-status');
  status.textContent = `starting ${name}...`;
  const result = await useBackend(name);
  $<HTMLSelectElement>('backend').value = name;
  status.textContent = result.ok
    ? `${tf.getBackend()} running; ${result.fused === null ? 'no fused kernels for this backend (composed ops)' : `fused kernels: ${result.fused}`}`
    : `${name} unavailable: ${result.reason}`;
  status.className = result.ok ? 'status' : 'status error';
  return result;
}

// ---- Race -------------------------------------------------------------------------------------
const raceCharts = {
  loss: new LineChart($('race-loss'), 'Loss (log)', { log: true }),
  emotion: new LineChart($('race-emotion'), 'Emotion scalar'),
  step: new LineChart($('race-step'), 'Step size (stepSize signal, else lr; log)', { log: true }),
};
let stopRace = false;

function racerOf(id: string): Racer {
  if (isReadyMade(id)) {
    const spec = READY_MADE[id];
    return { id, label: spec.label, lr: spec.raceLr, make: () => spec.make(spec.raceLr) };
  }
  const spec = { ...chainSpec };
  return { id, label: 'Custom chain', lr: spec.lr, make: () => makeCustomOptimizer(spec, spec.lr) };
}

function drawRace(fnId: string, traces: readonly RaceTrace[]): void {
  drawContour($<HTMLCanvasElement>('contour'), findFunction(fnId), traces);
  const labels = traces.map((t) => t.label);
  raceCharts.loss.update(labels, traces.map((t) => t.losses));
  raceCharts.emotion.update(labels, traces.map((t) => [null, ...t.emotion]));
  raceCharts.step.update(labels, traces.map((t) => [null, ...t.stepSize]));
}

async function race(fnId: string, ids: readonly string[], steps: number): Promise<RaceTrace[]> {
  const fn = findFunction(fnId);
  stopRace = false;
  const status = $('race-status');
  status.textContent = `racing ${ids.length} optimizers on ${fn.label}...`;
  const traces = await runRace(fn, ids.map(racerOf), steps, {
    onFrame: (t, step) => {
      drawRace(fnId, t);
      status.textContent = `step ${step} / ${steps}`;
    },
    shouldStop: () => stopRace,
  });
  drawRace(fnId, traces);
  const best = [...traces].sort((a, b) => (a.losses.at(-1) ?? Infinity) - (b.losses.at(-1) ?? Infinity))[0];
  status.textContent = `done on ${tf.getBackend()}; lowest loss: ${best?.label ?? '-'} (${best?.losses.at(-1)?.toExponential(2) ?? '-'})`;
  return traces;
}

// ---- MNIST --------------------------------------------------------------------------------------
const mnistCharts = {
  loss: new LineChart($('mnist-loss'), 'Training loss (log)', { log: true, width: 420 }),
  emotion: new LineChart($('mnist-emotion'), 'Emotion scalar', { width: 420 }),
  step: new LineChart($('mnist-step'), 'Step size (log)', { log: true, width: 420 }),
};
let stopMnist = false;

interface MnistRun extends TrainResult {
  id: string;
  label: string;
  backend: string;
}

async function trainAll(ids: readonly string[], steps: number, batchSize: number): Promise<MnistRun[]> {
  stopMnist = false;
  const runs: MnistRun[] = [];
  const status = $('mnist-status');
  const body = $('mnist-results').querySelector('tbody')!;
  body.replaceChildren();
  const live = { losses: [] as number[], emotion: [] as (number | null)[], stepSize: [] as number[] };
  const redraw = (current?: { label: string }): void => {
    const shown = [...runs.map((r) => ({ label: r.label, losses: r.losses, emotion: r.emotion, stepSize: r.stepSize }))];
    if (current) shown.push({ label: current.label, ...live });
    const labels = shown.map((s) => s.label);
    mnistCharts.loss.update(labels, shown.map((s) => s.losses));
    mnistCharts.emotion.update(labels, shown.map((s) => s.emotion));
    mnistCharts.step.update(labels, shown.map((s) => s.stepSize));
  };
  for (const id of ids) {
    if (stopMnist) break;
    const label = labelOf(id);
    const lr = isReadyMade(id) ? READY_MADE[id].mnistLr : chainSpec.mnistLr;
    const optimizer = isReadyMade(id) ? READY_MADE[id].make(lr) : makeCustomOptimizer({ ...chainSpec, scheduleSteps: steps }, lr);
    live.losses = [];
    live.emotion = [];
    live.stepSize = [];
    let lastPaint = 0;
    const result = await trainMnist(optimizer, { steps, batchSize, lr }, {
      onStep: (s) => {
        live.losses.push(s.loss);
        live.emotion.push(s.emotion);
        live.stepSize.push(s.stepSize);
        if (performance.now() - lastPaint > 100) {
          lastPaint = performance.now();
          redraw({ label });
          status.textContent = `${label}: step ${s.step} / ${steps}, loss ${s.loss.toFixed(3)}`;
        }
      },
      shouldStop: () => stopMnist,
    });
    const run: MnistRun = { ...result, id, label, backend: tf.getBackend() };
    runs.push(run);
    redraw();
    const row = document.createElement('tr');
    for (const cell of [
      label,
      run.backend,
      run.paths.at(-1) ?? '-',
      run.losses.at(-1)?.toFixed(4) ?? '-',
      `${(run.accuracy * 100).toFixed(1)} %`,
      run.msPerStep.toFixed(1),
    ]) {
      const td = document.createElement('td');
      td.textContent = cell;
      row.append(td);
    }
    body.append(row);
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  status.textContent = `done on ${tf.getBackend()}`;
  return runs;
}

// ---- Wiring ------------------------------------------------------------------------------------
function wire(): void {
  const fnSelect = $<HTMLSelectElement>('function');
  for (const fn of TEST_FUNCTIONS) fnSelect.add(new Option(fn.label, fn.id));
  fnSelect.addEventListener('change', () => drawContour($<HTMLCanvasElement>('contour'), findFunction(fnSelect.value)));
  $<HTMLSelectElement>('backend').addEventListener('change', (event) => {
    const name = (event.target as HTMLSelectElement).value;
    if (isBackendName(name)) void switchBackend(name);
  });
  const guard = (button: HTMLButtonElement, job: () => Promise<unknown>): void => {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await job();
      } catch (error) {
        console.error(error);
      } finally {
        button.disabled = false;
      }
    });
  };
  guard($('race-start'), () => race(fnSelect.value, [...selected], Number($<HTMLInputElement>('race-steps').value) || 300));
  $('race-stop').addEventListener('click', () => (stopRace = true));
  guard($('mnist-start'), () =>
    trainAll([...selected], Number($<HTMLInputElement>('mnist-steps').value) || 200, Number($<HTMLInputElement>('mnist-batch').value) || 64),
  );
  $('mnist-stop').addEventListener('click', () => (stopMnist = true));
  drawContour($<HTMLCanvasElement>('contour'), findFunction(fnSelect.value));
}

// ---- Test hook: the browser tests drive the page through this ------------------------------------
/** What the browser tests (test/playground.test.ts) call on `window.__playground`. */
export interface PlaygroundHook {
  readonly backends: readonly BackendName[];
  readonly optimizers: readonly string[];
  readonly functions: readonly string[];
  setBackend(name: BackendName): Promise<BackendResult>;
  race(options: { backend: BackendName; fn: string; optimizers: readonly string[]; steps: number }): Promise<{
    backend: BackendResult;
    traces: { id: string; losses: number[]; paths: string[]; emotion: (number | null)[]; stepSize: number[]; diverged: boolean }[];
  }>;
  mnist(options: { backend: BackendName; optimizers: readonly string[]; steps: number; batchSize?: number }): Promise<{
    backend: BackendResult;
    runs: { id: string; losses: number[]; paths: string[]; accuracy: number; msPerStep: number }[];
  }>;
}

declare global {
  interface Window {
    __playground?: PlaygroundHook;
  }
}

async function start(): Promise<void> {
  renderOptimizerList();
  renderChainForm();
  showChainCode();
  wire();
  await switchBackend('wasm');
  window.__playground = {
    backends: BACKENDS,
    optimizers: OPTIMIZER_IDS,
    functions: TEST_FUNCTIONS.map((f) => f.id),
    setBackend: switchBackend,
    race: async ({ backend, fn, optimizers, steps }) => {
      const result = await switchBackend(backend);
      if (!result.ok) return { backend: result, traces: [] };
      $<HTMLSelectElement>('function').value = fn;
      const traces = await race(fn, optimizers, steps);
      return { backend: result, traces: traces.map(({ id, losses, paths, emotion, stepSize, diverged }) => ({ id, losses, paths, emotion, stepSize, diverged })) };
    },
    mnist: async ({ backend, optimizers, steps, batchSize = 64 }) => {
      const result = await switchBackend(backend);
      if (!result.ok) return { backend: result, runs: [] };
      const runs = await trainAll(optimizers, steps, batchSize);
      return { backend: result, runs: runs.map(({ id, losses, paths, accuracy, msPerStep }) => ({ id, losses, paths, accuracy, msPerStep })) };
    },
  };
  document.body.dataset['ready'] = 'true';
}

start().catch((error: unknown) => {
  console.error(error);
  $('backend-status').textContent = `the page failed to start: ${error instanceof Error ? error.message : String(error)}`;
});
