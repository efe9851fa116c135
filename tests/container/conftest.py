"""The container tier's shared set-up: Docker, the debootstrapped base, the build image built
from build-image/Dockerfile, the tools image from build-image/tools.Dockerfile, and the images
standing in for Docker Hub's.

Where Docker cannot run these tests skip with a reason saying how to run them; under CI
(`CI=true`, set by .ci/run) they fail instead: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import containers

# Seconds each slow step took in this session, printed after the run (not asserted: speed
# goals live in `make bench-container`).
TIMINGS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("container tier: seconds")
        for step, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{step:60} {seconds:7.1f}")


@pytest.fixture(scope="session")
def docker() -> containers.Docker:
    try:
        client = containers.docker_client()
        containers.require_tools("debootstrap", "docker-registry", "htpasswd", "nsenter")
    except containers.DockerUnavailable as unavailable:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the container tests: {unavailable}")
        pytest.skip(str(unavailable))
    containers.remove_leftovers(client)
    return client


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Path:
    """A folder this machine and the build containers see at the same path."""
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="session")
def debian(docker, shared) -> str:
    tag, seconds = containers.debian_base(docker, shared)
    if seconds:
        TIMINGS["debootstrap Debian trixie (minbase) and import it"] = seconds
    return tag


@pytest.fixture(scope="session")
def build_image(docker, debian) -> str:
    """The image CodeBuild runs, built from the project's own Dockerfile (base replaced)."""
    tag = f"{containers.LABEL}/build-image:under-test"
    _, seconds = containers.build_image(docker, debian, tag)
    TIMINGS["build build-image/Dockerfile"] = seconds
    return tag


@pytest.fixture(scope="session")
def tools_image(docker, debian) -> str:
    """The image the small projects run (recovery, review, confirm, record, verify), built from
    the project's own build-image/tools.Dockerfile (base replaced)."""
    tag = f"{containers.LABEL}/tools-image:under-test"
    _, seconds = containers.tools_image(docker, debian, tag)
    TIMINGS["build build-image/tools.Dockerfile"] = seconds
    return tag


@pytest.fixture(scope="session")
def docker_hub(docker, debian) -> dict[str, str]:
    """Local images standing in for Docker Hub's, by the name the example application pulls."""
    redis = f"{containers.LABEL}/redis:8"
    if not docker.image_exists(redis):
        containers.seed_image(docker, debian, redis, containers.REDIS_SEED)
    return {"library/debian:trixie-slim": debian, "library/redis:8": redis}
