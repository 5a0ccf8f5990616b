/**
 * `fedmesh privacy epsilon|noise` through the real CLI entry (node/cli/main.ts) in-process:
 * output formats, exit codes, and errors that name the flag.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../node/cli/main.js';
import { CHAIN_RDP_ORDERS, computeEpsilon, planNoiseMultiplier } from '../../protocol/privacy/index.js';

let out: string[];
let err: string[];

beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err.push(String(s));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const run = (...argv: string[]): Promise<number> => main(['privacy', ...argv]);

describe('fedmesh privacy epsilon', () => {
  const args = ['--sample-rate', '0.01', '--noise-multiplier', '1.1', '--steps', '1000', '--delta', '1e-5'];

  it('--json prints one line {"epsilon", "order"} equal to the library', async () => {
    expect(await run('epsilon', ...args, '--json')).toBe(0);
    expect(out).toHaveLength(1);
    const want = computeEpsilon({ sampleRate: 0.01, noiseMultiplier: 1.1, steps: 1000, delta: 1e-5 });
    expect(JSON.parse(out[0]!)).toEqual({ epsilon: want.epsilon, order: want.order });
  });

  it('prints ε and the optimal order in words; --orders chain uses the on-chain order set', async () => {
    expect(await run('epsilon', ...args)).toBe(0);
    expect(out.join('')).toMatch(/^epsilon \d+\.\d+ at delta 1e-5, optimal order \d+(\.\d+)? /);
    out.length = 0;
    expect(await run('epsilon', ...args, '--orders', 'chain', '--json')).toBe(0);
    const want = computeEpsilon({ sampleRate: 0.01, noiseMultiplier: 1.1, steps: 1000, delta: 1e-5, orders: CHAIN_RDP_ORDERS });
    expect(JSON.parse(out[0]!)).toEqual({ epsilon: want.epsilon, order: want.order });
  });

  it.each([
    [['--sample-rate', '0'], '--sample-rate', /\(0, 1\]/],
    [['--sample-rate', '1.01'], '--sample-rate', /\(0, 1\]/],
    [['--noise-multiplier', '0'], '--noise-multiplier', /> 0/],
    [['--noise-multiplier', '-2'], '--noise-multiplier', /> 0/],
    [['--steps', '2.5'], '--steps', /integer/],
    [['--steps', 'ten'], '--steps', /integer/],
    [['--delta', '0'], '--delta', /\(0, 1\)/],
    [['--delta', '1'], '--delta', /\(0, 1\)/],
    [['--orders', 'all'], '--orders', /default, chain/],
  ])('%j exits 2 with an error naming %s', async (patch, flag, rule) => {
    const argv = [...args];
    for (let i = 0; i < patch.length; i += 2) {
      const at = argv.indexOf(patch[i]!);
      if (at >= 0) argv[at + 1] = patch[i + 1]!;
      else argv.push(patch[i]!, patch[i + 1]!);
    }
    expect(await run('epsilon', ...argv)).toBe(2);
    const msg = err.join('');
    expect(msg).toContain(`PRIVACY_ARGUMENT_INVALID: ${flag} "${patch[1]}"`);
    expect(msg).toMatch(rule);
    expect(out).toHaveLength(0);
  });
});

describe('fedmesh privacy noise', () => {
  it('--json prints {"noiseMultiplier"} equal to the library plan', async () => {
    expect(await run('noise', '--target-epsilon', '2', '--delta', '1e-5', '--sample-rate', '0.05', '--steps', '200', '--json')).toBe(0);
    const want = planNoiseMultiplier({ targetEpsilon: 2, delta: 1e-5, sampleRate: 0.05, steps: 200 });
    expect(JSON.parse(out[0]!)).toEqual({ noiseMultiplier: want.noiseMultiplier });
  });

  it('bad input exits 2 naming the flag; an unreachable target exits 1 with its own code', async () => {
    expect(await run('noise', '--target-epsilon', '-1', '--delta', '1e-5', '--sample-rate', '0.05', '--steps', '200')).toBe(2);
    expect(err.join('')).toContain('--target-epsilon "-1"');
    err.length = 0;
    expect(await run('noise', '--target-epsilon', '0.01', '--delta', '1e-5', '--sample-rate', '0.05', '--steps', '200')).toBe(1);
    expect(err.join('')).toContain('PRIVACY_TARGET_UNREACHABLE');
  });
});
