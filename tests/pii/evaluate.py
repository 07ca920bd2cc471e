"""Print precision / recall / F1 per type of the PII engine, exact and overlapping spans.

Usage: python -m tests.pii.evaluate [--set new|old] [--n 3000] [--seed 1] [--errors 20]
``new`` is the independent multi-turn set (tests/pii/evalset.py), ``old`` the engine's own
templates (tests/pii/corpus.py, kept as a regression set).
"""

from __future__ import annotations

import argparse

from callvault.pii import analyzer
from callvault.pii.registry import STRUCTURED
from tests.pii.corpus import Generator, Utterance, _prf, evaluate
from tests.pii.evalset import EvalSet, overlap_report


def corpus(which: str, n: int, seed: int) -> list[Utterance]:
    if which == "old":
        return list(Generator(seed).utterances(n))
    return list(EvalSet(seed).dialogues(n))


def with_groups(report: dict[str, dict[str, float]], raw: dict[str, list[int]]) -> None:
    """Adds STRUCTURED (the first six types together) from raw counts."""
    tp = fp = fn = 0
    for kind, (a, b, c) in raw.items():
        if kind in STRUCTURED:
            tp, fp, fn = tp + a, fp + b, fn + c
    report["STRUCTURED"] = _prf(tp, fp, fn)


def _raw(report: dict[str, dict[str, float]]) -> dict[str, list[int]]:
    out = {}
    for kind, s in report.items():
        if kind == "ALL":
            continue
        tp = round(s["recall"] * s["support"])
        fn = round(s["support"] - tp)
        fp = round(tp / s["precision"] - tp) if s["precision"] else 0
        out[kind] = [tp, fp, fn]
    return out


def reports(utterances: list[Utterance]) -> dict[str, dict[str, dict[str, float]]]:
    engine = analyzer()

    def predict(text: str) -> list[tuple[str, int, int]]:
        return [(e.type, e.start, e.end) for e in engine.analyze(text)]

    exact = evaluate(utterances, predict)
    overlap = overlap_report(utterances, predict)
    with_groups(exact, _raw(exact))
    with_groups(overlap, _raw(overlap))
    return {"exact": exact, "overlap": overlap}


def print_reports(both: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"{'type':18} {'P':>6} {'R':>6} {'F1':>6} {'F1 overlap':>10} {'n':>6}")
    for kind, s in both["exact"].items():
        o = both["overlap"].get(kind, {"f1": float("nan")})
        print(f"{kind:18} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {o['f1']:10.3f} {s['support']:6.0f}")


def print_errors(utterances: list[Utterance], limit: int) -> None:
    engine = analyzer()
    shown = 0
    for u in utterances:
        predicted = {(e.type, e.start, e.end) for e in engine.analyze(u.text)}
        gold = set(u.spans)
        if predicted != gold and shown < limit:
            shown += 1
            print("---", repr(u.text))
            for kind, a, b in sorted(gold - predicted):
                print("  missed", kind, repr(u.text[a:b]))
            for kind, a, b in sorted(predicted - gold):
                print("  extra ", kind, repr(u.text[a:b]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=("new", "old"), default="new")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--errors", type=int, default=0, help="print this many missed/extra spans")
    args = parser.parse_args()
    utterances = corpus(args.set, args.n, args.seed)
    print_reports(reports(utterances))
    if args.errors:
        print_errors(utterances, args.errors)


if __name__ == "__main__":
    main()
