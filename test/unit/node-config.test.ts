import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configTemplate, loadNodeConfig, NodeConfigError, parseNodeConfig } from '../../node/config/node-config.js';

const template = configTemplate({ keystore: './keystore', peerId: '12D3KooWtest', address: '0xabc' });

describe('node config', () => {
  it('the template written by `node init` is itself valid, with paths resolved against its folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-cfg-'));
    writeFileSync(join(dir, 'config.yaml'), template);
    const c = loadNodeConfig(join(dir, 'config.yaml'), {});
    expect(c.keystore).toBe(join(dir, 'keystore'));
    expect(c.data.path).toBe(join(dir, 'data/site.csv'));
    expect(c.chain).toEqual({
      rpcUrl: 'http://127.0.0.1:8545',
      deployment: join(dir, 'deployment.json'),
      confirmations: 1,
      pollMs: 1000,
      peerProofs: 'require',
    });
    expect(c.ops).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('lets the environment override the RPC URL and passphrase file', () => {
    const c = parseNodeConfig(parse(template), '/srv/fedmesh', {
      FEDMESH_RPC_URL: 'https://rpc.example:8545',
      FEDMESH_PASSPHRASE_FILE: 'pw',
    });
    expect(c.chain.rpcUrl).toBe('https://rpc.example:8545');
    expect(c.passphraseFile).toBe('/srv/fedmesh/pw');
  });

  it('names the field, the value and the rule of every error', () => {
    const raw = parse(template);
    raw.chain.confirmations = -1;
    raw.network.listen = ['tcp://0.0.0.0:4001'];
    raw.data.kind = 'parquet';
    raw.chain.peerProofs = 'trust-everyone';
    raw.surprise = true;
    try {
      parseNodeConfig(raw, '/x', {}, 'config.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NodeConfigError);
      const err = e as NodeConfigError;
      expect(err.code).toBe('CONFIG_INVALID');
      const byField = Object.fromEntries(err.fields.issues.map((i) => [i.field, i]));
      expect(byField['chain.confirmations']!.value).toBe(-1);
      expect(byField['network.listen.0']!.value).toBe('tcp://0.0.0.0:4001');
      expect(byField['network.listen.0']!.rule).toContain('TCP multiaddr');
      expect(byField['data.kind']!.value).toBe('parquet');
      expect(byField['chain.peerProofs']!.value).toBe('trust-everyone');
      expect(byField['chain.peerProofs']!.rule).toMatch(/require.*admin-trust/);
      expect(byField.surprise!.rule).toContain('unknown key');
      expect(err.message).toContain('config.yaml');
    }
  });

  it('refuses committee.duty: false rather than ignoring it (committees are drawn on chain)', () => {
    const raw = parse(template);
    raw.committee = { duty: false };
    try {
      parseNodeConfig(raw, '/x', {}, 'config.yaml');
      expect.unreachable();
    } catch (e) {
      const err = e as NodeConfigError;
      const issue = err.fields.issues.find((i) => i.field === 'committee.duty');
      expect(issue?.value).toBe(false);
      expect(issue?.rule).toContain('drawn on chain');
    }
  });

  it('reports unreadable YAML as CONFIG_UNREADABLE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-cfg-'));
    writeFileSync(join(dir, 'bad.yaml'), 'a: [1, 2\n');
    expect(() => loadNodeConfig(join(dir, 'bad.yaml'), {})).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE' }));
  });
});
