"""`StackRecovery`: the small CodeBuild project that keeps a failed first create from jamming a
gated environment.

Its pipeline action runs first in the environment's plan stage, before the change set is
created. `build-image/recover-stack` (baked into the tools image) deletes the stack only when
it is in ROLLBACK_COMPLETE (a first create that failed and was rolled back: it never held a
release, and CloudFormation refuses every change set on it); any other state is left alone, and
the failed states a person must look at fail the stage with the command that usually resolves
them. Its role can describe and delete its own environment's stack and nothing else (in
another account: assume the recovery role there, which can do only that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import cloudformation, iam_policies
from components.codebuild_runner import CodeBuildRunner, SmallProject, plaintext


def recovery_buildspec() -> str:
    """The inline buildspec: build-image/recover-stack (baked into the image)."""
    return json.dumps(
        {"version": 0.2, "env": {"shell": "bash"}, "phases": {"build": {"commands": ["recover-stack"]}}},
        indent=2,
    )


@dataclass(frozen=True)
class StackRecoveryArgs:
    name_prefix: str
    """Physical name prefix (`<app>-<stack>`); the project is `<prefix>-recover-<environment>`."""
    environment: str
    stack_name: str
    project: SmallProject
    """The tools image, artifact store, log retention and host the environment's projects share."""
    recovery_role_pattern: Optional[pulumi.Input[str]] = None
    """For an environment in another account: the ARN pattern of the role there that the
    recovery assumes (a `CrossAccountAccess` recovery role, whose ARN the pipeline action
    passes in as RECOVERY_ROLE_ARN)."""
    stack_region: Optional[str] = None
    """The stack's region when it is not the pipeline's (`environments[].region`): its stack calls
    go there (STACK_REGION), and its role's statements on the stack name it."""


class StackRecovery(pulumi.ComponentResource):
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StackRecoveryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:stack_recovery:StackRecovery", name, None, opts)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        project_name = f"{args.name_prefix}-recover-{args.environment}"
        role_policy = args.project.role_policy(
            partition,
            project_name,
            lambda v: iam_policies.recovery_role_policy(
                log_group_arn=v["log_group_arn"],
                bucket_arn=v["bucket_arn"],
                account_id=v["account_id"],
                tools_image_repository_arn=v["image_repository_arn"],
                recovery_statement=cloudformation.stack_recovery_statement(
                    cloudformation.stack_arn(
                        v["partition"], args.stack_region or v["region"], v["account_id"], args.stack_name
                    )
                ),
                kms_key_arn=v["kms_key_arn"],
                recovery_role_arn=v["recovery_role"],
            ),
            recovery_role=args.recovery_role_pattern,
        )
        runner = CodeBuildRunner(
            name,
            args.project.runner_args(
                project_name=project_name,
                description=f"Clear {args.stack_name} when its first create failed",
                role_description=f"CodeBuild: clear a failed first create of {args.stack_name}",
                buildspec=recovery_buildspec(),
                role_policy=role_policy,
                environment_variables=plaintext(
                    {"STACK_NAME": args.stack_name}
                    | ({"STACK_REGION": args.stack_region} if args.stack_region else {})
                ),
                # Deleting a stack that holds nothing takes seconds; waiting for it is bounded too.
                timeout_minutes=15,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_name = runner.project_name
        self.project_arn = runner.project_arn
        self.role_arn = runner.role_arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
