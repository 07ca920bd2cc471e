"""The fingerprint channel on its own: it never changes what a mask discloses, each unit
carries the bit its key chooses, and the units read back from text are the units written,
whatever the whitespace."""

from __future__ import annotations

import hashlib
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.access.masking import mask_field
from callvault.exports import watermark


def _bit_for(key: bytes):  # type: ignore[no-untyped-def]
    def bit(unit: str) -> int:
        return hashlib.sha256(key + unit.encode()).digest()[0] & 1

    return bit


_digits = st.text(alphabet="0123456789", min_size=11, max_size=11).map(lambda d: "1" + d[1:])
_values = st.one_of(
    _digits.map(lambda d: ("mobile", "+86" + d)),
    st.text(alphabet="张王李赵钱孙周吴郑", min_size=2, max_size=4).map(lambda n: ("name", n)),
    st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True).map(lambda i: ("id_number", i)),
    st.from_regex(r"62[0-9]{14,17}", fullmatch=True).map(lambda c: ("bank_card", c)),
    st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True).map(lambda e: ("email", e)),
)


@settings(max_examples=300, deadline=None)
@given(value=_values, key=st.binary(min_size=4, max_size=8))
def test_fingerprint_keeps_every_visible_character_and_sets_each_parity(value: tuple[str, str], key: bytes) -> None:
    field, clear = value
    masked = mask_field(field, clear)
    assert masked is not None
    bit = _bit_for(key)
    marked = watermark.apply_fingerprint(masked, bit)
    # exactly the same visible characters, in order: only star counts differ
    assert re.sub(r"\*+", "*", marked) == re.sub(r"\*+", "*", masked)
    assert 0 <= marked.count("*") - masked.count("*") <= 2
    # every unit carries its key's bit, and reading back (whitespace removed) agrees
    units = list(watermark.units_of(marked))
    assert units
    for unit, count in units:
        assert count % 2 == bit(unit)
    squeezed = re.sub(r"\s+", "", marked)
    assert list(watermark.units_of(squeezed)) == units
    assert list(watermark.units_of("  " + marked.replace(" ", "\t") + " ")) == units


def test_another_key_agrees_on_about_half_the_units() -> None:
    rnd = random.Random(1)
    masks = [mask_field("mobile", f"+861{rnd.randrange(10**9, 10**10)}") or "" for _ in range(400)]
    mine, other = _bit_for(b"mine"), _bit_for(b"other")
    observed = watermark.observed_units(watermark.apply_fingerprint(m, mine) for m in masks)
    assert watermark.score(observed, mine).matches == len(observed)
    share = watermark.score(observed, other).matches / len(observed)
    assert 0.4 < share < 0.6


def test_units_seen_with_both_parities_are_dropped() -> None:
    observed = watermark.observed_units(["138****5678", "138*****5678", "139****1234"])
    assert list(observed) == ["139\x1f1234"]


def test_binomial_tail() -> None:
    assert watermark.binomial_tail(10, 0) == 1.0
    assert watermark.binomial_tail(10, 10) == 2**-10
    assert abs(watermark.binomial_tail(20, 15) - 0.020694732666015625) < 1e-12
    assert watermark.binomial_tail(3, 4) == 0.0
    assert 0.0 < watermark.binomial_tail(2000, 1800) < 1e-200 or watermark.binomial_tail(2000, 1800) == 0.0


# -- the fingerprint as first written (a scan per run), kept as the reference --------------
_REF_WHITESPACE = re.compile(r"\s+")
_REF_STARS = re.compile(r"\*+")
_REF_BOUNDARY = frozenset(",;|\"'\t")


def _ref_contexts(compact: str, start: int, end: int) -> tuple[str, str]:
    left = compact[max(0, start - watermark.CONTEXT_CHARS) : start]
    right = compact[end : end + watermark.CONTEXT_CHARS]
    for index in range(len(left) - 1, -1, -1):
        if left[index] in _REF_BOUNDARY or left[index] == "*":
            left = left[index + 1 :]
            break
    for index, char in enumerate(right):
        if char in _REF_BOUNDARY or char == "*":
            right = right[:index]
            break
    return left, right


def _ref_units_of(text: str) -> list[tuple[str, int]]:
    compact = _REF_WHITESPACE.sub("", text)
    units = []
    for match in _REF_STARS.finditer(compact):
        left, right = _ref_contexts(compact, match.start(), match.end())
        if left or right:
            units.append((f"{left}\x1f{right}", match.end() - match.start()))
    return units


def _ref_apply_fingerprint(masked: str, bit) -> str:  # type: ignore[no-untyped-def]
    if "*" not in masked:
        return masked
    positions = [index for index, char in enumerate(masked) if not char.isspace()]
    compact = "".join(masked[index] for index in positions)
    inserts: list[int] = []
    for match in _REF_STARS.finditer(compact):
        start, end = match.span()
        left, right = _ref_contexts(compact, start, end)
        if (left or right) and (end - start) % 2 != bit(f"{left}\x1f{right}"):
            inserts.append(positions[end - 1] + 1)
    out, previous = [], 0
    for position in inserts:
        out += [masked[previous:position], "*"]
        previous = position
    return "".join([*out, masked[previous:]])


_texts = st.text(alphabet=st.sampled_from([*list("ab1张*  \t,;|\"'@.-"), "\u3000", "\n"]), max_size=40)


@settings(max_examples=600, deadline=None)
@given(
    text=st.one_of(_texts, _values.map(lambda value: mask_field(*value) or "")), key=st.binary(min_size=4, max_size=8)
)
def test_units_and_fingerprint_agree_with_the_reference_scan(text: str, key: bytes) -> None:
    """The one-regex scan finds the same units, and sets the same stars, as a scan per run
    (files fingerprinted before it trace the same)."""
    bit = _bit_for(key)
    assert list(watermark.units_of(text)) == _ref_units_of(text)
    assert watermark.apply_fingerprint(text, bit) == _ref_apply_fingerprint(text, bit)
