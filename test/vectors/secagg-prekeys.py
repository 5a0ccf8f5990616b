#!/usr/bin/env python3
"""Known-answer vector for the signed committee prekey bundle (protocol/secure-aggregation/prekeys.ts
v2), from an independent encoder written from the layout in that file's header (little-endian
integers, varBytes16 = u16 length ‖ bytes): the statement
"fedmesh/secagg/prekeys/v2" ‖ binding (chain id 32 BE ‖ contract 20) ‖ federation varBytes16 ‖
member varBytes16 ‖ epoch u64 ‖ firstRound u64 ‖ count u16 ‖ keys, its Ed25519 signature (RFC 8032, by the
`cryptography` package) under a fixed identity seed, the member's libp2p peer id (base58btc of the
identity multihash of the protobuf public key), X25519 public keys of fixed secrets (RFC 7748), and
the wire bundle: version u8 = 2 ‖ sequence u32 ‖ federation ‖ member ‖ epoch u64 ‖ firstRound u64 ‖
count u16 ‖ keys ‖ signature 64 (the key generation epoch < firstRound). Writes secagg-prekeys.json.
"""
import json
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def vb16(b): return u16(len(b)) + b


B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'


def b58(b):
    n = int.from_bytes(b, 'big')
    out = ''
    while n > 0:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return '1' * (len(b) - len(b.lstrip(b'\0'))) + out


FED = 'demo'
BINDING = (31337).to_bytes(32, 'big') + bytes.fromhex('5FbDB2315678afecb367f032d93F642f64180aa3')
SEED = bytes(range(1, 33))
FIRST_ROUND = 5
EPOCH = 3  # the member re-keyed after round 3 closed
SEQUENCE = 7
SECRETS = [bytes([0x40 + i]) * 32 for i in range(3)]

sk = Ed25519PrivateKey.from_private_bytes(SEED)
pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
# libp2p PublicKey protobuf {Type: Ed25519 (1), Data: pub}, identity multihash (0x00, length).
proto = b'\x08\x01\x12\x20' + pub
member = b58(b'\x00' + bytes([len(proto)]) + proto)
keys = [X25519PrivateKey.from_private_bytes(s).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for s in SECRETS]

statement = (b'fedmesh/secagg/prekeys/v2' + BINDING + vb16(FED.encode()) + vb16(member.encode())
             + u64(EPOCH) + u64(FIRST_ROUND) + u16(len(keys)) + b''.join(keys))
signature = sk.sign(statement)
bundle = (bytes([2]) + u32(SEQUENCE) + vb16(FED.encode()) + vb16(member.encode()) + u64(EPOCH)
          + u64(FIRST_ROUND) + u16(len(keys)) + b''.join(keys) + signature)

with open(__file__.replace('.py', '.json'), 'w') as f:
    json.dump({
        'federation': FED,
        'binding': BINDING.hex(),
        'identitySeed': SEED.hex(),
        'member': member,
        'epoch': EPOCH,
        'firstRound': FIRST_ROUND,
        'sequence': SEQUENCE,
        'secrets': [s.hex() for s in SECRETS],
        'keys': [k.hex() for k in keys],
        'statement': statement.hex(),
        'signature': signature.hex(),
        'bundle': bundle.hex(),
    }, f, indent=2)
    f.write('\n')
