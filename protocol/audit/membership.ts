/**
 * Registry state at any point of the event stream, rebuilt from the logs alone
 * (contracts/IFedmeshRegistry.sol: "the member set at any block can be rebuilt from the logs").
 * The active list keeps the contract's order (protocol/chain/committee.ts `nextActiveMembers`),
 * because committees index into it.
 */
import { getAddress } from 'ethers';
import { nextActiveMembers } from '../chain/committee.js';
import type { AuditEvent } from './types.js';

export interface MemberState {
  readonly address: string;
  peerId: string;
  status: 'active' | 'suspended' | 'removed';
  /** Latest cap ε in 1e-6 units; applies from round `capFrom` on. */
  epsilonCap: bigint;
  /** Cap of the rounds before `capFrom` (a lowered cap applies from the next round, IFedmeshRegistry). */
  previousCap: bigint;
  capFrom: number;
}

export class MembershipReplay {
  /** Active members in registry order. */
  active: string[] = [];
  /** The last round opened in the stream so far (the audit sets it). */
  round = 0;
  readonly members = new Map<string, MemberState>();

  /** Applies one registry event; round events are ignored. */
  apply(e: AuditEvent): void {
    switch (e.kind) {
      case 'MemberAdded': {
        const a = getAddress(e.account);
        const former = this.members.get(a);
        this.members.set(a, {
          address: a,
          peerId: e.peerId,
          status: 'active',
          epsilonCap: e.epsilonCap,
          previousCap: former?.epsilonCap ?? e.epsilonCap,
          capFrom: former === undefined ? 1 : this.round + 1,
        });
        this.active = nextActiveMembers(this.active, { kind: 'added', account: a });
        return;
      }
      case 'MemberSuspended':
      case 'MemberReinstated':
      case 'MemberRemoved': {
        const a = getAddress(e.account);
        const kind = e.kind === 'MemberSuspended' ? 'suspended' : e.kind === 'MemberReinstated' ? 'reinstated' : 'removed';
        this.active = nextActiveMembers(this.active, { kind, account: a });
        const m = this.members.get(a);
        if (m !== undefined) m.status = kind === 'reinstated' ? 'active' : kind;
        return;
      }
      case 'EpsilonCapLowered': {
        const m = this.members.get(getAddress(e.account));
        if (m !== undefined) {
          const from = e.fromRound ?? this.round + 1;
          m.previousCap = this.capAt(m.address, from - 1) ?? m.epsilonCap;
          m.epsilonCap = e.newCap;
          m.capFrom = from;
        }
        return;
      }
      default:
        return;
    }
  }

  isActive(account: string): boolean {
    return this.members.get(getAddress(account))?.status === 'active';
  }

  /** Whether `account` was ever added (the contract also charges members suspended or removed mid-round). */
  isKnown(account: string): boolean {
    return this.members.has(getAddress(account));
  }

  capOf(account: string): bigint | undefined {
    return this.members.get(getAddress(account))?.epsilonCap;
  }

  /** `account`'s cap in `round` (the contract's `epsilonCapAt`). */
  capAt(account: string, round: number): bigint | undefined {
    const m = this.members.get(getAddress(account));
    if (m === undefined) return undefined;
    return round >= m.capFrom ? m.epsilonCap : m.previousCap;
  }
}
