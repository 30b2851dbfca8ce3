import { describe, expect, it } from 'vitest';
import { DEFAULTS, learningRateOf, parseJobArgs, USAGE } from '../src/args.js';
import { OPTIMIZER_NAMES, OPTIMIZERS } from '../src/optimizers.js';

function errorOf(argv: string[]): string {
  const parsed = parseJobArgs(argv);
  if (parsed.kind !== 'error') throw new Error(`expected an error for ${argv.join(' ')}, got ${parsed.kind}`);
  return parsed.message;
}

describe('parseJobArgs', () => {
  it('returns the defaults for no arguments', () => {
    expect(parseJobArgs([])).toEqual({ kind: 'run', options: DEFAULTS });
    expect(DEFAULTS.optimizers).toEqual([
      'emosens', 'emoairy', 'emocats',
      'emosens-v3', 'emoairy-v3', 'emocats-v3', 'emotion', 'emovoid',
      'adamw', 'adam',
    ]);
    expect(DEFAULTS.lr).toBeNull(); // each optimizer at its own learning rate
  });

  it('runs the default set at the reference defaults: v2, AdamW and Adam 1e-3, v3 1.0', () => {
    expect(DEFAULTS.optimizers.map((n) => [n, learningRateOf(n, null)])).toEqual([
      ['emosens', 1e-3], ['emoairy', 1e-3], ['emocats', 1e-3],
      ['emosens-v3', 1], ['emoairy-v3', 1], ['emocats-v3', 1], ['emotion', 1], ['emovoid', 1],
      ['adamw', 1e-3], ['adam', 1e-3],
    ]);
    expect(learningRateOf('emovoid', 0.5)).toBe(0.5);
    expect(USAGE.replace(/\s+/g, ' ')).toContain('emosens, emoairy, emocats, emosens-v3, emoairy-v3, emocats-v3, emotion, emovoid, adamw, adam');
  });

  it("accepts the v3 optimizers by the factories' names: --optimizers emoSensV3,emoVoid", () => {
    const parsed = parseJobArgs(['--optimizers', 'emoSensV3,emoVoid']);
    expect(parsed.kind === 'run' && parsed.options.optimizers).toEqual(['emosens-v3', 'emovoid']);
    const more = parseJobArgs(['--optimizers', 'emoAiryV3, EMOCATS-V3, emoTion, sgdmomentum']);
    expect(more.kind === 'run' && more.options.optimizers).toEqual(['emoairy-v3', 'emocats-v3', 'emotion', 'sgd-momentum']);
    expect(errorOf(['--optimizers', 'emosens-v3,emoSensV3'])).toBe(`--optimizers: 'emosens-v3' is listed twice`);
    expect(errorOf(['--optimizers', 'emoSensV4'])).toMatch(/unknown optimizer 'emosensv4'/);
  });

  it('accepts every ready-made optimizer by name, variants included', () => {
    expect(OPTIMIZER_NAMES).toEqual([
      'emosens', 'emoairy', 'emocats', 'emosens-v3', 'emoairy-v3', 'emocats-v3', 'emotion', 'emovoid', 'adamw', 'adam',
      'sgd', 'sgd-momentum', 'sgd-nesterov', 'rmsprop', 'rmsprop-centered', 'adagrad', 'adamax', 'nadam', 'radam', 'lion',
      'adafactor', 'lamb',
    ]);
    const parsed = parseJobArgs(['--optimizers', OPTIMIZER_NAMES.join(',')]);
    expect(parsed.kind === 'run' && parsed.options.optimizers).toEqual(OPTIMIZER_NAMES);
    const some = parseJobArgs(['--optimizers', 'Lion, sgd-momentum']);
    expect(some.kind === 'run' && some.options.optimizers).toEqual(['lion', 'sgd-momentum']);
  });

  it('gives each optimizer its own learning rate unless --lr sets one for all, and lists them in the usage', () => {
    expect(learningRateOf('adam', null)).toBe(1e-3);
    expect(learningRateOf('sgd-momentum', null)).toBe(0.03);
    expect(learningRateOf('lion', null)).toBe(3e-4);
    expect(learningRateOf('lion', 1e-4)).toBe(1e-4);
    for (const name of OPTIMIZER_NAMES) expect(USAGE).toContain(`${name} ${OPTIMIZERS[name].lr}`);
  });

  it('reads every option', () => {
    const parsed = parseJobArgs([
      '--optimizers', 'adam, EmoSens',
      '--steps', '30',
      '--backend', 'wasm',
      '--seed', '7',
      '--out', '/tmp/x',
      '--lr', '5e-4',
    ]);
    expect(parsed).toEqual({
      kind: 'run',
      options: { optimizers: ['adam', 'emosens'], steps: 30, backend: 'wasm', seed: 7, out: '/tmp/x', lr: 5e-4 },
    });
  });

  it('accepts --name=value', () => {
    const parsed = parseJobArgs(['--steps=12']);
    expect(parsed.kind === 'run' && parsed.options.steps).toBe(12);
  });

  it('returns the usage for --help and -h', () => {
    expect(parseJobArgs(['--help'])).toEqual({ kind: 'help', text: USAGE });
    expect(parseJobArgs(['--steps', 'x', '-h']).kind).toBe('help');
    expect(USAGE).toContain('--optimizers');
  });

  it('names an unknown flag', () => {
    expect(errorOf(['--epochs', '3'])).toMatch(/unknown option '--epochs'/);
    expect(errorOf(['-x'])).toMatch(/unknown option '-x'/);
  });

  it('names the option whose value is missing', () => {
    expect(errorOf(['--steps'])).toBe('--steps expects a value; run with --help for the list of options');
    expect(errorOf(['--help=yes'])).toBe('--help takes no value');
  });

  it('rejects bad numbers, naming the option and the expected form', () => {
    expect(errorOf(['--steps', 'ten'])).toBe(`--steps expects a positive integer, got 'ten'`);
    expect(errorOf(['--steps', '0'])).toMatch(/--steps expects a positive integer/);
    expect(errorOf(['--steps', '2.5'])).toMatch(/--steps expects a positive integer/);
    expect(errorOf(['--seed=-1'])).toMatch(/--seed expects an integer from 0 to 4294967295/);
    expect(errorOf(['--seed', '-1'])).toBe(`--seed expects a value; one that starts with '-' must be written --seed=VALUE`);
    expect(errorOf(['--seed', '4294967296'])).toMatch(/--seed/);
    expect(errorOf(['--lr', '0'])).toMatch(/--lr expects a positive number/);
    expect(errorOf(['--lr', 'fast'])).toMatch(/--lr expects a positive number such as 1e-3, got 'fast'/);
    expect(errorOf(['--lr', ''])).toMatch(/--lr/);
  });

  it('rejects unknown, repeated or empty optimizer lists', () => {
    expect(errorOf(['--optimizers', 'adam,sgdm'])).toBe(`--optimizers: unknown optimizer 'sgdm'; valid names: ${OPTIMIZER_NAMES.join(', ')}`);
    expect(errorOf(['--optimizers', 'toString'])).toMatch(/unknown optimizer 'tostring'/);
    expect(errorOf(['--optimizers', 'adam,adam'])).toMatch(/'adam' is listed twice/);
    expect(errorOf(['--optimizers', ','])).toMatch(/--optimizers expects a comma-separated list/);
  });

  it('rejects an unknown backend and stray arguments', () => {
    expect(errorOf(['--backend', 'gpu'])).toBe(`--backend expects one of cpu, wasm, webgpu, got 'gpu'`);
    expect(errorOf(['train'])).toMatch(/unexpected argument 'train'/);
    expect(errorOf(['--out', ' '])).toMatch(/--out expects a directory path/);
  });
});
