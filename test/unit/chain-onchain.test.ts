/**
 * protocol/chain: the pure encodings FedmeshFederation relies on. Budget rounding is checked
 * against exact known answers (doubles whose decimal reading is above or below their binary
 * value), the EIP-712 record against a hand-built encoding, the committee and credit rules by
 * property. The contract agreeing with these functions is test/contracts' job.
 */
import { AbiCoder, concat, getAddress, keccak256, toUtf8Bytes, Wallet } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addPacked,
  C_ALPHA_MAX,
  cAlpha,
  ceilScaled,
  decodePacked,
  EPSILON_UNBOUNDED,
  encodeEpsilonCap,
  encodeRdp,
  epsilonFromPacked,
  floorScaled,
  ONCHAIN_RDP_ORDERS,
  RDP_LANE_MAX,
  RDP_MASK,
} from '../../protocol/chain/budget.js';
import { committeeIndices, nextActiveMembers, roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { PARTICIPATION_CREDIT, replayCredits, SERVICE_CREDIT, sampleCountBucket } from '../../protocol/chain/credits.js';
import { isFedmeshError } from '../../protocol/errors.js';
import {
  canonicalRoundRecord,
  federationDomain,
  type Hex32,
  type OnChainRoundRecord,
  ROUND_RECORD_TYPES,
  roundRecordDigest,
  roundRecordStructHash,
  toTypedValue,
} from '../../protocol/chain/record.js';
import { epsilonFromRdp } from '../../protocol/privacy/epsilon.js';

const abi = AbiCoder.defaultAbiCoder();
const h = (n: number): Hex32 => `0x${n.toString(16).padStart(2, '0').repeat(32)}`;
const addr = (i: number) => getAddress(`0x${(i + 1).toString(16).padStart(40, '0')}`);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isFedmeshError(e) ? e.code : `not a FedmeshError: ${String(e)}`;
  }
  return undefined;
}

describe('budget encoding', () => {
  it('rounds the exact binary value of a double up (known answers)', () => {
    // 0.1 is stored as 0.1000000000000000055…, just above 0.1: one unit more. 0.3 is stored as
    // 0.2999999999999999888…, just below: exactly 300000. 1e-6 is 9.99999999999999954…e-7.
    expect(ceilScaled(0.1)).toBe(100_001n);
    expect(ceilScaled(0.3)).toBe(300_000n);
    expect(ceilScaled(1.1)).toBe(1_100_001n);
    expect(ceilScaled(1e-6)).toBe(1n);
    expect(ceilScaled(1e-7)).toBe(1n);
    expect(ceilScaled(0.5)).toBe(500_000n);
    expect(ceilScaled(2 ** -30)).toBe(1n);
    expect(ceilScaled(0)).toBe(0n);
    expect(ceilScaled(Number.MIN_VALUE)).toBe(1n);
    expect(ceilScaled(2 ** 60)).toBe(2n ** 60n * 1_000_000n);
    expect(ceilScaled(-0.1)).toBe(-100_000n);
    expect(floorScaled(0.1)).toBe(100_000n);
    expect(floorScaled(0.3)).toBe(299_999n);
    expect(floorScaled(-0.3)).toBe(-300_000n);
  });

  it('ceilScaled and floorScaled are exact (checked against an independent rational reading)', () => {
    // v = N / 2^k exactly for the least k making v·2^k an integer (scaling by 2 is exact).
    const exact = (v: number): { n: bigint; d: bigint } => {
      let x = v;
      let k = 0n;
      while (!Number.isInteger(x)) {
        x *= 2;
        k++;
      }
      return { n: BigInt(x) * 1_000_000n, d: 1n << k };
    };
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e4, noNaN: true }), (v) => {
        const { n, d } = exact(v);
        expect(ceilScaled(v)).toBe((n + d - 1n) / d);
        expect(floorScaled(v)).toBe(n / d);
      }),
      { numRuns: 1000 },
    );
  });

  it('packs 8 lanes of 28 bits, lane 0 lowest, rounding up and saturating', () => {
    const packed = encodeRdp([0.1, 0.3, 0, 1, 268.435455, 268.4354551, Number.POSITIVE_INFINITY, 1e9]);
    expect(decodePacked(packed)).toEqual([100_001n, 300_000n, 0n, 1_000_000n, RDP_LANE_MAX, RDP_LANE_MAX, RDP_LANE_MAX, RDP_LANE_MAX]);
    expect(packed & ~RDP_MASK).toBe(0n);
    expect(encodeRdp([1e-6, 0, 0, 0, 0, 0, 0, 0])).toBe(1n);
    expect(encodeRdp([0, 1e-6, 0, 0, 0, 0, 0, 0])).toBe(1n << 28n);
    expect(encodeRdp([0, 0, 0, 0, 0, 0, 0, 1e-6])).toBe(1n << 196n);
  });

  it('refuses a wrong length, negative values and NaN with ONCHAIN_INVALID_VALUE', () => {
    expect(codeOf(() => encodeRdp([0, 0, 0]))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => encodeRdp([0, 0, 0, -1e-9, 0, 0, 0, 0]))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => encodeRdp([0, 0, 0, Number.NaN, 0, 0, 0, 0]))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => decodePacked(-1n))).toBe('ONCHAIN_INVALID_VALUE');
  });

  it('adds lane-wise, saturating, never decreasing any lane', () => {
    const lanes = fc.array(fc.double({ min: 0, max: 300, noNaN: true }), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(lanes, lanes, (a, b) => {
        const sum = decodePacked(addPacked(encodeRdp(a), encodeRdp(b)));
        const x = decodePacked(encodeRdp(a));
        const y = decodePacked(encodeRdp(b));
        sum.forEach((s, i) => {
          const exact = x[i]! + y[i]!;
          if (exact <= RDP_LANE_MAX) expect(s).toBe(exact);
          else expect(s).toBe(RDP_LANE_MAX);
          expect(s >= x[i]! && s >= y[i]!).toBe(true);
        });
      }),
    );
  });

  it('c_α for δ = 1e-5 (known answer), each the rounded-up constant plus one unit', () => {
    const c = cAlpha(1e-5);
    expect(c).toEqual([43_549_691n, 6_553_599n, 3_087_863n, 1_440_353n, 733_719n, 396_982n, 227_840n, 100_984n]);
    ONCHAIN_RDP_ORDERS.forEach((a, i) => {
      const exact = ((Math.log(1e5) - Math.log(a)) / (a - 1) + Math.log((a - 1) / a)) * 1e6;
      expect(Number(c[i]!)).toBeGreaterThan(exact);
      expect(Number(c[i]!)).toBeLessThanOrEqual(exact + 2.000001);
    });
    // A large δ makes the high orders' constants negative: they are signed on chain.
    expect(cAlpha(0.5).at(-1)! < 0n).toBe(true);
    expect(codeOf(() => cAlpha(0))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => cAlpha(1))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => cAlpha(1e-300))).toBe('ONCHAIN_INVALID_VALUE'); // does not fit int32
    expect(cAlpha(1e-200)[0]! <= C_ALPHA_MAX).toBe(true);
    expect(codeOf(() => cAlpha(1e-5, [1]))).toBe('ONCHAIN_INVALID_VALUE');
  });

  it('ε = max(0, min over unsaturated lanes of rdp + c); unbounded when all saturate', () => {
    const c = cAlpha(1e-5);
    expect(epsilonFromPacked(0n, c)).toBe(100_984n); // α = 64 wins with no spend
    const lanes = [1, 1, 1, 1, 1, 1, 1, 1].map((x) => x * 0.5);
    const eps = epsilonFromPacked(encodeRdp(lanes), c);
    expect(eps).toBe(500_000n + 100_984n);
    // Saturating the winning lane hands the minimum to the next-best order.
    const sat = encodeRdp([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, Number.POSITIVE_INFINITY]);
    expect(epsilonFromPacked(sat, c)).toBe(500_000n + 227_840n);
    expect(epsilonFromPacked(encodeRdp(new Array(8).fill(Number.POSITIVE_INFINITY)), c)).toBe(EPSILON_UNBOUNDED);
    expect(epsilonFromPacked(0n, [-5n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])).toBe(0n);
  });

  it('never reports less ε than the float accountant, and at most 3e-6 more', () => {
    const delta = 1e-5;
    const c = cAlpha(delta);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 8, maxLength: 8 }), (rdp) => {
        const onChain = Number(epsilonFromPacked(encodeRdp(rdp), c));
        const exact = epsilonFromRdp(ONCHAIN_RDP_ORDERS, rdp, delta).epsilon * 1e6;
        expect(onChain).toBeGreaterThanOrEqual(exact - 1e-6 * exact);
        expect(onChain).toBeLessThanOrEqual(exact + 3 + 1e-9 * exact);
      }),
      { numRuns: 300 },
    );
  });

  it('caps round down and must fit uint32', () => {
    expect(encodeEpsilonCap(8)).toBe(8_000_000n);
    expect(encodeEpsilonCap(0.1)).toBe(100_000n);
    expect(encodeEpsilonCap(0.3)).toBe(299_999n);
    expect(encodeEpsilonCap(4294.967295)).toBe(4_294_967_295n);
    expect(codeOf(() => encodeEpsilonCap(4294.9673))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => encodeEpsilonCap(-1))).toBe('ONCHAIN_INVALID_VALUE');
  });
});

describe('committee procedure', () => {
  const seed = keccak256(toUtf8Bytes('fedmesh/test-seed')) as Hex32;

  it('draws m distinct indices in range, deterministically, by iterated keccak with rejection', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 64 }),
        (s, n, m) => {
          const sd = `0x${Buffer.from(s).toString('hex')}` as Hex32;
          if (m > n) {
            expect(codeOf(() => committeeIndices(sd, n, m))).toBe('ONCHAIN_COMMITTEE_TOO_LARGE');
            return;
          }
          const idx = committeeIndices(sd, n, m);
          expect(idx).toHaveLength(m);
          expect(new Set(idx).size).toBe(m);
          expect(idx.every((j) => j >= 0 && j < n)).toBe(true);
          expect(committeeIndices(sd, n, m)).toEqual(idx);
          // A smaller committee is a prefix of a larger one: draws do not depend on m.
          expect(committeeIndices(sd, n, Math.floor(m / 2))).toEqual(idx.slice(0, Math.floor(m / 2)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('follows the documented procedure (re-derived here step by step)', () => {
    const n = 5;
    const expected: number[] = [];
    for (let k = 0n; expected.length < 3; k++) {
      const j = Number(BigInt(keccak256(abi.encode(['bytes32', 'uint256'], [seed, k]))) % BigInt(n));
      if (!expected.includes(j)) expected.push(j);
    }
    expect(committeeIndices(seed, n, 3)).toEqual(expected);
    const members = [0, 1, 2, 3, 4].map(addr);
    expect(
      selectCommitteeOnChain(
        seed,
        members.map((a) => a.toLowerCase()),
        3,
      ),
    ).toEqual(expected.map((j) => members[j]));
  });

  it('round seed = keccak256(abi.encode(prevrandao, prevRecordHash, round))', () => {
    expect(roundSeed(7n, h(1), 3)).toBe(keccak256(abi.encode(['uint256', 'bytes32', 'uint64'], [7n, h(1), 3n])));
    expect(roundSeed(7n, h(1), 3)).not.toBe(roundSeed(7n, h(1), 4));
  });

  it('replays the active list: append on add/reinstate, swap-and-pop on suspend/remove', () => {
    let list: string[] = [];
    for (const i of [0, 1, 2, 3]) list = nextActiveMembers(list, { kind: 'added', account: addr(i) });
    list = nextActiveMembers(list, { kind: 'suspended', account: addr(1) });
    expect(list).toEqual([addr(0), addr(3), addr(2)]);
    list = nextActiveMembers(list, { kind: 'removed', account: addr(2) }); // last: plain pop
    expect(list).toEqual([addr(0), addr(3)]);
    list = nextActiveMembers(list, { kind: 'removed', account: addr(1) }); // suspended: no change
    expect(list).toEqual([addr(0), addr(3)]);
    list = nextActiveMembers(list, { kind: 'reinstated', account: addr(1) });
    expect(list).toEqual([addr(0), addr(3), addr(1)]);
  });
});

describe('credit rule', () => {
  it('buckets sample counts by powers of 4 from 64', () => {
    const cases: [number, number][] = [
      [1, 0],
      [63, 0],
      [64, 1],
      [255, 1],
      [256, 2],
      [1023, 2],
      [1024, 3],
      [4096, 4],
      [16_384, 5],
      [65_536, 6],
      [262_143, 6],
      [262_144, 7],
      [10 ** 9, 7],
    ];
    for (const [n, b] of cases) expect([n, sampleCountBucket(n)]).toEqual([n, b]);
    expect(codeOf(() => sampleCountBucket(0))).toBe('ONCHAIN_INVALID_VALUE');
    expect(codeOf(() => sampleCountBucket(1.5))).toBe('ONCHAIN_INVALID_VALUE');
  });

  it('each participant earns PARTICIPATION_CREDIT and each credited committee member SERVICE_CREDIT', () => {
    const credits = replayCredits([
      { record: { participants: [{ member: addr(0) }, { member: addr(1) }] }, credited: [addr(0), addr(2)] },
      { record: { participants: [{ member: addr(1).toLowerCase() }] }, credited: [addr(2)] },
    ]);
    expect(Object.fromEntries(credits)).toEqual({
      [addr(0)]: PARTICIPATION_CREDIT + SERVICE_CREDIT,
      [addr(1)]: 2n * PARTICIPATION_CREDIT,
      [addr(2)]: 2n * SERVICE_CREDIT,
    });
  });
});

describe('EIP-712 round record', () => {
  const record: OnChainRoundRecord = {
    round: 3,
    prevModelHash: h(1),
    modelHash: h(2),
    aggregateHash: h(3),
    serviceMask: 5n,
    participants: [
      { member: addr(4), dpParams: 123n << 64n, spend: 5n },
      { member: addr(2), dpParams: (1n << 128n) | 42n, spend: encodeRdp([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) },
    ],
  };

  it('hashStruct matches a hand-built EIP-712 encoding', () => {
    const participantType = 'Participant(address member,uint256 dpParams,uint256 spend)';
    const recordType =
      'RoundRecord(uint64 round,bytes32 prevModelHash,bytes32 modelHash,bytes32 aggregateHash,uint256 serviceMask,Participant[] participants)' +
      participantType;
    const pHashes = record.participants.map((p) =>
      keccak256(
        abi.encode(['bytes32', 'address', 'uint256', 'uint256'], [keccak256(toUtf8Bytes(participantType)), p.member, p.dpParams, p.spend]),
      ),
    );
    const expected = keccak256(
      abi.encode(
        ['bytes32', 'uint64', 'bytes32', 'bytes32', 'bytes32', 'uint256', 'bytes32'],
        [
          keccak256(toUtf8Bytes(recordType)),
          record.round,
          record.prevModelHash,
          record.modelHash,
          record.aggregateHash,
          record.serviceMask,
          keccak256(concat(pHashes)),
        ],
      ),
    );
    expect(roundRecordStructHash(record)).toBe(expected);
  });

  it('the digest binds chain id and contract; a wallet signature recovers over it', async () => {
    const a = federationDomain(31337, addr(100));
    const digest = roundRecordDigest(a, record);
    expect(digest).not.toBe(roundRecordDigest(federationDomain(11155111, addr(100)), record));
    expect(digest).not.toBe(roundRecordDigest(federationDomain(31337, addr(101)), record));
    const wallet = new Wallet(keccak256(toUtf8Bytes('signer')));
    const sig = await wallet.signTypedData(a, ROUND_RECORD_TYPES, toTypedValue(record));
    const { recoverAddress } = await import('ethers');
    expect(recoverAddress(digest, sig)).toBe(wallet.address);
  });

  it('canonical form sorts the participants by address and refuses what the contract would refuse by shape', () => {
    const c = canonicalRoundRecord({ ...record, prevModelHash: h(0xab).toUpperCase().replace('0X', '0x') as Hex32 });
    expect(c.participants.map((p) => p.member)).toEqual([addr(2), addr(4)]);
    expect(c.prevModelHash).toBe(h(0xab));
    const bad = (r: Partial<OnChainRoundRecord>) => codeOf(() => canonicalRoundRecord({ ...record, ...r }));
    expect(bad({ participants: [...record.participants, { member: addr(4), dpParams: 0n, spend: 0n }] })).toBe('ONCHAIN_INVALID_VALUE');
    expect(bad({ serviceMask: 1n << 32n })).toBe('ONCHAIN_INVALID_VALUE');
    expect(bad({ participants: [{ member: addr(4), dpParams: 1n, spend: 1n << 224n }] })).toBe('ONCHAIN_INVALID_VALUE');
    // A spend needs declared parameters (the contract's FedmeshRoundsSpendWithoutParams).
    expect(bad({ participants: [{ member: addr(4), dpParams: 0n, spend: 5n }] })).toBe('ONCHAIN_INVALID_VALUE');
    expect(bad({ modelHash: '0x12' })).toBe('ONCHAIN_INVALID_VALUE');
  });
});
