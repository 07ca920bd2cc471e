"""Generate realistic customer records that pass CallVault's validation.

Faker is slow per call, so large runs draw from pools built once and combine them with
unique counters: a million rows cost seconds, and every row is distinct where it must be
(external reference, phone, ID number, card).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from faker import Faker

__all__ = ["CustomerGenerator", "bank_card_number", "id_number"]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_AREAS = ("110101", "110105", "310104", "310115", "440305", "440106", "330106", "510107", "420106", "320102")
_MOBILE_PREFIXES = (
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "182",
    "183",
    "187",
    "188",
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "186",
    "133",
    "153",
    "180",
    "181",
    "189",
    "177",
    "199",
)
_CARD_BINS = ("622202", "622848", "621700", "622588", "621226", "623668", "622609")
_LEVELS = ("bronze", "silver", "gold", "platinum")
_REGIONS = ("north", "east", "south", "west", "central")


def id_number(area: str, born: date, sequence: int) -> str:
    body = f"{area}{born:%Y%m%d}{sequence % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def bank_card_number(prefix: str, length: int) -> str:
    """A Luhn-valid card number of ``length`` digits starting with ``prefix``."""
    body = [int(d) for d in prefix]
    body += [0] * (length - 1 - len(body))
    total = 0
    for position, digit in enumerate(reversed(body)):
        value = digit * 2 if position % 2 == 0 else digit
        total += value - 9 if value > 9 else value
    return prefix + "".join(str(d) for d in body[len(prefix) :]) + str((10 - total % 10) % 10)


class CustomerGenerator:
    """Deterministic (seeded) stream of customer dicts in the import format."""

    def __init__(self, seed: int = 7, *, pool_size: int = 2000) -> None:
        self._random = random.Random(seed)
        zh, en = Faker("zh_CN"), Faker("en_US")
        zh.seed_instance(seed)
        en.seed_instance(seed + 1)
        self._names = [zh.name() for _ in range(pool_size)] + [en.name() for _ in range(pool_size // 4)]
        self._addresses = [zh.address().replace("\n", " ") for _ in range(pool_size)] + [
            en.address().replace("\n", ", ") for _ in range(pool_size // 4)
        ]
        self._email_users = [en.user_name() for _ in range(pool_size)]
        self._domains = ["example.com", "example.cn", "mail.example.net", "corp.example.org"]

    def customer(self, index: int) -> dict[str, Any]:
        rnd = self._random
        born = date(1950, 1, 1) + timedelta(days=rnd.randrange(0, 365 * 55))
        mobile_tail = (index * 7919 + rnd.randrange(0, 7919)) % 100_000_000
        row: dict[str, Any] = {
            "external_ref": f"CRM-{index:08d}",
            "name": rnd.choice(self._names),
            "mobile": f"{rnd.choice(_MOBILE_PREFIXES)}{mobile_tail:08d}",
            "id_number": id_number(rnd.choice(_AREAS), born, index),
            "bank_card": bank_card_number(
                rnd.choice(_CARD_BINS) + f"{index % 10_000_000:07d}"[:7], rnd.choice((16, 19))
            ),
            "email": f"{rnd.choice(self._email_users)}{index}@{rnd.choice(self._domains)}",
            "address": rnd.choice(self._addresses),
            "membership_level": rnd.choice(_LEVELS),
            "assigned_agent": f"agent-{rnd.randrange(1, 200):03d}",
            "region": rnd.choice(_REGIONS),
        }
        if index % 5 == 0:
            row["landline"] = f"010-6{rnd.randrange(0, 10_000_000):07d}"
        return row

    def customers(self, count: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
        for index in range(start, start + count):
            yield self.customer(index)

    def jsonl_lines(self, count: int, *, start: int = 0) -> Iterator[bytes]:
        for row in self.customers(count, start=start):
            yield (json.dumps(row, ensure_ascii=False) + "\n").encode()
