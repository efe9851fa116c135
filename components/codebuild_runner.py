"""`CodeBuildRunner`: what every CodeBuild project run by the pipeline is made of — its
log group with a retention, its own role (trusted by CodeBuild for this account and this
project only) with the policy its owner writes, and the project itself: its image pinned by
digest, pulled with the role (SERVICE_ROLE), sources and artifacts from CodePipeline.

`BuildProject` (the application build) passes its own settings here: the privileged build
image on EC2 compute. An environment's small projects (`ChangeSetReview`, `StackRecovery`,
`ReleaseRecorder`, `VerifyProject`) share theirs (`SmallProject`): the tools image on Lambda
compute, which starts a build faster than EC2 and does not queue ("Run builds on AWS Lambda
compute"), within the limits that page lists (`lambda_compute_problems`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.context import DeliveryContext

# CodeBuild's environment type for each host the build image can be built for.
ENVIRONMENT_TYPES = {"x86_64": "LINUX_CONTAINER", "arm64": "ARM_CONTAINER"}
# The same hosts on Lambda compute (botocore's CodeBuild model, EnvironmentType).
LAMBDA_ENVIRONMENT_TYPES = {"x86_64": "LINUX_LAMBDA_CONTAINER", "arm64": "ARM_LAMBDA_CONTAINER"}
# Lambda compute types are BUILD_LAMBDA_<memory> (botocore's CodeBuild model, ComputeType:
# "Only available for environment type LINUX_LAMBDA_CONTAINER and ARM_LAMBDA_CONTAINER").
LAMBDA_COMPUTE_PREFIX = "BUILD_LAMBDA_"
# 2 GB rather than 1: the AWS CLI's start is CPU-bound, and Lambda gives a function CPU in
# proportion to its memory (AWS Lambda Developer Guide, "Configure Lambda function memory":
# 1,769 MB is one vCPU). ASSUMPTION: CodeBuild's Lambda compute shares CPU the same way; no
# CodeBuild page says how much CPU BUILD_LAMBDA_<n>GB has.
LAMBDA_COMPUTE_TYPE = "BUILD_LAMBDA_2GB"
# "Run builds on AWS Lambda compute", Limitations: a build on Lambda compute runs at most 15
# minutes, and the project takes no timeout of its own (pulumi-aws: "The `build_timeout`
# property is not available on the `Lambda` compute type").
LAMBDA_MAX_MINUTES = 15


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
    context: DeliveryContext
    """The pipeline's account and region (the project's, its role's trust), the log retention
    and the artifact store's key."""
    environment_variables: pulumi.Input[list[dict[str, Any]]]
    privileged_mode: bool = False
    compute_type: str = "BUILD_GENERAL1_SMALL"
    environment_type: str = "LINUX_CONTAINER"
    """LINUX_CONTAINER (x86_64) or ARM_CONTAINER (arm64): the host the image was built for;
    LINUX_LAMBDA_CONTAINER or ARM_LAMBDA_CONTAINER on Lambda compute."""
    cache_modes: tuple[str, ...] = ()
    """CodeBuild LOCAL cache modes; empty: NO_CACHE. LOCAL_DOCKER_LAYER_CACHE needs
    privileged mode."""
    timeout_minutes: Optional[int] = 60
    """None on Lambda compute, which takes no build timeout (its builds stop at 15 minutes)."""
    managed_policy_arns: tuple[pulumi.Input[str], ...] = ()
    """Managed policies attached to the role besides its own policy (a drift check's
    ReadOnlyAccess)."""


def on_lambda_compute(environment_type: str) -> bool:
    return environment_type in LAMBDA_ENVIRONMENT_TYPES.values()


def lambda_compute_problems(args: CodeBuildRunnerArgs) -> list[str]:
    """What CodeBuild refuses of a project on Lambda compute ("Run builds on AWS Lambda
    compute", Limitations), each as AWS-CDK's `Project` checks it before deploying
    (aws-codebuild/lib/project.ts `validateLambdaBuildImage`, linux-lambda-build-image.ts
    `validate`): no privileged mode (no Docker), no cache, no build timeout, a Lambda compute
    type; and the other way round, no Lambda compute type on EC2."""
    if not on_lambda_compute(args.environment_type):
        if args.compute_type.startswith(LAMBDA_COMPUTE_PREFIX):
            return [
                f"compute type {args.compute_type} needs a Lambda environment type, "
                f"not {args.environment_type}"
            ]
        return []
    problems = []
    if args.privileged_mode:
        problems.append("Lambda compute has no privileged mode")
    if args.cache_modes:
        problems.append("Lambda compute has no cache")
    if args.timeout_minutes is not None:
        problems.append(
            f"Lambda compute takes no build timeout (its builds stop at {LAMBDA_MAX_MINUTES} minutes), "
            f"not {args.timeout_minutes}"
        )
    if not args.compute_type.startswith(LAMBDA_COMPUTE_PREFIX):
        problems.append(
            f"Lambda compute needs a {LAMBDA_COMPUTE_PREFIX}<size> compute type, not {args.compute_type}"
        )
    return problems


@dataclass(frozen=True)
class SmallProject:
    """What an environment's small, unprivileged projects (review, recovery, record, smoke test,
    drift check) share: the delivery context, the environment, the tools image they run, the
    artifact store they read, the host. Each component gives its own kind, policy, buildspec
    and variables to `declare`, which makes the same project of them all."""

    context: DeliveryContext
    environment: str
    """The environment's name: every project is `<prefix>-<kind>-<environment>`."""
    image_ref: pulumi.Input[str]
    """The tools image, pinned by digest."""
    image_repository_arn: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    lambda_compute: bool = True
    """Lambda compute where a project's timeout fits it (`build.smallStepsCompute`); EC2 always
    when false (a region without Lambda compute)."""

    def project_name(self, kind: str) -> str:
        return f"{self.context.name_prefix}-{kind}-{self.environment}"

    def role_policy(
        self, project_name: str, document: Callable[[dict[str, Any]], Any], **extra: pulumi.Input[Any]
    ) -> pulumi.Output[str]:
        """The role's policy, `document(v)` of the resolved values: `partition`, `region`,
        `account_id` (the pipeline's), `bucket_arn`, `image_repository_arn`, `kms_key_arn`,
        `log_group_arn`, the `extra` ones, and `runner`: those five every small project's policy
        starts from, by the names components/iam_policies.py gives them."""

        def written(v: dict[str, Any]) -> str:
            v["log_group_arn"] = log_group_arn(v["partition"], v["region"], v["account_id"], project_name)
            v["runner"] = {
                "log_group_arn": v["log_group_arn"],
                "bucket_arn": v["bucket_arn"],
                "account_id": v["account_id"],
                "tools_image_repository_arn": v["image_repository_arn"],
                "kms_key_arn": v["kms_key_arn"],
            }
            return json.dumps(document(v))

        return pulumi.Output.all(
            partition=self.context.partition,
            region=self.context.region,
            account_id=self.context.account_id,
            bucket_arn=self.artifact_bucket_arn,
            image_repository_arn=self.image_repository_arn,
            kms_key_arn=self.context.kms_key_arn,
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
        managed_policy_arns: tuple[pulumi.Input[str], ...] = (),
    ) -> CodeBuildRunnerArgs:
        """A small unprivileged project on the tools image: reading a stack or running a smoke
        test needs no Docker daemon. Lambda compute when `timeout_minutes` fits its 15 minutes
        (the build then stops at 15, not at `timeout_minutes`: Lambda compute takes no timeout
        of its own; verify-environment bounds the smoke test itself); EC2 otherwise, with the
        timeout."""
        on_lambda = self.lambda_compute and timeout_minutes <= LAMBDA_MAX_MINUTES
        return CodeBuildRunnerArgs(
            project_name=project_name,
            description=description,
            role_description=role_description,
            buildspec=buildspec,
            image=self.image_ref,
            role_policy=role_policy,
            context=self.context,
            environment_variables=environment_variables,
            privileged_mode=False,
            compute_type=LAMBDA_COMPUTE_TYPE if on_lambda else "BUILD_GENERAL1_SMALL",
            environment_type=(LAMBDA_ENVIRONMENT_TYPES if on_lambda else ENVIRONMENT_TYPES)[
                self.context.architecture
            ],
            timeout_minutes=None if on_lambda else timeout_minutes,
            managed_policy_arns=managed_policy_arns,
        )

    def declare(
        self,
        name: str,
        owner: pulumi.Resource,
        *,
        kind: str,
        description: str,
        role_description: str,
        buildspec: str,
        policy: Callable[[dict[str, Any]], Any],
        environment_variables: pulumi.Input[list[dict[str, Any]]],
        timeout_minutes: int,
        managed_policy_arns: tuple[pulumi.Input[str], ...] = (),
        **extra: pulumi.Input[Any],
    ) -> CodeBuildRunner:
        """The project `<prefix>-<kind>-<environment>`, a child of `owner`, its role's policy
        `policy(v)` (`role_policy`: `extra` resolved besides the shared values)."""
        project_name = self.project_name(kind)
        return CodeBuildRunner(
            name,
            self.runner_args(
                project_name=project_name,
                description=description,
                role_description=role_description,
                buildspec=buildspec,
                role_policy=self.role_policy(project_name, policy, **extra),
                environment_variables=environment_variables,
                timeout_minutes=timeout_minutes,
                managed_policy_arns=managed_policy_arns,
            ),
            opts=pulumi.ResourceOptions(parent=owner),
        )


def script_buildspec(*commands: str, exported_variables: tuple[str, ...] = ()) -> str:
    """The inline buildspec of a small project (JSON is valid YAML, and keeps the shell text
    exact): the commands (scripts baked into the tools image) from the checkout's root, in
    bash, and the variables the action exports to the pipeline."""
    env: dict[str, Any] = {"shell": "bash"}
    if exported_variables:
        env["exported-variables"] = list(exported_variables)
    return json.dumps(
        {"version": 0.2, "env": env, "phases": {"build": {"commands": list(commands)}}}, indent=2
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
        problems = lambda_compute_problems(args)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        super().__init__("ecs-delivery:codebuild_runner:CodeBuildRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        context = args.context
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.project_name),
            retention_in_days=context.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=args.role_description,
            assume_role_policy=context.located().apply(
                lambda v: json.dumps(
                    iam_policies.resource_trust_policy(
                        service="codebuild", resource=f"project/{args.project_name}", **v
                    )
                )
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=args.role_policy, opts=child)
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-managed-{index}", role=role.name, policy_arn=arn, opts=child
            )
            for index, arn in enumerate(args.managed_policy_arns, start=1)
        ]
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
                # On Lambda compute too: "Run builds on AWS Lambda compute" lists the ECR actions
                # a custom image needs for the project's role. ASSUMPTION: that page does not
                # name the pull credentials type; SERVICE_ROLE is the one that uses the role.
                "image_pull_credentials_type": "SERVICE_ROLE",
                "environment_variables": args.environment_variables,
            },
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                "s3_logs": {"status": "DISABLED"},
            },
            encryption_key=context.kms_key_arn,
            # Lambda compute takes no cache setting at all (AWS-CDK refuses one, see above).
            cache={"type": "LOCAL", "modes": list(args.cache_modes)}
            if args.cache_modes
            else None
            if on_lambda_compute(args.environment_type)
            else {"type": "NO_CACHE"},
            # The role must be able to pull the image before the first build starts.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *attachments]),
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
