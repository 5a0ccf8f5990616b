/**
 * Where a member keeps its unused committee prekey secrets (./secagg-prekeys.ts): the port, its
 * in-memory twin (STYLE.md §3) and the daemon's file, `prekeys.bin`, encrypted at rest (threat
 * model G10) with AES-256-GCM under HKDF-SHA256(identity seed, "fedmesh/prekey-store/v1") (RFC
 * 5869): only the holder of the libp2p identity — itself sealed by the passphrase
 * (node/keystore/keystore.ts) — opens it. Every save replaces the whole file atomically
 * (node/store/atomic.ts), so an erased secret is gone from the file once `save` returns. Freed
 * disk blocks of earlier versions are the file system's: see docs/threat-model.md, "Not protected".
 *
 * `generatedThrough` is the highest round a key was ever generated for: the publisher never
 * generates a second key for a round at or below it (that would be an equivocation that every
 * receiver refuses), including after a restart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ByteReader, ByteWriter, utf8, wipe } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import type { Entropy } from '../../protocol/secure-aggregation/crypto.js';
import { MAX_PREKEYS_PER_BUNDLE } from '../../protocol/secure-aggregation/prekeys.js';
import { writeFileAtomic } from '../store/atomic.js';

export interface PrekeyState {
  /** Unused secrets by round. */
  readonly secrets: ReadonlyMap<number, Uint8Array>;
  readonly generatedThrough: number;
  /**
   * Rounds up to this one may have been keyed by an earlier state this store does not hold (it
   * skipped them: ./secagg-prekeys.ts `checkHistory`); 0: none. A member holding no key of its own
   * for such a round does not complain about shares it cannot open (red team F25).
   */
  readonly unknownThrough?: number;
  /** The key generation the secrets belong to (protocol/secure-aggregation/prekeys.ts `PrekeyBundle.epoch`); 0: the first. */
  readonly epoch?: number;
}

export interface PrekeySecretStore {
  load(): PrekeyState;
  /** Replace the stored state; durable when it returns. Secrets not in `state` are gone. */
  save(state: PrekeyState): void;
}

export class PrekeyStoreError extends FedmeshError<'PREKEY_STORE_CORRUPT'> {}

/** The in-memory twin: what it holds is exactly what a thief of the node's state would find. */
export class MemoryPrekeyStore implements PrekeySecretStore {
  private state: PrekeyState = { secrets: new Map(), generatedThrough: 0, unknownThrough: 0, epoch: 0 };

  load(): PrekeyState {
    return copy(this.state);
  }

  save(state: PrekeyState): void {
    for (const s of this.state.secrets.values()) wipe(s);
    this.state = copy(state);
  }
}

function copy(s: PrekeyState): PrekeyState {
  return {
    secrets: new Map([...s.secrets].map(([r, k]) => [r, k.slice()])),
    generatedThrough: s.generatedThrough,
    unknownThrough: s.unknownThrough ?? 0,
    epoch: s.epoch ?? 0,
  };
}

const STORE_INFO = 'fedmesh/prekey-store/v1';
/** 2: the plaintext carries the key generation after unknownThrough (1 is still read, as generation 0). */
const FILE_VERSION = 2;
/** A window never exceeds one bundle; twice that bounds a file written by any version of the node. */
const MAX_STORED = 2 * MAX_PREKEYS_PER_BUNDLE;

/** The file key: HKDF-SHA256 of the 32-byte Ed25519 identity seed. */
export function prekeyStoreKey(identitySeed: Uint8Array): Uint8Array {
  return hkdf(sha256, identitySeed, undefined, utf8(STORE_INFO), 32);
}

/** `path` sealed under `key` (32 bytes, `prekeyStoreKey`); nonces from `entropy`. */
export class FilePrekeyStore implements PrekeySecretStore {
  constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
    private readonly entropy: Entropy,
  ) {}

  load(): PrekeyState {
    if (!existsSync(this.path)) return { secrets: new Map(), generatedThrough: 0, unknownThrough: 0, epoch: 0 };
    const corrupt = (reason: string): PrekeyStoreError =>
      new PrekeyStoreError('PREKEY_STORE_CORRUPT', `${this.path}: ${reason}`, { path: this.path, reason });
    const data = new Uint8Array(readFileSync(this.path));
    const version = data[0];
    if (data.length < 1 + 12 + 16 || (version !== 1 && version !== FILE_VERSION)) throw corrupt('version');
    let plain: Uint8Array;
    try {
      plain = gcm(this.key, data.subarray(1, 13), utf8(STORE_INFO)).decrypt(data.subarray(13));
    } catch {
      throw corrupt('does not open under this identity');
    }
    const r = new ByteReader(plain, () => corrupt('truncated'));
    const generatedThrough = r.u64();
    const unknownThrough = r.u64();
    const epoch = version === 1 ? 0 : r.u64();
    const n = r.u16();
    if (n > MAX_STORED) throw corrupt('count');
    const secrets = new Map<number, Uint8Array>();
    for (let i = 0; i < n; i++) secrets.set(r.u64(), r.bytes(32));
    if (r.remaining !== 0) throw corrupt('trailing');
    wipe(plain);
    return { secrets, generatedThrough, unknownThrough, epoch };
  }

  save(state: PrekeyState): void {
    const w = new ByteWriter(32 + state.secrets.size * 40)
      .u64(state.generatedThrough)
      .u64(state.unknownThrough ?? 0)
      .u64(state.epoch ?? 0)
      .u16(state.secrets.size);
    for (const [round, s] of state.secrets) w.u64(round).bytes(s);
    const plain = w.finish();
    const nonce = this.entropy(12);
    const sealed = gcm(this.key, nonce, utf8(STORE_INFO)).encrypt(plain);
    wipe(plain);
    const out = new Uint8Array(1 + 12 + sealed.length);
    out[0] = FILE_VERSION;
    out.set(nonce, 1);
    out.set(sealed, 13);
    writeFileAtomic(this.path, out);
  }
}
