"""callvault.audit.merkle against published RFC 6962 vectors, plus properties for any size.

Vectors: tests/vectors/rfc6962.json (google/certificate-transparency merkle_test.py and
transparency-dev/merkle proof/verify_test.go, frozen verbatim). The corruption probes
mirror transparency-dev's ``corruptInclusionProof`` / ``corruptConsistencyProof``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.audit import merkle
from callvault.audit.merkle import ProofError

VECTORS: dict[str, Any] = json.loads((Path(__file__).parents[1] / "vectors" / "rfc6962.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots"]]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def _leaves(size: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + index.to_bytes(4, "big")) for index in range(size)]


def _persisted_nodes(leaf_hashes: list[bytes]) -> tuple[dict[tuple[int, int], bytes], merkle.CompactTree]:
    """What a store holds after appending through CompactTree: only the reported nodes."""
    tree = merkle.CompactTree()
    stored: dict[tuple[int, int], bytes] = {}
    for digest in leaf_hashes:
        for level, index, node in tree.append(digest):
            assert (level, index) not in stored, "a perfect subtree was reported twice"
            stored[(level, index)] = node
    return stored, tree


class _CountingSource:
    """A NodeSource over persisted nodes that counts calls (the DB round trips)."""

    def __init__(self, stored: dict[tuple[int, int], bytes]) -> None:
        self.stored = stored
        self.calls = 0

    def __call__(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.stored[(level, index)]


def _flip(proof: list[bytes], position: int, byte: int, bit: int = 0) -> list[bytes]:
    broken = [bytearray(node) for node in proof]
    broken[position][byte] ^= 1 << bit
    return [bytes(node) for node in broken]


# -- published vectors -------------------------------------------------------------------------


def test_hash_vectors() -> None:
    assert merkle.EMPTY_ROOT.hex() == VECTORS["empty_tree_root"]
    assert merkle.root_from_leaves([]) == merkle.EMPTY_ROOT
    assert merkle.CompactTree().root() == merkle.EMPTY_ROOT
    for case in VECTORS["leaf_hashes"]:
        assert merkle.leaf_hash(bytes.fromhex(case["data"])).hex() == case["hash"]
    for case in VECTORS["node_hashes"]:
        assert merkle.node_hash(bytes.fromhex(case["left"]), bytes.fromhex(case["right"])).hex() == case["hash"]


def test_root_of_every_prefix_three_ways() -> None:
    stored, _ = _persisted_nodes(LEAVES)
    tree = merkle.CompactTree()
    for size, root in enumerate(ROOTS, start=1):
        tree.append(LEAVES[size - 1])
        assert merkle.root_from_leaves(LEAVES[:size]) == root
        assert tree.root() == root and tree.size == size
        assert merkle.root_from_nodes(size, lambda level, index: stored[(level, index)]) == root


@pytest.mark.parametrize("case", VECTORS["inclusion_proofs"], ids=lambda c: f"{c['leaf_index']}of{c['tree_size']}")
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    index, size, expected = case["leaf_index"], case["tree_size"], _hexes(case["path"])
    get_node = merkle.memory_node_source(LEAVES[:size])
    assert merkle.inclusion_proof(index, size, get_node) == expected
    assert merkle.inclusion_proof_from_leaves(index, LEAVES[:size]) == expected
    root = ROOTS[size - 1]
    assert merkle.root_from_inclusion_proof(LEAVES[index], index, size, expected) == root
    assert merkle.verify_inclusion(LEAVES[index], index, size, expected, root)
    _assert_inclusion_probes_fail(LEAVES[index], index, size, expected, root)


@pytest.mark.parametrize("case", VECTORS["consistency_proofs"], ids=lambda c: f"{c['first']}to{c['second']}")
def test_consistency_vectors(case: dict[str, Any]) -> None:
    first, second, expected = case["first"], case["second"], _hexes(case["proof"])
    get_node = merkle.memory_node_source(LEAVES[:second])
    assert merkle.consistency_proof(first, second, get_node) == expected
    assert merkle.consistency_proof_from_leaves(first, LEAVES[:second]) == expected
    first_root, second_root = ROOTS[first - 1], ROOTS[second - 1]
    assert merkle.verify_consistency(first, second, first_root, second_root, expected)
    if expected:
        _assert_consistency_probes_fail(first, second, first_root, second_root, expected)


def test_real_ct_log_audit_path() -> None:
    """A 22-hash path from a 3,630,887-entry CT log: verification at real depth."""
    case = VECTORS["ct_log_inclusion"]
    leaf = merkle.leaf_hash(bytes.fromhex(case["leaf_data"]))
    assert leaf.hex() == case["leaf_hash"]
    index, size, path, root = case["leaf_index"], case["tree_size"], _hexes(case["path"]), bytes.fromhex(case["root"])
    assert merkle.root_from_inclusion_proof(leaf, index, size, path) == root
    assert merkle.verify_inclusion(leaf, index, size, path, root)
    _assert_inclusion_probes_fail(leaf, index, size, path, root)
    assert not merkle.verify_inclusion(leaf, index, size, path, bytes(32))
    with pytest.raises(ProofError):  # CT's "too short" probe: a leaf far beyond the path's reach
        merkle.root_from_inclusion_proof(leaf, index + 2 ** (len(path) + 1), size + 2 ** (len(path) + 1), path)


def _assert_inclusion_probes_fail(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    probes: list[tuple[str, bytes, int, int, list[bytes], bytes]] = [
        ("index - 1", leaf, index - 1, size, proof, root),
        ("index + 1", leaf, index + 1, size, proof, root),
        ("index ^ 2", leaf, index ^ 2, size, proof, root),
        ("size * 2", leaf, index, size * 2, proof, root),
        ("size // 2", leaf, index, size // 2, proof, root),
        ("wrong leaf", b"WrongLeaf", index, size, proof, root),
        ("other leaf", SOME_HASH, index, size, proof, root),
        ("empty root", leaf, index, size, proof, merkle.EMPTY_ROOT),
        ("random root", leaf, index, size, proof, SOME_HASH),
        ("trailing garbage", leaf, index, size, [*proof, b""], root),
        ("trailing root", leaf, index, size, [*proof, root], root),
        ("preceding garbage", leaf, index, size, [b"", *proof], root),
        ("preceding root", leaf, index, size, [root, *proof], root),
    ]
    if proof:
        probes.append(("removed component", leaf, index, size, proof[:-1], root))
        for position in range(len(proof)):
            probes.append((f"proof[{position}] bit 3", leaf, index, size, _flip(proof, position, 0, 3), root))
    if len(proof) > 1:
        probes.append(("inserted component", leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root))
    accepted = [name for name, lf, i, n, path, r in probes if merkle.verify_inclusion(lf, i, n, path, r)]
    assert accepted == []


def _assert_consistency_probes_fail(first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]) -> None:
    probes: list[tuple[str, int, int, bytes, bytes, list[bytes]]] = [
        ("first - 1", first - 1, second, root1, root2, proof),
        ("first + 1", first + 1, second, root1, root2, proof),
        ("first ^ 2", first ^ 2, second, root1, root2, proof),
        ("second * 2", first, second * 2, root1, root2, proof),
        ("second // 2", first, second // 2, root1, root2, proof),
        ("wrong root1", first, second, b"WrongRoot", root2, proof),
        ("wrong root2", first, second, root1, b"WrongRoot", proof),
        ("swapped roots", first, second, root2, root1, proof),
        ("empty proof", first, second, root1, root2, []),
        ("trailing garbage", first, second, root1, root2, [*proof, b""]),
        ("trailing root1", first, second, root1, root2, [*proof, root1]),
        ("trailing root2", first, second, root1, root2, [*proof, root2]),
        ("preceding garbage", first, second, root1, root2, [b"", *proof]),
        ("preceding root1", first, second, root1, root2, [root1, *proof]),
        ("preceding root2", first, second, root1, root2, [root2, *proof]),
        ("preceding proof[0]", first, second, root1, root2, [proof[0], *proof]),
        ("truncated", first, second, root1, root2, proof[:-1]),
    ]
    for position in range(len(proof)):
        probes.append((f"proof[{position}] bit 4", first, second, root1, root2, _flip(proof, position, 0, 4)))
    accepted = [name for name, m, n, r1, r2, path in probes if merkle.verify_consistency(m, n, r1, r2, path)]
    assert accepted == []


# -- edge cases and the error policy ----------------------------------------------------------


def test_inclusion_edge_cases_never_verify() -> None:
    # transparency-dev TestVerifyInclusion: impossible positions with an empty proof
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not merkle.verify_inclusion(SOME_HASH, index, size, [], b"")
        assert not merkle.verify_inclusion(b"", index, size, [], merkle.EMPTY_ROOT)
        assert not merkle.verify_inclusion(SOME_HASH, index, size, [], merkle.EMPTY_ROOT)
    # a one-leaf tree: root == leaf hash, empty path; hashes of the wrong size never verify
    single = merkle.leaf_hash(b"data")
    assert merkle.verify_inclusion(single, 0, 1, [], single)
    assert not merkle.verify_inclusion(single, 0, 1, [], b"")
    assert not merkle.verify_inclusion(b"", 0, 1, [], single)
    assert not merkle.verify_inclusion(b"", 0, 1, [], b"")
    assert not merkle.verify_inclusion(single[:31], 0, 1, [], single[:31])


def test_consistency_edge_cases() -> None:
    empty, root = merkle.EMPTY_ROOT, ROOTS[0]
    assert merkle.verify_consistency(0, 0, empty, empty, [])
    assert merkle.verify_consistency(0, 5, empty, ROOTS[4], [])
    assert merkle.verify_consistency(1, 1, root, root, [])
    assert not merkle.verify_consistency(1, 1, root, ROOTS[1], [])  # same size, different roots
    assert not merkle.verify_consistency(1, 1, root, root, [root])  # same size, proof not empty
    assert not merkle.verify_consistency(0, 1, empty, root, [empty])  # empty tree, proof not empty
    assert not merkle.verify_consistency(0, 1, SOME_HASH, root, [])  # stricter than transparency-dev
    assert not merkle.verify_consistency(1, 0, root, empty, [])  # time travel
    assert not merkle.verify_consistency(2, 1, ROOTS[1], root, [])
    assert not merkle.verify_consistency(1, 2, root, ROOTS[1], [])  # missing proof
    assert not merkle.verify_consistency(-1, 2, root, ROOTS[1], [LEAVES[1]])
    assert merkle.verify_consistency(1, 2, root, ROOTS[1], [LEAVES[1]])
    assert not merkle.verify_consistency(1, 2, root[:31], ROOTS[1], [LEAVES[1]])


def test_generators_raise_proof_error_for_impossible_requests() -> None:
    get_node = merkle.memory_node_source(LEAVES)
    for index, size in ((8, 8), (-1, 8), (0, 0), (9, 8)):
        with pytest.raises(ProofError):
            merkle.inclusion_proof(index, size, get_node)
    for first, second in ((5, 2), (-1, 3)):
        with pytest.raises(ProofError):
            merkle.consistency_proof(first, second, get_node)
    assert merkle.consistency_proof(0, 8, get_node) == []
    assert merkle.consistency_proof(8, 8, get_node) == []
    with pytest.raises(ProofError):
        merkle.inclusion_proof(0, 9, get_node)  # the source has no node beyond the tree it holds
    with pytest.raises(ProofError):
        merkle.inclusion_proof_from_leaves(8, LEAVES)
    with pytest.raises(ProofError):
        merkle.root_from_nodes(-1, get_node)


def test_root_from_inclusion_proof_raises_and_verify_returns_false() -> None:
    proof = _hexes(VECTORS["inclusion_proofs"][1]["path"])  # leaf 0 of 8
    for args in (
        (LEAVES[0], 8, 8, proof),  # index >= size
        (LEAVES[0], -1, 8, proof),
        (LEAVES[0], 0, 8, proof[:2]),  # too short
        (LEAVES[0], 0, 8, [*proof, proof[0]]),  # too long
        (LEAVES[0][:31], 0, 8, proof),  # leaf hash of the wrong size
        (LEAVES[0], 0, 8, [proof[0][:31], *proof[1:]]),  # proof hash of the wrong size
    ):
        with pytest.raises(ProofError):
            merkle.root_from_inclusion_proof(*args)
        assert not merkle.verify_inclusion(*args, ROOTS[7])


# -- CompactTree ------------------------------------------------------------------------------


def test_compact_tree_reports_each_perfect_subtree_once_with_its_hash() -> None:
    leaves = _leaves(100)
    stored, tree = _persisted_nodes(leaves)
    reference = merkle.memory_node_source(leaves)
    expected = {(level, index) for level in range(7) for index in range(100 >> level)}
    assert set(stored) == expected  # exactly the perfect subtrees, nothing on the ragged edge
    assert all(reference(level, index) == node for (level, index), node in stored.items())
    assert tree.frontier() == [stored[coordinate] for coordinate in merkle.frontier_coordinates(100)]
    assert merkle.frontier_coordinates(100) == [(6, 0), (5, 2), (2, 24)]


def test_compact_tree_state_round_trip_and_tamper() -> None:
    leaves = _leaves(45)
    tree = merkle.CompactTree()
    tree.extend(leaves[:37])
    state = json.loads(json.dumps(tree.to_state()))  # survives a trip through a JSON column
    resumed = merkle.CompactTree.from_state(state)
    assert (resumed.size, resumed.root()) == (37, tree.root())
    assert resumed.extend(leaves[37:]) == tree.copy().extend(leaves[37:])
    assert resumed.root() == merkle.root_from_leaves(leaves)
    assert tree.size == 37  # copy() left the original alone

    bad_states: list[dict[str, Any]] = [
        {**state, "frontier": [state["frontier"][0], *state["frontier"]]},  # wrong count for the size
        {**state, "size": 38},  # same number of set bits as 37: only the checksum notices
        {**state, "size": 36},
        {**state, "frontier": [("00" * 32), *state["frontier"][1:]]},  # edited hash
        {**state, "root": "11" * 32},
        {**state, "check": "00" * 32},
        {k: v for k, v in state.items() if k != "check"},
        {**state, "version": 2},
        {**state, "frontier": ["zz"] * len(state["frontier"])},
        {k: v for k, v in state.items() if k != "size"},
        {**state, "size": "37"},
    ]
    for bad in bad_states:
        with pytest.raises(ProofError):
            merkle.CompactTree.from_state(bad)
    with pytest.raises(ProofError):
        merkle.CompactTree().append(b"short")
    with pytest.raises(ProofError):
        merkle.CompactTree.from_frontier(3, [leaves[0]])


def test_compact_tree_resumes_from_persisted_nodes() -> None:
    leaves = _leaves(77)
    stored, tree = _persisted_nodes(leaves[:50])
    source = _CountingSource(stored)
    resumed = merkle.CompactTree.from_nodes(50, source)
    assert source.calls == (50).bit_count()
    assert resumed.frontier() == tree.frontier()
    resumed.extend(leaves[50:])
    assert resumed.root() == merkle.root_from_leaves(leaves)


# -- properties for any size -------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_every_proof_of_a_random_tree_verifies_and_matches_the_reference(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size, salt=data.draw(st.binary(max_size=4), label="salt"))
    stored, tree = _persisted_nodes(leaves)
    source = _CountingSource(stored)  # only the nodes CompactTree reported: no KeyError allowed
    root = merkle.root_from_leaves(leaves)
    assert tree.root() == root == merkle.root_from_nodes(size, source)
    budget = 2 * size.bit_length() + 1
    for index in range(size):
        source.calls = 0
        proof = merkle.inclusion_proof(index, size, source)
        assert source.calls <= budget
        assert proof == merkle.inclusion_proof_from_leaves(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    for first in range(size + 1):
        source.calls = 0
        proof = merkle.consistency_proof(first, size, source)
        assert source.calls <= budget
        assert proof == merkle.consistency_proof_from_leaves(first, leaves)
        assert merkle.verify_consistency(first, size, merkle.root_from_leaves(leaves[:first]), root, proof)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 300), data=st.data())
def test_tampered_inclusion_proofs_fail(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    get_node = merkle.memory_node_source(leaves)
    root = merkle.root_from_leaves(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = merkle.inclusion_proof(index, size, get_node)
    assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    byte, bit = data.draw(st.integers(0, 31), label="byte"), data.draw(st.integers(0, 7), label="bit")
    assert not merkle.verify_inclusion(leaves[index], index, size, _flip(proof, position, byte, bit), root)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other index")
    assert not merkle.verify_inclusion(leaves[index], other, size, proof, root)
    assert not merkle.verify_inclusion(leaves[other], index, size, proof, root)
    flipped_leaf = _flip([leaves[index]], 0, byte, bit)[0]
    assert not merkle.verify_inclusion(flipped_leaf, index, size, proof, root)
    assert not merkle.verify_inclusion(leaves[index], index, size, proof, _flip([root], 0, byte, bit)[0])
    assert not merkle.verify_inclusion(leaves[index], index, size, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[index], index, size, [*proof, root], root)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 300), data=st.data())
def test_tampered_consistency_proofs_fail(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    get_node = merkle.memory_node_source(leaves)
    first = data.draw(st.integers(1, size - 1), label="first")
    root1, root2 = merkle.root_from_leaves(leaves[:first]), merkle.root_from_leaves(leaves)
    proof = merkle.consistency_proof(first, size, get_node)
    assert merkle.verify_consistency(first, size, root1, root2, proof)
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    byte, bit = data.draw(st.integers(0, 31), label="byte"), data.draw(st.integers(0, 7), label="bit")
    assert not merkle.verify_consistency(first, size, root1, root2, _flip(proof, position, byte, bit))
    assert not merkle.verify_consistency(first, size, _flip([root1], 0, byte, bit)[0], root2, proof)
    assert not merkle.verify_consistency(first, size, root1, _flip([root2], 0, byte, bit)[0], proof)
    other = data.draw(st.integers(1, size).filter(lambda f: f != first), label="other first")
    assert not merkle.verify_consistency(other, size, merkle.root_from_leaves(leaves[:other]), root2, proof)
    assert not merkle.verify_consistency(first, size, root1, root2, proof[:-1])
    assert not merkle.verify_consistency(first, size, root1, root2, [*proof, root2])
    # a forked log: same first tree, different later leaves -> the old proof cannot vouch for it
    forked = leaves[:first] + _leaves(size - first, salt=b"fork")
    assert not merkle.verify_consistency(first, size, root1, merkle.root_from_leaves(forked), proof)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 300), data=st.data())
def test_compact_tree_root_equals_root_from_leaves_for_every_prefix(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    cut = data.draw(st.integers(0, size), label="restart at")
    tree = merkle.CompactTree()
    for count, digest in enumerate(leaves, start=1):
        tree.append(digest)
        if count == cut:  # simulate a restart from the persisted state
            tree = merkle.CompactTree.from_state(tree.to_state())
        assert tree.size == count
        assert tree.root() == merkle.root_from_leaves(leaves[:count])


# -- huge trees: O(log n) node reads ----------------------------------------------------------


def _uniform_tree_source(leaf: bytes) -> tuple[Callable[[int, int], bytes], list[int]]:
    """A consistent virtual tree whose leaves are all ``leaf``: every perfect subtree of a
    level has the same hash, so a trillion-leaf tree costs nothing to "store"."""
    by_level = [leaf]
    for _ in range(64):
        by_level.append(merkle.node_hash(by_level[-1], by_level[-1]))
    calls = [0]

    def get_node(level: int, index: int) -> bytes:
        calls[0] += 1
        assert index >= 0
        return by_level[level]

    return get_node, calls


@settings(max_examples=50, deadline=None)
@given(size=st.integers(2, 10**12), data=st.data())
def test_proofs_for_huge_trees_need_log_n_node_reads(size: int, data: st.DataObject) -> None:
    leaf = merkle.leaf_hash(b"same")
    get_node, calls = _uniform_tree_source(leaf)
    root = merkle.root_from_nodes(size, get_node)
    index = data.draw(st.integers(0, size - 1), label="index")
    calls[0] = 0
    proof = merkle.inclusion_proof(index, size, get_node)
    assert calls[0] <= 2 * size.bit_length()
    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    first = data.draw(st.integers(1, size), label="first")
    calls[0] = 0
    consistency = merkle.consistency_proof(first, size, get_node)
    assert calls[0] <= 2 * size.bit_length() + 1
    assert merkle.verify_consistency(first, size, merkle.root_from_nodes(first, get_node), root, consistency)


# -- canonical JSON ------------------------------------------------------------------------------


def test_canonical_json_is_deterministic_utf8() -> None:
    doc = {"b": 1, "a": [True, None, "张*"], "c": {"z": "x", "y": -2}}
    expected = '{"a":[true,null,"张*"],"b":1,"c":{"y":-2,"z":"x"}}'.encode()
    assert merkle.canonical_json(doc) == expected
    assert merkle.canonical_json(dict(reversed(list(doc.items())))) == expected
    assert merkle.canonical_json({"q": 'a"\\\n'}) == b'{"q":"a\\"\\\\\\n"}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), {"x": [float("nan")]}, "\ud800"])
def test_canonical_json_rejects_values_without_a_single_encoding(bad: object) -> None:
    with pytest.raises(ValueError):
        merkle.canonical_json(bad)


@pytest.mark.parametrize("bad", [{1: "a"}, {"x": {("t",): 1}}, [{None: 1}], {"d": object()}, b"bytes"])
def test_canonical_json_rejects_non_json_types_and_non_string_keys(bad: object) -> None:
    with pytest.raises(TypeError):
        merkle.canonical_json(bad)
