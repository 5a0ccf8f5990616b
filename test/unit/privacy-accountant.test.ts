/**
 * The RDP accountant (protocol/privacy) against independent known answers, published reference
 * values and the properties the mathematics guarantees.
 *
 * Known answers (test/vectors/rdp-subsampled-gaussian.json) were computed by
 * test/vectors/rdp-quadrature.ts: it integrates the DEFINITION of A_α for the Poisson-subsampled
 * Gaussian, A_α = E_{z∼N(0,σ²)}[((1 − q) + q·e^{(2z−1)/(2σ²)})^α], numerically (composite
 * 20-point Gauss–Legendre in log space, or, when A_α is near 1, the integral of A_α − 1 with the
 * O(q) terms cancelled analytically; N and 2N panels must agree to 1e-12), sharing no code with
 * the accountant, which uses the binomial expansion (integer α) and the erfc series (fractional
 * α). 385 per-step RDP values (q from 0.001 to 0.9, σ from 0.7 to 10, orders 1.1 … 63 including
 * the fractional 1.1, 1.5, 2.5, 4.75, 10.5, 32.5) and 8 ε values over the 151 default orders.
 * During development the quadrature itself was checked against 50-digit mpmath integration
 * (test/vectors/rdp-mpmath-check.py, 27 entries including the smallest RDP values): it agreed to
 * 2e-15 relative. Regenerate with `npx tsx test/vectors/rdp-quadrature.ts`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addPacked,
  cAlpha,
  decodePacked,
  encodeRdp,
  epsilonFromPacked,
  ONCHAIN_RDP_ORDERS,
  RDP_LANE_MAX,
} from '../../protocol/chain/budget.js';
import { isFedmeshError } from '../../protocol/errors.js';
import {
  CHAIN_RDP_ORDERS,
  composeRdp,
  computeEpsilon,
  computeRdp,
  DEFAULT_RDP_ORDERS,
  epsilonFromRdp,
  planNoiseMultiplier,
  RdpAccountant,
  rdpPerStep,
} from '../../protocol/privacy/index.js';
import { logErfc } from '../../protocol/privacy/log-math.js';
import vectors from '../vectors/rdp-subsampled-gaussian.json' with { type: 'json' };
import { epsilonFromQuadrature, REFERENCE_DEFAULT_ORDERS, rdpByQuadrature } from '../vectors/rdp-quadrature.js';

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

function fieldOf(fn: () => unknown): [string | undefined, unknown] {
  try {
    fn();
  } catch (e) {
    return [(e as { code?: string }).code, (e as { fields?: { field?: unknown } }).fields?.field];
  }
  return [undefined, undefined];
}

describe('known answers from numerical integration', () => {
  it('per-step RDP matches every quadrature vector to 1e-7 relative (integer and fractional orders)', () => {
    expect(vectors.rdp.length).toBe(385);
    expect(vectors.rdp.some((v) => !Number.isInteger(v.order))).toBe(true);
    let worst = 0;
    for (const v of vectors.rdp) {
      const r = rel(rdpPerStep(v.q, v.sigma, v.order), v.rdp);
      worst = Math.max(worst, r);
      if (r > 1e-7) expect.fail(`q=${v.q} sigma=${v.sigma} order=${v.order}: ${rdpPerStep(v.q, v.sigma, v.order)} vs ${v.rdp}`);
    }
    expect(worst).toBeLessThan(1e-7);
  });

  it('ε over the default orders matches every quadrature vector to 1e-6 relative (in fact ~1e-13), at the same optimal order', () => {
    for (const v of vectors.epsilon) {
      const spent = computeEpsilon({ sampleRate: v.q, noiseMultiplier: v.sigma, steps: v.steps, delta: v.delta });
      expect(rel(spent.epsilon, v.epsilon)).toBeLessThan(1e-6);
      expect(rel(spent.epsilon, v.epsilon)).toBeLessThan(1e-10);
      expect(spent.order).toBe(v.order);
    }
  });

  it('the vectors are reproducible: a few re-integrated here agree with the file', () => {
    for (const i of [0, 150, 384]) {
      const v = vectors.rdp[i]!;
      expect(rel(rdpByQuadrature(v.q, v.sigma, v.order), v.rdp)).toBeLessThan(1e-12);
    }
  });

  it('the default orders are Opacus’s 1.1, 1.2, …, 10.9, 12, …, 63', () => {
    expect(DEFAULT_RDP_ORDERS).toEqual(REFERENCE_DEFAULT_ORDERS);
    expect(DEFAULT_RDP_ORDERS.length).toBe(151);
    expect(DEFAULT_RDP_ORDERS.slice(0, 3)).toEqual([1.1, 1.2, 1.3]);
    expect(DEFAULT_RDP_ORDERS.slice(97, 101)).toEqual([10.8, 10.9, 12, 13]);
  });
});

describe('published reference values (TF-privacy rdp_accountant_test.py)', () => {
  it('compute_rdp(q=0.1, σ=2, steps=10, α=5) = 0.07737', () => {
    expect(computeRdp({ sampleRate: 0.1, noiseMultiplier: 2, steps: 10 }, [5])[0]).toBeCloseTo(0.07737, 5);
  });

  it('compute_rdp(q=0.01, σ=2.5, steps=50, α ∈ {1.5, 2.5, 5, 50, 100, ∞})', () => {
    const got = computeRdp({ sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50 }, [1.5, 2.5, 5, 50, 100, Number.POSITIVE_INFINITY]);
    const want = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307];
    want.forEach((w, i) => {
      expect(Math.abs(got[i]! - w)).toBeLessThan(1e-5);
    });
    expect(got[5]).toBe(Number.POSITIVE_INFINITY);
  });

  it('q = 1 with σ = 10 at α = 20 is 0.1 (no subsampling)', () => {
    expect(computeRdp({ sampleRate: 1, noiseMultiplier: 10, steps: 1 }, [20])[0]).toBe(0.1);
  });
});

describe('properties', () => {
  const q = fc.double({ min: 1e-4, max: 0.99, noNaN: true });
  const sigma = fc.double({ min: 0.5, max: 20, noNaN: true });
  const steps = fc.integer({ min: 1, max: 5000 });
  const delta = fc.constantFrom(1e-3, 1e-5, 1e-7);
  // A small order set keeps each fast-check run cheap; the properties hold at every order.
  const ORDERS = [1.5, 2, 3.5, 8, 16, 32];
  const eps = (sampleRate: number, noiseMultiplier: number, n: number, d: number): number =>
    computeEpsilon({ sampleRate, noiseMultiplier, steps: n, delta: d, orders: ORDERS }).epsilon;

  it('q = 1 reduces to α/(2σ²) per step, at integer and fractional orders', () => {
    fc.assert(
      fc.property(sigma, steps, fc.double({ min: 1.01, max: 256, noNaN: true }), (s, n, a) => {
        const got = computeRdp({ sampleRate: 1, noiseMultiplier: s, steps: n }, [a])[0]!;
        expect(rel(got, (n * a) / (2 * s * s))).toBeLessThan(1e-12);
      }),
    );
  });

  it('ε is non-decreasing in the number of steps', () => {
    fc.assert(
      fc.property(q, sigma, steps, steps, delta, (qq, s, n1, n2, d) => {
        const [a, b] = n1 <= n2 ? [n1, n2] : [n2, n1];
        expect(eps(qq, s, a, d)).toBeLessThanOrEqual(eps(qq, s, b, d) * (1 + 1e-12));
      }),
      { numRuns: 60 },
    );
  });

  it('ε is non-decreasing in the sampling rate q', () => {
    fc.assert(
      fc.property(q, q, sigma, steps, delta, (q1, q2, s, n, d) => {
        const [a, b] = q1 <= q2 ? [q1, q2] : [q2, q1];
        expect(eps(a, s, n, d)).toBeLessThanOrEqual(eps(b, s, n, d) * (1 + 1e-12));
      }),
      { numRuns: 60 },
    );
  });

  it('ε is non-increasing in the noise multiplier σ', () => {
    fc.assert(
      fc.property(q, sigma, sigma, steps, delta, (qq, s1, s2, n, d) => {
        const [a, b] = s1 <= s2 ? [s1, s2] : [s2, s1];
        expect(eps(qq, b, n, d)).toBeLessThanOrEqual(eps(qq, a, n, d) * (1 + 1e-12));
      }),
      { numRuns: 60 },
    );
  });

  it('the fractional-order series and the integer-order sum agree across an integer order', () => {
    fc.assert(
      fc.property(q, sigma, fc.integer({ min: 2, max: 40 }), (qq, s, a) => {
        const atInt = rdpPerStep(qq, s, a);
        const justAbove = rdpPerStep(qq, s, a + 1e-9);
        expect(Math.abs(justAbove - atInt)).toBeLessThan(1e-6 * atInt + 1e-12);
      }),
      { numRuns: 60 },
    );
  });

  it('log erfc is continuous where its method changes and matches known values', () => {
    expect(Math.abs(logErfc(0))).toBe(0);
    expect(rel(logErfc(1), Math.log(0.15729920705028513))).toBeLessThan(1e-14);
    expect(rel(logErfc(-1), Math.log(1.8427007929497148))).toBeLessThan(1e-14);
    expect(rel(logErfc(2.5 - 1e-12), logErfc(2.5))).toBeLessThan(1e-11);
    // erfc(x) ~ e^{−x²}/(x√π) for large x: the log form never underflows.
    expect(rel(logErfc(1e4), -1e8 - Math.log(1e4 * Math.sqrt(Math.PI)))).toBeLessThan(1e-15);
  });
});

describe('composition and conversion', () => {
  it('rounds compose additively: 10 rounds of 8 steps = 80 steps; mixed rounds sum', () => {
    const orders = [1.5, 2, 8, 32];
    const acc = new RdpAccountant(orders);
    for (let r = 0; r < 10; r++) acc.compose({ sampleRate: 0.25, noiseMultiplier: 3, steps: 8 });
    const direct = computeRdp({ sampleRate: 0.25, noiseMultiplier: 3, steps: 80 }, orders);
    acc.rdp.forEach((v, i) => {
      expect(rel(v, direct[i]!)).toBeLessThan(1e-12);
    });
    acc.compose({ sampleRate: 0.1, noiseMultiplier: 1.5, steps: 3 });
    const mixed = composeRdp(direct, computeRdp({ sampleRate: 0.1, noiseMultiplier: 1.5, steps: 3 }, orders));
    acc.rdp.forEach((v, i) => {
      expect(rel(v, mixed[i]!)).toBeLessThan(1e-12);
    });
    expect(acc.history).toHaveLength(11);
    expect(acc.epsilon(1e-5)).toEqual(epsilonFromRdp(orders, mixed, 1e-5));
    expect(new RdpAccountant().epsilon(1e-5).epsilon).toBe(0);
  });

  it('ε = min_α [ρ_α − (log δ + log α)/(α − 1) + log((α − 1)/α)]; a constant ρ picks the largest order', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const spent = epsilonFromRdp(
      orders,
      orders.map(() => 1.1),
      1e-5,
    );
    expect(spent.order).toBe(32);
    expect(spent.optimalOrderAtEdge).toBe(true);
    expect(spent.epsilon).toBeCloseTo(1.1 - (Math.log(1e-5) + Math.log(32)) / 31 + Math.log(31 / 32), 12);
    expect(epsilonFromRdp([2, 3], [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY], 1e-5)).toEqual({
      epsilon: Number.POSITIVE_INFINITY,
      order: null,
      optimalOrderAtEdge: false,
    });
  });
});

describe('noise planning', () => {
  it('returns the smallest σ meeting the target (bisection to 1e-9)', () => {
    const query = { targetEpsilon: 1, delta: 1e-5, sampleRate: 0.28, steps: 80 };
    const plan = planNoiseMultiplier(query);
    expect(plan.epsilon).toBeLessThanOrEqual(1);
    const at = (s: number): number => computeEpsilon({ ...query, noiseMultiplier: s }).epsilon;
    expect(at(plan.noiseMultiplier)).toBe(plan.epsilon);
    expect(at(plan.noiseMultiplier * (1 - 1e-6))).toBeGreaterThan(1);
    expect(plan.epsilon).toBeGreaterThan(1 - 1e-6);
  });

  it('refuses a target below the accountant floor, and invalid arguments, naming the field', () => {
    let err: unknown;
    try {
      planNoiseMultiplier({ targetEpsilon: 0.05, delta: 1e-5, sampleRate: 0.1, steps: 10 });
    } catch (e) {
      err = e;
    }
    expect(isFedmeshError(err, 'PRIVACY_TARGET_UNREACHABLE')).toBe(true);
    const base = { targetEpsilon: 1, delta: 1e-5, sampleRate: 0.1, steps: 10 };
    expect(fieldOf(() => planNoiseMultiplier({ ...base, targetEpsilon: 0 }))).toEqual(['PRIVACY_ARGUMENT_INVALID', 'targetEpsilon']);
    expect(fieldOf(() => planNoiseMultiplier({ ...base, steps: 0 }))).toEqual(['PRIVACY_ARGUMENT_INVALID', 'steps']);
    expect(fieldOf(() => planNoiseMultiplier({ ...base, delta: 1 }))).toEqual(['PRIVACY_ARGUMENT_INVALID', 'delta']);
  });

  it('rejects out-of-domain arguments with PRIVACY_ARGUMENT_INVALID naming the parameter', () => {
    const ok = { sampleRate: 0.1, noiseMultiplier: 1, steps: 10, delta: 1e-5 };
    const cases: [Record<string, unknown>, string][] = [
      [{ sampleRate: 0 }, 'sampleRate'],
      [{ sampleRate: 1.5 }, 'sampleRate'],
      [{ sampleRate: Number.NaN }, 'sampleRate'],
      [{ noiseMultiplier: 0 }, 'noiseMultiplier'],
      [{ noiseMultiplier: -1 }, 'noiseMultiplier'],
      [{ steps: 2.5 }, 'steps'],
      [{ steps: -1 }, 'steps'],
      [{ delta: 0 }, 'delta'],
      [{ delta: 1 }, 'delta'],
      [{ orders: [2, 1] }, 'orders[1]'],
    ];
    for (const [patch, field] of cases) {
      expect(fieldOf(() => computeEpsilon({ ...ok, ...patch } as typeof ok))).toEqual(['PRIVACY_ARGUMENT_INVALID', field]);
    }
  });
});

describe('the quadrature reference itself', () => {
  it('q = 1 quadrature equals the closed form, and the reference conversion equals the accountant’s', () => {
    expect(rel(rdpByQuadrature(0.999999, 2, 3), rdpPerStep(0.999999, 2, 3))).toBeLessThan(1e-10);
    const orders = [1.5, 4, 20];
    const rdp = [0.3, 0.5, 2];
    const ref = epsilonFromQuadrature(orders, rdp, 1e-5);
    const ours = epsilonFromRdp(orders, rdp, 1e-5);
    expect(ours.epsilon).toBeCloseTo(ref.epsilon, 14);
    expect(ours.order).toBe(ref.order);
  });
});

describe('feeding the on-chain encoding (protocol/chain/budget.ts)', () => {
  it('`--orders chain` is the contracts’ ONCHAIN_RDP_ORDERS', () => {
    expect(CHAIN_RDP_ORDERS).toBe(ONCHAIN_RDP_ORDERS);
    expect(CHAIN_RDP_ORDERS).toHaveLength(8);
  });

  it('a round’s spend encodes rounded up, and the ledger’s ε is never below the accountant’s (and within 1e-5)', () => {
    const delta = 1e-5;
    const c = cAlpha(delta);
    for (const m of [
      { sampleRate: 0.28, noiseMultiplier: 10.3, steps: 8 },
      { sampleRate: 1, noiseMultiplier: 9.05, steps: 1 },
      { sampleRate: 0.01, noiseMultiplier: 1.1, steps: 100 },
    ]) {
      const exact = computeRdp(m, ONCHAIN_RDP_ORDERS);
      const lanes = decodePacked(encodeRdp(exact));
      lanes.forEach((lane, i) => {
        if (lane === RDP_LANE_MAX) {
          // A saturated lane stands for "unbounded"; it is ignored by the ledger's minimum.
          expect(exact[i]!).toBeGreaterThan(268);
          return;
        }
        expect(Number(lane) / 1e6).toBeGreaterThanOrEqual(exact[i]!);
        expect(Number(lane) / 1e6 - exact[i]!).toBeLessThanOrEqual(1e-6);
      });
      // Ten such rounds, composed on chain lane by lane as the contract adds spends.
      let packed = 0n;
      const total = exact.map(() => 0);
      for (let r = 0; r < 10; r++) {
        packed = addPacked(packed, encodeRdp(exact));
        exact.forEach((v, i) => {
          total[i]! += v;
        });
      }
      const onChain = Number(epsilonFromPacked(packed, c)) / 1e6;
      // The ledger drops saturated lanes; so does the comparison.
      const kept = decodePacked(packed).flatMap((lane, i) => (lane === RDP_LANE_MAX ? [] : [i]));
      const ours = epsilonFromRdp(
        kept.map((i) => ONCHAIN_RDP_ORDERS[i]!),
        kept.map((i) => total[i]!),
        delta,
      ).epsilon;
      expect(onChain).toBeGreaterThanOrEqual(ours);
      expect(onChain - ours).toBeLessThan(1e-5);
    }
  });
});
