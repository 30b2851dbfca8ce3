import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

function start(...args: string[]) {
  return spawnSync(process.execPath, [tsxCli, '--conditions=@emosens/source', 'src/main.ts', ...args], { cwd: appDir, encoding: 'utf8' });
}

describe('the command line', () => {
  it('exits with code 2 and names the option for a bad option', () => {
    const result = start('--steps', 'ten');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`error: --steps expects a positive integer, got 'ten'`);
    expect(result.stdout).toBe('');
  });

  it('exits with code 2 for an unknown optimizer, listing the valid names', () => {
    const result = start('--optimizers', 'lion,adamx');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`error: --optimizers: unknown optimizer 'adamx'; valid names: emosens, emoairy, emocats, emosens-v3, emoairy-v3, emocats-v3, emotion, emovoid, adamw, adam, sgd,`);
    expect(result.stdout).toBe('');
  });

  it('prints the usage for --help, ignoring the `--` that pnpm passes through', () => {
    const result = start('--', '--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: pnpm start');
    expect(result.stdout).toContain('sgd-momentum 0.03');
  });
});
