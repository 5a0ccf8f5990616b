/**
 * Deterministic committee selection (foundation version).
 *
 * Each member gets the score SHA-256("fedmesh/committee/v1" || federation || u64le(round) || id)
 * and the m lowest scores form the committee, lowest first. Position 0 is the round's
 * recorder; position k takes over after k grace periods if nobody has recorded yet.
 *
 * This is a hash-ranking ("lottery") over the sorted member list: anyone holding the member
 * list and the round number recomputes it. It is *not* unpredictable: the contracts issue
 * replaces the round input with an on-chain seed (prevrandao + previous record hash) so no
 * member can know or grind future committees.
 */
import { ByteWriter, hash256, utf8 } from './bytes.js';
import { FedmeshError } from './errors.js';

export class CommitteeError extends FedmeshError<'COMMITTEE_TOO_FEW_MEMBERS' | 'COMMITTEE_BAD_SIZE' | 'COMMITTEE_DUPLICATE_MEMBER'> {}

export function committeeScore(federation: string, round: number, member: string): Uint8Array {
  return hash256(
    new ByteWriter(64).bytes(utf8('fedmesh/committee/v1')).varBytes16(utf8(federation)).u64(round).bytes(utf8(member)).finish(),
  );
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export function selectCommittee(federation: string, round: number, members: readonly string[], size: number): string[] {
  if (!Number.isInteger(size) || size < 1) throw new CommitteeError('COMMITTEE_BAD_SIZE', `committee size ${size}`, { size });
  if (new Set(members).size !== members.length) {
    throw new CommitteeError('COMMITTEE_DUPLICATE_MEMBER', 'member list has duplicates', { members: members.length });
  }
  if (members.length < size) {
    throw new CommitteeError('COMMITTEE_TOO_FEW_MEMBERS', `${members.length} members for a committee of ${size}`, {
      members: members.length,
      size,
    });
  }
  return [...members]
    .sort()
    .map((m) => ({ m, s: committeeScore(federation, round, m) }))
    .sort((a, b) => compareBytes(a.s, b.s) || (a.m < b.m ? -1 : 1))
    .slice(0, size)
    .map((x) => x.m);
}
