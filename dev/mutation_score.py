"""`make mutate`'s score: mutmut's results per module, as numbers.

Reads `mutants/<module>.meta` (written by `mutmut run`) and prints, per module and in
total, the mutants killed (a test failed), timed out (a test ran away: the mutant was
detected), survived (every selected test passed: a bug the tests would not catch), not
reached by any test, and still to run. Score = (killed + timed out) / mutants run.

    python -m dev.mutation_score [--mutants mutants] [--goal 90]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path


def module_counts(meta: Path) -> Counter:
    """Mutants per status, in mutmut's own words (`mutmut.stats.status_by_exit_code`)."""
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
    return Counter(status_by_exit_code[code] for code in codes.values())


DETECTED = ("killed", "timeout", "segfault", "caught by type check")
UNDETECTED = ("survived", "no tests", "suspicious")


def score(counts: Counter) -> float | None:
    detected = sum(counts[s] for s in DETECTED)
    run = detected + sum(counts[s] for s in UNDETECTED)
    return None if run == 0 else 100.0 * detected / run


def report(mutants: Path) -> tuple[str, float | None]:
    rows = []
    total: Counter = Counter()
    for meta in sorted(mutants.rglob("*.py.meta")):
        counts = module_counts(meta)
        total += counts
        rows.append((str(meta.relative_to(mutants))[: -len(".meta")], counts))
    header = (
        f"{'module':36} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} "
        f"{'no tests':>8} {'not run':>7} {'score':>7}"
    )
    lines = [header]
    for name, counts in [*rows, ("total", total)]:
        value = score(counts)
        lines.append(
            f"{name:36} {sum(counts.values()):>7} {counts['killed']:>7} {counts['timeout']:>7} "
            f"{counts['survived']:>8} {counts['no tests']:>8} {counts['not checked']:>7} "
            f"{'-' if value is None else f'{value:.1f}%':>7}"
        )
    return "\n".join(lines), score(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.mutation_score", description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--goal", type=float, default=90.0)
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no {args.mutants}/: run `make mutate` first", file=sys.stderr)
        return 2
    text, total = report(args.mutants)
    print(text)
    if total is not None:
        print(f"score {total:.1f}% (goal {args.goal:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
