"""BuildImage and ImageRepository: what the ECR repository, its lifecycle and the Docker
image are declared with."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from components.build_image import BuildImage, BuildImageArgs, context_digest, context_files
from components.image_repository import ImageRepositoryArgs
from tests.conftest import all_of, declare, is_secret_output, only, resolve

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUILD_CONTEXT = PROJECT_DIR / "build-image"


def build(
    mocks,
    protect: bool = True,
    immutable: bool = False,
    project_dir: Path = PROJECT_DIR,
    architecture="x86_64",
):
    holder = {}

    def program():
        holder["image"] = BuildImage(
            "build-image",
            BuildImageArgs(
                repository=ImageRepositoryArgs(
                    repository_name="todobackend/codebuild",
                    untagged_expiry_days=7,
                    max_image_count=25,
                    immutable_tags=immutable,
                    protect=protect,
                ),
                project_dir=project_dir,
                architecture=architecture,
            ),
        )

    declare(program)
    return holder["image"]


def test_repository_scans_on_push_and_is_protected_in_prod(mocks):
    build(mocks, protect=True)
    repo = only(mocks, "aws:ecr/repository:Repository")
    assert repo.inputs["name"] == "todobackend/codebuild"
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["imageTagMutability"] == "MUTABLE"
    assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert repo.inputs["forceDelete"] is False
    assert repo.protect is True


def test_unprotected_repository_can_be_torn_down_with_its_images(mocks):
    build(mocks, protect=False)
    repo = only(mocks, "aws:ecr/repository:Repository")
    assert repo.inputs["forceDelete"] is True
    assert repo.protect is False


def test_an_immutable_build_image_repository_is_refused_before_anything_is_declared(mocks):
    # A rebuild of unchanged content pushes the same content-hash tag again; ECR rejects
    # that in an IMMUTABLE repository.
    with pytest.raises(ValueError, match="must be MUTABLE"):
        build(mocks, immutable=True)
    assert mocks.resources == []


def test_lifecycle_expires_untagged_images_and_caps_the_count(mocks):
    build(mocks)
    lifecycle = only(mocks, "aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.parent_urn.endswith("build-image-ecr")
    rules = json.loads(lifecycle.inputs["policy"])["rules"]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert rules[1]["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 25,
    }
    assert all(rule["action"] == {"type": "expire"} for rule in rules)
    assert [rule["rulePriority"] for rule in rules] == [1, 2]


def test_pull_access_is_granted_to_the_build_role_not_by_a_repository_policy(mocks):
    build(mocks)
    assert all_of(mocks, "aws:ecr/repositoryPolicy:RepositoryPolicy") == []


def test_image_is_built_for_codebuild_hosts_and_pushed_with_an_ecr_token(mocks):
    image = build(mocks)
    docker_image = only(mocks, "docker:index/image:Image")
    repo_url = only(mocks, "aws:ecr/repository:Repository").state["repositoryUrl"]
    tag = hashlib.sha256(f"{context_digest(BUILD_CONTEXT)}:linux/amd64".encode()).hexdigest()[:16]
    assert docker_image.inputs["imageName"] == f"{repo_url}:{tag}"
    assert docker_image.inputs["build"]["platform"] == "linux/amd64"
    # Relative to the project, where Pulumi runs the provider: the same from any checkout.
    assert docker_image.inputs["build"]["context"] == "build-image"
    assert docker_image.inputs["build"]["dockerfile"] == "build-image/Dockerfile"
    registry = docker_image.inputs["registry"]
    assert registry["server"] == repo_url
    assert registry["username"] == "AWS"
    assert registry["password"] == "eyJwYXlsb2FkIjoiZXhhbXBsZSJ9"
    # The ECR token travels as a secret (and with it the registry block), never in plain state.
    assert docker_image.masked_inputs["registry"] == "[secret]"
    # The token is asked for the repository's own registry.
    token_calls = [a for t, a in mocks.invokes if t == "aws:ecr/getAuthorizationToken:getAuthorizationToken"]
    assert token_calls and token_calls[0]["registryId"] == "123456789012"
    assert not is_secret_output(image.image_ref)


def test_image_reference_is_pinned_by_digest(mocks):
    image = build(mocks)
    repo_url = only(mocks, "aws:ecr/repository:Repository").state["repositoryUrl"]
    ref = resolve(image.image_ref)
    assert ref.startswith(f"{repo_url}@sha256:")
    assert len(ref.split("@sha256:")[1]) == 64


def test_a_change_in_the_build_context_gives_a_new_image_and_none_otherwise(tmp_path):
    context = tmp_path / "build-image"
    shutil.copytree(BUILD_CONTEXT, context)
    first = context_digest(context)
    assert context_digest(context) == first  # unchanged context: same tag, nothing to rebuild
    (context / "Dockerfile").write_text((context / "Dockerfile").read_text() + "\nLABEL x=y\n")
    changed = context_digest(context)
    assert changed != first
    (context / "start-dockerd").chmod(0o644)  # Docker sends file modes: a mode is content
    assert context_digest(context) not in (first, changed)


def _checkout(root: Path) -> Path:
    """A copy of the project's build-image/ at another absolute path."""
    shutil.copytree(BUILD_CONTEXT, root / "build-image", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_same_content_from_two_checkouts_and_with_stray_files_gives_identical_docker_inputs(tmp_path):
    from offline.mocks import RecordingMocks

    laptop = _checkout(tmp_path / "home" / "dev" / "ecs-delivery")
    runner = _checkout(tmp_path / "runner" / "work" / "ecs-delivery" / "ecs-delivery")
    # What the tests and editors leave behind in a checkout.
    (runner / "build-image" / "__pycache__").mkdir()
    (runner / "build-image" / "__pycache__" / "changeset_report.cpython-311.pyc").write_bytes(b"\x00compiled")
    (runner / "build-image" / "Dockerfile~").write_text("editor backup")
    inputs = []
    for project_dir in (laptop, runner):
        mocks = RecordingMocks()
        _install(mocks)
        build(mocks, project_dir=project_dir)
        inputs.append(only(mocks, "docker:index/image:Image").inputs)
    assert inputs[0] == inputs[1]
    # The stray files are exactly what .dockerignore keeps out of the context Docker sends
    # (Docker always sends the Dockerfile and the .dockerignore itself).
    sent = {p.name for p in context_files(runner / "build-image")}
    assert sent == {
        ".dockerignore", "Dockerfile", "daemon.json", "image-digest", "image-published", "start-dockerd",
    }  # fmt: skip


def test_each_image_hashes_only_the_files_its_own_ignore_file_lets_through(tmp_path):
    """Dockerfile.dockerignore and tools.Dockerfile.dockerignore (Docker reads the file named
    after the Dockerfile first): the tools image's scripts are not the build image's content,
    and the build image's daemon script is not the tools image's."""
    context = _checkout(tmp_path) / "build-image"
    assert {p.name for p in context_files(context, "tools.Dockerfile")} == {
        ".dockerignore", "tools.Dockerfile", "changeset_report.py", "check-drift", "record-release", "recover-stack",
        "release_gate.py", "review-change-set", "verify-environment",
    }  # fmt: skip
    build, tools = context_digest(context), context_digest(context, "tools.Dockerfile")
    (context / "start-dockerd").write_text((context / "start-dockerd").read_text() + "\n# changed\n")
    assert context_digest(context, "tools.Dockerfile") == tools
    assert context_digest(context) != build
    build = context_digest(context)
    (context / "review-change-set").write_text((context / "review-change-set").read_text() + "\n# changed\n")
    assert context_digest(context) == build
    assert context_digest(context, "tools.Dockerfile") != tools


def test_the_tools_image_is_built_from_its_own_dockerfile_in_the_same_context(mocks):
    holder = {}

    def program():
        holder["image"] = BuildImage(
            "tools-image",
            BuildImageArgs(
                repository=ImageRepositoryArgs(
                    repository_name="todobackend/codebuild-tools", untagged_expiry_days=7, max_image_count=25
                ),
                project_dir=PROJECT_DIR,
                dockerfile="tools.Dockerfile",
                architecture="arm64",
            ),
        )

    declare(program)
    docker_image = only(mocks, "docker:index/image:Image")
    assert docker_image.inputs["build"]["context"] == "build-image"
    assert docker_image.inputs["build"]["dockerfile"] == "build-image/tools.Dockerfile"
    # One platform: Lambda compute refuses a multi-architecture image.
    assert docker_image.inputs["build"]["platform"] == "linux/arm64"
    tag = hashlib.sha256(
        f"{context_digest(BUILD_CONTEXT, 'tools.Dockerfile')}:linux/arm64".encode()
    ).hexdigest()[:16]
    assert docker_image.inputs["imageName"].endswith(f"/todobackend/codebuild-tools:{tag}")


def test_context_matching_follows_docker_where_fnmatch_did_not(tmp_path):
    """Docker's `*` stops at `/` and `**` crosses it. fnmatch's `*` crossed `/`: `*.md` would
    have dropped `docs/guide.md`, which Docker sends, and the image hash would have missed it."""
    context = tmp_path / "context"
    for name in ("Dockerfile", "README.md", "docs/guide.md", "src/app.py", "src/cache/x.pyc"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    (context / ".dockerignore").write_text("# comments and blank lines are ignored\n\n*.md\n**/*.pyc\n")
    sent = {p.relative_to(context).as_posix() for p in context_files(context)}
    assert sent == {".dockerignore", "Dockerfile", "docs/guide.md", "src/app.py"}


def test_arm64_builds_another_image_for_arm_hosts(mocks):
    build(mocks, architecture="arm64")
    docker_image = only(mocks, "docker:index/image:Image")
    assert docker_image.inputs["build"]["platform"] == "linux/arm64"
    x86_tag = hashlib.sha256(f"{context_digest(BUILD_CONTEXT)}:linux/amd64".encode()).hexdigest()[:16]
    assert not docker_image.inputs["imageName"].endswith(f":{x86_tag}")


def _install(mocks):
    import pulumi
    from pulumi.runtime import settings as pulumi_settings

    from offline.mocks import RecordingMonitor

    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project="ecs-delivery", stack="test", preview=False, monitor=RecordingMonitor(mocks)
    )


def test_missing_dockerfile_is_reported_before_anything_is_declared(mocks, tmp_path):
    (tmp_path / "build-image").mkdir()
    with pytest.raises(ValueError, match="no Dockerfile"):
        build(mocks, project_dir=tmp_path)
    assert mocks.resources == []
