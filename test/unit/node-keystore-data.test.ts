import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import { canonicalJson, type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { parseCsv } from '../../node/data/csv.js';
import { createKeystore, loadKeystore, resolvePassphrase } from '../../node/keystore/keystore.js';

const FAST = { N: 1 << 10, r: 8, p: 1 }; // tests only: real keystores use N = 2^17

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    return isFedmeshError(e) ? e.code : `untyped:${String(e)}`;
  }
  return 'none';
}

describe('keystore', () => {
  it('round-trips both keys through the passphrase', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-ks-')), 'keys');
    const made = await createKeystore(dir, 'correct horse', FAST);
    const back = await loadKeystore(dir, 'correct horse');
    expect(back.peerId).toBe(made.peerId);
    expect(back.wallet.address).toBe(made.wallet.address);
    expect(back.privateKey.raw).toEqual(made.privateKey.raw);
    expect(statSync(join(dir, 'identity.json')).mode & 0o777).toBe(0o600);
    // The Ethereum file is standard Web3 Secret Storage.
    const eth = JSON.parse(readFileSync(join(dir, 'ethereum.json'), 'utf8'));
    expect((eth.crypto ?? eth.Crypto).kdf).toBe('scrypt');
    expect(readFileSync(join(dir, 'identity.json'), 'utf8')).not.toContain(Buffer.from(made.privateKey.raw).toString('hex'));
  });

  it('rejects a wrong passphrase, a tampered file, overwriting and a missing keystore', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-ks-')), 'keys');
    await createKeystore(dir, 'pw', FAST);
    expect(await codeOf(() => loadKeystore(dir, 'wrong'))).toBe('KEYSTORE_BAD_PASSPHRASE');
    expect(await codeOf(() => createKeystore(dir, 'pw', FAST))).toBe('KEYSTORE_EXISTS');
    expect(await codeOf(() => loadKeystore(join(dir, 'nope'), 'pw'))).toBe('KEYSTORE_MISSING');
    const id = JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'));
    id.ciphertext = `00${id.ciphertext.slice(2)}`;
    writeFileSync(join(dir, 'identity.json'), JSON.stringify(id));
    expect(await codeOf(() => loadKeystore(dir, 'pw'))).toBe('KEYSTORE_BAD_PASSPHRASE');
    writeFileSync(join(dir, 'identity.json'), '{not json');
    expect(await codeOf(() => loadKeystore(dir, 'pw'))).toBe('KEYSTORE_CORRUPT');
  });

  it('resolves the passphrase from a value, a file or the environment', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'fm-pw-')), 'pw');
    writeFileSync(f, 'from-file\n');
    expect(resolvePassphrase({ value: 'v' })).toBe('v');
    expect(resolvePassphrase({ file: f })).toBe('from-file');
    expect(resolvePassphrase({ env: { FEDMESH_PASSPHRASE: 'e' } })).toBe('e');
    expect(await codeOf(() => resolvePassphrase({ env: {} }))).toBe('KEYSTORE_NO_PASSPHRASE');
  });
});

const manifest: FederationManifest = parseManifest({
  version: 1,
  federation: 'heart',
  seed: 1,
  model: { kind: 'mlp', hidden: [8] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'cp', kind: 'categorical', categories: ['1', '2', '3', '4'] },
    { name: 'chol', kind: 'numeric' },
  ],
  label: { name: 'num', positive: '1', negatives: ['0'] },
  rounds: 5,
  training: { localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
});

describe('manifest', () => {
  it('hashes canonically: key order does not matter, any value change does', () => {
    const reordered = JSON.parse(canonicalJson(manifest)) as FederationManifest;
    const shuffled = Object.fromEntries(Object.entries(reordered).reverse()) as FederationManifest;
    expect(manifestHash(shuffled)).toBe(manifestHash(manifest));
    expect(manifestHash({ ...manifest, rounds: 6 })).not.toBe(manifestHash(manifest));
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 'x' }] })).toBe('{"a":[2,{"c":"x","d":1}],"b":1}');
  });

  it('rejects invalid manifests naming the field and rule', async () => {
    try {
      parseManifest({ ...manifest, committee: { size: 4, threshold: 2 } });
      expect.unreachable();
    } catch (e) {
      expect(isFedmeshError(e, 'MANIFEST_INVALID')).toBe(true);
      expect((e as Error).message).toContain('committee.threshold');
    }
    expect(await codeOf(() => parseManifest({ ...manifest, features: [{ name: 'x', kind: 'categorical' }] }))).toBe('MANIFEST_INVALID');
  });
});

describe('CSV loader with a column mapping', () => {
  const csv = ['AGE,cp,chol,num', '63,1,233,0', '67,4,?,1', '37,3,250,0', '41,2,204,1', '56,2,236,0'].join('\n');

  it('maps columns, one-hot encodes categories and imputes the local median', () => {
    const { data, report } = parseCsv(csv, manifest, { missing: 'median', columns: { age: 'AGE' } });
    expect(data.featureShape).toEqual([6]);
    expect(data.n).toBe(5);
    expect(Array.from(data.y)).toEqual([0, 1, 0, 1, 0]);
    // Row 2: age 67, cp=4 → [0,0,0,1], chol imputed with median(233, 250, 204, 236) = 234.5
    expect(Array.from(data.x.subarray(6, 12))).toEqual([67, 0, 0, 0, 1, 234.5]);
    expect(report).toMatchObject({ rows: 5, kept: 5, imputedCells: 1, droppedMissing: 0 });
  });

  it('drops rows with missing values under the drop policy', () => {
    const { data, report } = parseCsv(csv, manifest, { missing: 'drop', columns: { age: 'AGE' } });
    expect(data.n).toBe(4);
    expect(report.droppedMissing).toBe(1);
  });

  it('rejects a missing column at start-up and counts a few bad rows', async () => {
    // AGE matches age ignoring case (the default); an exact match is required with headerMatch: exact.
    expect(await codeOf(() => parseCsv(csv, manifest, { missing: 'drop', headerMatch: 'exact' }))).toBe('DATA_PARSE');
    const rows = [
      'AGE,cp,chol,num',
      ...Array.from({ length: 60 }, (_, i) => `${40 + i},2,200,${i % 2}`),
      '50,9,200,1',
      '51,2,abc,0',
      '52,2',
    ];
    const { report } = parseCsv(rows.join('\n'), manifest, { missing: 'drop', columns: { age: 'AGE' } });
    expect(report.badRows.map((b) => b.line)).toEqual([62, 63, 64]);
    expect(report.badRows[2]!.reason).toBe('2 fields, header has 4');
    expect(report.badRows[0]).toMatchObject({ column: 'cp', value: '9', reason: expect.stringContaining('unknown category for cp') });
    expect(
      await codeOf(() => parseCsv(rows.join('\n'), manifest, { missing: 'drop', columns: { age: 'AGE' }, maxBadRowFraction: 0.01 })),
    ).toBe('DATA_PARSE');
    // Every row's label outside the manifest's: the task and the file disagree (issue 16, H11).
    expect(await codeOf(() => parseCsv(`${rows[0]}\n60,2,200,7`, manifest, { missing: 'drop', columns: { age: 'AGE' } }))).toBe(
      'DATA_BAD_LABEL',
    );
  });
});
