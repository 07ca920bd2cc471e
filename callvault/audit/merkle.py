"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and verification. Pure stdlib.

This module imports nothing from the rest of CallVault (only ``hashlib`` and ``json``), so
it can be copied next to an exported proof and used as an offline verifier.

Hashing (RFC 6962 §2.1, RFC 9162 §2.1.1)::

    leaf_hash(d)    = SHA-256(0x00 ‖ d)
    node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)
    MTH([])         = SHA-256("")                      (``EMPTY_ROOT``)

Node addressing: level 0 holds the leaf hashes, and the node at ``(level, index)`` is the
root of the *perfect* subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``.
Perfect subtrees never change once complete, so they are what a store persists (each
written once); every other node of any past tree size (the ragged right edge) is combined
from O(log n) of them on demand. That is why proof generation takes a ``get_node(level,
index)`` callable (a :data:`NodeSource`) that only ever has to answer for perfect
subtrees.

Error policy (one rule, everywhere):

* functions that *produce* something (proofs, roots, trees) raise :class:`ProofError`
  (a ``ValueError``) on malformed input: positions outside the tree, a proof of the wrong
  length, hashes that are not 32 bytes, an inconsistent persisted state;
* the predicates :func:`verify_inclusion` and :func:`verify_consistency` never raise for
  bad values: anything malformed or wrong is simply ``False``, so a verifier has one
  outcome to handle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactTree",
    "NodeSource",
    "ProofError",
    "canonical_json",
    "consistency_proof",
    "consistency_proof_from_leaves",
    "frontier_coordinates",
    "inclusion_proof",
    "inclusion_proof_from_leaves",
    "leaf_hash",
    "memory_node_source",
    "node_hash",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "root_from_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Bytes in every leaf, node and root hash (SHA-256)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 6962 §2.1): the hash of the empty string."""

NodeSource = Callable[[int, int], bytes]
"""``get_node(level, index)``: the hash of the perfect subtree at ``(level, index)``."""

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_STATE_VERSION = 1


class ProofError(ValueError):
    """Malformed Merkle input: a position outside the tree, a proof of the wrong length,
    a hash that is not 32 bytes, or a persisted tree state that does not add up."""


# -- hashing -------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash ``SHA-256(0x00 ‖ data)``; the prefix keeps leaves and nodes apart
    (a second-preimage attack cannot pass an interior node off as a leaf)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash ``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_keys(value: object) -> None:
    """Object keys must be strings: ``json`` would silently turn ``1`` into ``"1"``, and
    ``{1: "a", "1": "b"}`` would then encode to a document with a duplicate key."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON object keys must be str, not {type(key).__name__}")
            if isinstance(item, dict | list | tuple):
                _check_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, dict | list | tuple):
                _check_keys(item)


def canonical_json(obj: object) -> bytes:
    """Deterministic JSON bytes of ``obj``: what an audit leaf commits to.

    Keys sorted, separators ``(",", ":")``, no ASCII escaping, UTF-8. Equal documents
    give equal bytes, so a verifier can recompute a leaf hash from the stored columns.
    It is *not* RFC 8785 (JCS): keys sort by code point and floats use Python's
    shortest repr; audit events hold only strings, integers, booleans and null.

    Raises ``ValueError`` for NaN or ±Infinity (no JSON form) and for strings that are
    not valid Unicode (lone surrogates); ``TypeError`` for non-JSON types and for object
    keys that are not strings.
    """
    _check_keys(obj)
    return _ENCODER.encode(obj).encode("utf-8")


# -- whole trees ---------------------------------------------------------------------------


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ProofError(f"{what} must be bytes")
    digest = bytes(value)
    if len(digest) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, not {len(digest)}")
    return digest


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH (RFC 6962 §2.1) over a list of leaf hashes.

    Computed level by level: pair neighbours left to right and carry an odd last node up
    unchanged. That builds exactly RFC 6962's tree (split at the largest power of two
    below n) without recursion or list slicing, in O(n) hashes: about a second for a
    million leaves.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        paired = [sha256(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def frontier_coordinates(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the perfect subtrees a tree of ``size`` leaves is made of,
    left (largest) to right: one per set bit of ``size``."""
    if size < 0:
        raise ProofError("tree size must not be negative")
    coordinates: list[tuple[int, int]] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            coordinates.append((level, offset >> level))
            offset += 1 << level
    return coordinates


def _range_hash(start: int, end: int, get_node: NodeSource) -> bytes:
    """MTH of leaves ``[start, end)`` of an RFC 6962 tree, from perfect subtrees only.

    Any subtree of the RFC 6962 shape is its binary decomposition (largest perfect piece
    first) folded from the right, so this costs one ``get_node`` call per set bit of the
    width. ``start`` must be aligned to the largest piece, which every subtree of an
    RFC 6962 tree is.
    """
    pieces: list[bytes] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ProofError(f"range starting at {start} is not a subtree of an RFC 6962 tree")
        pieces.append(get_node(level, start >> level))
        start += 1 << level
    if not pieces:
        return EMPTY_ROOT
    current = pieces.pop()
    while pieces:
        current = node_hash(pieces.pop(), current)
    return current


def root_from_nodes(size: int, get_node: NodeSource) -> bytes:
    """MTH of the first ``size`` leaves from stored perfect subtrees (popcount(size) calls):
    the root of any past tree size, e.g. to check a signed tree head."""
    if size < 0:
        raise ProofError("tree size must not be negative")
    return _range_hash(0, size, get_node)


def _state_check(size: int, frontier_hex: list[str]) -> str:
    payload = f"callvault/compact-tree/v{_STATE_VERSION}\n{size}\n{','.join(frontier_hex)}\n"
    return _sha256(payload.encode("ascii")).hexdigest()


class CompactTree:
    """The right edge of an append-only RFC 6962 tree in O(log n) memory (a "compact
    range" or frontier): one perfect-subtree root per set bit of ``size``.

    ``append`` and ``extend`` return every perfect subtree they complete as ``(level,
    index, hash)`` (a leaf is level 0), so a caller that persists them can later serve
    proofs for any tree size through :func:`inclusion_proof` / :func:`consistency_proof`.
    ``to_state`` / ``from_state`` (or ``from_nodes`` over the persisted nodes) let a
    process resume appending after a restart without rereading the log.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []  # perfect-subtree roots, largest (leftmost) first

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @classmethod
    def from_frontier(cls, size: int, hashes: Sequence[bytes]) -> CompactTree:
        """Resume from the roots of the perfect subtrees at ``frontier_coordinates(size)``."""
        if size < 0 or len(hashes) != size.bit_count():
            raise ProofError("frontier does not match the tree size")
        tree = cls()
        tree._size = size
        tree._frontier = [_check_hash(digest, "frontier hash") for digest in hashes]
        return tree

    @classmethod
    def from_nodes(cls, size: int, get_node: NodeSource) -> CompactTree:
        """Resume from persisted perfect subtrees (popcount(size) ``get_node`` calls)."""
        return cls.from_frontier(size, [get_node(level, index) for level, index in frontier_coordinates(size)])

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state: ``{"version", "size", "frontier": [hex...], "root", "check"}``.

        ``root`` (for people and for comparing with a tree head) and ``check`` (SHA-256 over
        version, size and frontier) are redundant on purpose: ``from_state`` recomputes both,
        so a damaged state is refused instead of silently forking the log. ``check`` is
        needed because the root does not depend on ``size`` (a size with the same number of
        set bits would otherwise pass). Neither stops a deliberate edit: after loading,
        compare ``(size, root())`` with the latest *signed* tree head.
        """
        frontier = [digest.hex() for digest in self._frontier]
        return {
            "version": _STATE_VERSION,
            "size": self._size,
            "frontier": frontier,
            "root": self.root().hex(),
            "check": _state_check(self._size, frontier),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CompactTree:
        """Inverse of ``to_state``; raises :class:`ProofError` for anything inconsistent."""
        try:
            version, size, frontier = state["version"], state["size"], state["frontier"]
            if version != _STATE_VERSION or type(size) is not int or not isinstance(frontier, list):
                raise ProofError("unsupported or malformed compact tree state")
            hashes = [bytes.fromhex(item) for item in frontier]
            root, check = bytes.fromhex(state["root"]), state["check"]
        except ProofError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise ProofError("malformed compact tree state") from error
        if check != _state_check(size, [digest.hex() for digest in hashes]):
            raise ProofError("compact tree state fails its checksum")
        tree = cls.from_frontier(size, hashes)
        if tree.root() != root:
            raise ProofError("compact tree state does not match its recorded root")
        return tree

    def copy(self) -> CompactTree:
        """An independent tree with the same state (to append tentatively)."""
        tree = CompactTree()
        tree._size = self._size
        tree._frontier = list(self._frontier)
        return tree

    def frontier(self) -> list[bytes]:
        """The perfect-subtree roots at ``frontier_coordinates(size)``, left to right."""
        return list(self._frontier)

    def append(self, digest: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; returns the perfect subtrees completed, leaf first."""
        if type(digest) is not bytes or len(digest) != HASH_SIZE:
            digest = _check_hash(digest, "leaf hash")
        index = self._size
        completed = [(0, index, digest)]
        current = digest
        level = 0
        frontier = self._frontier
        while index >> level & 1:  # a left sibling of this size exists: merge with it
            current = node_hash(frontier.pop(), current)
            level += 1
            completed.append((level, index >> level, current))
        frontier.append(current)
        self._size = index + 1
        return completed

    def extend(self, digests: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append many leaf hashes; returns every perfect subtree completed, in order."""
        completed: list[tuple[int, int, bytes]] = []
        for digest in digests:
            completed.extend(self.append(digest))
        return completed

    def root(self) -> bytes:
        """MTH of the leaves appended so far (folds the frontier from the right)."""
        if not self._frontier:
            return EMPTY_ROOT
        current = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            current = node_hash(left, current)
        return current

    def __repr__(self) -> str:
        return f"CompactTree(size={self._size}, root={self.root().hex()[:16]}…)"


# -- proofs from a node source ---------------------------------------------------------------


def inclusion_proof(index: int, size: int, get_node: NodeSource) -> list[bytes]:
    """Audit path (RFC 6962 §2.1.1 PATH, RFC 9162 §2.1.3.1) of leaf ``index`` in the tree
    of ``size`` leaves, bottom-up.

    Walks down from the root. Each sibling is either a perfect left subtree (one
    ``get_node`` call) or a right subtree; only the first right subtree taken at the
    ragged right edge can be imperfect (popcount calls), since after the first left turn
    every node below is perfect. So at most about 2·log2(size) calls.
    """
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        level = (end - start - 1).bit_length() - 1  # left subtree: largest power of two < width
        middle = start + (1 << level)
        if index < middle:
            path.append(_range_hash(middle, end, get_node))
            end = middle
        else:
            path.append(get_node(level, start >> level))
            start = middle
    path.reverse()
    return path


def consistency_proof(first: int, second: int, get_node: NodeSource) -> list[bytes]:
    """Proof (RFC 6962 §2.1.2 PROOF / SUBPROOF, RFC 9162 §2.1.4.1) that the tree of
    ``second`` leaves extends the tree of ``first`` leaves.

    ``first == second`` and ``first == 0`` give the empty proof (every tree is consistent
    with itself and with the empty tree). Like ``inclusion_proof``, O(log n) calls.
    """
    if not 0 <= first <= second:
        raise ProofError("need 0 <= first <= second")
    if first in (0, second):
        return []
    # Iterative SUBPROOF(m, D[start:end], complete); ``m`` counts from ``start``.
    m, start, end, complete = first, 0, second, True
    tail: list[bytes] = []
    while m != end - start:
        level = (end - start - 1).bit_length() - 1
        middle = start + (1 << level)
        if m <= 1 << level:
            tail.append(_range_hash(middle, end, get_node))
            end = middle
        else:
            tail.append(get_node(level, start >> level))
            m -= 1 << level
            start = middle
            complete = False
    proof = [] if complete else [_range_hash(start, end, get_node)]
    proof.extend(reversed(tail))
    return proof


# -- in-memory reference versions (tests, small tools) ------------------------------------


def memory_node_source(leaf_hashes: Sequence[bytes]) -> NodeSource:
    """A :data:`NodeSource` over every perfect subtree of ``leaf_hashes`` (kept in memory).

    It answers *only* for perfect subtrees inside the tree, exactly what a store persisted
    from ``CompactTree.append`` holds; anything else raises :class:`ProofError`.
    """
    levels: list[list[bytes]] = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def get_node(level: int, index: int) -> bytes:
        if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
            raise ProofError(f"no perfect subtree at level {level}, index {index}")
        return levels[level][index]

    return get_node


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof_from_leaves(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) computed straight from the RFC 6962 definition over a list of leaf
    hashes: O(n) per proof, an independent reference for tests and small trees."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _largest_power_below(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), root_from_leaves(leaf_hashes[lo + k : hi])]
        return [*path(m - k, lo + k, hi), root_from_leaves(leaf_hashes[lo : lo + k])]

    return path(index, 0, size)


def consistency_proof_from_leaves(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) straight from the RFC 6962 definition (reference for tests)."""
    second = len(leaf_hashes)
    if not 0 <= first <= second:
        raise ProofError("need 0 <= first <= second")
    if first in (0, second):
        return []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [root_from_leaves(leaf_hashes[lo:hi])]
        k = _largest_power_below(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), root_from_leaves(leaf_hashes[lo + k : hi])]
        return [*subproof(m - k, lo + k, hi, False), root_from_leaves(leaf_hashes[lo : lo + k])]

    return subproof(first, 0, second, True)


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def _inclusion_length(index: int, size: int) -> int:
    """Hashes in the audit path of ``index`` in a tree of ``size``: the levels below the
    point where the leaf's path and the right edge diverge, plus the left border above."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an audit path leads to (RFC 9162 §2.1.3.2 steps 1-4).

    Raises :class:`ProofError` if ``index`` is outside ``[0, size)``, the proof length is
    not the one this position needs, or any hash is not 32 bytes.
    """
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    current = _check_hash(leaf_hash, "leaf hash")
    expected = _inclusion_length(index, size)
    if len(proof) != expected:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, this position needs {expected}")
    fn, sn = index, size - 1
    for item in proof:
        sibling = _check_hash(item, "proof hash")
        if sn == 0:  # unreachable after the length check; kept as in the RFC
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            while fn and not fn & 1:  # right edge: skip levels where this node has no sibling
                fn >>= 1
                sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    return current


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place ``leaf_hash`` at ``index`` of the tree of
    ``size`` leaves with root ``root``? ``False`` for any malformed input, never raises
    for bad values."""
    try:
        computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
        return computed == _check_hash(root, "root")
    except ProofError:
        return False


def _consistency_length(first: int, second: int) -> int:
    """Hashes in the consistency proof for ``0 < first < second`` (RFC 9162 §2.1.4.1)."""
    inner = ((first - 1) ^ (second - 1)).bit_length()
    border = ((first - 1) >> inner).bit_count()
    shift = (first & -first).bit_length() - 1  # trailing zero bits of first
    seed = 0 if first == 1 << shift else 1  # the first tree's root is sent unless it is perfect
    return seed + inner - shift + border


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (``second``, ``second_root``) an append-only
    extension of (``first``, ``first_root``)?

    Edge cases, as in transparency-dev/merkle but stricter on the empty tree:
    ``first == second`` needs an empty proof and equal roots; ``first == 0`` needs an
    empty proof and ``first_root == EMPTY_ROOT``. ``False`` for any malformed input.
    """
    try:
        first_root = _check_hash(first_root, "first root")
        second_root = _check_hash(second_root, "second root")
        path = [_check_hash(item, "proof hash") for item in proof]
    except ProofError:
        return False
    if not 0 <= first <= second:
        return False
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    if first == second:
        return not path and first_root == second_root
    if len(path) != _consistency_length(first, second):
        return False
    if first & (first - 1) == 0:  # step 2: a perfect first tree is its own first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
