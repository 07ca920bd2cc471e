"""The PII engine: recognizers with exact offsets, operators, streaming, limits, accuracy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.pii import analyzer, build_analyzer
from callvault.pii.recognizers.custom import load_custom_recognizers
from callvault.pii.redact import MemoryTokenizer, apply_operators
from callvault.pii.registry import STRUCTURED
from callvault.pii.stream import StreamingRedactor
from tests.pii.corpus import Generator, evaluate


def found(text: str) -> list[tuple[str, str]]:
    return [(e.type, text[e.start : e.end]) for e in analyzer().analyze(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机号是13812345678", [("PHONE_NUMBER", "13812345678")]),
        ("手机 138 1234 5678 谢谢", [("PHONE_NUMBER", "138 1234 5678")]),
        ("电话+86-138-1234-5678", [("PHONE_NUMBER", "+86-138-1234-5678")]),
        ("call (+86) 138 1234 5678 today", [("PHONE_NUMBER", "(+86) 138 1234 5678")]),
        ("我的手机号是幺三八一二三四五六七八", [("PHONE_NUMBER", "幺三八一二三四五六七八")]),
        (
            "number is one three eight one two three four five six seven eight",
            [("PHONE_NUMBER", "one three eight one two three four five six seven eight")],
        ),
        ("座机010-62345678", [("PHONE_NUMBER", "010-62345678")]),
        ("客服热线400-820-8820", [("PHONE_NUMBER", "400-820-8820")]),
        ("身份证11010119900307123X", []),
        ("身份证110101199003071238", []),
        ("卡号 6222 0200 0000 0007", [("BANK_CARD", "6222 0200 0000 0007")]),
        ("卡号 6222020000000008", []),
        ("邮箱 zhang.san@example.com。", [("EMAIL_ADDRESS", "zhang.san@example.com")]),
        ("验证码是 4821", [("VERIFICATION_CODE", "4821")]),
        ("验证码是四八二一", [("VERIFICATION_CODE", "四八二一")]),
        ("password: abc12345", [("VERIFICATION_CODE", "abc12345")]),
        ("护照号码是E12345678", [("PASSPORT", "E12345678")]),
        ("我叫王小明，今天来办卡", [("PERSON", "王小明")]),
        ("My name is John Smith.", [("PERSON", "John Smith")]),
        ("地址是广东省深圳市南山区科技园路1号3栋502室，谢谢", [("ADDRESS", "广东省深圳市南山区科技园路1号3栋502室")]),
        ("请寄到深圳市南山区科技园路1号，谢谢", [("ADDRESS", "深圳市南山区科技园路1号")]),
        ("地址：湖北省佳市和平哈尔滨街j座 146610，谢谢", [("ADDRESS", "湖北省佳市和平哈尔滨街j座 146610")]),
        (
            "I live at 2328 Figueroa Skyway Apt. 290, Kimberlyview, NJ 78456.",
            [("ADDRESS", "2328 Figueroa Skyway Apt. 290, Kimberlyview, NJ 78456")],
        ),
        (
            "at 5195 Robert Path, Stevenchester, LA 55521 now",
            [("ADDRESS", "5195 Robert Path, Stevenchester, LA 55521")],
        ),
        ("send it to PSC 9597, Box 5894, APO AA 67654 please", [("ADDRESS", "PSC 9597, Box 5894, APO AA 67654")]),
        ("Ship to 123 Main Street, Springfield, IL 62704.", [("ADDRESS", "123 Main Street, Springfield, IL 62704")]),
        ("订单号 1234567890123456，金额 3500元，2024年5月6日 15:30", []),
        ("验证码 4821 13812345678", [("VERIFICATION_CODE", "4821"), ("PHONE_NUMBER", "13812345678")]),
    ],
)
def test_recognizers(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_valid_id_with_exact_offsets() -> None:
    from datetime import date

    from callvault.demo.generator import id_number

    number = id_number("110101", date(1990, 3, 7), 123)
    text = f"身份证号码{number}。"
    (entity,) = analyzer().analyze(text)
    assert (entity.type, entity.start, entity.end, entity.score) == ("CN_ID_CARD", 5, 23, 1.0)
    assert found(f"身份证号码{number[:17]}{'0' if number[17] != '0' else '1'}") == []


@pytest.mark.parametrize("junk", ["", "\x00\x01\x02", "\ufffd" * 100, "🙂" * 50, "a@" * 1000])
def test_garbage_is_harmless(junk: str) -> None:
    assert isinstance(analyzer().analyze(junk), list)


def test_operators() -> None:
    text = "手机13812345678，卡号6222020000000007，邮箱zhang@example.com，我叫王小明"
    entities = analyzer().analyze(text)
    assert apply_operators(text, entities, "mask") == (
        "手机138****5678，卡号6222 **** **** 0007，邮箱z***@example.com，我叫王**"
    )
    assert (
        apply_operators(text, entities, "tag")
        == "手机<PHONE_NUMBER>，卡号<BANK_CARD>，邮箱<EMAIL_ADDRESS>，我叫<PERSON>"
    )
    assert apply_operators(text, entities, "remove") == "手机，卡号，邮箱，我叫"
    hashed = apply_operators(text, entities, "hash", hash_key=b"k")
    assert hashed == apply_operators(text, entities, "hash", hash_key=b"k")
    assert hashed != apply_operators(text, entities, "hash", hash_key=b"other")
    assert "13812345678" not in hashed
    tokenizer = MemoryTokenizer()
    tokenized = apply_operators(text, entities, "token", tokenizer=tokenizer)
    token = tokenized[2 : tokenized.index("，")]
    assert tokenizer.detokenize(token) == "13812345678"
    per_type = apply_operators(text, entities, {"PHONE_NUMBER": "mask", "PERSON": "remove"})
    assert per_type.startswith("手机138****5678，卡号<BANK_CARD>") and per_type.endswith("我叫")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_redaction_leaves_no_span(seed: int) -> None:
    for utterance in Generator(seed).utterances(3):
        redacted = apply_operators(utterance.text, analyzer().analyze(utterance.text), "tag")
        for kind, start, end in utterance.spans:
            value = utterance.text[start:end]
            if kind in STRUCTURED and len(value) >= 6:
                assert value not in redacted


@pytest.mark.parametrize(
    ("segments", "secret"),
    [
        (["我的手机号是幺三八一二", "三四五六七八，谢谢"], "幺三八一二三四五六七八"),
        (["卡号 6222 0200", " 0000 0007 好的"], "6222 0200 0000 0007"),
        (["my email is zhang.s", "an@example.com thanks"], "zhang.san@example.com"),
        (["验证码是", "4821，请输入"], "4821"),
        (["手机138", "1234", "5678"], "13812345678"),
    ],
)
def test_streaming_never_leaks_a_split_value(segments: list[str], secret: str) -> None:
    redactor = StreamingRedactor(analyzer(), "tag")
    emitted = [redactor.feed(segment) for segment in segments] + [redactor.flush()]
    joined = "".join(emitted)
    assert secret not in joined
    assert "<" in joined
    digits = "".join(c for c in secret if c.isdigit())
    for piece in emitted:  # no emitted piece carries four or more digits of the secret
        assert not any(digits[i : i + 4] in piece for i in range(max(1, len(digits) - 3))) or len(digits) < 4
    assert joined.replace(" ", "").endswith(segments[-1].replace(" ", "")[-2:]) or joined.endswith(">")


def test_streaming_emits_plain_text_promptly() -> None:
    redactor = StreamingRedactor(analyzer(), "mask")
    assert redactor.feed("您好，请问有什么可以帮您？") == "您好，请问有什么可以帮您？"


def test_tenant_recognizer_from_yaml() -> None:
    extra = load_custom_recognizers(
        "recognizers:\n  - entity: MEMBERSHIP_NUMBER\n    regex: 'VIP\\d{8}'\n    context: [会员, member]\n"
    )
    engine = build_analyzer(extra=extra)
    text = "会员号VIP12345678，另一个VIP87654321"
    assert [(e.type, text[e.start : e.end]) for e in engine.analyze(text) if e.type == "MEMBERSHIP_NUMBER"] == [
        ("MEMBERSHIP_NUMBER", "VIP12345678")
    ]
    from callvault.core.errors import Invalid

    with pytest.raises(Invalid):
        load_custom_recognizers("recognizers:\n  - entity: bad\n    regex: '(?P<x>a)'\n")


def test_accuracy_on_the_generated_set() -> None:
    corpus = list(Generator(seed=20261125).utterances(2000))
    engine = analyzer()
    report = evaluate(corpus, lambda text: [(e.type, e.start, e.end) for e in engine.analyze(text)])
    for kind in ("PHONE_NUMBER", "CN_ID_CARD", "BANK_CARD", "EMAIL_ADDRESS", "VERIFICATION_CODE", "PASSPORT"):
        assert report[kind]["f1"] >= 0.99, (kind, report[kind])
    for kind in ("PERSON", "ADDRESS"):
        assert report[kind]["f1"] >= 0.90, (kind, report[kind])


def test_accuracy_on_the_independent_set() -> None:
    """Issue 11's goals on the multi-turn set (tests/pii/evalset.py), exact spans."""
    from tests.pii.evalset import EvalSet
    from tests.pii.evaluate import reports

    exact = reports(list(EvalSet(seed=20261126).dialogues(1500)))["exact"]
    assert exact["STRUCTURED"]["f1"] >= 0.99, exact["STRUCTURED"]
    assert exact["ALL"]["f1"] >= 0.90, exact["ALL"]
    for kind in ("PERSON", "ADDRESS"):
        assert exact[kind]["f1"] >= 0.85, (kind, exact[kind])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A: 请提供一下您的护照号码\nC: Yes, E12345678.", [("PASSPORT", "E12345678")]),
        ("Agent: what's the code we sent you?\nCustomer: 78518.", [("VERIFICATION_CODE", "78518")]),
        ("C: 我上次改密码还是2010年", []),
        ("A: 验证码已经发到您尾号5678的手机上了", []),
        ("Customer: the code you texted me is 4821", [("VERIFICATION_CODE", "4821")]),
        ("Customer: I changed my password to abc37112 last week", [("VERIFICATION_CODE", "abc37112")]),
        ("C: 你记一下 138四二四六4154", [("PHONE_NUMBER", "138四二四六4154")]),
        ("客户：麻烦送到门口就行", []),
        ("C: 我爸王建国的卡", [("PERSON", "王建国")]),
        ("Agent: Can I have your full name?\nCustomer: Jessica L. Wilson.", [("PERSON", "Jessica L. Wilson")]),
        ("Customer: I'm Gary McCarthy", [("PERSON", "Gary McCarthy")]),
        ("C: 送到海淀区万科城市花园11号楼2305", [("ADDRESS", "海淀区万科城市花园11号楼2305")]),
        (
            "Customer: No. 852 Zhongshan Road, Tianhe District, Guangzhou",
            [("ADDRESS", "No. 852 Zhongshan Road, Tianhe District, Guangzhou")],
        ),
    ],
)
def test_issue_11_error_kinds(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_accuracy_on_the_held_out_set() -> None:
    """Issue 11's goals on the second held-out set (tests/pii/heldout.py), its sealed third,
    a seed the engine was never looked at with."""
    from tests.pii.evaluate import reports
    from tests.pii.heldout import HeldOut

    exact = reports(list(HeldOut(seed=20261127).calls(1500, split="sealed")))["exact"]
    assert exact["STRUCTURED"]["f1"] >= 0.99, exact["STRUCTURED"]
    assert exact["ALL"]["f1"] >= 0.90, exact["ALL"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a call on one line: a speaker label in mid-line starts a turn
        ("坐席：您的护照号码是多少 客户：嗯 G87654321", [("PASSPORT", "G87654321")]),
        ("Agent: what's the PIN on the card? Customer: 6612", [("VERIFICATION_CODE", "6612")]),
        # every character spaced out by the ASR: offsets still point into the original
        ("客 户 ： 我 叫 赵 大 海", [("PERSON", "赵 大 海")]),
        ("验 证 码 是 七 七 一 九", [("VERIFICATION_CODE", "七 七 一 九")]),
        # qualified codes are no cue, here or in the question before
        ("Agent: and the zip code?\nCustomer: 30301", []),
        ("C: 优惠码是8866 能用吗", []),
        ("C: 码是449021 你看一下", [("VERIFICATION_CODE", "449021")]),
        ("C: 密码改成了Sky2024! 还是不行", [("VERIFICATION_CODE", "Sky2024!")]),
        ("C: 密码是2016年设的", []),
        # the card cue in the question, an unrelated "ref" word close by
        ("Agent: which card should we credit for the refund\nCustomer: 6222 0200 1234 5678 907", []),
        # mixed spellings with a space between the groups
        ("C: 号码是幺五九 66021234", [("PHONE_NUMBER", "幺五九 66021234")]),
        # names: after 本人 / 名下, a name asked for in the turn just before, not two turns back
        ("A: 请问是周立新本人吗", [("PERSON", "周立新")]),
        ("C: 查下韩梅名下有几张卡", [("PERSON", "韩梅")]),
        (
            "A: 收件人是谁\nC: 钟南\nA: 地址呢\nC: 成都市锦江区红星路二段70号",
            [("PERSON", "钟南"), ("ADDRESS", "成都市锦江区红星路二段70号")],
        ),
        ("C: 我姓林 叫林小雨", [("PERSON", "林"), ("PERSON", "林小雨")]),
        ("C: 你们有个叫付强的师傅", [("PERSON", "付强")]),
        ("C: 收货人改成罗静", [("PERSON", "罗静")]),
        # words and brands that start with a surname character are no names
        ("A: 客户明天下午在家", []),
        ("C: 本人马上到", []),
        ("C: 我是周大福的老客户了", []),
        ("Agent: I'm Happy to help", []),
        ("Customer: it's under Mary O’Connor", [("PERSON", "Mary O’Connor")]),
        ("Agent: who am I speaking with?\nCaller: Ann DeLuca", [("PERSON", "Ann DeLuca")]),
        # addresses: floor after 号, room after 座, words after the address, a district ending in 都/城
        ("C: 寄到西安市雁塔区科技路25号18楼", [("ADDRESS", "西安市雁塔区科技路25号18楼")]),
        ("C: 送到朝阳区望京街10号B座1502 那边", [("ADDRESS", "朝阳区望京街10号B座1502")]),
        ("C: 我住花都区迎宾大道95号", [("ADDRESS", "花都区迎宾大道95号")]),
        ("C: 送到东城区东四十条12号", [("ADDRESS", "东城区东四十条12号")]),
        (
            "Customer: Room 1203, No. 88 Jianguo Road, Chaoyang District, Beijing",
            [("ADDRESS", "Room 1203, No. 88 Jianguo Road, Chaoyang District, Beijing")],
        ),
    ],
)
def test_second_pass_error_kinds(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("turns", "secret"),
    [
        (["请提供一下您的护照号码？", "E12345678"], "E12345678"),
        (["Agent: what's the code we sent you?", "Customer: 78518."], "78518"),
        (["请问您的姓名？", "谢婉清"], "谢婉清"),
        (["我叫", "王小明"], "王小明"),
    ],
)
def test_stream_final_segments_are_turns(turns: list[str], secret: str) -> None:
    """Each turn sent as a final segment with no newline: a final segment that ends in a
    character no value continues with ends a turn, so the question qualifies the answer."""
    redactor = StreamingRedactor(analyzer(), "tag")
    out = ""
    for turn in turns:
        out += redactor.feed(turn) + redactor.flush()
    assert secret not in out, out


def test_stream_holds_a_surname_an_honorific_may_follow() -> None:
    redactor = StreamingRedactor(analyzer(), "tag")
    out = redactor.feed("[客服]胡") + redactor.feed("先生您好") + redactor.flush()
    assert out == "[客服]<PERSON>先生您好", out
