/**
 * Committee members' EIP-712 signatures gossiped on one topic, kept per round and digest until a
 * submitter holds t of them: the round record's (`/fedmesh/<federation>/finalize/1`,
 * ./federation-recorder.ts) and the lock charge's (`/fedmesh/<federation>/charge/1`,
 * ./lock-charger.ts, red team F18). Both use the FinalizeSignature v1 layout
 * (protocol/messages/finalize.ts); only the digest travels, since every honest member builds the
 * same statement.
 *
 * Validation is protocol/validate.ts `validateFinalizeSignature` (size, decoding, version,
 * federation, round, author on the committee and registered, signature over the digest, replay),
 * then one digest per author per round per topic: a second is equivocation (REJECT) and
 * refusing it bounds what a member can make others store.
 */
import { getAddress, recoverAddress, type TypedDataDomain, type TypedDataField, verifyTypedData } from 'ethers';
import { fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { decodeFinalizeSignature, encodeFinalizeSignature } from '../../protocol/messages/finalize.js';
import { validateFinalizeSignature } from '../../protocol/validate.js';
import { ACCEPT, reject, type Verdict } from '../../protocol/verdict.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';

export interface CommitteeSignaturesComponents {
  readonly gossip: Gossip;
  /** Committee of `round` as peer ids, when known (RoundOpener). */
  readonly committeeOf: (round: number) => readonly string[] | undefined;
  /** Registered address of a member's peer id (RoundOpener). */
  readonly addressOf: (peerId: string) => string | undefined;
}

export class CommitteeSignatures {
  /** round → digest (hex) → author → signature (hex). */
  private readonly signatures = new Map<number, Map<string, Map<string, string>>>();
  /** Verdicts of `valid`, by round/digest/author/signature/account; pruned with `signatures`. */
  private readonly checked = new Map<string, boolean>();

  constructor(
    readonly topic: string,
    private readonly federation: string,
    private readonly c: CommitteeSignaturesComponents,
  ) {}

  start(): void {
    this.c.gossip.subscribe(
      this.topic,
      (m) => this.validate(m),
      (m) => this.onMessage(m),
    );
  }

  stop(): void {
    this.c.gossip.unsubscribe(this.topic);
  }

  /** Signatures held for `round` and a digest (author → signature). */
  signaturesFor(round: number, digest: string): ReadonlyMap<string, string> {
    return this.signatures.get(round)?.get(digest.toLowerCase()) ?? new Map();
  }

  /** Keeps our own signature and gossips it. */
  async publish(round: number, self: string, digest: string, signature: string): Promise<void> {
    this.store(round, digest, self, signature);
    await this.c.gossip.publish(
      this.topic,
      encodeFinalizeSignature({
        federation: this.federation,
        round,
        author: self,
        digest: fromHex0x(digest),
        signature: fromHex0x(signature),
      }),
    );
  }

  /**
   * Held signatures of `value` (EIP-712 `types` under `domain`, digest `digest`) that recover to
   * their author's registered address. Each (digest, author, signature) is recovered once and the
   * verdict kept: a submit loop asks every few tens of ms, and re-recovering every held signature
   * each time (pure-JS secp256k1 in ethers) took ~16 s of 69 s CPU in a 16-peer, 2-round
   * simulation and delayed position 0's finalizeRound by ~10 s.
   */
  valid(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: () => Record<string, unknown>,
    round: number,
    digest: string,
  ): string[] {
    const out: string[] = [];
    let v: Record<string, unknown> | undefined;
    for (const [author, sig] of this.signaturesFor(round, digest)) {
      const account = this.c.addressOf(author);
      if (account === undefined) continue;
      const key = `${round}/${digest.toLowerCase()}/${author}/${sig}/${account}`;
      let ok = this.checked.get(key);
      if (ok === undefined) {
        v ??= value();
        try {
          ok = getAddress(verifyTypedData(domain, types, v, sig)) === getAddress(account);
        } catch {
          // A malformed signature never counts.
          ok = false;
        }
        this.checked.set(key, ok);
      }
      if (ok) out.push(sig);
    }
    return out;
  }

  /** Forgets rounds before `round − keep`. */
  prune(round: number, keep: number): void {
    for (const r of this.signatures.keys()) if (r < round - keep) this.signatures.delete(r);
    for (const k of this.checked.keys()) if (Number(k.slice(0, k.indexOf('/'))) < round - keep + 1) this.checked.delete(k);
  }

  private validate(m: GossipMessage): Verdict {
    const { verdict, message: msg } = validateFinalizeSignature(m.data, m.from, {
      federation: this.federation,
      committeeOf: this.c.committeeOf,
      addressOf: this.c.addressOf,
      verifyRecord: (account, digest, signature) => {
        try {
          return getAddress(recoverAddress(toHex0x(digest), toHex0x(signature))) === getAddress(account);
        } catch {
          return false;
        }
      },
      isReplay: (f) => this.signatures.get(f.round)?.get(toHex0x(f.digest).toLowerCase())?.has(f.author) === true,
    });
    if (msg === undefined) return verdict;
    const digest = toHex0x(msg.digest).toLowerCase();
    for (const [d, byAuthor] of this.signatures.get(msg.round) ?? []) {
      if (d !== digest && byAuthor.has(msg.author)) return reject('FINALIZE_EQUIVOCATION');
    }
    return ACCEPT;
  }

  private onMessage(m: GossipMessage): void {
    const msg = decodeFinalizeSignature(m.data);
    this.store(msg.round, toHex0x(msg.digest), msg.author, toHex0x(msg.signature));
  }

  private store(round: number, digest: string, author: string, signature: string): void {
    let byDigest = this.signatures.get(round);
    if (byDigest === undefined) {
      byDigest = new Map();
      this.signatures.set(round, byDigest);
      // Keep the last few rounds only: a late signature for an old round has no use.
      for (const r of this.signatures.keys()) if (r < round - 2) this.signatures.delete(r);
    }
    let byAuthor = byDigest.get(digest.toLowerCase());
    if (byAuthor === undefined) {
      byAuthor = new Map();
      byDigest.set(digest.toLowerCase(), byAuthor);
    }
    if (!byAuthor.has(author)) byAuthor.set(author, signature);
  }
}
