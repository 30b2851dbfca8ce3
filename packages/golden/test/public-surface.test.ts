import { describe, expect, it } from 'vitest';
import * as golden from '../src/index.js';

describe('the public surface of @emosens/golden', () => {
  it('exports no unused helpers: referenceState is gone (the runner compares state through its own locator)', () => {
    expect(Object.keys(golden)).not.toContain('referenceState');
    expect(Object.keys(golden)).toEqual(expect.arrayContaining(['runCase', 'runDirectory', 'describeResult', 'parseCase']));
  });
});
