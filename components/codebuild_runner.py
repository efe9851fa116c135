"""`CodeBuildRunner`: what every CodeBuild project run by the pipeline is made of — its
log group with a retention, its own role (trusted by CodeBuild for this account and this
project only) with the policy its owner writes, and the project itself: the build image
pinned by digest, pulled with the role (SERVICE_ROLE), sources and artifacts from
CodePipeline.

`BuildProject` (the application build) passes its own settings here; an environment's small
projects (`ChangeSetReview`, `StackRecovery`, `VerifyProject`) share theirs (`SmallProject`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies

# CodeBuild's environment type for each host the build image can be built for.
ENVIRONMENT_TYPES = {"x86_64": "LINUX_CONTAINER", "arm64": "ARM_CONTAINER"}


def plaintext(values: Mapping[str, str]) -> list[dict[str, str]]:
    """A project's environment variables, none of them a secret (names, locations, settings):
    plain text, which the console shows."""
    return [{"name": name, "value": value, "type": "PLAINTEXT"} for name, value in values.items()]


def log_group_name(project_name: str) -> str:
    return f"/aws/codebuild/{project_name}"


def log_group_arn(partition: str, region: str, account_id: str, project_name: str) -> str:
    """Known before the log group exists, so the role policy can name it up front."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name(project_name)}"


@dataclass(frozen=True)
class CodeBuildRunnerArgs:
    project_name: str
    """Physical project name; also names the log group."""
    description: str
    role_description: str
    buildspec: str
    """Buildspec path in the source, or inline buildspec text."""
    image: pulumi.Input[str]
    """The build image, pinned by digest."""
    role_policy: pulumi.Input[str]
    """The role's permissions (JSON); see components/iam_policies.py."""
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    environment_variables: pulumi.Input[list[dict[str, Any]]]
    privileged_mode: bool = False
    compute_type: str = "BUILD_GENERAL1_SMALL"
    environment_type: str = "LINUX_CONTAINER"
    """LINUX_CONTAINER (x86_64) or ARM_CONTAINER (arm64): the host the image was built for."""
    cache_modes: tuple[str, ...] = ()
    """CodeBuild LOCAL cache modes; empty: NO_CACHE. LOCAL_DOCKER_LAYER_CACHE needs
    privileged mode."""
    timeout_minutes: int = 60
    log_retention_days: int = 30
    kms_key_arn: Optional[pulumi.Input[str]] = None
    """Key of the artifact store, when it uses SSE-KMS."""


@dataclass(frozen=True)
class SmallProject:
    """What an environment's small, unprivileged projects (review, recovery, smoke test) share:
    the build image they run, the artifact store they read, where they log, the host. Each
    component adds its own policy, buildspec and variables (`role_policy`, `runner_args`)."""

    build_image_ref: pulumi.Input[str]
    build_image_repository_arn: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    log_retention_days: int = 30
    kms_key_arn: Optional[pulumi.Input[str]] = None
    architecture: str = "x86_64"
    """The host the build image was built for (x86_64 or arm64)."""

    def role_policy(
        self,
        partition: pulumi.Input[str],
        project_name: str,
        document: Callable[[dict[str, Any]], Any],
        **extra: pulumi.Input[Any],
    ) -> pulumi.Output[str]:
        """The role's policy, `document(v)` of the resolved values: `log_group_arn`,
        `bucket_arn`, `account_id`, `build_image_repository_arn`, `kms_key_arn`, `partition`,
        `region` and the `extra` ones."""

        def written(v: dict[str, Any]) -> str:
            v["log_group_arn"] = log_group_arn(v["partition"], v["region"], v["account_id"], project_name)
            return json.dumps(document(v))

        return pulumi.Output.all(
            partition=partition,
            region=self.region,
            account_id=self.account_id,
            bucket_arn=self.artifact_bucket_arn,
            build_image_repository_arn=self.build_image_repository_arn,
            kms_key_arn=self.kms_key_arn,
            **extra,
        ).apply(written)

    def runner_args(
        self,
        *,
        project_name: str,
        description: str,
        role_description: str,
        buildspec: str,
        role_policy: pulumi.Input[str],
        environment_variables: pulumi.Input[list[dict[str, Any]]],
        timeout_minutes: int,
    ) -> CodeBuildRunnerArgs:
        """A small unprivileged project on the build image: reading a stack or running a smoke
        test needs no Docker daemon."""
        return CodeBuildRunnerArgs(
            project_name=project_name,
            description=description,
            role_description=role_description,
            buildspec=buildspec,
            image=self.build_image_ref,
            role_policy=role_policy,
            account_id=self.account_id,
            region=self.region,
            environment_variables=environment_variables,
            privileged_mode=False,
            compute_type="BUILD_GENERAL1_SMALL",
            environment_type=ENVIRONMENT_TYPES[self.architecture],
            timeout_minutes=timeout_minutes,
            log_retention_days=self.log_retention_days,
            kms_key_arn=self.kms_key_arn,
        )


class CodeBuildRunner(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: CodeBuildRunnerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        if "LOCAL_DOCKER_LAYER_CACHE" in args.cache_modes and not args.privileged_mode:
            raise ValueError(
                f"{name}: the Docker layer cache needs privileged mode (CodeBuild refuses it otherwise)"
            )
        super().__init__("ecs-delivery:codebuild_runner:CodeBuildRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.project_name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=args.role_description,
            assume_role_policy=pulumi.Output.all(
                partition=partition, region=args.region, account_id=args.account_id
            ).apply(
                lambda v: json.dumps(
                    iam_policies.resource_trust_policy(
                        service="codebuild", resource=f"project/{args.project_name}", **v
                    )
                )
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=args.role_policy, opts=child)
        project = aws.codebuild.Project(
            f"{name}-project",
            name=args.project_name,
            description=args.description,
            service_role=role.arn,
            build_timeout=args.timeout_minutes,
            source={"type": "CODEPIPELINE", "buildspec": args.buildspec},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": args.environment_type,
                "compute_type": args.compute_type,
                "image": args.image,
                "privileged_mode": args.privileged_mode,
                "image_pull_credentials_type": "SERVICE_ROLE",
                "environment_variables": args.environment_variables,
            },
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                "s3_logs": {"status": "DISABLED"},
            },
            encryption_key=args.kms_key_arn,
            cache={"type": "LOCAL", "modes": list(args.cache_modes)}
            if args.cache_modes
            else {"type": "NO_CACHE"},
            # The role must be able to pull the image before the first build starts.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.project_name = project.name
        self.project_arn = project.arn
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "project_name": self.project_name,
                "project_arn": self.project_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )
