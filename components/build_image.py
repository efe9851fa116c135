"""`BuildImage`: a custom CodeBuild image built from `build-image/` and pushed to its own ECR
repository. The program declares two: the build image (`Dockerfile`: Docker-in-Docker plus
the build tools, for the application build) and the tools image (`tools.Dockerfile`: AWS CLI,
Python and the project's scripts, no Docker, for the small projects on Lambda compute).

Pull access: the CodeBuild project uses SERVICE_ROLE pull credentials, so the build role
names this repository in its own policy and the repository carries no resource policy. A
repository policy trusting `codebuild.amazonaws.com` would let any CodeBuild project —
in any account, unless conditioned — pull the image; the role-based grant is narrower.

Rebuilds: pulumi-docker rebuilds and pushes whenever any input differs, so every input is
made the same from any checkout: the context and Dockerfile are paths relative to the
project (Pulumi runs the program and its providers there), and the tag is a hash of
exactly the files Docker sends (`.dockerignore` applied: a `__pycache__` left by the tests
changes nothing). If the provider still rebuilds an unchanged context (a new provider
version, another Docker daemon), the push reuses the tag: the repository is therefore
always MUTABLE, which is safe because CodeBuild runs the image pinned by digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.docker_ignore import exclude_paths
from components.image_repository import ImageRepository, ImageRepositoryArgs

PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


def _ignore_patterns(context: Path, dockerfile: str) -> list[str]:
    """The ignore file read as the Docker SDK for Python reads it (docker/api/build.py):
    stripped lines, blanks and comments dropped. The Dockerfile's own `<Dockerfile>.dockerignore`
    beside it comes first, the context's `.dockerignore` otherwise (Docker's documentation,
    "Build context", Dockerfile-specific ignore files)."""
    own = context / f"{dockerfile}.dockerignore"
    ignore_file = own if own.is_file() else context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path, dockerfile: str = "Dockerfile") -> list[Path]:
    """The files of the build context that Docker sends to the daemon, by Docker's own
    `.dockerignore` semantics (the Docker SDK's port of moby's pattern matcher: `*` stops at
    `/`, `**` crosses it, `!` re-includes, the last match wins, the Dockerfile always goes)."""
    sent = exclude_paths(str(context), _ignore_patterns(context, dockerfile), dockerfile=dockerfile)
    return sorted(path for path in (context / p for p in sent) if path.is_file())


def context_digest(context: Path, dockerfile: str = "Dockerfile") -> str:
    """A stable hash of the files Docker would send (relative paths, modes, contents)."""
    digest = hashlib.sha256()
    for path in context_files(context, dockerfile):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildImageArgs:
    repository: ImageRepositoryArgs
    """The ECR repository the image is pushed to (always MUTABLE, see the module doc)."""
    project_dir: Path
    """The Pulumi project folder: where `pulumi up` runs the program and the providers."""
    context: str = "build-image"
    """Docker build context, relative to `project_dir`."""
    dockerfile: str = "Dockerfile"
    """Dockerfile path inside the context."""
    architecture: str = "x86_64"
    """CodeBuild host architecture: `x86_64` (LINUX_CONTAINER) or `arm64` (ARM_CONTAINER)."""


class BuildImage(pulumi.ComponentResource):
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    image_name: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    """`<repository>@sha256:<digest>`: what CodeBuild runs, pinned to exactly what was built."""

    def __init__(self, name: str, args: BuildImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.project_dir / args.context
        if not (context / args.dockerfile).is_file():
            raise ValueError(f"{name}: no Dockerfile at {context / args.dockerfile}")
        if args.repository.immutable_tags:
            raise ValueError(
                f"{name}: its repository must be MUTABLE: a rebuild of unchanged content "
                "pushes the same content-hash tag again, which an IMMUTABLE repository rejects"
            )
        if args.architecture not in PLATFORMS:
            raise ValueError(f"{name}: architecture {args.architecture!r} is not one of {sorted(PLATFORMS)}")
        super().__init__("ecs-delivery:build_image:BuildImage", name, None, opts)
        repository = ImageRepository(f"{name}-ecr", args.repository, opts=pulumi.ResourceOptions(parent=self))
        auth = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        platform = PLATFORMS[args.architecture]
        # The platform is part of the content: the same files built for arm64 are another image.
        tag = hashlib.sha256(f"{context_digest(context, args.dockerfile)}:{platform}".encode()).hexdigest()[
            :16
        ]
        image = docker.Image(
            f"{name}-image",
            image_name=repository.repository_url.apply(lambda url: f"{url}:{tag}"),
            build=docker.DockerBuildArgs(
                # Relative: an absolute path differs between checkouts and would rebuild.
                context=PurePosixPath(args.context).as_posix(),
                dockerfile=(PurePosixPath(args.context) / args.dockerfile).as_posix(),
                platform=platform,
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
            ),
            registry=docker.RegistryArgs(
                server=repository.repository_url,
                username=auth.user_name,
                password=pulumi.Output.secret(auth.password),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repository_arn = repository.repository_arn
        self.repository_url = repository.repository_url
        self.image_name = image.image_name
        self.image_ref = image.repo_digest
        self.register_outputs(
            {
                "repository_arn": self.repository_arn,
                "repository_url": self.repository_url,
                "image_name": self.image_name,
                "image_ref": self.image_ref,
            }
        )
