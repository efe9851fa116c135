"""`VerifyProject`: the smoke test an environment runs after each deploy.

A small unprivileged CodeBuild project on the build image. The pipeline's `Verify`
action hands it the application's checkout and the deployed stack's outputs (through the
deploy action's variables namespace) as environment variables; `build-image/verify-environment`
checks that each arrived and runs `verify.command` (default `make smoke`), which fails the
stage when it fails. Its
role can write its own log and read the checkout, nothing else: the smoke test talks to
the application over the network, not to AWS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.build_project import ENVIRONMENT_TYPES
from components.codebuild_runner import CodeBuildRunner, CodeBuildRunnerArgs, log_group_arn


def verify_buildspec() -> str:
    """The inline buildspec: build-image/verify-environment (baked into the image), from the
    checkout's root; it runs the configured command."""
    return json.dumps(
        {"version": 0.2, "env": {"shell": "bash"}, "phases": {"build": {"commands": ["verify-environment"]}}},
        indent=2,
    )


def verify_environment(*, environment: str, command: str, stack_outputs: Sequence[str]) -> dict[str, str]:
    """The project's environment variables: what verify-environment reads besides the stack
    outputs the pipeline action passes per run."""
    return {"ENVIRONMENT": environment, "VERIFY_COMMAND": command, "STACK_OUTPUTS": " ".join(stack_outputs)}


@dataclass(frozen=True)
class VerifyProjectArgs:
    name_prefix: str
    """Physical name prefix (`<app>-<stack>`); the project is `<prefix>-verify-<environment>`."""
    environment: str
    command: str
    """What the smoke test runs (`verify.command`)."""
    stack_outputs: Sequence[str]
    """The stack outputs it gets as environment variables (`verify.stackOutputs`)."""
    timeout_minutes: int
    build_image_ref: pulumi.Input[str]
    build_image_repository_arn: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    log_retention_days: int = 30
    kms_key_arn: Optional[pulumi.Input[str]] = None
    architecture: str = "x86_64"


class VerifyProject(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]

    def __init__(self, name: str, args: VerifyProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:verify_project:VerifyProject", name, None, opts)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        project_name = f"{args.name_prefix}-verify-{args.environment}"
        role_policy = pulumi.Output.all(
            partition=partition,
            region=args.region,
            account_id=args.account_id,
            bucket_arn=args.artifact_bucket_arn,
            image_repository_arn=args.build_image_repository_arn,
            kms_key_arn=args.kms_key_arn,
        ).apply(
            lambda v: json.dumps(
                iam_policies.verify_role_policy(
                    log_group_arn=log_group_arn(v["partition"], v["region"], v["account_id"], project_name),
                    bucket_arn=v["bucket_arn"],
                    account_id=v["account_id"],
                    build_image_repository_arn=v["image_repository_arn"],
                    kms_key_arn=v["kms_key_arn"],
                )
            )
        )
        runner = CodeBuildRunner(
            name,
            CodeBuildRunnerArgs(
                project_name=project_name,
                description=f"Smoke-test {args.environment} after each deploy",
                role_description=f"CodeBuild: smoke-test {args.environment}",
                buildspec=verify_buildspec(),
                image=args.build_image_ref,
                role_policy=role_policy,
                account_id=args.account_id,
                region=args.region,
                # The stack outputs arrive per run, from the pipeline action.
                environment_variables=[
                    {"name": name, "value": value, "type": "PLAINTEXT"}
                    for name, value in verify_environment(
                        environment=args.environment, command=args.command, stack_outputs=args.stack_outputs
                    ).items()
                ],
                privileged_mode=False,
                compute_type="BUILD_GENERAL1_SMALL",
                environment_type=ENVIRONMENT_TYPES[args.architecture],
                timeout_minutes=args.timeout_minutes,
                log_retention_days=args.log_retention_days,
                kms_key_arn=args.kms_key_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.register_outputs({"project_name": self.project_name, "project_arn": self.project_arn})
