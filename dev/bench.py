"""`make bench`: how long the offline tooling takes, measured here, and recorded.

- The test tiers exactly as the Makefile runs them (`make lint`, `make unit`, ...), each a
  fresh top-level `make`;
- `make synth` per stack, next to a floor measured in the same run: a fresh interpreter
  importing the SDK modules the program really uses (a bare `import pulumi_aws` loads almost
  nothing: its service modules load lazily), which every synth and test run pays too;
- how soon `start-dockerd` gives up on a daemon that exits, and on one that never answers
  (the example application's build against stubs, tests/support/app_build.py): the tests
  check which of the two it reported, this says how long it took.

Prints numbers, the goals (synth within 1.3 times the floor, `make unit` under 30 s, and its
CPU time within 30 times a synth's), and asserts nothing. Each sample of a command is its wall
time; the CPU time its processes used is recorded beside it (`<key>-cpu`): on a machine shared
with other work, wall times say more about the others. The synth and the floor run with
Python's bytecode cache, as on a developer's machine: with `PYTHONDONTWRITEBYTECODE` set, every
synth would compile the project's own modules again, while the floor's modules come compiled
with the venv (a first synth, not measured, writes the cache). Every sample is recorded in
`dev/measurements.json` (with the date, the machine's cores and its load), which the docs quote
and `dev.docs_check` compares them with: after a run, quote the new numbers, or `make unit`
says which no longer hold.

- the release-time model's critical path from commit to production, per environment, before
  and after the tools image (modelled, not measured: tests/scenarios/release_time.py; not
  recorded in `dev/measurements.json`, which holds what was measured here).

    python -m dev.bench [--repeat 3] [--tiers lint unit provider scenarios adoption] [--no-record]
    python -m dev.bench --release-time    # the model alone, in seconds
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dev import measurements
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
    # The release records of a gated environment (prod).
    ("dynamodb", "Table"),
    # The lifecycle hook's function (prod).
    ("lambda_", "Function"),
]
GOAL = 1.3
UNIT_GOAL_SECONDS = 30
# `make unit`'s CPU time (every worker and subprocess) in synths of the prod stack.
UNIT_GOAL_SYNTHS = 30
SDK_MODULES_USED = (
    "import pulumi_aws as aws, pulumi_docker, pydantic, yaml\n"
    f"for module, member in {USED_AWS_MODULES!r}:\n"
    "    getattr(getattr(aws, module), member)\n"
    "pulumi_docker.Image\n"
)
# The same imports in a process set up as a synth's (offline/synth.py: the cycle collector's
# threshold raised, no teardown at exit): for reference, what a synth could cost at the least.
SDK_MODULES_USED_AS_A_SYNTH = "import gc, os\ngc.set_threshold(20_000)\n" + SDK_MODULES_USED + "os._exit(0)\n"
# The tiers, and how often each runs: the slow ones fewer times. The container tier needs root
# and a Docker daemon (tests/container/prepare-host), so it runs only when named.
TIER_RUNS = {"lint": 2, "unit": 3, "provider": 2, "scenarios": 2, "adoption": 1, "container": 1}
DEFAULT_TIERS = ["lint", "unit", "provider", "scenarios", "adoption"]
# A daemon that neither answers nor exits is given this long in the measured run.
HANGING_DAEMON_TIMEOUT = "1"


def children_cpu_seconds() -> float:
    """User and system time of every finished child process so far (their children too)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def sample(
    label: str, action: Callable[[], object], runs: int, cpu: list[float] | None = None
) -> list[float]:
    """Wall times of `runs` calls of `action`, in seconds; says what it measures first. The CPU
    time of the processes each call ran goes to `cpu`."""
    print(f"… {label} ({runs} runs)", flush=True)
    samples = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), children_cpu_seconds()
        action()
        samples.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(children_cpu_seconds() - start_cpu)
    cpu_shown = f" (CPU {', '.join(f'{s:.1f}' for s in cpu[-runs:])} s)" if cpu else ""
    print(f"  {label}: {', '.join(f'{s:.1f}' for s in samples)} s{cpu_shown}", flush=True)
    return samples


def in_a_fresh_process(command: list[str], *, bytecode_cache: bool = False) -> Callable[[], object]:
    # A fresh top-level make, as a developer's would be: not a sub-make of `make bench`.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")
    }
    if bytecode_cache:
        environment.pop("PYTHONDONTWRITEBYTECODE", None)

    def run() -> object:
        done = subprocess.run(command, cwd=PROJECT_DIR, env=environment, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            # A failed run measures nothing worth quoting.
            sys.exit(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return done

    return run


def start_dockerd_giving_up(daemon: str, settings: dict[str, str]) -> Callable[[], object]:
    """The example build against stubs, with a stub daemon that misbehaves; the seconds
    `start-dockerd` itself ran."""
    from tests.support.app_build import run_app_build

    def run() -> object:
        with tempfile.TemporaryDirectory(prefix="ecs-delivery-bench-") as folder:
            built = run_app_build(Path(folder), {"STUB_DOCKERD": daemon, **settings})
        return built.result.run_of("start-dockerd")

    return run


def start_dockerd_seconds(daemon: str, settings: dict[str, str], runs: int, label: str) -> list[float]:
    print(f"… {label} ({runs} runs)", flush=True)
    samples = [start_dockerd_giving_up(daemon, settings)().seconds for _ in range(runs)]
    print(f"  {label}: {', '.join(f'{s:.1f}' for s in samples)} s", flush=True)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each quick measurement")
    parser.add_argument("--tiers", nargs="*", choices=list(TIER_RUNS), default=DEFAULT_TIERS)
    parser.add_argument(
        "--tiers-only",
        action="store_true",
        help="measure the tiers named, not the imports, synth and start-dockerd",
    )
    parser.add_argument("--no-record", action="store_true", help=f"do not update {measurements.FILE.name}")
    parser.add_argument(
        "--release-time", action="store_true", help="print the release-time model's report only (modelled)"
    )
    args = parser.parse_args(argv)
    if args.release_time:
        release_time()
        return 0
    measured: dict[str, tuple[str, list[float]]] = {}

    def record(key: str, command: str, samples: list[float], cpu: list[float] | None = None) -> list[float]:
        measured[key] = (command, samples)
        if cpu:
            measured[f"{key}-cpu"] = (f"{command}, CPU time", cpu)
        return samples

    if not args.tiers_only:
        quick(args.repeat, record)
    for tier in args.tiers:
        command = ["make", "-o", "venv/bin/.installed", tier]
        cpu: list[float] = []
        record(
            tier,
            f"make {tier}",
            sample(f"make {tier}", in_a_fresh_process(command), TIER_RUNS[tier], cpu),
            cpu,
        )

    def median_of(key: str) -> float | None:
        return statistics.median(measured[key][1]) if key in measured else None

    width = max(len(key) for key in measured)
    print(f"\n{'measurement'.ljust(width)}   median      min      max  × floor")
    for key, (_, samples) in measured.items():
        median = statistics.median(samples)
        spread = f"{min(samples):7.2f}  {max(samples):7.2f}"
        # CPU times against the floor's CPU time, wall times against its wall time.
        floor = median_of("import-floor-cpu" if key.endswith("-cpu") else "import-floor")
        ratio = f"{median / floor:7.2f}" if floor else ""
        print(f"{key.ljust(width)}  {median:7.2f}  {spread}  {ratio}")
    floor, prod = median_of("import-floor"), median_of("synth-prod")
    floor_cpu, prod_cpu = median_of("import-floor-cpu"), median_of("synth-prod-cpu")
    if floor and prod and floor_cpu and prod_cpu:
        # Judged on CPU time: wall times of a shared machine's runs stretch with its load.
        goal = "met" if prod_cpu <= GOAL * floor_cpu else "NOT met"
        print(
            f"goal: synth prod within {GOAL}× the floor in CPU time ({prod_cpu / floor_cpu:.2f}×; "
            f"wall time {prod / floor:.2f}×): {goal}"
        )
        as_a_synth = median_of("import-floor-as-synth-cpu")
        if as_a_synth:
            print(f"  (against the floor set up as a synth: {prod_cpu / as_a_synth:.2f}× in CPU time)")
    if "unit" in measured:
        unit = statistics.median(measured["unit"][1])
        verdict = "met" if unit < UNIT_GOAL_SECONDS else "NOT met"
        print(f"goal: make unit under {UNIT_GOAL_SECONDS} s ({unit:.1f} s): {verdict}")
    unit_cpu, synth_cpu = median_of("unit-cpu"), median_of("synth-prod-cpu")
    if unit_cpu and not synth_cpu and "synth-prod-cpu" in measurements.load():
        # --tiers-only: the synth of the last full run.
        synth_cpu = statistics.median(measurements.load()["synth-prod-cpu"].samples)
    if unit_cpu and synth_cpu:
        verdict = "met" if unit_cpu <= UNIT_GOAL_SYNTHS * synth_cpu else "NOT met"
        print(
            f"goal: make unit within {UNIT_GOAL_SYNTHS}× a synth prod in CPU time "
            f"({unit_cpu:.1f} s / {synth_cpu:.2f} s = {unit_cpu / synth_cpu:.1f}×): {verdict}"
        )
    if not args.no_record:
        measurements.record(
            {
                key: measurements.Measurement.now(command, samples, "s")
                for key, (command, samples) in measured.items()
            }
        )
        print(f"recorded in {measurements.FILE.relative_to(PROJECT_DIR)}")
    if not args.tiers_only:
        release_time()
    return 0


def release_time() -> None:
    """The release-time model's report (issue 28): modelled from cited figures, not measured,
    so it is printed, not recorded (the docs carry it as a generated block that
    tests/scenarios/test_release_time.py holds to the model)."""
    from tests.conftest import run_stack
    from tests.scenarios import release_time as model

    print("\n… release time (the pipeline-run simulator, priced by tests/support/durations.py)", flush=True)
    print(model.report(model.releases(run_stack)), end="", flush=True)


def sdk_modules_declared(resources_json: Path) -> set[str]:
    """The pulumi_aws modules whose resources a synth declared (`aws:lambda/function:Function`
    is `pulumi_aws.lambda_`: a Python keyword gets an underscore)."""
    import json
    import keyword

    declared = json.loads(resources_json.read_text())["resources"]
    modules = {r["type"].split(":")[1].split("/")[0] for r in declared if r["type"].startswith("aws:")}
    return {f"{m}_" if keyword.iskeyword(m) else m for m in modules}


def quick(repeat: int, record: Callable[..., list[float]]) -> None:
    """The imports (the floor), synth per stack, and start-dockerd giving up, against stubs."""
    python = sys.executable
    out = PROJECT_DIR / "build" / "bench"
    print("… a first synth, not measured: it writes the bytecode cache", flush=True)
    in_a_fresh_process([python, "-m", "offline.synth", "prod", "--out", str(out)], bytecode_cache=True)()
    missing = sdk_modules_declared(out / "prod" / "resources.json") - {m for m, _ in USED_AWS_MODULES}
    if missing:
        print(f"  the floor leaves out SDK modules the synth uses: {sorted(missing)} (USED_AWS_MODULES)")
    floor_cpu: list[float] = []
    record(
        "import-floor",
        "python -c <import of the SDK modules used>",
        sample(
            "floor: import of the SDK modules used",
            in_a_fresh_process([python, "-c", SDK_MODULES_USED], bytecode_cache=True),
            repeat,
            floor_cpu,
        ),
        floor_cpu,
    )
    fast_cpu: list[float] = []
    record(
        "import-floor-as-synth",
        "python -c <import of the SDK modules used, gc threshold 20000, os._exit>",
        sample(
            "floor set up as a synth (for reference)",
            in_a_fresh_process([python, "-c", SDK_MODULES_USED_AS_A_SYNTH], bytecode_cache=True),
            repeat,
            fast_cpu,
        ),
        fast_cpu,
    )
    record(
        "import-bare",
        "python -c 'import pulumi_aws'",
        sample(
            "bare import pulumi_aws (for reference)",
            in_a_fresh_process([python, "-c", "import pulumi_aws"]),
            repeat,
        ),
    )
    for stack in ("dev", "prod"):
        command = [python, "-m", "offline.synth", stack, "--out", str(out)]
        cpu: list[float] = []
        record(
            f"synth-{stack}",
            f"make synth STACK={stack}",
            sample(f"synth {stack}", in_a_fresh_process(command, bytecode_cache=True), repeat, cpu),
            cpu,
        )
    record(
        "start-dockerd-daemon-exits",
        "start-dockerd, its daemon exiting at once (stub)",
        start_dockerd_seconds(
            "broken", {"DOCKERD_TIMEOUT": "60"}, repeat, "start-dockerd, a daemon that exits"
        ),
    )
    record(
        "start-dockerd-daemon-hangs",
        f"start-dockerd, DOCKERD_TIMEOUT={HANGING_DAEMON_TIMEOUT}, its daemon never answering (stub)",
        start_dockerd_seconds(
            "hangs",
            {"DOCKERD_TIMEOUT": HANGING_DAEMON_TIMEOUT},
            repeat,
            "start-dockerd, a daemon that hangs",
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
