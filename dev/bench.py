"""`make bench`: how long the offline tooling takes, next to a floor measured in the same
run — a fresh interpreter importing the SDK modules the program really uses (a bare
`import pulumi_aws` loads almost nothing: its service modules load lazily), which every
synth and test run pays too. Medians of repeated runs; prints numbers and ratios and the
goal (synth within 1.3 times the floor); asserts nothing.

    python -m dev.bench [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from offline.program import PROJECT_DIR

# Importing `pulumi_aws` loads its submodules lazily; the program needs these, and each
# loads every resource class of its service on first use.
USED_AWS_MODULES = [
    ("s3", "Bucket"),
    ("cloudwatch", "LogGroup"),
    ("iam", "Role"),
    ("ecr", "Repository"),
    ("ecr", "PullThroughCacheRule"),
    ("iam", "Policy"),
    ("codebuild", "Project"),
    ("codepipeline", "Pipeline"),
    ("codeconnections", "Connection"),
    ("sns", "Topic"),
    ("codestarnotifications", "NotificationRule"),
]
GOAL = 1.3
SDK_MODULES_USED = (
    "import pulumi_aws as aws, pulumi_docker, pydantic, yaml\n"
    f"for module, member in {USED_AWS_MODULES!r}:\n"
    "    getattr(getattr(aws, module), member)\n"
    "pulumi_docker.Image\n"
)


def timed(command: list[str], repeat: int) -> float:
    """Median wall time of `command` in a fresh process, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)  # noqa: S603
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    python = sys.executable
    floor = timed([python, "-c", SDK_MODULES_USED], args.repeat)
    rows = [
        ("bare import pulumi_aws (for reference)", timed([python, "-c", "import pulumi_aws"], args.repeat)),
        ("floor: import of the SDK modules used", floor),
    ]
    for stack in ("dev", "prod"):
        out = PROJECT_DIR / "build" / "bench"
        rows.append(
            (f"synth {stack}", timed([python, "-m", "offline.synth", stack, "--out", str(out)], args.repeat))
        )
    tests = [python, "-m", "pytest", "-q", "-p", "no:randomly"]
    rows.append(
        (
            "unit tests without the provider preflight",
            timed([*tests, "--ignore=tests/test_preflight.py"], args.repeat),
        )
    )
    rows.append(("unit tests (pytest -q, as make unit)", timed(tests, args.repeat)))
    width = max(len(name) for name, _ in rows)
    print(f"medians of {args.repeat} runs")
    print(f"{'measurement'.ljust(width)}  seconds  × floor")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}  {seconds / floor:7.2f}")
    prod = dict(rows)["synth prod"]
    goal = "met" if prod <= GOAL * floor else "NOT met"
    print(f"goal: synth prod within {GOAL}× the floor ({prod / floor:.2f}×): {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
