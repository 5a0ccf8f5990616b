/**
 * The node's own privacy ledger (issue 14 item 3): every DP-SGD release a participant makes is
 * charged HERE, durably, before its masked input or plaintext update is published. The chain
 * charges a member only for rounds that finalize with its input in the sum; a round that is
 * aborted after the input left (the committee saw it, or a t-coalition could have unmasked it)
 * charges nothing on chain, yet the release happened. The privacy guard therefore uses the
 * lane-wise larger of this ledger's total and the chain's (node/services/privacy-guard.ts): each
 * lane of either is an upper bound on the member's RDP at that order, so their maximum is too.
 *
 * Deployment binding (H8 F5): an entry is the release of round `round` of ONE deployment
 * (chainId, contract; protocol/chain/deployment-binding.ts), and a charge is idempotent per
 * (chainId, contract, round, dpParams) — a second study (a new contract, rounds from 1 again,
 * often the same dpParams) run from the same state folder adds its own entries instead of being
 * deduplicated against the first study's. `spent()` sums EVERY entry, of every deployment: the
 * patients behind a state folder are the same whatever study asked, so the guard counts all their
 * releases against the cap it checks (docs/privacy.md, "Several studies").
 *
 * Masked inputs are settled against the chain (issue #13 "a late masker still charges its local
 * ledger"). A secure-aggregation input releases something only if its self-mask b_i is revealed,
 * and honest committee members reveal only for the lock the chain has charged (red team F18:
 * `chargeRound` lists U_3 before any reveal). So a masked input is charged here as PENDING
 * (`chargePending`, counted in `spent()` like any entry: the chain's verdict may never come) and
 * later settled (`settle`) by what the chain charged: in the round's `RoundCharged` participants →
 * it stays, as a plain entry; the round closed and the chain charged it without this input (a late
 * masker, a dropout, an input left out of the views) or the round was aborted before any charge →
 * WITHHELD: kept in the file for the record, not counted. This trusts the bound the chain's own
 * accounting rests on (fewer than t colluding members; docs/secure-aggregation.md "Which
 * coalitions learn nothing"): with t colluders b_i could be reconstructed without a charge. A
 * plaintext update is released when it is published, so `charge` is final.
 *
 * Crash safety: `charge` returns only after the entry is on disk (write to a temporary, fsync,
 * rename, fsync the folder: ./atomic.ts). A crash between the charge and the publication leaves
 * a charge for a release that never happened — an over-statement, the safe side. There is no
 * window in which a release happened and the charge can be lost.
 *
 *   privacy-ledger.json   { version: 2, entries: [{ chainId: "31337", contract: "0x…", round, dpParams: "0x…"
 *                          [, status: "pending" | "withheld"] }] }   (no status: released)
 *
 * A version-1 file (entries without a deployment, written before the binding) is migrated
 * explicitly when opened: its entries are kept under the unknown deployment (chainId 0, the zero
 * address) — still counted in `spent()`, never matching a new charge, so nothing is forgotten and
 * at worst a release is counted twice — and the file is rewritten as version 2 at the next charge.
 * An unreadable, malformed or unknown-version ledger refuses to open (STORE_CORRUPT): treating it
 * as empty would forget spent budget.
 */
import { join } from 'node:path';
import { ZeroAddress } from 'ethers';
import { addPacked } from '../../protocol/chain/budget.js';
import { type DeploymentBinding, deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { readJsonIfExists, sweepTemporaries, writeFileAtomic } from './atomic.js';
import { StoreError } from './node-store.js';

/**
 * One charged release: the deployment and round it was made for and the declared DP-SGD word
 * (protocol/chain/dp-params.ts). `chainId` 0 with the zero address: a version-1 entry whose
 * deployment is unknown (see the header).
 */
export interface LedgerEntry {
  readonly chainId: bigint;
  /** The federation contract, checksummed. */
  readonly contract: string;
  readonly round: number;
  readonly dpParams: bigint;
  /**
   * Absent: released (counted for good). 'pending': a masked input not yet settled against the
   * chain's charge (counted). 'withheld': the chain charged its round without it, or the round
   * closed uncharged — its self-mask was never revealed (not counted; see the header).
   */
  readonly status?: 'pending' | 'withheld';
}

/** How the chain settled a pending masked input (`settle`). */
export type Settlement = 'charged' | 'withheld';

/** The port the privacy guard charges through; a file and an in-memory implementation. */
export interface LocalPrivacyLedger {
  /** Packed RDP (the chain's 8 lanes, 1e-6 units) of every release charged so far. */
  spent(): bigint;
  /**
   * Charges the release of round `round` of this ledger's deployment with `dpParams`; durable
   * when it returns. Idempotent per (deployment, round, dpParams).
   */
  charge(round: number, dpParams: bigint): void;
  /**
   * Charges a masked input of round `round` as pending (counted until `settle`); durable when it
   * returns. Idempotent like `charge`.
   */
  chargePending(round: number, dpParams: bigint): void;
  /** This deployment's pending entries, oldest round first. */
  pending(): readonly LedgerEntry[];
  /**
   * Settles this deployment's pending entries of `round` by the chain's charge: 'charged' keeps
   * them as released, 'withheld' stops counting them. Durable when it returns; returns how many
   * entries changed.
   */
  settle(round: number, outcome: Settlement): number;
  entries(): readonly LedgerEntry[];
}

const LEDGER_FILE = 'privacy-ledger.json';
/**
 * 2. Entries may carry an optional `status` (pending / withheld masked inputs): a node that does
 * not know the field reads such an entry as released and over-counts, the safe side, so the
 * version did not change.
 */
const LEDGER_VERSION = 2;
/** The deployment of entries read from a version-1 file: no real deployment has chain id 0. */
export const UNKNOWN_DEPLOYMENT: DeploymentBinding = { chainId: 0n, contract: ZeroAddress };
/** A node takes part in at most a few thousand rounds; a longer file is not ours. */
const MAX_ENTRIES = 1_000_000;

function sumSpend(entries: readonly LedgerEntry[]): bigint {
  return entries.reduce((acc, e) => (e.status === 'withheld' ? acc : addPacked(acc, declaredSpend(e.dpParams))), 0n);
}

function validEntry(round: number, dpParams: bigint): void {
  if (!(Number.isSafeInteger(round) && round >= 1)) throw new RangeError(`round ${round}: a positive integer`);
  // declaredSpend refuses a malformed word with a typed error; a release without DP spends nothing.
  declaredSpend(dpParams);
}

/** In-memory twin (simulations, tests): same rules, no durability. */
export class MemoryPrivacyLedger implements LocalPrivacyLedger {
  protected readonly list: LedgerEntry[];
  /** The deployment this node charges releases to (validated, address checksummed). */
  readonly deployment: DeploymentBinding;

  constructor(deployment: DeploymentBinding, entries: readonly LedgerEntry[] = []) {
    this.deployment = deploymentBinding(deployment.chainId, deployment.contract);
    this.list = [...entries];
  }

  spent(): bigint {
    return sumSpend(this.list);
  }

  charge(round: number, dpParams: bigint): void {
    this.add(round, dpParams, undefined);
  }

  chargePending(round: number, dpParams: bigint): void {
    this.add(round, dpParams, 'pending');
  }

  pending(): readonly LedgerEntry[] {
    return this.list.filter((e) => e.status === 'pending' && this.ours(e)).sort((a, b) => a.round - b.round);
  }

  settle(round: number, outcome: Settlement): number {
    const next = this.list.map((e) =>
      e.status === 'pending' && e.round === round && this.ours(e)
        ? outcome === 'charged'
          ? { chainId: e.chainId, contract: e.contract, round: e.round, dpParams: e.dpParams }
          : { ...e, status: 'withheld' as const }
        : e,
    );
    const changed = next.filter((e, i) => e !== this.list[i]).length;
    if (changed === 0) return 0;
    this.persist(next);
    this.list.splice(0, this.list.length, ...next);
    return changed;
  }

  private ours(e: LedgerEntry): boolean {
    return e.chainId === this.deployment.chainId && e.contract === this.deployment.contract;
  }

  private add(round: number, dpParams: bigint, status: 'pending' | undefined): void {
    validEntry(round, dpParams);
    if (dpParams === NO_DP_PARAMS) return;
    const { chainId, contract } = this.deployment;
    if (this.list.some((e) => this.ours(e) && e.round === round && e.dpParams === dpParams)) return;
    const entry: LedgerEntry = { chainId, contract, round, dpParams, ...(status !== undefined ? { status } : {}) };
    const next = [...this.list, entry];
    this.persist(next);
    this.list.push(entry);
  }

  entries(): readonly LedgerEntry[] {
    return [...this.list];
  }

  /** Makes `next` durable before the charge counts as done; the twin keeps it in memory only. */
  protected persist(_next: readonly LedgerEntry[]): void {}
}

/** The ledger in `<dir>/privacy-ledger.json`, charging releases to `deployment`, written atomically on every charge. */
export class FilePrivacyLedger extends MemoryPrivacyLedger {
  readonly path: string;

  constructor(dir: string, deployment: DeploymentBinding) {
    const path = join(dir, LEDGER_FILE);
    sweepTemporaries(dir);
    super(deployment, FilePrivacyLedger.read(path));
    this.path = path;
  }

  protected override persist(next: readonly LedgerEntry[]): void {
    const entries = next.map((e) => ({
      chainId: e.chainId.toString(),
      contract: e.contract,
      round: e.round,
      dpParams: `0x${e.dpParams.toString(16)}`,
      ...(e.status !== undefined ? { status: e.status } : {}),
    }));
    writeFileAtomic(this.path, `${JSON.stringify({ version: LEDGER_VERSION, entries })}\n`);
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
    if ((j.version !== 1 && j.version !== LEDGER_VERSION) || !Array.isArray(j.entries)) {
      throw corrupt(`expected { version: ${LEDGER_VERSION} (or 1, migrated), entries: [...] }`);
    }
    if (j.entries.length > MAX_ENTRIES) throw corrupt(`${j.entries.length} entries (limit ${MAX_ENTRIES})`);
    const legacy = j.version === 1;
    return j.entries.map((e: unknown, i: number) => {
      const { round, dpParams, chainId, contract, status } = (e ?? {}) as Record<string, unknown>;
      if (status !== undefined && (j.version !== LEDGER_VERSION || (status !== 'pending' && status !== 'withheld'))) {
        throw corrupt(`entry ${i}: status ${String(status)}`);
      }
      if (typeof round !== 'number' || typeof dpParams !== 'string' || !/^0x[0-9a-f]{1,64}$/.test(dpParams)) {
        throw corrupt(`entry ${i} is not { round, dpParams: 0x… }`);
      }
      let deployment = UNKNOWN_DEPLOYMENT;
      if (!legacy) {
        if (typeof chainId !== 'string' || !/^[0-9]{1,78}$/.test(chainId) || typeof contract !== 'string') {
          throw corrupt(`entry ${i} has no { chainId: "<decimal>", contract: "0x…" }`);
        }
        try {
          deployment = BigInt(chainId) === 0n ? UNKNOWN_DEPLOYMENT : deploymentBinding(BigInt(chainId), contract);
        } catch (err) {
          throw corrupt(`entry ${i}: ${String(err)}`);
        }
        if (deployment === UNKNOWN_DEPLOYMENT && contract !== ZeroAddress) throw corrupt(`entry ${i}: chainId 0 with contract ${contract}`);
      }
      const word = BigInt(dpParams);
      try {
        validEntry(round, word);
      } catch (err) {
        throw corrupt(`entry ${i}: ${String(err)}`);
      }
      return {
        chainId: deployment.chainId,
        contract: deployment.contract,
        round,
        dpParams: word,
        ...(status !== undefined ? { status: status as 'pending' | 'withheld' } : {}),
      };
    });
  }
}
