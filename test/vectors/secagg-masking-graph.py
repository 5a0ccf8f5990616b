#!/usr/bin/env python3
"""Known-answer vectors for the SecAgg+ masking graph (protocol/secure-aggregation/graph.ts),
from an independent implementation (hashlib, Python integers). Writes secagg-masking-graph.json
next to this file; test/unit/secagg-graph.test.ts checks it.

Encodings (protocol/bytes.ts ByteWriter): u16/u64 little-endian; "var" = u16 length ‖ bytes.
  σ      = binding(52) ‖ var(federation) ‖ u64(round)
  g      = SHA-256("fedmesh/secagg/masking-graph/v1" ‖ σ ‖ seed(32))
  key(v) = SHA-256(g ‖ var(utf8(v)))
  order  = nodes sorted by key (bytes), then id
  H(n, K): position p joined to p ± 1 … p ± K/2 (mod n); complete when K ≥ n − 1
"""
import hashlib
import json
import os
import struct


def var(b: bytes) -> bytes:
    return struct.pack('<H', len(b)) + b


def binding(chain_id: int, contract_hex: str) -> bytes:
    return chain_id.to_bytes(32, 'big') + bytes.fromhex(contract_hex[2:])


def graph_seed(bind: bytes, federation: str, rnd: int, seed: bytes) -> bytes:
    return hashlib.sha256(b'fedmesh/secagg/masking-graph/v1' + bind + var(federation.encode()) + struct.pack('<Q', rnd) + seed).digest()


def order(g: bytes, nodes):
    return [v for _, v in sorted((hashlib.sha256(g + var(v.encode())).digest(), v) for v in nodes)]


def neighbours(o, k):
    n = len(o)
    out = {}
    for p, v in enumerate(o):
        if k >= n - 1:
            ns = {u for u in o if u != v}
        else:
            ns = set()
            for d in range(1, k // 2 + 1):
                ns.add(o[(p + d) % n])
                ns.add(o[(p - d) % n])
        out[v] = sorted(ns)
    return out


def case(name, chain_id, contract, federation, rnd, seed_hex, nodes, k):
    bind = binding(chain_id, contract)
    seed = bytes.fromhex(seed_hex[2:])
    g = graph_seed(bind, federation, rnd, seed)
    o = order(g, nodes)
    return {
        'name': name,
        'binding': '0x' + bind.hex(),
        'federation': federation,
        'round': rnd,
        'seed': seed_hex,
        'nodes': nodes,
        'degree': k,
        'graphSeed': '0x' + g.hex(),
        'order': o,
        'neighbours': neighbours(o, k),
    }


peers = [f'peer-{i:03d}' for i in range(12)]
contract = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
seed = '0x' + hashlib.sha256(b'fedmesh test round seed').hexdigest()
vectors = {
    'cases': [
        case('12 nodes, K = 4', 31337, contract, 'demo', 3, seed, peers, 4),
        case('12 nodes, K = 4, round 4', 31337, contract, 'demo', 4, seed, peers, 4),
        case('12 nodes, K = 6, another chain', 1, contract, 'demo', 3, seed, peers, 6),
        case('5 nodes, K = 4: complete', 31337, contract, 'demo', 3, seed, peers[:5], 4),
    ]
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'secagg-masking-graph.json'), 'w') as f:
    json.dump(vectors, f, indent=1)
    f.write('\n')
