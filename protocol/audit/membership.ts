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
  /** Cap ε in 1e-6 units. */
  epsilonCap: bigint;
}

export class MembershipReplay {
  /** Active members in registry order. */
  active: string[] = [];
  readonly members = new Map<string, MemberState>();

  /** Applies one registry event; round events are ignored. */
  apply(e: AuditEvent): void {
    switch (e.kind) {
      case 'MemberAdded': {
        const a = getAddress(e.account);
        this.members.set(a, { address: a, peerId: e.peerId, status: 'active', epsilonCap: e.epsilonCap });
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
        if (m !== undefined) m.epsilonCap = e.newCap;
        return;
      }
      default:
        return;
    }
  }

  isActive(account: string): boolean {
    return this.members.get(getAddress(account))?.status === 'active';
  }

  capOf(account: string): bigint | undefined {
    return this.members.get(getAddress(account))?.epsilonCap;
  }
}
