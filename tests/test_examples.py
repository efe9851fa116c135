"""The app-repo contract as shipped in examples/: the buildspec and the infra files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_buildspec_artifact_is_the_default_version_file_literally():
    # AWS documents no variable expansion in artifacts.files; the path must be literal and
    # match build.versionFile (default version.json). Running it: tests/test_app_buildspec.py.
    buildspec = yaml.safe_load((EXAMPLES / "app-repo" / "buildspec.yml").read_text())
    assert buildspec["artifacts"]["files"] == ["version.json"]


def test_the_build_image_carries_the_daemon_start_the_buildspec_calls():
    buildspec = yaml.safe_load((EXAMPLES / "app-repo" / "buildspec.yml").read_text())
    assert buildspec["phases"]["pre_build"]["commands"][0] == "start-dockerd"
    # Executable, on the PATH (tests/container/ runs each in the built image): the build's own
    # scripts in the build image, the small projects' in the tools image.
    assert copied_scripts("Dockerfile") == [
        "start-dockerd",
        "image-digest",
        "image-published",
        "/usr/local/bin/",
    ]
    assert copied_scripts("tools.Dockerfile") == [
        "review-change-set",
        "recover-stack",
        "verify-environment",
        "record-release",
        "check-drift",
        "/usr/local/bin/",
    ]


def copied_scripts(dockerfile: str) -> list[str]:
    text = (EXAMPLES.parent / "build-image" / dockerfile).read_text()
    (scripts,) = [line.split()[2:] for line in text.splitlines() if line.startswith("COPY --chmod=0755 ")]
    return scripts


def test_infra_example_matches_the_default_contract():
    from tests.support.deploy_requests import load_template

    template = load_template((EXAMPLES / "infra-repo" / "stack.yml").read_text())
    # The five parameters the pipeline sets, under their default names.
    pipeline_set = {
        "ApplicationImageTag",
        "ApplicationImageDigest",
        "ApplicationImageRepository",
        "ApplicationImageRegistry",
        "PermissionsBoundaryArn",
    }
    assert pipeline_set <= set(template["Parameters"])
    for name in ("dev.json", "prod.json"):
        parameters = json.loads((EXAMPLES / "infra-repo" / name).read_text())["Parameters"]
        assert set(parameters) <= set(template["Parameters"])
        # Every parameter without a default is given, except those the pipeline sets.
        required = {k for k, v in template["Parameters"].items() if "Default" not in v}
        assert required - pipeline_set <= set(parameters), name
        assert not pipeline_set & set(parameters), name


MAKEFILE = EXAMPLES / "app-repo" / "Makefile"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def make_version(*settings: str):
    import subprocess

    return subprocess.run(  # noqa: S603
        # --no-print-directory: under another make (MAKELEVEL > 0), make would announce its directory.
        ["make", "-s", "--no-print-directory", "-f", str(MAKEFILE), "version", *settings],
        capture_output=True,
        text=True,
        check=False,
    )


def test_example_makefile_has_the_targets_and_prints_the_version_file():
    targets = {
        line.split(":")[0] for line in MAKEFILE.read_text().splitlines() if re.match(r"^[a-z]+:", line)
    }
    assert {"test", "release", "publish", "clean", "logout", "version"} <= targets
    printed = make_version("APP_VERSION=5fdbe62.17", "VERSION_KEY=Version", f"APP_DIGEST={DIGEST}")
    assert printed.returncode == 0, printed.stderr
    # DIGEST_KEY not given: Digest, as the program's default.
    assert json.loads(printed.stdout) == {"Version": "5fdbe62.17", "Digest": DIGEST}
    printed = make_version("APP_VERSION=5fdbe62.17", "DIGEST_KEY=ImageDigest", f"APP_DIGEST={DIGEST}")
    assert json.loads(printed.stdout) == {"Version": "5fdbe62.17", "ImageDigest": DIGEST}


@pytest.mark.parametrize(
    "digest",
    ["", "sha256:" + "0" * 63, "sha256:" + "A" * 64, "sha512:" + "0" * 64, DIGEST + "0", "5fdbe62.17"],
)
def test_example_makefile_writes_no_version_without_a_digest(digest):
    printed = make_version("APP_VERSION=5fdbe62.17", f"APP_DIGEST={digest}")
    assert printed.returncode != 0
    assert printed.stdout == ""
    assert "no version without its image digest" in printed.stderr


EXAMPLE_STACKS = EXAMPLES / "stacks"


@pytest.mark.parametrize("stack", ["three-environments", "cross-account"])
def test_the_example_stack_files_deploy_what_they_say(stack):
    from offline.program import load_stack_config, run_program
    from tests.conftest import stage_names

    run = run_program(load_stack_config(stack, EXAMPLE_STACKS), stack=stack)
    names = stage_names(run.mocks)
    if stack == "three-environments":
        assert names == [
            "Source", "Build", "dev",
            "staging-plan", "staging-approval", "staging",
            "production-plan", "production-approval", "production",
        ]  # fmt: skip
    else:
        assert names == ["Source", "Build", "dev", "production-plan", "production-approval", "production"]
        roles = [r.name for r in run.mocks.resources if r.type == "aws:iam/role:Role"]
        assert {"production-action-role", "production-reader-role", "production-recover-role"} <= set(roles)
