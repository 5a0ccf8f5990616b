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
 * `memberInfoVersion` moved (MemberInfoUpdated or MemberAdded: a peer id may be bound anew), and a
 * peer id claimed by two accounts is refused (ROUND_PEER_ID_CONFLICT is logged, neither is
 * mapped): the contract already keeps peer ids unique, this is the node's own check.
 * The committee is checked against the active list at the round's snapshot block
 * (`activeMembersAt`), the list the contract drew it from.
 *
 * Peer id proofs (issue 14 item 2, audit finding H-2): with a `PeerProofPolicy`, a member's
 * stored proof (protocol/chain/peer-binding.ts) is verified before its peer id is mapped to its
 * account, whenever the member is read at an `open` (a moved `memberInfoVersion` makes the next
 * `open` forget every mapping, so a rebinding is checked again; known inactive members are re-read too). A member whose proof is missing or
 * does not verify is refused: PEER_PROOF_REFUSED {member, peerId, reason} is logged and counted,
 * the member is left out of the active list (treated as not reachable for the round) and a
 * committee seat it holds maps to no peer id, so nothing it sends is accepted. `admin-trust` maps
 * a member with no proof (the 64 zero bytes) with a warning; a proof that is present and fails is
 * refused in both modes.
 */
import { getAddress } from 'ethers';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import type { DeploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { PeerBindingError, type PeerBindingReason, peerBindingRefusal } from '../../protocol/chain/peer-binding.js';
import { RoundError } from '../../protocol/round.js';
import { ChainError } from '../chain/errors.js';
import type { FederationChainClient, RoundState } from '../chain/federation-types.js';
import type { Logger } from '../logger.js';

/**
 * Verdicts of peer id proofs already checked in this process, by everything the verdict depends
 * on (peerBindingRefusal is a pure function of its arguments). A daemon checks each member once per
 * registry version anyway; the simulator runs 64 peers in one process, where each peer checking all
 * 64 proofs at round 1's start (4,096 pure-JS Ed25519 verifications on the one event loop) was the
 * last peer's start delay under load (issue #13). Bounded: cleared when full.
 */
const proofVerdicts = new Map<string, PeerBindingReason | undefined>();
const PROOF_VERDICTS_MAX = 8_192;

function cachedBindingRefusal(peerId: string, binding: DeploymentBinding, account: string, proof: string): PeerBindingReason | undefined {
  // Exact strings: peer ids are case-sensitive (base58), so nothing is normalised into the key.
  const key = `${binding.chainId}/${binding.contract}/${account}/${peerId}/${proof}`;
  if (proofVerdicts.has(key)) return proofVerdicts.get(key);
  const reason = peerBindingRefusal(peerId, binding, account, proof);
  if (proofVerdicts.size >= PROOF_VERDICTS_MAX) proofVerdicts.clear();
  proofVerdicts.set(key, reason);
  return reason;
}

/** Rounds of committees and states kept: the current one and two behind (late messages). */
const ROUNDS_KEPT = 3;

/**
 * `require`: every member's stored proof must verify. `admin-trust`: a member registered without
 * a proof (64 zero bytes) is taken on the admin's word, with a warning (legacy deployments).
 */
export const PEER_PROOF_MODES = ['require', 'admin-trust'] as const;
export type PeerProofMode = (typeof PEER_PROOF_MODES)[number];

export interface PeerProofPolicy {
  readonly mode: PeerProofMode;
  /** The deployment proofs are bound to; absent: the client's `info()` (address, chain id). */
  readonly binding?: DeploymentBinding;
  /** Called on every refusal, after it is logged (the daemon counts them in a metric). */
  readonly onRefused?: (e: PeerBindingError) => void;
}

export class RoundOpener {
  private readonly committees = new Map<number, readonly string[]>();
  private readonly states = new Map<number, RoundState>();
  /** Peer ids of the members active at each round's snapshot block, in registry order (H-sparse: the masking graph's node set). */
  private readonly snapshots = new Map<number, readonly string[]>();
  /** Every address ever seen active ↔ its peer id (kept after suspension for old signatures). */
  private readonly peerIds = new Map<string, string>();
  private readonly accounts = new Map<string, string>();
  /** Peer ids of the members active when the latest round was opened here, in registry order. */
  private active: readonly string[] = [];
  private activeSet = new Set<string>();
  private activeRound = 0;
  private infoVersion: bigint | undefined;
  private binding: DeploymentBinding | undefined;
  /** Accounts mapped without a proof under `admin-trust` (warned once each). */
  private readonly trusted = new Set<string>();
  private refused = 0;
  /** Accounts refused at the latest registry read (their committee seats stay unmapped). */
  private refusedNow = new Set<string>();

  constructor(
    private readonly fed: FederationChainClient,
    private readonly log: Logger,
    /** How long to wait for another member's RoundOpened when our own attempt lost (ms). */
    private readonly openTimeoutMs = 30_000,
    /**
     * How members' stored peer id proofs are checked. Absent: not checked (test harnesses with
     * synthetic peer ids only; the daemon and the simulator always pass one).
     */
    private readonly peerProofs?: PeerProofPolicy,
  ) {}

  /** How many times a member's peer id was refused for its proof (PEER_PROOF_REFUSED). */
  get peerProofRefusals(): number {
    return this.refused;
  }

  /** The committee of `round` (peer ids, position order), once `open(round)` resolved here. */
  committeeOf(round: number): readonly string[] | undefined {
    return this.committees.get(round);
  }

  /**
   * Peer ids of the members active at `round`'s snapshot block (registry order), once `open(round)`
   * resolved here: chain state only, so every peer gets the same list (the SecAgg+ masking graph's
   * node set, protocol/secure-aggregation/graph.ts). A peer id is the registry's, proof or not: a
   * member whose proof fails is refused elsewhere and is simply absent from the round.
   */
  snapshotMembersOf(round: number): readonly string[] | undefined {
    return this.snapshots.get(round);
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

  /**
   * Ensures `round` is open on chain and returns its committee as peer ids.
   *
   * Round start cost (issue #13): every read that does not depend on another goes out in one
   * `Promise.all` (the round, the registry version, the active list; then the snapshot's active
   * list and the registration of every member not known yet), so a peer pays two dependent round
   * trips before it can advertise, whatever the federation's size: 13 before for a fresh peer of 8
   * members (5 + one per member), 5 for a returning one (test/integration/round-start-reads).
   * Under load each round trip waits behind the whole event loop, and a peer that advertises late
   * misses the key set.
   */
  async open(round: number): Promise<readonly string[]> {
    const known = this.committees.get(round);
    if (known !== undefined) return known;
    // `getRound` answers undefined for a round not opened yet (status none), so it needs no
    // `currentRound` first. The registry is read beside it; a round this peer has to open itself
    // is opened after that read, which only moves the read a transaction earlier.
    const [read, version, activeAccounts] = await Promise.all([
      this.fed.getRound(round),
      this.fed.memberInfoVersion(),
      this.fed.activeMembers(),
      // Prefetched into the client's cache: the proofs below are checked against it.
      this.peerProofs !== undefined ? this.deploymentBinding(this.peerProofs) : undefined,
    ]);
    let state = read;
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
    const opened = state;
    const [, snapshotActive] = await Promise.all([
      this.refreshRegistry(round, version, activeAccounts),
      this.fed.activeMembersAt(opened.snapshotBlock),
    ]);
    this.verifyCommittee(opened, snapshotActive);
    const committee = await this.toPeerIds(opened);
    this.snapshots.set(round, await this.registeredPeerIds(snapshotActive));
    this.committees.set(round, committee);
    this.states.set(round, opened);
    for (const r of this.committees.keys()) {
      if (r <= round - ROUNDS_KEPT) {
        this.committees.delete(r);
        this.states.delete(r);
        this.snapshots.delete(r);
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
   * Maps each active address (read with the registry's `version`) to its peer id (the registry
   * is the source of both). Only addresses not seen since the version last moved cost a
   * `getMember` call, and those calls go out together (one round trip), so a steady federation
   * pays nothing here. The order of `activeAccounts` (registry order) is kept.
   */
  private async refreshRegistry(round: number, version: bigint, activeAccounts: readonly string[]): Promise<void> {
    let known: string[] = [];
    if (this.infoVersion !== undefined && version !== this.infoVersion) {
      // A peer id was rebound, or a member (re-)added: forget every mapping and read them again —
      // the active ones below, the inactive ones this node knew (suspended members) after them.
      known = [...this.peerIds.keys()];
      this.peerIds.clear();
      this.accounts.clear();
    }
    this.infoVersion = version;
    this.refusedNow = new Set();
    const inactive = known.filter((account) => !activeAccounts.includes(account));
    const unknown = activeAccounts.filter((account) => !this.peerIds.has(account));
    // Every registration not cached, active and formerly known alike, in one round trip.
    const [fresh, former] = await Promise.all([
      Promise.all(unknown.map((account) => this.fed.getMember(account))),
      Promise.all(inactive.map((account) => this.fed.getMember(account))),
    ]);
    const read = new Map(unknown.map((account, i) => [account, fresh[i]!] as const));
    const ids: string[] = [];
    for (const account of activeAccounts) {
      let id = this.peerIds.get(account);
      if (id === undefined) {
        const member = read.get(account)!;
        id = member.peerId;
        if (!(await this.proofAccepted(round, account, id, member.peerProof))) {
          this.refusedNow.add(account);
          continue;
        }
        this.peerIds.set(account, id);
        if (!this.mapPeerId(id, account)) continue;
        if (this.activeRound > 0) this.log.info({ round, account, peerId: id }, 'member joined');
      }
      ids.push(id);
    }
    // A suspended member's address stays known, so its signatures on older rounds still verify;
    // it is re-read like the rest (its binding may have moved) and mapped only with an accepted
    // proof, quietly: it takes no part in this round, so a refusal here is not this round's.
    for (const [i, account] of inactive.entries()) {
      if (this.peerIds.has(account)) continue;
      const member = former[i]!;
      if (member.peerId === '') continue; // removed: nothing to map
      if (this.peerProofs !== undefined) {
        const reason = cachedBindingRefusal(member.peerId, await this.deploymentBinding(this.peerProofs), account, member.peerProof);
        if (reason !== undefined && !(reason === 'missing' && this.peerProofs.mode === 'admin-trust')) continue;
      }
      this.peerIds.set(account, member.peerId);
      this.mapPeerId(member.peerId, account);
    }
    if (round >= this.activeRound) {
      const next = new Set(ids);
      for (const id of this.activeSet) if (!next.has(id)) this.log.info({ round, peerId: id }, 'member no longer active');
      this.active = ids;
      this.activeSet = next;
      this.activeRound = round;
    }
  }

  /**
   * Whether `account`'s stored proof lets this node map `peerId` to it (always, without a
   * policy). A refusal is logged as PEER_PROOF_REFUSED with its fields and counted; it never
   * throws: the member is only left out.
   */
  private async proofAccepted(round: number, account: string, peerId: string, proof: string): Promise<boolean> {
    const policy = this.peerProofs;
    if (policy === undefined) return true;
    const reason = cachedBindingRefusal(peerId, await this.deploymentBinding(policy), account, proof);
    if (reason === undefined) return true;
    if (reason === 'missing' && policy.mode === 'admin-trust') {
      if (!this.trusted.has(account)) {
        this.trusted.add(account);
        this.log.warn(
          { round, member: account, peerId },
          'peer id mapped without a proof (peerProofs: admin-trust): the binding rests on the admin alone',
        );
      }
      return true;
    }
    this.refused++;
    const e = new PeerBindingError(
      'PEER_PROOF_REFUSED',
      `round ${round}: ${account}'s peer id ${peerId} is refused: ${
        reason === 'missing'
          ? 'the registry holds no proof (the member must run `fedmesh node proof` and the admin store it)'
          : reason === 'invalid'
            ? "the stored proof is not this peer id's key binding it to this account on this deployment"
            : 'the peer id carries no Ed25519 key to verify a proof with'
      }`,
      { member: account, peerId, reason },
    );
    this.log.warn({ round, err: e.toJSON(), ...e.fields }, e.message);
    policy.onRefused?.(e);
    return false;
  }

  /** Maps `id` to `account` unless another account holds it already (then refuses both). */
  /** The deployment proofs are bound to: the policy's, else read from the contract once. */
  private async deploymentBinding(policy: PeerProofPolicy): Promise<DeploymentBinding> {
    if (this.binding === undefined) {
      const info = policy.binding ?? (await this.fed.info());
      this.binding = { chainId: info.chainId, contract: 'contract' in info ? info.contract : info.address };
    }
    return this.binding;
  }

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

  /** The registry's peer id of each account (known mappings first; one `getMember` per unknown account). */
  private async registeredPeerIds(accounts: readonly string[]): Promise<string[]> {
    return Promise.all(accounts.map(async (a) => this.peerIds.get(a) ?? (await this.fed.getMember(a)).peerId));
  }

  private async toPeerIds(state: RoundState): Promise<string[]> {
    const out: string[] = [];
    for (const account of state.committee) {
      let id = this.peerIds.get(account);
      if (id === undefined && this.refusedNow.has(account)) {
        out.push(`unverified:${account}`);
        continue;
      }
      if (id === undefined) {
        const member = await this.fed.getMember(account);
        // A committee member whose proof fails gets no peer id: nothing it sends is accepted.
        if (!(await this.proofAccepted(state.round, account, member.peerId, member.peerProof))) {
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
