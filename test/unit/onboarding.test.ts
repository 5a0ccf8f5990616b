/**
 * Issue 17, onboarding and data problems: the CSV loader lists bad rows (line, column, value,
 * reason; capped, always counted), counts rows dropped for a missing value apart from bad rows,
 * maps label and category values from the config, treats `4.0` as `4`, matches headers ignoring
 * case; missing files are typed errors; a config typo names the key (not the whole config);
 * passphrases have a floor; `federation init` writes a manifest that validates and parses back
 * to itself; the funding check refuses an empty account on a real (in-process Hardhat) chain.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { checkAccountFunded, ROUND_GAS, studyCost } from '../../node/chain/funding.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { configTemplate, parseNodeConfig } from '../../node/config/node-config.js';
import { badRowsCsv, checkSiteData } from '../../node/data/check.js';
import { loadCsv, MAX_LISTED_BAD_ROWS, parseCsv } from '../../node/data/csv.js';
import { loadPngFolder } from '../../node/data/png-folder.js';
import { initNodeDir } from '../../node/keystore/init.js';
import { assertPassphraseStrength, resolvePassphrase } from '../../node/keystore/keystore.js';
import { initFederationManifest } from '../../node/manifest/federation-init.js';
import { readManifestFile } from '../../node/manifest/manifest-file.js';
import { canonicalJson, type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';

const manifest: FederationManifest = parseManifest({
  version: 1,
  federation: 'heart',
  seed: 1,
  model: { kind: 'mlp', hidden: [8] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'cp', kind: 'categorical', categories: ['1', '2', '3', '4'] },
  ],
  label: { name: 'num', positive: 'sick', negatives: ['healthy'] },
  rounds: 5,
  training: { localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
});

const errorOf = (f: () => unknown): { code?: string; fields?: Record<string, unknown>; message?: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: string; fields: Record<string, unknown>; message: string };
  }
  throw new Error('expected an error');
};

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fm-onb-'));

describe('CSV: bad rows, missing values, value maps, headers', () => {
  it('lists each bad row with its line (blank lines counted), column, value and reason', () => {
    const csv = ['age,cp,num', '60,2,sick', '', '61,9,healthy', '62,2,maybe', 'abc,2,sick', '63,2', ...Array(20).fill('64,1,healthy')].join(
      '\n',
    );
    const { report } = parseCsv(csv, manifest, { missing: 'drop', maxBadRowFraction: 0.5 });
    expect(report.badRowCount).toBe(4);
    expect(report.badRows).toEqual([
      expect.objectContaining({ line: 4, column: 'cp', value: '9', reason: expect.stringContaining('unknown category for cp') }),
      expect.objectContaining({ line: 5, column: 'num', value: 'maybe', reason: expect.stringContaining('unknown label') }),
      expect.objectContaining({ line: 6, column: 'age', value: 'abc', reason: expect.stringContaining('not a number') }),
      { line: 7, reason: '2 fields, header has 3' },
    ]);
    expect(report.kept).toBe(21);
  });

  it('counts rows dropped for a missing value (label included) apart from bad rows', () => {
    const csv = ['age,cp,num', '60,?,sick', '61,2,', '62,2,NA', '63,1,healthy', '64,1,sick'].join('\n');
    const { report } = parseCsv(csv, manifest, { missing: 'drop', maxBadRowFraction: 0 });
    expect(report).toMatchObject({ rows: 5, kept: 2, droppedMissing: 3, badRowCount: 0, badRows: [] });
  });

  it('caps the listed bad rows but counts every one; the refusal names the first rows', () => {
    const lines = ['age,cp,num', ...Array.from({ length: MAX_LISTED_BAD_ROWS + 500 }, (_, i) => `${i},7,sick`), '1,1,sick'];
    const { report } = parseCsv(lines.join('\n'), manifest, { missing: 'drop', maxBadRowFraction: 1 });
    expect(report.badRowCount).toBe(MAX_LISTED_BAD_ROWS + 500);
    expect(report.badRows).toHaveLength(MAX_LISTED_BAD_ROWS);
    const e = errorOf(() => parseCsv(lines.join('\n'), manifest, { missing: 'drop' }));
    expect(e.code).toBe('DATA_PARSE');
    expect(e.message).toContain('line 2, column cp = "7"');
    expect(e.fields).toMatchObject({ badRowCount: MAX_LISTED_BAD_ROWS + 500, rows: MAX_LISTED_BAD_ROWS + 501 });
  });

  it('maps label and category values from the config, and treats numerically equal codes as one', () => {
    // A site coding the label 0–4 (0 = healthy) and cp as 1.0 … 4.0.
    const csv = ['AGE,CP,Num', '60,4.0,0', '61,2,3', '62,1.00,1', '63,3,4'].join('\n');
    const values = { num: { '0': 'healthy', '1': 'sick', '2': 'sick', '3': 'sick', '4': 'sick' } };
    const { data, report } = parseCsv(csv, manifest, { missing: 'drop', values });
    expect(report.badRowCount).toBe(0);
    expect(Array.from(data.y)).toEqual([0, 1, 1, 1]);
    // cp 4.0 → one-hot [0,0,0,1]; 1.00 → [1,0,0,0]
    expect(Array.from(data.x.subarray(0, 5))).toEqual([60, 0, 0, 0, 1]);
    expect(Array.from(data.x.subarray(10, 15))).toEqual([62, 1, 0, 0, 0]);
    // A map key also matches numerically: '0.0' in the file is the key '0'.
    const again = parseCsv(['age,cp,num', '60,4,0.0', '61,4,1'].join('\n'), manifest, { missing: 'drop', values });
    expect(Array.from(again.data.y)).toEqual([0, 1]);
  });

  it('refuses a value map onto a value the manifest does not have, naming the field', () => {
    const e = errorOf(() => parseCsv('age,cp,num\n1,1,sick', manifest, { missing: 'drop', values: { num: { '1': 'ill' } } }));
    expect(e).toMatchObject({ code: 'DATA_PARSE', fields: { field: 'data.values.num.1', value: 'ill' } });
    const e2 = errorOf(() => parseCsv('age,cp,num\n1,1,sick', manifest, { missing: 'drop', values: { age: { '1': '2' } } }));
    expect(e2).toMatchObject({ code: 'DATA_PARSE', fields: { field: 'data.values.age' } });
  });

  it('matches headers ignoring case unless told not to, and refuses an ambiguous match', () => {
    const csv = 'Age,CP,NUM\n60,1,sick\n';
    expect(parseCsv(csv, manifest, { missing: 'drop' }).data.n).toBe(1);
    expect(errorOf(() => parseCsv(csv, manifest, { missing: 'drop', headerMatch: 'exact' }))).toMatchObject({
      code: 'DATA_PARSE',
      fields: { column: 'age' },
    });
    const e = errorOf(() => parseCsv('Age,AGE,cp,num\n1,2,1,sick\n', manifest, { missing: 'drop' }));
    expect(e.message).toContain('ignoring case');
    // An exact match wins over case-folded ones.
    expect(parseCsv('Age,age,cp,num\n1,2,1,sick\n', manifest, { missing: 'drop' }).data.x[0]).toBe(2);
  });

  it('a missing data file or folder is DATA_UNREADABLE naming the path, not an fs stack', () => {
    const dir = tmp();
    expect(errorOf(() => loadCsv(join(dir, 'nope.csv'), manifest, { missing: 'drop' }))).toMatchObject({
      code: 'DATA_UNREADABLE',
      fields: { path: join(dir, 'nope.csv'), reason: 'not found' },
    });
    expect(errorOf(() => loadCsv(dir, manifest, { missing: 'drop' }))).toMatchObject({ code: 'DATA_UNREADABLE', fields: { path: dir } });
    const images = parseManifest({ ...manifest, features: undefined, imageShape: [2, 2, 1], model: { kind: 'cnn' } });
    expect(errorOf(() => loadPngFolder(join(dir, 'imgs'), images))).toMatchObject({
      code: 'DATA_UNREADABLE',
      fields: { reason: 'not found' },
    });
  });
});

describe('config and keystore errors', () => {
  it('a top-level typo names the key and the nearest allowed one, without dumping the config', () => {
    const raw = parseYaml(configTemplate({ keystore: './keystore', peerId: '12D3KooWtest', address: '0xabc' }));
    raw.netwrok = raw.network;
    delete raw.network;
    const e = errorOf(() => parseNodeConfig(raw, '/x', {}, 'config.yaml')) as {
      code: string;
      message: string;
      fields: { issues: { field: string; rule: string }[] };
    };
    expect(e.code).toBe('CONFIG_INVALID');
    const typo = e.fields.issues.find((i) => i.field === 'netwrok');
    expect(typo?.rule).toContain("did you mean 'network'?");
    // The message names the key; it does not print the other sections (the RPC URL, the data path).
    expect(e.message).not.toContain('127.0.0.1:8545');
    expect(e.message).not.toContain('site.csv');
  });

  it('data.values and data.headerMatch are validated config fields', () => {
    const raw = parseYaml(configTemplate({ keystore: './k', peerId: 'p', address: '0xabc' }));
    raw.data.values = { num: { '0': 'healthy' } };
    expect(parseNodeConfig(raw, '/x', {}).data).toMatchObject({ values: { num: { '0': 'healthy' } }, headerMatch: 'case-insensitive' });
    raw.data.headerMatch = 'fuzzy';
    expect(errorOf(() => parseNodeConfig(raw, '/x', {}))).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('an unreadable keystore file is KEYSTORE_UNREADABLE naming it', async () => {
    const { loadKeystore } = await import('../../node/keystore/keystore.js');
    const dir = tmp();
    // A folder where the file should be (as root, permissions would not stop a read).
    mkdirSync(join(dir, 'identity.json'));
    writeFileSync(join(dir, 'ethereum.json'), '{}');
    await expect(loadKeystore(dir, 'x')).rejects.toMatchObject({
      code: 'KEYSTORE_UNREADABLE',
      fields: { path: join(dir, 'identity.json') },
    });
  });

  it('a missing passphrase file is KEYSTORE_PASSPHRASE_UNREADABLE naming it', () => {
    expect(errorOf(() => resolvePassphrase({ file: '/nonexistent/pass' }))).toMatchObject({
      code: 'KEYSTORE_PASSPHRASE_UNREADABLE',
      fields: { path: '/nonexistent/pass', reason: 'not found' },
    });
  });

  it('node init refuses a weak passphrase (length and variety floors), naming the rule not the secret', async () => {
    for (const weak of ['hunter2', 'aaaaaaaaaaaaaaaa', 'abababababab']) {
      const e = errorOf(() => assertPassphraseStrength(weak));
      expect(e.code).toBe('KEYSTORE_WEAK_PASSPHRASE');
      expect(e.message).not.toContain(weak);
    }
    expect(() => assertPassphraseStrength('correct horse battery')).not.toThrow();
    await expect(initNodeDir(join(tmp(), 'n'), 'short', { N: 1 << 10, r: 8, p: 1 })).rejects.toMatchObject({
      code: 'KEYSTORE_WEAK_PASSPHRASE',
    });
  });
});

describe('manifest files and `federation init`', () => {
  const sample = [
    'patient_id,Age,sex,cp,chol,diagnosis',
    ...Array.from({ length: 30 }, (_, i) => `P${i},${40 + i},${i % 2 ? 'F' : 'M'},${(i % 4) + 1},${200 + i},${i % 3 ? '0' : '1'}`),
  ].join('\n');

  it('infers kinds and categories, leaves identifiers out, and the YAML validates and parses back to the manifest', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'sample.csv'), sample);
    const { manifest: m, text } = initFederationManifest({
      federation: 'heart',
      sample: join(dir, 'sample.csv'),
      label: 'diagnosis',
      categorical: ['cp'],
    });
    expect(m.features).toEqual([
      { name: 'Age', kind: 'numeric' },
      { name: 'sex', kind: 'categorical', categories: ['F', 'M'] },
      { name: 'cp', kind: 'categorical', categories: ['1', '2', '3', '4'] },
      { name: 'chol', kind: 'numeric' },
    ]);
    expect(m.label).toEqual({ name: 'diagnosis', positive: '1', negatives: ['0'] });
    expect(text).toContain('# left out: "patient_id": 30 distinct text values');
    writeFileSync(join(dir, 'm.yaml'), text);
    writeFileSync(join(dir, 'm.json'), JSON.stringify(m));
    const yaml = readManifestFile(join(dir, 'm.yaml'));
    expect(canonicalJson(yaml.manifest)).toBe(canonicalJson(m));
    // The format does not change the hash.
    expect(readManifestFile(join(dir, 'm.json')).hash).toBe(yaml.hash);
    expect(yaml.hash).toBe(manifestHash(m));
  });

  it('with a DP target it writes dp and complete public statistics (the schema accepts them)', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'sample.csv'), sample);
    const { manifest: m, text } = initFederationManifest({
      federation: 'heart',
      sample: join(dir, 'sample.csv'),
      label: 'diagnosis',
      exclude: ['patient_id'],
      dpEpsilon: 4,
      publicSample: true,
    });
    expect(m.dp).toMatchObject({ epsilon: 4, delta: 1e-5, clipNorm: 1 });
    expect(Object.keys(m.publicStatistics!.features).sort()).toEqual(['Age', 'chol', 'cp', 'sex']);
    expect(text).toContain('must be PUBLIC knowledge');
    // Without declaring the sample public, no statistics of it go into a manifest.
    const e = errorOf(() =>
      initFederationManifest({ federation: 'heart', sample: join(dir, 'sample.csv'), label: 'diagnosis', dpEpsilon: 4 }),
    );
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', fields: { issues: [{ field: 'public-sample' }] } });
  });

  it('asks for the positive class when it cannot tell, listing the values; refuses an unknown label column', () => {
    const dir = tmp();
    writeFileSync(join(dir, 's.csv'), 'x,y\n1,benign\n2,malignant\n');
    const e = errorOf(() => initFederationManifest({ federation: 'f', sample: join(dir, 's.csv'), label: 'y' }));
    expect(e).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(e.message).toContain('benign, malignant');
    expect(
      initFederationManifest({ federation: 'f', sample: join(dir, 's.csv'), label: 'y', positive: 'malignant' }).manifest.label.negatives,
    ).toEqual(['benign']);
    expect(errorOf(() => initFederationManifest({ federation: 'f', sample: join(dir, 's.csv'), label: 'z' }))).toMatchObject({
      code: 'CONFIG_INVALID',
      fields: { issues: [{ field: 'label', value: 'z' }] },
    });
  });

  it('from an image folder: the classes are the label values, the shape is the first image', () => {
    const dir = tmp();
    for (const c of ['NORMAL', 'PNEUMONIA']) {
      mkdirSync(join(dir, c));
      const p = new PNG({ width: 5, height: 4 });
      writeFileSync(join(dir, c, 'a.png'), PNG.sync.write(p));
    }
    const { manifest: m } = initFederationManifest({ federation: 'xray', images: dir, positive: 'PNEUMONIA' });
    expect(m).toMatchObject({ imageShape: [4, 5, 1], model: { kind: 'cnn' }, label: { positive: 'PNEUMONIA', negatives: ['NORMAL'] } });
  });

  it('an unreadable or invalid manifest file is MANIFEST_INVALID naming the file', () => {
    const dir = tmp();
    expect(errorOf(() => readManifestFile(join(dir, 'none.yaml')))).toMatchObject({
      code: 'MANIFEST_INVALID',
      fields: { path: join(dir, 'none.yaml') },
    });
    writeFileSync(join(dir, 'bad.yaml'), 'version: 1\nfederation: x\n');
    const e = errorOf(() => readManifestFile(join(dir, 'bad.yaml')));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.message).toContain(join(dir, 'bad.yaml'));
    expect(e.message).toContain('rounds');
  });
});

describe('`fedmesh data check`', () => {
  it('reports rows, kept, dropped and every bad row, also as CSV, without a chain', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'site.csv'), ['age,cp,num', '1,1,sick', '2,x,sick', '3,?,healthy', ...Array(8).fill('4,2,healthy')].join('\n'));
    const raw = parseYaml(configTemplate({ keystore: './keystore', peerId: 'p', address: '0xabc' }));
    raw.manifest = './manifest.json';
    raw.data.path = './site.csv';
    raw.data.maxBadRowFraction = 0.5;
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify(raw));
    const r = checkSiteData(join(dir, 'config.yaml'), {});
    expect(r).toMatchObject({ ok: true, read: 11, kept: 9, droppedMissing: 1, badRowCount: 1 });
    expect(badRowsCsv(r)).toBe('line,column,value,reason\n3,cp,x,"unknown category for cp (the manifest\'s: 1, 2, 3, 4)"\n');
    raw.data.maxBadRowFraction = 0;
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify(raw));
    expect(checkSiteData(join(dir, 'config.yaml'), {})).toMatchObject({ ok: false, badRowCount: 1, badRows: [{ line: 3, column: 'cp' }] });
    expect(readFileSync(join(dir, 'site.csv'), 'utf8')).toContain('2,x,sick');
  });
});

describe('gas funding', () => {
  it('a study costs rounds × (open + finalize with every member) gas', () => {
    const c = studyCost(10, 3, 2n);
    expect(c.roundGas).toBe(ROUND_GAS.open + ROUND_GAS.finalizeBase + 3n * ROUND_GAS.finalizePerParticipant);
    expect(c.studyWei).toBe(c.roundGas * 10n * 2n);
  });

  it('refuses an empty account with NODE_ACCOUNT_UNFUNDED naming its balance and the study estimate; passes a funded one', async () => {
    const chain = await startInProcessChain();
    const empty = Wallet.createRandom().address;
    await expect(checkAccountFunded(chain.provider, empty, { rounds: 20, members: 3 })).rejects.toMatchObject({
      code: 'NODE_ACCOUNT_UNFUNDED',
      fields: { address: empty, balanceWei: '0', rounds: 20 },
    });
    const ok = await checkAccountFunded(chain.provider, chain.signers[0]!.address, { rounds: 20, members: 3 });
    expect(ok.balanceWei).toBeGreaterThan(ok.studyWei);
  }, 120_000);
});

describe('/status round history', () => {
  it('joined and abstained rounds come from the state folder, so a restart (kill -9) keeps them', async () => {
    const { NodeStore } = await import('../../node/store/node-store.js');
    const { roundHistory } = await import('../../node/daemon/daemon.js');
    const store = new NodeStore(tmp());
    store.setRoundState({ round: 1, stage: 'adopted', maskingUsed: true });
    // Round 2 was running when the node was killed: on disk it is only 'started'.
    store.setRoundState({ round: 2, stage: 'started', maskingUsed: true });
    store.setRoundState({ round: 3, stage: 'aborted', maskingUsed: true });
    store.setRoundState({ round: 4, stage: 'left', maskingUsed: true });
    store.setRoundState({ round: 10, stage: 'adopted', maskingUsed: true });
    expect(roundHistory(new NodeStore(store.dir))).toEqual({ joined: [1, 10], abstained: [2, 4] });
  });
});

describe('names in the audit, CSV test data', () => {
  it('a member name comes only from a data: JSON metadata URI (nothing is fetched)', async () => {
    const { memberName, nameMetadataURI } = await import('../../protocol/audit/member-name.js');
    expect(memberName(nameMetadataURI("St. Mary's, Lyon"))).toBe("St. Mary's, Lyon");
    expect(memberName(`data:application/json;base64,${Buffer.from(JSON.stringify({ name: 'Charité' })).toString('base64')}`)).toBe(
      'Charité',
    );
    expect(memberName('https://example.org/member.json')).toBeUndefined();
    expect(memberName('devnet://node-0')).toBeUndefined();
    expect(memberName('data:application/json,{"name":"a\\u0007b"}')).toBe('ab');
    expect(memberName('data:application/json,not json')).toBeUndefined();
  });

  it('the members file takes a name (stored as that URI), not together with a metadataURI', async () => {
    const { readMembersFile } = await import('../../node/chain/deployment.js');
    const dir = tmp();
    const address = Wallet.createRandom().address;
    writeFileSync(
      join(dir, 'm.json'),
      JSON.stringify({ members: [{ address, peerId: '12D3KooWx', name: 'Hôpital Nord', epsilonCap: 8 }] }),
    );
    const [m] = await readMembersFile(join(dir, 'm.json'));
    const { memberName } = await import('../../protocol/audit/member-name.js');
    expect(memberName(m!.metadataURI)).toBe('Hôpital Nord');
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ members: [{ address, peerId: 'p', name: 'x', metadataURI: 'y', epsilonCap: 1 }] }));
    await expect(readMembersFile(join(dir, 'b.json'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('the text report lists members with name, peer id and address, and names them in budgets', async () => {
    const { formatReportText } = await import('../../node/audit/report.js');
    const address = Wallet.createRandom().address;
    const report = {
      ok: true,
      federation: address,
      chainId: '31337',
      block: 1,
      initialModelHash: `0x${'0'.repeat(64)}`,
      m: 1,
      t: 1,
      rounds: [],
      members: [{ address, peerId: '12D3KooWabcdefghijklmnop', status: 'active', name: 'Hôpital Nord' }],
      findings: [],
      budgets: [{ member: address, epsilonSpent: 0.5, cap: 8, chainEpsilonSpent: 0.5, rdp: '0' }],
      credits: [],
      totalCredits: { expected: '0', onChain: '0' },
    };
    const text = formatReportText(report as never);
    expect(text).toContain(`Hôpital Nord  peer 12D3KooWabcd…klmnop  ${address}  active`);
    expect(text).toContain(`Hôpital Nord (${address.slice(0, 8)}…`);
    // The dashboard's sections (audit serve and --html): the member list and the budget table name it, escaped.
    const { renderSections } = await import('../../node/audit/html.js');
    const evil = { ...report, members: [{ ...report.members[0]!, name: '<b>Nord</b>' }] };
    const html = await renderSections(evil as never);
    expect(html.summary).toContain('data-name="&lt;b&gt;Nord&lt;/b&gt;"');
    expect(html.summary).toContain('data-peer-id="12D3KooWabcdefghijklmnop"');
    expect(html.budgets).toContain('&lt;b&gt;Nord&lt;/b&gt; <code>');
    expect(html.summary).not.toContain('<b>Nord</b>');
  });

  it('--test-data takes a CSV through the manifest schema (one-hot, label, standardised)', async () => {
    const { readCsvTestData } = await import('../../node/audit/test-data-csv.js');
    const dir = tmp();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'test.csv'), 'AGE,cp,num\n40,1,sick\n60,4,healthy\n50,2,healthy\n');
    const t = readCsvTestData(join(dir, 'test.csv'), join(dir, 'manifest.json'));
    expect(t.model).toEqual({ kind: 'mlp', inputShape: [5], hidden: [8] });
    expect(t.y).toEqual([1, 0, 0]);
    expect(t.x).toHaveLength(3);
    // age standardised over the set (mean 50): the first row is below, the second above.
    expect(t.x[0]![0]!).toBeLessThan(0);
    expect(t.x[1]![0]!).toBeGreaterThan(0);
    expect(() => readCsvTestData(join(dir, 'test.csv'), undefined)).toThrow(expect.objectContaining({ code: 'AUDIT_USAGE' }));
  });
});

describe('config defaults', () => {
  it('optional sections may be left out entirely and take the documented defaults', () => {
    const c = parseNodeConfig(
      {
        keystore: './k',
        manifest: './m.yaml',
        stateDir: './s',
        chain: { rpcUrl: 'http://127.0.0.1:8545', deployment: './d.json' },
        data: { kind: 'csv', path: './x.csv' },
      },
      '/srv',
      {},
    );
    expect(c.network).toEqual({ listen: ['/ip4/0.0.0.0/tcp/4001'], bootstrap: [], mdns: false });
    expect(c.ops).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.rounds.collectMs).toBe(60_000);
    expect(c.data).toMatchObject({ missing: 'drop', maxBadRowFraction: 0.05, headerMatch: 'case-insensitive' });
  });
});

describe('`fedmesh privacy plan`: rounds a study can afford', () => {
  it('is the largest R whose ε, computed independently by the accountant, stays within the budget', async () => {
    const { affordableRounds } = await import('../../protocol/privacy/affordable-rounds.js');
    const { computeEpsilon, planFederatedDpSgd, CHAIN_RDP_ORDERS } = await import('../../protocol/privacy/index.js');
    const q = { epsilon: 8, delta: 1e-5, sampleRate: 0.01, noiseMultiplier: 1.1, localEpochs: 1, orders: CHAIN_RDP_ORDERS };
    const fit = affordableRounds(q);
    const epsAfter = (r: number): number =>
      computeEpsilon({
        sampleRate: q.sampleRate,
        noiseMultiplier: q.noiseMultiplier,
        steps: r * fit.stepsPerRound,
        delta: q.delta,
        orders: q.orders,
      }).epsilon;
    expect(fit.rounds).toBeGreaterThan(0);
    expect(epsAfter(fit.rounds)).toBeLessThanOrEqual(8);
    expect(epsAfter(fit.rounds + 1)).toBeGreaterThan(8);
    expect(fit.epsilonSpent).toBeCloseTo(epsAfter(fit.rounds), 9);
    // The σ planned for a study of R rounds at ε affords at least R rounds.
    const plan = planFederatedDpSgd({
      targetEpsilon: 4,
      delta: 1e-5,
      sampleRate: 0.05,
      rounds: 20,
      localEpochs: 2,
      orders: CHAIN_RDP_ORDERS,
    });
    expect(
      affordableRounds({ ...q, epsilon: 4, sampleRate: 0.05, localEpochs: 2, noiseMultiplier: plan.noiseMultiplier }).rounds,
    ).toBeGreaterThanOrEqual(20);
    // Too little noise for even one round: 0 rounds.
    expect(affordableRounds({ ...q, epsilon: 0.01, noiseMultiplier: 0.5 }).rounds).toBe(0);
    expect(() => affordableRounds({ ...q, noiseMultiplier: 0 })).toThrow(expect.objectContaining({ code: 'PRIVACY_ARGUMENT_INVALID' }));
  });
});

describe('CLI exit codes and messages (in-process `main`)', () => {
  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const { main } = await import('../../node/cli/main.js');
    let out = '';
    let err = '';
    const o = process.stdout.write.bind(process.stdout);
    const e = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => {
      err += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: await main(argv), out, err };
    } finally {
      process.stdout.write = o;
      process.stderr.write = e;
    }
  }

  it('manifest validate: an invalid file exits 2 naming the file and field, without a stack trace', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'm.yaml'), 'version: 1\nfederation: Bad Name\n');
    const r = await cli('manifest', 'validate', join(dir, 'm.yaml'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`MANIFEST_INVALID: ${join(dir, 'm.yaml')}`);
    expect(r.err).toContain('federation');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('data check: exit 1 when the node would refuse the file, with every bad row listed', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'site.csv'), 'age,cp,num\n1,1,sick\n2,x,sick\n3,y,healthy\n');
    const raw = parseYaml(configTemplate({ keystore: './keystore', peerId: 'p', address: '0xabc' }));
    raw.manifest = './manifest.json';
    raw.data.path = './site.csv';
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify(raw));
    const r = await cli('data', 'check', '--config', join(dir, 'config.yaml'), '--bad-rows', join(dir, 'bad.csv'));
    expect(r.code).toBe(1);
    expect(r.out).toContain('line 3, column cp = "x"');
    expect(r.out).toContain('line 4, column cp = "y"');
    expect(r.err).toContain('DATA_REFUSED');
    expect(readFileSync(join(dir, 'bad.csv'), 'utf8').split('\n')[0]).toBe('line,column,value,reason');
  });

  it('chain deploy: a bad --fund amount is CONFIG_INVALID (exit 2) before anything is sent', async () => {
    const r = await cli(
      'chain',
      'deploy',
      '--rpc',
      'http://127.0.0.1:1',
      '--members',
      '/nonexistent.json',
      '--out',
      '/tmp/x.json',
      '--initial-model-hash',
      `0x${'1'.repeat(64)}`,
      '--fund',
      'lots',
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain('fund="lots"');
  });
});
