/**
 * Opening rounds on a FedmeshFederation and learning their committees. Before round r every
 * peer calls `open(r)`: whoever gets there first sends `openRound()`, the others (their
 * transaction reverts, or the round is already open) read `getRound(r)`. The committee is the
 * contract's (RoundOpened), mapped from addresses to libp2p peer ids through the registry, and
 * kept in a book that the driver's plan and the inboxes' committee checks read.
 */
import { getAddress } from 'ethers';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { RoundError } from '../../protocol/round.js';
import { ChainError } from '../chain/errors.js';
import type { FederationChainClient, RoundState } from '../chain/federation-types.js';
import type { Logger } from '../logger.js';

export class RoundOpener {
  private readonly committees = new Map<number, readonly string[]>();
  private readonly peerIds = new Map<string, string>();
  private readonly accounts = new Map<string, string>();

  constructor(
    private readonly fed: FederationChainClient,
    private readonly log: Logger,
    /** How long to wait for another member's RoundOpened when our own attempt lost (ms). */
    private readonly openTimeoutMs = 30_000,
  ) {}

  /** The committee of `round` (peer ids, position order), once `open(round)` resolved here. */
  committeeOf(round: number): readonly string[] | undefined {
    return this.committees.get(round);
  }

  /** The registered address of member `peerId`, once a round was opened here. */
  addressOf(peerId: string): string | undefined {
    return this.accounts.get(peerId);
  }

  /** Ensures `round` is open on chain and returns its committee as peer ids. */
  async open(round: number): Promise<readonly string[]> {
    const known = this.committees.get(round);
    if (known !== undefined) return known;
    let state = (await this.fed.currentRound()) >= round ? await this.fed.getRound(round) : undefined;
    if (state === undefined) {
      try {
        const opened = await this.fed.openRound();
        state = opened.round === round ? opened : await this.fed.getRound(round);
        if (opened.round === round) this.log.info({ round, committee: opened.committee }, 'round opened');
      } catch (e) {
        // Lost the race (round already open) or the chain moved on: read what is there.
        state = await this.fed.waitForRoundOpened(round, this.openTimeoutMs).catch(() => {
          throw e;
        });
      }
    }
    if (state === undefined) {
      throw new ChainError('CHAIN_ROUND_NOT_OPEN', `round ${round} is not open on the federation`, { round, status: 'none' });
    }
    if (this.accounts.size === 0) await this.loadRegistry();
    await this.verifyCommittee(state);
    const committee = await this.toPeerIds(state);
    this.committees.set(round, committee);
    for (const r of this.committees.keys()) if (r < round - 2) this.committees.delete(r);
    return committee;
  }

  /**
   * Recompute the committee from the round's seed and the active list with the pure
   * `selectCommitteeOnChain` (protocol/chain/committee.ts), as an auditor would, and refuse a
   * round whose published committee differs. Assumes the active list has not changed since the
   * round opened (the registry is read once per run; see RoundOpener's header).
   */
  private async verifyCommittee(state: RoundState): Promise<void> {
    const expected = selectCommitteeOnChain(state.seed, await this.fed.activeMembers(), state.committee.length);
    const got = state.committee.map((a) => getAddress(a));
    if (expected.length !== got.length || expected.some((a, i) => a !== got[i])) {
      throw new RoundError('ROUND_COMMITTEE_MISMATCH', `round ${state.round}: the contract's committee is not the one its seed selects`, {
        round: state.round,
        expected,
        got,
      });
    }
  }

  /** Address ↔ peer id for every active member (the registry is the source of both). */
  private async loadRegistry(): Promise<void> {
    for (const account of await this.fed.activeMembers()) {
      const { peerId } = await this.fed.getMember(account);
      this.peerIds.set(account, peerId);
      this.accounts.set(peerId, account);
    }
  }

  private async toPeerIds(state: RoundState): Promise<string[]> {
    const out: string[] = [];
    for (const account of state.committee) {
      let id = this.peerIds.get(account);
      if (id === undefined) {
        id = (await this.fed.getMember(account)).peerId;
        this.peerIds.set(account, id);
      }
      out.push(id);
    }
    return out;
  }
}
