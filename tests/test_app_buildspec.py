"""The example application buildspec, run as CodeBuild runs it (tests/support/buildspec.py)
with the example Makefile and the build image's real `start-dockerd`, against stub
`dockerd`, `docker`, `docker-compose`, `stat` and `aws` that record every call in order.
Fast, and exact about the order and arguments of every call; tests/container/ runs the same
files against a real Docker daemon and registry."""

from __future__ import annotations

import json

import pytest

from tests.support.app_build import APP, REGISTRY, registry_digest, run_app_build

IMAGE = f"{REGISTRY}/todobackend:8c1d2aa4f0e5"


@pytest.fixture
def build(tmp_path):
    def run(**settings):
        built = run_app_build(tmp_path, settings)
        return built.result, built.calls

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
    assert "--tag todobackend-test:8c1d2aa4f0e5" in test_build
    assert first(calls, "docker buildx build") < first(calls, "docker-compose run --rm test")
    assert done[first(calls, "docker-compose run")] == "docker-compose run --rm test"
    # The tag: the pipeline's commit (not CodeBuild's), its first 12 characters, nothing else;
    # asked of the registry before anything is built.
    assert f"docker buildx imagetools inspect {REGISTRY}/todobackend:8c1d2aa4f0e5" in done
    assert first(calls, "docker buildx imagetools") < first(calls, "docker buildx build")
    assert f"--tag {REGISTRY}/todobackend:8c1d2aa4f0e5" in release_build
    assert done[first(calls, "docker push")] == f"docker push {REGISTRY}/todobackend:8c1d2aa4f0e5"
    # The digest is the registry's, asked after the push (the stub registry serves each image
    # under a digest derived from its name: tests/support/app_build.py).
    inspects = [i for i, line in enumerate(done) if line == f"docker buildx imagetools inspect {IMAGE}"]
    assert len(inspects) == 2 and inspects[0] < first(calls, "docker push") < inspects[1]
    digest = registry_digest(IMAGE)
    assert result.exported == {"APP_VERSION": "8c1d2aa4f0e5", "APP_DIGEST": digest}
    assert list(result.artifacts) == ["version.json"]
    assert json.loads(result.artifacts["version.json"].read_text()) == {
        "Version": "8c1d2aa4f0e5",
        "Digest": digest,
    }
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
    # Noticed because it exited: after the wait it would say "did not answer within 60s".
    # How soon is a number of `make bench`, not an assertion here.
    assert "did not answer" not in start.output
    assert not any(line.startswith("docker login") for line in lines(calls))


def test_a_daemon_that_never_answers_is_given_up_after_the_timeout_with_its_log(build):
    result, _ = build(STUB_DOCKERD="hangs", DOCKERD_TIMEOUT="1")
    assert result.phases["pre_build"] == "FAILED"
    start = result.run_of("start-dockerd")
    # Given up on at the timeout, not when the stub daemon exits by itself 4 s later (which
    # would read "exited with status 0"); how long it took is `make bench`'s number.
    assert "dockerd did not answer within 1s" in start.output
    assert "exited" not in start.output


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


def test_the_commit_falls_back_to_codebuild_and_an_empty_one_fails(build):
    result, _ = build(APP_COMMIT=None)
    assert result.exported["APP_VERSION"] == "0000000aaaaa"
    result, calls = build(APP_COMMIT=None, CODEBUILD_RESOLVED_SOURCE_VERSION="")
    assert result.phases["pre_build"] == "FAILED"
    assert "no commit: neither APP_COMMIT nor CODEBUILD_RESOLVED_SOURCE_VERSION is set" in result.output
    assert not any(line.startswith(("docker buildx", "docker push")) for line in lines(calls))


def test_a_commit_already_in_the_registry_is_not_tested_built_or_pushed_again(build):
    """Build once per application commit: the same commit (an infrastructure-only change, a
    re-run) deploys the image already published, which an immutable tag could not take again.
    Its version carries the digest the registry serves for the tag (here one the registry
    says, not the one the stub would derive), under `Digest` when the project sets no
    DIGEST_KEY (a project declared before it existed)."""
    served = "sha256:" + "ab" * 32
    result, calls = build(STUB_PUBLISHED=IMAGE, STUB_DIGESTS=json.dumps({IMAGE: served}), DIGEST_KEY=None)
    assert result.succeeded, result.output
    done = lines(calls)
    assert not any(
        line.startswith(("docker buildx build", "docker push", "docker-compose run")) for line in done
    )
    assert f"{IMAGE} was built and tested before: not building it again" in result.output
    assert f"image-published: {IMAGE} is in the registry ({served})" in result.output
    # The version is emitted all the same: the deploy stages read it.
    assert json.loads(result.artifacts["version.json"].read_text()) == {
        "Version": "8c1d2aa4f0e5",
        "Digest": served,
    }
    assert result.exported == {"APP_VERSION": "8c1d2aa4f0e5", "APP_DIGEST": served}


def test_the_digest_goes_under_the_projects_digest_key(build):
    result, _ = build(STUB_PUBLISHED=IMAGE, DIGEST_KEY="ImageDigest")
    assert result.succeeded, result.output
    assert json.loads(result.artifacts["version.json"].read_text()) == {
        "Version": "8c1d2aa4f0e5",
        "ImageDigest": registry_digest(IMAGE),
    }


def test_a_registry_that_cannot_answer_for_the_pushed_image_fails_the_build_without_a_version(build):
    result, calls = build(STUB_REGISTRY="down-after-push")
    assert result.phases == {"pre_build": "SUCCEEDED", "build": "SUCCEEDED", "post_build": "FAILED"}
    assert not result.succeeded
    assert [line for line in lines(calls) if line.startswith("docker push")] == [f"docker push {IMAGE}"]
    assert f"image-digest: cannot ask the registry about {IMAGE}" in result.output
    assert "i/o timeout" in result.output
    assert "version.json" not in result.artifacts
    assert not result.exported.get("APP_DIGEST")


def test_a_published_tag_answered_without_a_digest_fails_the_build_before_anything_is_built(build):
    result, calls = build(STUB_PUBLISHED=IMAGE, STUB_DIGESTS=json.dumps({IMAGE: ""}))
    assert result.phases == {"pre_build": "FAILED", "build": "SKIPPED", "post_build": "SKIPPED"}
    assert f"image-digest: the registry's answer about {IMAGE} carries no sha256 digest" in result.output
    assert f"image-published: cannot ask the registry about {IMAGE}" in result.output
    # Neither built and pushed as if it were new, nor versioned.
    assert not any(line.startswith(("docker buildx build", "docker push")) for line in lines(calls))
    assert "version.json" not in result.artifacts


def test_a_makefile_that_writes_no_digest_fails_the_version_check(tmp_path):
    """An application Makefile from before the digest (its `version` prints the tag alone):
    the buildspec's check of the version file fails the build, not the release later."""
    makefile = (APP / "Makefile").read_text()
    recipe_start = makefile.index("version:\n") + len("version:\n")
    recipe_end = makefile.index("\n\n", recipe_start)
    older = (
        makefile[:recipe_start]
        + """\t@printf '{"%s": "%s"}\\n' "$(VERSION_KEY)" "$(APP_VERSION)"\n"""
        + makefile[recipe_end + 1 :]
    )
    built = run_app_build(tmp_path, {"STUB_PUBLISHED": IMAGE}, makefile=older)
    assert built.result.phases["post_build"] == "FAILED"
    assert json.loads((tmp_path / "src" / "version.json").read_text()) == {"Version": "8c1d2aa4f0e5"}
    (check,) = [c for c in built.result.commands if c.command.startswith("jq -e")]
    assert check.returncode != 0


def test_a_registry_that_cannot_be_asked_fails_the_build_instead_of_guessing(build):
    result, calls = build(STUB_REGISTRY="down")
    assert result.phases == {"pre_build": "FAILED", "build": "SKIPPED", "post_build": "SKIPPED"}
    assert "image-published: cannot ask the registry about" in result.output
    assert "i/o timeout" in result.output
    assert not any(line.startswith(("docker buildx build", "docker push")) for line in lines(calls))


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
