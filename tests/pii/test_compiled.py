"""The compiled digit scanner (callvault.pii._digits) and the pure-Python path agree.

Whenever the extension is built, every test here runs both paths on the same text and
compares the entities they give (type, span, score, recognizer), the spans the scanner
finds against ``re.finditer`` over the digits pattern, and whole analyzers built with
either path. Without the extension there is nothing to compare and they are skipped.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.core.checks import PROVINCES
from callvault.pii.engine import Analyzer
from callvault.pii.normalize import NORMALIZE_TRIGGERS
from callvault.pii.prefixes import FOLDS_TO_ASCII, match_prefixes, prefix_test, prefixes_occur
from callvault.pii.recognizers import numbers
from callvault.pii.recognizers.numbers import NumberRecognizer
from callvault.pii.registry import STRUCTURED, default_recognizers
from tests.pii.corpus import Generator
from tests.pii.evalset import EvalSet

compiled_only = pytest.mark.skipif(numbers._digits is None, reason="callvault.pii._digits is not built")

COMPILED = NumberRecognizer()
PURE = NumberRecognizer(compiled=False)
CONTEXTS = [
    numbers.CARD_CONTEXT,
    numbers.NEGATIVE_CONTEXT,
    numbers.PHONE_CONTEXT,
    numbers.CODE_CONTEXT,
    numbers.CODE_NEGATIVE_BEFORE,
]


def _analyzers(compiled: bool) -> list[Analyzer]:
    recognizers = [
        NumberRecognizer(compiled=compiled) if isinstance(r, NumberRecognizer) else r for r in default_recognizers()
    ]
    return [Analyzer(recognizers), Analyzer(recognizers, entities=frozenset(STRUCTURED))]


# no prefilter: the one alternation of every pattern, the reference for the engine's merge
# of single-pattern searches (used for a text in which some patterns' triggers occur)
ALTERNATION = [Analyzer(default_recognizers(), prefilter="none")]
# and with an alternation compiled for every set of triggers at once (no merging)
COMPILED_VARIANTS = Analyzer(default_recognizers())
COMPILED_VARIANTS.merge_until = 0


FAST = _analyzers(True)
SLOW = _analyzers(False)


def _agree(text: str) -> None:
    spans = [m.span() for m in numbers._DIGITS_ALONE.finditer(text)]
    assert COMPILED.scanner.runs(text) == spans, text
    for start, end in spans:
        assert COMPILED.scanner.run(text, start, end) == PURE._digits_run(text, start, end), (text, start, end)
    assert COMPILED.scan_digits(text) == PURE.scan_digits(text), text
    for fast, slow in zip(FAST, SLOW, strict=True):
        assert fast.analyze(text) == slow.analyze(text), text
    assert FAST[0].analyze(text) == ALTERNATION[0].analyze(text) == COMPILED_VARIANTS.analyze(text), text


def _id_number(rnd: random.Random) -> str:
    born = date(1930, 1, 1) + timedelta(days=rnd.randrange(35_000))  # some in the future
    body = rnd.choice(sorted(PROVINCES)) + f"{rnd.randrange(10_000):04d}" + born.strftime("%Y%m%d")
    body += f"{rnd.randrange(1000):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    if rnd.random() < 0.2:
        check = rnd.choice("0123456789Xx")
    return body + (check.lower() if rnd.random() < 0.3 else check)


def _luhn(rnd: random.Random) -> str:
    body = rnd.choice(["62", "4", "5", "3", "0"]) + "".join(
        rnd.choice("0123456789") for _ in range(rnd.randint(13, 17))
    )
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def _spaced(rnd: random.Random, digits: str) -> str:
    out = []
    for i, char in enumerate(digits):
        if i and rnd.random() < 0.25:
            out.append(rnd.choice([" ", "-", " ", ", ", "，", ",", "  ", "- "]))
        out.append(char)
    return "".join(out)


_WORDS = [
    "卡号", "银行卡", "card", "account", "订单", "单号", "order", "ticket", "ref", "电话", "手机", "phone", "call",
    "验证码", "密码", "code", "zip code", "PIN", "OTP", "sent me", "码是", "尾号", "分机", "ext", "邮编", "room",
    "护照", "passport", "客户：", "坐席：", "\n", "我", "是", "的", "，", "。", " ", "E", "G", "ab", "X", "x", "年",
    "月", "号", "元", "次", "位", "幺三八", "四二", "一", "零", "〇", "٣", "０", "+", "(", ")", "-", "PASSCODE",
    "ſent me", "\u212aey", "İ", "tracking", "invoice", "reference", "texted me", "password", "(0٣٣)", "(0٣٣٣) ",
    "(0１２)", "4008123456", "800-810-8888", "400 123 4567", "@", "wang@163.com", "x@12345.com", "我叫", "王小明",
    "北京市朝阳区建国路88号", "my name is", "John Smith", "123 Main Street",
]  # fmt: skip


def _token(rnd: random.Random) -> str:
    kind = rnd.random()
    if kind < 0.35:
        return rnd.choice(_WORDS)
    if kind < 0.45:
        return _id_number(rnd)
    if kind < 0.55:
        return _spaced(rnd, _luhn(rnd)) if rnd.random() < 0.5 else _luhn(rnd)
    if kind < 0.62:
        mobile = "1" + rnd.choice("3456789") + "".join(rnd.choice("0123456789") for _ in range(9))
        return _spaced(rnd, mobile)
    if kind < 0.68:
        area = rnd.choice(["010", "021", "0755", "0571", "0"])
        local = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(6, 9)))
        return rnd.choice([f"{area}-{local}", f"({area}){local}", area + local, f"({area}) {local}"])
    if kind < 0.72:
        return rnd.choice(["+86 ", "+86-", "0086", "(+86)", "(0086) ", "86", "+", "400", "800"])
    if kind < 0.77:  # dictated in groups: 8 groups are split, 9 are not
        groups = [
            "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 4))) for _ in range(rnd.randint(6, 11))
        ]
        return rnd.choice([" ", "，", ", "]).join(groups)
    digits = "".join(rnd.choice("0123456789") for _ in range(rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 20, 26])))
    return _spaced(rnd, digits) if rnd.random() < 0.3 else digits


@compiled_only
def test_both_paths_agree_on_generated_calls() -> None:
    texts = [u.text for u in Generator(11).utterances(1500)] + [u.text for u in EvalSet(11).dialogues(600)]
    for text in texts:
        _agree(text)


@compiled_only
def test_both_paths_agree_on_random_numbers_and_cues() -> None:
    rnd = random.Random(20261127)
    for _ in range(6000):
        text = "".join(_token(rnd) for _ in range(rnd.randint(1, 9)))
        _agree(text)


_ALPHABET = "0123456789 -,，+()Xx\n一二三幺零〇٣０卡号码是验证密码订单电话护照EGabPINcode：年元"


@compiled_only
@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=80))
def test_both_paths_agree_on_any_text(text: str) -> None:
    _agree(text)


@compiled_only
def test_an_id_number_born_today_is_valid_and_tomorrow_is_not() -> None:
    for born, valid in ((date.today(), True), (date.today() + timedelta(days=1), False)):
        body = "110101" + born.strftime("%Y%m%d") + "123"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        text = "身份证" + body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
        found = COMPILED.scan_digits(text)
        assert found == PURE.scan_digits(text)
        assert bool(found and found[0].type == "CN_ID_CARD") is valid


@compiled_only
def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        COMPILED.scanner.run("123456", 4, 2)
    with pytest.raises(TypeError):
        COMPILED.scanner.scan(b"123456")
    with pytest.raises(TypeError):  # not initialized
        type(COMPILED.scanner).__new__(type(COMPILED.scanner)).scan("123456")
    test = prefix_test([re.compile("ab")])
    with pytest.raises(TypeError):  # initialized once: another thread may be using it
        test.__init__([])
    assert test.occurs("xab") and not test.occurs("xa")


def test_only_the_known_characters_fold_to_ascii_letters() -> None:
    """``fold_key`` gives these the ASCII letter re's IGNORECASE matches them with; no
    other code point outside ASCII matches one (checked against re itself)."""
    letter = re.compile("[a-z]", re.IGNORECASE)
    found = [chr(c) for c in range(128, 0x110000) if not 0xD800 <= c < 0xE000 and letter.fullmatch(chr(c))]
    assert found == sorted(FOLDS_TO_ASCII)
    for char, ascii_letter in FOLDS_TO_ASCII.items():
        assert re.fullmatch(ascii_letter, char, re.IGNORECASE)


def _as_text(prefixes: list | None) -> list[str] | None:
    """Prefixes of single characters as strings (for reading the expected values)."""
    if prefixes is None:
        return None
    return ["".join(chr(r[0][0]) if len(r) == 1 and r[0][0] == r[0][1] else "?" for r in p) for p in prefixes]


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("abc|d", ["abc", "d"]),
        ("(?i)K", ["k"]),
        ("x?y", ["xy", "y"]),
        ("(?<!a)b", ["b"]),
        (r"\bfoo", ["foo"]),
        ("a(?:b|)c", ["abc", "ac"]),
        ("(?:ab)*c", ["abab", "abc", "c"]),
        ("a{6}", ["aaaa"]),
        (r"ab\sc", ["ab"]),
        (r"a\s?b", ["a", "ab"]),
        ("[0-9]{2}x", ["??x"]),
        ("a*", None),
        ("(?:a?){3}b", None),
        (".b", None),
        ("[^a]", None),
        (r"\d", None),
        ("(?i)é", None),
    ],
)
def test_match_prefixes(regex: str, expected: list[str] | None) -> None:
    assert _as_text(match_prefixes(re.compile(regex))) == expected


_CONTEXT_WORDS = [
    *"卡号码证验单订是的密位数字后四 -Ssſ\u212aİı",
    *["card", "CARD", "Card", "code", "zip", "code", "pin", "PIN", "sent", "me", "ſent", "me", "texted", "me", "one-time", "code", "verification", "code"],
    *["passcode", "password", "OTP", "ext", "extension", "ending", "last", "four", "error", "model", "version", "points", "room", "order"],
    *["tracking", "invoice", "ticket", "ref", "reference", "phone", "mobile", "call", "tel", "number", "cell", "卡号", "验证码", "码是", "订单", "工号"],
    *["后4位", "eNding", "Key", "postal", "post"],
]  # fmt: skip


TRIGGERS = [
    re.compile(regex, re.IGNORECASE if caseless else 0)
    for regex, caseless in [
        *(p.trigger for r in default_recognizers() for p in r.PATTERNS if p.trigger is not None),
        *NORMALIZE_TRIGGERS,
    ]
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_CONTEXT_WORDS), max_size=10).map("".join), st.integers(0, 40), st.integers(0, 40))
def test_a_context_match_begins_with_one_of_its_prefixes(text: str, low: int, high: int) -> None:
    """Where ``search`` finds a match, one of the pattern's prefixes occurs (in Python and
    in the compiled test): the scanner never skips a window that holds a match."""
    for pattern in CONTEXTS + TRIGGERS:
        prefixes = match_prefixes(pattern)
        assert prefixes is not None, pattern
        match = pattern.search(text, low, high)
        if match is not None:
            assert prefixes_occur(prefixes, text, match.start(), match.end()), (pattern, match)
        compiled = prefix_test([pattern])
        if compiled is not None:
            assert compiled.occurs(text, low, high) == prefixes_occur(prefixes, text, low, high)


@compiled_only
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET + "\ud800 SPEAKER_1：", max_size=60))
def test_the_compiled_prefilter_call_reports_what_hyperscan_does(text: str) -> None:
    """``Hits`` (the prefilter's Hyperscan call in C) gives the triggers a plain scan with a
    Python callback reports."""
    hyperscan = pytest.importorskip("hyperscan")
    from callvault.pii.prefilter import _on_match

    prefilter = FAST[0]._prefilter
    assert prefilter is not None and prefilter.engine == "hyperscan"
    database = prefilter._hyperscan
    found: list[int] = []
    database.scan(text.encode("utf-8", "replace"), _on_match, 0, found, hyperscan.Scratch(database))
    assert prefilter.hits(text) == frozenset(found)
    assert type(prefilter.hits).__name__ == "Hits"
