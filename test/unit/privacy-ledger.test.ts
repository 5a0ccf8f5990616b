/**
 * Issue 14 item 3 (node side): the node's own privacy ledger (node/store/privacy-ledger.ts) and
 * the guard's use of it (node/services/privacy-guard.ts `guardDecision`).
 *
 * - a charge is on disk when `charge` returns: a separate OS process charges a round and is
 *   killed with SIGKILL before it "publishes" (a marker it would write next); a fresh ledger on
 *   the same folder holds the charge, and the guard counts it although the chain holds nothing
 *   for that round (an aborted round still counts against the member's own budget);
 * - a crash in the middle of a write (a temporary left, no rename) leaves the previous ledger;
 * - charges are idempotent per (round, word); a corrupt file refuses to open;
 * - the guard uses the lane-wise larger of chain and local spend.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addPacked, cAlpha, decodePacked, encodeEpsilonCap, epsilonFromPacked, fixedToNumber } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { guardDecision, maxPacked } from '../../node/services/privacy-guard.js';
import { FilePrivacyLedger, MemoryPrivacyLedger } from '../../node/store/privacy-ledger.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORD = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });
const WORD2 = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 2, clipNorm: 1, steps: 20 });
const C_ALPHA = cAlpha(1e-5);
/** The deployment the ledgers below charge to (a Hardhat chain id and a contract address). */
const STUDY = { chainId: 31337n, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;
const at = (round: number, dpParams: bigint) => ({ ...STUDY, round, dpParams });

/**
 * A child process that does what the round driver does — charge, then publish — but is killed
 * (SIGKILL, no exit handlers) between the two.
 */
function chargeThenCrash(dir: string, round: number, word: bigint): { status: number | null; signal: NodeJS.Signals | null } {
  const script = `
    import { writeFileSync } from 'node:fs';
    import { FilePrivacyLedger } from './node/store/privacy-ledger.ts';
    const ledger = new FilePrivacyLedger(${JSON.stringify(dir)}, { chainId: ${STUDY.chainId}n, contract: '${STUDY.contract}' });
    ledger.charge(${round}, ${word}n);
    process.kill(process.pid, 'SIGKILL');
    writeFileSync(${JSON.stringify(join(dir, 'published'))}, 'input sent');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, signal: r.signal };
}

describe('local privacy ledger', () => {
  it('a charge survives a crash between writing it and publishing the input, and the guard counts it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-ledger-'));
    const r = chargeThenCrash(dir, 4, WORD);
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(dir, 'published'))).toBe(false);
    const ledger = new FilePrivacyLedger(dir, STUDY);
    expect(ledger.entries()).toEqual([at(4, WORD)]);
    expect(ledger.spent()).toBe(declaredSpend(WORD));
    // The chain charged nothing (the round never finalized with this input): the guard still does.
    const cap = encodeEpsilonCap(100);
    const withLedger = guardDecision(5, 0n, ledger.spent(), WORD, C_ALPHA, cap);
    const chainOnly = guardDecision(5, 0n, undefined, WORD, C_ALPHA, cap);
    expect(withLedger.epsilonSpent).toBe(fixedToNumber(epsilonFromPacked(declaredSpend(WORD), C_ALPHA)));
    // (ε of zero RDP is the conversion's floor min_α c_α, not 0.)
    expect(chainOnly.epsilonSpent).toBe(fixedToNumber(epsilonFromPacked(0n, C_ALPHA)));
    expect(withLedger.epsilonSpent).toBeGreaterThan(chainOnly.epsilonSpent);
    expect(withLedger.epsilonAfterRound).toBeGreaterThan(chainOnly.epsilonAfterRound);
    // A cap that admits exactly one round: the crashed release used it, so the node abstains.
    const oneRound = epsilonFromPacked(declaredSpend(WORD), C_ALPHA);
    expect(guardDecision(5, 0n, undefined, WORD, C_ALPHA, oneRound).exhausted).toBe(false);
    expect(guardDecision(5, 0n, ledger.spent(), WORD, C_ALPHA, oneRound).exhausted).toBe(true);
  });

  it('a crash mid-write (temporary, no rename) leaves the previous ledger; temporaries are swept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-ledger-'));
    new FilePrivacyLedger(dir, STUDY).charge(1, WORD);
    writeFileSync(join(dir, 'privacy-ledger.json.tmp-999-1'), '{"version":2,"entries":[{"round":1,');
    const reopened = new FilePrivacyLedger(dir, STUDY);
    expect(reopened.entries()).toEqual([at(1, WORD)]);
    expect(readdirSync(dir)).toEqual(['privacy-ledger.json']);
  });

  it('charges are idempotent per (round, word), add up lane by lane, and a round without DP spends nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-ledger-'));
    for (const ledger of [new FilePrivacyLedger(dir, STUDY), new MemoryPrivacyLedger(STUDY)]) {
      ledger.charge(1, WORD);
      ledger.charge(1, WORD);
      ledger.charge(2, WORD2);
      ledger.charge(3, NO_DP_PARAMS);
      expect(ledger.entries()).toEqual([at(1, WORD), at(2, WORD2)]);
      expect(ledger.spent()).toBe(addPacked(declaredSpend(WORD), declaredSpend(WORD2)));
      expect(() => ledger.charge(0, WORD)).toThrow(RangeError);
      expect(() => ledger.charge(4, 1n << 200n)).toThrow(expect.objectContaining({ code: expect.any(String) }));
    }
    expect(new FilePrivacyLedger(dir, STUDY).spent()).toBe(addPacked(declaredSpend(WORD), declaredSpend(WORD2)));
    expect(JSON.parse(readFileSync(join(dir, 'privacy-ledger.json'), 'utf8')).version).toBe(2);
  });

  it('refuses a corrupt ledger rather than forget spent budget', () => {
    for (const text of [
      '{"version":1,"entries":[{"round":1',
      '{"version":3,"entries":[]}',
      '{"version":1,"entries":[{"round":1,"dpParams":"12"}]}',
      // version 2 entries must name their deployment
      '{"version":2,"entries":[{"round":1,"dpParams":"0x1"}]}',
      '{"version":2,"entries":[{"chainId":"31337","contract":"0x12","round":1,"dpParams":"0x1"}]}',
    ]) {
      const dir = mkdtempSync(join(tmpdir(), 'fm-ledger-'));
      writeFileSync(join(dir, 'privacy-ledger.json'), text);
      expect(() => new FilePrivacyLedger(dir, STUDY)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
    }
  });

  it('the guard takes the lane-wise larger of the chain and the local spend', () => {
    const a = declaredSpend(WORD);
    const b = declaredSpend(WORD2);
    const m = maxPacked(a, addPacked(b, b));
    const la = decodePacked(a);
    const lb = decodePacked(addPacked(b, b));
    // biome-ignore lint/complexity/useMathMinMax: bigint lanes (Math.max takes numbers)
    expect(decodePacked(m)).toEqual(la.map((x, i) => (x > lb[i]! ? x : lb[i]!)));
    expect(maxPacked(a, 0n)).toBe(a);
    expect(maxPacked(0n, a)).toBe(a);
    // The chain may hold more than the ledger (a lost state folder): the larger still wins.
    const cap = encodeEpsilonCap(100);
    expect(guardDecision(3, addPacked(a, a), a, WORD, C_ALPHA, cap)).toEqual(
      guardDecision(3, addPacked(a, a), undefined, WORD, C_ALPHA, cap),
    );
  });
});
