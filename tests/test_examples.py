"""The app-repo contract as shipped in examples/: the buildspec and the infra files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def buildspec() -> dict:
    return yaml.safe_load((EXAMPLES / "app-repo" / "buildspec.yml").read_text())


def commands(phase: str, part: str = "commands") -> list[str]:
    return buildspec()["phases"][phase][part]


def test_buildspec_starts_dockerd_itself_and_waits_busybox_style():
    pre = commands("pre_build")
    assert pre[0].startswith("nohup dockerd-entrypoint.sh dockerd")
    assert pre[0].rstrip().endswith("&")
    wait = pre[1]
    assert re.match(r"timeout \d+ sh -c 'until docker info", wait)
    assert "timeout -t" not in wait


def test_buildspec_logs_in_with_get_login_password():
    login = next(c for c in commands("pre_build") if "docker login" in c)
    assert "aws ecr get-login-password" in login
    assert '"$ECR_REGISTRY"' in login
    assert "get-login " not in login


def test_buildspec_runs_the_makefile_targets_in_order():
    assert commands("build") == ["make test", "make release", "make publish"]
    assert commands("post_build", "finally") == ["make clean || true", "make logout || true"]


def test_buildspec_writes_the_version_file_as_its_artifact():
    post = commands("post_build")
    assert post[0] == 'make version > "$VERSION_FILE"'
    assert buildspec()["artifacts"]["files"] == ["$VERSION_FILE"]


def test_infra_example_matches_the_default_contract():
    template = yaml.safe_load(
        (EXAMPLES / "infra-repo" / "stack.yml").read_text().replace("!", "")  # tags are irrelevant here
    )
    # The three parameters the pipeline sets, under their default names.
    assert {"ApplicationImageTag", "ApplicationImageRepository", "PermissionsBoundaryArn"} <= set(
        template["Parameters"]
    )
    for name in ("dev.json", "prod.json"):
        parameters = json.loads((EXAMPLES / "infra-repo" / name).read_text())["Parameters"]
        assert set(parameters) <= set(template["Parameters"])
        # Every parameter without a default is given, except those the pipeline sets.
        required = {k for k, v in template["Parameters"].items() if "Default" not in v}
        pipeline_set = {"ApplicationImageTag", "ApplicationImageRepository", "PermissionsBoundaryArn"}
        assert required - pipeline_set <= set(parameters), name
        assert not pipeline_set & set(parameters), name


def test_example_makefile_has_the_targets_and_prints_the_version_file():
    import subprocess

    makefile = EXAMPLES / "app-repo" / "Makefile"
    targets = {
        line.split(":")[0] for line in makefile.read_text().splitlines() if re.match(r"^[a-z]+:", line)
    }
    assert {"test", "release", "publish", "clean", "logout", "version"} <= targets
    printed = subprocess.run(  # noqa: S603
        ["make", "-s", "-f", str(makefile), "version", "APP_VERSION=5fdbe62.17", "VERSION_KEY=Version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == {"Version": "5fdbe62.17"}
