/**
 * Test fixtures for secure aggregation: fast deterministic identities (an HMAC-like
 * SHA-512 tag standing in for Ed25519, so property tests with 50 participants stay fast; the
 * real Ed25519 identity port is tested in secagg-crypto.test.ts), seeded entropy and the
 * native crypto from node/.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes, utf8 } from '../../protocol/bytes.js';
import type { Entropy, IdentitySign, IdentityVerify } from '../../protocol/secure-aggregation/crypto.js';
import { SECAGG_DEFAULTS, type SecAggConfig } from '../../protocol/secure-aggregation/config.js';
import { seededEntropy } from '../../node/services/secagg-crypto.js';
import { isFedmeshError } from '../../protocol/errors.js';

export { nodeSecAggCrypto as crypto } from '../../node/services/secagg-crypto.js';

const tag = (id: string, m: Uint8Array): Uint8Array => sha512(concatBytes([utf8('test-identity/'), utf8(id), new Uint8Array([0]), m]));
export const testSign =
  (id: string): IdentitySign =>
  (m) =>
    tag(id, m);
export const testVerify: IdentityVerify = (id, m, s) => bytesEqual(tag(id, m), s);

/** One entropy stream per party, created on first use. */
export function entropies(seed: string): (party: string) => Entropy {
  const streams = new Map<string, Entropy>();
  return (party) => {
    let e = streams.get(party);
    if (e === undefined) {
      e = seededEntropy(`${seed}/${party}`);
      streams.set(party, e);
    }
    return e;
  };
}

export const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `peer-${String(i).padStart(3, '0')}`);

export const config = (over: Partial<SecAggConfig> = {}): SecAggConfig => ({ ...SECAGG_DEFAULTS, ...over });

/** The typed error code `f` throws ('none' if it returns). */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isFedmeshError(e) ? e.code : `untyped:${String(e)}`;
  }
  return 'none';
}
