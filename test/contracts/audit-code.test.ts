/**
 * The audit compares the code at the federation's address (and its registry lens) with the
 * compiled contracts, immutables masked (protocol/audit/code.ts; red team F11 item 3). A real
 * deployment passes — its code differs from the compiled object exactly at the immutables — and
 * the same address with one byte of other code (`hardhat_setCode`: the metadata hash, as code
 * compiled from other sources would have) is CODE_MISMATCH naming the contract and the byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledAuditCode } from '../../node/audit/compiled-code.js';
import { runAudit } from '../../node/audit/run.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { checkRuntimeCode, maskImmutables } from '../../protocol/audit/code.js';
import { deployFed, type Fed, finalizeWith, INITIAL, openNext, recordFor, view, writeAuditDeployment } from './federation-fixture.js';

let chain: InProcessChain;
let node: LocalChainNode;
let fed: Fed;
let deploymentPath: string;

describe('the audit checks the deployed code (F11 item 3)', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
    node = await startLocalChainNode(0);
    fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5], cap: 10 });
    const o = await openNext(chain, fed);
    await finalizeWith(chain, fed, recordFor(chain, o.round, INITIAL, [1, 2, 3]), o.committee.slice(0, 2));
    deploymentPath = writeAuditDeployment(fed, node.chainId);
  }, 120_000);

  afterAll(async () => {
    await node?.close();
  });

  it('a real deployment: its code is the compiled one up to the immutables (federation and lens), no CODE_MISMATCH', async () => {
    const compiled = await compiledAuditCode();
    const lens = await view<string>(fed.contract, 'registryLens');
    for (const [name, address] of [
      ['FedmeshFederation', fed.address],
      ['FedmeshRegistryLens', lens],
    ] as const) {
      const code = (await chain.provider.send('eth_getCode', [address, 'latest'])) as string;
      const c = compiled[name]!;
      // The immutables hold the constructor's values: unmasked, the codes differ; masked, they are equal.
      expect(Object.keys(c.immutableReferences).length).toBeGreaterThan(0);
      expect(code.toLowerCase()).not.toBe(c.deployedBytecode.toLowerCase());
      expect(maskImmutables(code, c.immutableReferences)).toBe(maskImmutables(c.deployedBytecode, c.immutableReferences));
      expect(checkRuntimeCode(name, address, code, c)).toBeUndefined();
    }
    const report = await runAudit({ rpc: node.url, deployment: deploymentPath });
    expect(report.findings.filter((f) => f.code === 'CODE_MISMATCH')).toEqual([]);
  }, 120_000);

  it('one byte of other code at the address: CODE_MISMATCH naming the contract and the first differing byte', async () => {
    const code = (await chain.provider.send('eth_getCode', [fed.address, 'latest'])) as string;
    // A byte of the trailing CBOR metadata (the sources' IPFS hash): execution is unchanged.
    const at = (code.length - 2) / 2 - 10;
    const flipped = (Number.parseInt(code.slice(2 + 2 * at, 4 + 2 * at), 16) ^ 0xff).toString(16).padStart(2, '0');
    const other = `${code.slice(0, 2 + 2 * at)}${flipped}${code.slice(4 + 2 * at)}`;
    await chain.provider.send('hardhat_setCode', [fed.address, other]);
    try {
      const report = await runAudit({ rpc: node.url, deployment: deploymentPath });
      const f = report.findings.filter((x) => x.code === 'CODE_MISMATCH');
      expect(f.map((x) => [x.severity, x.evidence.contract, x.evidence.firstDifference])).toEqual([['error', 'FedmeshFederation', at]]);
      expect(report.ok).toBe(false);
    } finally {
      await chain.provider.send('hardhat_setCode', [fed.address, code]);
    }
  }, 120_000);

  it('an immutable range outside the code, or code of another length, is a mismatch', () => {
    const compiled = { deployedBytecode: '0x6001600055', immutableReferences: { '1': [{ start: 1, length: 1 }] } };
    expect(checkRuntimeCode('X', '0x0', '0x6007600055', compiled)).toBeUndefined();
    expect(checkRuntimeCode('X', '0x0', '0x6007600056', compiled)?.evidence).toMatchObject({ firstDifference: 4 });
    expect(checkRuntimeCode('X', '0x0', '0x600760005500', compiled)?.evidence).toMatchObject({ firstDifference: 5, runtimeBytes: 6 });
    expect(checkRuntimeCode('X', '0x0', '0x60', compiled)?.evidence).toMatchObject({ firstDifference: null });
    expect(maskImmutables('0x60', compiled.immutableReferences)).toBeUndefined();
  });
});
