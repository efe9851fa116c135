"""`BuildProject`: the privileged CodeBuild project that tests, builds and publishes the
application image and writes its version file, plus its role and log group, and what
makes its builds fast and independent of Docker Hub's anonymous limits: CodeBuild's
local caches, a BuildKit registry cache in ECR, and an ECR pull-through cache rule for
Docker Hub (or an authenticated login) from config.

Privileged mode is what lets the buildspec start `dockerd` inside the custom image
(Docker-in-Docker); the project runs that image pinned by digest, pulled with its own
role (SERVICE_ROLE), and the role can push to the application repository (and its build
cache) only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.codebuild_runner import (
    ENVIRONMENT_TYPES,
    CodeBuildRunner,
    CodeBuildRunnerArgs,
    log_group_arn,
    plaintext,
)
from components.context import DeliveryContext

DOCKER_HUB_REGISTRY = "registry-1.docker.io"


@dataclass(frozen=True)
class DockerHubAccess:
    secret_arn: str
    """Secrets Manager secret `ecr-pullthroughcache/...` with `username` and `accessToken`."""
    pull_through_cache: bool = True
    cache_prefix: str = "docker-hub"
    create_rule: bool = True
    login: bool = False


@dataclass(frozen=True)
class BuildProjectArgs:
    context: DeliveryContext
    """The project is `<prefix>-build`, its log group `/aws/codebuild/<prefix>-build`; it runs on
    the context's architecture (the build image's platform) and logs for its retention."""
    application_name: str
    """Exposed to the build as APP_NAME."""
    build_image_ref: pulumi.Input[str]
    """The CodeBuild image, pinned by digest (`repo@sha256:...`)."""
    build_image_repository_arn: pulumi.Input[str]
    """Repository the image is pulled from (granted to the role)."""
    application_repository_arn: pulumi.Input[str]
    """The only repository the build may push to."""
    application_repository_url: pulumi.Input[str]
    """Exposed as IMAGE_REPOSITORY_URI."""
    artifact_bucket_arn: pulumi.Input[str]
    """Artifact store the pipeline hands sources and versions through."""
    compute_type: str = "BUILD_GENERAL1_SMALL"
    timeout_minutes: int = 60
    buildspec: str = "buildspec.yml"
    """Buildspec path in the application repository (or inline YAML)."""
    version_file: str = "version.json"
    version_key: str = "Version"
    digest_key: str = "Digest"
    cache_modes: tuple[str, ...] = ("LOCAL_DOCKER_LAYER_CACHE",)
    cache_repository_arn: Optional[pulumi.Input[str]] = None
    """ECR repository of the BuildKit registry cache (exposed as BUILD_CACHE_REPOSITORY_URI)."""
    cache_repository_url: Optional[pulumi.Input[str]] = None
    docker_hub: Optional[DockerHubAccess] = None


def build_environment_variables(
    *,
    application_name: str,
    account_id: str,
    region: str,
    repository_url: str,
    version_file: str,
    version_key: str,
    digest_key: str = "Digest",
    cache_repository_url: Optional[str] = None,
    docker_hub: Optional[DockerHubAccess] = None,
) -> list[dict[str, str]]:
    """What an application Makefile needs and CodeBuild does not provide (it sets the
    region, but never the account id)."""
    registry, _, repository_name = repository_url.partition("/")
    values = {
        "APP_NAME": application_name,
        "AWS_ACCOUNT_ID": account_id,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "ECR_REGISTRY": registry,
        "IMAGE_REPOSITORY_NAME": repository_name,
        "IMAGE_REPOSITORY_URI": repository_url,
        "VERSION_FILE": version_file,
        "VERSION_KEY": version_key,
        "DIGEST_KEY": digest_key,
    }
    if cache_repository_url:
        values["BUILD_CACHE_REPOSITORY_URI"] = cache_repository_url
    if docker_hub and docker_hub.pull_through_cache:
        # Docker Hub's `library/python:3.12` is pulled as `$DOCKER_HUB_MIRROR/library/python:3.12`.
        values["DOCKER_HUB_MIRROR"] = f"{registry}/{docker_hub.cache_prefix}"
    variables = plaintext(values)
    if docker_hub and docker_hub.login:
        # Resolved by CodeBuild from the secret's JSON keys; never in the project definition.
        variables += [
            {
                "name": "DOCKERHUB_USERNAME",
                "value": f"{docker_hub.secret_arn}:username",
                "type": "SECRETS_MANAGER",
            },
            {
                "name": "DOCKERHUB_TOKEN",
                "value": f"{docker_hub.secret_arn}:accessToken",
                "type": "SECRETS_MANAGER",
            },
        ]
    return variables


class BuildProject(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: BuildProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:build_project:BuildProject", name, None, opts)
        context = args.context
        project_name = f"{context.name_prefix}-build"
        docker_hub = args.docker_hub
        if docker_hub and docker_hub.pull_through_cache and docker_hub.create_rule:
            aws.ecr.PullThroughCacheRule(
                f"{name}-docker-hub-cache",
                ecr_repository_prefix=docker_hub.cache_prefix,
                upstream_registry_url=DOCKER_HUB_REGISTRY,
                credential_arn=docker_hub.secret_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
        role_policy = pulumi.Output.all(
            partition=context.partition,
            region=context.region,
            account_id=context.account_id,
            bucket_arn=args.artifact_bucket_arn,
            build_image_repository_arn=args.build_image_repository_arn,
            application_repository_arn=args.application_repository_arn,
            cache_repository_arn=args.cache_repository_arn,
            kms_key_arn=context.kms_key_arn,
        ).apply(
            lambda v: json.dumps(
                iam_policies.build_role_policy(
                    log_group_arn=log_group_arn(v["partition"], v["region"], v["account_id"], project_name),
                    bucket_arn=v["bucket_arn"],
                    account_id=v["account_id"],
                    build_image_repository_arn=v["build_image_repository_arn"],
                    application_repository_arn=v["application_repository_arn"],
                    kms_key_arn=v["kms_key_arn"],
                    cache_repository_arn=v["cache_repository_arn"],
                    pull_through_cache_repositories=(
                        f"arn:{v['partition']}:ecr:{v['region']}:{v['account_id']}:repository/"
                        f"{docker_hub.cache_prefix}/*"
                        if docker_hub and docker_hub.pull_through_cache
                        else None
                    ),
                    docker_hub_secret_arn=docker_hub.secret_arn if docker_hub and docker_hub.login else None,
                )
            )
        )
        environment_variables = pulumi.Output.all(
            account_id=context.account_id,
            region=context.region,
            repository_url=args.application_repository_url,
            cache_repository_url=args.cache_repository_url,
        ).apply(
            lambda v: build_environment_variables(
                application_name=args.application_name,
                account_id=v["account_id"],
                region=v["region"],
                repository_url=v["repository_url"],
                version_file=args.version_file,
                version_key=args.version_key,
                digest_key=args.digest_key,
                cache_repository_url=v["cache_repository_url"],
                docker_hub=docker_hub,
            )
        )
        runner = CodeBuildRunner(
            name,
            CodeBuildRunnerArgs(
                project_name=project_name,
                description=f"Test, build and publish {args.application_name}; writes {args.version_file}",
                role_description="CodeBuild: test, build and publish the application image",
                buildspec=args.buildspec,
                image=args.build_image_ref,
                role_policy=role_policy,
                context=context,
                environment_variables=environment_variables,
                # Docker-in-Docker: the buildspec starts dockerd, which needs privileges.
                privileged_mode=True,
                compute_type=args.compute_type,
                environment_type=ENVIRONMENT_TYPES[context.architecture],
                cache_modes=tuple(args.cache_modes),
                timeout_minutes=args.timeout_minutes,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.log_group_name = runner.log_group_name
        self.register_outputs(
            {
                "project_name": self.project_name,
                "project_arn": self.project_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )
