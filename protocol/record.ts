/**
 * Canonical round record and its hash.
 *
 *   recordHash = SHA-256("fedmesh/round-record/v1" || federation varBytes16 || round u64 ||
 *                        prevModelHash 32 || modelHash 32 || participantsHash 32)
 *   participantsHash = SHA-256(count u16 || sorted (id varBytes16 || sampleCount u32 || updateHash 32)…)
 *
 * Participants are sorted by id so the hash does not depend on arrival order.
 */
import { ByteWriter, hash256, utf8 } from './bytes.js';
import type { ParticipantEntry } from './messages/update.js';

export interface RoundRecordV1 {
  readonly federation: string;
  readonly round: number;
  readonly prevModelHash: Uint8Array;
  readonly modelHash: Uint8Array;
  readonly participants: readonly ParticipantEntry[];
}

export function sortParticipants(ps: readonly ParticipantEntry[]): ParticipantEntry[] {
  return [...ps].sort((a, b) => (a.participant < b.participant ? -1 : a.participant > b.participant ? 1 : 0));
}

export function participantsHash(ps: readonly ParticipantEntry[]): Uint8Array {
  const w = new ByteWriter(64 + ps.length * 96).u16(ps.length);
  for (const p of sortParticipants(ps)) w.varBytes16(utf8(p.participant)).u32(p.sampleCount).bytes(p.updateHash);
  return hash256(w.finish());
}

export function recordHash(r: RoundRecordV1): Uint8Array {
  return hash256(
    new ByteWriter(192)
      .bytes(utf8('fedmesh/round-record/v1'))
      .varBytes16(utf8(r.federation))
      .u64(r.round)
      .bytes(r.prevModelHash)
      .bytes(r.modelHash)
      .bytes(participantsHash(r.participants))
      .finish(),
  );
}
