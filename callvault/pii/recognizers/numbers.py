"""Numbers read or typed: phones, 身份证, bank cards, verification codes.

One candidate pattern per writing system (ASCII digits with spacing, Chinese spoken digits
零〇一幺二两三四五六七八九, English digit words) finds digit runs; ``classify`` decides what a
run is by its validators (MOD 11-2, Luhn, libphonenumber's CN patterns) and the words just
before it. A run that is nothing as a whole is split at its spaces and each part is tried.
Offsets always point into the original text, whatever the spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import phonenumbers

from callvault.core.checks import PROVINCES, id_number_valid, luhn_valid
from callvault.pii.model import Entity
from callvault.pii.prefixes import native, prefix_test
from callvault.pii.recognizers.base import Pattern, Recognizer, asked_before, context_before
from callvault.pii.recognizers.contextual import bare_passport

_digits = native()  # the compiled fast path for digit runs; None when not built (see setup.py)

__all__ = ["NumberRecognizer", "classify"]

ZH_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
             "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
             "six": "6", "seven": "7", "eight": "8", "nine": "9"}  # fmt: skip
_ZH = "零〇一幺二两三四五六七八九"
_EN_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_ZH_SET = frozenset(_ZH)
_ASCII_DIGITS = frozenset("0123456789")
_ANY_DIGIT = _ZH_SET | _ASCII_DIGITS
_NEAR = _ANY_DIGIT | frozenset(" -")
_GROUP_BREAK = re.compile("[ ，,]")

CARD_CONTEXT = re.compile(r"卡号|银行卡|信用卡|借记卡|储蓄卡|卡|card|account|账号|帐号", re.IGNORECASE)
NEGATIVE_CONTEXT = re.compile(
    r"订单|单号|运单|快递|物流|工号|流水|发票|合同|编号|批次|序列|order|tracking|invoice|ticket|\bref\b|reference",
    re.IGNORECASE,
)
PHONE_CONTEXT = re.compile(r"电话|手机|座机|号码|热线|致电|打|联系|phone|mobile|call|tel|number|cell", re.IGNORECASE)
# "code" and "码" qualified as something else (a ZIP code, an error code, 错误码, 优惠码 …) are
# no cue: the number after them, or in the next turn, is no secret
_CODE_QUALIFIED = (
    "(?<!zip )(?<!zip-)(?<!postal )(?<!post )(?<!area )(?<!country )(?<!error )(?<!promo )(?<!discount )"
    "(?<!coupon )(?<!product )(?<!tracking )(?<!bar )(?<!qr )(?<!sort )(?<!model )(?<!status )"
)
CODE_CONTEXT = re.compile(
    r"验证码|校验码|动态码|确认码|短信码|密码|口令|PIN|pin码|passcode|password|verification code|"
    rf"one-time code|OTP|{_CODE_QUALIFIED}code|位数字|texted me|sent me|(?<![号编误障惠换请维形])码(?:是|为)",
    re.IGNORECASE,
)
# Numbers that sit where a code could and are something else: a year, a ZIP or postcode,
# an error code, the last four of a card or phone, an extension, a staff number …
CODE_NEGATIVE_BEFORE = re.compile(
    r"尾号|后四位|末四位|后4位|末尾|分机|转|邮编|邮政|错误|故障|工号|员工|编号|型号|版本|航班|车次|积分|第|房间|门牌|"
    r"\b(?:ending|last four|last 4|ends in|ext|extension|zip|postcode|postal|post code|error|model|version|points|"
    r"room)\b",
    re.IGNORECASE,
)
_CODE_NEGATIVE_AFTER = frozenset("年月日号次秒分元块件个期点%万岁楼室天位")


@lru_cache(maxsize=1)
def _cn_mobile() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    return re.compile(pattern or r"1[3-9]\d{9}")


def _touches(text: str, start: int, end: int, other: frozenset[str], run: int = 1) -> bool:
    """``run`` (1 or 2) digits of ``other`` (the other spelling) are next to
    ``text[start:end]``, or one space or dash away from it. Chinese digits next to typed ones
    count from two in a row: "订单7416…一直没有发货" is no mixed number, "138四二四六4154" is."""
    if start:
        c = text[start - 1]
        if c in _NEAR:  # most runs have words or punctuation on both sides
            i = start - 2 if c in " -" else start - 1
            if i >= run - 1 and text[i] in other and (run == 1 or text[i - 1] in other):
                return True
    if end < len(text):
        c = text[end]
        if c in _NEAR:
            i = end + 1 if c in " -" else end
            if i + run <= len(text) and text[i] in other and (run == 1 or text[i + 1] in other):
                return True
    return False


def _landline(digits: str) -> bool:
    if not digits.startswith("0") or digits.startswith("00"):
        return False
    area = 3 if digits[1] in "12" else 4
    return 7 <= len(digits) - area <= 8 and digits[area] != "0"


def _code(text: str, start: int, end: int | None) -> bool:
    """A 4-8 digit run is a code when a code cue comes just before it, or in the question
    the turn answers, and nothing says it is a year, a ZIP, an extension …"""
    # the cue first: most 4-8 digit runs (amounts, years, staff numbers) have none
    cued = context_before(text, start, CODE_CONTEXT, 16) or ("\n" in text and asked_before(text, start, CODE_CONTEXT))
    if not cued or (end is not None and end < len(text) and text[end] in _CODE_NEGATIVE_AFTER):
        return False
    return not (
        context_before(text, start, CODE_NEGATIVE_BEFORE, 12) or context_before(text, start, NEGATIVE_CONTEXT, 12)
    )


def classify(
    digits: str, text: str, start: int, *, separated: bool, international: bool, end: int | None = None
) -> tuple[str, float] | None:
    """What a run of digits is, given the words around it (``None``: nothing personal)."""
    size = len(digits)
    if international:
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86"):
            digits = digits[2:]
        size = len(digits)
    if size == 18 and id_number_valid(digits):
        return "CN_ID_CARD", 1.0
    if 16 <= size <= 19 and digits[-1] != "X" and luhn_valid(digits):
        if context_before(text, start, CARD_CONTEXT, 16) or ("\n" in text and asked_before(text, start, CARD_CONTEXT)):
            return "BANK_CARD", 1.0
        if context_before(text, start, NEGATIVE_CONTEXT, 12):
            return None
        return "BANK_CARD", 0.9
    if size == 11 and _CN_MOBILE.fullmatch(digits):
        return "PHONE_NUMBER", 1.0
    if size == 10 and digits[:3] in ("400", "800"):
        return "PHONE_NUMBER", 0.95
    if 10 <= size <= 12 and _landline(digits) and (separated or context_before(text, start, PHONE_CONTEXT, 16)):
        return "PHONE_NUMBER", 0.9
    if 4 <= size <= 8 and digits.isdigit() and _code(text, start, end):
        return "VERIFICATION_CODE", 0.95
    return None


_CN_MOBILE = _cn_mobile()


@lru_cache(maxsize=1)
def _context_tests() -> dict[str, Any]:
    """The compiled prefix tests of the context patterns, built once and shared by every
    scanner (each holds a 128 KiB table)."""
    return {
        "card_prefixes": prefix_test([CARD_CONTEXT]),
        "negative_prefixes": prefix_test([NEGATIVE_CONTEXT]),
        "phone_prefixes": prefix_test([PHONE_CONTEXT]),
        "code_prefixes": prefix_test([CODE_CONTEXT]),
        "code_negative_prefixes": prefix_test([CODE_NEGATIVE_BEFORE]),
    }


class NumberRecognizer(Recognizer):
    NAME = "numbers"
    # PASSPORT: letters + 7-8 digits with the cue further back (see ``bare_passport``)
    ENTITIES = ("PHONE_NUMBER", "CN_ID_CARD", "BANK_CARD", "VERIFICATION_CODE", "PASSPORT")
    PATTERNS = (
        Pattern(
            "digits",
            # The only boundary a digit run needs is "no digit on either side": a letter or a
            # dot glued to the number ("OK.138…", "yes138…", "is138…") is not part of it.
            r"(?<![0-9])(?:(?:\+|00)86[ \-]?|\((?:\+|00)86\)[ \-]?)?(?:\(0\d{2,3}\)[ \-]?)?"
            r"[0-9](?:[ \-]?[0-9]|[，,] ?(?=[0-9]{3,4}(?![0-9]))[0-9]){3,24}[Xx]?(?![0-9])",
            0.9,
            first="0-9+(",
            rescan=False,
            trigger=("[0-9](?:[ \\-]|[，,] ?)?[0-9](?:[ \\-]|[，,] ?)?[0-9](?:[ \\-]|[，,] ?)?[0-9]", False),
        ),
        Pattern(
            "zh_digits",
            rf"[{_ZH}](?:(?:[ 、\-]|[，,](?=[{_ZH}]{{2}}))?[{_ZH}]){{3,24}}",
            0.9,
            first=_ZH,
            rescan=False,
            trigger=(f"[{_ZH}][ 、，,\\-]?[{_ZH}]", False),
        ),
        Pattern(
            "en_digits",
            rf"(?i:(?<![A-Za-z]){_EN_WORD}(?:[ ,\-]+{_EN_WORD}){{3,24}}(?![A-Za-z]))",
            0.9,
            first="ZzOoTtFfSsEeNn",
            rescan=False,
            trigger=(rf"{_EN_WORD}[ ,\-]+{_EN_WORD}", True),
        ),
    )

    def __init__(self, *, compiled: bool = True) -> None:
        """``compiled``: find and classify runs of the digits pattern with the C extension
        (``callvault.pii._digits``) when it is built; ``False`` (or no extension): in Python.
        Both give the same entities (tests/pii/test_compiled.py)."""
        self.scanner: Any = None
        if compiled and _digits is not None:
            self.scanner = _digits.Scanner(
                entity=Entity,
                fallback=self._digits_run,
                bare_passport=bare_passport,
                asked_before=asked_before,
                card=CARD_CONTEXT,
                negative=NEGATIVE_CONTEXT,
                phone=PHONE_CONTEXT,
                code=CODE_CONTEXT,
                code_negative_before=CODE_NEGATIVE_BEFORE,
                code_negative_after="".join(sorted(_CODE_NEGATIVE_AFTER)),
                mobile=_CN_MOBILE,
                provinces=PROVINCES,
                name=self.NAME,
                **_context_tests(),
            )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        start, end = match.span(group)
        if pattern.name == "digits":
            if self.scanner is not None:
                return self.scanner.run(text, start, end)  # type: ignore[no-any-return]
            return self._digits_run(text, start, end)
        raw = text[start:end]
        if pattern.name == "zh_digits":
            if _touches(text, start, end, _ASCII_DIGITS):
                return self._mixed(text, start, end)
            positions = [i for i, c in enumerate(raw) if c in ZH_DIGITS]
            digits = "".join(ZH_DIGITS[raw[i]] for i in positions)
            international = False
        else:
            words = list(re.finditer(r"[A-Za-z]+", raw))
            positions = [w.start() for w in words]
            digits = "".join(EN_DIGITS[w.group().lower()] for w in words)
            ends = [w.end() for w in words]
            return self._classified(text, start, raw, digits, positions, ends, international=False)
        ends = [i + 1 for i in positions]
        return self._classified(text, start, raw, digits, positions, ends, international=international)

    def scanner_alone(self, pattern: Pattern) -> Callable[[str], list[Entity]] | None:
        # the compiled scan of the digits pattern; the engine's own scan is the pure path
        if pattern.name == "digits" and self.scanner is not None:
            return self.scanner.scan  # type: ignore[no-any-return]
        return None

    def span_analyzer(self, pattern: Pattern) -> Callable[[str, int, int], list[Entity]] | None:
        if pattern.name == "digits" and self.scanner is not None:
            return self.scanner.run  # type: ignore[no-any-return]
        return None

    def match_finder(self, pattern: Pattern) -> Callable[[str, int], tuple[int, int] | None] | None:
        if pattern.name == "digits" and self.scanner is not None:
            return self.scanner.next_run  # type: ignore[no-any-return]
        return None

    def scan_digits(self, text: str) -> list[Entity]:
        """Every match of the digits pattern alone (``re.finditer`` over it), classified: what
        the engine's scan gives when no other pattern's trigger occurs in ``text``."""
        if self.scanner is not None:
            return self.scanner.scan(text)  # type: ignore[no-any-return]
        found: list[Entity] = []
        for match in _DIGITS_ALONE.finditer(text):
            found.extend(self._digits_run(text, match.start(), match.end()))
        return found

    def _digits_run(self, text: str, start: int, end: int) -> list[Entity]:
        """One match of the digits pattern at ``text[start:end]``, classified (pure Python)."""
        raw = text[start:end]
        if _touches(text, start, end, _ZH_SET, 2):  # "138" + "四二四六" + "4154"
            return self._mixed(text, start, end)
        if raw.isdigit():  # the common case: one plain run
            return self._plain(text, start, end, raw)
        positions = [i for i, c in enumerate(raw) if c.isdigit() or c in "Xx"]
        digits = "".join(raw[i] for i in positions).upper()
        if digits.endswith("X") and not (len(digits) == 18 and id_number_valid(digits)):
            # only an ID's check character is an X: "13812345678x" is a phone and a letter
            positions.pop()
            digits = digits[:-1]
        international = raw.lstrip("(").startswith(("+", "00"))
        ends = [i + 1 for i in positions]
        return self._classified(text, start, raw, digits, positions, ends, international=international)

    def _plain(self, text: str, start: int, end: int, raw: str) -> list[Entity]:
        if 7 <= len(raw) <= 8 and start:
            passport = bare_passport(text, start, end)
            if passport is not None:
                return [Entity("PASSPORT", passport, end, 0.9, self.NAME)]
        verdict = classify(raw, text, start, separated=False, international=raw.startswith("00"), end=end)
        return [Entity(verdict[0], start, end, verdict[1], self.NAME)] if verdict else []

    def _mixed(self, text: str, start: int, end: int) -> list[Entity]:
        """A number read partly in Chinese digits and partly typed ("138四二四六4154"):
        the whole run, in either spelling, is classified as one."""
        # either spelling, and one space or dash between groups ("幺三八 1234 5678")
        low = max(0, start - 25)
        while start > low and (
            text[start - 1] in _ANY_DIGIT or (text[start - 1] in " -" and start >= 2 and text[start - 2] in _ANY_DIGIT)
        ):
            start -= 1
        limit = min(len(text), end + 25)
        while end < limit and (
            text[end] in _ANY_DIGIT or (text[end] in " -" and end + 1 < len(text) and text[end + 1] in _ANY_DIGIT)
        ):
            end += 1
        raw = text[start:end]
        positions = [i for i, c in enumerate(raw) if c in _ANY_DIGIT]
        digits = "".join(ZH_DIGITS.get(raw[i], raw[i]) for i in positions)
        return self._classified(text, start, raw, digits, positions, [i + 1 for i in positions], international=False)

    def _classified(
        self,
        text: str,
        start: int,
        raw: str,
        digits: str,
        positions: list[int],
        ends: list[int],
        *,
        international: bool,
    ) -> list[Entity]:
        separated = any(not c.isdigit() for c in raw.strip("+()"))
        verdict = classify(digits, text, start, separated=separated, international=international, end=start + ends[-1])
        if verdict:
            return [Entity(verdict[0], start, start + ends[-1], verdict[1], self.NAME)]
        # Nothing as a whole: try runs of its space-separated groups, longest first.
        groups: list[tuple[int, int]] = []  # (first, last) digit index of each group
        first = 0
        for index in range(1, len(positions) + 1):
            if index == len(positions) or (
                positions[index] > ends[index - 1] and _GROUP_BREAK.search(raw, ends[index - 1], positions[index])
            ):
                groups.append((first, index - 1))
                first = index
        found: list[Entity] = []
        if len(groups) > 8:  # digit-by-digit dictation is classified whole, never split
            return found
        i = 0
        while i < len(groups):
            # a phone is at most 4 groups, a card 5: no longer combinations are worth trying
            for j in range(min(len(groups) - 1, i + 4), i - 1, -1):
                if i == 0 and j == len(groups) - 1:
                    continue
                lo, hi = groups[i][0], groups[j][1]
                part_start = start + positions[lo]
                verdict = classify(
                    digits[lo : hi + 1], text, part_start, separated=i != j, international=False, end=start + ends[hi]
                )
                if verdict:
                    found.append(Entity(verdict[0], part_start, start + ends[hi], verdict[1], self.NAME))
                    i = j
                    break
            i += 1
        return found


_DIGITS_ALONE = re.compile(NumberRecognizer.PATTERNS[0].regex)
