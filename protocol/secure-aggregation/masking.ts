/**
 * Double masking (Bonawitz et al., CCS 2017, §4, "Masking with one-time pads"): vector
 * arithmetic in Z_{2^64} (ring.ts) with PRG streams read as little-endian 64-bit words.
 *
 *   y_i = q_i + PRG(b_i) + Σ_{j ∈ M_i, j > i} PRG(s_ij) − Σ_{j ∈ M_i, j < i} PRG(s_ij)     (mod 2^64)
 *
 * where M_i is the set of participants i masks with — N_G(i) ∩ U_2 for the round's masking graph G
 * (graph.ts, SecAgg+ of Bell et al. 2020; U_2 \ {i} when G is complete) — and ids compare as
 * strings. Masking costs |M_i| PRG streams, and each dropped j costs one stream per survivor that
 * masked with it (|N_G(j) ∩ U|), not one per survivor. For survivors
 * U and dropped D the committee computes
 *
 *   Σ_{i∈U} q_i = Σ_{i∈U} y_i − Σ_{i∈U} PRG(b_i) − Σ_{j∈D} Σ_{i∈U, j∈M_i} ±PRG(s_ij)
 *
 * because pairwise masks between two survivors cancel (+ in one, − in the other) as long as
 * the neighbour relation is symmetric on U, which the committee checks (views.ts).
 */
import { wipe } from '../bytes.js';
import { agreeAll, type KdfScope, pairwiseMaskKey, type SecAggCrypto, selfMaskKey } from './crypto.js';
import { SecAggError } from './errors.js';
import { addRing, addStream64 } from './ring.js';

/** `target += sign · keystream` in Z_{2^64}, the keystream read as little-endian u64 words (ring.ts). */
export function addStream(target: Uint32Array, keystream: Uint8Array, sign: 1 | -1): void {
  addStream64(target, keystream, sign);
}

/** `target += sign · PRG(key)`, wiping the keystream afterwards. */
export function addPrg(crypto: SecAggCrypto, target: Uint32Array, key: Uint8Array, sign: 1 | -1): void {
  const ks = crypto.prg.keystream(key, 4 * target.length);
  addStream(target, ks, sign);
  wipe(ks);
}

/** `acc += v` in Z_{2^64} (ring.ts `addRing`). */
export function addVector(acc: Uint32Array, v: Uint32Array): void {
  addRing(acc, v);
}

/** The sign with which i's input carries the mask shared with j. */
export function pairSign(i: string, j: string): 1 | -1 {
  return j > i ? 1 : -1;
}

export interface MaskInputs {
  readonly crypto: SecAggCrypto;
  /** Deployment, federation and round every derived key is bound to (crypto.ts). */
  readonly scope: KdfScope;
  readonly self: string;
  /** Self-mask seed b_i. */
  readonly selfMaskSeed: Uint8Array;
  /** This participant's mask secret key s_i^SK. */
  readonly maskSecretKey: Uint8Array;
  /** Its advertised mask public key s_i^PK (bound into every pairwise key). */
  readonly maskPublicKey: Uint8Array;
  /** Neighbours M_i and their advertised mask public keys s_j^PK. */
  readonly neighbours: ReadonlyMap<string, Uint8Array>;
}

/** Mask `q` in place: y = q + PRG(b_i) ± PRG(s_ij). Wipes every derived key and stream. */
export function maskInPlace(q: Uint32Array, m: MaskInputs): void {
  const self = selfMaskKey(m.selfMaskSeed, m.scope, m.self);
  addPrg(m.crypto, q, self, 1);
  wipe(self);
  const peers = [...m.neighbours.keys()].sort();
  const shared = agreeAll(
    m.crypto.x25519,
    m.maskSecretKey,
    peers.map((p) => m.neighbours.get(p)!),
  );
  const me = { id: m.self, publicKey: m.maskPublicKey };
  peers.forEach((j, idx) => {
    const key = pairwiseMaskKey(shared[idx]!, m.scope, me, { id: j, publicKey: m.neighbours.get(j)! });
    wipe(shared[idx]!);
    addPrg(m.crypto, q, key, pairSign(m.self, j));
    wipe(key);
  });
}

export interface UnmaskInputs {
  readonly crypto: SecAggCrypto;
  /** Deployment, federation and round every derived key is bound to (crypto.ts). */
  readonly scope: KdfScope;
  /** Masked inputs y_i of the survivors U. */
  readonly inputs: ReadonlyMap<string, Uint32Array>;
  /** Reconstructed self-mask seeds b_i, one per survivor. */
  readonly selfMaskSeeds: ReadonlyMap<string, Uint8Array>;
  /** Reconstructed mask secret keys s_j^SK of dropped participants D. */
  readonly droppedSecretKeys: ReadonlyMap<string, Uint8Array>;
  /** Each survivor's neighbour set M_i. */
  readonly neighbours: ReadonlyMap<string, ReadonlySet<string>>;
  /** Advertised mask public keys s_i^PK of the survivors. */
  readonly maskPublicKeys: ReadonlyMap<string, Uint8Array>;
}

/** Σ_{i∈U} q_i mod 2^64 from the masked inputs and the reconstructed secrets. */
export function unmaskSum(u: UnmaskInputs): Uint32Array {
  const survivors = [...u.inputs.keys()].sort();
  if (survivors.length === 0) throw new SecAggError('SECAGG_TOO_FEW_SURVIVORS', 'no inputs to unmask', { survivors: 0 });
  const acc = new Uint32Array(u.inputs.get(survivors[0]!)!.length);
  for (const i of survivors) addVector(acc, u.inputs.get(i)!);
  for (const i of survivors) {
    const b = u.selfMaskSeeds.get(i);
    if (b === undefined) throw new SecAggError('SECAGG_TOO_FEW_SHARES', `no self-mask seed for ${i}`, { participant: i });
    const key = selfMaskKey(b, u.scope, i);
    addPrg(u.crypto, acc, key, -1);
    wipe(key);
  }
  for (const [j, sk] of [...u.droppedSecretKeys].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const maskedWithJ = survivors.filter((i) => u.neighbours.get(i)?.has(j) === true);
    if (maskedWithJ.length === 0) continue;
    const pks = maskedWithJ.map((i) => {
      const pk = u.maskPublicKeys.get(i);
      if (pk === undefined) throw new SecAggError('SECAGG_UNKNOWN_KEY', `no mask public key for ${i}`, { participant: i });
      return pk;
    });
    const shared = agreeAll(u.crypto.x25519, sk, pks);
    // s_j^PK from the reconstructed s_j^SK (the committee checked it against j's advertisement).
    const dropped = { id: j, publicKey: u.crypto.x25519.publicKey(sk) };
    maskedWithJ.forEach((i, idx) => {
      const key = pairwiseMaskKey(shared[idx]!, u.scope, { id: i, publicKey: pks[idx]! }, dropped);
      wipe(shared[idx]!);
      // y_i carries pairSign(i, j)·PRG(s_ij); remove it.
      addPrg(u.crypto, acc, key, pairSign(i, j) === 1 ? -1 : 1);
      wipe(key);
    });
  }
  return acc;
}
