/**
 * Signed committee prekey bundles (protocol/secure-aggregation/prekeys.ts): the known-answer
 * vector from an independent Python encoder (test/vectors/secagg-prekeys.py: statement, Ed25519
 * signature, peer id, X25519 keys, wire bytes), decoding limits and typed errors, the
 * deployment/federation/author binding, and the receiver's directory (first key per member and
 * round stands within a key generation; a higher generation replaces every key of a lower one, a
 * lower one is refused; equivocation, stale and out-of-window bundles refused).
 */
import { readFileSync } from 'node:fs';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIdentityVerifier, identitySigner, nodeSecAggCrypto } from '../../node/services/secagg-crypto.js';
import { isFedmeshError } from '../../protocol/errors.js';
import {
  checkPrekeyPoints,
  decodePrekeyBundle,
  encodePrekeyBundle,
  MAX_PREKEY_BUNDLE_BYTES,
  MAX_PREKEYS_PER_BUNDLE,
  type PrekeyBundle,
  PrekeyDirectory,
  prekeyBundleStatement,
  prekeyTopic,
  signPrekeyBundle,
  verifyPrekeyBundle,
} from '../../protocol/secure-aggregation/prekeys.js';
import { codeOf, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const V = JSON.parse(readFileSync(new URL('../vectors/secagg-prekeys.json', import.meta.url), 'utf8')) as {
  federation: string;
  binding: string;
  identitySeed: string;
  member: string;
  epoch: number;
  firstRound: number;
  sequence: number;
  secrets: string[];
  keys: string[];
  statement: string;
  signature: string;
  bundle: string;
};

const key = (i: number): Uint8Array => nodeSecAggCrypto.x25519.publicKey(new Uint8Array(32).fill(i + 1));
const bundleOf = (member: string, firstRound: number, keys: readonly Uint8Array[], binding = TEST_BINDING, epoch = 0): PrekeyBundle =>
  signPrekeyBundle(binding, 'fed', member, firstRound, keys, testSign(member), epoch);

describe('prekey bundle: known-answer vector (independent Python encoder)', () => {
  it('statement, signature, peer id, X25519 keys and wire bytes match', async () => {
    const sk = await generateKeyPairFromSeed('Ed25519', hex(V.identitySeed));
    expect(peerIdFromPrivateKey(sk).toString()).toBe(V.member);
    const keys = V.secrets.map((s) => nodeSecAggCrypto.x25519.publicKey(hex(s)));
    expect(keys.map(toHex)).toEqual(V.keys);
    const binding = hex(V.binding);
    expect(
      toHex(prekeyBundleStatement(binding, { federation: V.federation, member: V.member, epoch: V.epoch, firstRound: V.firstRound, keys })),
    ).toBe(V.statement);
    const b = signPrekeyBundle(binding, V.federation, V.member, V.firstRound, keys, identitySigner(sk), V.epoch);
    expect(toHex(b.signature)).toBe(V.signature);
    expect(toHex(encodePrekeyBundle({ ...b, sequence: V.sequence }))).toBe(V.bundle);
    const decoded = decodePrekeyBundle(hex(V.bundle));
    expect(decoded.member).toBe(V.member);
    expect(decoded.sequence).toBe(V.sequence);
    expect(decoded.epoch).toBe(V.epoch);
    expect(decoded.keys.map(toHex)).toEqual(V.keys);
    // The real identity verifier accepts it for this deployment and sender only.
    const verify = createIdentityVerifier();
    expect(codeOf(() => verifyPrekeyBundle(binding, V.federation, decoded, V.member, verify))).toBe('none');
    const other = binding.slice();
    other[51] = (other[51] ?? 0) ^ 1;
    expect(codeOf(() => verifyPrekeyBundle(other, V.federation, decoded, V.member, verify))).toBe('PREKEY_BAD_SIGNATURE');
  });

  it('topic is versioned per federation', () => {
    expect(prekeyTopic('demo')).toBe('/fedmesh/demo/prekeys/2');
  });
});

describe('prekey bundle: decoding and verification', () => {
  it('round-trips any well-formed bundle byte for byte', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.integer({ min: 1, max: MAX_PREKEYS_PER_BUNDLE }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (firstRound, n, sequence, e) => {
          const epoch = Math.floor(e * (firstRound - 1));
          const b = {
            ...bundleOf(
              'peer-a',
              firstRound,
              Array.from({ length: n }, (_, i) => key(i % 200)),
              TEST_BINDING,
              epoch,
            ),
            sequence,
          };
          const bytes = encodePrekeyBundle(b);
          expect(bytes.length).toBeLessThanOrEqual(MAX_PREKEY_BUNDLE_BYTES);
          const d = decodePrekeyBundle(bytes);
          expect(d.epoch).toBe(epoch);
          expect(encodePrekeyBundle(d)).toEqual(bytes);
          expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', d, 'peer-a', testVerify))).toBe('none');
        },
      ),
      { numRuns: 50 },
    );
  });

  it('random and mutated bytes give a typed PREKEY_ error, never a crash or a half-filled bundle', () => {
    const good = encodePrekeyBundle(bundleOf('peer-a', 3, [key(0), key(1)]));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: good.length - 1 }), fc.nat(255), (rand, at, v) => {
        for (const bytes of [rand, Uint8Array.from(good, (x, i) => (i === at ? v : x)), good.subarray(0, at)]) {
          try {
            const d = decodePrekeyBundle(bytes);
            expect(d.keys.length).toBeGreaterThan(0);
          } catch (e) {
            expect(isFedmeshError(e) && e.code.startsWith('PREKEY_')).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('limits before parsing: an oversized message is PREKEY_TOO_LARGE, too many keys PREKEY_MALFORMED', () => {
    expect(codeOf(() => decodePrekeyBundle(new Uint8Array(MAX_PREKEY_BUNDLE_BYTES + 1)))).toBe('PREKEY_TOO_LARGE');
    expect(codeOf(() => decodePrekeyBundle(new Uint8Array(1024 * 1024)))).toBe('PREKEY_TOO_LARGE');
    const keys = Array.from({ length: MAX_PREKEYS_PER_BUNDLE + 1 }, (_, i) => key(i));
    expect(codeOf(() => bundleOf('peer-a', 1, keys))).toBe('PREKEY_MALFORMED');
    expect(codeOf(() => bundleOf('peer-a', 1, [new Uint8Array(32)]))).toBe('PREKEY_MALFORMED'); // the zero key
    const b = encodePrekeyBundle(bundleOf('peer-a', 1, [key(0)]));
    expect(codeOf(() => decodePrekeyBundle(Uint8Array.from([...b, 0])))).toBe('PREKEY_MALFORMED');
    expect(codeOf(() => decodePrekeyBundle(Uint8Array.from([1, ...b.subarray(1)])))).toBe('PREKEY_MALFORMED'); // v1
    // A generation keys only rounds after its epoch.
    expect(codeOf(() => bundleOf('peer-a', 4, [key(0)], TEST_BINDING, 4))).toBe('PREKEY_MALFORMED');
    expect(codeOf(() => bundleOf('peer-a', 4, [key(0)], TEST_BINDING, -1))).toBe('PREKEY_MALFORMED');
  });

  it('low-order X25519 keys are refused (PREKEY_BAD_KEY naming the round); ordinary keys pass', () => {
    const orderFour = new Uint8Array(32);
    orderFour[0] = 1; // u = 1
    // u of a point of order 8 (libsodium's small-order blocklist).
    const orderEight = hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
    for (const bad of [orderFour, orderEight]) {
      const b = bundleOf('peer-a', 7, [key(0), bad]);
      let err: unknown;
      try {
        checkPrekeyPoints(b, nodeSecAggCrypto.x25519);
      } catch (e) {
        err = e;
      }
      expect(isFedmeshError(err, 'PREKEY_BAD_KEY')).toBe(true);
      expect((err as { fields: unknown }).fields).toEqual({ member: 'peer-a', round: 8 });
    }
    expect(codeOf(() => checkPrekeyPoints(bundleOf('peer-a', 7, [key(0), key(1)]), nodeSecAggCrypto.x25519))).toBe('none');
  });

  it('bound to the deployment, the federation, the author and every key and round', () => {
    const b = bundleOf('peer-a', 4, [key(0), key(1)]);
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', b, 'peer-a', testVerify))).toBe('none');
    const otherChain = TEST_BINDING.slice();
    otherChain[0] = 1;
    expect(codeOf(() => verifyPrekeyBundle(otherChain, 'fed', b, 'peer-a', testVerify))).toBe('PREKEY_BAD_SIGNATURE');
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'other', b, 'peer-a', testVerify))).toBe('PREKEY_WRONG_FEDERATION');
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', b, 'peer-b', testVerify))).toBe('PREKEY_NOT_AUTHOR');
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', { ...b, firstRound: 5 }, 'peer-a', testVerify))).toBe(
      'PREKEY_BAD_SIGNATURE',
    );
    // The generation is signed: a replayed old bundle cannot be relabelled as a newer one.
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', { ...b, epoch: 3 }, 'peer-a', testVerify))).toBe('PREKEY_BAD_SIGNATURE');
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', { ...b, keys: [key(1), key(0)] }, 'peer-a', testVerify))).toBe(
      'PREKEY_BAD_SIGNATURE',
    );
    // Another member's signature over the same keys does not pass as peer-a's.
    const forged = { ...b, signature: bundleOf('peer-b', 4, [key(0), key(1)]).signature };
    expect(codeOf(() => verifyPrekeyBundle(TEST_BINDING, 'fed', forged, 'peer-a', testVerify))).toBe('PREKEY_BAD_SIGNATURE');
  });
});

describe('prekey directory (receiver state)', () => {
  it('keeps the first key per member and round; a different key for a held round is equivocation and stores nothing', () => {
    const d = new PrekeyDirectory();
    expect(d.add(bundleOf('peer-a', 1, [key(0), key(1), key(2)])).rounds).toEqual([1, 2, 3]);
    // A window extension that repeats the held rounds with the same keys is fine.
    expect(d.add(bundleOf('peer-a', 2, [key(1), key(2), key(3)])).rounds).toEqual([4]);
    expect(codeOf(() => d.add(bundleOf('peer-a', 2, [key(1), key(2), key(3)])))).toBe('PREKEY_DUPLICATE');
    let err: unknown;
    try {
      d.add(bundleOf('peer-a', 3, [key(2), key(9), key(10)]));
    } catch (e) {
      err = e;
    }
    expect(isFedmeshError(err, 'PREKEY_EQUIVOCATION')).toBe(true);
    expect((err as { fields: Record<string, unknown> }).fields).toMatchObject({ member: 'peer-a', round: 4 });
    expect(d.keyFor('peer-a', 4)).toEqual(key(3));
    expect(d.keyFor('peer-a', 5)).toBeUndefined(); // nothing of the equivocating bundle was stored
    // Another member's keys are independent.
    expect(d.add(bundleOf('peer-b', 4, [key(9)])).rounds).toEqual([4]);
  });

  it('ended rounds are dropped and refused (PREKEY_STALE); bundles beyond the window are PREKEY_TOO_EARLY', () => {
    const d = new PrekeyDirectory({ maxAhead: 10 });
    d.add(bundleOf('peer-a', 1, [key(0), key(1), key(2)]));
    d.endThrough(2);
    expect(d.keyFor('peer-a', 1)).toBeUndefined();
    expect(d.keyFor('peer-a', 2)).toBeUndefined();
    expect(d.keyFor('peer-a', 3)).toEqual(key(2));
    expect(codeOf(() => d.add(bundleOf('peer-b', 1, [key(0), key(1)])))).toBe('PREKEY_STALE');
    // A bundle straddling the end keeps only its live rounds.
    expect(d.add(bundleOf('peer-b', 2, [key(0), key(1)])).rounds).toEqual([3]);
    expect(codeOf(() => d.add(bundleOf('peer-c', 13, [key(0)])))).toBe('PREKEY_TOO_EARLY');
    // The default reach is 16 rounds past the last ended one (DEFAULT_PREKEY_MAX_AHEAD).
    expect(codeOf(() => new PrekeyDirectory().add(bundleOf('peer-c', 17, [key(0)])))).toBe('PREKEY_TOO_EARLY');
    expect(new PrekeyDirectory().add(bundleOf('peer-c', 16, [key(0), key(1)])).rounds).toEqual([16]);
    expect(d.add(bundleOf('peer-c', 12, [key(0), key(1)])).rounds).toEqual([12]); // round 13 is past the window
    d.endThrough(1); // never moves back
    expect(d.endedThrough).toBe(2);
    expect(d.size).toBe(3);
  });

  it('key generations (F25 re-keying): a higher epoch replaces every key of the member, a lower one is PREKEY_SUPERSEDED', () => {
    const d = new PrekeyDirectory();
    d.add(bundleOf('peer-a', 1, [key(0), key(1), key(2), key(3)]));
    d.add(bundleOf('peer-b', 1, [key(7)]));
    d.endThrough(1);
    // peer-a lost its state after round 1 closed and keys rounds 2–3 again, generation 1.
    const added = d.add(bundleOf('peer-a', 2, [key(20), key(21)], TEST_BINDING, 1));
    expect(added).toEqual({ member: 'peer-a', rounds: [2, 3], superseded: [2, 3, 4] });
    expect(d.keyFor('peer-a', 2)).toEqual(key(20));
    expect(d.keyFor('peer-a', 3)).toEqual(key(21));
    expect(d.keyFor('peer-a', 4)).toBeUndefined(); // the old generation's round 4 is gone: the advert decides
    expect(d.epochOf('peer-a')).toBe(1);
    expect(d.epochOf('peer-b')).toBe(0); // other members untouched
    // The old generation replayed (every byte signed by peer-a) changes nothing, even for rounds the new one lacks.
    expect(codeOf(() => d.add(bundleOf('peer-a', 1, [key(0), key(1), key(2), key(3)])))).toBe('PREKEY_SUPERSEDED');
    expect(codeOf(() => d.add(bundleOf('peer-a', 4, [key(3)])))).toBe('PREKEY_SUPERSEDED');
    expect(d.keyFor('peer-a', 4)).toBeUndefined();
    // Within generation 1 the first key per round stands, as in generation 0.
    expect(d.add(bundleOf('peer-a', 3, [key(21), key(22)], TEST_BINDING, 1)).rounds).toEqual([4]);
    expect(codeOf(() => d.add(bundleOf('peer-a', 3, [key(30)], TEST_BINDING, 1)))).toBe('PREKEY_EQUIVOCATION');
    // The generation outlives its keys: once rounds 2–4 ended, generation 0 is still refused.
    d.endThrough(4);
    expect(d.size).toBe(0);
    expect(codeOf(() => d.add(bundleOf('peer-a', 5, [key(40)])))).toBe('PREKEY_SUPERSEDED');
    expect(d.add(bundleOf('peer-a', 5, [key(41)], TEST_BINDING, 1)).rounds).toEqual([5]);
  });
});
