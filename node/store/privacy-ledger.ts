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
 * Crash safety: `charge` returns only after the entry is on disk (write to a temporary, fsync,
 * rename, fsync the folder: ./atomic.ts). A crash between the charge and the publication leaves
 * a charge for a release that never happened — an over-statement, the safe side. There is no
 * window in which a release happened and the charge can be lost.
 *
 *   privacy-ledger.json   { version: 2, entries: [{ chainId: "31337", contract: "0x…", round, dpParams: "0x…" }] }
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
}

/** The port the privacy guard charges through; a file and an in-memory implementation. */
export interface LocalPrivacyLedger {
  /** Packed RDP (the chain's 8 lanes, 1e-6 units) of every release charged so far. */
  spent(): bigint;
  /**
   * Charges the release of round `round` of this ledger's deployment with `dpParams`; durable
   * when it returns. Idempotent per (deployment, round, dpParams).
   */
  charge(round: number, dpParams: bigint): void;
  entries(): readonly LedgerEntry[];
}

const LEDGER_FILE = 'privacy-ledger.json';
const LEDGER_VERSION = 2;
/** The deployment of entries read from a version-1 file: no real deployment has chain id 0. */
export const UNKNOWN_DEPLOYMENT: DeploymentBinding = { chainId: 0n, contract: ZeroAddress };
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
    validEntry(round, dpParams);
    if (dpParams === NO_DP_PARAMS) return;
    const { chainId, contract } = this.deployment;
    if (this.list.some((e) => e.chainId === chainId && e.contract === contract && e.round === round && e.dpParams === dpParams)) return;
    const entry: LedgerEntry = { chainId, contract, round, dpParams };
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
      const { round, dpParams, chainId, contract } = (e ?? {}) as Record<string, unknown>;
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
      return { chainId: deployment.chainId, contract: deployment.contract, round, dpParams: word };
    });
  }
}
