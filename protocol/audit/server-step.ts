/**
 * The server optimizer's step, replayed (protocol/server-optimizer.ts; docs/manifest.md "Server
 * optimizer"). Under a server optimizer other than FedAvg a round record's `aggregateHash` is the
 * SHA-256 of the aggregate message that carries the round's plain average ā (the committee keeps
 * it as a content-addressed artifact), while `modelHash` is the model after the step. The auditor
 * holds the three models the step reads — w_{t−1} (the model the previous finalized record started
 * from; w_t itself before any), w_t (this record's prevModelHash) and ā (decoded from the payload) —
 * and recomputes w_{t+1} bit for bit: a record whose modelHash is not that step is an error.
 *
 * Every artifact is checked against the hash it is looked up by before it is decoded. Pure.
 */
import { hash256, toHex0x } from '../bytes.js';
import { decodeAnyAggregate } from '../messages/update.js';
import type { ModelWeights } from '../model.js';
import { type ServerOptimizer, serverStep } from '../server-optimizer.js';
import { decodeWeights, modelHash } from '../weights-codec.js';
import { finding, type LocalFinding } from './findings.js';
import type { ArtifactEntry } from './types.js';

export interface ServerStepReplay {
  readonly optimizer: ServerOptimizer;
  readonly round: number;
  /** w_{t−1}'s hash: the previous finalized record's prevModelHash (the initial model's before any). */
  readonly previousModelHash: string;
  readonly record: { readonly prevModelHash: string; readonly modelHash: string; readonly aggregateHash: string };
  readonly artifacts: ReadonlyMap<string, ArtifactEntry>;
}

/** The bytes stored for `hash`, if they hash to it; else why not. */
function verified(artifacts: ReadonlyMap<string, ArtifactEntry>, hash: string): Uint8Array | string {
  const entry = artifacts.get(hash.toLowerCase());
  if (entry === undefined) return 'missing';
  if ('error' in entry) return `unavailable (${entry.error})`;
  if (toHex0x(hash256(entry.bytes)) !== hash.toLowerCase()) return `${entry.source} does not hash to it`;
  return entry.bytes;
}

/**
 * The finding for one finalized round: none when the recorded model is the step, an error
 * SERVER_STEP_MISMATCH when it is not (or the bound payload is not an aggregate of this round), a
 * warning SERVER_STEP_UNVERIFIED when an artifact is missing.
 */
export function checkServerStep(x: ServerStepReplay): LocalFinding | undefined {
  const { round, record } = x;
  const need = [
    ['the round average (record aggregateHash)', record.aggregateHash],
    ['w_t (record prevModelHash)', record.prevModelHash],
    ['w_{t−1}', x.previousModelHash],
  ] as const;
  const bytes: Uint8Array[] = [];
  for (const [what, hash] of need) {
    const b = verified(x.artifacts, hash);
    if (typeof b === 'string') {
      return finding('SERVER_STEP_UNVERIFIED', 'warning', `round ${round}: the server step cannot be replayed: ${what} ${hash} is ${b}`, {
        artifact: what,
        hash,
        reason: b,
      });
    }
    bytes.push(b);
  }
  const mismatch = (why: string, evidence: Record<string, unknown>): LocalFinding =>
    finding('SERVER_STEP_MISMATCH', 'error', `round ${round}: ${why}`, { optimizer: x.optimizer, ...evidence });
  let average: ModelWeights;
  let head: ModelWeights;
  let previous: ModelWeights;
  try {
    const payload = decodeAnyAggregate(bytes[0]!);
    if (toHex0x(payload.prevModelHash) !== record.prevModelHash.toLowerCase()) {
      return mismatch('the recorded aggregate is not built on this round’s head', {
        aggregatePrevModelHash: toHex0x(payload.prevModelHash),
        prevModelHash: record.prevModelHash,
      });
    }
    average = payload.weights;
    head = decodeWeights(bytes[1]!);
    previous = decodeWeights(bytes[2]!);
  } catch (e) {
    return mismatch(`an artifact of the step does not decode: ${String(e)}`, { aggregateHash: record.aggregateHash });
  }
  let replayed: string;
  try {
    replayed = toHex0x(modelHash(serverStep(x.optimizer, { previous, head, aggregate: average })));
  } catch (e) {
    return mismatch(`the server step cannot be applied: ${String(e)}`, { aggregateHash: record.aggregateHash });
  }
  if (replayed === record.modelHash.toLowerCase()) return undefined;
  return mismatch('the recorded model is not the server step of the recorded average', {
    recorded: record.modelHash,
    replayed,
    aggregateHash: record.aggregateHash,
    prevModelHash: record.prevModelHash,
    previousModelHash: x.previousModelHash,
  });
}
