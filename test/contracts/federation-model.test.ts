/**
 * The stateful model-based test of FedmeshFederation (./federation-model.ts) in `npm test`: a
 * slice of command sequences on the real bytecode. `npm run fuzz` runs ≥ 10^4 steps.
 * FEDERATION_MODEL_RUNS sets the number of sequences (default 3); FUZZ_SEED fixes the seed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { modelStats, runFederationModel } from './federation-model.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

describe('FedmeshFederation against its model', () => {
  it('random registry changes, caps, rounds, valid and invalid charges and finalizations, aborts and time jumps keep every invariant', async () => {
    const runs = Number(process.env.FEDERATION_MODEL_RUNS ?? 3);
    const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
    const steps = await runFederationModel(chain, runs, seed);
    expect(steps).toBeGreaterThan(0);
    // The sequences must reach rounds, or the invariants are checked on an idle registry only.
    expect(modelStats.opened).toBeGreaterThan(0);
    expect(modelStats.finalized + modelStats.refused).toBeGreaterThan(0);
    console.log(`federation model: ${JSON.stringify(modelStats)}`);
  }, 600_000);
});
