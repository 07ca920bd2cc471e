"""Postal addresses: Chinese down to building and room, English street addresses.

Chinese addresses start at a province, municipality or a city with its district, then run
over address characters until punctuation; the span is trimmed back to the last address
component (号 / 栋 / 单元 / 室 / 路 / 小区 …) so trailing words stay out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from callvault.pii.model import Entity
from callvault.pii.recognizers.base import Pattern, Recognizer

__all__ = ["AddressRecognizer"]

PROVINCES = (
    "北京|上海|天津|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|"
    "云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
_HAN = "\u4e00-\u9fff"
_BODY = rf"[{_HAN}A-Za-z0-9\-#]"
_END = re.compile(
    r"(?:\d+号(?:院|楼)?|\d+栋|\d+幢|\d+座|\d+单元|\d+室|\d+楼|\d+层|\d+弄|\d+号?房|[A-Za-z]\d*座|"
    r"小区|花园|公寓|大厦|广场|社区|新村|村|组|苑|府|城|园|路|街|大道|道|巷|胡同|区|县|镇|乡)"
)


_NOT_CITY = frozenset("在到至往成是住于从把寄送发为改址的了")


class AddressRecognizer(Recognizer):
    NAME = "address"
    ENTITIES = ("ADDRESS",)
    PATTERNS = (
        Pattern(
            "zh_address",
            rf"(?P<zh_addr>(?:{PROVINCES})(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?{_BODY}{{2,40}})",
            0.85,
            first="北上天重河山辽吉黑江浙安福湖广海四贵云陕甘青台内西宁新香澳",
        ),
        # a city without its province: anchored on 市, the city name is found looking back
        Pattern(
            "zh_city", rf"(?<=[{_HAN}]{{2}})(?P<zh_city>市[{_HAN}]{{1,4}}(?:区|县){_BODY}{{2,40}})", 0.85, first="市"
        ),
        Pattern(
            "en_address",
            r"(?P<en_addr>\b\d{1,5}\s(?:[A-Z][a-z]{1,20}\s){1,3}"
            r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Circle)\b\.?"
            r"(?:,?\s(?:Apt|Suite|Unit|Ste)\.?\s?[A-Za-z0-9\-]{1,6})?"
            r"(?:,\s[A-Z][a-z]{1,20}(?:\s[A-Z][a-z]{1,20}){0,2})?(?:,\s[A-Z]{2}(?:\s\d{5}(?:-\d{4})?)?)?)",
            0.85,
            first="0-9",
        ),
    )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        if pattern.name == "en_address":
            start, end = match.span("en_addr")
            return [Entity("ADDRESS", start, end, pattern.score, self.NAME)]
        if pattern.name == "zh_city":
            start, end = match.span("zh_city")
            lead = 0
            while lead < 3 and start - lead > 0 and "\u4e00" <= text[start - lead - 1] <= "\u9fff":
                lead += 1
            while lead > 2 and text[start - lead] in _NOT_CITY:  # 寄到深圳市: the city is 深圳
                lead -= 1
            if lead < 2 or text[start - lead] in _NOT_CITY:
                return []
            start -= lead
        else:
            start, end = match.span("zh_addr")
        candidate = text[start:end]
        last = None
        for component in _END.finditer(candidate):
            last = component
        if last is None or last.end() < 4:
            return []
        trimmed = candidate[: last.end()]
        # A bare region ("广东省") is not an address: want something below the city level.
        if not re.search(r"区|县|路|街|号|镇|乡|村|道", trimmed):
            return []
        return [Entity("ADDRESS", start, start + len(trimmed), pattern.score, self.NAME)]
