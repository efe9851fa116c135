"""`make bench`: how long the offline tooling takes, next to a baseline measured in the
same run — a fresh interpreter doing nothing but `import pulumi_aws`, which every synth
and test run pays too. Prints numbers and ratios; asserts nothing.

    python -m offline.bench [--repeat 3]
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
    ("codebuild", "Project"),
    ("codepipeline", "Pipeline"),
    ("codeconnections", "Connection"),
    ("sns", "Topic"),
    ("codestarnotifications", "NotificationRule"),
]
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
    parser = argparse.ArgumentParser(prog="python -m offline.bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    python = sys.executable
    baseline = timed([python, "-c", "import pulumi_aws"], args.repeat)
    rows = [
        ("baseline: import pulumi_aws", baseline),
        ("import of the SDK modules used", timed([python, "-c", SDK_MODULES_USED], args.repeat)),
    ]
    for stack in ("dev", "prod"):
        out = PROJECT_DIR / "build" / "bench"
        rows.append(
            (f"synth {stack}", timed([python, "-m", "offline.synth", stack, "--out", str(out)], args.repeat))
        )
    rows.append(("unit tests (pytest -q)", timed([python, "-m", "pytest", "-q", "-p", "no:randomly"], 1)))
    width = max(len(name) for name, _ in rows)
    print(f"{'measurement'.ljust(width)}  seconds  × baseline")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}  {seconds / baseline:9.2f}")
    prod = dict(rows)["synth prod"]
    goal = "met" if prod < 3 * baseline else "NOT met"
    print(f"goal: synth prod under 3× baseline ({prod / baseline:.2f}×): {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
