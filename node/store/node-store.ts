/**
 * The node's persistent state, plain files with atomic renames (node/store/atomic.ts):
 *
 *   models/<sha256>.fmwt   content-addressed model artifacts (canonical FMWT encoding); a file
 *                          whose hash does not match its name is treated as absent
 *   head.json              { round, modelHash } — the latest adopted model
 *   rounds/<r>.json        per-round protocol state: the stage reached and whether masking
 *                          randomness was used, so a restart never re-masks a round with the same
 *                          secrets (it abstains from that round instead)
 *   privacy.json           cache of the node's own privacy spend (the chain is the truth)
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import { readJsonIfExists, sweepTemporaries, writeFileAtomic } from './atomic.js';

export class StoreError extends FedmeshError<'STORE_BAD_HASH' | 'STORE_CORRUPT'> {}

export interface Head {
  readonly round: number;
  readonly modelHash: `0x${string}`;
}

export interface RoundState {
  readonly round: number;
  /** Furthest stage reached, e.g. 'training', 'masked-input-sent', 'adopted', 'abstained'. */
  readonly stage: string;
  /** True once any secret masking randomness for this round has left the node. */
  readonly maskingUsed: boolean;
  readonly updatedAt: string;
}

export interface PrivacyCache {
  readonly rounds: number;
  /** Cumulative RDP at the on-chain orders (same units as the chain ledger). */
  readonly rdp: readonly number[];
  readonly epsilon: number;
}

export class NodeStore {
  readonly modelsDir: string;
  readonly roundsDir: string;

  constructor(readonly dir: string) {
    this.modelsDir = join(dir, 'models');
    this.roundsDir = join(dir, 'rounds');
    for (const d of [dir, this.modelsDir, this.roundsDir]) {
      mkdirSync(d, { recursive: true });
      sweepTemporaries(d);
    }
  }

  /** Store an encoded model; returns its hash. Idempotent. */
  putModel(encoded: Uint8Array): `0x${string}` {
    const hash = toHex0x(hash256(encoded));
    const path = join(this.modelsDir, `${hash.slice(2)}.fmwt`);
    if (!existsSync(path)) writeFileAtomic(path, encoded);
    return hash;
  }

  /** The encoded model with this hash, verified; undefined if absent or corrupt. */
  getModel(hash: string): Uint8Array | undefined {
    const path = join(this.modelsDir, `${hash.replace(/^0x/, '').toLowerCase()}.fmwt`);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    return bytesEqual(hash256(bytes), fromHex0x(hash)) ? bytes : undefined;
  }

  hasModel(hash: string): boolean {
    return this.getModel(hash) !== undefined;
  }

  head(): Head | undefined {
    return this.readJson<Head>(join(this.dir, 'head.json'));
  }

  setHead(head: Head): void {
    if (!this.hasModel(head.modelHash)) {
      throw new StoreError('STORE_BAD_HASH', `cannot set head to ${head.modelHash}: model not stored`, { modelHash: head.modelHash });
    }
    writeFileAtomic(join(this.dir, 'head.json'), `${JSON.stringify(head)}\n`);
  }

  roundState(round: number): RoundState | undefined {
    return this.readJson<RoundState>(join(this.roundsDir, `${round}.json`));
  }

  setRoundState(state: Omit<RoundState, 'updatedAt'>, now: Date = new Date()): void {
    const prior = this.roundState(state.round);
    // Masking randomness, once used, stays used: the flag never goes back to false.
    const maskingUsed = state.maskingUsed || prior?.maskingUsed === true;
    writeFileAtomic(
      join(this.roundsDir, `${state.round}.json`),
      `${JSON.stringify({ ...state, maskingUsed, updatedAt: now.toISOString() })}\n`,
    );
  }

  privacy(): PrivacyCache | undefined {
    return this.readJson<PrivacyCache>(join(this.dir, 'privacy.json'));
  }

  setPrivacy(p: PrivacyCache): void {
    writeFileAtomic(join(this.dir, 'privacy.json'), `${JSON.stringify(p)}\n`);
  }

  private readJson<T>(path: string): T | undefined {
    try {
      return readJsonIfExists<T>(path);
    } catch (e) {
      throw new StoreError('STORE_CORRUPT', `${path} is not valid JSON`, { path, reason: String(e) });
    }
  }
}
