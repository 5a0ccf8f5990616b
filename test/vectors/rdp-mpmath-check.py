"""Optional cross-check of test/vectors/rdp-subsampled-gaussian.json with 50-digit mpmath.

Not part of `npm test` (Python is not a fedmesh dependency). Integrates
A_alpha - 1 = E_{z~N(0,sigma^2)}[((1-q) + q*exp((2z-1)/(2 sigma^2)))^alpha - 1] with mpmath.quad,
split at the integrand's possible modes, and compares log1p(A_alpha - 1)/(alpha - 1) with the
per-step RDP stored in the vectors. Usage: python3 test/vectors/rdp-mpmath-check.py [count]
"""
import json
import random
import sys
from pathlib import Path

import mpmath as mp

mp.mp.dps = 50


def a_minus_1(q, s, a):
    q, s, a = mp.mpf(q), mp.mpf(s), mp.mpf(a)
    f = lambda z: mp.npdf(z, 0, s) * (((1 - q) + q * mp.e ** ((2 * z - 1) / (2 * s**2))) ** a - 1)
    pts = sorted(set([-60 * s, -10 * s, mp.mpf(0), mp.mpf("0.5"), 10 * s, a, a + 10 * s, a + 60 * s]))
    return mp.quad(f, pts)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    vectors = json.loads((Path(__file__).parent / "rdp-subsampled-gaussian.json").read_text())
    random.seed(1)
    smallest = sorted(vectors["rdp"], key=lambda e: e["rdp"])[:2]
    worst = 0
    for e in smallest + random.sample(vectors["rdp"], count):
        ref = mp.log1p(a_minus_1(e["q"], e["sigma"], e["order"])) / (mp.mpf(e["order"]) - 1)
        rel = abs((mp.mpf(e["rdp"]) - ref) / ref)
        worst = max(worst, rel)
        print(e["q"], e["sigma"], e["order"], mp.nstr(ref, 17), e["rdp"], mp.nstr(rel, 3))
    print("worst relative difference", mp.nstr(worst, 3))


if __name__ == "__main__":
    main()
