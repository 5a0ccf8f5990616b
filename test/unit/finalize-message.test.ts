import { describe, expect, it } from 'vitest';
import { MessageError } from '../../protocol/messages/errors.js';
import {
  decodeFinalizeSignature,
  encodeFinalizeSignature,
  FINALIZE_SIGNATURE_VERSION,
  type FinalizeSignature,
  MAX_FINALIZE_MESSAGE_BYTES,
} from '../../protocol/messages/finalize.js';
import { topicFor } from '../../protocol/messages/topics.js';

const sample: FinalizeSignature = {
  federation: 'fed-1',
  round: 7,
  author: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
  digest: new Uint8Array(32).fill(0xab),
  signature: new Uint8Array(65).map((_, i) => i),
};

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MessageError) return e.code;
    throw e;
  }
  return undefined;
}

describe('FinalizeSignature v1', () => {
  it('round-trips and lives on a versioned topic', () => {
    const bytes = encodeFinalizeSignature(sample);
    expect(bytes.length).toBeLessThanOrEqual(MAX_FINALIZE_MESSAGE_BYTES);
    expect(decodeFinalizeSignature(bytes)).toEqual(sample);
    expect(topicFor('fed-1', 'finalize')).toBe('/fedmesh/fed-1/finalize/1');
  });

  it('rejects oversize, wrong version, truncation and trailing bytes with typed errors', () => {
    const bytes = encodeFinalizeSignature(sample);
    expect(code(() => decodeFinalizeSignature(new Uint8Array(MAX_FINALIZE_MESSAGE_BYTES + 1)))).toBe('MSG_TOO_LARGE');
    const v2 = bytes.slice();
    v2[0] = FINALIZE_SIGNATURE_VERSION + 1;
    expect(code(() => decodeFinalizeSignature(v2))).toBe('MSG_BAD_VERSION');
    expect(code(() => decodeFinalizeSignature(bytes.slice(0, bytes.length - 1)))).toBe('MSG_TRUNCATED');
    expect(code(() => decodeFinalizeSignature(new Uint8Array([...bytes, 0])))).toBe('MSG_TRAILING_BYTES');
    expect(code(() => decodeFinalizeSignature(new Uint8Array()))).toBe('MSG_TRUNCATED');
  });

  it('refuses to encode malformed digests and signatures', () => {
    expect(code(() => encodeFinalizeSignature({ ...sample, digest: new Uint8Array(31) }))).toBe('MSG_BAD_FIELD');
    expect(code(() => encodeFinalizeSignature({ ...sample, signature: new Uint8Array(64) }))).toBe('MSG_BAD_FIELD');
  });
});
