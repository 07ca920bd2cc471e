"""An export's cells (``cells.fingerprinter``: the compiled marker,
``HmacSha256.mark_star_run``, where the extension is built) are exactly what the general
path writes, ``safe_cell(watermark.apply_fingerprint(masked, bit))``: on every mask of
generated customers and on arbitrary text made of the characters that matter (stars,
whitespace, delimiters, formula starts, non-ASCII letters and digits). The marker answers
for every ASCII value of its shape."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.access.masking import MASKS
from callvault.crypto.blind_index import BlindIndexer, compiled_hmac_sha256
from callvault.exports import watermark
from callvault.exports.cells import fingerprinter
from callvault.exports.files import safe_cell

_INDEXER = BlindIndexer(bytes(range(32)))
_EXPORT_ID = "test"
_FIELD = watermark.fingerprint_field(_EXPORT_ID)
_MARKER = _INDEXER.star_run_marker(_FIELD)
_CELL = fingerprinter(_INDEXER, _EXPORT_ID)
compiled_only = pytest.mark.skipif(compiled_hmac_sha256() is None, reason="callvault.crypto._openssl is not built")


def _keyed_bit(unit: str) -> int:
    return _INDEXER.digest(_FIELD, unit)[0] & 1


def _general(masked: str) -> str:
    return safe_cell(watermark.apply_fingerprint(masked, _keyed_bit))


def _clear_values(fake: Faker) -> dict[str, str]:
    return {
        "name": fake.name(),
        "mobile": "+86" + fake.phone_number(),
        "landline": fake.phone_number(),
        "id_number": fake.ssn(),
        "bank_card": fake.credit_card_number(),
        "email": fake.email(),
        "address": fake.address(),
    }


def test_every_mask_of_generated_customers() -> None:
    checked = 0
    for locale in ("zh_CN", "en_US"):
        fake = Faker(locale)
        fake.seed_instance(7)
        for _ in range(400):
            for field, clear in _clear_values(fake).items():
                masked = MASKS[field](clear)
                assert _CELL(masked) == _general(masked), (field, masked)
                checked += 1
    assert checked == 2 * 400 * 7


_MASKLIKE = st.text(alphabet="0123456789aZ*** \t,;|\"'=+-@.()张٣²Ⅻ\u00a0\u3000", max_size=24)
_ONE_RUN = st.from_regex(r"[0-9A-Za-z]{1,9}\*{1,12}[0-9A-Za-z]{1,9}", fullmatch=True)


@settings(max_examples=3000, deadline=None)
@given(masked=st.one_of(_MASKLIKE, _ONE_RUN))
def test_arbitrary_text(masked: str) -> None:
    assert _CELL(masked) == _general(masked)


def test_edge_cases() -> None:
    cases = [
        "",
        "*",
        "**",
        "1*",
        "*1",
        "1*2",
        "12**34",
        "1*2*3",
        "=1**2",
        "+1**2",
        "-1**2",
        "@a*b",
        "a**b ",
        " a**b",
        "张*",
        "٣**٣",
        "²**²",
        "a\u3000**b",
        "1**2\t",
        "'1**2",
        "12345**678901",
        "ab**c**d",
    ]
    for masked in cases:
        assert _CELL(masked) == _general(masked), masked


def test_the_compiled_marker_is_there_when_the_extension_is() -> None:
    assert (_MARKER is None) == (compiled_hmac_sha256() is None)


@compiled_only
@settings(max_examples=3000, deadline=None)
@given(masked=st.one_of(_MASKLIKE, _ONE_RUN))
def test_the_compiled_marker_writes_what_the_general_path_writes(masked: str) -> None:
    assert _MARKER is not None
    marked = _MARKER(masked, watermark.CONTEXT_CHARS)
    expected = _general(masked)
    if marked is None:  # not its shape: the caller takes the Python path
        assert not (masked.isascii() and re.fullmatch(r"[0-9A-Za-z]+\*+[0-9A-Za-z]+", masked))
    else:
        assert marked == expected


@compiled_only
def test_the_compiled_marker_refuses_malformed_calls() -> None:
    assert _MARKER is not None
    for args in [(b"1**2", 4), ("1**2", "4"), ("1**2",), ("1**2", 4, 5)]:
        with pytest.raises(TypeError):
            _MARKER(*args)  # type: ignore[arg-type]
    for context in (0, -1, 65):
        with pytest.raises(ValueError):
            _MARKER("1**2", context)
    with pytest.raises(OverflowError):
        _MARKER("1**2", 2**80)


def test_the_workers_module_imports_no_database_or_settings_layer() -> None:
    """The export workers' fork server imports ``cells`` once per process; with SQLAlchemy
    and the settings behind it, that took 0.7 s of CPU at the start of the first export."""
    probe = "import sys, callvault.exports.cells; print(sorted({'sqlalchemy', 'pydantic_settings'} & set(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
