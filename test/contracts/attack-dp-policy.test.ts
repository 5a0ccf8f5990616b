/**
 * Red team (issue 14 item 5, M-4 one layer up): a federation whose manifest declares DP must be
 * deployed with the DP policy on, so that a participant training without DP is refused on chain.
 * This was H8's finding F4 (`fedmesh chain deploy --manifest` left dpRequired false), fixed in
 * 057922f; the test deploys through the path `fedmesh chain deploy` takes (HTTP JSON-RPC) and
 * then performs the attack: a non-DP line in a finalize is refused with FedmeshRoundsDpRequired.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDNodeWallet, JsonRpcProvider, Mnemonic, Network } from 'ethers';
import { TASK_NODE_CREATE_SERVER } from 'hardhat/builtin-tasks/task-names.js';
import type { JsonRpcServer } from 'hardhat/types/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployFederationToRpc, parseDeployOptions } from '../../node/chain/deployment.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { canonicalRoundRecord, fullServiceMask } from '../../protocol/chain/record.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { parseManifest } from '../../protocol/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-attack-dp-'));
const root = HDNodeWallet.fromMnemonic(
  Mnemonic.fromPhrase('test test test test test test test test test test test junk'),
  "m/44'/60'/0'/0",
);
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
};

describe('a DP manifest deploys a federation with the DP policy', () => {
  let server: JsonRpcServer;
  let url: string;
  beforeAll(async () => {
    const chain = await startInProcessChain();
    server = await chain.hre.run(TASK_NODE_CREATE_SERVER, { hostname: '127.0.0.1', port: 0, provider: chain.hre.network.provider });
    url = `http://127.0.0.1:${(await server.listen()).port}`;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it('fedmesh chain deploy --manifest with dp sets dpRequired, and a non-DP line is refused on chain', async () => {
    const manifest = parseManifest({
      version: 1,
      federation: 'attack-dp',
      seed: 7,
      model: { kind: 'mlp', hidden: [8] },
      features: [{ name: 'x', kind: 'numeric' }],
      label: { name: 'y', positive: '1', negatives: ['0'] },
      rounds: 3,
      training: { localEpochs: 1, batchSize: 8, learningRate: 0.01 },
      committee: { size: 3, threshold: 2 },
      dp: { epsilon: 4, delta: 1e-5, clipNorm: 1, sampleRate: 0.05 },
      publicStatistics: { features: { x: { min: 0, max: 1, center: 0.5, scale: 0.5, fill: 0.5 } } },
    });
    const members = file('members.json', {
      members: [0, 1, 2].map((i) => ({ address: root.deriveChild(40 + i).address, peerId: `12D3KooWdp${i}`, epsilonCap: 4 })),
    });
    const deployment = await deployFederationToRpc(
      parseDeployOptions({
        rpc: url,
        members,
        manifest: file('manifest.json', manifest),
        out: join(dir, 'd.json'),
        initialModelHash: `0x${'22'.repeat(32)}`,
      }),
    );
    // cacheTimeout -1 as the node's own providers (daemon, deployment): ethers otherwise shares an
    // identical request made within 250 ms, and round 1's openRound sends two identical calls
    // back to back (schedule, then open), so the second reused the first's nonce and gas estimate.
    const provider = new JsonRpcProvider(url, Network.from(31337), { staticNetwork: true, cacheTimeout: -1 });
    try {
      const client = new EthersFederationClient(provider, deployment.addresses.FedmeshFederation, { fromBlock: deployment.deployBlock });
      expect((await client.info()).dpRequired).toBe(true);
      // The attack: member 0 trains without DP and the committee (all three) records its line.
      const wallets = [0, 1, 2].map((i) => root.deriveChild(40 + i).connect(provider));
      const as = (i: number) =>
        new EthersFederationClient(wallets[i]!, deployment.addresses.FedmeshFederation, { fromBlock: deployment.deployBlock });
      const opened = await as(0).openRound();
      const record = canonicalRoundRecord({
        round: opened.round,
        prevModelHash: await client.headModelHash(),
        modelHash: `0x${'33'.repeat(32)}`,
        aggregateHash: `0x${'44'.repeat(32)}`,
        serviceMask: fullServiceMask(3),
        participants: [{ member: wallets[0]!.address, dpParams: NO_DP_PARAMS, spend: 0n }],
      });
      const entry = await as(0).signParticipantEntry(participantEntry(opened.round, wallets[0]!.address, NO_DP_PARAMS));
      const sigs = await Promise.all([0, 1].map((i) => as(i).signRecord(record)));
      const e = await as(2)
        .finalizeRound(record, [entry], sigs)
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(isFedmeshError(e, 'CHAIN_DP_REQUIRED'), String(e)).toBe(true);
      expect((e as { fields: { account: string } }).fields.account).toBe(wallets[0]!.address);
    } finally {
      provider.destroy();
    }
  });
});
