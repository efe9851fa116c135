"""The build, run for real: the CodeBuild image built from build-image/Dockerfile, run as
CodeBuild runs it, and inside it the example application's own buildspec, Makefile,
Dockerfile and compose test against a real nested Docker daemon and a loopback registry with
authentication standing in for ECR (its pull-through cache of Docker Hub included). Only
`aws` is a stub. The small projects' tools image (build-image/tools.Dockerfile) runs the
recovery and the verify smoke test against the application this build published.

Slow (minutes): `make container`; .ci/run runs it. Numbers: `make bench-container`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from components.blueprint import delivery_blueprint, worst_case_refs
from components.config import load_config
from components.units.verify import verify_buildspec, verify_environment
from tests.conftest import MINIMAL_RAW
from tests.container.conftest import TIMINGS
from tests.support import containers
from tests.support.aws_stubs import STACK_AWS as STUB_AWS_STACK
from tests.support.buildspec import run_buildspec

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = containers.REGISTRY
# The base step of the example Dockerfile: installing Python and the Redis client from
# Debian, the slow step the registry cache exists for.
BASE_STEP = "[base 2/4] RUN apt-get update"


# -- the image ----------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile", containers.TOOLS_DOCKERFILE])
def test_the_dockerfile_differs_from_what_ci_builds_only_in_its_base(dockerfile):
    """CI replaces the base and nothing else: the default base is the stage pinned by digest,
    and BASE_IMAGE is the only build argument the tier passes (containers.build_image,
    containers.tools_image)."""
    lines = [line for line in (ROOT / "build-image" / dockerfile).read_text().splitlines() if line.strip()]
    instructions = [line for line in lines if not line.startswith("#")]
    assert instructions[0] == "ARG BASE_IMAGE=debian-stable"
    pinned = instructions[1].split()
    assert pinned[0] == "FROM" and pinned[2:] == ["AS", "debian-stable"]
    name, _, digest = pinned[1].partition("@sha256:")
    assert name == "debian:trixie-slim"
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert instructions[2] == "FROM ${BASE_IMAGE}"
    assert [line for line in instructions if line.startswith(("FROM", "ARG"))] == instructions[:3]


# What Debian 13 (trixie) ships (packages.debian.org; shared/docs/containers.md), major.minor:
# a Debian point release may move the patch level, never these.
TOOL_VERSIONS = {
    "docker --version": "Docker version 26.1.",
    "dockerd --version": "Docker version 26.1.",
    "docker-compose version": "Docker Compose version 2.26.",
    "docker compose version": "Docker Compose version 2.26.",
    "docker buildx version": "github.com/docker/buildx 0.13.",
    "containerd --version": "containerd containerd.io 1.7.",
    "aws --version": "aws-cli/2.23.",
}
# Called by the buildspecs and Makefiles; any version.
TOOLS = ("bash", "make", "git", "curl", "jq", "python3", "iptables", "start-dockerd")


def test_the_image_carries_what_the_buildspecs_call_at_debian_stables_versions(docker, build_image):
    script = " ; ".join(f'echo "{command} => $({command} 2>&1 | head -n1)"' for command in TOOL_VERSIONS)
    printed = docker("run", "--rm", build_image, "bash", "-c", script).stdout
    seen = dict(line.split(" => ", 1) for line in printed.splitlines())
    for command, expected in TOOL_VERSIONS.items():
        # containerd prints its package's own name first on Debian: compare the version part.
        got = seen[command].replace("containerd github.com/containerd/containerd", "containerd containerd.io")
        assert got.startswith(expected), f"{command}: {seen[command]!r}, expected {expected}…"
    located = docker("run", "--rm", build_image, "bash", "-c", f"command -v {' '.join(TOOLS)}").stdout.split()
    assert [Path(p).name for p in located] == list(TOOLS)
    # The small projects' scripts live in the tools image only.
    assert docker("run", "--rm", build_image, "test", "-e", "/opt/ecs-delivery", check=False).returncode == 1
    config = json.loads(docker("run", "--rm", build_image, "cat", "/etc/docker/daemon.json").stdout)
    assert config == {"features": {"containerd-snapshotter": True}, "storage-driver": "overlayfs"}
    volumes = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Volumes}}", build_image).stdout
    )
    assert volumes == {"/var/lib/docker": {}}


# What the small projects' scripts call, and a custom image on Lambda compute needs (curl or
# wget: "Run builds on AWS Lambda compute"); Debian 13's versions, major.minor.
TOOLS_IMAGE_VERSIONS = {"aws --version": "aws-cli/2.23.", "python3 --version": "Python 3.13."}
TOOLS_IMAGE_TOOLS = ("bash", "curl", "jq", "make", "python3", "timeout", "aws")
TOOLS_IMAGE_SCRIPTS = (
    "review-change-set",
    "recover-stack",
    "verify-environment",
    "record-release",
    "check-drift",
)


def test_the_tools_image_carries_the_aws_cli_python_and_the_scripts_and_no_docker(
    docker, tools_image, build_image
):
    script = " ; ".join(
        f'echo "{command} => $({command} 2>&1 | head -n1)"' for command in TOOLS_IMAGE_VERSIONS
    )
    seen = dict(
        line.split(" => ", 1)
        for line in docker("run", "--rm", tools_image, "bash", "-c", script).stdout.splitlines()
    )
    for command, expected in TOOLS_IMAGE_VERSIONS.items():
        assert seen[command].startswith(expected), f"{command}: {seen[command]!r}, expected {expected}…"
    wanted = (*TOOLS_IMAGE_TOOLS, *TOOLS_IMAGE_SCRIPTS)
    located = docker(
        "run", "--rm", tools_image, "bash", "-c", f"command -v {' '.join(wanted)}"
    ).stdout.split()
    assert [Path(p).name for p in located] == list(wanted)
    for path in ("/opt/ecs-delivery/changeset_report.py", "/opt/ecs-delivery/release_gate.py"):
        assert docker("run", "--rm", tools_image, "test", "-f", path).returncode == 0, path
    # No Docker: Lambda compute runs no privileged build, and nothing here builds an image.
    absent = docker(
        "run", "--rm", tools_image, "bash", "-c", "command -v docker dockerd containerd", check=False
    )
    assert (absent.returncode, absent.stdout) == (1, "")
    # One platform, as Lambda compute requires of a custom image.
    platform = docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tools_image).stdout.strip()
    assert platform == "linux/amd64"
    sizes = {image: docker.image_size(image) for image in (tools_image, build_image)}
    # Less than half the build image (on the debootstrapped base: 426 MB against 1,166 MB when
    # this was written; `make bench-container` prints both).
    assert sizes[tools_image] < sizes[build_image] / 2, sizes


# -- the daemon ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(docker, build_image, shared):
    """The build image as CodeBuild runs it, for this module's builds."""
    started = containers.BuildHost.start(docker, build_image, shared)
    yield started
    started.stop()


def test_start_dockerd_brings_up_the_containerd_image_store(host):
    started = time.monotonic()
    result = host.start_dockerd()
    TIMINGS["start the nested daemon (start-dockerd)"] = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "start-dockerd: dockerd is up" in result.stdout
    assert "storage driver overlayfs" in result.stdout
    assert "legacy image store" not in result.stderr
    status = host.sh("docker info --format '{{json .DriverStatus}}'").stdout
    assert ["driver-type", "io.containerd.snapshotter.v1"] in json.loads(status)


def test_a_dockerd_that_cannot_start_fails_when_it_exits_and_prints_its_log(docker, build_image, shared):
    """Without privileges (a CodeBuild project whose privileged mode is off) dockerd exits at
    once; start-dockerd must say so then, not after its 60 s timeout (which would print "did
    not answer within 60s"). How soon: the session's timings below, not an assertion."""
    unprivileged = containers.BuildHost.start(docker, build_image, shared / "unprivileged", privileged=False)
    try:
        started = time.monotonic()
        result = unprivileged.sh("DOCKERD_TIMEOUT=60 start-dockerd", check=False, timeout=90)
        TIMINGS["an unprivileged dockerd noticed (start-dockerd)"] = time.monotonic() - started
    finally:
        unprivileged.stop()
    assert result.returncode == 1
    assert "did not answer" not in result.stderr
    assert "start-dockerd: dockerd exited with status 1 before answering" in result.stderr
    assert "failed to start daemon" in result.stderr  # the daemon's own last words, from its log


def test_a_data_root_outside_the_volume_is_refused_before_dockerd_starts(host):
    result = host.sh("DOCKERD_DATA_ROOT=/var/lib/not-a-volume start-dockerd", check=False)
    assert result.returncode == 1
    assert "/var/lib/not-a-volume is on the container's own overlayfs filesystem" in result.stderr
    assert "dockerd exited" not in result.stderr


# -- the application build ----------------------------------------------------------------


def test_the_build_runs_with_the_variables_the_pipeline_and_the_project_set():
    """The harness's build environment is the program's own (no names made up for the test)."""
    config = load_config(MINIMAL_RAW)
    build = next(s for s in delivery_blueprint(config, worst_case_refs(config)).stages if s.name == "Build")
    assert json.loads(build.actions[0].configuration["EnvironmentVariables"]) == [
        {"name": "APP_COMMIT", "value": "#{AppSource.CommitId}"}
    ]
    environment = containers.app_build_environment("password", Path("/nowhere"))
    assert environment["DOCKER_HUB_MIRROR"] == f"{REGISTRY}/docker-hub"
    assert environment["BUILD_CACHE_REPOSITORY_URI"] == f"{REGISTRY}/todobackend/build-cache"
    assert environment["ECR_REGISTRY"] == REGISTRY


@pytest.fixture(scope="module")
def registry(host, shared, docker_hub):
    """The loopback registry, seeded with the Docker Hub images the application pulls, and a
    build host with nothing in its daemon, as a fresh CodeBuild host has."""
    started = containers.LoopbackRegistry(shared / "registry")
    started.start(host)
    containers.seed_docker_hub(host, started, docker_hub)
    yield started
    started.stop()


def run_app_buildspec(host, shared, registry, **kwargs):
    started = time.monotonic()
    result = containers.run_app_buildspec(host, shared, registry, **kwargs)
    run = kwargs["run"]
    TIMINGS[f"app buildspec, {run}: whole build"] = time.monotonic() - started
    TIMINGS[f"app buildspec, {run}: build phase (test, release, publish)"] = next(
        c.seconds for c in result.commands if c.command.startswith(containers.BUILD_COMMAND_START)
    )
    return result


FIRST_COMMIT = "8c1d2aa4f0e5b6c7d8e9f00112233445566778899"
SECOND_COMMIT = "5fdbe62e1d2c3b4a5968778695a4b3c2d1e0f9a8b"


@pytest.fixture(scope="module")
def builds(host, shared, registry):
    """The example buildspec three times, each on a daemon with nothing in it: a first build,
    the next commit (the application changed) on a fresh host, and that commit again (an
    infrastructure-only change, or a re-run)."""
    first = run_app_buildspec(host, shared, registry, run="first", commit=FIRST_COMMIT, build_number=1)
    host.wipe_daemon()
    second = run_app_buildspec(
        host, shared, registry, run="second", commit=SECOND_COMMIT, build_number=2, change="the next commit"
    )
    host.wipe_daemon()
    again = run_app_buildspec(
        host, shared, registry, run="again", commit=SECOND_COMMIT, build_number=3, change="the next commit"
    )
    return first, second, again


def test_the_buildspec_tests_builds_publishes_and_emits_the_version(builds, host, registry):
    first = builds[0]
    assert first.succeeded, first.output
    assert first.phases == {"pre_build": "SUCCEEDED", "build": "SUCCEEDED", "post_build": "SUCCEEDED"}
    assert "start-dockerd: dockerd is up" in first.run_of("start-dockerd").output
    assert "Login Succeeded" in first.output
    tests = containers.build_phase(first)
    # The application's suite ran, in the compose test service, against Redis (its server's
    # request log interleaves with unittest's lines: one stream, as in CodeBuild's log).
    assert "Ran 3 tests" in tests and "\nOK" in tests
    assert "test_a_created_todo_is_listed_from_the_database" in tests
    assert '"POST /todos HTTP/1.1" 201' in tests
    # The digest is what the registry itself serves for the tag (its HTTP API, no Docker client).
    served = registry.served_digest(host, "todobackend", "8c1d2aa4f0e5")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", served)
    assert json.loads(first.artifacts["version.json"].read_text()) == {
        "Version": "8c1d2aa4f0e5",
        "Digest": served,
    }
    assert first.exported == {"APP_VERSION": "8c1d2aa4f0e5", "APP_DIGEST": served}
    assert (
        "image-published: 127.0.0.1:5000/todobackend:8c1d2aa4f0e5 is not in the registry yet" in first.output
    )


def test_a_build_on_a_wiped_daemon_starts_cold(builds):
    """Without this the cache test below could not fail: the first build has nothing, in the
    registry or in the daemon (its release build then reuses the base the test build made)."""
    output = containers.make_target_output(builds[0], "test")
    assert not any(step.startswith(BASE_STEP) for step in containers.cached_steps(output))
    assert "failed to configure registry cache importer" in output  # nothing exported yet


def test_the_next_build_on_a_fresh_host_reuses_the_registry_cache_for_test_and_release(
    builds, host, registry
):
    second = builds[1]
    assert second.succeeded, second.output
    for target in ("test", "release"):
        cached = containers.cached_steps(containers.make_target_output(second, target))
        assert any(step.startswith(BASE_STEP) for step in cached), f"make {target}: cached only {cached}"
    # The application changed: its own layer is built again, not taken from the cache.
    tests = containers.make_target_output(second, "test")
    assert not any("COPY todobackend.py" in step for step in containers.cached_steps(tests))
    served = registry.served_digest(host, "todobackend", "5fdbe62e1d2c")
    assert json.loads(second.artifacts["version.json"].read_text()) == {
        "Version": "5fdbe62e1d2c",
        "Digest": served,
    }
    # Another commit, another image: another digest.
    assert served != json.loads(builds[0].artifacts["version.json"].read_text())["Digest"]


def test_the_same_commit_again_is_not_built_but_still_versioned(builds, host, registry):
    """Build once per application commit, against the real registry: the image is there, so
    nothing is tested, built or pushed (the immutable tag would refuse a second push)."""
    again = builds[2]
    assert again.succeeded, again.output
    assert "image-published: 127.0.0.1:5000/todobackend:5fdbe62e1d2c is in the registry" in again.output
    assert "was built and tested before: not building it again" in again.output
    assert not any(
        marker in again.output for marker in ("docker buildx build", "docker push", "docker-compose run")
    )
    # With the digest the registry serves for the tag, though this build pushed nothing and its
    # daemon holds no image.
    served = registry.served_digest(host, "todobackend", "5fdbe62e1d2c")
    assert json.loads(again.artifacts["version.json"].read_text()) == {
        "Version": "5fdbe62e1d2c",
        "Digest": served,
    }
    assert served == json.loads(builds[1].artifacts["version.json"].read_text())["Digest"]


def test_the_published_image_pulls_back_runs_and_passes_the_verify_smoke_test(
    docker, tools_image, host, shared, registry, builds
):
    """What ECS would run: the image from the registry by the digest the build wrote (nothing
    left in the daemon), with its database, answering the smoke test the Verify action runs
    (components/units/verify.py)."""
    assert builds[1].succeeded
    digest = json.loads(builds[1].artifacts["version.json"].read_text())["Digest"]
    image = f"{REGISTRY}/todobackend@{digest}"
    # The buildspec logged out at its end; ECS pulls with its own credentials.
    host.sh(f"docker login --username AWS --password-stdin {REGISTRY}", input=registry.password)
    host.sh(f"docker image rm --force {image} >/dev/null 2>&1 || :; docker pull --quiet {image}")
    redis = f"{REGISTRY}/{containers.DOCKER_HUB_PREFIX}/library/redis:8"
    host.sh(
        "docker network create smoke >/dev/null && "
        f"docker run --detach --network smoke --name db {redis} redis-server --protected-mode no >/dev/null && "
        f"docker run --detach --network smoke --name app --env REDIS_HOST=db --publish 127.0.0.1:8000:8000 {image}"
    )
    smoke_host = None
    try:
        # Up and serving, as CloudFormation waits for an ECS service to stabilise before the
        # Verify action runs.
        host.sh(
            "for i in $(seq 120); do curl -sf http://127.0.0.1:8000/health >/dev/null && exit 0; sleep 0.5; done; exit 1"
        )
        source = containers.checkout(shared, "src-verify")
        verify = json.loads(verify_buildspec())
        environment = {
            **verify_environment(
                environment="production",
                command="make smoke",
                stack_outputs=["ApplicationUrl"],
                timeout_minutes=15,
            ),
            "PATH": containers.SYSTEM_PATH,
            "HOME": "/root",
            "ApplicationUrl": "http://127.0.0.1:8000",
        }
        # The Verify project runs the tools image: here a container of it on the build host's
        # network, where the application answers on loopback.
        smoke_host = containers.BuildHost.start(
            docker, tools_image, shared, privileged=False, volume=False, network_of=host.name
        )
        passed = run_buildspec(
            verify,
            source_dir=source,
            environment=environment,
            state_dir=shared / "verify",
            shell=smoke_host.shell,
        )
        assert passed.succeeded, passed.output
        assert "smoke: GET http://127.0.0.1:8000/todos -> 200" in passed.output
        missing = run_buildspec(
            verify,
            source_dir=source,
            environment={**environment, "SMOKE_PATH": "/no-such-path", "SMOKE_RETRIES": "0"},
            state_dir=shared / "verify-missing",
            shell=smoke_host.shell,
        )
        assert not missing.succeeded
        assert "smoke: GET http://127.0.0.1:8000/no-such-path -> 404" in missing.output
    finally:
        if smoke_host:
            smoke_host.stop()
        host.sh("docker rm --force app db >/dev/null; docker network rm smoke >/dev/null", check=False)


def test_the_stack_recovery_runs_in_the_tools_image(docker, tools_image, shared):
    """The recovery action's buildspec with the tools image's recover-stack, against a stub aws
    holding a stack whose first create failed."""
    from components.stack_recovery import recovery_buildspec

    work, stubs = (shared / "recovery" / d for d in ("work", "bin"))
    for folder in (work, stubs):
        folder.mkdir(parents=True, exist_ok=True)
    (stubs / "aws").write_text(STUB_AWS_STACK)
    (stubs / "aws").chmod(0o755)
    log = shared / "recovery" / "aws.log"
    # Unprivileged, no Docker: as the recovery project runs it on Lambda compute.
    tools = containers.BuildHost.start(docker, tools_image, shared, privileged=False, volume=False)
    try:
        result = run_buildspec(
            recovery_buildspec(), source_dir=work, state_dir=shared / "recovery" / "runner",
            environment={
                "PATH": f"{stubs}:{containers.SYSTEM_PATH}",
                "HOME": "/root",
                "STACK_NAME": "todobackend-prod",
                "STUB_STATUS": "ROLLBACK_COMPLETE",
                "STUB_LOG": str(log),
            },
            shell=tools.shell,
        )  # fmt: skip
    finally:
        tools.stop()
    assert result.succeeded, result.output
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[:2] for c in calls] == [
        ["cloudformation", "describe-stacks"], ["cloudformation", "delete-stack"], ["cloudformation", "wait"],
    ]  # fmt: skip


def test_the_drift_check_runs_in_the_tools_image(docker, tools_image, shared):
    """The drift check's buildspec with the tools image's check-drift (under the image's own
    python3), against a stub aws whose stack has a drifted service."""
    from components.units.drift_check import drift_buildspec
    from tests.support.aws_stubs import DRIFT_AWS

    work, stubs, pages = (shared / "drift" / d for d in ("work", "bin", "pages"))
    for folder in (work, stubs, pages):
        folder.mkdir(parents=True, exist_ok=True)
    (stubs / "aws").write_text(DRIFT_AWS)
    (stubs / "aws").chmod(0o755)
    drift = {
        "LogicalResourceId": "Service",
        "ResourceType": "AWS::ECS::Service",
        "StackResourceDriftStatus": "MODIFIED",
        "PropertyDifferences": [{"PropertyPath": "/DesiredCount", "ExpectedValue": "2", "ActualValue": "5"}],
    }
    (pages / "page-1.json").write_text(json.dumps({"StackResourceDrifts": [drift]}))
    log = shared / "drift" / "aws.log"
    # Unprivileged, no Docker: as the drift project runs it on Lambda compute.
    tools = containers.BuildHost.start(docker, tools_image, shared, privileged=False, volume=False)
    try:
        result = run_buildspec(
            drift_buildspec(), source_dir=work, state_dir=shared / "drift" / "runner",
            environment={
                "PATH": f"{stubs}:{containers.SYSTEM_PATH}",
                "HOME": "/root",
                "STACK_NAME": "todobackend-prod",
                "DRIFT_MODE": "warn",
                "DRIFT_WAIT_SECONDS": "60",
                "DRIFT_POLL_SECONDS": "0",
                "STUB_STATUS": "UPDATE_COMPLETE",
                "STUB_LOG": str(log),
                "STUB_DRIFT_PAGES": str(pages),
            },
            shell=tools.shell,
        )  # fmt: skip
    finally:
        tools.stop()
    assert result.succeeded, result.output
    assert result.exported == {
        "DRIFT_STATUS": "DRIFTED",
        "DRIFTED_COUNT": "1",
        "DRIFT_SUMMARY": "1 drifted: Service MODIFIED (/DesiredCount)",
    }
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # The drifted resources, then those CloudFormation did not check.
    assert [c[1] for c in calls] == [
        "describe-stacks", "detect-stack-drift", "describe-stack-drift-detection-status",
        "describe-stack-resource-drifts", "describe-stack-resource-drifts",
    ]  # fmt: skip
