"""Tenant-defined recognizers from configuration (YAML), no code.

```yaml
recognizers:
  - entity: MEMBERSHIP_NUMBER     # upper-case name, becomes the entity type
    regex: 'VIP\\d{8}'            # Python regex, no named groups, no backreferences
    score: 0.9                    # optional, default 0.8
    context: [会员, member]        # optional: required within 16 characters before
    validator: luhn               # optional: luhn | mod11 (checked on the digits)
```
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from callvault.core.checks import id_number_valid, luhn_valid
from callvault.core.errors import Invalid
from callvault.pii.model import Entity
from callvault.pii.recognizers.base import Pattern, Recognizer, context_before

__all__ = ["CustomRecognizerSpec", "custom_recognizer", "load_custom_recognizers"]


class CustomRecognizerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,40}$")
    regex: str = Field(min_length=1, max_length=500)
    score: float = Field(default=0.8, gt=0, le=1)
    context: list[str] = Field(default_factory=list, max_length=50)
    validator: str | None = Field(default=None, pattern=r"^(luhn|mod11)$")

    @field_validator("regex")
    @classmethod
    def _safe_regex(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regex: {error.msg}") from None
        if compiled.groupindex or re.search(r"\\[1-9]", value):
            raise ValueError("named groups and backreferences are not allowed")
        return value


def custom_recognizer(spec: CustomRecognizerSpec, index: int) -> Recognizer:
    context = re.compile("|".join(re.escape(word) for word in spec.context), re.IGNORECASE) if spec.context else None
    group = f"custom{index}"

    class _Custom(Recognizer):
        NAME = f"custom:{spec.entity}"
        ENTITIES = (spec.entity,)
        PATTERNS = (Pattern(spec.entity.lower(), f"(?P<{group}>{spec.regex})", spec.score),)

        def analyze(self, text: str, match: re.Match[str], group_name: str, pattern: Pattern) -> Iterable[Entity]:
            start, end = match.span(group)
            if context is not None and not context_before(text, start, context, 16):
                return []
            digits = "".join(c for c in text[start:end] if c.isdigit() or c in "Xx").upper()
            if spec.validator == "luhn" and not luhn_valid(digits):
                return []
            if spec.validator == "mod11" and not id_number_valid(digits):
                return []
            return [Entity(spec.entity, start, end, spec.score, self.NAME)]

    return _Custom()


def load_custom_recognizers(source: Path | str | dict[str, Any]) -> list[Recognizer]:
    """Recognizers from a YAML file, YAML text or an already parsed mapping."""
    if isinstance(source, Path):
        source = source.read_text()
    document = yaml.safe_load(source) if isinstance(source, str) else source
    if not isinstance(document, dict) or not isinstance(document.get("recognizers"), list):
        raise Invalid("Recognizer config needs a 'recognizers' list", code="pii.config_invalid")
    try:
        specs = [CustomRecognizerSpec.model_validate(item) for item in document["recognizers"]]
    except ValueError as error:
        raise Invalid(f"Invalid recognizer config: {error}"[:300], code="pii.config_invalid") from None
    return [custom_recognizer(spec, index) for index, spec in enumerate(specs)]
