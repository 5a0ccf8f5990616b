/**
 * RoundInbox: receives, validates, reassembles and stores the round's gossip — participants'
 * updates (plaintext UpdatePayload or secure-aggregation MaskedInputPayload, both chunked on
 * the update topic) and the committee's aggregate (v1 plaintext or v2 secure). Reassembly
 * happens inside the topic validator so a chunk that completes a corrupt payload is REJECTed
 * (and its forwarder penalised by peer scoring), not silently dropped.
 *
 * Order (protocol/validate.ts): the chunk pipeline (size → decoding → version → federation →
 * round → author → replay) runs first; reassembly, payload decoding, the base-model check and
 * equivocation run on what it ACCEPTs. A second, different update or masked input from one
 * sender for one round is equivocation: REJECTed, and both payload digests are logged as a
 * structured evidence record (`event: 'equivocation'`) and kept in `evidence`.
 */
import { bytesEqual, hash256, type Sha256, toHex0x } from '../../protocol/bytes.js';
import { Reassembler, splitPayload } from '../../protocol/chunking.js';
import { type Chunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { MessageError } from '../../protocol/messages/errors.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { decodeMaskedInput, type MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import { type AnyAggregate, decodeAnyAggregate, decodeUpdate, type UpdatePayload } from '../../protocol/messages/update.js';
import { type ModelWeights, parameterCount } from '../../protocol/model.js';
import { ringWords } from '../../protocol/secure-aggregation/ring.js';
import { validateChunk } from '../../protocol/validate.js';
import { ACCEPT, ignore, reject, type Verdict } from '../../protocol/verdict.js';
import type { Logger } from '../logger.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';
import { ChangeNotifier } from './change-notifier.js';

/** Equivocation evidence: two different payloads of one kind from one sender for one round. */
export interface EquivocationEvidence {
  readonly kind: 'update' | 'masked-input' | SecAggEvidenceKind;
  readonly round: number;
  readonly sender: string;
  /** SHA-256 (hex) and length of the payload accepted first. */
  readonly first: { readonly sha256: string; readonly bytes: number };
  /** SHA-256 (hex) and length of the conflicting payload. */
  readonly second: { readonly sha256: string; readonly bytes: number };
}

/** Secure-aggregation message kinds by name, for evidence records. */
export type SecAggEvidenceKind = `secagg-${string}`;

/** Evidence records kept in memory per inbox (the log keeps them all). */
export const MAX_EVIDENCE_RECORDS = 256;

/** Log an equivocation and keep it (bounded) in `list`. */
export function recordEquivocation(list: EquivocationEvidence[], log: Logger | undefined, e: EquivocationEvidence): void {
  list.push(e);
  if (list.length > MAX_EVIDENCE_RECORDS) list.shift();
  log?.warn({ event: 'equivocation', ...e }, `${e.sender} sent two different ${e.kind} messages for round ${e.round}`);
}

export interface ReceivedUpdate {
  readonly sender: string;
  readonly payloadHash: Uint8Array;
  readonly update: UpdatePayload;
  /** Payload length in bytes. */
  readonly bytes: number;
}

export interface ReceivedMaskedInput {
  readonly sender: string;
  /** SHA-256 of the MaskedInputPayload: what committee views sign. */
  readonly payloadHash: Uint8Array;
  readonly input: MaskedInputPayload;
  /** Payload length in bytes. */
  readonly bytes: number;
}

export interface ReceivedAggregate {
  readonly sender: string;
  readonly aggregate: AnyAggregate;
  /** SHA-256 of the aggregate's canonical weights encoding: the model hash. */
  readonly modelHash: Uint8Array;
}

export interface RoundInboxInit {
  readonly federation: string;
  readonly isMember: (peer: string) => boolean;
  readonly isCommittee: (peer: string, round: number) => boolean;
  /** Is round `round`'s committee known here? If not, its aggregates are IGNOREd (protocol/validate.ts). */
  readonly knowsCommittee?: (round: number) => boolean;
  /** The federation model's architecture: every update/aggregate must match its shapes. */
  readonly template: ModelWeights;
  /** Hash of the model round `round` must start from, when known. */
  readonly expectedBase: (round: number) => Uint8Array | undefined;
  readonly modelHash: (w: ModelWeights) => Uint8Array;
  /** Chunk size for outgoing payloads (bytes); default the protocol maximum. */
  readonly chunkSize?: number;
  /** SHA-256 of whole payloads (chunking, inputs' hashes); default pure JS. The peer passes node:crypto's. */
  readonly sha256?: Sha256;
  /** Shared with the secure-aggregation inbox so waits can span both. */
  readonly notifier?: ChangeNotifier;
  /** Where equivocation evidence is logged (structured records). */
  readonly log?: Logger;
}

export class RoundInbox {
  /** Equivocation evidence seen by this inbox, oldest first (bounded; the log has every record). */
  readonly evidence: EquivocationEvidence[] = [];
  /** Chunks taken per round (step 7 of the pipeline: a replayed chunk is IGNOREd). */
  private readonly seen = new Map<number, Set<string>>();
  private current = 1;
  private readonly reassembler: Reassembler;
  private readonly sha256: Sha256;
  private readonly updates = new Map<number, Map<string, ReceivedUpdate>>();
  private readonly maskedInputs = new Map<number, Map<string, ReceivedMaskedInput>>();
  private readonly aggregates = new Map<number, ReceivedAggregate[]>();
  readonly notifier: ChangeNotifier;
  readonly updateTopic: string;
  readonly aggregateTopic: string;
  /** Words in a masked input: every parameter plus the sample count, two words each (Z_{2^64}). */
  private readonly maskedWords: number;

  constructor(
    private readonly gossip: Gossip,
    private readonly init: RoundInboxInit,
  ) {
    this.updateTopic = topicFor(init.federation, 'update');
    this.aggregateTopic = topicFor(init.federation, 'aggregate');
    this.notifier = init.notifier ?? new ChangeNotifier();
    this.maskedWords = ringWords(parameterCount(init.template) + 1);
    this.sha256 = init.sha256 ?? hash256;
    this.reassembler = new Reassembler(undefined, this.sha256);
  }

  start(): void {
    this.gossip.subscribe(
      this.updateTopic,
      (m) => this.onChunk(m, [PayloadType.Update, PayloadType.MaskedInput]),
      () => {},
    );
    this.gossip.subscribe(
      this.aggregateTopic,
      (m) => this.onChunk(m, [PayloadType.Aggregate]),
      () => {},
    );
  }

  stop(): void {
    this.gossip.unsubscribe(this.updateTopic);
    this.gossip.unsubscribe(this.aggregateTopic);
    this.notifier.clear();
  }

  get round(): number {
    return this.current;
  }

  /** Move to `round`, forgetting state of rounds before `round − 1`. */
  setRound(round: number): void {
    this.current = round;
    this.reassembler.dropRoundsBefore(round);
    for (const r of this.seen.keys()) if (r < round) this.seen.delete(r);
    for (const r of this.updates.keys()) if (r < round) this.updates.delete(r);
    for (const r of this.maskedInputs.keys()) if (r < round) this.maskedInputs.delete(r);
    for (const r of this.aggregates.keys()) if (r < round - 1) this.aggregates.delete(r);
  }

  updatesFor(round: number): ReadonlyMap<string, ReceivedUpdate> {
    return this.updates.get(round) ?? new Map();
  }

  maskedInputsFor(round: number): ReadonlyMap<string, ReceivedMaskedInput> {
    return this.maskedInputs.get(round) ?? new Map();
  }

  aggregateFor(round: number, modelHash: Uint8Array): ReceivedAggregate | undefined {
    return this.aggregates.get(round)?.find((a) => bytesEqual(a.modelHash, modelHash));
  }

  /** Resolve when `predicate()` holds, re-checked on every stored payload; reject on abort. */
  waitUntil(predicate: () => boolean, signal: AbortSignal): Promise<void> {
    return this.notifier.waitUntil(predicate, signal);
  }

  /** Publish our own payload, chunked, and store it locally (gossip does not echo to self). */
  async publishUpdate(round: number, payload: Uint8Array): Promise<void> {
    this.storeUpdate(round, this.gossip.self, payload);
    await this.publish(PayloadType.Update, round, payload);
  }

  async publishMaskedInput(round: number, payload: Uint8Array): Promise<void> {
    this.storeMaskedInput(round, this.gossip.self, payload);
    await this.publish(PayloadType.MaskedInput, round, payload);
  }

  async publishAggregate(round: number, payload: Uint8Array): Promise<void> {
    this.storeAggregate(round, this.gossip.self, payload);
    await this.publish(PayloadType.Aggregate, round, payload);
  }

  private async publish(type: PayloadType, round: number, payload: Uint8Array): Promise<void> {
    const topic = type === PayloadType.Aggregate ? this.aggregateTopic : this.updateTopic;
    const header = { type, federation: this.init.federation, round, sender: this.gossip.self };
    const chunks = splitPayload(payload, header, this.init.chunkSize, this.sha256);
    for (const c of chunks) await this.gossip.publish(topic, encodeChunk(c));
  }

  private onChunk(m: GossipMessage, types: readonly PayloadType[]): Verdict {
    const { verdict, chunk } = validateChunk(m.data, m.from, {
      federation: this.init.federation,
      currentRound: this.current,
      expectedType: types,
      isMember: this.init.isMember,
      isCommittee: this.init.isCommittee,
      ...(this.init.knowsCommittee !== undefined ? { knowsCommittee: this.init.knowsCommittee } : {}),
      isReplay: (c) => this.seen.get(c.round)?.has(chunkKey(c)) === true,
    });
    if (chunk === undefined) return verdict;
    try {
      const res = this.reassembler.add(chunk);
      if (res.status === 'duplicate') return ignore('MSG_REPLAY');
      const seen = this.seen.get(chunk.round) ?? new Set<string>();
      seen.add(chunkKey(chunk));
      this.seen.set(chunk.round, seen);
      if (res.status !== 'complete') return ACCEPT;
      switch (chunk.type) {
        case PayloadType.Update:
          return this.storeUpdate(chunk.round, chunk.sender, res.payload, res.payloadHash);
        case PayloadType.MaskedInput:
          return this.storeMaskedInput(chunk.round, chunk.sender, res.payload, res.payloadHash);
        case PayloadType.Aggregate:
          return this.storeAggregate(chunk.round, chunk.sender, res.payload);
      }
    } catch (e) {
      if (e instanceof MessageError) return reject(e.code);
      throw e;
    }
  }

  /** `payloadHash`: the hash the reassembler already verified, when the payload came over gossip. */
  private storeUpdate(round: number, sender: string, payload: Uint8Array, payloadHash = this.sha256(payload)): Verdict {
    const update = decodeUpdate(payload, this.init.template);
    const base = this.init.expectedBase(round);
    if (base !== undefined && !bytesEqual(base, update.baseModelHash)) return reject('UPDATE_WRONG_BASE');
    const byRound = this.updates.get(round) ?? new Map<string, ReceivedUpdate>();
    const prior = byRound.get(sender);
    if (prior !== undefined) {
      // One update per participant per round; a second, different one is equivocation.
      if (bytesEqual(prior.payloadHash, payloadHash)) return ACCEPT;
      return this.equivocation('update', round, sender, prior.payloadHash, prior.bytes, payloadHash, payload.length);
    }
    byRound.set(sender, { sender, payloadHash, update, bytes: payload.length });
    this.updates.set(round, byRound);
    this.notify();
    return ACCEPT;
  }

  private storeMaskedInput(round: number, sender: string, payload: Uint8Array, payloadHash = this.sha256(payload)): Verdict {
    const input = decodeMaskedInput(payload, this.maskedWords);
    const base = this.init.expectedBase(round);
    if (base !== undefined && !bytesEqual(base, input.baseModelHash)) return reject('UPDATE_WRONG_BASE');
    const byRound = this.maskedInputs.get(round) ?? new Map<string, ReceivedMaskedInput>();
    const prior = byRound.get(sender);
    if (prior !== undefined) {
      if (bytesEqual(prior.payloadHash, payloadHash)) return ACCEPT;
      return this.equivocation('masked-input', round, sender, prior.payloadHash, prior.bytes, payloadHash, payload.length);
    }
    byRound.set(sender, { sender, payloadHash, input, bytes: payload.length });
    this.maskedInputs.set(round, byRound);
    this.notify();
    return ACCEPT;
  }

  private storeAggregate(round: number, sender: string, payload: Uint8Array): Verdict {
    const aggregate = decodeAnyAggregate(payload, this.init.template);
    const modelHash = this.init.modelHash(aggregate.weights);
    const list = this.aggregates.get(round) ?? [];
    if (!list.some((a) => bytesEqual(a.modelHash, modelHash))) list.push({ sender, aggregate, modelHash });
    this.aggregates.set(round, list);
    this.notify();
    return ACCEPT;
  }

  private equivocation(
    kind: 'update' | 'masked-input',
    round: number,
    sender: string,
    firstHash: Uint8Array,
    firstBytes: number,
    secondHash: Uint8Array,
    secondBytes: number,
  ): Verdict {
    recordEquivocation(this.evidence, this.init.log, {
      kind,
      round,
      sender,
      first: { sha256: toHex(firstHash), bytes: firstBytes },
      second: { sha256: toHex(secondHash), bytes: secondBytes },
    });
    return reject('UPDATE_EQUIVOCATION');
  }

  private notify(): void {
    this.notifier.notify();
  }
}

/** A chunk's identity for replay detection: its data is bound by the payload hash. */
function chunkKey(c: Chunk): string {
  return `${c.type}|${c.sender}|${toHex0x(c.payloadHash)}|${c.chunkIndex}`;
}

function toHex(b: Uint8Array): string {
  return toHex0x(b).slice(2);
}
