/**
 * Red-team attack (H8 F5, fixed by H12): the local privacy ledger was not bound to a deployment.
 * Entries were (round, dpParams), a charge idempotent per that pair, and the file lives in
 * `stateDir`, which nothing ties to a contract. A site taking part in a second study (a new
 * contract: rounds from 1 again, same manifest ⇒ same dpParams) from the same state folder had
 * every release of rounds 1…R deduplicated against the first study's entries, so the guard let
 * it release the same patients' data again uncharged locally. Now every entry carries its
 * deployment (chainId, contract; node/store/privacy-ledger.ts), a charge is idempotent per
 * (deployment, round, dpParams), and spent() sums every deployment's releases (same patients).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addPacked } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { FilePrivacyLedger, UNKNOWN_DEPLOYMENT } from '../../node/store/privacy-ledger.js';

const WORD = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });
const STUDY_A = { chainId: 31337n, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
const STUDY_B = { chainId: 31337n, contract: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' };
/** The same contract address on another chain is another deployment too. */
const STUDY_C = { chainId: 11155111n, contract: STUDY_A.contract };

const times = (n: number): bigint => {
  let sum = 0n;
  for (let i = 0; i < n; i++) sum = addPacked(sum, declaredSpend(WORD));
  return sum;
};

describe('attack: releases in a second federation are not absorbed by the first one’s ledger entries', () => {
  it('three releases in study A, then three in study B and three in study C from the same state folder: nine charges', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'fm-attack-ledger-'));
    const a = new FilePrivacyLedger(stateDir, STUDY_A);
    for (const round of [1, 2, 3]) a.charge(round, WORD);
    // The site joins study B (a new contract); the node restarts on the same stateDir.
    const b = new FilePrivacyLedger(stateDir, STUDY_B);
    for (const round of [1, 2, 3]) b.charge(round, WORD);
    expect(b.spent()).toBe(times(6));
    const c = new FilePrivacyLedger(stateDir, STUDY_C);
    for (const round of [1, 2, 3, 3]) c.charge(round, WORD);
    // Still idempotent within one deployment (round 3 of C charged once), and durable.
    expect(new FilePrivacyLedger(stateDir, STUDY_A).spent()).toBe(times(9));
  });

  it('a version-1 ledger (no deployment) is migrated explicitly: its releases still count and never absorb a new one', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'fm-attack-ledger-'));
    const v1 = { version: 1, entries: [1, 2, 3].map((round) => ({ round, dpParams: `0x${WORD.toString(16)}` })) };
    writeFileSync(join(stateDir, 'privacy-ledger.json'), JSON.stringify(v1));
    const ledger = new FilePrivacyLedger(stateDir, STUDY_B);
    expect(ledger.spent()).toBe(times(3));
    expect(ledger.entries().every((e) => e.chainId === UNKNOWN_DEPLOYMENT.chainId)).toBe(true);
    for (const round of [1, 2, 3]) ledger.charge(round, WORD);
    expect(ledger.spent()).toBe(times(6));
    const file = JSON.parse(readFileSync(join(stateDir, 'privacy-ledger.json'), 'utf8')) as { version: number; entries: unknown[] };
    expect({ version: file.version, entries: file.entries.length }).toEqual({ version: 2, entries: 6 });
    expect(new FilePrivacyLedger(stateDir, STUDY_B).spent()).toBe(times(6));
  });
});
