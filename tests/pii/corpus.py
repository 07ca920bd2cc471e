"""Labelled call-center utterances for evaluating the PII engine (deterministic, seeded).

Each utterance is built from a dialogue template whose slots are filled by generators that
return the surface text and, for personal data, its entity type; gold spans come from
assembly, not from the engine. Hard negatives (order numbers failing Luhn, 18-digit numbers
failing MOD 11-2, amounts, dates, times, staff numbers, tracking numbers) carry no label.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from faker import Faker

from callvault.core.checks import luhn_valid
from callvault.demo.generator import bank_card_number, id_number

ZH_SPOKEN = "零一二三四五六七八九"
EN_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PREFIXES = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182", "183", "187",
            "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189", "177", "199"]  # fmt: skip
PROVINCES = [("广东省", ["深圳市", "广州市", "东莞市"], ["南山区", "福田区", "天河区", "越秀区", "宝安区"]),
             ("浙江省", ["杭州市", "宁波市"], ["西湖区", "滨江区", "鄞州区"]),
             ("江苏省", ["南京市", "苏州市"], ["鼓楼区", "玄武区", "工业园区"]),
             ("四川省", ["成都市"], ["武侯区", "锦江区", "高新区"]),
             ("湖北省", ["武汉市"], ["洪山区", "江汉区", "武昌区"]),
             ("北京市", [""], ["朝阳区", "海淀区", "东城区", "丰台区"]),
             ("上海市", [""], ["浦东新区", "徐汇区", "静安区", "闵行区"])]  # fmt: skip
ROADS = ["科技园路", "建国路", "中山路", "人民路", "解放大道", "文三路", "南京西路", "天府大道", "长江路", "学院路"]
STATES = ["CA", "NY", "TX", "IL", "WA", "MA", "FL"]


@dataclass
class Utterance:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (type, start, end)


Slot = Callable[[random.Random], tuple[str, str | None]]


class Generator:
    def __init__(self, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.zh = Faker("zh_CN")
        self.en = Faker("en_US")
        self.zh.seed_instance(seed)
        self.en.seed_instance(seed)

    # -- personal data -----------------------------------------------------------------------
    def mobile_digits(self) -> str:
        return self.rnd.choice(PREFIXES) + f"{self.rnd.randrange(10**8):08d}"

    def mobile(self, _: random.Random) -> tuple[str, str | None]:
        d = self.mobile_digits()
        style = self.rnd.randrange(8)
        if style == 0:
            return f"{d[:3]} {d[3:7]} {d[7:]}", "PHONE_NUMBER"
        if style == 1:
            return f"{d[:3]}-{d[3:7]}-{d[7:]}", "PHONE_NUMBER"
        if style == 2:
            return f"+86 {d[:3]} {d[3:7]} {d[7:]}", "PHONE_NUMBER"
        if style == 3:
            return "+86" + d, "PHONE_NUMBER"
        if style == 4:
            spoken = "".join(ZH_SPOKEN[int(c)] for c in d)
            if self.rnd.random() < 0.7:
                spoken = spoken.replace("一", "幺")
            return spoken, "PHONE_NUMBER"
        return d, "PHONE_NUMBER"

    def mobile_en(self, _: random.Random) -> tuple[str, str | None]:
        d = self.mobile_digits()
        if self.rnd.random() < 0.4:
            return " ".join(EN_WORDS[int(c)] for c in d), "PHONE_NUMBER"
        return self.mobile(_)

    def landline(self, _: random.Random) -> tuple[str, str | None]:
        area = self.rnd.choice(["010", "021", "020", "0755", "0571", "028", "027"])
        local = str(self.rnd.randrange(2, 9)) + f"{self.rnd.randrange(10**6, 10**7):07d}"
        if self.rnd.random() < 0.3:
            return f"400-{self.rnd.randrange(100, 999)}-{self.rnd.randrange(1000, 9999)}", "PHONE_NUMBER"
        return (f"({area}){local}" if self.rnd.random() < 0.3 else f"{area}-{local}"), "PHONE_NUMBER"

    def id_card(self, _: random.Random) -> tuple[str, str | None]:
        from datetime import date, timedelta

        born = date(1950, 1, 1) + timedelta(days=self.rnd.randrange(365 * 55))
        area = self.rnd.choice(["110101", "310104", "440305", "330106", "510107", "420106", "320102"])
        return id_number(area, born, self.rnd.randrange(1000)), "CN_ID_CARD"

    def card(self, _: random.Random) -> tuple[str, str | None]:
        bin_ = self.rnd.choice(["622202", "622848", "621700", "622588", "621226", "623668", "436742", "622609"])
        number = bank_card_number(bin_ + f"{self.rnd.randrange(10**6):06d}", self.rnd.choice((16, 16, 19)))
        if self.rnd.random() < 0.5:
            return " ".join(number[i : i + 4] for i in range(0, len(number), 4)), "BANK_CARD"
        return number, "BANK_CARD"

    def email(self, _: random.Random) -> tuple[str, str | None]:
        return self.en.user_name() + str(self.rnd.randrange(100)) + "@" + self.en.free_email_domain(), "EMAIL_ADDRESS"

    def passport(self, _: random.Random) -> tuple[str, str | None]:
        return self.rnd.choice("EG") + f"{self.rnd.randrange(10**7, 10**8):08d}", "PASSPORT"

    def code(self, _: random.Random) -> tuple[str, str | None]:
        digits = f"{self.rnd.randrange(10**5):0{self.rnd.choice((4, 6))}d}"[-self.rnd.choice((4, 6)) :]
        if self.rnd.random() < 0.2:
            return "".join(ZH_SPOKEN[int(c)] for c in digits), "VERIFICATION_CODE"
        return digits, "VERIFICATION_CODE"

    def password(self, _: random.Random) -> tuple[str, str | None]:
        letters = "".join(self.rnd.choice("abcdefghkmnpqrstuvwxyz") for _ in range(self.rnd.randrange(3, 6)))
        return letters + str(self.rnd.randrange(100, 99999)), "VERIFICATION_CODE"

    def person_zh(self, _: random.Random) -> tuple[str, str | None]:
        return self.zh.name(), "PERSON"

    def person_en(self, _: random.Random) -> tuple[str, str | None]:
        return self.en.first_name() + " " + self.en.last_name(), "PERSON"

    def address_zh(self, _: random.Random) -> tuple[str, str | None]:
        province, cities, districts = self.rnd.choice(PROVINCES)
        text = province + self.rnd.choice(cities) + self.rnd.choice(districts) + self.rnd.choice(ROADS)
        text += f"{self.rnd.randrange(1, 999)}号"
        if self.rnd.random() < 0.7:
            text += f"{self.rnd.randrange(1, 30)}栋"
            if self.rnd.random() < 0.5:
                text += f"{self.rnd.randrange(1, 6)}单元"
            text += f"{self.rnd.randrange(1, 33)}{self.rnd.randrange(1, 9):02d}室"
        return text, "ADDRESS"

    def address_en(self, _: random.Random) -> tuple[str, str | None]:
        street = f"{self.rnd.randrange(1, 9999)} {self.en.last_name()} {self.rnd.choice(['Street', 'Avenue', 'Road', 'Lane', 'Drive', 'Blvd'])}"
        city = self.en.city()
        return f"{street}, {city}, {self.rnd.choice(STATES)} {self.rnd.randrange(10000, 99999)}", "ADDRESS"

    # -- hard negatives ----------------------------------------------------------------------
    def order_number(self, _: random.Random) -> tuple[str, str | None]:
        while True:
            digits = str(self.rnd.randrange(1, 10)) + "".join(
                str(self.rnd.randrange(10)) for _ in range(self.rnd.choice((15, 17, 18)))
            )
            if not luhn_valid(digits):
                return digits, None

    def bad_id(self, _: random.Random) -> tuple[str, str | None]:
        good, _t = self.id_card(_)
        last = "0123456789X".replace(good[-1], "")
        return good[:17] + self.rnd.choice(last), None

    def amount(self, _: random.Random) -> tuple[str, str | None]:
        return self.rnd.choice([f"{self.rnd.randrange(10, 99999)}元", f"¥{self.rnd.randrange(1, 99)},{self.rnd.randrange(100, 999)}.50",
                                f"{self.rnd.randrange(100, 9999)}.00"]), None  # fmt: skip

    def date(self, _: random.Random) -> tuple[str, str | None]:
        y, m, d = self.rnd.randrange(2019, 2026), self.rnd.randrange(1, 13), self.rnd.randrange(1, 29)
        return self.rnd.choice([f"{y}年{m}月{d}日", f"{y}-{m:02d}-{d:02d}", f"{y}{m:02d}{d:02d}"]), None

    def time(self, _: random.Random) -> tuple[str, str | None]:
        return f"{self.rnd.randrange(0, 24):02d}:{self.rnd.randrange(0, 60):02d}", None

    def staff(self, _: random.Random) -> tuple[str, str | None]:
        return str(self.rnd.randrange(1000, 99999)), None

    def tracking(self, _: random.Random) -> tuple[str, str | None]:
        return "SF" + "".join(str(self.rnd.randrange(10)) for _ in range(12)), None

    # -- dialogue ------------------------------------------------------------------------------
    def templates(self) -> list[tuple[str, dict[str, Slot]]]:
        return [
            ("您好，我的手机号是{p}，麻烦帮我查一下", {"p": self.mobile}),
            ("客户来电，手机{p}，反映订单{o}一直没有发货", {"p": self.mobile, "o": self.order_number}),
            ("我叫{n}，身份证号码是{i}", {"n": self.person_zh, "i": self.id_card}),
            ("身份证{i}，办理日期{d}", {"i": self.id_card, "d": self.date}),
            ("卡号 {c}，扣款{a}", {"c": self.card, "a": self.amount}),
            ("请把退款打到我的银行卡{c}上，谢谢", {"c": self.card}),
            ("验证码是{v}，请在{t}前输入", {"v": self.code, "t": self.time}),
            ("您的验证码为：{v}，五分钟内有效", {"v": self.code}),
            ("我的密码是{w}，你们能帮我重置吗", {"w": self.password}),
            ("邮箱是{e}，发票发到这个邮箱", {"e": self.email}),
            ("我的护照号码是{s}，下周出差要用", {"s": self.passport}),
            ("收货地址改成{a}，联系电话{p}", {"a": self.address_zh, "p": self.mobile}),
            ("我住在{a}，快递单号{k}", {"a": self.address_zh, "k": self.tracking}),
            ("{n}先生您好，这里是客服中心，工号{s}为您服务", {"n": self.zh_surname, "s": self.staff}),
            ("联系人：{n}，座机{l}", {"n": self.person_zh, "l": self.landline}),
            ("订单号{o}，金额{a}，下单时间{d}", {"o": self.order_number, "a": self.amount, "d": self.date}),
            ("单号{b}的包裹还没到", {"b": self.bad_id}),
            ("麻烦您报一下手机号。好的，{p}", {"p": self.mobile}),
            ("好的{n}女士，我已经记录下来了", {"n": self.zh_surname}),
            ("我是{n}，我的邮箱{e}，电话{p}", {"n": self.person_zh, "e": self.email, "p": self.mobile}),
            ("Hi, my name is {n} and my phone number is {p}.", {"n": self.person_en, "p": self.mobile_en}),
            ("You can reach me at {e} or call {p}.", {"e": self.email, "p": self.mobile_en}),
            ("My card number is {c}, the charge was {a}.", {"c": self.card, "a": self.amount}),
            ("The verification code is {v}.", {"v": self.code_digits}),
            ("My passport number is {s}.", {"s": self.passport}),
            ("Please ship it to {a}.", {"a": self.address_en}),
            ("This is {n}, calling about order {o}.", {"n": self.person_en, "o": self.order_number}),
            ("I live at {a}, my email is {e}.", {"a": self.address_en, "e": self.email}),
            ("My password is {w}, can you reset it?", {"w": self.password}),
            ("Your appointment is on {d} at {t}, ticket {k}.", {"d": self.date, "t": self.time, "k": self.tracking}),
        ]

    def zh_surname(self, _: random.Random) -> tuple[str, str | None]:
        return self.zh.last_name(), "PERSON"

    def code_digits(self, _: random.Random) -> tuple[str, str | None]:
        return f"{self.rnd.randrange(1000, 999999)}", "VERIFICATION_CODE"

    def utterances(self, count: int) -> Iterator[Utterance]:
        templates = self.templates()
        for _ in range(count):
            template, slots = self.rnd.choice(templates)
            yield self._fill(template, slots)

    def _fill(self, template: str, slots: dict[str, Slot]) -> Utterance:
        out = Utterance("")
        rest = template
        while "{" in rest:
            before, _, after = rest.partition("{")
            name, _, rest = after.partition("}")
            out.text += before
            value, kind = slots[name](self.rnd)
            if kind is not None:
                out.spans.append((kind, len(out.text), len(out.text) + len(value)))
            out.text += value
        out.text += rest
        return out


def evaluate(
    utterances: list[Utterance], predict: Callable[[str], list[tuple[str, int, int]]]
) -> dict[str, dict[str, float]]:
    """Exact-span precision, recall and F1 per entity type (and ``ALL``)."""
    counts: dict[str, list[int]] = {}
    for utterance in utterances:
        gold = set(utterance.spans)
        predicted = set(predict(utterance.text))
        for kind in {k for k, _, _ in gold | predicted}:
            tp = len({s for s in gold & predicted if s[0] == kind})
            fp = len({s for s in predicted - gold if s[0] == kind})
            fn = len({s for s in gold - predicted if s[0] == kind})
            c = counts.setdefault(kind, [0, 0, 0])
            c[0] += tp
            c[1] += fp
            c[2] += fn
    report: dict[str, dict[str, float]] = {}
    total = [0, 0, 0]
    for kind, (tp, fp, fn) in sorted(counts.items()):
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        report[kind] = _prf(tp, fp, fn)
    report["ALL"] = _prf(*total)
    return report


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
