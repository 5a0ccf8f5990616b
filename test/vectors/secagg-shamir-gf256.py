#!/usr/bin/env python3
"""Known-answer vectors for protocol/secure-aggregation/shamir.ts, from an independent
implementation: GF(2^8) with the AES polynomial 0x11b via log/antilog tables over generator
0x03 (FIPS-197 §4), polynomial evaluation written term by term (no Horner), and Lagrange
interpolation at 0. Writes secagg-shamir-gf256.json.

Randomness layout (shamir.ts `split`): the (t-1)*L coefficient bytes are drawn at once;
byte k's coefficients a_1..a_{t-1} are bytes k*(t-1) .. k*(t-1)+t-2.
"""
import hashlib
import json

EXP = [0] * 512
LOG = [0] * 256
x = 1
for i in range(255):
    EXP[i] = x
    LOG[x] = i
    # multiply by the generator 0x03 = x + 1
    x2 = (x << 1) ^ (0x11B if x & 0x80 else 0)
    x = x2 ^ x
for i in range(255, 512):
    EXP[i] = EXP[i - 255]


def mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def inv(a):
    return EXP[255 - LOG[a]]


def power(a, e):
    r = 1
    for _ in range(e):
        r = mul(r, a)
    return r


def split(secret, m, t, coeffs):
    shares = []
    for xv in range(1, m + 1):
        y = []
        for k, s in enumerate(secret):
            acc = s
            for j in range(1, t):
                acc ^= mul(coeffs[k * (t - 1) + (j - 1)], power(xv, j))
            y.append(acc)
        shares.append({"x": xv, "y": bytes(y).hex()})
    return shares


def combine(shares):
    xs = [s["x"] for s in shares]
    ys = [bytes.fromhex(s["y"]) for s in shares]
    out = []
    for k in range(len(ys[0])):
        acc = 0
        for j, xj in enumerate(xs):
            num, den = 1, 1
            for mth, xm in enumerate(xs):
                if mth != j:
                    num = mul(num, xm)
                    den = mul(den, xm ^ xj)
            acc ^= mul(ys[j][k], mul(num, inv(den)))
        out.append(acc)
    return bytes(out)


def stream(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


vectors = []
for (label, length, m, t) in [("a", 1, 1, 1), ("b", 4, 3, 2), ("c", 32, 5, 3), ("d", 32, 7, 4), ("e", 16, 16, 9), ("f", 32, 5, 5)]:
    secret = stream(f"secret/{label}", length)
    coeffs = stream(f"coeffs/{label}", (t - 1) * length)
    shares = split(secret, m, t, coeffs)
    assert combine(shares[:t]) == secret
    assert combine(shares[-t:]) == secret
    vectors.append({"secret": secret.hex(), "shares": m, "threshold": t, "coefficients": coeffs.hex(), "expected": shares})

mults = [{"a": a, "b": b, "product": mul(a, b)} for a, b in [(0x57, 0x83), (0x57, 0x13), (0x53, 0xCA), (0x00, 0x7F), (0xFF, 0xFF), (0x02, 0x80)]]
assert mults[0]["product"] == 0xC1 and mults[1]["product"] == 0xFE and mults[2]["product"] == 0x01  # FIPS-197 §4.2, §4.2.1
json.dump(
    {
        "source": "test/vectors/secagg-shamir-gf256.py (independent log-table implementation; FIPS-197 §4.2 products)",
        "field": "GF(2^8) mod x^8+x^4+x^3+x+1",
        "multiplications": mults,
        "inverses": [{"a": a, "inverse": inv(a)} for a in [0x01, 0x02, 0x53, 0xCA, 0xFF]],
        "sharings": vectors,
    },
    open("secagg-shamir-gf256.json", "w"),
    indent=1,
)
