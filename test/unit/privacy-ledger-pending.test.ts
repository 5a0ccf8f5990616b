/**
 * Pending masked inputs in the node's privacy ledger (node/store/privacy-ledger.ts `chargePending`,
 * `settle`; issue #13 "a late masker still charges its local ledger"): a pending entry counts like
 * any charge until the chain settles it; 'charged' keeps it as a plain entry, 'withheld' keeps it
 * in the file but stops counting it; settling is durable, touches only this deployment's pending
 * entries of that round, and a file without statuses still opens (its entries released). The guard's use
 * against the real contract: test/contracts/privacy-ledger-settle.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilePrivacyLedger, MemoryPrivacyLedger } from '../../node/store/privacy-ledger.js';
import { addPacked } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';

const WORD = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });
const STUDY = { chainId: 31337n, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;
const OTHER = { chainId: 31337n, contract: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' } as const;
const SPEND = declaredSpend(WORD);

describe('privacy ledger: pending masked inputs', () => {
  it('pending counts until settled; withheld stops counting, charged stays; only this deployment’s round moves', () => {
    const base = new MemoryPrivacyLedger(OTHER);
    base.chargePending(3, WORD); // another study's pending release of its round 3
    const ledger = new MemoryPrivacyLedger(STUDY, base.entries());
    ledger.chargePending(3, WORD);
    ledger.chargePending(4, WORD);
    ledger.chargePending(4, WORD); // idempotent
    expect(ledger.spent()).toBe(addPacked(addPacked(SPEND, SPEND), SPEND));
    expect(ledger.pending().map((e) => e.round)).toEqual([3, 4]);
    expect(ledger.settle(3, 'withheld')).toBe(1);
    expect(ledger.settle(3, 'withheld')).toBe(0); // nothing pending any more
    expect(ledger.settle(4, 'charged')).toBe(1);
    expect(ledger.pending()).toEqual([]);
    // The other study's entry is untouched and still counted (patients are the same).
    expect(ledger.entries()).toEqual([
      { ...OTHER, round: 3, dpParams: WORD, status: 'pending' },
      { ...STUDY, round: 3, dpParams: WORD, status: 'withheld' },
      { ...STUDY, round: 4, dpParams: WORD },
    ]);
    expect(ledger.spent()).toBe(addPacked(SPEND, SPEND));
    // A withheld round is not charged again by a replayed charge of the same word.
    ledger.chargePending(3, WORD);
    expect(ledger.spent()).toBe(addPacked(SPEND, SPEND));
  });

  it('settling is durable; a file without statuses opens as released entries; an unknown status refuses to open', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-ledger-pending-'));
    const ledger = new FilePrivacyLedger(dir, STUDY);
    ledger.chargePending(7, WORD);
    ledger.charge(8, WORD);
    expect(new FilePrivacyLedger(dir, STUDY).pending().map((e) => e.round)).toEqual([7]);
    ledger.settle(7, 'withheld');
    const reopened = new FilePrivacyLedger(dir, STUDY);
    expect(reopened.entries()).toEqual([
      { ...STUDY, round: 7, dpParams: WORD, status: 'withheld' },
      { ...STUDY, round: 8, dpParams: WORD },
    ]);
    expect(reopened.spent()).toBe(SPEND);
    expect(JSON.parse(readFileSync(join(dir, 'privacy-ledger.json'), 'utf8')).version).toBe(2);
    const v2 = mkdtempSync(join(tmpdir(), 'fedmesh-ledger-v2-'));
    const entry = { chainId: '31337', contract: STUDY.contract, round: 2, dpParams: `0x${WORD.toString(16)}` };
    writeFileSync(join(v2, 'privacy-ledger.json'), JSON.stringify({ version: 2, entries: [entry] }));
    expect(new FilePrivacyLedger(v2, STUDY).entries()).toEqual([{ ...STUDY, round: 2, dpParams: WORD }]);
    const legacy = { round: 2, dpParams: entry.dpParams, status: 'withheld' };
    writeFileSync(join(v2, 'privacy-ledger.json'), JSON.stringify({ version: 1, entries: [legacy] }));
    expect(() => new FilePrivacyLedger(v2, STUDY)).toThrow(/status/);
    writeFileSync(join(v2, 'privacy-ledger.json'), JSON.stringify({ version: 2, entries: [{ ...entry, status: 'gone' }] }));
    expect(() => new FilePrivacyLedger(v2, STUDY)).toThrow(/status/);
  });
});
