import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeWeights } from '../../protocol/weights-codec.js';
import { NodeStore } from '../../node/store/node-store.js';

const model = (v: number) => encodeWeights({ tensors: [{ shape: [3], data: Float32Array.from([v, v + 1, v + 2]) }] });

describe('node store', () => {
  it('stores models by content hash and verifies them on read', () => {
    const s = new NodeStore(mkdtempSync(join(tmpdir(), 'fm-store-')));
    const h = s.putModel(model(1));
    expect(s.putModel(model(1))).toBe(h);
    expect(s.getModel(h)).toEqual(model(1));
    writeFileSync(join(s.modelsDir, `${h.slice(2)}.fmwt`), model(2));
    expect(s.getModel(h)).toBeUndefined();
    expect(() => s.setHead({ round: 1, modelHash: h })).toThrow(expect.objectContaining({ code: 'STORE_BAD_HASH' }));
  });

  it('keeps the head, round state and privacy cache; masking use is sticky', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-store-'));
    const s = new NodeStore(dir);
    const h = s.putModel(model(3));
    s.setHead({ round: 4, modelHash: h });
    s.setRoundState({ round: 5, stage: 'masked-input-sent', maskingUsed: true });
    s.setRoundState({ round: 5, stage: 'failed', maskingUsed: false });
    s.setPrivacy({ rounds: 4, rdp: [0.1, 0.2], epsilon: 0.9 });
    const again = new NodeStore(dir);
    expect(again.head()).toEqual({ round: 4, modelHash: h });
    expect(again.roundState(5)).toMatchObject({ stage: 'failed', maskingUsed: true });
    expect(again.privacy()).toEqual({ rounds: 4, rdp: [0.1, 0.2], epsilon: 0.9 });
    expect(again.roundState(6)).toBeUndefined();
  });

  it('survives kill -9 at arbitrary moments: every file is old or new, never torn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-store-crash-'));
    const script = `
      import { NodeStore } from ${JSON.stringify(join(import.meta.dirname, '../../node/store/node-store.ts'))};
      import { encodeWeights } from ${JSON.stringify(join(import.meta.dirname, '../../protocol/weights-codec.ts'))};
      const s = new NodeStore(${JSON.stringify(dir)});
      for (let r = 1; ; r++) {
        const h = s.putModel(encodeWeights({ tensors: [{ shape: [256], data: new Float32Array(256).fill(r) }] }));
        s.setHead({ round: r, modelHash: h });
        s.setRoundState({ round: r, stage: 'adopted', maskingUsed: true });
        if (r === 3) process.stdout.write('ready\\n');
      }`;
    for (let i = 0; i < 5; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 20 + i * 37));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const s = new NodeStore(dir); // sweeps temporaries
      const head = s.head()!;
      expect(head.round).toBeGreaterThanOrEqual(3);
      expect(s.getModel(head.modelHash)).toBeDefined();
      expect(s.roundState(head.round - 1)?.maskingUsed).toBe(true);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    }
  });
});
