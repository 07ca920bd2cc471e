"""An evaluation set written apart from the engine: multi-turn service-line dialogues.

Written before the engine changes of issue 11, from how people speak on a service line
rather than from the engine's cue lists: several turns per text (one turn a line, with or
without a speaker label), the value often in the turn after the question, ASR artefacts
(no punctuation, fillers 呃/那个/就是, digits read one by one or in groups, corrections
"不对，是…"), Chinese, English and code-switched. Hard negatives come first: 34 kinds of
numbers and words that look like personal data and are not.

Gold spans come from assembly, never from the engine. ``tests/pii/corpus.py`` (the
engine's own templates) stays as the regression set.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from faker import Faker

from callvault.core.checks import luhn_valid
from callvault.demo.generator import bank_card_number, id_number
from tests.pii.corpus import Utterance

__all__ = ["NEGATIVE_KINDS", "TEMPLATES", "EvalSet"]

Slot = Callable[[], tuple[str, str | None]]
ZH = "零一二三四五六七八九"
ZH1 = "零幺二三四五六七八九"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FILLERS = ["呃", "那个", "就是", "嗯", "额", "然后"]
EN_FILLERS = ["uh", "um", "like", "so"]

# -- hard negatives: (kind, template) — none of these texts holds personal data -------------
NEGATIVE_KINDS: list[tuple[str, str]] = [
    ("order number", "A: 您的订单号是多少\nC: 订单号{order}"),
    ("order number, Luhn-valid", "C: 我查一下啊 订单编号 {order_luhn} 这个"),
    ("tracking number", "A: 快递单号{tracking}已经签收了"),
    ("tracking number en", "Agent: your tracking number is {tracking}, it shipped yesterday."),
    ("amount", "C: 上个月扣了我{amount}，我没消费啊"),
    ("amount en", "Customer: I was charged {amount_en} twice."),
    ("date", "A: 您是{date}下的单对吧"),
    ("date digits", "C: 我记得是{date_digits}那天办的"),
    ("time", "A: 工程师{time}左右上门"),
    ("year after a password cue", "C: 我上次改密码还是{year}年的时候"),
    ("year after a code cue", "C: 这个验证码的规矩是{year}年改的吧"),
    ("postcode zh", "C: 邮编是{postcode}，这个要填吗"),
    ("ZIP alone", "Customer: the ZIP is {zip}, if that helps."),
    ("error code", "C: 屏幕上显示错误代码{errcode}"),
    ("error code en", "Customer: it keeps saying error code {errcode} when I log in"),
    ("product model", "C: 我买的是{model}那款"),
    ("extension", "A: 您可以拨打分机{ext}找我们主管"),
    ("extension en", "Agent: call back and dial extension {ext}."),
    ("last four of a card", "C: 卡号尾号是{last4}的那张"),
    ("last four en", "Customer: the card ending in {last4}, yes."),
    ("last four of a phone after a code cue", "A: 验证码已经发送到您尾号{last4}的手机上了"),
    ("staff number", "A: 我是{staff_no}号客服，很高兴为您服务"),
    ("hotline", "A: 有问题您再打{hotline}就行"),
    ("quantity", "C: 我一共买了{qty}件"),
    ("duration after a code cue", "C: 验证码等了{seconds}秒都没来"),
    ("retry count after a password cue", "C: 密码输错了{count}次被锁了"),
    ("points balance", "A: 您的积分还有{points}分"),
    ("flight number", "C: 我坐的航班是{flight}"),
    ("train number", "C: 改签到{train}次列车"),
    ("invoice number", "A: 发票号码{invoice}已经开好"),
    ("IMEI", "A: 手机的串号是{imei}对吗"),
    ("version number", "C: 我的app版本是{version}"),
    ("percent and rates", "A: 年化利率是{rate}，分{installments}期"),
    ("verb phrase starting with a surname character", "C: {verb_phrase}"),
    ("agent words en", "Agent: {en_phrase}"),
    ("room count", "C: 我家是{rooms}的房子"),
    ("contract number", "A: 合同编号{contract}，您核对一下"),
    ("membership level", "A: 您现在是{level}会员"),
]

# -- dialogue templates with personal data ----------------------------------------------------
# Slots: phone phone_grp phone_spoken phone_run phone_mixed phone_words phone_wide landline
# id id_spaced id_lower card card_grp email passport code code_spoken pwd name_zh name_zh2
# name_en name_en_mid surname addr_zh addr_district addr_bldg addr_roman addr_en addr_en_apt
TEMPLATES: list[str] = [
    # phones: the cue in the previous turn, groups, spoken, corrections
    "A: 请问您的联系电话是多少？\nC: {phone}",
    "A: 方便留个电话吗\nC: 嗯 {phone_grp}",
    "A: 请您报一下手机号\nC: 呃 {phone_spoken}",
    "A: 您的手机号码是？\nC: {phone_grp_spoken}",
    "A: 您留个手机吧\nC: 好的 {phone_run} 就这个",
    "C: 你记一下我号 {phone_mixed}",
    "A: 回拨号码是哪个\nC: 打这个 {phone}，不对，是{phone}",
    "C: 我换号了 新号是{phone} 旧的那个不用了",
    "C: 那个 你们打我老婆的电话吧 {phone}",
    "A: 您登记的手机号是不是{phone}？\nC: 对对对",
    "C: 我手机号{phone_wide}，你们短信发这个",
    "A: 还有其他联系方式吗\nC: 座机也行，{landline}",
    "C: 打我办公室{landline}找我就行",
    "Agent: What's the best number to reach you?\nCustomer: It's {phone}.",
    "Agent: Can I get a callback number?\nCustomer: sure {phone_words}",
    "Customer: my cell is {phone_grp}, text me there",
    "Customer: call me at {phone} after six",
    "A: 号码再确认一遍\nC: {phone_grp} 没错",
    "C: 就是 幺 三 八 那个开头的 {phone_spoken} 对",
    "A: 请问是机主本人吗\nC: 是的 号码{phone}",
    "C: 我朋友的号码是{phone}，他也想办",
    "A: 您的号码我这边显示是{phone}\nC: 嗯",
    "C: OK.{phone}",
    "C: my number is{phone}",
    "Customer: yes {phone}",
    # IDs
    "A: 请提供一下身份证号码\nC: {id}",
    "A: 身份证号后面我需要核对一下\nC: 好 {id_spaced}",
    "C: 我的证件号是{id_lower}，最后一位是x",
    "A: 您报一下证件号码\nC: 嗯 {id} 对 就这个",
    "Customer: my Chinese ID number is {id}",
    "C: 身份证{id}，名字是{name_zh}",
    "A: 用的是什么证件\nC: 身份证 号码是{id}",
    "C: 帮我老妈查一下 她身份证{id}",
    # cards
    "A: 退款要退到哪张卡\nC: 工行的 {card_grp}",
    "C: 卡号是{card}，建设银行的",
    "A: 请您念一下卡号\nC: {card_grp}",
    "Customer: the card number is {card_grp}",
    "Agent: Which card would you like to use?\nCustomer: {card}",
    "C: 扣款的那张卡{card}，麻烦帮我查下",
    "C: 我的储蓄卡 {card} 被冻结了",
    "A: 绑定的银行卡是哪张\nC: 尾号不记得了 全号是{card}",
    # e-mails
    "A: 电子发票发到哪个邮箱\nC: {email}",
    "C: 我邮箱是{email}，你发过来吧",
    "Customer: email me at {email} please",
    "Agent: And your email address?\nCustomer: it's {email}",
    "C: 发我QQ邮箱就行 {email}",
    "C: 工作邮箱 {email} 私人的就不给了",
    # passports
    "A: 请提供一下您的护照号码\nC: {passport}",
    "A: 您护照号是多少\nC: 好的，{passport}。",
    "C: 护照号码{passport}，下个月到期",
    "Agent: Could I have your passport number?\nCustomer: Yes, {passport}.",
    "Customer: passport {passport}, issued in Beijing",
    "C: 我护照{passport}，能订国际航班吗",
    "A: 出国的话需要护照 号码报一下\nC: 嗯 {passport}",
    "Agent: what's the passport number on the booking?\nCustomer: {passport}",
    # codes and passwords: the cue in the previous turn, new cues
    "A: 我们刚给您发了验证码，请您读一下\nC: {code}",
    "A: 短信验证码收到了吗\nC: 收到了 {code_spoken}",
    "Agent: what's the code we sent you?\nCustomer: {code}.",
    "Customer: the code you texted me is {code}",
    "Customer: I changed my password to {pwd} last week",
    "C: 验证码{code}，你那边能看到吗",
    "C: 我登录密码是{pwd}，是不是被盗了",
    "A: 请报一下动态码\nC: 嗯 {code}",
    "Customer: my PIN is {code}, is that safe to say?",
    "C: 那个 验证码是 {code_spoken} 吧",
    "A: 请把收到的六位数字告诉我\nC: {code6}",
    "Agent: please read me the one-time code.\nCustomer: ok it's {code}",
    "C: 密码我改成{pwd}了还是登不上",
    "Customer: the verification code is {code}",
    # names: cues in many shapes, bare answers, kinship
    "A: 请问怎么称呼您\nC: 我姓{surname}",
    "A: 请问您贵姓\nC: 免贵姓{surname}",
    "A: 请问机主姓名是\nC: {name_zh}",
    "A: 您叫什么名字？\nC: 我叫{name_zh}",
    "C: 我是{name_zh}，之前打过电话的",
    "C: 我爸{name_zh}的卡，他年纪大了",
    "C: 我是{name_zh}的家属，帮他问一下",
    "C: 姓名：{name_zh}，电话{phone}",
    "C: 收件人写{name_zh}就行",
    "A: 麻烦说一下您的全名\nC: {name_zh2}",
    "C: 中文名叫{name_zh}",
    "C: 找一下你们的{surname}经理",
    "A: {surname}女士，您的问题已经记录了",
    "A: 好的{surname}先生，请稍等",
    "C: 帮我转给{name_zh}，她是我们的客户经理",
    "Agent: Can I have your full name?\nCustomer: {name_en_mid}.",
    "Customer: Hi, this is {name_en} calling about my bill.",
    "Customer: my name is {name_en}",
    "Agent: Who am I speaking with?\nCustomer: {name_en}",
    "Customer: the account is under {name_en}",
    "Customer: it's in my wife {first_en}'s name",
    "Agent: Thank you Mr. {last_en}, one moment.",
    "Customer: you can ask for {name_en} at the front desk",
    "Customer: the account holder is {name_en_mid}",
    "Agent: is this {name_en}?\nCustomer: yes speaking",
    "C: 我英文名叫{first_en}，中文名叫{name_zh}",
    "C: 你好 我 叫 {name_zh_spaced} 我来问一下",
    "C: 呃 我叫 {name_zh} 就是 上周那个",
    "A: 请问联系人是谁\nC: 联系人是我妹妹{name_zh}",
    "C: 快递写我老公{name_zh}的名字",
    # Chinese addresses: district first, units, romanised
    "A: 请问收货地址是哪里\nC: {addr_zh}",
    "C: 地址改成{addr_district}",
    "C: 送到{addr_bldg}，放门口就行",
    "A: 上门地址是？\nC: {addr_bldg}",
    "C: 我住在{addr_zh}，你们派人来修一下",
    "C: 发票寄到{addr_zh}",
    "A: 您的详细地址\nC: 嗯 {addr_district} 那个",
    "C: 就是{addr_bldg}那栋楼",
    "Customer: ship it to {addr_roman}",
    "Customer: my address is {addr_roman}.",
    "C: 我公司在{addr_zh}，白天在那",
    "A: 安装地址确认一下，{addr_bldg}，对吗\nC: 对",
    "C: 不对 不是那个 是{addr_district}",
    "C: 老家地址{addr_zh}",
    # English addresses
    "Customer: please send it to {addr_en}",
    "Agent: What's the shipping address?\nCustomer: {addr_en_apt}",
    "Customer: I moved to {addr_en_apt} last month",
    "Customer: the billing address is {addr_en}.",
    "Agent: I have {addr_en} on file, is that right?\nCustomer: yes",
    "Customer: um it's {addr_en_apt}",
    # mixed turns, several types per text
    "A: 请问您贵姓\nC: 姓{surname}\nA: 手机号是？\nC: {phone}",
    "C: 我叫{name_zh}，身份证{id}，手机{phone}",
    "A: 核对一下信息\nC: 名字{name_zh} 电话{phone_grp} 地址{addr_zh}",
    "C: 卡号{card} 持卡人{name_zh}",
    "A: 验证码发到了您的手机上\nC: 收到了\nA: 请读一下\nC: {code}",
    "A: 请问您的护照号和手机号\nC: 护照{passport} 手机{phone}",
    "Customer: I'm {name_en}, my email is {email} and my cell is {phone}",
    "Agent: can you confirm your address and phone?\nCustomer: {addr_en}, and {phone}",
    "C: 帮我改一下收件信息 {name_zh} {phone} {addr_bldg}",
    "C: 呃 我的 那个 邮箱 {email} 还有 电话 {phone_spoken}",
    "A: 您好，请问有什么可以帮您\nC: 我想查一下我的订单\nA: 请提供手机号\nC: {phone}",
    "A: 身份证后四位是多少\nC: {last4_id}\nA: 好的，全号再说一下\nC: {id}",
    "C: 我叫{name_zh} 订单号{order} 手机{phone}",
    "Customer: order {order}, name {name_en}, phone {phone}",
    "C: 卡号{card_grp} 不对 是{card_grp}",
    "C: 我的email是{email}，phone是{phone}",
    "C: 我的passport number是{passport}",
    "Customer: 我叫{name_zh}, my phone is {phone}",
    "C: 帮我把address改成{addr_en}",
    "A: 验证码是多少\nC: 等一下啊 呃 {code}",
    "A: 您收到的code是多少\nC: {code}",
    "C: 我上次改密码还是{year}年 现在密码是{pwd}",
    "A: 请问邮编是多少\nC: {postcode}\nA: 手机号呢\nC: {phone}",
    "C: 错误代码{errcode}，我手机号{phone}",
    "C: 卡尾号{last4}，全号{card}",
    "A: 分机{ext}的同事会联系您 您电话是\nC: {phone}",
    "A: 订单{order}的收货人是谁\nC: {name_zh}",
    "C: 麻烦送到{addr_bldg}，谢谢",
    "C: 麻烦您帮我查一下{name_zh}的保单",
    "Customer: Jessica's number is {phone}",
    "Customer: my son {first_en} {last_en} has the card",
    "A: 请问机主是\nC: {name_zh2}\nA: 身份证号\nC: {id}",
    "C: 我是{name_zh}啊 上午打过的",
]


class EvalSet:
    """Seeded dialogues from ``TEMPLATES`` and ``NEGATIVE_KINDS`` (one text = one call)."""

    def __init__(self, seed: int = 11) -> None:
        self.rnd = random.Random(seed)
        self.zh = Faker("zh_CN")
        self.en = Faker("en_US")
        self.zh.seed_instance(seed)
        self.en.seed_instance(seed)

    # -- value helpers ----------------------------------------------------------------------
    def _mobile(self) -> str:
        head = self.rnd.choice(["130", "131", "133", "135", "136", "137", "138", "139", "147", "150", "152", "155",
                                "157", "158", "159", "166", "173", "176", "177", "180", "181", "183", "186", "188",
                                "189", "191", "198", "199"])  # fmt: skip
        return head + "".join(str(self.rnd.randrange(10)) for _ in range(8))

    def _spoken(self, digits: str, sep: str = "") -> str:
        table = ZH1 if self.rnd.random() < 0.7 else ZH
        return sep.join(table[int(d)] for d in digits)

    def _id(self) -> str:
        born = date(1945, 1, 1) + timedelta(days=self.rnd.randrange(365 * 62))
        area = self.rnd.choice(["110105", "310115", "440106", "330102", "510104", "420111", "320106", "370202",
                                "500103", "610113", "210102", "350203"])  # fmt: skip
        return id_number(area, born, self.rnd.randrange(1000))

    def _card(self) -> str:
        prefix = self.rnd.choice(["622588", "621483", "622848", "621661", "620522", "625965", "622262", "436742",
                                  "524094", "622700", "621799", "623058"])  # fmt: skip
        return bank_card_number(prefix + f"{self.rnd.randrange(10**6):06d}", self.rnd.choice((16, 19, 19, 16, 17, 18)))

    # -- slots with personal data --------------------------------------------------------------
    def slots(self) -> dict[str, Slot]:
        r = self.rnd
        pd = "PHONE_NUMBER"

        def phone() -> tuple[str, str | None]:
            m = self._mobile()
            return r.choice([m, m, f"{m[:3]}-{m[3:7]}-{m[7:]}", f"+86{m}", f"+86 {m}"]), pd

        def phone_grp() -> tuple[str, str | None]:
            m = self._mobile()
            return r.choice([f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}，{m[3:7]}，{m[7:]}" if r.random() < 0.3 else
                             f"{m[:3]} {m[3:7]} {m[7:]}"]), pd  # fmt: skip

        def phone_spoken() -> tuple[str, str | None]:
            return self._spoken(self._mobile(), r.choice(["", "", " "])), pd

        def phone_grp_spoken() -> tuple[str, str | None]:
            m = self._mobile()
            return f"{self._spoken(m[:3])} {self._spoken(m[3:7])} {self._spoken(m[7:])}", pd

        def phone_run() -> tuple[str, str | None]:
            return self._spoken(self._mobile()), pd

        def phone_mixed() -> tuple[str, str | None]:
            m = self._mobile()
            return m[:3] + self._spoken(m[3:7]) + m[7:], pd

        def phone_words() -> tuple[str, str | None]:
            m = self._mobile()
            return " ".join(WORDS[int(d)] for d in m), pd

        def phone_wide() -> tuple[str, str | None]:
            return self._mobile().translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)}), pd

        def landline() -> tuple[str, str | None]:
            area = r.choice(["010", "021", "022", "0755", "0571", "025", "028", "0512"])
            local = str(r.randrange(2, 9)) + "".join(str(r.randrange(10)) for _ in range(7 if len(area) == 3 else 6))
            return r.choice([f"{area}-{local}", f"{area} {local}", f"({area}){local}"]), pd

        def id_() -> tuple[str, str | None]:
            return self._id(), "CN_ID_CARD"

        def id_spaced() -> tuple[str, str | None]:
            n = self._id()
            return f"{n[:6]} {n[6:14]} {n[14:]}", "CN_ID_CARD"

        def id_lower() -> tuple[str, str | None]:
            while True:
                n = self._id()
                if n.endswith("X"):
                    return n[:-1] + "x", "CN_ID_CARD"

        def card() -> tuple[str, str | None]:
            return self._card(), "BANK_CARD"

        def card_grp() -> tuple[str, str | None]:
            n = self._card()
            return " ".join(n[i : i + 4] for i in range(0, len(n), 4)), "BANK_CARD"

        def email() -> tuple[str, str | None]:
            user = r.choice([self.en.user_name(), self.en.first_name().lower() + "." + self.en.last_name().lower(),
                             "".join(str(r.randrange(10)) for _ in range(9)), self.en.user_name() + "_" + str(r.randrange(99))])  # fmt: skip
            domain = r.choice(["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com.cn",
                               "company.com.cn", "yahoo.co.jp", "foxmail.com"])  # fmt: skip
            return f"{user}@{domain}", "EMAIL_ADDRESS"

        def passport() -> tuple[str, str | None]:
            kind = r.randrange(3)
            if kind == 0:
                return "E" + "".join(str(r.randrange(10)) for _ in range(8)), "PASSPORT"
            if kind == 1:
                return r.choice(["EA", "EB", "EC", "ED"]) + "".join(str(r.randrange(10)) for _ in range(7)), "PASSPORT"
            return "G" + "".join(str(r.randrange(10)) for _ in range(8)), "PASSPORT"

        def code() -> tuple[str, str | None]:
            return "".join(str(r.randrange(10)) for _ in range(r.choice((4, 6, 6, 5)))), "VERIFICATION_CODE"

        def code6() -> tuple[str, str | None]:
            return "".join(str(r.randrange(10)) for _ in range(6)), "VERIFICATION_CODE"

        def code_spoken() -> tuple[str, str | None]:
            digits = "".join(str(r.randrange(10)) for _ in range(r.choice((4, 6))))
            return self._spoken(digits, r.choice(["", " "])), "VERIFICATION_CODE"

        def pwd() -> tuple[str, str | None]:
            word = r.choice(["abc", "hello", "wang", "love", "qwe", "sunny", "tiger", "pass"])
            return word + str(r.randrange(10, 99999)) + r.choice(["", "!", "@"]), "VERIFICATION_CODE"

        def name_zh() -> tuple[str, str | None]:
            return self.zh.name(), "PERSON"

        def name_zh2() -> tuple[str, str | None]:
            return r.choice(["欧阳", "司马", "诸葛", "上官", "慕容"]) + self.zh.first_name(), "PERSON"

        def name_zh_spaced() -> tuple[str, str | None]:
            return " ".join(self.zh.name()), "PERSON"

        def surname() -> tuple[str, str | None]:
            return self.zh.last_name(), "PERSON"

        def name_en() -> tuple[str, str | None]:
            last = r.choice([self.en.last_name(), self.en.last_name(), "McCarthy", "O'Brien", "MacDonald"])
            return f"{self.en.first_name()} {last}", "PERSON"

        def name_en_mid() -> tuple[str, str | None]:
            return f"{self.en.first_name()} {r.choice('ABCDEFGHJKLMNPRSTW')}. {self.en.last_name()}", "PERSON"

        def first_en() -> tuple[str, str | None]:
            return self.en.first_name(), "PERSON"

        def last_en() -> tuple[str, str | None]:
            return r.choice([self.en.last_name(), "McCarthy", "O'Neil"]), "PERSON"

        def addr_zh() -> tuple[str, str | None]:
            return self._addr_zh(full=True), "ADDRESS"

        def addr_district() -> tuple[str, str | None]:
            return self._addr_zh(full=False), "ADDRESS"

        def addr_bldg() -> tuple[str, str | None]:
            city = r.choice(["", "北京市", "上海市", "杭州市"])
            district = r.choice(["朝阳区", "海淀区", "通州区", "浦东新区", "西湖区", "闵行区"])
            estate = r.choice(["望京西园", "阳光小区", "碧桂园", "万科城市花园", "天通苑", "金地格林"])
            unit = r.choice([f"{r.randrange(1, 30)}号楼{r.randrange(1, 33)}{r.randrange(1, 9):02d}",
                             f"{r.randrange(1, 30)}栋{r.randrange(1, 6)}单元{r.randrange(1, 33)}{r.randrange(1, 9):02d}",
                             f"{r.randrange(1, 30)}号楼{r.randrange(1, 6)}单元{r.randrange(101, 2999)}室"])  # fmt: skip
            return city + district + estate + unit, "ADDRESS"

        def addr_roman() -> tuple[str, str | None]:
            road = r.choice(["Zhongshan", "Jiefang", "Renmin", "Huaihai", "Tianhe", "Nanjing West"])
            district = r.choice(["Tianhe", "Yuexiu", "Chaoyang", "Haidian", "Xuhui", "Jing'an"])
            city = r.choice(["Guangzhou", "Beijing", "Shanghai", "Shenzhen"])
            return f"No. {r.randrange(1, 999)} {road} Road, {district} District, {city}", "ADDRESS"

        def addr_en() -> tuple[str, str | None]:
            suffix = r.choice(["St", "Street", "Ave", "Avenue", "Road", "Rd", "Blvd", "Lane", "Drive", "Court", "Way"])
            state = r.choice(["CA", "NY", "TX", "WA", "MA", "IL", "NJ", "OR"])
            return f"{r.randrange(1, 9999)} {self.en.last_name()} {suffix}, {self.en.city()}, {state} {r.randrange(10000, 99999)}", "ADDRESS"  # fmt: skip

        def addr_en_apt() -> tuple[str, str | None]:
            street = f"{r.randrange(1, 9999)} {self.en.street_name()}"
            apt = r.choice([f"Apt {r.randrange(1, 40)}{r.choice('ABCD')}", f"Apt. {r.randrange(1, 999)}",
                            f"Suite {r.randrange(100, 999)}", f"Unit {r.randrange(1, 99)}"])  # fmt: skip
            return f"{street}, {apt}, {self.en.city()}, {r.choice(['CA', 'NY', 'TX', 'FL'])} {r.randrange(10000, 99999)}", "ADDRESS"  # fmt: skip

        def last4_id() -> tuple[str, str | None]:
            return f"{r.randrange(1000, 9999)}", None

        return {
            "phone": phone, "phone_grp": phone_grp, "phone_spoken": phone_spoken, "phone_grp_spoken": phone_grp_spoken,
            "phone_run": phone_run, "phone_mixed": phone_mixed, "phone_words": phone_words, "phone_wide": phone_wide,
            "landline": landline, "id": id_, "id_spaced": id_spaced, "id_lower": id_lower, "card": card,
            "card_grp": card_grp, "email": email, "passport": passport, "code": code, "code6": code6,
            "code_spoken": code_spoken, "pwd": pwd, "name_zh": name_zh, "name_zh2": name_zh2,
            "name_zh_spaced": name_zh_spaced, "surname": surname, "name_en": name_en, "name_en_mid": name_en_mid,
            "first_en": first_en, "last_en": last_en, "addr_zh": addr_zh, "addr_district": addr_district,
            "addr_bldg": addr_bldg, "addr_roman": addr_roman, "addr_en": addr_en, "addr_en_apt": addr_en_apt,
            "last4_id": last4_id, **self.negative_slots(),
        }  # fmt: skip

    def _addr_zh(self, *, full: bool) -> str:
        r = self.rnd
        province, city, districts = r.choice([
            ("广东省", "广州市", ["天河区", "越秀区", "海珠区"]), ("江苏省", "南京市", ["鼓楼区", "江宁区"]),
            ("", "北京市", ["朝阳区", "通州区", "丰台区"]), ("", "上海市", ["徐汇区", "长宁区", "浦东新区"]),
            ("浙江省", "宁波市", ["海曙区", "北仑区"]), ("山东省", "青岛市", ["市南区", "崂山区"]),
            ("湖南省", "长沙市", ["岳麓区", "开福区"]), ("福建省", "厦门市", ["思明区", "湖里区"]),
        ])  # fmt: skip
        street = r.choice(["长安街", "中山路", "体育西路", "珠江路", "五一大道", "湖滨路", "香港中路", "建设路"])
        tail = r.choice([f"{r.randrange(1, 999)}号", f"{r.randrange(1, 999)}号{r.randrange(1, 30)}栋{r.randrange(101, 2999)}室",
                         f"{r.randrange(1, 300)}弄{r.randrange(1, 40)}号{r.randrange(101, 999)}", f"{r.randrange(1, 99)}号院"])  # fmt: skip
        district = r.choice(districts)
        if full:
            return (province if r.random() < 0.5 else "") + city + district + street + tail
        return district + street + tail

    # -- hard negatives ---------------------------------------------------------------------------
    def negative_slots(self) -> dict[str, Slot]:
        r = self.rnd

        def digits(n: int) -> str:
            return str(r.randrange(1, 10)) + "".join(str(r.randrange(10)) for _ in range(n - 1))

        def order() -> tuple[str, str | None]:
            while True:
                d = digits(r.choice((12, 16, 18, 19, 20)))
                if not luhn_valid(d):
                    return d, None

        def order_luhn() -> tuple[str, str | None]:
            return bank_card_number(digits(8), r.choice((16, 19))), None

        def year() -> tuple[str, str | None]:
            return str(r.randrange(1998, 2026)), None

        values: dict[str, Callable[[], str]] = {
            "tracking": lambda: r.choice(["SF", "YT", "JD", "ZTO"]) + digits(r.choice((12, 13, 15))),
            "amount": lambda: r.choice(
                [
                    f"{r.randrange(10, 99999)}元",
                    f"{r.randrange(1, 999)}块{r.randrange(1, 9)}毛",
                    f"¥{r.randrange(100, 99999)}.{r.randrange(10, 99)}",
                ]
            ),
            "amount_en": lambda: f"${r.randrange(10, 9999)}.{r.randrange(10, 99)}",
            "date": lambda: r.choice(
                [
                    f"{r.randrange(2015, 2026)}年{r.randrange(1, 13)}月{r.randrange(1, 29)}号",
                    f"{r.randrange(1, 13)}月{r.randrange(1, 29)}日",
                ]
            ),
            "date_digits": lambda: f"{r.randrange(2015, 2026)}{r.randrange(1, 13):02d}{r.randrange(1, 29):02d}",
            "time": lambda: r.choice([f"{r.randrange(8, 20)}:{r.randrange(0, 60):02d}", f"下午{r.randrange(1, 6)}点"]),
            "postcode": lambda: r.choice(["100020", "200120", "510620", "310013", "610041", "518057"]),
            "zip": lambda: str(r.randrange(10000, 99999)),
            "errcode": lambda: r.choice(
                [str(r.randrange(400, 600)), f"E{r.randrange(1000, 9999)}", f"{r.randrange(10000, 99999)}"]
            ),
            "model": lambda: r.choice(["iPhone 15 Pro", "Mate 60", "X2000型", "小米14", "RTX4090", "A2892"]),
            "ext": lambda: str(r.randrange(1000, 9999)),
            "last4": lambda: f"{r.randrange(1000, 9999)}",
            "staff_no": lambda: str(r.randrange(1000, 99999)),
            "hotline": lambda: r.choice(["10086", "95588", "95533", "12315", "400-820-8820"]),
            "qty": lambda: str(r.randrange(2, 50)),
            "seconds": lambda: str(r.choice((60, 90, 120, 300))),
            "count": lambda: str(r.randrange(3, 10)),
            "points": lambda: str(r.randrange(1000, 99999)),
            "flight": lambda: r.choice(["CA", "MU", "CZ", "HU"]) + str(r.randrange(100, 9999)),
            "train": lambda: r.choice(["G", "D", "K"]) + str(r.randrange(10, 9999)),
            "invoice": lambda: digits(r.choice((8, 12, 20))),
            "imei": lambda: bank_card_number("35" + digits(6), 15),
            "version": lambda: f"{r.randrange(1, 15)}.{r.randrange(0, 10)}.{r.randrange(0, 30)}",
            "rate": lambda: f"{r.randrange(2, 20)}.{r.randrange(0, 99)}%",
            "installments": lambda: str(r.choice((3, 6, 12, 24))),
            "verb_phrase": lambda: r.choice(
                [
                    "麻烦送到门口就行",
                    "麻烦您快一点",
                    "王者荣耀充值没到账",
                    "高铁票退不了",
                    "方便的话明天再打",
                    "黄金会员怎么开通",
                    "关于上次的投诉",
                    "金额不对",
                    "安排师傅上门",
                    "温馨提示收到了",
                    "向您反映一个问题",
                    "常规问题咨询",
                ]
            ),
            "en_phrase": lambda: r.choice(
                [
                    "Thank you for calling, how may I help?",
                    "Let me transfer you to billing.",
                    "Is there anything else I can help with?",
                    "Mark this as resolved please.",
                    "Sure, I can reset that for you.",
                ]
            ),
            "rooms": lambda: r.choice(["三室一厅", "两室两厅", "120平"]),
            "contract": lambda: "HT" + digits(10),
            "level": lambda: r.choice(["黄金", "白金", "钻石"]),
        }
        slots: dict[str, Slot] = {name: (lambda f=fn: (f(), None)) for name, fn in values.items()}
        slots.update({"order": order, "order_luhn": order_luhn, "year": year})
        return slots

    # -- assembly ---------------------------------------------------------------------------------
    def dialogues(self, count: int, *, negative_share: float = 0.3) -> Iterator[Utterance]:
        slots = self.slots()
        for _ in range(count):
            if self.rnd.random() < negative_share:
                _, template = self.rnd.choice(NEGATIVE_KINDS)
            else:
                template = self.rnd.choice(TEMPLATES)
            yield self._render(template, slots)

    def _render(self, template: str, slots: dict[str, Slot]) -> Utterance:
        r = self.rnd
        english = template.startswith(("Agent", "Customer"))
        labels = r.choice(
            [("Agent: ", "Customer: "), ("A: ", "C: "), ("", "")]
            if english
            else [("坐席：", "客户："), ("客服：", "客户："), ("A：", "B："), ("", ""), ("[坐席] ", "[用户] ")]
        )
        asr = r.random() < 0.3  # an ASR transcript: no punctuation, fillers
        out = Utterance("")
        for number, turn in enumerate(template.split("\n")):
            role, _, body = turn.partition(": ")
            if number:
                out.text += "\n"
            out.text += labels[0] if role in ("A", "Agent") else labels[1]
            if asr and r.random() < 0.5:
                out.text += r.choice(EN_FILLERS if english else FILLERS) + " "
            rest = body
            while "{" in rest:
                before, _, after = rest.partition("{")
                name, _, rest = after.partition("}")
                out.text += self._literal(before, asr)
                value, kind = slots[name]()
                if kind is not None:
                    out.spans.append((kind, len(out.text), len(out.text) + len(value)))
                out.text += value
            out.text += self._literal(rest, asr)
        return out

    @staticmethod
    def _literal(text: str, asr: bool) -> str:
        if not asr:
            return text
        for mark in "，。？！?!":
            text = text.replace(mark, " ")
        return text


def overlap_report(
    utterances: list[Utterance], predict: Callable[[str], list[tuple[str, int, int]]]
) -> dict[str, dict[str, float]]:
    """P/R/F1 per type where a prediction counts if it overlaps a gold span of its type
    (each gold span matched at most once)."""
    from tests.pii.corpus import _prf

    counts: dict[str, list[int]] = {}
    for utterance in utterances:
        predicted = sorted(set(predict(utterance.text)), key=lambda s: (s[1], s[2]))
        unmatched = list(utterance.spans)
        for kind, start, end in predicted:
            c = counts.setdefault(kind, [0, 0, 0])
            hit = next((g for g in unmatched if g[0] == kind and g[1] < end and start < g[2]), None)
            if hit is None:
                c[1] += 1
            else:
                unmatched.remove(hit)
                c[0] += 1
        for kind, _, _ in unmatched:
            counts.setdefault(kind, [0, 0, 0])[2] += 1
    report: dict[str, dict[str, float]] = {}
    total = [0, 0, 0]
    for kind, (tp, fp, fn) in sorted(counts.items()):
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        report[kind] = _prf(tp, fp, fn)
    report["ALL"] = _prf(*total)
    return report
