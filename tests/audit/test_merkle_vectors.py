"""RFC 6962 hashing against the certificate-transparency reference vectors, plus properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.audit import merkle

# google/certificate-transparency python/ct/crypto/merkle_test.py: the 8 test leaves and
# the root of every prefix of them.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Inclusion proofs from the same file: (leaf index, tree size, path).
PATHS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
# Consistency proofs from the same file: (first size, second size, proof).
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def _nodes(leaf_hashes: list[bytes]) -> merkle.NodeSource:
    stored: dict[tuple[int, int], bytes] = {}
    tree = merkle.CompactTree()
    for digest in leaf_hashes:
        for level, index, node in tree.append(digest):
            stored[(level, index)] = node
    return lambda level, index: stored[(level, index)]


HASHES = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in LEAVES]


def test_roots_of_every_prefix() -> None:
    assert merkle.root_from_leaves([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for size, root in enumerate(ROOTS, start=1):
        assert merkle.root_from_leaves(HASHES[:size]).hex() == root


def test_inclusion_vectors() -> None:
    get_node = _nodes(HASHES)
    for index, size, path in PATHS:
        proof = merkle.inclusion_proof(index, size, get_node)
        assert [node.hex() for node in proof] == path
        assert merkle.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))


def test_consistency_vectors() -> None:
    get_node = _nodes(HASHES)
    for first, second, expected in CONSISTENCY:
        proof = merkle.consistency_proof(first, second, get_node)
        assert [node.hex() for node in proof] == expected
        assert merkle.verify_consistency(
            first, second, bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1]), proof
        )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_proof_verifies_and_tampering_fails(size: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    get_node = _nodes(leaves)
    root = merkle.root_from_leaves(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, get_node)
    assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    if size > 1:
        assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, root)
    if proof:
        broken = [bytearray(node) for node in proof]
        broken[data.draw(st.integers(0, len(proof) - 1))][0] ^= 1
        assert not merkle.verify_inclusion(leaves[index], index, size, [bytes(b) for b in broken], root)
    first = data.draw(st.integers(1, size))
    consistency = merkle.consistency_proof(first, size, get_node)
    old_root = merkle.root_from_leaves(leaves[:first])
    assert merkle.verify_consistency(first, size, old_root, root, consistency)
    if first < size:
        assert not merkle.verify_consistency(first, size, merkle.leaf_hash(b"forged"), root, consistency)


def test_malformed_requests_are_refused() -> None:
    get_node = _nodes(HASHES)
    for bad in ((8, 8), (-1, 8)):
        try:
            merkle.inclusion_proof(*bad, get_node)
        except merkle.ProofError:
            pass
        else:
            raise AssertionError(bad)
    assert not merkle.verify_inclusion(HASHES[0], 9, 8, [], bytes(32))
    assert not merkle.verify_consistency(5, 2, bytes(32), bytes(32), [])
