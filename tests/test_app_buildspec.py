"""The example application buildspec, run as CodeBuild runs it (tests/support/buildspec.py)
with the example Makefile and the build image's real `start-dockerd`, against stub
`dockerd`, `docker`, `docker-compose`, `stat` and `aws` that record every call in order.
Fast, and exact about the order and arguments of every call; tests/container/ runs the same
files against a real Docker daemon and registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.buildspec import run_buildspec, stub_environment

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "app-repo"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

# One stub for every command: record argv (and whether a password came on stdin), then
# behave as the real command would for this build, failing where STUB_FAIL says.
STUB = r"""#!/usr/bin/env python3
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
call = {"cmd": name, "args": args}
if name == "dockerd":
    cgroup = os.environ.get("DOCKERD_CGROUP_ROOT", "")
    call["cgroup_nested"] = os.path.exists(os.path.join(cgroup, "init", "cgroup.procs"))
if "--password-stdin" in args:
    call["password_on_stdin"] = bool(sys.stdin.read().strip())
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(call) + "\n")
line = " ".join([name, *args])
for prefix in filter(None, os.environ.get("STUB_FAIL", "").split(";")):
    if line.startswith(prefix):
        sys.exit(f"stub: {line} fails")
state = os.environ["STUB_STATE"]
if name == "dockerd":
    if os.environ.get("STUB_DOCKERD") == "broken":
        print("failed to start daemon: Error initializing network controller: iptables: Permission denied")
        sys.exit(1)
    if os.environ.get("STUB_DOCKERD") == "hangs":
        import time
        time.sleep(4)
        sys.exit(0)
    open(os.path.join(state, "dockerd.up"), "w").close()
    # A daemon keeps running: start-dockerd treats a dockerd that has exited as dead.
    import time
    time.sleep(3)
elif name == "docker" and args[:1] == ["info"]:
    if not os.path.exists(os.path.join(state, "dockerd.up")):
        sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
    if "{{.Driver}}" in args:
        print(os.environ.get("STUB_DRIVER", "overlayfs"))
    elif any("DriverStatus" in a for a in args):
        print(os.environ.get("STUB_DRIVER_TYPE", "io.containerd.snapshotter.v1"))
elif name == "stat":
    print(os.environ.get("STUB_FILESYSTEM", "ext2/ext3"))
elif name == "aws" and args[:2] == ["ecr", "get-login-password"]:
    print("eyJwYXlsb2FkIjoiZWNyIn0=")
"""


@pytest.fixture
def build(tmp_path):
    def run(**settings):
        bin_dir, source, state = tmp_path / "bin", tmp_path / "src", tmp_path / "state"
        for folder in (bin_dir, source, state):
            shutil.rmtree(folder, ignore_errors=True)  # a fresh build each time
            folder.mkdir()
        (tmp_path / "calls.log").unlink(missing_ok=True)
        for name in ("dockerd", "docker", "docker-compose", "stat", "aws"):
            (bin_dir / name).write_text(STUB)
            (bin_dir / name).chmod(0o755)
        shutil.copy(ROOT / "build-image" / "start-dockerd", bin_dir / "start-dockerd")
        shutil.copy(APP / "Makefile", source / "Makefile")
        environment = {
            "STUB_LOG": str(tmp_path / "calls.log"),
            "STUB_STATE": str(state),
            "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
            "DOCKERD_TIMEOUT": "3",
            "DOCKERD_DATA_ROOT": str(tmp_path / "docker"),
            # A cgroup v1 host, as these machines are: no cgroup.controllers file.
            "DOCKERD_CGROUP_ROOT": str(tmp_path / "no-cgroup2"),
            "AWS_REGION": "eu-west-1",
            "CODEBUILD_BUILD_NUMBER": "17",
            "CODEBUILD_RESOLVED_SOURCE_VERSION": "0000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "APP_COMMIT": "8c1d2aa4f0e5b6c7d8e9f00112233445566778899",
            "ECR_REGISTRY": REGISTRY,
            "IMAGE_REPOSITORY_URI": f"{REGISTRY}/todobackend",
            "BUILD_CACHE_REPOSITORY_URI": f"{REGISTRY}/todobackend/build-cache",
            "VERSION_KEY": "Version",
        }
        environment.update({k: v for k, v in settings.items() if v is not None})
        for key in [k for k, v in settings.items() if v is None]:
            environment.pop(key, None)
        result = run_buildspec(
            (APP / "buildspec.yml").read_text(),
            source_dir=source,
            environment=stub_environment(bin_dir, environment),
            state_dir=tmp_path / "runner",
        )
        log = tmp_path / "calls.log"
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return result, calls

    return run


def lines(calls) -> list[str]:
    return [" ".join([c["cmd"], *c["args"]]) for c in calls]


def first(calls, prefix: str) -> int:
    return next(i for i, line in enumerate(lines(calls)) if line.startswith(prefix))


def test_a_good_build_starts_the_daemon_logs_in_builds_with_the_cache_and_writes_its_version(build, tmp_path):
    result, calls = build()
    assert result.succeeded, result.output
    assert result.phases == {"pre_build": "SUCCEEDED", "build": "SUCCEEDED", "post_build": "SUCCEEDED"}
    done = lines(calls)
    # dockerd directly, once, on its data root, before any login (the first `docker info`
    # may run before it: that is the wait loop). Its settings are the image's daemon.json.
    assert [line for line in done if line.startswith("dockerd")] == [
        f"dockerd --data-root={tmp_path / 'docker'}"
    ]
    assert first(calls, "stat") < first(calls, "dockerd") < first(calls, "docker login")
    assert first(calls, "docker info") < first(calls, "docker login")
    assert "start-dockerd: dockerd is up" in result.output
    assert "legacy image store" not in result.output
    login = calls[first(calls, "docker login")]
    assert login["args"] == ["login", "--username", "AWS", "--password-stdin", REGISTRY]
    assert login["password_on_stdin"] is True
    builds = [line for line in done if line.startswith("docker buildx build")]
    assert first(calls, "docker login") < first(calls, "docker buildx build")
    cache = f"{REGISTRY}/todobackend/build-cache"
    # The test image first, with its own registry cache (compose's build would read none),
    # then the release image with another: neither export overwrites the other's layers.
    test_build, release_build = builds
    for build_line, target in ((test_build, "test"), (release_build, "release")):
        assert f"--target {target}" in build_line
        assert f"--cache-from type=registry,ref={cache}:{target}" in build_line
        assert (
            f"--cache-to type=registry,ref={cache}:{target},mode=max,image-manifest=true,oci-mediatypes=true"
            in build_line
        )
        assert "--progress=plain" in build_line
        assert "--pull" not in build_line
        assert build_line.endswith("--load .")
    assert "--tag todobackend-test:8c1d2aa.17" in test_build
    assert first(calls, "docker buildx build") < first(calls, "docker-compose run --rm test")
    assert done[first(calls, "docker-compose run")] == "docker-compose run --rm test"
    # The tag: the pipeline's commit (not CodeBuild's), then the build number.
    assert f"--tag {REGISTRY}/todobackend:8c1d2aa.17" in release_build
    assert done[first(calls, "docker push")] == f"docker push {REGISTRY}/todobackend:8c1d2aa.17"
    assert result.exported == {"APP_VERSION": "8c1d2aa.17"}
    assert list(result.artifacts) == ["version.json"]
    assert json.loads(result.artifacts["version.json"].read_text()) == {"Version": "8c1d2aa.17"}
    # Cleanup and logout always run, last.
    assert done[-2:] == ["docker-compose down --volumes --remove-orphans", f"docker logout {REGISTRY}"]


def test_a_failed_test_publishes_nothing_and_writes_no_version(build):
    result, calls = build(STUB_FAIL="docker-compose run")
    assert result.phases == {"pre_build": "SUCCEEDED", "build": "FAILED", "post_build": "FAILED"}
    assert not result.succeeded
    assert not any(line.startswith("docker push") or "--target release" in line for line in lines(calls))
    assert "version.json" not in result.artifacts
    assert "the build failed: no version.json" in result.output
    assert lines(calls)[-1] == f"docker logout {REGISTRY}"


def test_a_daemon_that_exits_at_start_fails_the_build_at_once_with_its_log(build):
    result, calls = build(STUB_DOCKERD="broken", DOCKERD_TIMEOUT="60")
    assert result.phases == {"pre_build": "FAILED", "build": "SKIPPED", "post_build": "SKIPPED"}
    assert result.upload == "SKIPPED"
    start = result.run_of("start-dockerd")
    assert "dockerd exited with status 1 before answering" in start.output
    assert "privileged mode" in start.output
    assert "iptables: Permission denied" in start.output  # its log, printed
    # Noticed when it exits, not after the 60 s the wait would allow.
    assert start.seconds < 5
    assert not any(line.startswith("docker login") for line in lines(calls))


def test_a_daemon_that_never_answers_is_given_up_after_the_timeout_with_its_log(build):
    result, _ = build(STUB_DOCKERD="hangs", DOCKERD_TIMEOUT="1")
    assert result.phases["pre_build"] == "FAILED"
    start = result.run_of("start-dockerd")
    assert "dockerd did not answer within 1s" in start.output
    assert start.seconds < 3


def test_a_data_root_on_the_container_filesystem_is_refused_before_dockerd_starts(build):
    result, calls = build(STUB_FILESYSTEM="overlayfs")
    assert result.phases["pre_build"] == "FAILED"
    assert "is on the container's own overlayfs filesystem; the daemon needs it on a volume" in result.output
    assert not any(line.startswith("dockerd") for line in lines(calls))


def test_the_legacy_image_store_is_reported_because_the_registry_cache_would_fail(build):
    result, _ = build(STUB_DRIVER="overlay2", STUB_DRIVER_TYPE="")
    assert result.succeeded, result.output
    assert "the legacy image store is in use; BuildKit cannot export a registry cache" in result.output


def test_on_cgroup_v2_the_container_nests_its_processes_and_delegates_the_controllers(build, tmp_path):
    """Docker's own dind script does this (moby hack/dind); these machines are cgroup v1, so a
    fake cgroup v2 root stands in: a procs file takes one PID per write, as the kernel's does."""
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.procs").write_text("1\n7\n42\n")
    (root / "cgroup.subtree_control").write_text("")
    result, calls = build(DOCKERD_CGROUP_ROOT=str(root))
    assert result.succeeded, result.output
    assert (root / "init" / "cgroup.procs").read_text() == "1\n7\n42\n"
    assert (root / "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +memory +pids\n"
    assert "controllers enabled: +cpuset +cpu +io +memory +pids" in result.run_of("start-dockerd").output
    # Before the daemon starts: it creates its cgroups under the delegated controllers.
    assert calls[first(calls, "dockerd")]["cgroup_nested"] is True


def test_on_cgroup_v1_nothing_is_moved(build, tmp_path):
    result, calls = build()
    assert result.succeeded, result.output
    assert not (tmp_path / "no-cgroup2").exists()
    assert calls[first(calls, "dockerd")]["cgroup_nested"] is False
    assert "cgroup v2" not in result.output


def test_the_commit_falls_back_to_codebuild_and_never_yields_a_bare_build_number(build):
    result, _ = build(APP_COMMIT=None)
    assert result.exported == {"APP_VERSION": "0000000.17"}
    result, calls = build(APP_COMMIT=None, CODEBUILD_RESOLVED_SOURCE_VERSION="")
    assert result.phases["pre_build"] == "FAILED"
    assert "no commit: neither APP_COMMIT nor CODEBUILD_RESOLVED_SOURCE_VERSION is set" in result.output
    assert not any(".17" in line for line in lines(calls))


def test_docker_hub_login_and_mirror_when_the_project_provides_them(build):
    result, calls = build(
        DOCKERHUB_USERNAME="acme-ci",
        DOCKERHUB_TOKEN="dckr_pat_example",
        DOCKER_HUB_MIRROR=f"{REGISTRY}/docker-hub",
    )
    assert result.succeeded, result.output
    logins = [c for c in calls if c["args"][:1] == ["login"]]
    assert [c["args"] for c in logins] == [
        ["login", "--username", "AWS", "--password-stdin", REGISTRY],
        ["login", "--username", "acme-ci", "--password-stdin"],
    ]
    assert all(c["password_on_stdin"] for c in logins)
    builds = [line for line in lines(calls) if line.startswith("docker buildx build")]
    assert len(builds) == 2
    assert all(f"--build-arg BASE_REGISTRY={REGISTRY}/docker-hub" in line for line in builds)


def test_without_options_the_build_pulls_from_docker_hub_and_caches_nothing_remotely(build):
    result, calls = build(BUILD_CACHE_REPOSITORY_URI=None)
    assert result.succeeded, result.output
    builds = [line for line in lines(calls) if line.startswith("docker buildx build")]
    assert len(builds) == 2
    assert all("--cache-" not in line for line in builds)
    assert all("--build-arg BASE_REGISTRY=docker.io" in line for line in builds)
    assert len([c for c in calls if c["args"][:1] == ["login"]]) == 1
