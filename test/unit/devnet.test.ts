import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestHash, parseManifest } from '../../protocol/manifest.js';
import { loadNodeConfig } from '../../node/config/node-config.js';
import { loadCsv } from '../../node/data/csv.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { loadKeystore } from '../../node/keystore/keystore.js';
import { readMembersFile } from '../../node/chain/deployment.js';

describe('fedmesh devnet (create)', () => {
  it('writes keys, valid configs, a manifest and data splits for N nodes', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-devnet-')), 'net');
    const d = await createDevnet({
      dir,
      peers: 3,
      dataset: 'breast-cancer',
      seed: 4,
      rounds: 3,
      basePort: 4300,
      rpcUrl: 'http://127.0.0.1:8545',
      scrypt: { N: 1 << 10, r: 8, p: 1 },
    });
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    expect(manifestHash(manifest)).toBe(d.manifestHash);
    let rows = 0;
    for (const n of d.nodes) {
      const cfg = loadNodeConfig(n.config, {});
      expect(cfg.network.listen).toEqual([n.listen]);
      expect(cfg.network.bootstrap).toHaveLength(2);
      expect(cfg.network.bootstrap.every((b) => b.includes('/p2p/12D3KooW'))).toBe(true);
      const keys = await loadKeystore(cfg.keystore, readFileSync(cfg.passphraseFile!, 'utf8').trim());
      expect(keys.peerId).toBe(n.peerId);
      const { data, report } = loadCsv(cfg.data.path, manifest, { missing: cfg.data.missing });
      expect(report.badRows).toEqual([]);
      expect(data.featureShape).toEqual([30]);
      rows += data.n;
    }
    expect(rows).toBe(456); // the 80 % training split, all of it, once
    expect(existsSync(join(dir, 'test.csv'))).toBe(true);
    // members.json is what `fedmesh chain deploy` reads: validated by its own parser.
    const members = await readMembersFile(join(dir, 'members.json'));
    expect(members.map((m) => m.peerId)).toEqual(d.nodes.map((n) => n.peerId));
    expect(members.map((m) => m.account)).toEqual(d.nodes.map((n) => n.address));
    const plan = JSON.parse(readFileSync(join(dir, 'deploy-plan.json'), 'utf8'));
    expect(plan.manifestHash).toBe(d.manifestHash);
    expect(plan.initialModelHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(plan.committee).toEqual({ size: 3, threshold: 2 });
    expect(d.commands.filter((c) => c.includes('node start'))).toHaveLength(3);
  });
});
