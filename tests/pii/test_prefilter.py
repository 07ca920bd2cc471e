"""The prefilter skips texts, never findings: same results with Hyperscan, with re, without."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.pii.engine import Analyzer
from callvault.pii.prefilter import Prefilter
from callvault.pii.registry import STRUCTURED, default_recognizers
from tests.pii.corpus import Generator
from tests.pii.evalset import EvalSet


def _engines(entities: frozenset[str] | None) -> list[Analyzer]:
    return [Analyzer(default_recognizers(), entities=entities, prefilter=kind) for kind in ("auto", "re", "none")]


@pytest.mark.parametrize("entities", [None, frozenset(STRUCTURED)])
def test_same_findings_on_both_sets(entities: frozenset[str] | None) -> None:
    auto, plain, none = _engines(entities)
    texts = [u.text for u in Generator(3).utterances(300)] + [u.text for u in EvalSet(3).dialogues(300)]
    for text in texts:
        assert auto.analyze(text) == plain.analyze(text) == none.analyze(text), text


_ALPHABET = "0123456789０１２３ 一二三幺零@.-+()\n：:我叫是护照验证码密码客户区市号楼ABCEGpassword code one two the"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_prefilter_never_hides_a_match(text: str) -> None:
    auto, plain, none = ENGINES
    assert auto.analyze(text) == plain.analyze(text) == none.analyze(text)


ENGINES = _engines(None)


def test_re_fallback_answers_like_hyperscan() -> None:
    triggers = [("[0-9]", False), ("password|护照", True)]
    fallback = Prefilter(triggers, engine="re")
    assert fallback.engine == "re"
    best = Prefilter(triggers)
    for text in ("hello", "PassWord", "护照", "a1", "\ud800x", ""):
        assert best.may_match(text) == fallback.may_match(text)


def test_hyperscan_is_used_when_installed() -> None:
    pytest.importorskip("hyperscan")
    assert Prefilter([("[0-9]", False)]).engine == "hyperscan"


@pytest.mark.parametrize("entities", [None, frozenset(STRUCTURED)])
def test_the_built_in_analyzers_compile_for_hyperscan(entities: frozenset[str] | None) -> None:
    """Every built-in trigger compiles for Hyperscan (no lookaround): one that does not sends
    the whole analyzer back to the ``re`` fallback, three times slower."""
    pytest.importorskip("hyperscan")
    from callvault.pii import analyzer

    prefilter = analyzer(entities)._prefilter
    assert prefilter is not None and prefilter.engine == "hyperscan"
