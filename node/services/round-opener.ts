/**
 * Opening rounds on a FedmeshFederation and learning their committees. Before round r every
 * peer calls `open(r)`: whoever gets there first sends `openRound()`, the others (their
 * transaction reverts, or the round is already open) read `getRound(r)`. The committee is the
 * contract's (RoundOpened), mapped from addresses to libp2p peer ids through the registry, and
 * kept in a book that the driver's plan and the inboxes' committee checks read.
 *
 * The registry is read again at every `open(r)` (issue #9 §2 step 6, "signature by a
 * registered, active member"): a member added since the last round becomes known (peer id ↔
 * address) and a suspended or removed one stops being a member, so the inboxes refuse its
 * messages from that round on. Peer ids are re-read whenever the registry's
 * `memberInfoVersion` moved (a MemberInfoUpdated event: the admin bound a new peer id), and a
 * peer id claimed by two accounts is refused (ROUND_PEER_ID_CONFLICT is logged, neither is
 * mapped): the contract already keeps peer ids unique, this is the node's own check.
 * The committee is checked against the active list at the round's snapshot block
 * (`activeMembersAt`), the list the contract drew it from.
 */
import { getAddress } from 'ethers';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { RoundError } from '../../protocol/round.js';
import { ChainError } from '../chain/errors.js';
import type { FederationChainClient, RoundState } from '../chain/federation-types.js';
import type { Logger } from '../logger.js';

/** Rounds of committees and states kept: the current one and two behind (late messages). */
const ROUNDS_KEPT = 3;

export class RoundOpener {
  private readonly committees = new Map<number, readonly string[]>();
  private readonly states = new Map<number, RoundState>();
  /** Every address ever seen active ↔ its peer id (kept after suspension for old signatures). */
  private readonly peerIds = new Map<string, string>();
  private readonly accounts = new Map<string, string>();
  /** Peer ids of the members active when the latest round was opened here, in registry order. */
  private active: readonly string[] = [];
  private activeSet = new Set<string>();
  private activeRound = 0;
  private infoVersion: bigint | undefined;

  constructor(
    private readonly fed: FederationChainClient,
    private readonly log: Logger,
    /** How long to wait for another member's RoundOpened when our own attempt lost (ms). */
    private readonly openTimeoutMs = 30_000,
    /**
     * Checks a member's stored peer id proof (protocol/chain/peer-binding.ts `verifyPeerBinding`
     * with the deployment's binding). When given, a member whose proof fails is not mapped to its
     * peer id, so its messages are refused (ROUND_PEER_PROOF_INVALID is logged). Absent: proofs
     * are not checked (deployments registered without proofs store 64 zero bytes).
     */
    private readonly verifyPeerProof?: (peerId: string, account: string, proof: string) => boolean,
  ) {}

  /** The committee of `round` (peer ids, position order), once `open(round)` resolved here. */
  committeeOf(round: number): readonly string[] | undefined {
    return this.committees.get(round);
  }

  /** The on-chain state of `round` as read when `open(round)` resolved here (deadlines, seed). */
  stateOf(round: number): RoundState | undefined {
    return this.states.get(round);
  }

  /** The registered address of member `peerId`, once a round was opened here. */
  addressOf(peerId: string): string | undefined {
    return this.accounts.get(peerId);
  }

  /** Whether `peerId` was an active member when the latest round was opened here. */
  isActive(peerId: string): boolean {
    return this.activeSet.has(peerId);
  }

  /** Peer ids of the active members as of the latest `open` (registry order); empty before. */
  activeMembers(): readonly string[] {
    return this.active;
  }

  /** The round whose opening last refreshed the member list (0 before any). */
  get membersRound(): number {
    return this.activeRound;
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
    await this.refreshRegistry(round);
    this.verifyCommittee(state, await this.fed.activeMembersAt(state.snapshotBlock));
    const committee = await this.toPeerIds(state);
    this.committees.set(round, committee);
    this.states.set(round, state);
    for (const r of this.committees.keys()) {
      if (r <= round - ROUNDS_KEPT) {
        this.committees.delete(r);
        this.states.delete(r);
      }
    }
    return committee;
  }

  /**
   * Recompute the committee from the round's seed and the active list with the pure
   * `selectCommitteeOnChain` (protocol/chain/committee.ts), as an auditor would, and refuse a
   * round whose published committee differs.
   */
  private verifyCommittee(state: RoundState, activeAccounts: readonly string[]): void {
    const expected = selectCommitteeOnChain(state.seed, activeAccounts, state.committee.length);
    const got = state.committee.map((a) => getAddress(a));
    if (expected.length !== got.length || expected.some((a, i) => a !== got[i])) {
      throw new RoundError('ROUND_COMMITTEE_MISMATCH', `round ${state.round}: the contract's committee is not the one its seed selects`, {
        round: state.round,
        expected,
        got,
      });
    }
  }

  /**
   * Reads the active list and maps each address to its peer id (the registry is the source of
   * both); returns the active addresses in registry order. Only addresses not seen before cost
   * a `getMember` call, so a steady federation pays one view call per round.
   */
  private async refreshRegistry(round: number): Promise<string[]> {
    const version = await this.fed.memberInfoVersion();
    if (this.infoVersion !== undefined && version !== this.infoVersion) {
      // A peer id was rebound: forget every mapping and read them again.
      this.peerIds.clear();
      this.accounts.clear();
    }
    this.infoVersion = version;
    const activeAccounts = await this.fed.activeMembers();
    const ids: string[] = [];
    for (const account of activeAccounts) {
      let id = this.peerIds.get(account);
      if (id === undefined) {
        const member = await this.fed.getMember(account);
        id = member.peerId;
        if (this.verifyPeerProof !== undefined && !this.verifyPeerProof(id, account, member.peerProof)) {
          this.log.warn({ round, account, peerId: id }, 'ROUND_PEER_PROOF_INVALID: the peer id proof does not verify; refusing the member');
          continue;
        }
        this.peerIds.set(account, id);
        if (!this.mapPeerId(id, account)) continue;
        if (this.activeRound > 0) this.log.info({ round, account, peerId: id }, 'member joined');
      }
      ids.push(id);
    }
    if (round >= this.activeRound) {
      const next = new Set(ids);
      for (const id of this.activeSet) if (!next.has(id)) this.log.info({ round, peerId: id }, 'member no longer active');
      this.active = ids;
      this.activeSet = next;
      this.activeRound = round;
    }
    return activeAccounts;
  }

  /** Maps `id` to `account` unless another account holds it already (then refuses both). */
  private mapPeerId(id: string, account: string): boolean {
    const holder = this.accounts.get(id);
    if (holder !== undefined && holder !== account) {
      this.log.warn(
        { peerId: id, accounts: [holder, account] },
        'ROUND_PEER_ID_CONFLICT: one peer id registered to two accounts; refusing it',
      );
      return false;
    }
    this.accounts.set(id, account);
    return true;
  }

  private async toPeerIds(state: RoundState): Promise<string[]> {
    const out: string[] = [];
    for (const account of state.committee) {
      let id = this.peerIds.get(account);
      if (id === undefined) {
        const member = await this.fed.getMember(account);
        // A committee member whose proof fails gets no peer id: nothing it sends is accepted.
        if (this.verifyPeerProof !== undefined && !this.verifyPeerProof(member.peerId, account, member.peerProof)) {
          out.push(`unverified:${account}`);
          continue;
        }
        id = member.peerId;
        this.peerIds.set(account, id);
        this.mapPeerId(id, account);
      }
      out.push(id);
    }
    return out;
  }
}
