/**
 * A committee member's store of decrypted shares for one round, and the rule that makes
 * double masking safe (Bonawitz et al., CCS 2017, §4): for any one participant an honest
 * member reveals its share of the self-mask seed b_i (participant survived) or its share of
 * the mask secret key s_i^SK (participant dropped) — never both. With both, y_i − PRG(b_i) −
 * Σ±PRG(s_ij) = x_i: the participant's update in the clear.
 *
 * The vault remembers every reveal for the round and refuses the other kind with
 * SECAGG_BOTH_KINDS, whatever proposal asks. Shares are wiped by `dispose()`.
 */
import { wipe } from '../bytes.js';
import { SecAggError } from './errors.js';
import type { Share } from './shamir.js';

export type ShareKind = 'self-mask' | 'mask-key';

interface Held {
  readonly selfMask: Share;
  readonly maskKey: Share;
}

export class ShareVault {
  private readonly held = new Map<string, Held>();
  private readonly revealed = new Map<string, ShareKind>();

  constructor(readonly owner: string) {}

  put(participant: string, selfMask: Share, maskKey: Share): void {
    if (this.held.has(participant)) {
      throw new SecAggError('SECAGG_DUPLICATE', `shares of ${participant} already held`, { participant });
    }
    this.held.set(participant, { selfMask, maskKey });
  }

  has(participant: string): boolean {
    return this.held.has(participant);
  }

  get participants(): string[] {
    return [...this.held.keys()].sort();
  }

  /** The kind already revealed for `participant`, if any. */
  revealedKind(participant: string): ShareKind | undefined {
    return this.revealed.get(participant);
  }

  /**
   * Reveal this member's share of one kind for `participant`. Throws SECAGG_BOTH_KINDS if
   * the other kind was revealed before, SECAGG_UNKNOWN_KEY if no share is held.
   */
  reveal(participant: string, kind: ShareKind): Share {
    const prior = this.revealed.get(participant);
    if (prior !== undefined && prior !== kind) {
      throw new SecAggError('SECAGG_BOTH_KINDS', `${this.owner} already revealed the ${prior} share of ${participant}; refusing ${kind}`, {
        member: this.owner,
        participant,
        revealed: prior,
        requested: kind,
      });
    }
    const h = this.held.get(participant);
    if (h === undefined) throw new SecAggError('SECAGG_UNKNOWN_KEY', `no share of ${participant} held`, { participant });
    this.revealed.set(participant, kind);
    const s = kind === 'self-mask' ? h.selfMask : h.maskKey;
    return { x: s.x, y: s.y.slice() };
  }

  /** Check a whole request before revealing anything, so a refused request reveals nothing. */
  checkRequest(survivors: readonly string[], dropped: readonly string[]): void {
    const u = new Set(survivors);
    for (const j of dropped) {
      if (u.has(j)) {
        throw new SecAggError('SECAGG_BOTH_KINDS', `${j} is both a survivor and dropped in one request`, {
          member: this.owner,
          participant: j,
          revealed: 'self-mask',
          requested: 'mask-key',
        });
      }
    }
    for (const i of survivors) if (this.revealed.get(i) === 'mask-key') this.reveal(i, 'self-mask');
    for (const j of dropped) if (this.revealed.get(j) === 'self-mask') this.reveal(j, 'mask-key');
  }

  dispose(): void {
    for (const h of this.held.values()) {
      wipe(h.selfMask.y);
      wipe(h.maskKey.y);
    }
    this.held.clear();
  }
}
