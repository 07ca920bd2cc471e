"""Merkle micro-benchmark: proofs over a 1M-leaf tree held as in-memory perfect nodes.

Measures what ``callvault.audit.merkle`` itself costs per proof (hashing and node lookups),
without a database: the node source is a list per level, as a store of the perfect subtrees
reported by ``CompactTree`` would serve them. Target: proof_ms_p99 <= 5 including the DB,
so the pure part should be a small fraction of that.

Peer, measured in the same run: the O(n) RFC 6962 reference ``inclusion_proof_from_leaves``
(what a store without persisted interior nodes would have to do).

    python bench/merkle_micro.py [--leaves 1048576] [--proofs 2000]
"""

from __future__ import annotations

import argparse
import random
import time

from callvault.audit import merkle


def _percentile(timings: list[float], fraction: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1 << 20)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    size = args.leaves
    rng = random.Random(args.seed)

    began = time.perf_counter()
    leaves = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(size)]
    leaf_s = time.perf_counter() - began

    began = time.perf_counter()
    tree = merkle.CompactTree()
    levels: list[list[bytes]] = [[] for _ in range(size.bit_length())]
    for digest in leaves:
        for level, _index, node in tree.append(digest):
            levels[level].append(node)  # reported in index order per level
    append_s = time.perf_counter() - began

    began = time.perf_counter()
    root = merkle.root_from_leaves(leaves)
    root_s = time.perf_counter() - began
    assert root == tree.root()

    calls = 0

    def get_node(level: int, index: int) -> bytes:
        nonlocal calls
        calls += 1
        return levels[level][index]

    inclusion_ms: list[float] = []
    verify_ms: list[float] = []
    max_calls = 0
    for _ in range(args.proofs):
        index = rng.randrange(size)
        calls = 0
        began = time.perf_counter()
        proof = merkle.inclusion_proof(index, size, get_node)
        inclusion_ms.append((time.perf_counter() - began) * 1000)
        max_calls = max(max_calls, calls)
        began = time.perf_counter()
        ok = merkle.verify_inclusion(leaves[index], index, size, proof, root)
        verify_ms.append((time.perf_counter() - began) * 1000)
        assert ok

    consistency_ms: list[float] = []
    for _ in range(args.proofs):
        first = rng.randrange(1, size + 1)
        calls = 0
        began = time.perf_counter()
        merkle.consistency_proof(first, size, get_node)
        consistency_ms.append((time.perf_counter() - began) * 1000)
        max_calls = max(max_calls, calls)

    reference_ms: list[float] = []
    for _ in range(3):
        index = rng.randrange(size)
        began = time.perf_counter()
        merkle.inclusion_proof_from_leaves(index, leaves)
        reference_ms.append((time.perf_counter() - began) * 1000)

    p99 = _percentile(inclusion_ms, 0.99)
    reference = sorted(reference_ms)[1]
    print(f"tree of {size} leaves: leaf hashes {leaf_s:.2f} s, CompactTree appends {append_s:.2f} s, "
          f"root_from_leaves {root_s:.2f} s")  # fmt: skip
    print(f"inclusion proof: p50 {_percentile(inclusion_ms, 0.5):.3f} ms, p99 {p99:.3f} ms; "
          f"consistency p99 {_percentile(consistency_ms, 0.99):.3f} ms; verify p99 "
          f"{_percentile(verify_ms, 0.99):.3f} ms; O(n) reference {reference:.0f} ms")  # fmt: skip
    print(f"leaves={size}")
    print(f"get_node_calls_max={max_calls}")
    print(f"append_us_per_leaf={append_s / size * 1e6:.2f}")
    print(f"root_from_leaves_s={root_s:.3f}")
    print(f"proof_ms_p50={_percentile(inclusion_ms, 0.5):.4f}")
    print(f"proof_ms_p99={p99:.4f}")
    print(f"consistency_ms_p99={_percentile(consistency_ms, 0.99):.4f}")
    print(f"verify_ms_p99={_percentile(verify_ms, 0.99):.4f}")
    print(f"speedup_vs_reference={reference / p99:.0f}")


if __name__ == "__main__":
    main()
