/**
 * Red team (H10, finding F19): since 8416328 the auditor compares the deployed runtime code with
 * the compiled FedmeshFederation "byte for byte except the immutables", whose values are "read as
 * views and checked on their own" (protocol/audit/code.ts). The immutables are whatever the
 * deployment's constructor code wrote — a deployment made by other constructor code (the runtime is
 * what is compared, never the creation code) skips the constructor's rules. The auditor re-checked
 * c_α against δ (F10), but not the committee rule 2t > m (nor t ≥ 1, m ≤ 32, seedDelay ≤ 64): a
 * deployment whose `_threshold` immutable is 1 at m = 3 finalizes rounds with ONE committee
 * signature and audited clean. Fixed: protocol/audit/constructor-rules.ts checks every
 * constructor rule on the views (CONSTRUCTOR_RULE_BROKEN).
 *
 * Simulated here by writing the patched runtime over a real deployment with `hardhat_setCode` (what a
 * custom constructor would have produced). The first test shows the code check alone passes it; the
 * second asserts the safe behaviour (F19 in /work/notes/redteam-findings.md, fixed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { deployFed, type Fed, finalizeWith, openNext, recordFor, view, writeAuditDeployment } from './federation-fixture.js';

const SOURCE = 'contracts/FedmeshFederation.sol';

interface AstNode {
  readonly nodeType?: string;
  readonly name?: string;
  readonly id?: number;
  readonly [k: string]: unknown;
}

/** The AST id of the state variable `name` in `ast` (depth-first). */
function declarationId(ast: unknown, name: string): number | undefined {
  if (ast === null || typeof ast !== 'object') return undefined;
  const n = ast as AstNode;
  if (n.nodeType === 'VariableDeclaration' && n.name === name && typeof n.id === 'number') return n.id;
  for (const v of Object.values(n)) {
    const found = Array.isArray(v) ? v.map((x) => declarationId(x, name)).find((x) => x !== undefined) : declarationId(v, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

let chain: InProcessChain;
let node: LocalChainNode;
let fed: Fed;
let deploymentPath: string;

describe('immutables outside the constructor’s rules (F19)', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
    node = await startLocalChainNode(0);
    fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    // The threshold immutable set to 1, as a deployment made by other constructor code would have it.
    const info = await chain.hre.artifacts.getBuildInfo(`${SOURCE}:FedmeshFederation`);
    const id = declarationId(info?.output.sources[SOURCE]?.ast, '_threshold');
    const compiled = info?.output.contracts[SOURCE]?.FedmeshFederation as unknown as
      | { evm: { deployedBytecode: { immutableReferences: Record<string, { start: number; length: number }[]> } } }
      | undefined;
    if (compiled === undefined) throw new Error('no compiler output for FedmeshFederation');
    const refs = compiled.evm.deployedBytecode.immutableReferences[String(id)];
    expect(refs?.length).toBeGreaterThan(0);
    const code = (await chain.provider.send('eth_getCode', [fed.address, 'latest'])) as string;
    const body = code.slice(2).split('');
    for (const { start, length } of refs!) {
      const one = '1'.padStart(2 * length, '0');
      for (let i = 0; i < 2 * length; i++) body[2 * start + i] = one[i]!;
    }
    await chain.provider.send('hardhat_setCode', [fed.address, `0x${body.join('')}`]);
    expect(await view<bigint>(fed.contract, 'threshold')).toBe(1n);
    deploymentPath = writeAuditDeployment(fed, node.chainId, { m: 3, t: 1 });
    // A round finalized by one committee member.
    const { round, committee } = await openNext(chain, fed);
    const head = (await view<Hex32>(fed.contract, 'headModelHash')) as Hex32;
    await finalizeWith(chain, fed, recordFor(chain, round, head, [1, 2, 3]), committee.slice(0, 1));
  }, 180_000);

  afterAll(async () => {
    await node?.close();
  });

  const errors = async () =>
    (await runAudit({ rpc: node.url, deployment: deploymentPath })).findings.filter(
      (f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID',
    );

  it('the code check alone passes it: a round signed by 1 of 3 committee members, no CODE_MISMATCH', async () => {
    expect((await errors()).map((f) => f.code)).not.toContain('CODE_MISMATCH');
  }, 60_000);

  // F19, fixed: the constructor's rules are checked again on the views.
  it('safe behaviour: a federation whose threshold breaks 2t > m is an error', async () => {
    expect((await errors()).length).toBeGreaterThan(0);
    expect((await errors()).map((f) => [f.code, f.evidence.committeeSize, f.evidence.threshold])).toEqual([
      ['CONSTRUCTOR_RULE_BROKEN', 3, 1],
    ]);
  }, 60_000);
});
