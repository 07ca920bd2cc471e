"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and verification. Pure stdlib.

This module has no dependency on the rest of CallVault: copy it next to an exported proof
and check the proof offline.

Nodes are addressed as ``(level, index)``: level 0 holds the leaf hashes, and the node at
``(level, index)`` is the root of the *perfect* subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. Storage keeps only perfect subtrees (each
written once, never changed); any other node is combined from O(log n) of them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "CompactTree",
    "NodeSource",
    "ProofError",
    "canonical_json",
    "consistency_proof",
    "frontier_coordinates",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

NodeSource = Callable[[int, int], bytes]
"""``get_node(level, index)``: hash of a perfect subtree."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof was requested for positions the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8, no NaN/Infinity."""
    return _CANONICAL.encode(obj).encode()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH (RFC 6962 §2.1) of a list of leaf hashes, level by level."""
    if not leaf_hashes:
        return EMPTY_ROOT
    tree = CompactTree()
    for digest in leaf_hashes:
        tree.append(digest)
    return tree.root()


def frontier_coordinates(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees that make up a tree of ``size`` leaves, left to right."""
    coordinates: list[tuple[int, int]] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            coordinates.append((level, offset >> level))
            offset += 1 << level
    return coordinates


class CompactTree:
    """The right edge of an append-only tree in O(log n) memory (a "compact range").

    ``append`` returns the perfect subtrees it completed as ``(level, index, hash)``; a
    caller that stores them can serve proofs for any past tree size.
    """

    __slots__ = ("_frontier", "size")

    def __init__(self) -> None:
        self.size = 0
        self._frontier: list[bytes] = []  # perfect-subtree roots, largest (leftmost) first

    @classmethod
    def from_frontier(cls, size: int, hashes: Sequence[bytes]) -> CompactTree:
        if len(hashes) != bin(size).count("1"):
            raise ProofError("frontier does not match the tree size")
        tree = cls()
        tree.size = size
        tree._frontier = list(hashes)
        return tree

    def copy(self) -> CompactTree:
        return CompactTree.from_frontier(self.size, self._frontier)

    def frontier(self) -> list[bytes]:
        return list(self._frontier)

    def append(self, digest: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        completed = [(0, index, digest)]
        current = digest
        level = 0
        while index >> level & 1:  # merge with the left sibling while it exists
            current = node_hash(self._frontier.pop(), current)
            level += 1
            completed.append((level, index >> level, current))
        self._frontier.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._frontier:
            return EMPTY_ROOT
        current = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            current = node_hash(left, current)
        return current


def _subtree(start: int, end: int, get_node: NodeSource) -> bytes:
    """Hash of leaves ``[start, end)`` where ``start`` is aligned to the subtree's split."""
    width = end - start
    if width & (width - 1) == 0 and start % width == 0:
        return get_node(int(math.log2(width)), start // width)
    split = 1 << ((width - 1).bit_length() - 1)
    return node_hash(_subtree(start, start + split, get_node), _subtree(start + split, end, get_node))


def _path(index: int, start: int, end: int, get_node: NodeSource) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[start:end]), bottom-up."""
    if end - start == 1:
        return []
    split = 1 << ((end - start - 1).bit_length() - 1)
    if index < start + split:
        return [*_path(index, start, start + split, get_node), _subtree(start + split, end, get_node)]
    return [*_path(index, start + split, end, get_node), _subtree(start, start + split, get_node)]


def inclusion_proof(index: int, size: int, get_node: NodeSource) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    return _path(index, 0, size, get_node)


def _subproof(m: int, start: int, end: int, complete: bool, get_node: NodeSource) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b)."""
    width = end - start
    if m == width:
        return [] if complete else [_subtree(start, end, get_node)]
    split = 1 << ((width - 1).bit_length() - 1)
    if m <= split:
        return [*_subproof(m, start, start + split, complete, get_node), _subtree(start + split, end, get_node)]
    return [*_subproof(m - split, start + split, end, False, get_node), _subtree(start, start + split, get_node)]


def consistency_proof(first: int, second: int, get_node: NodeSource) -> list[bytes]:
    """Proof that the tree of ``second`` leaves extends the tree of ``first`` leaves."""
    if not 0 < first <= second:
        raise ProofError("need 0 < first <= second")
    if first == second:
        return []
    return _subproof(first, 0, second, True, get_node)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2. False for any malformed input."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    current = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and current == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2. False for any malformed input."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
