/**
 * The privacy guard: before each round a participant asks the chain how much of its privacy
 * budget it has spent and what its cap is (FedmeshFederation `privacyBudgetOf`), adds the spend
 * of the round it is about to run (`declaredSpend` of the DP-SGD parameters it plans to
 * declare) and, if that would pass its cap, abstains: it does not train and submits nothing,
 * and takes part only as an observer (docs/privacy.md, "A node stops at its cap").
 *
 * The arithmetic is the contract's own (protocol/chain/declaration.ts `budgetAfter`: lane-wise
 * sum of packed RDP, then min over orders of rdp_α + c_α, against the fixed-point cap), so a
 * node that the guard lets train is never the reason a round's `finalizeRound` reverts with
 * `FedmeshLedgerBudgetExceeded`, and a node it stops could not have been recorded anyway.
 *
 * The spend it starts from is the lane-wise LARGER of the chain's and the node's own local
 * ledger's (node/store/privacy-ledger.ts, issue 14 item 3): the node charges itself there, durably,
 * before its masked input or update leaves (`charge`, called by the round driver), so a round
 * that is aborted after the release — charged nothing on chain — still counts against the
 * member's own budget. Each lane of either word is an upper bound on the member's RDP at that
 * order (the ledger counts every release, the chain every recorded one, both rounding up), so
 * their maximum is a valid bound too, and never below either.
 *
 * A masked input (secure aggregation: `masked`) is charged as PENDING and settled against the
 * chain before the next decision (`settle`, issue #13 "a late masker still charges its local
 * ledger"): the chain charges a secure round's U_3 before any reveal (red team F18), so an input
 * the chain's `RoundCharged` participants do not list — masked after the lock, a dropout, left out
 * of the views — or one of a round that closed uncharged had its self-mask revealed by no honest
 * member and released nothing; the ledger stops counting it. One that is listed stays. Until the
 * chain has settled the round (it is still open, or unreadable) the entry counts: the local ledger
 * never counts less than the chain charged, and over-counts only while the chain has not spoken.
 *
 * The state is exposed through `status()` (Peer.privacy(), the daemon's /status and metrics).
 * "privacy budget exhausted" is logged once, when the guard first stops the node.
 */
import { decodePacked, fixedToNumber, RDP_LANE_BITS, RDP_LANES } from '../../protocol/chain/budget.js';
import { budgetAfter, plannedDpParams } from '../../protocol/chain/declaration.js';
import type { DpSgdParams } from '../../protocol/privacy/dp-sgd.js';
import type { FederationChainClient } from '../chain/federation-types.js';
import type { Logger } from '../logger.js';
import type { LocalPrivacyLedger, Settlement } from '../store/privacy-ledger.js';

/** What `Peer.privacy()` returns. ε values are numbers (fixed point 1e-6 converted); +∞ when unbounded. */
export interface PrivacyStatus {
  /** The round this was evaluated for (the one about to run). */
  readonly round: number;
  /** ε this member has spent so far: the larger, lane by lane, of the chain's and the local ledger's. */
  readonly epsilonSpent: number;
  /** The member's cap on ε (registry). */
  readonly epsilonCap: number;
  /** ε after the round about to run, if it trained (its declared spend added). */
  readonly epsilonAfterRound: number;
  /** True when training this round would pass the cap: the node abstains. */
  readonly exhausted: boolean;
}

export interface PrivacyGuardInit {
  /** DP-SGD parameters of local training; absent: no DP (a round then spends nothing). */
  readonly dp?: DpSgdParams;
  /** Local epochs per round (the planned step count is epochs · ⌈1/q⌉). */
  readonly epochs: number;
  /**
   * The node's inputs are masked (secure aggregation): a release is charged as pending and settled
   * by the chain's charge of its round. Absent or false: plaintext updates, charged for good.
   */
  readonly masked?: boolean;
}

/** Pending rounds settled per `beforeRound` at most (each costs one or two chain reads). */
export const MAX_SETTLEMENTS_PER_ROUND = 8;

export interface PrivacyGuardComponents {
  readonly fed: FederationChainClient;
  readonly log: Logger;
  /** The node's own ledger of releases (absent: the chain's spend alone, as before issue 14). */
  readonly ledger?: LocalPrivacyLedger;
}

/** Lane-wise maximum of two packed RDP words (each lane an upper bound, so the maximum is one). */
export function maxPacked(a: bigint, b: bigint): bigint {
  const x = decodePacked(a);
  const y = decodePacked(b);
  let out = 0n;
  for (let i = 0; i < RDP_LANES; i++) {
    // biome-ignore lint/complexity/useMathMinMax: bigint lanes (Math.max takes numbers)
    const lane = x[i]! > y[i]! ? x[i]! : y[i]!;
    out |= lane << BigInt(i * RDP_LANE_BITS);
  }
  return out;
}

/**
 * The guard's decision for `round`, pure: spent = lane-wise max(chain, local ledger), plus the
 * planned round's declared spend, converted by the contract's rule against the cap (all packed
 * or fixed point, 1e-6 units).
 */
export function guardDecision(
  round: number,
  chainRdp: bigint,
  localRdp: bigint | undefined,
  plannedDpParams: bigint,
  cAlphaConsts: readonly bigint[],
  epsilonCap: bigint,
): PrivacyStatus {
  const spent = localRdp !== undefined ? maxPacked(chainRdp, localRdp) : chainRdp;
  const after = budgetAfter(spent, plannedDpParams, cAlphaConsts, epsilonCap);
  return {
    round,
    epsilonSpent: fixedToNumber(after.epsilonSpent),
    epsilonCap: fixedToNumber(epsilonCap),
    epsilonAfterRound: fixedToNumber(after.epsilonAfter),
    exhausted: after.exceeds,
  };
}

export class PrivacyGuard {
  #status: PrivacyStatus | undefined;
  /** round → whether this node may train in it. */
  readonly #decisions = new Map<number, boolean>();
  #warned = false;

  constructor(
    private readonly init: PrivacyGuardInit,
    private readonly c: PrivacyGuardComponents,
  ) {}

  /** The last evaluation, or undefined before the first round. */
  status(): PrivacyStatus | undefined {
    return this.#status;
  }

  /**
   * Charges a release to the local ledger: the round driver calls this after training and
   * BEFORE the masked input or update is published; it returns once the charge is on disk.
   * Without a ledger it does nothing.
   */
  charge(round: number, dpParams: bigint): void {
    if (this.init.masked === true) this.c.ledger?.chargePending(round, dpParams);
    else this.c.ledger?.charge(round, dpParams);
  }

  /**
   * Settles the ledger's pending masked inputs of rounds before `round` by the chain as of its
   * confirmed depth (`getRoundConfirmed`; see the header), oldest first, at most MAX_SETTLEMENTS_PER_ROUND: listed in the round's `RoundCharged`
   * participants → charged; the round charged without this member, or closed (aborted, or
   * finalized — a finalized secure round was charged first) without a charge → withheld. A round
   * still open, or a failed read, stays pending (counted) until a later call. Returns the rounds
   * settled, with their outcome.
   */
  async settle(round: number): Promise<{ round: number; outcome: Settlement }[]> {
    const ledger = this.c.ledger;
    if (ledger === undefined) return [];
    const rounds = [...new Set(ledger.pending().map((e) => e.round))].filter((r) => r < round).slice(0, MAX_SETTLEMENTS_PER_ROUND);
    if (rounds.length === 0) return [];
    const { fed, log } = this.c;
    const settled: { round: number; outcome: Settlement }[] = [];
    let account: string;
    try {
      account = (await fed.account()).toLowerCase();
    } catch (e) {
      log.debug({ err: String(e) }, 'privacy ledger: account unreadable, pending releases stay counted');
      return settled;
    }
    for (const r of rounds) {
      let outcome: Settlement | undefined;
      try {
        // As of the confirmed depth (head − (chain.confirmations − 1), the lead's F30 read): a
        // settlement is for good, and at the finalize deadline an abort in the head block may
        // still lose to the charge (red team F31).
        const state = await (fed.getRoundConfirmed?.(r) ?? fed.getRound(r));
        if (state?.chargedHash !== undefined) {
          const charge = await fed.getChargedRound(r);
          // The event must be the confirmed state's charge (a reorg between the reads: not yet).
          if (charge !== undefined && charge.participantsHash.toLowerCase() === state.chargedHash.toLowerCase())
            outcome = charge.participants.some((p) => p.member.toLowerCase() === account) ? 'charged' : 'withheld';
        } else if (state?.status === 'aborted') outcome = 'withheld';
        // Finalized without a charge: not a round of the F18 order (a node without requireCharge);
        // its record charged what it charged — stay counted rather than guess.
        else if (state?.status === 'finalized') outcome = 'charged';
      } catch (e) {
        log.debug({ round: r, err: String(e) }, 'privacy ledger: round unreadable, its pending release stays counted');
      }
      if (outcome === undefined) continue;
      ledger.settle(r, outcome);
      settled.push({ round: r, outcome });
      if (outcome === 'withheld')
        log.info({ round: r }, 'privacy ledger: the chain charged this round without our masked input; its release is not counted');
    }
    return settled;
  }

  /** Whether this node may train in `round` (as decided by `beforeRound`; true when never asked). */
  mayTrain(round: number): boolean {
    return this.#decisions.get(round) ?? true;
  }

  /**
   * Reads the member's budget and decides whether it may train in `round`. A failed read
   * abstains for the round (the node cannot show that it stays under its cap) and is logged.
   */
  async beforeRound(round: number): Promise<PrivacyStatus | undefined> {
    const { fed, log } = this.c;
    for (const r of this.#decisions.keys()) if (r < round - 1) this.#decisions.delete(r);
    // Settling reads the chain too: alongside the budget reads, not before them (round start cost,
    // issue #13). A failed read there leaves the entry pending (counted); a failed ledger write
    // makes the node abstain this round, like a failed budget read.
    const settling = this.settle(round);
    let status: PrivacyStatus;
    try {
      const [[account, info]] = await Promise.all([Promise.all([fed.account(), fed.info()]), settling]);
      const budget = await fed.budgetOf(account);
      const planned = plannedDpParams(this.init.dp, this.init.epochs);
      status = guardDecision(round, budget.rdp, this.c.ledger?.spent(), planned, info.cAlpha, budget.epsilonCap);
    } catch (e) {
      this.#decisions.set(round, false);
      log.warn({ round, err: String(e) }, 'privacy budget unreadable: not training this round');
      return this.#status;
    }
    this.#status = status;
    this.#decisions.set(round, !status.exhausted);
    if (status.exhausted && !this.#warned) {
      this.#warned = true;
      log.warn(
        { round, epsilonSpent: status.epsilonSpent, epsilonCap: status.epsilonCap, epsilonAfterRound: status.epsilonAfterRound },
        'privacy budget exhausted',
      );
    }
    return status;
  }
}
