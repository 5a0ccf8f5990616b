/**
 * Issue #9 §4: participants drop out between every pair of secure-aggregation stages
 * (Bonawitz et al. 2017 §4: AdvertiseKeys → ShareKeys → MaskedInputCollection → Unmasking), and
 * committee members go silent, in one round. Whatever the pattern, as long as ≥ t committee
 * members stay and ≥ 2 inputs arrive, the unmasked sum equals the plain sum of exactly the
 * inputs that arrived — no lost input, no leftover mask.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  clipLevels,
  effectiveCommittee,
  requiredSurvivors,
  ringFromIntegers,
  runInMemoryRound,
} from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const cfg = config();
const L = clipLevels(cfg);
const SCALE = 2 ** cfg.fractionalBits;
const runs = Number(process.env.SECAGG_PROP_RUNS ?? 12);

/** Where a participant stops: 0 stays to the end, 1 after advertising, 2 after sharing keys, 3 after its input. */
type Exit = 0 | 1 | 2 | 3;

describe('dropouts between every pair of secure-aggregation stages', () => {
  for (const n of [6, 10]) {
    it(`n = ${n}: after advertise, after share-keys, after input, and silent members, mixed`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.constantFrom<Exit>(0, 0, 1, 2, 3), { minLength: n, maxLength: n }),
          fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
          fc.array(fc.integer({ min: -L, max: L }), { minLength: n * 4, maxLength: n * 4 }),
          fc.integer({ min: 0, max: n - 1 }),
          fc.integer(),
          (exitsDrawn, silentDrawn, grid, offset, seed) => {
            const parties = ids(n);
            const { committeeSize: m, threshold: t } = effectiveCommittee(cfg, n);
            const committee = Array.from({ length: m }, (_, k) => parties[(offset + k) % n]!);
            const exits = [...exitsDrawn];
            // A committee member that leaves as a participant is silent as a member too; repair the
            // draw so that ≥ t members stay live and ≥ 2 inputs arrive (below that, the round
            // cannot finish by design, which the driver tests cover).
            const isSilent = (c: string, k: number): boolean =>
              silentDrawn[k]! || (exits[parties.indexOf(c)]! !== 0 && exits[parties.indexOf(c)]! !== 3);
            for (let k = 0; k < m && committee.filter((c, j) => !isSilent(c, j)).length < t; k++) {
              exits[parties.indexOf(committee[k]!)] = 0;
              silentDrawn[k] = false;
            }
            const inputs = parties.filter((_, i) => exits[i] === 0 || exits[i] === 3);
            if (inputs.length < 2) exits.fill(0);
            const afterAdvert = new Set(parties.filter((_, i) => exits[i] === 1));
            const afterKeys = new Set(parties.filter((_, i) => exits[i] === 2));
            const silent = new Set(committee.filter((c, k) => isSilent(c, k) || exits[parties.indexOf(c)] === 3));
            if (committee.filter((c) => !silent.has(c)).length < t) for (const c of committee.slice(0, t)) silent.delete(c);
            const participants = parties.map((id, i) => ({
              id,
              values: Float64Array.from({ length: 4 }, (_, k) => grid[i * 4 + k]! / SCALE),
              sampleCount: 10 + i,
            }));
            const options = {
              binding: TEST_BINDING,
              federation: 'stages',
              round: 1 + ((seed >>> 0) % 1000),
              config: cfg,
              committee,
              threshold: t,
              participants,
              dropAfterAdvert: afterAdvert,
              dropAfterKeys: afterKeys,
              silentMembers: silent,
              crypto,
              entropy: entropies(`stages/${seed}`),
              sign: testSign,
              verify: testVerify,
              unmaskEverywhere: true,
            };
            const arrived = parties.filter((p) => !afterAdvert.has(p) && !afterKeys.has(p));
            // The floors (floors.ts): with every participant masking with the whole certified U_2,
            // the lock needs |U_3| ≥ max(⌈α·|U_2|⌉, k + 1, minSurvivors); below, the leader does not
            // propose (SECAGG_FLOOR) and nothing is revealed.
            const shared = n - afterAdvert.size;
            const floor = Math.max(requiredSurvivors(cfg.minSurvivorFraction, shared), cfg.minNeighbours + 1, cfg.minSurvivors);
            // The key set needs |U_2| ≥ ⌈α·|U_1|⌉ too (every party advertised: U_1 is all n).
            if (arrived.length < floor || shared < requiredSurvivors(cfg.minSurvivorFraction, n)) {
              expect(codeOf(() => runInMemoryRound(options))).toBe('SECAGG_FLOOR');
              return;
            }
            const res = runInMemoryRound(options);
            expect(res.survivors).toEqual(arrived);
            expect(res.dropped).toEqual([...afterKeys].sort());
            const expected = new Float64Array(5); // exact integers (|Σ| ≤ n·L < 2^53)
            for (const p of participants.filter((x) => arrived.includes(x.id))) {
              for (let k = 0; k < 4; k++) expected[k] = expected[k]! + p.values[k]! * SCALE;
              expected[4] = expected[4]! + p.sampleCount;
            }
            for (const sum of res.sums) expect([...sum]).toEqual([...ringFromIntegers(expected)]);
          },
        ),
        { numRuns: runs },
      );
    });
  }
});
