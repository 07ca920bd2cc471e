"""Values recognised by what is said right before them: codes, passwords, passports."""

from __future__ import annotations

import re
from collections.abc import Iterable

from callvault.pii.model import Entity
from callvault.pii.recognizers.base import Pattern, Recognizer, asked_before, context_before

__all__ = ["PASSPORT_CUE", "PassportRecognizer", "SecretRecognizer", "bare_passport"]

# never over a newline: a value in the next turn is found through ``asked_before``
_LINK = (
    r"[ \t]*(?:号码|号|码|number|no\.?|#)?"
    r"(?:[ \t]|是|为|:|：|is|=|to|我?改成了?|我?改为了?|换成了?|设成了?|设为了?|设置成了?){0,4}"
)
PASSPORT_CUE = re.compile(r"护照|passport", re.IGNORECASE)
_PASSPORT_LETTERS = frozenset("EGDSPHKMegdsphkm")
_CODE_CUES = (
    r"验证码|校验码|动态码|确认码|短信码|动态密码|密码|口令|pin码|pin|passcode|password|verification code|"
    r"one-time code|otp|security code"
)


class SecretRecognizer(Recognizer):
    """Verification codes, PINs and passwords: the token after 验证码/密码/PIN/password."""

    NAME = "secrets"
    ENTITIES = ("VERIFICATION_CODE",)
    PATTERNS = (
        Pattern(
            "secret",
            rf"(?i:{_CODE_CUES})"
            rf"{_LINK}(?P<secret>[0-9]{{4,8}}(?![0-9年月日号次秒分元块件个期点%万岁])|[零〇一幺二两三四五六七八九]{{4,8}}|"
            # a year or a count ("2004年", "3次") is no password, nor a speaker label ("SPEAKER_01:")
            r"(?=[A-Za-z0-9@#$%^&*!_\-]{0,31}[0-9])[A-Za-z0-9@#$%^&*!_\-]{4,32}(?![A-Za-z0-9:：年月日号次秒分元块件个期点%万岁]))",
            0.95,
            first="验校动确短密口PpVvOoSs",
            trigger=(_CODE_CUES, True),
        ),
    )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        start, end = match.span("secret")
        return [Entity("VERIFICATION_CODE", start, end, pattern.score, self.NAME)]


def bare_passport(text: str, start: int, end: int) -> int | None:
    """Start of a passport number whose 7-8 digits are ``text[start:end]``, when one or two
    letters come right before them and the cue (护照 / passport) is further back or in the
    question this turn answers ("请提供一下您的护照号码" / "Yes, E12345678."); else ``None``.
    Found from the digit run, so no pattern has to try every word that starts with E or G."""
    if start == 0 or not (text[start - 1].isascii() and text[start - 1].isalpha()):
        return None
    first = start - 1
    if first and text[first - 1].isascii() and text[first - 1].isalpha():
        first -= 1
    if first and text[first - 1].isascii() and text[first - 1].isalnum():
        return None
    if text[first] not in _PASSPORT_LETTERS:
        return None
    if context_before(text, first, PASSPORT_CUE, 24) or asked_before(text, first, PASSPORT_CUE):
        return first
    return None


class PassportRecognizer(Recognizer):
    """Passport numbers, by context (护照 / passport): one or two letters then 7-9 digits."""

    NAME = "passport"
    ENTITIES = ("PASSPORT",)
    PATTERNS = (
        Pattern(
            "passport",
            rf"(?i:护照|passport){_LINK}(?P<passport>[A-Za-z]{{1,2}}[0-9]{{7,9}}(?![0-9A-Za-z]))",
            1.0,
            first="护Pp",
            trigger=("护照|passport", True),
        ),
    )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        start, end = match.span("passport")
        return [Entity("PASSPORT", start, end, pattern.score, self.NAME)]
