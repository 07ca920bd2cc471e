"""Print precision / recall / F1 per type of the PII engine on a generated set.

Usage: python -m tests.pii.evaluate [--n 3000] [--seed 1]
"""

from __future__ import annotations

import argparse

from callvault.pii import analyzer
from tests.pii.corpus import Generator, evaluate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = list(Generator(args.seed).utterances(args.n))
    engine = analyzer()
    report = evaluate(corpus, lambda text: [(e.type, e.start, e.end) for e in engine.analyze(text)])
    for kind, scores in report.items():
        print(
            f"{kind:18} P={scores['precision']:.3f} R={scores['recall']:.3f} F1={scores['f1']:.3f} n={scores['support']:.0f}"
        )


if __name__ == "__main__":
    main()
