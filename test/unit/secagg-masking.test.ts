/**
 * Double masking in Z_{2^64} (protocol/secure-aggregation/masking.ts) on its own, below the
 * role machines: n participants mask with every other (pairwise keys bound to the deployment
 * and both public keys), some drop after sharing keys, and the committee's `unmaskSum` with the
 * survivors' b_i and the dropped participants' s_j^SK returns exactly the plaintext integer sum —
 * checked against BigInt arithmetic. Unmasking under another deployment's scope leaves garbage:
 * the keys of one deployment remove nothing in another.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deploymentBindingBytes } from '../../protocol/chain/deployment-binding.js';
import { clipLevels } from '../../protocol/secure-aggregation/config.js';
import { type KdfScope, referenceCrypto } from '../../protocol/secure-aggregation/crypto.js';
import { maskInPlace, unmaskSum } from '../../protocol/secure-aggregation/masking.js';
import { quantize } from '../../protocol/secure-aggregation/quantize.js';
import { signedBigAt } from '../../protocol/secure-aggregation/ring.js';
import { config, crypto, ids } from './secagg-helpers.js';
import { seededEntropy } from '../../node/services/secagg-crypto.js';

const cfg = config();
const L = clipLevels(cfg);
const SCOPE: KdfScope = {
  binding: deploymentBindingBytes({ chainId: 31337n, contract: `0x${'11'.repeat(20)}` }),
  federation: 'f',
  round: 9,
};

function round(n: number, d: number, grid: number[], droppedMask: boolean[], seed: number, unmaskScope: KdfScope = SCOPE) {
  const parties = ids(n);
  const ent = seededEntropy(`masking/${seed}`);
  const keys = new Map(
    parties.map((p) => {
      const sk = ent(32);
      return [p, { sk, pk: crypto.x25519.publicKey(sk), b: ent(32) }] as const;
    }),
  );
  const dropped = new Set(parties.filter((_, i) => droppedMask[i] === true));
  // Keep at least one survivor.
  if (dropped.size === n) dropped.delete(parties[0]!);
  const survivors = parties.filter((p) => !dropped.has(p));
  const inputs = new Map<string, Uint32Array>();
  const plain: bigint[] = new Array(d + 1).fill(0n);
  parties.forEach((p, i) => {
    const values = grid.slice(i * d, i * d + d).map((g) => g / 2 ** cfg.fractionalBits);
    const q = quantize(values, 1 + i, cfg, new Uint8Array(4 * d));
    const k = keys.get(p)!;
    maskInPlace(q, {
      crypto: i % 2 === 0 ? crypto : referenceCrypto, // native and reference masks must mix
      scope: SCOPE,
      self: p,
      selfMaskSeed: k.b,
      maskSecretKey: k.sk,
      maskPublicKey: k.pk,
      neighbours: new Map(parties.filter((j) => j !== p).map((j) => [j, keys.get(j)!.pk])),
    });
    if (dropped.has(p)) return; // shared keys, never sent y_i
    inputs.set(p, q);
    for (let c = 0; c < d; c++) plain[c] = plain[c]! + BigInt(grid[i * d + c]!);
    plain[d] = plain[d]! + BigInt(1 + i);
  });
  const sum = unmaskSum({
    crypto,
    scope: unmaskScope,
    inputs,
    selfMaskSeeds: new Map(survivors.map((p) => [p, keys.get(p)!.b])),
    droppedSecretKeys: new Map([...dropped].map((j) => [j, keys.get(j)!.sk])),
    neighbours: new Map(survivors.map((p) => [p, new Set(parties.filter((j) => j !== p))])),
    maskPublicKeys: new Map(survivors.map((p) => [p, keys.get(p)!.pk])),
  });
  return { sum, plain };
}

describe('masking in Z_{2^64}', () => {
  it('the unmasked sum equals the plaintext integer sum for any dropout set (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: -L, max: L }), { minLength: 42, maxLength: 42 }),
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        fc.integer(),
        (n, d, grid, drop, seed) => {
          const { sum, plain } = round(n, d, grid, drop, seed);
          expect(Array.from({ length: d + 1 }, (_, k) => signedBigAt(sum, k))).toEqual(plain);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('all inputs at +L: the sum of 7 edges is exact through the masks', () => {
    const { sum, plain } = round(7, 3, new Array(21).fill(L), new Array(7).fill(false), 1);
    expect(signedBigAt(sum, 0)).toBe(7n * BigInt(L));
    expect(Array.from({ length: 4 }, (_, k) => signedBigAt(sum, k))).toEqual(plain);
  });

  it('masks derived for one deployment are not removed under another (same federation name and round)', () => {
    const other = { ...SCOPE, binding: deploymentBindingBytes({ chainId: 1n, contract: `0x${'11'.repeat(20)}` }) };
    const { sum, plain } = round(4, 3, new Array(12).fill(5), [false, false, true, false], 2, other);
    expect(Array.from({ length: 4 }, (_, k) => signedBigAt(sum, k))).not.toEqual(plain);
  });
});
