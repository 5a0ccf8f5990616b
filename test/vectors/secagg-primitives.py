#!/usr/bin/env python3
"""Known-answer vectors for the secure-aggregation primitives (protocol/secure-aggregation/
crypto.ts key schedule v2, the AES-128-CTR PRG read as 64-bit words, quantize.ts and the
double masking of masking.ts in Z_{2^64}), from an independent implementation: Python's
`cryptography` (OpenSSL) for X25519, HKDF-SHA256, AES-128-CTR and AES-256-GCM, hashlib for
SHA-256, and Python integers (exact, no carries to get wrong) for the ring. Writes
secagg-primitives.json next to this file; test/unit/secagg-vectors.test.ts checks it.

Encodings (protocol/bytes.ts ByteWriter): u16/u64 little-endian; "var" = u16 length ‖ bytes.
  scope σ   = binding(52) ‖ var(federation) ‖ u64(round)
  binding   = chainId as 32 bytes big-endian ‖ 20-byte contract (deployment-binding.ts)
  party     = var(id) ‖ public key (32)
"""
import hashlib
import json
import math
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import serialization

M64 = 1 << 64


def var(b: bytes) -> bytes:
    return struct.pack('<H', len(b)) + b


def binding(chain_id: int, contract_hex: str) -> bytes:
    return chain_id.to_bytes(32, 'big') + bytes.fromhex(contract_hex[2:])


def scope_bytes(scope) -> bytes:
    return scope['binding'] + var(scope['federation'].encode()) + struct.pack('<Q', scope['round'])


def party(pid: str, pk: bytes) -> bytes:
    return var(pid.encode()) + pk


def hkdf(ikm: bytes, salt: str, info: bytes, n: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt.encode(), info=info).derive(ikm)


def x25519_pub(sk: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def x25519(sk: bytes, pk: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(sk).exchange(X25519PublicKey.from_public_bytes(pk))


def prg(key: bytes, n: int) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return enc.update(bytes(n)) + enc.finalize()


def u64_words(stream: bytes):
    return [int.from_bytes(stream[8 * k : 8 * k + 8], 'little') for k in range(len(stream) // 8)]


def pairwise_key(shared, scope, a, b):
    lo, hi = (a, b) if a[0] < b[0] else (b, a)
    return hkdf(shared, 'fedmesh/secagg/pairwise/v2', scope_bytes(scope) + party(*lo) + party(*hi), 16)


def id_info(scope, pid):
    return scope_bytes(scope) + var(pid.encode())


def self_mask_key(b, scope, pid):
    return hkdf(b, 'fedmesh/secagg/self-mask/v2', id_info(scope, pid), 16)


def rounding_key(seed, scope, pid):
    return hkdf(seed, 'fedmesh/secagg/rounding/v2', id_info(scope, pid), 16)


def commitment(b, scope, pid):
    return hashlib.sha256(b'fedmesh/secagg/b-commit/v2' + id_info(scope, pid) + b).digest()


def share_ad(scope, sender, recipient):
    return b'fedmesh/secagg/share/v2' + scope_bytes(scope) + party(*sender) + party(*recipient)


def quantize(values, n, R, f, rounding: bytes):
    """quantize.ts, in Python floats (IEEE doubles, the same operations) and exact integers."""
    L = R * 2**f
    out = []
    for k, v in enumerate(values):
        y = min(R, max(-R, v)) * 2.0**f
        fl = math.floor(y)
        u = int.from_bytes(rounding[4 * k : 4 * k + 4], 'little')
        q = fl + (1 if u / 2**32 < y - fl else 0)
        q = max(-L, min(L, q))
        out.append(q)
    out.append(n)
    return out


def h(b: bytes) -> str:
    return '0x' + b.hex()


def main():
    scope = {'binding': binding(31337, '0x' + 'ab' * 20), 'federation': 'demo', 'round': 7}
    other = {'binding': binding(1, '0x' + 'ab' * 20), 'federation': 'demo', 'round': 7}
    sk = {p: hashlib.sha256(f'fedmesh-test-vector/mask/{p}'.encode()).digest() for p in ['alice', 'bob', 'carol']}
    ck = {p: hashlib.sha256(f'fedmesh-test-vector/enc/{p}'.encode()).digest() for p in ['alice', 'bob']}
    pk = {p: x25519_pub(s) for p, s in sk.items()}
    cpk = {p: x25519_pub(s) for p, s in ck.items()}
    b = {p: hashlib.sha256(f'fedmesh-test-vector/b/{p}'.encode()).digest() for p in sk}
    rho = hashlib.sha256(b'fedmesh-test-vector/rho/alice').digest()

    shared_ab = x25519(sk['alice'], pk['bob'])
    assert shared_ab == x25519(sk['bob'], pk['alice'])

    kdf = {
        'scope': {'chainId': '31337', 'contract': '0x' + 'ab' * 20, 'federation': 'demo', 'round': 7, 'binding': h(scope['binding'])},
        'maskSecretKeys': {p: h(s) for p, s in sk.items()},
        'maskPublicKeys': {p: h(v) for p, v in pk.items()},
        'sharedAliceBob': h(shared_ab),
        'pairwiseAliceBob': h(pairwise_key(shared_ab, scope, ('alice', pk['alice']), ('bob', pk['bob']))),
        'pairwiseAliceBobChain1': h(pairwise_key(shared_ab, other, ('alice', pk['alice']), ('bob', pk['bob']))),
        'selfMaskSeeds': {p: h(v) for p, v in b.items()},
        'selfMaskKeyAlice': h(self_mask_key(b['alice'], scope, 'alice')),
        'roundingSeedAlice': h(rho),
        'roundingKeyAlice': h(rounding_key(rho, scope, 'alice')),
        'commitmentAlice': h(commitment(b['alice'], scope, 'alice')),
    }

    # Share encryption alice → bob: AD, key, and AES-256-GCM with a fixed nonce.
    ad = share_ad(scope, ('alice', cpk['alice']), ('bob', cpk['bob']))
    shared_c = x25519(ck['alice'], cpk['bob'])
    key = hkdf(shared_c, 'fedmesh/secagg/share-key/v2', ad, 32)
    nonce = bytes(range(12))
    plaintext = bytes(range(65))
    share = {
        'encryptionSecretKeys': {p: h(s) for p, s in ck.items()},
        'encryptionPublicKeys': {p: h(v) for p, v in cpk.items()},
        'associatedData': h(ad),
        'key': h(key),
        'nonce': h(nonce),
        'plaintext': h(plaintext),
        'ciphertext': h(AESGCM(key).encrypt(nonce, plaintext, ad)),
    }

    # PRG: AES-128-CTR keystream from counter block 0, read as little-endian u64 ring elements.
    prg_vectors = []
    for key_hex in ['00' * 16, '000102030405060708090a0b0c0d0e0f', kdf['pairwiseAliceBob'][2:]]:
        stream = prg(bytes.fromhex(key_hex), 48)
        prg_vectors.append({'key': '0x' + key_hex, 'keystream': h(stream), 'u64': [str(w) for w in u64_words(stream)]})

    # Quantization: defaults (R = 2^24, f = 24, maxSampleCount = 2^24 − 1).
    R, f = 2**24, 24
    values = [0.0, 1.0, -1.0, 0.3, -0.3, 1e-9, -1e-9, float(R), -float(R), R * 1.5, -1e30, 12345.678901234, 2.0**-25, -(2.0**-25)]
    rounding = bytes.fromhex('00000000ffffffff00000080' + '55' * 4 * (len(values) - 3))
    q = quantize(values, 100000, R, f, rounding)
    quant = {
        'clipRange': R,
        'fractionalBits': f,
        'sampleCount': 100000,
        'values': [repr(v) for v in values],
        'rounding': h(rounding),
        'elements': [str(x) for x in q],
        'words': h(b''.join((x % M64).to_bytes(8, 'little') for x in q)),
    }

    # Masking: alice (neighbours bob, carol) masks q; y = q + PRG(self) + Σ_{j>alice} PRG(s_aj) − Σ_{j<alice} …
    d = 4
    qa = quantize([0.5, -0.25, 3.0, -7.75], 42, R, f, bytes(4 * d))
    y = [x % M64 for x in qa]
    streams = [(self_mask_key(b['alice'], scope, 'alice'), 1)]
    for j in ['bob', 'carol']:
        shared = x25519(sk['alice'], pk[j])
        streams.append((pairwise_key(shared, scope, ('alice', pk['alice']), (j, pk[j])), 1 if j > 'alice' else -1))
    for key, sign in streams:
        ws = u64_words(prg(key, 8 * (d + 1)))
        y = [(a + sign * w) % M64 for a, w in zip(y, ws)]
    mask = {
        'participant': 'alice',
        'neighbours': ['bob', 'carol'],
        'values': [0.5, -0.25, 3.0, -7.75],
        'sampleCount': 42,
        'quantized': [str(x) for x in qa],
        'masked': [str(x) for x in y],
        'maskedWords': h(b''.join(x.to_bytes(8, 'little') for x in y)),
    }

    out = {
        'description': 'secure-aggregation primitives, generated by secagg-primitives.py (Python cryptography/OpenSSL + exact integers)',
        'kdf': kdf,
        'share': share,
        'prg': prg_vectors,
        'quantize': quant,
        'mask': mask,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'secagg-primitives.json')
    with open(path, 'w') as fh:
        json.dump(out, fh, indent=2)
        fh.write('\n')


if __name__ == '__main__':
    main()
