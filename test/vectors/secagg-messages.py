#!/usr/bin/env python3
"""Known-answer vectors for the secure-aggregation wire messages (protocol/messages/secagg.ts
v3, masked-input.ts v3) and every signed statement and digest, from an independent encoder
written from the layouts in those files' headers (little-endian integers, varBytes16 = u16
length ‖ bytes, statements = tag ‖ deployment binding (chain id 32 BE ‖ contract 20) ‖
federation varBytes16 ‖ round u64). Writes secagg-messages.json.
"""
import hashlib
import json
import struct


def u8(v): return struct.pack('<B', v)
def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def vb16(b): return u16(len(b)) + b
def s(x): return x.encode()
def fill(n, b): return bytes([b]) * n


FED, ROUND = 'demo', 4
BINDING = (31337).to_bytes(32, 'big') + bytes.fromhex('5FbDB2315678afecb367f032d93F642f64180aa3')
VERSION = 3  # v3: each ShareKeys share names its recipient key


def env(kind, sender):
    return u8(kind) + u8(VERSION) + vb16(s(FED)) + u64(ROUND) + vb16(s(sender))


def stmt(tag):
    return s(tag) + BINDING + vb16(s(FED)) + u64(ROUND)


def entries(es):
    return u16(len(es)) + b''.join(vb16(s(p)) + h for p, h in es)


def ids(xs):
    return u16(len(xs)) + b''.join(vb16(s(x)) for x in xs)


ENTRIES = [('alice', fill(32, 1)), ('bob', fill(32, 2))]
ENC, MASK = fill(32, 0x11), fill(32, 0x22)

msgs = {}
msgs['advertise'] = env(1, 'alice') + ENC + MASK + u8(1) + fill(64, 0x33)
# share: recipient varBytes16 | recipientKey 32 | nonce 12 | ciphertext 81
msgs['share-keys'] = env(2, 'alice') + fill(32, 3) + u8(2) + \
    vb16(s('bob')) + fill(32, 0x14) + fill(12, 4) + fill(81, 5) + \
    vb16(s('carol')) + fill(32, 0x15) + fill(12, 6) + fill(81, 7)
msgs['view'] = env(3, 'bob') + fill(32, 0x0e) + entries(ENTRIES) + fill(64, 0x44)  # v3: keySetDigest first
table = sorted({'alice', 'bob', 'dave'})
idx = {p: i for i, p in enumerate(table)}
views = [('bob', ENTRIES, fill(64, 0x44)), ('carol', ENTRIES, fill(64, 0x55))]
body = u16(0) + fill(32, 0x0e) + u16(len(table)) + b''.join(vb16(s(p)) for p in table)
body += u16(1) + u16(idx['alice']) + u16(1) + u16(idx['dave']) + u8(len(views))
for member, es, sig in views:
    body += vb16(s(member)) + u16(len(es)) + b''.join(u16(idx[p]) + h for p, h in es) + sig
msgs['proposal'] = env(4, 'bob') + body
msgs['reveal'] = env(5, 'carol') + fill(32, 8) + u16(1) + vb16(s('alice')) + u8(3) + fill(32, 9) + \
    u16(1) + vb16(s('dave')) + u8(3) + fill(32, 0x0a)
msgs['result'] = env(6, 'carol') + fill(32, 0x0b) + fill(32, 0x0c) + fill(32, 0x0d) + u64(455) + fill(64, 0x66)
adv = ['alice', 'bob', 'dave']
msgs['key-set-proposal'] = env(7, 'bob') + u16(1) + ids(adv) + u16(2) + u16(adv.index('alice')) + u16(adv.index('dave'))
msgs['key-set-endorse'] = env(8, 'carol') + fill(32, 0x0f) + fill(64, 0x77)
msgs['lock-endorse'] = env(9, 'erin') + fill(32, 0x10) + fill(64, 0x88)
# Liveness evidence (kinds 10-12).
msgs['complaint'] = env(10, 'carol') + vb16(s('dave')) + u8(1) + fill(64, 0x99)
EV = [('bob', ENTRIES, fill(64, 0x44)), ('bob', ENTRIES[:1], fill(64, 0x45))]  # two different views by bob
msgs['lock-refuse'] = env(11, 'carol') + fill(32, 0x10) + fill(64, 0xaa) + u8(len(EV)) + \
    b''.join(vb16(s(m)) + fill(32, 0x0e) + entries(es) + sig for m, es, sig in EV)
msgs['lock-refuse-bare'] = env(11, 'dave') + fill(32, 0x10) + fill(64, 0xab) + u8(0)
msgs['lock-release'] = env(12, 'erin') + fill(32, 0x10) + fill(32, 0x12) + fill(64, 0xbb) + u8(3) + \
    b''.join(vb16(s(m)) + fill(64, b) for m, b in [('alice', 0xc1), ('carol', 0xc3), ('dave', 0xc4)])

statements = {}
statements['advertise'] = stmt('fedmesh/secagg/advertise/v2') + vb16(s('alice')) + ENC + MASK + u8(1)
statements['view'] = stmt('fedmesh/secagg/view/v3') + vb16(s('bob')) + fill(32, 0x0e) + entries(ENTRIES)
statements['result'] = stmt('fedmesh/secagg/result/v2') + fill(32, 0x0b) + fill(32, 0x0c) + fill(32, 0x0d) + u64(455)
statements['endorse-key-set'] = stmt('fedmesh/secagg/endorse/v1') + u8(1) + fill(32, 0x0f)
statements['endorse-lock'] = stmt('fedmesh/secagg/endorse/v1') + u8(2) + fill(32, 0x10)
statements['refuse-lock'] = stmt('fedmesh/secagg/endorse/v1') + u8(3) + fill(32, 0x10)
statements['complaint'] = stmt('fedmesh/secagg/complaint/v1') + vb16(s('carol')) + vb16(s('dave')) + u8(1)

digests = {}
digests['key-set'] = hashlib.sha256(stmt('fedmesh/secagg/keyset/v1') + ids(adv) + ids(['alice', 'dave'])).digest()
digests['lock'] = hashlib.sha256(stmt('fedmesh/secagg/lock/v1') + fill(32, 0x0e) + entries(ENTRIES[:1]) + ids(['dave'])).digest()
digests['survivors'] = hashlib.sha256(s('fedmesh/secagg/survivors/v1') + entries(ENTRIES)).digest()

sig65 = bytes(range(1, 66))
masked = u8(3) + fill(32, 1) + bytes(32) + sig65 + ids(['a', 'b']) + u32(4) + b''.join(u32(w) for w in [7, 8, 9, 10])

out = {
    'note': 'independent encoder: test/vectors/secagg-messages.py; inputs are described in that file',
    'binding': BINDING.hex(),
    'messages': {k: v.hex() for k, v in msgs.items()},
    'statements': {k: v.hex() for k, v in statements.items()},
    'digests': {k: v.hex() for k, v in digests.items()},
    'maskedInput': masked.hex(),
}
with open(__file__.replace('.py', '.json'), 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')
