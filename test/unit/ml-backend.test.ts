/**
 * node/ml/backend.ts: the selection policy with fake loaders (no backend imported), then the
 * real thing on this machine, where the tfjs-node packages are absent and wasm must initialise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  BACKEND_PREFERENCE,
  type BackendChoice,
  type BackendLoaders,
  backendOrder,
  chooseBackend,
  selectBackend,
  wasmBinaryDir,
} from '../../node/ml/backend.js';
import { isFedmeshError } from '../../protocol/errors.js';

function notFound(pkg: string): Error {
  return Object.assign(new Error(`Cannot find package '${pkg}'`), { code: 'ERR_MODULE_NOT_FOUND' });
}

/** Loaders that succeed for the names in `working` and record the order they were called in. */
function fakeLoaders(working: BackendChoice[], calls: BackendChoice[]): BackendLoaders {
  const make = (name: BackendChoice) => async (): Promise<void> => {
    calls.push(name);
    if (working.includes(name)) return;
    if (name === 'tensorflow-gpu' || name === 'tensorflow') throw notFound(`@tensorflow/tfjs-node`);
    throw new Error(`${name} exploded`);
  };
  return { 'tensorflow-gpu': make('tensorflow-gpu'), tensorflow: make('tensorflow'), wasm: make('wasm'), cpu: make('cpu') };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('backendOrder / chooseBackend (pure policy, fake loaders)', () => {
  it('orders fastest first, or just the preferred backend', () => {
    expect(backendOrder()).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    expect(backendOrder('cpu')).toEqual(['cpu']);
    expect(BACKEND_PREFERENCE).toEqual(backendOrder());
  });

  it('falls through to the first loader that works and reports every attempt', async () => {
    const calls: BackendChoice[] = [];
    const sel = await chooseBackend(fakeLoaders(['wasm', 'cpu'], calls));
    expect(sel).toEqual({
      name: 'wasm',
      tried: [
        { name: 'tensorflow-gpu', ok: false, reason: 'not installed' },
        { name: 'tensorflow', ok: false, reason: 'not installed' },
        { name: 'wasm', ok: true },
      ],
    });
    expect(calls).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm']);
  });

  it('takes tfjs-node-gpu when it loads, without trying anything else', async () => {
    const calls: BackendChoice[] = [];
    const sel = await chooseBackend(fakeLoaders(['tensorflow-gpu', 'wasm'], calls));
    expect(sel.name).toBe('tensorflow-gpu');
    expect(calls).toEqual(['tensorflow-gpu']);
  });

  it('falls back to cpu when wasm fails, keeping the failure reason', async () => {
    const sel = await chooseBackend(fakeLoaders(['cpu'], []));
    expect(sel.name).toBe('cpu');
    expect(sel.tried[2]).toEqual({ name: 'wasm', ok: false, reason: 'wasm exploded' });
  });

  it('with prefer, tries only that backend and throws BACKEND_UNAVAILABLE naming it', async () => {
    const calls: BackendChoice[] = [];
    const e = await rejection(chooseBackend(fakeLoaders(['cpu'], calls), 'wasm'));
    expect(calls).toEqual(['wasm']);
    expect(isFedmeshError(e, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((e as { fields: { backend: string; reason: string } }).fields).toMatchObject({
      backend: 'wasm',
      reason: 'wasm exploded',
    });
  });

  it('throws BACKEND_UNAVAILABLE for backend "any" when nothing works', async () => {
    const e = await rejection(chooseBackend(fakeLoaders([], [])));
    expect(isFedmeshError(e, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((e as { fields: { backend: string; tried: unknown[] } }).fields.backend).toBe('any');
    expect((e as { fields: { backend: string; tried: unknown[] } }).fields.tried).toHaveLength(4);
  });

  it('rejects an unknown preferred backend', () => {
    expect(() => backendOrder('webgpu' as BackendChoice)).toThrow(/BACKEND_UNAVAILABLE/);
  });
});

// The tests below share this file's process-wide tfjs state and run in order.
describe('selectBackend on this machine', () => {
  it('wasm binaries are found where wasmBinaryDir points', () => {
    const dir = wasmBinaryDir();
    expect(dir.endsWith(path.sep)).toBe(true);
    expect(fs.existsSync(`${dir}tfjs-backend-wasm-simd.wasm`)).toBe(true);
  });

  it('prefer: tfjs-node that is not installed fails with a typed error (and selects nothing)', async () => {
    const e = await rejection(selectBackend({ prefer: 'tensorflow' }));
    expect(isFedmeshError(e, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((e as { fields: { backend: string; reason: string } }).fields).toMatchObject({
      backend: 'tensorflow',
      reason: 'not installed',
    });
  });

  it('picks wasm by default, initialises it, registers Conv2DBackpropFilter and logs the choice', async () => {
    const logs: string[] = [];
    const sel = await selectBackend({ log: (m) => logs.push(m) });
    expect(sel.name).toBe('wasm');
    expect(sel.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ]);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain("'wasm'");
    // It computes: a real op on the wasm backend.
    expect(Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1).dataSync()))).toEqual([2, 3]);
  });

  it('is idempotent and restores its choice if tfjs was switched away', async () => {
    const first = await selectBackend();
    await tf.setBackend('cpu');
    const again = await selectBackend({ prefer: 'wasm' });
    expect(again).toBe(first);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('refuses to switch to another backend once one is selected', async () => {
    const e = await rejection(selectBackend({ prefer: 'cpu' }));
    expect(isFedmeshError(e, 'BACKEND_ALREADY_SELECTED')).toBe(true);
    expect((e as { fields: unknown }).fields).toEqual({ backend: 'cpu', selected: 'wasm' });
  });
});
