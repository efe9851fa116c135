"""`BuildImage`: the custom CodeBuild image (Docker-in-Docker plus the build tools), built
from `build-image/` for linux/amd64 and pushed to its own ECR repository.

Pull access: the CodeBuild project uses SERVICE_ROLE pull credentials, so the build role
names this repository in its own policy and the repository carries no resource policy. A
repository policy trusting `codebuild.amazonaws.com` would let any CodeBuild project —
in any account, unless conditioned — pull the image; the role-based grant is narrower.

Rebuilds: the image tag is a hash of the build context's files. An unchanged context
gives the same image name and the same context hash in the Docker provider's inputs, so
`pulumi up` has nothing to do; any change in `build-image/` gives a new tag, so a new
image is built, pushed and pinned by digest in the CodeBuild project.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.image_repository import ImageRepository, ImageRepositoryArgs


def context_digest(context: Path) -> str:
    """A stable hash of every file in the build context (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildImageArgs:
    repository: ImageRepositoryArgs
    """The ECR repository the image is pushed to."""
    context: Path
    """Docker build context (the project's `build-image/`)."""
    dockerfile: str = "Dockerfile"
    """Dockerfile path inside the context."""
    platform: str = "linux/amd64"
    """CodeBuild LINUX_CONTAINER hosts are x86-64."""


class BuildImage(pulumi.ComponentResource):
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    image_name: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    """`<repository>@sha256:<digest>`: what CodeBuild runs, pinned to exactly what was built."""

    def __init__(self, name: str, args: BuildImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        dockerfile = args.context / args.dockerfile
        if not dockerfile.is_file():
            raise ValueError(f"build image: no Dockerfile at {dockerfile}")
        super().__init__("ecs-delivery:build_image:BuildImage", name, None, opts)
        repository = ImageRepository(f"{name}-ecr", args.repository, opts=pulumi.ResourceOptions(parent=self))
        auth = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        tag = context_digest(args.context)[:16]
        image = docker.Image(
            f"{name}-image",
            image_name=repository.repository_url.apply(lambda url: f"{url}:{tag}"),
            build=docker.DockerBuildArgs(
                context=str(args.context),
                dockerfile=str(dockerfile),
                platform=args.platform,
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
