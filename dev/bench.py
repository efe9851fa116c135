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
UNIT_GOAL_SECONDS = 30
SDK_MODULES_USED = (
    "import pulumi_aws as aws, pulumi_docker, pydantic, yaml\n"
    f"for module, member in {USED_AWS_MODULES!r}:\n"
    "    getattr(getattr(aws, module), member)\n"
    "pulumi_docker.Image\n"
)


def timed(label: str, command: list[str], repeat: int) -> float:
    """Median wall time of `command` in a fresh process, in seconds; says what it measures first."""
    print(f"… {label} ({repeat} runs)", flush=True)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)  # noqa: S603
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    print(f"  {label}: {median:.2f} s", flush=True)
    return median


# The tiers as the Makefile runs them (make unit, make provider).
UNIT_TIER = ["--ignore=tests/container", "--ignore=tests/test_preflight.py"]
PROVIDER_TIER = ["tests/test_preflight.py"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    python = sys.executable
    floor = timed("floor: import of the SDK modules used", [python, "-c", SDK_MODULES_USED], args.repeat)
    rows = [
        (
            "bare import pulumi_aws (for reference)",
            timed("bare import pulumi_aws", [python, "-c", "import pulumi_aws"], args.repeat),
        ),
        ("floor: import of the SDK modules used", floor),
    ]
    out = PROJECT_DIR / "build" / "bench"
    for stack in ("dev", "prod"):
        command = [python, "-m", "offline.synth", stack, "--out", str(out)]
        rows.append((f"synth {stack}", timed(f"synth {stack}", command, args.repeat)))
    tests = [python, "-m", "pytest", "-q", "-p", "no:randomly"]
    rows.append(("make unit (the fast tier)", timed("make unit", [*tests, *UNIT_TIER], args.repeat)))
    rows.append(("make provider (Terraform)", timed("make provider", [*tests, *PROVIDER_TIER], 1)))
    width = max(len(name) for name, _ in rows)
    print(f"\nmedians of {args.repeat} runs (make provider: 1 run)")
    print(f"{'measurement'.ljust(width)}  seconds  × floor")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}  {seconds / floor:7.2f}")
    measured = dict(rows)
    prod = measured["synth prod"]
    goal = "met" if prod <= GOAL * floor else "NOT met"
    print(f"goal: synth prod within {GOAL}× the floor ({prod / floor:.2f}×): {goal}")
    unit = measured["make unit (the fast tier)"]
    verdict = "met" if unit < UNIT_GOAL_SECONDS else "NOT met"
    print(f"goal: make unit under {UNIT_GOAL_SECONDS} s ({unit:.1f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
