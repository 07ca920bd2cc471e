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
    # a unit number right after 号楼 / 栋 / 单元 / 号 needs no 室: "11号楼2305", "15号973"
    # ("89号24楼" is the 24th floor of number 89, not room 24)
    r"(?:\d+(?:号楼|栋|幢|座|单元|号)\d{2,5}(?:室|(?![0-9楼层栋幢座号单元]))|\d+号(?:院|楼)?|\d+栋|\d+幢|\d+座|\d+单元|\d+室|"
    r"\d+楼|\d+层|\d+弄|\d+号?房|[A-Za-z]\d*座(?:\d{2,5}(?![0-9楼层])室?)?|"
    r"小区|花园|公寓|大厦|广场|社区|新村|中心|国际|公馆|天地|大楼|商城|华庭|村|组|苑|府|城|园|路|街|大道|道|巷|胡同|区|县|镇|乡)"
)


# USPS street suffixes (and common abbreviations), longest first so the alternation prefers them
STREET_SUFFIXES = [
    "Expressway",
    "Extensions",
    "Throughway",
    "Trafficway",
    "Crossroad",
    "Extension",
    "Junctions",
    "Mountains",
    "Stravenue",
    "Underpass",
    "Causeway",
    "Crescent",
    "Crossing",
    "Junction",
    "Motorway",
    "Mountain",
    "Overpass",
    "Parkways",
    "Turnpike",
    "Villages",
    "Centers",
    "Circles",
    "Corners",
    "Estates",
    "Freeway",
    "Gardens",
    "Gateway",
    "Harbors",
    "Heights",
    "Highway",
    "Islands",
    "Landing",
    "Meadows",
    "Mission",
    "Orchard",
    "Parkway",
    "Passage",
    "Prairie",
    "Springs",
    "Squares",
    "Station",
    "Streets",
    "Terrace",
    "Valleys",
    "Viaduct",
    "Village",
    "Avenue",
    "Branch",
    "Bridge",
    "Brooks",
    "Bypass",
    "Canyon",
    "Center",
    "Circle",
    "Cliffs",
    "Common",
    "Corner",
    "Course",
    "Courts",
    "Divide",
    "Drives",
    "Estate",
    "Fields",
    "Forest",
    "Forges",
    "Garden",
    "Greens",
    "Groves",
    "Harbor",
    "Hollow",
    "Island",
    "Knolls",
    "Lights",
    "Manors",
    "Meadow",
    "Plains",
    "Points",
    "Radial",
    "Rapids",
    "Ridges",
    "Shoals",
    "Shores",
    "Skyway",
    "Spring",
    "Square",
    "Stream",
    "Street",
    "Summit",
    "Tunnel",
    "Unions",
    "Valley",
    "Alley",
    "Brook",
    "Burgs",
    "Cliff",
    "Court",
    "Coves",
    "Creek",
    "Crest",
    "Curve",
    "Drive",
    "Falls",
    "Ferry",
    "Field",
    "Flats",
    "Fords",
    "Forge",
    "Forks",
    "Glens",
    "Green",
    "Grove",
    "Haven",
    "Hills",
    "Inlet",
    "Knoll",
    "Lakes",
    "Light",
    "Locks",
    "Lodge",
    "Manor",
    "Mills",
    "Mount",
    "Parks",
    "Pines",
    "Place",
    "Plain",
    "Plaza",
    "Point",
    "Ports",
    "Ranch",
    "Rapid",
    "Ridge",
    "River",
    "Roads",
    "Route",
    "Shoal",
    "Shore",
    "Spurs",
    "Trace",
    "Track",
    "Trail",
    "Union",
    "Views",
    "Ville",
    "Vista",
    "Walks",
    "Wells",
    "Blvd",
    "Burg",
    "Camp",
    "Cape",
    "Club",
    "Cove",
    "Dale",
    "Fall",
    "Flat",
    "Ford",
    "Fork",
    "Fort",
    "Glen",
    "Hill",
    "Isle",
    "Keys",
    "Lake",
    "Land",
    "Lane",
    "Loaf",
    "Lock",
    "Loop",
    "Mall",
    "Mews",
    "Mill",
    "Neck",
    "Oval",
    "Park",
    "Pass",
    "Path",
    "Pike",
    "Pine",
    "Pkwy",
    "Port",
    "Ramp",
    "Rest",
    "Road",
    "Spur",
    "View",
    "Walk",
    "Wall",
    "Ways",
    "Well",
    "Ave",
    "Cir",
    "Dam",
    "Hwy",
    "Key",
    "Row",
    "Rue",
    "Run",
    "Ter",
    "Trl",
    "Via",
    "Way",
    "Ct",
    "Dr",
    "Ln",
    "Pl",
    "Rd",
    "Sq",
    "St",
]
_SUFFIX = "|".join(STREET_SUFFIXES)
_POSTCODE = re.compile(r"[ ,，]?\d{6}(?![0-9])")
_NOT_CITY = frozenset("在到至往成是住于从把寄送发为改址的了")
_CITIES_LIKE_VERBS = frozenset(["成都"])  # a city whose first character is in _NOT_CITY
# words ending in 区 that are no district: 小区, 社区, 园区 …
# (城 is not among them: 东城区, 清城区, 新城区 are districts; "在城区" is stopped by its lead)
_NOT_DISTRICT = frozenset("小社园景校市地片郊灾辖街商营专禁保服分选误盲该此本这那每各一两几")
# districts whose name has three characters (most have two: 朝阳区, 江汉区)
_THREE = frozenset(["门头沟", "石景山", "经开区", "两江新", "滨海新", "浦东新", "南沙新", "西海岸"])
_NOT_DISTRICT_LEAD = _NOT_CITY | frozenset("就呃嗯额那个我家你他她们去来和跟与及或还也都")
# words said after an address that its body would otherwise take ("…301号龙湖天街那个小区门口")
_AFTER = re.compile(
    r"那个|这个|那边|这边|那里|这里|对吗|对吧|是吗|就行|就好|门口|旁边|附近|楼下|谢谢|麻烦|收件人|电话|手机"
)


def _spoken_tail(candidate: str) -> str:
    after = _AFTER.search(candidate, 4)
    return candidate if after is None else candidate[: after.start()]


_UNIT = re.compile(r"\d+(?:号|栋|幢|座|单元|室|楼|层|弄)")


class AddressRecognizer(Recognizer):
    NAME = "address"
    ENTITIES = ("ADDRESS",)
    RESCAN_OWN = False
    PATTERNS = (
        Pattern(
            "zh_address",
            rf"(?P<zh_addr>(?:{PROVINCES})(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?{_BODY}{{2,40}})",
            0.85,
            first="北上天重河山辽吉黑江浙安福湖广海四贵云陕甘青台内西宁新香澳",
            trigger=(PROVINCES, False),
        ),
        # a city without its province: anchored on 市, the city name is found looking back
        Pattern(
            "zh_city",
            rf"(?<=[{_HAN}]{{2}})(?P<zh_city>市[{_HAN}]{{1,4}}(?:区|县){_BODY}{{2,40}})",
            0.85,
            first="市",
            trigger=("市", False),
        ),
        # a district without its city: anchored on 区/县, the name is found looking back;
        # kept only when it reaches a numbered unit (号, 栋, 室 …)
        Pattern(
            "zh_district",
            rf"(?<=[{_HAN}]{{2}})(?P<zh_dist>[区县](?![{_HAN}]{{0,1}}[区县]){_BODY}{{2,40}})",
            0.8,
            first="区县",
            trigger=("[区县]", False),
        ),
        Pattern(
            "en_address",
            # [Room 12, | Building 3,] [No.] number, street, suffix [, unit] [, district, city] [, ST ZIP]
            r"(?P<en_addr>(?<![0-9A-Za-z])"
            r"(?:(?:Room|Rm\.?|Building|Bldg\.?|Flat|Unit|Apt\.?|Suite) [0-9A-Za-z\-]{1,6}, )?"
            r"(?:No\.?\s?)?\d{1,6}\s(?:[A-Z][a-z']{1,20}\s){1,3}"
            rf"(?:{_SUFFIX})\b\.?"
            r"(?:,?\s(?:Apt|Suite|Unit|Ste|Apartment|Room|Fl|Floor)\b\.?\s?#?(?=[A-Za-z\-]{0,5}\d)[A-Za-z0-9\-]{1,6})?"
            r"(?:,\s[A-Z][a-z']{1,20}(?:\s[A-Z][a-z']{1,20}){0,2}){0,2}(?:,\s[A-Z]{2}(?:\s\d{5}(?:-\d{4})?)?)?)",
            0.85,
            first="0-9NRBFUAS",
            trigger=("[0-9]", False),
        ),
        Pattern(  # US military mail: PSC 1234, Box 5678, APO AA 12345 / USNS Name, FPO AP 12345
            "en_military",
            r"(?P<en_mil>(?:PSC \d{4}, Box \d{4}|Unit \d{4} Box \d{4}|(?:USNS|USNV|USS|USCGC) [A-Z][a-z]{1,20}),"
            r" (?:APO|FPO|DPO) (?:AA|AE|AP) \d{5})",
            0.85,
            first="PU",
            trigger=("PSC|Unit|USNS|USNV|USS|USCGC", False),
        ),
    )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        if pattern.name in ("en_address", "en_military"):
            start, end = match.span("en_addr" if pattern.name == "en_address" else "en_mil")
            return [Entity("ADDRESS", start, end, pattern.score, self.NAME)]
        if pattern.name == "zh_district":
            return self._district(text, match, pattern)
        if pattern.name == "zh_city":
            start, end = match.span("zh_city")
            lead = 0
            while lead < 3 and start - lead > 0 and "\u4e00" <= text[start - lead - 1] <= "\u9fff":
                lead += 1
            while lead > 2 and text[start - lead] in _NOT_CITY:  # 寄到深圳市: the city is 深圳
                lead -= 1
            if lead < 2 or (text[start - lead] in _NOT_CITY and text[start - lead : start] not in _CITIES_LIKE_VERBS):
                return []
            start -= lead
        else:
            start, end = match.span("zh_addr")
        candidate = _spoken_tail(text[start:end])
        last = None
        for component in _END.finditer(candidate):
            last = component
        if last is None or last.end() < 4:
            return []
        trimmed = candidate[: last.end()]
        postcode = _POSTCODE.match(text, start + len(trimmed))
        if postcode:  # "…路8号 100020": the postcode belongs to the address
            trimmed = text[start : postcode.end()]
        # A bare region ("广东省") is not an address: want something below the city level.
        if not re.search(r"区|县|路|街|号|镇|乡|村|道", trimmed):
            return []
        return [Entity("ADDRESS", start, start + len(trimmed), pattern.score, self.NAME)]

    def _district(self, text: str, match: re.Match[str], pattern: Pattern) -> list[Entity]:
        start, end = match.span("zh_dist")
        if text[start - 1] in _NOT_DISTRICT:
            return []
        lead = 2
        if start >= 3 and (text[start - 1] == "新" or text[start - 3 : start] in _THREE):
            lead = 3  # 浦东新区, 门头沟区
        # only the first character is checked: 花都区, 江都区 and 新都区 end in 都
        if text[start - lead] in _NOT_DISTRICT_LEAD:
            return []
        start -= lead
        candidate = _spoken_tail(text[start:end])
        last = None
        for component in _END.finditer(candidate):
            last = component
        if last is None:
            return []
        trimmed = candidate[: last.end()]
        if not _UNIT.search(trimmed):
            return []
        return [Entity("ADDRESS", start, start + len(trimmed), pattern.score, self.NAME)]
