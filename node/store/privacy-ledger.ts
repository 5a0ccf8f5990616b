/**
 * The node's own privacy ledger (issue 14 item 3): every DP-SGD release a participant makes is
 * charged HERE, durably, before its masked input or plaintext update is published. The chain
 * charges a member only for rounds that finalize with its input in the sum; a round that is
 * aborted after the input left (the committee saw it, or a t-coalition could have unmasked it)
 * charges nothing on chain, yet the release happened. The privacy guard therefore uses the
 * lane-wise larger of this ledger's total and the chain's (node/services/privacy-guard.ts): each
 * lane of either is an upper bound on the member's RDP at that order, so their maximum is too.
 *
 * Crash safety: `charge` returns only after the entry is on disk (write to a temporary, fsync,
 * rename, fsync the folder: ./atomic.ts). A crash between the charge and the publication leaves
 * a charge for a release that never happened — an over-statement, the safe side. There is no
 * window in which a release happened and the charge can be lost.
 *
 *   privacy-ledger.json   { version: 1, entries: [{ round, dpParams: "0x…" }] }
 *
 * An unreadable or malformed ledger refuses to open (STORE_CORRUPT): treating it as empty would
 * forget spent budget.
 */
import { join } from 'node:path';
import { addPacked } from '../../protocol/chain/budget.js';
import { declaredSpend, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { readJsonIfExists, sweepTemporaries, writeFileAtomic } from './atomic.js';
import { StoreError } from './node-store.js';

/** One charged release: the round and the declared DP-SGD word (protocol/chain/dp-params.ts). */
export interface LedgerEntry {
  readonly round: number;
  readonly dpParams: bigint;
}

/** The port the privacy guard charges through; a file and an in-memory implementation. */
export interface LocalPrivacyLedger {
  /** Packed RDP (the chain's 8 lanes, 1e-6 units) of every release charged so far. */
  spent(): bigint;
  /** Charges the release of round `round` with `dpParams`; durable when it returns. Idempotent per (round, dpParams). */
  charge(round: number, dpParams: bigint): void;
  entries(): readonly LedgerEntry[];
}

const LEDGER_FILE = 'privacy-ledger.json';
/** A node takes part in at most a few thousand rounds; a longer file is not ours. */
const MAX_ENTRIES = 1_000_000;

function sumSpend(entries: readonly LedgerEntry[]): bigint {
  return entries.reduce((acc, e) => addPacked(acc, declaredSpend(e.dpParams)), 0n);
}

function validEntry(round: number, dpParams: bigint): void {
  if (!(Number.isSafeInteger(round) && round >= 1)) throw new RangeError(`round ${round}: a positive integer`);
  // declaredSpend refuses a malformed word with a typed error; a release without DP spends nothing.
  declaredSpend(dpParams);
}

/** In-memory twin (simulations, tests): same rules, no durability. */
export class MemoryPrivacyLedger implements LocalPrivacyLedger {
  protected readonly list: LedgerEntry[];

  constructor(entries: readonly LedgerEntry[] = []) {
    this.list = [...entries];
  }

  spent(): bigint {
    return sumSpend(this.list);
  }

  charge(round: number, dpParams: bigint): void {
    validEntry(round, dpParams);
    if (dpParams === NO_DP_PARAMS) return;
    if (this.list.some((e) => e.round === round && e.dpParams === dpParams)) return;
    const next = [...this.list, { round, dpParams }];
    this.persist(next);
    this.list.push({ round, dpParams });
  }

  entries(): readonly LedgerEntry[] {
    return [...this.list];
  }

  /** Makes `next` durable before the charge counts as done; the twin keeps it in memory only. */
  protected persist(_next: readonly LedgerEntry[]): void {}
}

/** The ledger in `<dir>/privacy-ledger.json`, written atomically on every charge. */
export class FilePrivacyLedger extends MemoryPrivacyLedger {
  readonly path: string;

  constructor(dir: string) {
    const path = join(dir, LEDGER_FILE);
    sweepTemporaries(dir);
    super(FilePrivacyLedger.read(path));
    this.path = path;
  }

  protected override persist(next: readonly LedgerEntry[]): void {
    writeFileAtomic(
      this.path,
      `${JSON.stringify({ version: 1, entries: next.map((e) => ({ round: e.round, dpParams: `0x${e.dpParams.toString(16)}` })) })}\n`,
    );
  }

  private static read(path: string): LedgerEntry[] {
    const corrupt = (reason: string): StoreError => new StoreError('STORE_CORRUPT', `${path}: ${reason}`, { path, reason });
    let raw: unknown;
    try {
      raw = readJsonIfExists<unknown>(path);
    } catch (e) {
      throw corrupt(`not valid JSON (${String(e)})`);
    }
    if (raw === undefined) return [];
    const j = raw as { version?: unknown; entries?: unknown };
    if (j.version !== 1 || !Array.isArray(j.entries)) throw corrupt('expected { version: 1, entries: [...] }');
    if (j.entries.length > MAX_ENTRIES) throw corrupt(`${j.entries.length} entries (limit ${MAX_ENTRIES})`);
    return j.entries.map((e: unknown, i: number) => {
      const { round, dpParams } = (e ?? {}) as { round?: unknown; dpParams?: unknown };
      if (typeof round !== 'number' || typeof dpParams !== 'string' || !/^0x[0-9a-f]{1,64}$/.test(dpParams)) {
        throw corrupt(`entry ${i} is not { round, dpParams: 0x… }`);
      }
      const word = BigInt(dpParams);
      try {
        validEntry(round, word);
      } catch (err) {
        throw corrupt(`entry ${i}: ${String(err)}`);
      }
      return { round, dpParams: word };
    });
  }
}
