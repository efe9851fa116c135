"""`make bench-container`: the container tier's numbers, measured on this machine.

- the build image (build-image/Dockerfile on a debootstrapped Debian trixie): cold, with no
  BuildKit cache (every package downloaded and installed), and warm, after a change to one of
  the scripts it copies (what a maintainer editing start-dockerd waits for);
- the example application's buildspec in that image, on a nested daemon with nothing in it:
  cold (an empty registry cache), then the next commit on another empty daemon (the cache);
- the build image's size, and next to it the tools image's (build-image/tools.Dockerfile, what
  the small projects run on Lambda compute) and how long it takes to build cold;
- how soon `start-dockerd` gives up on a daemon without privileges (the container tier
  checks that it reports the exit, this says how long it took).

Prints as it goes; asserts nothing. Records every number in `dev/measurements.json` (which
the docs quote) unless `--no-record`. Needs what `make container` needs (root, Docker,
debootstrap, docker-registry: tests/container/prepare-host).

    python -m dev.bench_container [--no-record]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dev import measurements
from tests.support import containers

T = TypeVar("T")
TAG = f"{containers.LABEL}/build-image:bench"
TOOLS_TAG = f"{containers.LABEL}/tools-image:bench"


def step(label: str, action: Callable[[], T]) -> tuple[T, float]:
    print(f"… {label}", flush=True)
    started = time.monotonic()
    result = action()
    seconds = time.monotonic() - started
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return result, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.bench_container")
    parser.add_argument("--no-record", action="store_true", help=f"do not update {measurements.FILE.name}")
    args = parser.parse_args(argv)
    try:
        docker = containers.docker_client()
        containers.require_tools("debootstrap", "docker-registry", "htpasswd", "nsenter")
    except containers.DockerUnavailable as unavailable:
        print(f"bench-container not run: {unavailable}", file=sys.stderr)
        return 3
    containers.remove_leftovers(docker)
    rows: list[tuple[str, str]] = []
    recorded: dict[str, measurements.Measurement] = {}

    def measured(key: str, what: str, value: float, unit: str = "s") -> None:
        recorded[key] = measurements.Measurement.now(what, [value], unit)

    with tempfile.TemporaryDirectory(prefix="ecs-delivery-bench-") as folder:
        shared = Path(folder)
        (base, _), seconds = step(
            "debootstrap Debian trixie", lambda: containers.debian_base(docker, shared, reuse=False)
        )
        rows.append(("debootstrap Debian trixie (minbase) and import", f"{seconds:.1f} s"))
        measured("debootstrap", "debootstrap Debian trixie (minbase) and docker import", seconds)
        _, cold = step("build image, cold", lambda: containers.build_image(docker, base, TAG, no_cache=True))
        rows.append(("build image, cold (no BuildKit cache)", f"{cold:.1f} s"))
        measured("build-image-cold", "build build-image/Dockerfile with no BuildKit cache", cold)
        context = shared / "build-image"
        shutil.copytree(containers.BUILD_IMAGE_CONTEXT, context)
        script = context / "start-dockerd"
        script.write_text(script.read_text() + "\n# bench: a changed script\n")
        _, warm = step(
            "build image, warm",
            lambda: docker.build(context, TAG, build_args={"BASE_IMAGE": base}),
        )
        rows.append(("build image, warm (a copied script changed)", f"{warm:.1f} s"))
        measured("build-image-warm", "build build-image/Dockerfile after a copied script changed", warm)
        size = docker.image_size(TAG)
        rows.append(("build image size (uncompressed, as `docker images`)", f"{size / 1e6:.0f} MB"))
        measured("build-image-size", "the build image, uncompressed (docker images)", size / 1e6, "MB")
        print(f"  build image size: {size / 1e6:.0f} MB", flush=True)
        _, tools_cold = step(
            "tools image, cold", lambda: containers.tools_image(docker, base, TOOLS_TAG, no_cache=True)
        )
        rows.append(("tools image, cold (no BuildKit cache)", f"{tools_cold:.1f} s"))
        measured("tools-image-cold", "build build-image/tools.Dockerfile with no BuildKit cache", tools_cold)
        tools_size = docker.image_size(TOOLS_TAG)
        rows.append(("tools image size (uncompressed, as `docker images`)", f"{tools_size / 1e6:.0f} MB"))
        measured("tools-image-size", "the tools image, uncompressed (docker images)", tools_size / 1e6, "MB")
        print(f"  tools image size: {tools_size / 1e6:.0f} MB (build image: {size / 1e6:.0f} MB)", flush=True)

        unprivileged = containers.BuildHost.start(docker, TAG, shared / "unprivileged", privileged=False)
        try:
            _, noticed = step(
                "start-dockerd without privileges",
                lambda: unprivileged.sh("DOCKERD_TIMEOUT=60 start-dockerd", check=False, timeout=90),
            )
        finally:
            unprivileged.stop()
        rows.append(("start-dockerd gives up on an unprivileged daemon", f"{noticed:.1f} s"))
        measured("start-dockerd-unprivileged", "start-dockerd in the build image without privileges", noticed)

        redis = f"{containers.LABEL}/redis:8"
        step(
            "seed images standing in for Docker Hub's",
            lambda: containers.seed_image(docker, base, redis, containers.REDIS_SEED),
        )
        host = containers.BuildHost.start(docker, TAG, shared)
        registry = containers.LoopbackRegistry(shared / "registry")
        try:
            registry.start(host)
            containers.seed_docker_hub(
                host, registry, {"library/debian:trixie-slim": base, "library/redis:8": redis}
            )
            for run, commit, change in (
                ("cold", "8c1d2aa4f0e5b6c7d8e9f00112233445566778899", ""),
                ("cached", "5fdbe62e1d2c3b4a5968778695a4b3c2d1e0f9a8b", "the next commit"),
            ):
                host.wipe_daemon()
                result, seconds = step(
                    f"application build, {run}",
                    lambda run=run, commit=commit, change=change: containers.run_app_buildspec(
                        host, shared, registry, run=run, commit=commit, build_number=1, change=change
                    ),
                )
                if not result.succeeded:
                    print(result.output, file=sys.stderr)
                    return 1
                rows.append((f"application build, {run}: whole buildspec", f"{seconds:.1f} s"))
                measured(f"app-build-{run}", f"the example application's buildspec, {run}", seconds)
                # `make test && make release && make publish`, one command of the build phase.
                build_phase = next(
                    c.seconds
                    for c in result.commands
                    if c.phase == "build" and c.command.startswith(containers.BUILD_COMMAND_START)
                )
                rows.append(
                    (
                        f"application build, {run}: build phase (test, release, publish)",
                        f"{build_phase:.1f} s",
                    )
                )
        finally:
            registry.stop()
            host.stop()
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value:>8}")
    if not args.no_record:
        measurements.record(recorded)
        print(f"recorded in {measurements.FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
