"""Masks per field type: what a role sees instead of the value.

Each mask keeps only what the call-center workflow needs to recognise a record (the last
digits a customer reads out, the district of an address) and hides the length where the
length itself says something.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MASKS",
    "mask_address",
    "mask_bank_card",
    "mask_email",
    "mask_field",
    "mask_id_number",
    "mask_landline",
    "mask_mobile",
    "mask_name",
]


def _national(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


def mask_mobile(value: str) -> str:
    """``138****5678``."""
    digits = _national(value)
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_landline(value: str) -> str:
    """Area code kept, then stars and the last four digits: ``010****5678``."""
    digits = _national(value)
    area = 3 if digits.startswith(("10", "2")) else 4
    if digits.startswith(("400", "800")):
        area = 3
    keep = digits if digits.startswith("0") else "0" + digits
    if digits.startswith(("400", "800")):
        keep = digits
    return f"{keep[:area]}****{keep[-4:]}"


def mask_id_number(value: str) -> str:
    """``1101**********1234``."""
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_bank_card(value: str) -> str:
    """``6222 **** **** 1234`` whatever the length."""
    return f"{value[:4]} **** **** {value[-4:]}"


_HAN = re.compile(r"[\u4e00-\u9fff]")


def mask_name(value: str) -> str:
    """``张*`` / ``王**``; Latin names keep each word's initial: ``J*** S****``."""
    value = value.strip()
    if not value:
        return value
    if _HAN.match(value):
        return value[0] + "*" * (len(value) - 1)
    return " ".join(word[0] + "*" * (len(word) - 1) for word in value.split())


_DISTRICT = re.compile(
    r"^(?:.{1,8}?(?:省|自治区|特别行政区))?(?:.{1,10}?(?:市|自治州|地区|盟))?.{1,10}?(?:区|县|旗|市)"
)


def mask_address(value: str) -> str:
    """Cut to district level: ``广东省深圳市南山区****``; Latin addresses keep city onward."""
    match = _DISTRICT.match(value)
    if match and _HAN.search(match.group(0)):
        return match.group(0) + "****"
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 1:
        return "****, " + ", ".join(parts[1:])
    return "****"


def mask_email(value: str) -> str:
    """``z***@example.com``."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


MASKS: dict[str, Callable[[str], str]] = {
    "name": mask_name,
    "mobile": mask_mobile,
    "landline": mask_landline,
    "id_number": mask_id_number,
    "bank_card": mask_bank_card,
    "email": mask_email,
    "address": mask_address,
}


def mask_field(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    return MASKS[field](value)
